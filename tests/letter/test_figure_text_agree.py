"""The night figure and the letter's text say the same thing (issue 13): without a hypnogram both call the
series "sleep and wake together" and give the same count; with one, both give the PLM-series count."""

from __future__ import annotations

import re

import pytest

from cds.analysis import analyze_recording
from cds.letter.plot import PERIODIC_UNSTAGED, render_night_figure
from cds.letter.view_sections import recording_view


@pytest.mark.parametrize("staged", [False, True])
def test_figure_rows_and_text_numbers_agree(synth_night, staged):
    path, _ = synth_night("periodic", seed=21, hours=1.5, hypnogram_in_edf=staged)
    analysis = analyze_recording(path).to_dict()
    periodic = sum(1 for e in analysis["leg_movements"]["events"] if e["periodic"])
    assert periodic == analysis["leg_movements"]["plm_count"] > 10
    svg = render_night_figure(analysis)
    labels = {label: value for label, value, _ in recording_view(analysis, None)["numbers"]}
    series_label = next(label for label in labels if label.startswith("of them in PLM series"))
    assert labels[series_label] == str(periodic)
    if staged:
        assert f"Leg movements in PLM series ({periodic})" in svg
        assert series_label == "of them in PLM series"
    else:
        assert f"Leg movements {PERIODIC_UNSTAGED} ({periodic})" in svg
        assert "sleep and wake not separated" in svg
        assert "sleep and wake together" in series_label and "no PLMS index" in series_label
        assert analysis["leg_movements"]["plms_index"] is None


def test_the_letter_caption_says_sleep_and_wake_are_not_separated(synth_night, tmp_path):
    from pathlib import Path

    from cds.cli import run

    path, _ = synth_night("periodic", seed=22, hours=1.0, hypnogram_in_edf=False)
    patient = Path(__file__).resolve().parents[2] / "examples" / "demo-patient.yaml"
    out = tmp_path / "out"
    assert (
        run(
            [
                "triage",
                "--patient",
                str(patient),
                "--recording",
                str(path),
                "--out",
                str(out),
                "--log",
                str(tmp_path / "log.sqlite"),
            ]
        )
        == 0
    )
    html = (out / "letter.html").read_text(encoding="utf-8")
    caption = re.search(r"<figcaption>(.*?)</figcaption>", html, re.S).group(1)
    assert "sleep and wake are not separated" in " ".join(caption.split())
    assert "sleep and wake together" in html

"""``cds validate`` on generated nights whose site scoring is written from the planted truth (issue 13), and on a
real Noxturnal export (realdata)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cds.cli import run
from cds.validation import validate_recordings


def _site_csv(path: Path, onsets, durations) -> Path:
    rows = [f"{o:.3f},{d:.3f},Limb Movement" for o, d in zip(onsets, durations, strict=True)]
    path.write_text("onset_s,duration_s,type\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def nights(synth_night):
    return [synth_night("periodic", seed=seed, hours=2.0) for seed in (11, 12)]


def test_site_scoring_equal_to_the_planted_truth_agrees(nights, tmp_path):
    scored = []
    for i, (_, truth) in enumerate(nights):
        lms = truth.leg_movements("aasm")
        scored.append(_site_csv(tmp_path / f"site{i}.csv", lms.onset_s, lms.duration_s))
    report = validate_recordings([p for p, _ in nights], scored, tolerance_s=0.5).data
    for row, (_, truth) in zip(report["recordings"], nights, strict=True):
        assert row["site_lms"] == len(truth.leg_movements("aasm"))
        assert row["sensitivity"] >= 0.97 and row["ppv"] >= 0.97
        assert row["site_plms_index"] == pytest.approx(truth.plms_index["aasm"], abs=0.01)
        assert abs(row["plms_index_difference"]) <= 1.0
    assert report["plms_index"]["n"] == 2 and report["plms_index"]["icc"] > 0.95


def test_missed_and_extra_site_events_are_counted_and_tolerance_is_stated(nights, tmp_path):
    path, truth = nights[0]
    lms = truth.leg_movements("aasm")
    baseline = validate_recordings(
        [path], [_site_csv(tmp_path / "a.csv", lms.onset_s, lms.duration_s)], tolerance_s=0.5
    ).data["recordings"][0]
    keep = np.ones(len(lms), dtype=bool)
    keep[::7] = False  # the site scored fewer: those become cds "extra" events
    extra = np.array([200.5, 1200.5, 3000.5, 4000.5, 5000.5])  # site events cds cannot have (no EMG there)
    onsets = np.concatenate([lms.onset_s[keep], extra])
    durations = np.concatenate([lms.duration_s[keep], np.full(extra.size, 1.0)])
    row = validate_recordings([path], [_site_csv(tmp_path / "b.csv", onsets, durations)], tolerance_s=0.5)
    row = row.data["recordings"][0]
    assert row["false_positives"] == baseline["false_positives"] + int((~keep).sum())
    assert row["false_negatives"] == baseline["false_negatives"] + extra.size
    shifted = _site_csv(tmp_path / "c.csv", lms.onset_s + 0.3, lms.duration_s)
    assert (
        validate_recordings([path], [shifted], tolerance_s=0.5).data["recordings"][0]["true_positives"]
        == baseline["true_positives"]
    )
    strict = validate_recordings([path], [shifted], tolerance_s=0.1).data
    assert strict["recordings"][0]["true_positives"] <= 2 and strict["parameters"]["onset_tolerance_s"] == 0.1


def test_cli_text_json_figure_and_refusals(nights, tmp_path, capsys):
    path, truth = nights[0]
    lms = truth.leg_movements("aasm")
    site = _site_csv(tmp_path / "site.csv", lms.onset_s, lms.duration_s)
    assert (
        run(
            [
                "validate",
                str(path),
                "--scored",
                str(site),
                "--figure",
                str(tmp_path / "f.svg"),
                "--json",
                str(tmp_path / "v.json"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "onsets matched within 0.5 s" in out and "ICC(2,1)" in out
    assert json.loads((tmp_path / "v.json").read_text())["schema"] == "cds.validation/v1"
    assert (tmp_path / "f.svg").read_text().lstrip().startswith("<?xml")
    assert run(["validate", str(path), str(path), "--scored", str(site)]) == 2
    assert "2 recordings but 1 --scored" in capsys.readouterr().err
    assert run(["validate", str(path), "--scored", str(site), "--figure", str(tmp_path / "f.png")]) == 2
    empty = tmp_path / "none.csv"
    empty.write_text("onset_s,duration_s,type\n10,30,Sleep stage W\n", encoding="utf-8")
    assert run(["validate", str(path), "--scored", str(empty)]) == 3
    assert "no scored leg movements" in capsys.readouterr().err


def _per_leg_files(truth, folder: Path) -> tuple[Path, Path]:
    """The planted monolateral components of each leg in its own site file (as some PSG software exports them)."""
    e = truth.events
    keep = e.kind != "body"
    files = []
    for side in ("left", "right"):
        mask = keep & (e.side == side)
        files.append(_site_csv(folder / f"site-{side}.csv", e.onset_s[mask], e.duration_s[mask]))
    return files[0], files[1]


def test_per_leg_site_files_are_merged_by_the_bilateral_rule(nights, tmp_path, capsys):
    """A site exporting each leg separately: the two files are merged by the standard's bilateral rule, so the
    site's LMs are the planted bilateral LMs (written independently: the truth's own merge), not their components
    counted twice; the per-leg counts and the rule are in the report, and the CLI takes the files in pairs."""
    path, truth = nights[0]
    left, right = _per_leg_files(truth, tmp_path)
    e = truth.events
    n_left, n_right = (
        int(((e.side == "left") & (e.kind != "body")).sum()),
        int(((e.side == "right") & (e.kind != "body")).sum()),
    )
    merged = truth.leg_movements("aasm")
    assert len(merged) < n_left + n_right  # some planted LMs are bilateral: merging matters
    report = validate_recordings([path], [(left, right)], tolerance_s=0.5).data
    row = report["recordings"][0]
    assert row["site_lms_per_leg"] == {"left": n_left, "right": n_right}
    assert row["site_lms"] == len(merged)
    assert row["scored_file"] == "site-left.csv + site-right.csv"
    assert row["sensitivity"] >= 0.97 and row["ppv"] >= 0.97
    assert row["site_plms_index"] == pytest.approx(truth.plms_index["aasm"], abs=0.01)
    assert "onsets < 5 s apart" in report["parameters"]["per_leg_files"]
    one_file = validate_recordings(
        [path], [_site_csv(tmp_path / "both.csv", merged.onset_s, merged.duration_s)], tolerance_s=0.5
    )
    assert one_file.data["recordings"][0]["site_lms_per_leg"] is None
    assert one_file.data["recordings"][0]["site_lms"] == row["site_lms"]

    assert run(["validate", str(path), "--scored-left", str(left), "--scored-right", str(right)]) == 0
    assert "site-left.csv" not in capsys.readouterr().err
    assert run(["validate", str(path), "--scored-left", str(left)]) == 2
    assert "1 --scored-left and 0 --scored-right" in capsys.readouterr().err
    assert (
        run(["validate", str(path), "--scored", str(left), "--scored-left", str(left), "--scored-right", str(right)])
        == 2
    )
    assert "not both" in capsys.readouterr().err
    empty = tmp_path / "none.csv"
    empty.write_text("onset_s,duration_s,type\n10,30,Sleep stage W\n", encoding="utf-8")
    assert run(["validate", str(path), "--scored-left", str(empty), "--scored-right", str(empty)]) == 3
    assert "no scored leg movements in the left-leg file nor in the right-leg file" in capsys.readouterr().err


@pytest.mark.realdata
def test_a_real_site_export_of_another_night_is_refused(real_data_dir, nights, capsys):
    """The real Noxturnal export holds 30 scored leg movements (29 'MJ', 1 'PLM') of a night whose signals are not
    available: against another recording its clock times fall outside it, which is refused, never scored as 0."""
    path, _ = nights[0]
    export = real_data_dir / "sleepr-testdata" / "noxturnal_events_example_unicode_2.csv"
    assert run(["validate", str(path), "--scored", str(export)]) == 3
    err = capsys.readouterr().err
    assert export.name in err and "\n" not in err.strip()


def test_the_readme_example_runs(tmp_path, monkeypatch, capsys):
    """The commands of README's "cds validate" section, run as written (in a temporary folder)."""
    import re
    import subprocess
    import sys

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### For sleep labs: check cds against your own scoring") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1).replace("\\\n", " ")
    commands = [line.split() for line in block.splitlines() if line.strip()]
    assert [c[:3] for c in commands] == [["python", "-m", "cds.synth"]] * 2 + [["cds", "validate", "night1.edf"]]
    monkeypatch.chdir(tmp_path)
    for argv in commands[:2]:
        subprocess.run([sys.executable, *argv[1:]], check=True, cwd=tmp_path)
    assert run(commands[2][1:]) == 0
    out = capsys.readouterr().out
    assert "night1.edf" in out and "night2.edf" in out and "F1" in out
    data = json.loads((tmp_path / "validation.json").read_text())
    assert data["events"]["sensitivity"] >= 0.95 and data["events"]["ppv"] >= 0.95
    assert (tmp_path / "agreement.svg").stat().st_size > 1000

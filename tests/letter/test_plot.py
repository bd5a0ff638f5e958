"""The night figure: what it draws (counted from the SVG) and byte-identical output."""

from __future__ import annotations

import re

from cds.letter.plot import _stage_segments, render_night_figure
from cds.stages import SleepStage


def test_figure_labels_count_each_event_row(analysis):
    svg = render_night_figure(analysis)
    assert svg is not None and svg.startswith("<svg")
    # 40 planted movements, the first 30 periodic; 2 jerks (conftest)
    assert "Leg movements in PLM series (30)" in svg
    assert "Leg movements, not periodic (10)" in svg
    assert "Jerks at sleep onset (2)" in svg
    assert "Hypnogram" in svg


def test_figure_bytes_are_identical_across_runs_and_carry_no_date(analysis):
    first, second = render_night_figure(analysis), render_night_figure(analysis)
    assert first == second
    assert not re.search(r"\d{4}-\d{2}-\d{2}", first)
    assert "<dc:date" not in first


def test_figure_without_hypnogram_still_shows_events(analysis):
    analysis["hypnogram"] = None
    svg = render_night_figure(analysis)
    # issue 13: without a hypnogram the series row says sleep and wake are counted together, as the text does
    assert "Hypnogram" not in svg and "Leg movements in PLM series, sleep and wake together (30)" in svg


def test_nothing_to_draw_gives_none():
    assert render_night_figure({"recording": {"duration_s": 0}}) is None


def test_stage_segments_merge_runs_and_skip_unknown_labels():
    # the stages as cds.io writes them (SleepStage values); '?', 'M' and labels that are not stages are skipped
    hyp = {"epoch_s": 30.0, "stages": ["W", "W", "N1", "?", "N2", "N2", "R", "M", "REM"]}
    runs = _stage_segments(hyp)
    assert [(round(a * 3600), round(b * 3600), s) for a, b, s in runs] == [
        (0, 60, "W"),
        (60, 90, "N1"),
        (120, 180, "N2"),
        (180, 210, "R"),
    ]
    assert all(isinstance(stage, SleepStage) for _, _, stage in runs)
    assert _stage_segments(None) == []


def test_summary_only_hypnogram_draws_stages_passed_separately(analysis):
    stages = analysis["hypnogram"]
    analysis["hypnogram"] = {"epoch_s": 30.0, "epochs": 60, "scheme": "aasm", "start_s": 0.0}  # as cds analyze
    assert "Hypnogram" not in render_night_figure(analysis)
    assert "Hypnogram" in render_night_figure(analysis, hypnogram=stages)


def _ticks(svg: str, colour: str) -> list[float]:
    """The x positions of the ticks drawn in one colour (one ``M x y v14`` move per event)."""
    found = re.search(rf'<path d="([^"]*)" stroke="{colour}"', svg)
    return [float(x) for x in re.findall(r"M([\d.]+) ", found.group(1))] if found else []


def test_every_event_is_one_tick_in_its_own_row_at_its_time(analysis):
    svg = render_night_figure(analysis)
    periodic, other, jerks = _ticks(svg, "#d35400"), _ticks(svg, "#7f8c8d"), _ticks(svg, "#8e44ad")
    assert (len(periodic), len(other), len(jerks)) == (30, 10, 2)  # conftest: 30 periodic, 10 not, 2 jerks
    onsets = [e["onset_s"] for e in analysis["leg_movements"]["events"] if e.get("periodic")]
    assert periodic == sorted(periodic) and (onsets == sorted(onsets))  # later events are further right
    assert min(periodic) < max(periodic)


def test_figure_is_one_well_formed_svg_element(analysis):
    import xml.etree.ElementTree as ET

    root = ET.fromstring(render_night_figure(analysis))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("aria-label", "").startswith("Night figure: hypnogram and Leg movements in PLM series (30)")

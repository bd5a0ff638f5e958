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

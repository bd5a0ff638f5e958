"""Invariants of the PLM grammar on random event lists (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cds.detect.legmovements import make_leg_movements
from cds.detect.plm import find_bilateral_movements, find_plm_series
from cds.standards import load_standard

STANDARDS = [load_standard("aasm"), load_standard("wasm2016")]
gaps = st.lists(st.floats(min_value=0.6, max_value=120.0), min_size=0, max_size=40)
durations = st.floats(min_value=0.5, max_value=14.0)


def _table(gap_list, duration, side="left"):
    onsets = np.cumsum([0.0, *gap_list]) + 10.0
    return make_leg_movements(onsets, np.full(onsets.size, duration), side)


@settings(max_examples=60, deadline=None)
@given(gaps, durations, st.sampled_from(STANDARDS))
def test_periodic_lms_form_runs_of_min_count_with_intervals_in_bounds(gap_list, duration, std):
    lms = _table(gap_list, min(duration, 0.5 * min(gap_list, default=10.0)))
    series = find_plm_series(lms, std)
    rules = std.plm_series
    for sid in range(series.n_series):
        members = np.flatnonzero(series.series_id == sid)
        assert members.size >= rules.min_count
        assert np.all(np.diff(members) == 1)  # consecutive LMs
        imis = np.diff(lms.onset_s[members])
        assert np.all((imis >= rules.imi_min_s - 1e-9) & (imis <= rules.imi_max_s + 1e-9))
    assert (series.series_id >= 0).tolist() == series.periodic.tolist()


@settings(max_examples=60, deadline=None)
@given(gaps, gaps, st.sampled_from(STANDARDS))
def test_bilateral_merge_keeps_every_component_and_never_grows_the_count(left_gaps, right_gaps, std):
    left = _table(left_gaps, 0.5, "left")
    right = make_leg_movements(np.cumsum([0.0, *right_gaps]) + 10.3, 0.5, "right")
    merged = find_bilateral_movements(left, right, std)
    assert int(merged.components.sum()) == len(left) + len(right)
    assert len(merged) <= len(left) + len(right)
    assert np.all(np.diff(merged.onset_s) >= 0)
    assert set(merged.side[merged.components > 1].tolist()) <= {"bilateral"}

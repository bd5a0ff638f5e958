"""The PLM grammar of each standard on hand-made event lists (AASM v2.6 and WASM 2016)."""

from __future__ import annotations

import numpy as np
import pytest

from cds.detect.legmovements import make_leg_movements
from cds.detect.plm import (
    find_arousal_associated,
    find_bilateral_movements,
    find_candidates,
    find_plm_series,
    find_respiratory_related,
)
from cds.standards import load_standard

AASM = load_standard("aasm")
WASM = load_standard("wasm2016")


def lms(onsets, durations=1.0, side="left"):
    onsets = np.asarray(onsets, dtype=float)
    return make_leg_movements(onsets, np.broadcast_to(durations, onsets.shape), side)


# --- bilateral merge -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("lag_s", "merged"), [(0.0, True), (4.9, True), (5.0, False), (5.1, False)])
def test_aasm_merges_legs_with_onsets_under_5_s_apart(lag_s, merged):
    out = find_bilateral_movements(lms([100.0], 1.0, "left"), lms([100.0 + lag_s], 1.0, "right"), AASM)
    assert len(out) == (1 if merged else 2)
    if merged:
        assert out.side.tolist() == ["bilateral"]
        assert out.onset_s[0] == 100.0
        assert out.end_s[0] == pytest.approx(101.0 + lag_s)
        assert out.components.tolist() == [2]


@pytest.mark.parametrize(("gap_s", "merged"), [(-0.5, True), (0.0, True), (0.49, True), (0.5, False), (0.6, False)])
def test_wasm_merges_on_overlap_or_gap_under_half_a_second(gap_s, merged):
    out = find_bilateral_movements(lms([10.0], 2.0, "left"), lms([12.0 + gap_s], 1.0, "right"), WASM)
    assert len(out) == (1 if merged else 2)


def test_wasm_bilateral_lm_holds_at_most_4_components():
    left = lms([0.0, 2.4, 4.8], 1.0, "left")
    right = lms([1.2, 3.6], 1.0, "right")
    out = find_bilateral_movements(left, right, WASM)
    assert out.components.tolist() == [4, 1]
    assert out.side.tolist() == ["bilateral", "left"]
    assert out.onset_s.tolist() == [0.0, 4.8]


def test_wasm_bilateral_lm_lasts_at_most_15_s():
    out = find_bilateral_movements(lms([0.0], 8.0, "left"), lms([7.9], 8.1, "right"), WASM)
    assert len(out) == 2
    out = find_bilateral_movements(lms([0.0], 8.0, "left"), lms([7.9], 7.0, "right"), WASM)
    assert len(out) == 1 and out.duration_s[0] == pytest.approx(14.9)


def test_same_leg_movements_never_merge_and_empty_input_gives_empty_table():
    out = find_bilateral_movements(lms([0.0, 1.2], 0.6, "left"), lms([]), AASM)
    assert len(out) == 2 and out.side.tolist() == ["left", "left"]
    assert len(find_bilateral_movements(lms([]), lms([]), WASM)) == 0


# --- PLM series ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("standard", "imi_s", "periodic"),
    [
        (AASM, 5.0, True),
        (AASM, 4.9, False),
        (AASM, 90.0, True),
        (AASM, 90.1, False),
        (WASM, 10.0, True),
        (WASM, 9.9, False),
        (WASM, 90.0, True),
        (WASM, 90.1, False),
    ],
)
def test_interval_bounds_are_inclusive(standard, imi_s, periodic):
    series = find_plm_series(lms(np.arange(5) * imi_s, 0.6), standard)
    assert series.periodic.tolist() == [periodic] * 5


def test_series_needs_four_and_breaks_on_a_long_interval():
    onsets = [0, 20, 40, 60, 200, 220, 240, 400, 420, 440]
    series = find_plm_series(lms(onsets), AASM)
    assert series.periodic.tolist() == [True] * 4 + [False] * 6
    assert series.series_id.tolist() == [0, 0, 0, 0] + [-1] * 6
    assert series.count == 4 and series.n_series == 1


def test_short_interval_breaks_the_run_in_both_standards():
    # 3 s between the 3rd and 4th LM: too short for AASM (5 s) and WASM (10 s)
    onsets = [0, 20, 40, 43, 63, 83, 103]
    for std in (AASM, WASM):
        assert find_plm_series(lms(onsets), std).periodic.tolist() == [False] * 3 + [True] * 4


def test_wasm_non_candidate_lm_breaks_the_run_but_not_under_aasm():
    onsets = np.array([0, 20, 40, 60, 80, 100, 120], dtype=float)
    durations = np.array([1, 1, 12, 1, 1, 1, 1], dtype=float)  # 12 s monolateral: not a CLM
    table = make_leg_movements(onsets, durations, "left")
    assert find_candidates(table, WASM).tolist() == [True, True, False, True, True, True, True]
    assert find_plm_series(table, WASM).periodic.tolist() == [False, False, False, True, True, True, True]
    assert find_plm_series(table, AASM).periodic.all()


def test_wasm_bilateral_candidate_may_last_15_s():
    table = make_leg_movements([0, 20, 40, 60], [1, 14, 1, 1], ["left", "bilateral", "right", "left"])
    assert find_plm_series(table, WASM).periodic.all()


def test_empty_table_has_no_series():
    series = find_plm_series(lms([]), WASM)
    assert series.count == 0 and series.periodic.size == 0


# --- respiratory exclusion -----------------------------------------------------------------------------------

APNEA = np.array([[100.0, 20.0]])  # 100-120 s


@pytest.mark.parametrize(
    ("onset_s", "duration_s", "related"),
    [(120.4, 1.0, True), (120.6, 1.0, False), (98.0, 1.6, True), (98.0, 1.4, False), (105.0, 2.0, True)],
)
def test_aasm_respiratory_window_is_half_a_second_around_the_event(onset_s, duration_s, related):
    table = make_leg_movements([onset_s], [duration_s])
    assert find_respiratory_related(table, APNEA, AASM).tolist() == [related]


@pytest.mark.parametrize(
    ("onset_s", "duration_s", "related"),
    [(130.2, 1.0, True), (130.3, 1.0, False), (116.0, 1.9, False), (116.0, 2.1, True), (105.0, 2.0, False)],
)
def test_wasm_respiratory_window_is_2_s_before_to_10_25_s_after_the_event_end(onset_s, duration_s, related):
    table = make_leg_movements([onset_s], [duration_s])
    assert find_respiratory_related(table, APNEA, WASM).tolist() == [related]


def test_respiratory_lm_is_removed_under_aasm_but_breaks_the_run_under_wasm():
    table = lms([0, 20, 40, 60, 80])
    apnea = np.array([[30.0, 10.5]])  # ends 40.5: LM at 40 is respiratory-related in both standards
    for std in (AASM, WASM):
        assert find_respiratory_related(table, apnea, std).tolist() == [False, False, True, False, False]
    aasm = find_plm_series(table, AASM, respiratory_related=find_respiratory_related(table, apnea, AASM))
    assert aasm.periodic.tolist() == [True, True, False, True, True]
    assert aasm.excluded.tolist() == [False, False, True, False, False]
    wasm = find_plm_series(table, WASM, respiratory_related=find_respiratory_related(table, apnea, WASM))
    assert wasm.periodic.tolist() == [False] * 5
    assert find_plm_series(table, WASM).periodic.all()  # the "including respiratory" branch


def test_no_respiratory_events_relate_nothing():
    assert find_respiratory_related(lms([1, 2]), np.zeros((0, 2)), AASM).tolist() == [False, False]


# --- arousal association -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arousal", "associated"),
    [((12.4, 3.0), True), ((12.6, 3.0), False), ((5.0, 4.6), True), ((5.0, 4.4), False), ((11.0, 0.5), True)],
)
def test_lm_arousal_association_is_overlap_or_gap_under_half_a_second(arousal, associated):
    table = make_leg_movements([10.0], [2.0])
    assert find_arousal_associated(table, np.array([arousal]), AASM).tolist() == [associated]


def test_make_leg_movements_rejects_unknown_side():
    with pytest.raises(ValueError, match="unknown side"):
        make_leg_movements([1.0], [1.0], "middle")


def test_make_leg_movements_sorts_broadcasts_and_checks_lengths():
    table = make_leg_movements([30.0, 10.0], 1.5, ["right", "left"])
    assert table.onset_s.tolist() == [10.0, 30.0] and table.side.tolist() == ["left", "right"]
    assert table.duration_s.tolist() == [1.5, 1.5]
    with pytest.raises(ValueError, match="same length"):
        make_leg_movements([1.0, 2.0], [1.0, 2.0, 3.0])

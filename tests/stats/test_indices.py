"""Leg-movement indices on hand-made event lists and hypnograms."""

from __future__ import annotations

import numpy as np
import pytest

from cds.detect.legmovements import make_leg_movements
from cds.detect.plm import find_plm_series
from cds.standards import load_standard
from cds.stats.indices import compute_leg_movement_stats, compute_periodicity_index
from cds.stats.sleep import compute_sleep_summary
from cds.synth.generate import SynthHypnogram

AASM = load_standard("aasm")

# 1 h: 10 min W, 40 min N2, 10 min W
HYP = SynthHypnogram(("W",) * 20 + ("N2",) * 80 + ("W",) * 20)


def _stats(onsets, sides="left", arousals=None, **kw):
    lms = make_leg_movements(onsets, np.ones(len(onsets)), sides)
    series = find_plm_series(lms, AASM)
    assoc = None if arousals is None else np.asarray(arousals, dtype=bool)
    return compute_leg_movement_stats(
        lms, series, AASM, hypnogram=HYP, sleep=compute_sleep_summary(HYP), arousal_associated=assoc, **kw
    )


def test_known_indices():
    sleep_series = [700.0 + 20 * i for i in range(8)]  # 8 PLMS in N2
    wake_series = [3000.0 + 15 * i for i in range(4)]  # 4 PLMW in the last 10 min of wake (starts 3000 s)
    isolated = [1500.0, 2500.0]  # 2 isolated LMs in N2
    onsets = sleep_series + isolated + wake_series
    arousal = [i < 2 for i in range(len(onsets))]
    s = _stats(onsets, arousals=arousal)
    tst_h = 40 / 60
    assert s.count == 14 and s.plm_count == 12 and s.plms_count == 8
    assert s.plms_index == pytest.approx(8 / tst_h)
    assert s.lms_index == pytest.approx(10 / tst_h)
    assert s.plmw_index == pytest.approx(4 / (20 / 60))
    assert s.plms_arousal_index == pytest.approx(2 / tst_h)
    assert s.per_stage["N2"] == {"lm": 10, "plm": 8}
    assert s.per_stage["W"] == {"lm": 4, "plm": 4}
    assert s.per_side == {"left": 14, "right": 0, "bilateral": 0}
    assert s.plm_duration_s == {"mean": 1.0, "median": 1.0, "min": 1.0, "max": 1.0}
    assert sum(s.imi_histogram["counts"]) + s.imi_histogram["over_max"] == 9  # IMIs between the 10 sleep LMs
    assert s.imi_histogram["counts"][4] == 7  # seven 20-s intervals in the 20-25 s bin
    assert s.unavailable == {}


def test_without_arousals_the_arousal_index_is_null_with_a_reason():
    s = _stats([700.0 + 20 * i for i in range(5)])
    assert s.plms_arousal_index is None
    assert "arousal" in s.unavailable["plms_arousal_index"]


def test_without_hypnogram_every_per_hour_index_is_null():
    lms = make_leg_movements([10.0, 30.0, 50.0, 70.0], [1.0] * 4)
    s = compute_leg_movement_stats(lms, find_plm_series(lms, AASM), AASM)
    assert s.count == 4 and s.plm_count == 4
    for key in ("lms_index", "plms_index", "plmw_index", "plms_arousal_index", "plms_index_including_respiratory"):
        assert getattr(s, key) is None
        assert "no hypnogram" in s.unavailable[key]
    assert s.to_dict()["plms_index"] is None


def test_periodicity_index_follows_ferri():
    # runs: 3 in-range IMIs (counted), then a short IMI, then 2 in-range (too short a run)
    assert compute_periodicity_index(np.array([20, 20, 20, 5, 20, 20]), AASM) == pytest.approx(0.5)
    assert compute_periodicity_index(np.array([20.0] * 4), AASM) == 1.0
    assert compute_periodicity_index(np.array([]), AASM) is None


def test_empty_table():
    s = _stats([])
    assert s.count == 0 and s.plms_index == 0.0 and s.periodicity_index is None and s.plm_duration_s is None


def test_respiratory_related_lms_are_counted_but_not_scored():
    from cds.detect.plm import find_respiratory_related

    onsets = [700.0 + 20 * i for i in range(6)]
    lms = make_leg_movements(onsets, np.ones(6), "left")
    related = find_respiratory_related(lms, np.array([[735.0, 5.0]]), AASM)  # LM at 740 (0.5 s after the end)
    assert related.tolist() == [False, False, True, False, False, False]
    sleep = compute_sleep_summary(HYP)
    excluded = find_plm_series(lms, AASM, respiratory_related=related)
    including = find_plm_series(lms, AASM)
    s = compute_leg_movement_stats(
        lms, excluded, AASM, hypnogram=HYP, sleep=sleep, series_including_respiratory=including
    )
    assert s.count == 6 and s.plms_count == 5
    assert s.lms_index == pytest.approx(5 / (40 / 60))
    assert s.plms_index_including_respiratory == pytest.approx(6 / (40 / 60))

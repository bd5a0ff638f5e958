"""The statistics' JSON objects keep the same keys when a value cannot be computed (null, reason given)."""

from __future__ import annotations

import numpy as np

from cds.detect.legmovements import make_leg_movements
from cds.detect.plm import find_plm_series
from cds.standards import load_standard
from cds.stats.fragmentary import EFM_KEYS, compute_efm
from cds.stats.indices import compute_leg_movement_stats
from cds.stats.sleep import STAGES, compute_sleep_summary, null_sleep_dict
from cds.synth.generate import SynthHypnogram

AASM = load_standard("aasm")
HYP = SynthHypnogram(("W",) * 20 + ("N2",) * 80 + ("W",) * 20)


def _shape(value):
    return {k: _shape(v) for k, v in value.items()} if isinstance(value, dict) else None


def test_null_sleep_dict_has_the_keys_of_a_computed_summary():
    computed = compute_sleep_summary(HYP).to_dict()
    assert _shape(null_sleep_dict()) == _shape(computed)
    assert set(computed["stage_minutes"]) == set(STAGES)


def test_leg_movement_stats_without_hypnogram_keep_per_stage_keys_null():
    onsets = [10.0, 30.0, 50.0, 70.0]
    lms = make_leg_movements(onsets, [1.0] * 4)
    series = find_plm_series(lms, AASM)
    without = compute_leg_movement_stats(lms, series, AASM).to_dict()
    staged = compute_leg_movement_stats(lms, series, AASM, hypnogram=HYP, sleep=compute_sleep_summary(HYP)).to_dict()
    assert set(without) == set(staged)
    assert _shape(without["per_stage"]) == _shape(staged["per_stage"])
    assert all(v == {"lm": None, "plm": None} for v in without["per_stage"].values())
    assert "no hypnogram" in without["unavailable"]["per_stage"]
    assert without["count"] == staged["count"] == 4  # counts need no hypnogram: numbers, not null
    assert without["plm_duration_s"]["max"] == 1.0  # all four form a series (wake here: outside PLMS)
    assert staged["plm_duration_s"] == {"mean": None, "median": None, "min": None, "max": None}
    assert "no periodic leg movement in sleep" in staged["unavailable"]["plm_duration_s"]


def test_no_leg_movement_gives_null_durations_and_periodicity_with_reasons_but_zero_counts():
    lms = make_leg_movements(np.zeros(0), np.zeros(0))
    d = compute_leg_movement_stats(lms, find_plm_series(lms, AASM), AASM).to_dict()
    assert d["count"] == 0 and d["plm_count"] == 0 and d["per_side"] == {"left": 0, "right": 0, "bilateral": 0}
    assert d["periodicity_index"] is None and "periodicity_index" in d["unavailable"]
    assert set(d["plm_duration_s"]) == {"mean", "median", "min", "max"} and "plm_duration_s" in d["unavailable"]


def test_efm_keys():
    assert set(compute_efm(np.zeros(0), HYP, AASM).to_dict()) == set(EFM_KEYS)

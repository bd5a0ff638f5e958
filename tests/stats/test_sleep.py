"""Sleep statistics on hand-built hypnograms."""

from __future__ import annotations

import pytest

from cds.stats.sleep import compute_sleep_summary
from cds.synth.generate import SynthHypnogram


def test_known_answer_without_lights():
    # 4 W, 2 N1, 6 N2, 2 W, 4 N3, 4 R, 2 W  (30-s epochs)
    stages = ("W",) * 4 + ("N1",) * 2 + ("N2",) * 6 + ("W",) * 2 + ("N3",) * 4 + ("R",) * 4 + ("W",) * 2
    s = compute_sleep_summary(SynthHypnogram(stages))
    assert s.total_sleep_time_min == 8.0
    assert s.time_in_bed_min == 12.0
    assert s.sleep_efficiency_pct == pytest.approx(100 * 8 / 12)
    assert s.sleep_onset_latency_min == 2.0
    assert s.waso_min == 2.0  # 1 min in the middle + 1 min after the final awakening
    assert s.stage_minutes == {"W": 4.0, "N1": 1.0, "N2": 3.0, "N3": 2.0, "R": 2.0}


def test_lights_off_and_on_bound_the_period():
    stages = ("W",) * 4 + ("N2",) * 8 + ("W",) * 4
    s = compute_sleep_summary(SynthHypnogram(stages, lights_off_s=60.0, lights_on_s=420.0))
    assert s.time_in_bed_min == 6.0  # epochs 2..13
    assert s.sleep_onset_latency_min == 1.0
    assert s.total_sleep_time_min == 4.0
    assert s.waso_min == 1.0


def test_no_sleep_has_no_latency_and_unscored_epochs_are_neither_sleep_nor_wake():
    s = compute_sleep_summary(SynthHypnogram(("W", "?", "W", "M")))
    assert s.total_sleep_time_min == 0.0
    assert s.sleep_onset_latency_min is None and s.waso_min is None
    assert s.wake_in_period_min == 1.0 and s.time_in_bed_min == 2.0
    assert s.sleep_efficiency_pct == 0.0


def test_empty_hypnogram():
    s = compute_sleep_summary(SynthHypnogram(()))
    assert s.total_sleep_time_min == 0.0 and s.sleep_efficiency_pct is None

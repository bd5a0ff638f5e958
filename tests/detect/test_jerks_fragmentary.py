"""Sleep-onset jerks and fragmentary myoclonus against planted truth, through analyze_recording."""

from __future__ import annotations

import numpy as np
import pytest

from cds.analysis import analyze_recording
from cds.detect.jerks import find_wake_to_n1_transitions
from cds.synth.evaluate import match_events


@pytest.mark.parametrize(("preset", "seed"), [("periodic", 1), ("noisy", 2), ("wake_lms", 1)])
def test_planted_sleep_onset_jerks_are_found(synth_night, preset, seed):
    path, truth = synth_night(preset, seed)
    assert truth.events.jerk_onset_s.size >= 1
    found = analyze_recording(path).to_dict()["sleep_onset_jerks"]
    onsets = [e["onset_s"] for e in found["events"]]
    result = match_events(truth.events.jerk_onset_s, onsets, tolerance_s=0.2)
    assert result.false_negatives == 0
    assert result.false_positives == 0


def test_efm_flagged_where_planted(synth_night):
    path, truth = synth_night("efm", 1, hours=0.7)
    assert truth.efm_excessive
    efm = analyze_recording(path).to_dict()["fragmentary_myoclonus"]
    assert efm["excessive"] is True
    assert efm["minutes_meeting_rule"] >= 20
    assert efm["potentials_per_min_nrem"] > 5


@pytest.mark.parametrize("preset", ["periodic", "noisy", "sparse", "wake_lms"])
def test_efm_not_flagged_elsewhere(synth_night, preset):
    path, truth = synth_night(preset, 1)
    assert not truth.efm_excessive
    efm = analyze_recording(path).to_dict()["fragmentary_myoclonus"]
    assert efm["excessive"] is False
    assert efm["potentials_per_min_nrem"] < 2


def test_wake_to_n1_transitions():
    stages = ("W", "W", "N1", "N2", "W", "N1", "R", "W", "N2")
    assert find_wake_to_n1_transitions(stages, 30.0, 10.0).tolist() == [70.0, 160.0]
    assert find_wake_to_n1_transitions((), 30.0, 0.0).size == 0
    assert np.asarray(find_wake_to_n1_transitions(("N2", "N2"), 30.0, 0.0)).size == 0


def _quiet(seconds: float, fs: int = 256, seed: int = 0):
    from cds.detect.preprocess import filter_emg
    from cds.standards import load_standard

    rules = load_standard("aasm").signal
    return filter_emg(np.random.default_rng(seed).standard_normal(int(seconds * fs)) * 2.0, fs, rules)


def test_quiet_channels_give_no_jerk_and_no_potential():
    from cds.detect.fragmentary import detect_fragmentary_potentials
    from cds.detect.jerks import detect_sleep_onset_jerks
    from cds.standards import load_standard

    std = load_standard("aasm")
    chin, leg = _quiet(120, seed=1), _quiet(120, seed=2)
    assert detect_sleep_onset_jerks(chin, [leg], np.array([60.0]), std).onset_s.size == 0
    assert detect_fragmentary_potentials(leg, std).size == 0


def test_a_generalized_burst_counts_only_near_a_transition_and_outside_leg_movements():
    from cds.detect.jerks import detect_sleep_onset_jerks
    from cds.detect.preprocess import filter_emg
    from cds.standards import load_standard

    std, fs, rng = load_standard("aasm"), 256, np.random.default_rng(7)
    raw = [rng.standard_normal(120 * fs) * 2.0 for _ in range(3)]
    for x in raw:
        x[int(50.0 * fs) : int(50.15 * fs)] += 150 * rng.standard_normal(int(0.15 * fs))
    chin, *legs = (filter_emg(x, fs, std.signal) for x in raw)
    assert detect_sleep_onset_jerks(chin, legs, np.array([60.0]), std).onset_s.round(1).tolist() == [50.0]
    assert detect_sleep_onset_jerks(chin, legs, np.array([100.0]), std).onset_s.size == 0  # 50 s away
    inside_lm = np.array([[49.0, 52.0]])
    assert detect_sleep_onset_jerks(chin, legs, np.array([60.0]), std, leg_movement_spans=inside_lm).onset_s.size == 0
    assert detect_sleep_onset_jerks(chin, [*legs[:1], _quiet(120)], np.array([60.0]), std).onset_s.size == 0

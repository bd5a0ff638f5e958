"""analyze_recording end to end on synthetic nights with planted truth."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cds.analysis import analyze_recording, export_events, render_summary
from cds.errors import SignalError
from cds.io.events import read_events
from cds.io.export import write_events_csv
from cds.synth.config import SynthConfig
from cds.synth.generate import write_synthetic_psg


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    path = tmp_path_factory.mktemp("analysis") / "periodic.edf"
    return path, write_synthetic_psg(path, SynthConfig.preset("periodic").replace(hours=0.6), seed=11)


def _close(value, truth):
    assert value is not None and truth is not None
    assert abs(value - truth) <= max(2.0, 0.1 * truth)


@pytest.mark.parametrize("standard", ["aasm", "wasm2016"])
def test_plms_index_matches_truth(night, standard):
    path, truth = night
    report = analyze_recording(path, standard=standard).to_dict()
    _close(report["leg_movements"]["plms_index"], truth.plms_index[standard])
    assert report["parameters"]["standard"] == standard
    assert report["parameters"]["imi_bounds_s"] == ([5.0, 90.0] if standard == "aasm" else [10.0, 90.0])


def test_plmw_index_matches_truth(tmp_path):
    path = tmp_path / "wake.edf"
    truth = write_synthetic_psg(path, SynthConfig.preset("wake_lms"), seed=4)
    lm = analyze_recording(path).to_dict()["leg_movements"]
    assert truth.plmw_index["aasm"] > 10
    _close(lm["plmw_index"], truth.plmw_index["aasm"])
    _close(lm["plms_index"], truth.plms_index["aasm"])


def test_report_has_the_schema_sections_and_is_byte_stable(night):
    path, _ = night
    a = analyze_recording(path).to_json()
    b = analyze_recording(path).to_json()
    assert a == b
    assert str(path.parent) not in a
    data = json.loads(a)
    assert data["schema"] == "cds.analysis/v1"
    assert set(data["recording"]) >= {"name", "sha256", "duration_s", "edf_type", "reader"}
    assert set(data["channels"]) >= {"left_leg", "right_leg", "chin", "sfreq_hz"}
    params = data["parameters"]
    for key in ("standard", "band_hz", "filter", "notch_hz", "envelope", "onset_above_rest_uv", "offset_above_rest_uv",
                "min_duration_s", "max_duration_s", "bilateral_rule", "imi_bounds_s", "min_series",
                "respiratory_window_s", "baseline_method"):  # fmt: skip
        assert key in params, key
    event = data["leg_movements"]["events"][0]
    assert set(event) == {"onset_s", "duration_s", "side", "stage", "periodic", "respiratory", "arousal"}
    assert event["respiratory"] is None and event["arousal"] is None  # not scored: unknown, not False
    assert data["sleep"]["total_sleep_time_min"] > 0
    assert {"excessive", "minutes_meeting_rule", "potentials_per_min_nrem"} <= set(data["fragmentary_myoclonus"])
    assert data["quality"]["channels"]["left_leg"]["usable"] is True
    assert "respiratory_scoring_unavailable" in {c["code"] for c in data["caveats"]}
    assert "PLMS index" in render_summary(analyze_recording(path))


def test_without_hypnogram_indices_are_null_with_reasons_and_a_hypnogram_file_restores_them(tmp_path):
    path = tmp_path / "nohyp.edf"
    truth = write_synthetic_psg(path, SynthConfig.preset("periodic").replace(hypnogram_in_edf=False), seed=2)
    data = analyze_recording(path).to_dict()
    lm = data["leg_movements"]
    assert lm["count"] > 0 and lm["plms_index"] is None and lm["plmw_index"] is None
    assert "no hypnogram" in lm["unavailable"]["plms_index"]
    assert data["sleep"]["total_sleep_time_min"] is None and data["hypnogram"] is None
    assert data["sleep_onset_jerks"]["count"] is None and data["fragmentary_myoclonus"]["excessive"] is None
    with_hyp = analyze_recording(path, hypnogram_path=truth.hypnogram_path).to_dict()
    _close(with_hyp["leg_movements"]["plms_index"], truth.plms_index["aasm"])


def test_respiratory_events_file_excludes_related_lms(night, tmp_path):
    path, truth = night
    lms = truth.leg_movements("aasm")
    picked = lms.onset_s[::3]
    events = tmp_path / "events.csv"
    rows = [(float(o) - 12.0, 12.3, "Obstructive Apnea") for o in picked]
    rows += [(float(o) + 0.2, 3.0, "Arousal") for o in lms.onset_s[1::3]]
    write_events_csv(events, rows)
    data = analyze_recording(path, events_path=events).to_dict()
    lm = data["leg_movements"]
    flagged = [e["respiratory"] for e in lm["events"]]
    apneas = np.array([(a, a + d) for a, d, kind in rows if kind == "Obstructive Apnea"])
    expected = [
        bool(((apneas[:, 0] - 0.5 < e["onset_s"] + e["duration_s"]) & (apneas[:, 1] + 0.5 > e["onset_s"])).any())
        for e in lm["events"]
    ]
    assert flagged == expected and sum(flagged) >= len(picked)
    assert lm["plms_index"] < lm["plms_index_including_respiratory"]
    assert sum(e["arousal"] for e in lm["events"]) == len(lms.onset_s[1::3])
    assert lm["plms_arousal_index"] is not None and lm["plms_arousal_index"] > 0
    assert "respiratory_scoring_unavailable" not in {c["code"] for c in data["caveats"]}


@pytest.mark.parametrize("suffix", [".csv", ".edf"])
def test_export_events_reads_back(night, tmp_path, suffix):
    path, _ = night
    report = analyze_recording(path)
    out = tmp_path / f"events{suffix}"
    export_events(report, out)
    back = read_events(out)
    assert len(back.leg_movements) == report.to_dict()["leg_movements"]["count"]
    assert np.allclose(back.leg_movements[:, 0], report.leg_movements.onset_s, atol=0.01)


def test_one_flat_leg_is_a_caveat_and_two_flat_legs_an_error(tmp_path):
    one = tmp_path / "one.edf"
    write_synthetic_psg(one, SynthConfig.preset("periodic").replace(flat_roles=("left_leg",)), seed=1)
    data = analyze_recording(one).to_dict()
    codes = {(c["code"], c["channel"]) for c in data["caveats"]}
    assert ("flat_signal", "left_leg") in codes and ("channel_unusable", "left_leg") in codes
    assert data["leg_movements"]["per_side"]["left"] == 0 and data["leg_movements"]["count"] > 0
    both = tmp_path / "both.edf"
    write_synthetic_psg(both, SynthConfig.preset("periodic").replace(flat_roles=("left_leg", "right_leg")), seed=1)
    with pytest.raises(SignalError, match="no usable leg EMG channel"):
        analyze_recording(both)


def _strong_fast_ecg_night(tmp_path):
    path = tmp_path / "ecg.edf"
    config = SynthConfig.preset("periodic").replace(hours=0.5, ecg_uv=200.0, ecg_shape="pqrst", ecg_bpm=(100.0, 120.0))
    return path, write_synthetic_psg(path, config, seed=0)


def test_offset_never_reached_is_a_caveat_and_null_indices_not_a_silent_zero(tmp_path, monkeypatch):
    """Strong fast ECG left in the signal keeps the envelope above rest + 2 µV: no LM ever ends (the Luna
    failure). ECG cancellation is switched off here so the guard itself is what is tested."""
    import cds.analysis
    from cds.detect.ecg import EcgBeats

    monkeypatch.setattr(cds.analysis, "cancel_ecg", lambda f: (dict(f), EcgBeats(np.zeros(0)), []))
    path, _ = _strong_fast_ecg_night(tmp_path)
    data = analyze_recording(path).to_dict()
    flagged = {c["channel"] for c in data["caveats"] if c["code"] == "lm_offset_never_reached"}
    assert flagged and flagged <= {"left_leg", "right_leg"}
    lm = data["leg_movements"]
    assert lm["unreliable_channels"] == sorted(flagged)
    for key in ("plms_index", "lms_index", "plmw_index", "periodicity_index", "plms_count"):
        assert lm[key] is None and "lm_offset_never_reached" in lm["unavailable"][key]
    for channel in flagged:
        quality = data["quality"]["channels"][channel]
        assert quality["lm_reliable"] is False
        assert quality["longest_above_threshold_s"] > 60 or quality["above_threshold_fraction"] > 0.2


def test_strong_fast_ecg_is_cancelled_and_the_night_scored(tmp_path):
    """Regression (issue 2, ECG contamination): 200 µV ECG at 100-120 bpm in legs and chin is found, removed and
    stated; the planted leg movements are then scored (before: 0 LMs or a null index)."""
    path, truth = _strong_fast_ecg_night(tmp_path)
    data = analyze_recording(path).to_dict()
    assert "ecg_artefact_removed" in {c["code"] for c in data["caveats"]}
    assert data["leg_movements"]["unreliable_channels"] == []
    expected = truth.plms_index["aasm"]
    assert abs(data["leg_movements"]["plms_index"] - expected) <= max(2.0, 0.1 * expected)


def test_ordinary_night_is_lm_reliable(night):
    data = analyze_recording(night[0]).to_dict()
    assert data["leg_movements"]["unreliable_channels"] == []
    for channel in ("left_leg", "right_leg"):
        quality = data["quality"]["channels"][channel]
        assert quality["lm_reliable"] is True and quality["above_threshold_fraction"] < 0.1
    assert "lm_offset_never_reached" not in {c["code"] for c in data["caveats"]}


def test_legs_moving_1_to_4_s_apart_merge_under_aasm_but_not_wasm(tmp_path):
    path = tmp_path / "lagged.edf"
    config = SynthConfig.preset("periodic").replace(bilateral_fraction=0.7, bilateral_lag_s=(1.0, 4.0),
                                                    lm_duration_s=(0.6, 0.9))  # fmt: skip
    truth = write_synthetic_psg(path, config, seed=5)
    assert truth.plms_index["wasm2016"] < truth.plms_index["aasm"] - 5  # WASM: two LMs < 10 s apart break runs
    for standard in ("aasm", "wasm2016"):
        data = analyze_recording(path, standard=standard).to_dict()["leg_movements"]
        _close(data["plms_index"], truth.plms_index[standard])
        assert data["count"] == len(truth.leg_movements(standard))


@pytest.mark.parametrize("preset", ["periodic", "sparse", "noisy", "low_rate", "wake_lms", "efm"])
def test_plms_index_within_2_per_h_or_10_percent_in_every_scenario(tmp_path, preset):
    path = tmp_path / f"{preset}.edf"
    truth = write_synthetic_psg(path, SynthConfig.preset(preset), seed=21)
    data = analyze_recording(path).to_dict()["leg_movements"]
    _close(data["plms_index"], truth.plms_index["aasm"])
    assert data["unavailable"]["events.respiratory"].startswith("no respiratory events")

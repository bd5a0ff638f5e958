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
    for key in (
        "standard",
        "band_hz",
        "filter",
        "notch_hz",
        "envelope",
        "onset_above_rest_uv",
        "offset_above_rest_uv",
        "min_duration_s",
        "max_duration_s",
        "bilateral_rule",
        "imi_bounds_s",
        "min_series",
        "respiratory_window_s",
        "baseline_method",
    ):
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
    assert data["sleep"]["total_sleep_time_min"] is None and data["hypnogram"]["source"] is None
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
    config = SynthConfig.preset("periodic").replace(
        bilateral_fraction=0.7, bilateral_lag_s=(1.0, 4.0), lm_duration_s=(0.6, 0.9)
    )
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


# --- Same keys on every night: an unavailable value is null with its reason (issue 2) ---------------------------

_BASE = SynthConfig.preset("periodic").replace(hours=0.6)
_DEGRADED = {
    "no_hypnogram": {"hypnogram_in_edf": False},
    "no_chin": {"labels": ("Leg L", "Leg R", None)},
    "one_leg": {"labels": ("Leg L", None, "Chin")},
    "flat_leg": {"flat_roles": ("right_leg",)},
    "no_events": {},
}
_ISSUE_KEYS = (
    "recording.sha256",
    "recording.duration_s",
    "channels.left_leg",
    "channels.right_leg",
    "channels.chin",
    "sleep.total_sleep_time_min",
    "sleep.sleep_efficiency_pct",
    "sleep.sleep_onset_latency_min",
    "sleep.stage_minutes",
    "leg_movements.count",
    "leg_movements.plms_count",
    "leg_movements.plms_index",
    "leg_movements.plmw_index",
    "leg_movements.lms_index",
    "leg_movements.periodicity_index",
    "leg_movements.events",
    "sleep_onset_jerks.count",
    "sleep_onset_jerks.events",
    "fragmentary_myoclonus.excessive",
    "fragmentary_myoclonus.minutes_meeting_rule",
    "fragmentary_myoclonus.potentials_per_min_nrem",
    "quality.channels",
    "parameters.standard",
    "parameters.onset_above_rest_uv",
    "parameters.imi_bounds_s",
)


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    """The fullest analysis (hypnogram, chin, both legs, respiratory events and arousals) and degraded ones."""
    folder = tmp_path_factory.mktemp("keys")
    full = folder / "full.edf"
    truth = write_synthetic_psg(full, _BASE, seed=11)
    lms = truth.leg_movements("aasm")
    events = folder / "events.csv"
    write_events_csv(
        events,
        [(float(o) - 12.0, 12.3, "Obstructive Apnea") for o in lms.onset_s[::3]]
        + [(float(o) + 0.2, 3.0, "Arousal") for o in lms.onset_s[1::3]],
    )
    out = {"full": analyze_recording(full, events_path=events).to_dict()}
    for name, change in _DEGRADED.items():
        path = full
        if change:
            path = folder / f"{name}.edf"
            write_synthetic_psg(path, _BASE.replace(**change), seed=11)
        out[name] = analyze_recording(path, events_path=None if name == "no_events" else events).to_dict()
    return out


def _keys(doc: dict, prefix: str = "") -> set[str]:
    """Dotted paths of every object key; lists are leaves and the contents of ``unavailable`` maps are not keys."""
    out = set()
    for key, value in doc.items():
        out.add(prefix + key)
        if isinstance(value, dict) and key != "unavailable":
            out |= _keys(value, f"{prefix}{key}.")
    return out


def _value(doc: dict, path: str):
    for part in path.split("."):
        doc = doc[part]
    return doc


def _nulls(doc, prefix: str = "") -> list[str]:
    """Paths of null values (``events.<field>`` for a field of a list's rows); caveat channels are not values."""
    out = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key not in ("unavailable", "caveats"):
                out += _nulls(value, f"{prefix}{key}.")
    elif isinstance(doc, list):
        for row in doc:
            out += _nulls(row, prefix)
    elif doc is None:
        out.append(prefix[:-1])
    return sorted(set(out))


def _reason(doc: dict, path: str) -> str | None:
    """The reason for a null at ``path``: in the ``unavailable`` map of an enclosing object, under the rest of the
    path or under a shorter part of it (a reason for an object covers its keys)."""
    parts = path.split(".")
    node = doc
    for i in range(len(parts)):
        reasons = node.get("unavailable") or {}
        for j in range(len(parts), i, -1):
            if ".".join(parts[i:j]) in reasons:
                return reasons[".".join(parts[i:j])]
        node = node.get(parts[i])
        if not isinstance(node, dict):
            return None
    return None


@pytest.mark.parametrize("name", ["full", *_DEGRADED])
def test_every_null_has_a_reason_and_every_reason_a_null(nights, name):
    doc = nights[name]
    for path in _nulls(doc):
        assert _reason(doc, path), f"{name}: {path} is null without a reason"
    for section_path in [p for p in _keys(doc) if p.split(".")[-1] == "unavailable"]:
        base = section_path[: -len("unavailable")]
        for key in _value(doc, section_path):
            target = f"{base}{key}"
            value = _value(doc, target) if "events." not in target else None
            assert value is None or all(v is None for v in _leaves(value)), f"{name}: {target} has a reason"


def _leaves(value) -> list:
    """The values under ``value`` (its ``unavailable`` maps are reasons, not values)."""
    if not isinstance(value, dict):
        return [value]
    return [x for k, v in value.items() if k != "unavailable" for x in _leaves(v)]


@pytest.mark.parametrize("name", ["full", *_DEGRADED])
def test_the_issue_keys_and_event_fields_are_always_there(nights, name):
    doc = nights[name]
    for path in _ISSUE_KEYS:
        _value(doc, path)  # KeyError when dropped
    for row in doc["leg_movements"]["events"]:
        assert set(row) == {"onset_s", "duration_s", "side", "stage", "periodic", "respiratory", "arousal"}
    for row in doc["sleep_onset_jerks"]["events"] or []:
        assert set(row) == {"onset_s", "duration_s"}


def _dropped(full: dict, degraded: dict) -> list[str]:
    """Paths (of both) that hold a value in the full analysis and null in the degraded one."""
    out = []
    for path in sorted(p for p in _keys(full) & _keys(degraded) if "unavailable" not in p.split(".")):
        a, b = _value(full, path), _value(degraded, path)
        if not isinstance(a, dict) and a is not None and b is None:
            out.append(path)
    return out


def test_without_hypnogram_the_keys_are_those_of_the_full_analysis_with_nulls_and_reasons(nights):
    full, doc = nights["full"], nights["no_hypnogram"]
    assert _keys(doc) == _keys(full)
    assert doc["unavailable"]["hypnogram"].startswith("no hypnogram")
    assert all(doc["hypnogram"][k] is None for k in doc["hypnogram"] if k != "unavailable")
    dropped = _dropped(full, doc)
    for path in (
        "sleep.total_sleep_time_min",
        "sleep.time_in_bed_min",
        "sleep.stage_minutes.R",
        "leg_movements.plms_index",
        "leg_movements.plms_count",
        "leg_movements.per_stage.N2.plm",
        "sleep_onset_jerks.count",
        "sleep_onset_jerks.transitions",
        "fragmentary_myoclonus.excessive",
        "fragmentary_myoclonus.nrem_minutes",
        "fragmentary_myoclonus.potential_count",
    ):
        assert path in dropped, path
    for path in dropped:
        assert _reason(doc, path).startswith("no hypnogram"), path
    assert all(e["stage"] is None for e in doc["leg_movements"]["events"])
    assert doc["leg_movements"]["unavailable"]["events.stage"].startswith("no hypnogram")
    # genuine counts stay numbers; the EFM rule is a parameter, known without a hypnogram
    assert doc["leg_movements"]["count"] == full["leg_movements"]["count"] > 0
    assert doc["fragmentary_myoclonus"]["rule"] == full["fragmentary_myoclonus"]["rule"]


def test_without_chin_the_chin_values_are_null_with_reasons(nights):
    full, doc = nights["full"], nights["no_chin"]
    assert _keys(doc) == _keys(full)
    assert doc["channels"]["chin"] is None and doc["channels"]["sfreq_hz"]["chin"] is None
    assert set(doc["quality"]["channels"]["chin"]) == set(full["quality"]["channels"]["chin"])
    assert all(v is None for v in doc["quality"]["channels"]["chin"].values())
    assert "no chin channel" in doc["quality"]["unavailable"]["channels.chin"]
    jerks = doc["sleep_onset_jerks"]
    assert full["sleep_onset_jerks"]["count"] > 0 and jerks["count"] is None and jerks["events"] is None
    assert "chin" in jerks["unavailable"]["count"] and "chin" in jerks["unavailable"]["transitions"]
    assert set(_dropped(full, doc)) >= {"channels.chin", "sleep_onset_jerks.count", "quality.channels.chin.usable"}
    assert doc["leg_movements"]["plms_index"] == full["leg_movements"]["plms_index"]  # legs unaffected


@pytest.mark.parametrize(("name", "why"), [("one_leg", "no right_leg channel"), ("flat_leg", "unusable")])
def test_with_one_leg_scored_the_other_keeps_its_keys_null(nights, name, why):
    full, doc = nights["full"], nights[name]
    assert _keys(doc) == _keys(full)
    assert doc["leg_movements"]["channels"] == ["left_leg"]
    assert doc["parameters"]["per_channel"]["right"] == dict.fromkeys(full["parameters"]["per_channel"]["right"])
    assert why in doc["parameters"]["unavailable"]["per_channel.right"]
    assert doc["leg_movements"]["per_side"]["right"] == 0  # a genuine zero, not null
    if name == "one_leg":
        assert doc["channels"]["right_leg"] is None and doc["channels"]["sfreq_hz"]["right_leg"] is None
        assert all(v is None for v in doc["quality"]["channels"]["right_leg"].values())
    else:
        assert doc["quality"]["channels"]["right_leg"]["usable"] is False


def test_without_respiratory_events_and_arousals_their_values_are_null_with_reasons(nights):
    full, doc = nights["full"], nights["no_events"]
    assert _keys(doc) == _keys(full)
    assert full["leg_movements"]["plms_arousal_index"] is not None
    assert _dropped(full, doc) == [
        "leg_movements.plms_arousal_index",
        "rswa.excluded_mini_epochs.arousal",  # issue 13: REM mini-epochs could not be checked for arousals ...
        "rswa.excluded_mini_epochs.respiratory",  # ... nor for apneas: the counts are unknown, not 0
        "rswa.rem_ahi_per_h",  # REM-AHI needs the scored respiratory events
    ]
    assert "arousal" in doc["leg_movements"]["unavailable"]["plms_arousal_index"]
    assert "no arousals scored" in doc["rswa"]["unavailable"]["excluded_mini_epochs.arousal"]
    assert {type(e["respiratory"]) for e in full["leg_movements"]["events"]} == {bool}
    assert {e["respiratory"] for e in doc["leg_movements"]["events"]} == {None}
    assert {e["arousal"] for e in doc["leg_movements"]["events"]} == {None}
    assert set(doc["leg_movements"]["unavailable"]) >= {"events.respiratory", "events.arousal"}
    assert doc["respiratory"] == {
        **full["respiratory"],
        "scored": False,
        "respiratory_events": 0,
        "arousals": 0,
        "source": doc["respiratory"]["source"],
    }

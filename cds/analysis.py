"""``analyze_recording``: one PSG night to an ``AnalysisReport`` (schema ``cds.analysis/v1``).

Read (cds.io) -> filter and detect per leg (cds.detect) -> bilateral merge, respiratory exclusion, arousal
association and PLM series (cds.detect.plm) -> statistics (cds.stats). Reused by ``cds analyze`` and ``cds triage``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cds.caveats import Caveat
from cds.detect.ecg import EcgBeats, cancel_ecg, clean_channel, describe_ecg_parameters
from cds.detect.fragmentary import detect_fragmentary_potentials
from cds.detect.jerks import SleepOnsetJerks, detect_sleep_onset_jerks, find_wake_to_n1_transitions
from cds.detect.legmovements import LegMovements, describe_detection, detect_leg_movements_filtered
from cds.detect.plm import (
    PlmSeries,
    describe_grammar,
    find_arousal_associated,
    find_bilateral_movements,
    find_plm_series,
    find_respiratory_related,
)
from cds.detect.preprocess import (
    FilteredEmg,
    band_for,
    compute_envelope,
    filter_emg,
    find_mains_notches,
    scorable_rates_hz,
    slice_filtered,
)
from cds.detect.quality import ChannelQuality, RawChecks, assess_channel, check_raw
from cds.detect.rswa import (
    RemEmgActivity,
    RmsTrace,
    compute_rms_bins,
    describe_rswa,
    detect_rem_emg_activity,
)
from cds.errors import SignalError
from cds.io.channels import ChannelRole, parse_channel_overrides
from cds.io.edf import Recording, Signal, read_recording
from cds.io.events import ScoredEvents, events_from_annotations, read_events
from cds.io.hypnogram import Hypnogram, check_hypnogram, hypnogram_from_annotations, read_hypnogram
from cds.io.labels import LabelVocabulary, load_labels
from cds.parallel import map_parallel
from cds.stages import to_stages
from cds.standards import ScoringStandard, Standard, load_detector_heuristics, load_rswa_rules, load_standard
from cds.stats.fragmentary import EFM_KEYS, compute_efm
from cds.stats.indices import compute_leg_movement_stats
from cds.stats.sleep import compute_sleep_summary, null_sleep_dict

__all__ = ["SCHEMA", "AnalysisReport", "analyze_recording", "export_events", "render_summary"]

log = logging.getLogger(__name__)

SCHEMA = "cds.analysis/v1"
ProgressFn = Callable[[str, float], None]
LEGS = (ChannelRole.LEFT_LEG, ChannelRole.RIGHT_LEG)
# signal kept on each side of a jerk search window (filter edges, local resting level): detectors.yaml
_WINDOW_MARGIN_S = load_detector_heuristics().sleep_onset_jerk.window_margin_s
NO_HYPNOGRAM_STAGES = "no hypnogram (file or recording annotations): sleep stages unknown"


@dataclass(frozen=True, eq=False)
class AnalysisReport:
    """The result of one night; ``to_dict()`` is the deterministic ``cds.analysis/v1`` JSON document."""

    data: dict[str, Any]
    leg_movements: LegMovements = field(repr=False)
    series: PlmSeries = field(repr=False)
    jerks: SleepOnsetJerks | None = field(repr=False)
    duration_s: float = 0.0
    start: Any = None
    hypnogram: Hypnogram | None = field(default=None, repr=False)  # the stages scored against (for the figure)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(self.to_json())

    def to_json(self) -> str:
        return json.dumps(self.data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    @property
    def caveats(self) -> list[dict[str, Any]]:
        return self.data["caveats"]


def _load_hypnogram(
    rec: Recording, hypnogram_path: str | Path | None, labels: LabelVocabulary
) -> tuple[Hypnogram | None, list[Caveat]]:
    """The hypnogram (file, else the recording's annotations) checked against the recording (cds.io.hypnogram)."""
    hyp: Hypnogram | None
    if hypnogram_path is not None:
        hyp = read_hypnogram(
            hypnogram_path, recording_start=rec.start, recording_duration_s=rec.duration_s, labels=labels
        )
        source = Path(hypnogram_path)
    else:
        hyp = hypnogram_from_annotations(
            rec.annotations, source=rec.name, path=rec.path, recording_duration_s=rec.duration_s, labels=labels
        )
        source = rec.path
    if hyp is None:
        return None, [Caveat("hypnogram_missing", f"{rec.name}: no hypnogram; per-hour-of-sleep indices are null")]
    return hyp, [*hyp.caveats, *check_hypnogram(hyp, rec.duration_s, path=source)]


def _load_events(rec: Recording, events_path: str | Path | None, labels: LabelVocabulary) -> ScoredEvents:
    """Scored events (file, else the recording's annotations) checked against the recording (cds.io.validate)."""
    if events_path is not None:
        return read_events(events_path, recording_start=rec.start, recording_duration_s=rec.duration_s, labels=labels)
    return events_from_annotations(
        rec.annotations, source=rec.name, path=rec.path, recording_duration_s=rec.duration_s, labels=labels
    )


def _span(table: np.ndarray) -> np.ndarray:
    """(n, 2) onset/duration table with unknown durations as 0 s."""
    t = np.asarray(table, dtype=np.float64).reshape(-1, 2).copy()
    t[:, 1] = np.nan_to_num(t[:, 1], nan=0.0)
    return t


_SIDE = {ChannelRole.LEFT_LEG: "left", ChannelRole.RIGHT_LEG: "right"}


def _rate_problem(sig: Signal, std: ScoringStandard) -> str | None:
    """Why a channel's sampling rate cannot be scored (cds.detect.preprocess.scorable_rates_hz), or None."""
    lowest, highest = scorable_rates_hz(std.signal)
    if lowest <= sig.sfreq_hz <= highest:
        return None
    low, high = std.signal.band_hz
    need = f"at least {lowest:.1f} Hz" if sig.sfreq_hz < lowest else f"at most {highest:g} Hz"
    return (
        f"sampling rate {sig.sfreq_hz:g} Hz of the {sig.role.value} channel {sig.label!r} cannot carry the "
        f"{low:g}-{high:g} Hz EMG band ({need}; AASM minimum {std.signal.min_sfreq_hz:g} Hz)"
    )


def _check_rate(rec: Recording, role: ChannelRole, std: ScoringStandard) -> None:
    """A leg channel sampled too slowly (or implausibly fast) to score is refused naming the file and signal."""
    problem = _rate_problem(rec.signals[role], std)
    if problem:
        raise SignalError(
            problem,
            path=rec.path,
            location=rec.signals[role].label,
            hint=f"choose another signal with --channel {role.value}=LABEL",
        )


def _filter_legs(
    rec: Recording, std: ScoringStandard
) -> tuple[dict[ChannelRole, FilteredEmg], dict[ChannelRole, RawChecks]]:
    """Band-pass each leg channel and take what quality needs from its raw samples (both legs in parallel): after
    this the raw leg samples are not read again."""
    present = [r for r in LEGS if r in rec.signals]
    if not present:
        raise SignalError("no leg EMG channel found", path=rec.path, hint="name it with --channel left_leg=LABEL")
    for role in present:
        _check_rate(rec, role, std)

    def band_pass(role: ChannelRole) -> tuple[FilteredEmg, RawChecks]:
        sig = rec.signals[role]
        try:
            filtered = filter_emg(sig.data_uv, sig.sfreq_hz, std.signal)
        except SignalError as exc:
            raise SignalError(exc.problem, path=rec.path, location=sig.label) from exc
        return filtered, check_raw(sig.data_uv, sig.sfreq_hz, std, (sig.physical_min_uv, sig.physical_max_uv))

    done = dict(zip(present, map_parallel(band_pass, present), strict=True))
    return {role: f for role, (f, _) in done.items()}, {role: c for role, (_, c) in done.items()}


def _score_legs(
    rec: Recording,
    std: ScoringStandard,
    progress: ProgressFn | None,
    legs: dict[ChannelRole, FilteredEmg],
    raw_checks: Mapping[ChannelRole, RawChecks],
):
    """Detect and judge each band-passed leg channel. Returns per-side LMs, filtered signals, qualities, caveats.
    Takes ``legs`` over (the dict is emptied): once ECG is removed, the channels before removal can be released."""
    found, filtered, quality, caveats = {}, {}, {}, []
    present = list(legs)
    by_role = {str(role): legs.pop(role) for role in present}
    cancelled, beats, ecg_caveats = cancel_ecg(by_role)
    del by_role  # with ECG removed these are copies: the channels before removal go (59 MB for two 8-h legs)
    filtered_by_role = {ChannelRole(role): emg for role, emg in cancelled.items()}
    caveats += ecg_caveats

    def score(role: ChannelRole) -> tuple[LegMovements, ChannelQuality]:
        sig, f = rec.signals[role], filtered_by_role[role]
        env = compute_envelope(f, std.signal)
        lms = detect_leg_movements_filtered(f, side=_SIDE[role], standard=std, envelope=env)
        q = assess_channel(
            raw_checks[role],
            f,
            env,
            std,
            role=role.value,
            label=sig.label,
            physical_range_uv=(sig.physical_min_uv, sig.physical_max_uv),
            resting_uv=lms.resting_uv,
            threshold_spans_s=lms.threshold_spans_s,
        )
        return lms, q

    for i, (role, (lms, q)) in enumerate(zip(present, map_parallel(score, present), strict=True)):
        quality[role.value] = q
        caveats += q.caveats
        if q.usable:
            found[_SIDE[role]], filtered[_SIDE[role]] = lms, filtered_by_role[role]
        if progress:
            progress("leg EMG", (i + 1) / len(present))
    if not found:
        raise SignalError(
            "no usable leg EMG channel: "
            + "; ".join(c.text for c in caveats if c.code in ("channel_unusable", "coarse_resolution")),
            path=rec.path,
        )
    return found, filtered, quality, caveats, beats


def analyze_recording(
    path: str | Path,
    *,
    hypnogram_path: str | Path | None = None,
    events_path: str | Path | None = None,
    standard: Standard | str = "aasm",
    channel_overrides: Mapping | Sequence[str] | None = None,
    stage_labels: str | Path | None = None,
    progress: ProgressFn | None = None,
) -> AnalysisReport:
    """Score one night. Raises RecordingError, HypnogramError, SignalError (no usable leg channel), RuleFileError,
    InputError (an events or label file), UsageError (a malformed channel override).

    ``stage_labels``: a file adding hypnogram/event labels to knowledge/labels.yaml (default $CDS_STAGE_LABELS)."""
    std = load_standard(standard)
    overrides = parse_channel_overrides(channel_overrides)
    labels = load_labels(stage_labels)
    rec = read_recording(path, overrides=overrides)
    hyp, caveats = _load_hypnogram(rec, hypnogram_path, labels)
    caveats = [*rec.caveats, *caveats]
    events = _load_events(rec, events_path, labels)
    caveats += list(events.caveats)
    legs, raw_checks = _filter_legs(rec, std)
    # the raw leg samples are not read again (their filtered copies and raw checks are): released before the
    # scoring, which lowers the night's peak memory by their size (59 MB for two 8-h legs at 256 Hz)
    rec = rec.without_samples(LEGS)
    found, filtered, quality, leg_caveats, beats = _score_legs(rec, std, progress, legs, raw_checks)
    caveats += leg_caveats
    if len(found) == 2:
        lms = find_bilateral_movements(found["left"], found["right"], std)
    else:
        lms = next(iter(found.values()))
        side = next(iter(found))
        if len(rec.signals.keys() & set(LEGS)) == 2:
            caveats.append(
                Caveat(
                    "one_leg_only",
                    f"only the {side} leg EMG is usable; bilateral LMs cannot be "
                    "combined and the indices may be underestimated",
                    f"{side}_leg",
                )
            )
    respiratory = None
    if events.has_respiratory_scoring:
        respiratory = find_respiratory_related(lms, _span(events.respiratory), std)
    else:
        caveats.append(
            Caveat(
                "respiratory_scoring_unavailable",
                "no respiratory events scored: respiratory-related "
                "leg movements cannot be excluded, so the PLMS index is an upper bound",
            )
        )
    series = find_plm_series(lms, std, respiratory_related=respiratory)
    series_incl = find_plm_series(lms, std) if respiratory is not None else None
    arousal = find_arousal_associated(lms, _span(events.arousals), std) if len(events.arousals) else None
    sleep = compute_sleep_summary(hyp) if hyp is not None else None
    stats = compute_leg_movement_stats(
        lms,
        series,
        std,
        hypnogram=hyp,
        sleep=sleep,
        series_including_respiratory=series_incl,
        arousal_associated=arousal,
    )
    unreliable = [f"{side}_leg" for side in sorted(found) if quality[f"{side}_leg"].lm_reliable is False]
    chin = _chin(rec, std, quality, caveats)
    # the chin's mains notches, searched once for the jerk windows and the RSWA pieces alike
    chin_notches = None if chin is None else find_mains_notches(chin.data_uv, chin.sfreq_hz, std.signal)
    jerks, jerk_section = _jerks(chin, std, hyp, filtered, lms, beats, chin_notches)
    efm_section = _efm(std, hyp, filtered, lms, jerks, beats)
    detection = describe_detection(next(iter(filtered.values())), std, std.signal.envelope_bin_s)
    filtered.clear()  # the band-passed leg samples are not read again: released before the chin's RSWA pieces
    efm_section["trains_not_leg_movements"] = sum(
        0 if f.fragmentary_trains_s is None else len(f.fragmentary_trains_s) for f in found.values()
    )
    fds = [s for r in (ChannelRole.LEFT_FDS, ChannelRole.RIGHT_FDS) if (s := _chin(rec, std, quality, caveats, r))]
    rswa_section = _rswa(chin, std, hyp, events, beats, fds, chin_notches)
    if rswa_section.get("indeterminate"):
        caveats.append(
            Caveat(
                "rswa_values_indeterminate",
                "REM sleep without atonia values are indeterminate: "
                + "; ".join(r["text"] for r in rswa_section["indeterminate_reasons"]),
                "chin",
            )
        )
    if progress:
        progress("statistics", 1.0)
    data = {
        "schema": SCHEMA,
        "unavailable": {"hypnogram": NO_HYPNOGRAM_STAGES} if hyp is None else {},
        "recording": {
            "name": rec.name,
            "sha256": rec.sha256,
            "duration_s": round(rec.duration_s, 3),
            "edf_type": rec.edf_type,
            "reader": rec.reader,
        },
        "channels": _channels_section(rec),
        "parameters": {
            "standard": std.id,
            "standard_title": std.title,
            "references": list(std.references),
            **detection,
            **_parameters_used(found, quality),
            **describe_grammar(std),
            **describe_ecg_parameters(),
            "rswa": describe_rswa(load_rswa_rules()),
            "detectors": load_detector_heuristics().to_dict(),
            "label_vocabulary": labels.to_dict(),
        },
        "ecg": _ecg_section(beats),
        "hypnogram": _hypnogram_section(hyp),
        "sleep": _sleep_section(sleep),
        "leg_movements": {
            **_with_event_reasons(_unreliable_indices(stats.to_dict(), unreliable), respiratory, arousal, hyp),
            "channels": [f"{side}_leg" for side in sorted(found)],
            "unreliable_channels": unreliable,
            "events": _event_rows(lms, series, hyp, respiratory, arousal),
        },
        "respiratory": {
            "scored": bool(events.has_respiratory_scoring),
            "source": Path(events.source).name,
            "respiratory_events": len(events.respiratory),
            "arousals": len(events.arousals),
        },
        "sleep_onset_jerks": jerk_section,
        "fragmentary_myoclonus": efm_section,
        "rswa": rswa_section,
        "quality": _quality_section(quality),
        "caveats": [c.to_dict() for c in sorted(set(caveats))],
    }
    return AnalysisReport(data, lms, series, jerks, rec.duration_s, rec.start, hyp)


_LM_INDICES = (
    "lms_index",
    "plms_index",
    "plmw_index",
    "plms_arousal_index",
    "plms_index_including_respiratory",
    "periodicity_index",
    "plms_count",
)


def _unreliable_indices(section: dict[str, Any], unreliable: list[str]) -> dict[str, Any]:
    """Null every leg-movement index (reason in ``unavailable``) when a scored channel never met the offset rule:
    its movements cannot be delimited, so a count of 0 (or any count) would be a silent wrong number."""
    if not unreliable:
        return section
    reason = f"LM offsets not reached on {', '.join(unreliable)} (caveat lm_offset_never_reached)"
    reasons = dict(section["unavailable"])
    out = dict(section)
    for key in _LM_INDICES:
        out[key] = None
        reasons[key] = reason
    return {**out, "unavailable": dict(sorted(reasons.items()))}


def _with_event_reasons(section: dict[str, Any], respiratory, arousal, hyp: Hypnogram | None) -> dict[str, Any]:
    """Say why the per-event ``stage`` / ``respiratory`` / ``arousal`` values are null (unknown, not False)."""
    reasons = dict(section["unavailable"])
    if hyp is None:
        reasons["events.stage"] = NO_HYPNOGRAM_STAGES
    if respiratory is None:
        reasons["events.respiratory"] = "no respiratory events scored (events file or annotations)"
    if arousal is None:
        reasons["events.arousal"] = "no arousals scored (events file or annotations)"
    return {**section, "unavailable": dict(sorted(reasons.items()))}


def _null_like(value: Any) -> Any:
    """The same object shape with every leaf null (an object that cannot be computed keeps its keys)."""
    if isinstance(value, dict):
        return {k: _null_like(v) for k, v in value.items()}
    return None


def _role_missing(role: str) -> str:
    return f"no {role} channel found in the recording (name it with --channel {role}=LABEL)"


def _channels_section(rec: Recording) -> dict[str, Any]:
    """The EDF label and sampling rate of every role; a role not found is null with its reason."""
    roles = [r.value for r in ChannelRole]
    labels = {r.value: rec.roles.get(r) for r in ChannelRole}
    rates = {r.value: s.sfreq_hz for r, s in rec.signals.items()}
    reasons = {}
    for role in roles:
        if labels[role] is None:
            reasons[role] = _role_missing(role)
        if role not in rates:
            reasons[f"sfreq_hz.{role}"] = _role_missing(role)
    return {**labels, "sfreq_hz": {r: rates.get(r) for r in roles}, "unavailable": dict(sorted(reasons.items()))}


def _ecg_section(beats: EcgBeats) -> dict[str, Any]:
    """ECG beats found in the EMG; the heart rate is null with its reason when there is no R-R interval."""
    data = beats.to_dict()
    reasons = {}
    if data["heart_rate_bpm"] is None:
        reasons["heart_rate_bpm"] = (
            "no ECG artefact found in the EMG channels (nothing cancelled)"
            if data["beats"] == 0
            else "no two consecutive R peaks at a plausible R-R interval"
        )
    return {**data, "unavailable": reasons}


_HYPNOGRAM_KEYS = ("source", "scheme", "epochs", "epoch_s", "start_s", "lights_off_s", "lights_on_s")


def _hypnogram_section(hyp: Hypnogram | None) -> dict[str, Any]:
    """The staging scored against; without one the same keys, null, each with the reason."""
    if hyp is None:
        return {**dict.fromkeys(_HYPNOGRAM_KEYS), "unavailable": dict.fromkeys(_HYPNOGRAM_KEYS, NO_HYPNOGRAM_STAGES)}

    def r3(value: float | None) -> float | None:
        return None if value is None else round(float(value), 3)

    data = {
        "source": Path(hyp.source).name,
        "scheme": hyp.scheme,
        "epochs": len(hyp.stages),
        "epoch_s": r3(hyp.epoch_s),
        "start_s": r3(hyp.start_s),
        "lights_off_s": r3(hyp.lights_off_s),
        "lights_on_s": r3(hyp.lights_on_s),
    }
    reasons = {
        "lights_off_s": "lights off not given: the analysed period starts with the first scored epoch",
        "lights_on_s": "lights on not given: the analysed period ends with the last scored epoch",
    }
    return {
        **data,
        "unavailable": {k: reasons.get(k, "not given in the hypnogram") for k, v in data.items() if v is None},
    }


def _parameters_used(found: dict[str, LegMovements], quality: dict) -> dict[str, Any]:
    """Per-channel filter facts that can differ between channels (band edge, notch, envelope bin); a leg that was
    not scored keeps its keys, null, with the reason in ``unavailable``."""
    keys = ("band_hz", "notch_hz", "envelope")
    first = next(iter(found.values())).parameters
    per_channel, reasons = {}, {}
    for side in ("left", "right"):
        role = f"{side}_leg"
        if side in found:
            per_channel[side] = {k: found[side].parameters[k] for k in keys}
        elif role in quality:
            per_channel[side] = dict.fromkeys(keys)
            reasons[f"per_channel.{side}"] = f"{role} EMG unusable (see quality.channels.{role}): not scored"
        else:
            per_channel[side] = dict.fromkeys(keys)
            reasons[f"per_channel.{side}"] = _role_missing(role)
    return {**{k: first[k] for k in keys}, "per_channel": per_channel, "unavailable": reasons}


_QUALITY_REASONS = {
    "resting_uv": "no resting EMG level estimated (no movement-free signal)",
    "resolution_uv": "no amplitude step measurable: the first 200 000 samples are flat",
    "longest_above_threshold_s": "LM offset check not run on this channel",
    "above_threshold_fraction": "LM offset check not run on this channel",
    "lm_reliable": "LM offset check not run on this channel",
}
_CHIN_REASONS = {
    **_QUALITY_REASONS,
    "resting_uv": "not estimated for the chin or FDS (used for sleep-onset jerks and RSWA, not for LMs)",
    "longest_above_threshold_s": "the LM offset check applies to leg channels only",
    "above_threshold_fraction": "the LM offset check applies to leg channels only",
    "lm_reliable": "the LM offset check applies to leg channels only",
}


def _quality_section(quality: dict) -> dict[str, Any]:
    """Quality of every role; a role not in the recording keeps the keys of the others, null, with its reason."""
    found = {k: v.to_dict() for k, v in quality.items()}
    shape = _null_like(next(iter(found.values())))
    channels, reasons = {}, {}
    for role in (r.value for r in ChannelRole):
        if role not in found:
            channels[role] = dict(shape)
            reasons[f"channels.{role}"] = _role_missing(role)
            continue
        channels[role] = found[role]
        table = _QUALITY_REASONS if role in ("left_leg", "right_leg") else _CHIN_REASONS
        for key, value in found[role].items():
            if value is None:
                reasons[f"channels.{role}.{key}"] = table.get(key, "not computed for this channel")
    return {"channels": channels, "unavailable": dict(sorted(reasons.items()))}


def _sleep_section(sleep) -> dict[str, Any]:
    if sleep is not None:
        data = sleep.to_dict()
        reasons = {
            "sleep_onset_latency_min": "no sleep epoch scored in the analysed period",
            "waso_min": "no sleep epoch scored in the analysed period",
            "sleep_efficiency_pct": "no epoch in the analysed period",
        }
        return {**data, "unavailable": {k: v for k, v in reasons.items() if data[k] is None}}
    data = null_sleep_dict()
    return {**data, "unavailable": dict.fromkeys(sorted(data), NO_HYPNOGRAM_STAGES)}


def _event_rows(lms, series, hyp, respiratory, arousal) -> list[dict[str, Any]]:
    stage = hyp.stage_at(lms.onset_s) if hyp is not None else np.full(len(lms), None)
    rows = []
    for i in range(len(lms)):
        rows.append(
            {
                "onset_s": round(float(lms.onset_s[i]), 3),
                "duration_s": round(float(lms.duration_s[i]), 3),
                "side": str(lms.side[i]),
                "stage": None if stage[i] is None else str(stage[i]),
                "periodic": bool(series.periodic[i]),
                "respiratory": None if respiratory is None else bool(respiratory[i]),
                "arousal": None if arousal is None else bool(arousal[i]),
            }
        )
    return rows


def _chin(
    rec: Recording, std: ScoringStandard, quality: dict, caveats: list, role: ChannelRole = ChannelRole.CHIN
) -> Signal | None:
    """Judge the chin EMG (sleep-onset jerks, RSWA) or an FDS EMG (RSWA); the signal when present and usable."""
    sig = rec.signals.get(role)
    if sig is None:
        return None
    problem = _rate_problem(sig, std)
    if problem:  # the chin and FDS only add to the leg scoring: name it and go on without it
        caveats.append(
            Caveat("sampling_rate_too_low", f"{sig.label}: {problem}; the {role.value} was not used", role.value)
        )
    band, clipped = band_for(sig.sfreq_hz, std.signal)
    described = FilteredEmg(np.zeros(0, dtype=np.float32), sig.sfreq_hz, band, clipped, ())
    q = assess_channel(
        sig.data_uv,
        described,
        None,
        std,
        role=role.value,
        label=sig.label,
        physical_range_uv=(sig.physical_min_uv, sig.physical_max_uv),
    )
    quality[role.value] = q
    caveats += q.caveats
    return sig if q.usable and not problem else None


def _jerks(
    chin: Signal | None, std, hyp, filtered, lms, beats: EcgBeats, notches: tuple[float, ...] | None = None
) -> tuple[SleepOnsetJerks | None, dict[str, Any]]:
    """Jerks near each W->N1 transition; the chin is filtered only in windows around the transitions."""
    reason = None
    if hyp is None:
        reason = "no hypnogram: wake-to-N1 transitions unknown"
    elif chin is None:
        reason = "no usable chin EMG: a generalized (chin and legs) burst cannot be recognised"
    if reason or chin is None:
        keys = ("count", "events", "transitions")
        return None, {**dict.fromkeys(keys), "unavailable": dict.fromkeys(keys, reason)}
    transitions = find_wake_to_n1_transitions(hyp.stages, hyp.epoch_s, hyp.start_s)
    spans = np.column_stack([lms.onset_s, lms.end_s])
    margin = std.sleep_onset_jerk.transition_window_s + _WINDOW_MARGIN_S
    if notches is None:
        notches = find_mains_notches(chin.data_uv, chin.sfreq_hz, std.signal)
    windows = [
        (a, b)
        for start, end in _merge_windows(transitions - margin, transitions + margin)
        if (b := int(end * chin.sfreq_hz)) - (a := int(start * chin.sfreq_hz)) >= 4 * chin.sfreq_hz
    ]

    def in_window(window: tuple[int, int]) -> SleepOnsetJerks:
        a, b = window
        chin_part = filter_emg(chin.data_uv[a:b], chin.sfreq_hz, std.signal, notch_hz=notches)
        t0, t1 = a / chin.sfreq_hz, b / chin.sfreq_hz
        window_beats = beats.shifted(t0, t1)
        chin_part = clean_channel(chin_part, window_beats)
        legs = [slice_filtered(f, t0, t1) for f in filtered.values()]
        found = detect_sleep_onset_jerks(
            chin_part, legs, transitions - t0, std, leg_movement_spans=spans - t0, ecg_r_peak_s=window_beats.r_peak_s
        )
        return SleepOnsetJerks(found.onset_s + t0, found.duration_s)

    per_window = map_parallel(in_window, windows)  # independent windows, in order
    jerks = SleepOnsetJerks(
        np.concatenate([np.zeros(0), *(j.onset_s for j in per_window)]),
        np.concatenate([np.zeros(0), *(j.duration_s for j in per_window)]),
    )
    return jerks, {**jerks.to_dict(), "transitions": int(transitions.size), "unavailable": {}}


def _merge_windows(starts: np.ndarray, ends: np.ndarray) -> list[tuple[float, float]]:
    merged: list[list[float]] = []
    for start, end in zip(np.maximum(starts, 0.0), ends, strict=True):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([float(start), float(end)])
    return [(a, b) for a, b in merged]


def _efm(std, hyp, filtered, lms, jerks, beats: EcgBeats) -> dict[str, Any]:
    rules = std.fragmentary_myoclonus
    rule = f">= {rules.min_nrem_minutes:g} min of NREM with >= {rules.min_rate_per_min:g} potentials/min"
    if hyp is None:
        reason = "no hypnogram: NREM minutes unknown"
        return {**dict.fromkeys(EFM_KEYS), "rule": rule, "unavailable": dict.fromkeys(EFM_KEYS, reason)}
    spans = [np.column_stack([lms.onset_s, lms.end_s])]
    if jerks is not None:
        spans.append(np.column_stack([jerks.onset_s, jerks.onset_s + jerks.duration_s]))
    exclude = np.concatenate(spans)
    # both legs at once: their whole-channel burst tables add ~25 MB, within the room the raw leg samples left
    per_leg = map_parallel(
        lambda f: detect_fragmentary_potentials(f, std, exclude_spans=exclude, ecg_r_peak_s=beats.r_peak_s),
        list(filtered.values()),
    )
    onsets = np.sort(np.concatenate(per_leg))
    efm = compute_efm(onsets, hyp, std).to_dict()
    return {
        **efm,
        "unavailable": {"potentials_per_min_nrem": "no NREM minute scored"}
        if efm["potentials_per_min_nrem"] is None
        else {},
        "rule": rule,
    }


_RMS_PIECE_S = 1800.0  # the chin is filtered for RSWA in pieces of this length (memory), each with ...
_RMS_MARGIN_S = 10.0  # ... this much signal on both sides, where the zero-phase filter's edge transients settle


def _chin_rms_trace(
    chin: Signal, std: ScoringStandard, beats: EcgBeats, bin_s: float, notches: tuple[float, ...] | None = None
) -> RmsTrace:
    """The chin's RMS in ``bin_s`` bins, band-passed and ECG-cleaned piece by piece (pieces aligned on the bins),
    so no whole-night filtered copy is held: the same bins as filtering the whole night, to the filter's edge
    transients, which the margins leave far below the EMG."""
    fs = chin.sfreq_hz
    width = max(1, round(bin_s * fs))
    n = chin.data_uv.size
    usable = n // width * width
    piece = max(width, int(_RMS_PIECE_S * fs) // width * width)
    margin = int(_RMS_MARGIN_S * fs)
    if notches is None:
        notches = find_mains_notches(chin.data_uv, fs, std.signal)

    def rms_of(a: int) -> np.ndarray:
        b = min(a + piece, usable)
        lo, hi = max(0, a - margin), min(n, b + margin)
        part = filter_emg(chin.data_uv[lo:hi], fs, std.signal, notch_hz=notches)
        part = clean_channel(part, beats.shifted(lo / fs, hi / fs))
        core = FilteredEmg(part.data_uv[a - lo : b - lo], fs, part.band_hz, part.band_clipped, part.notch_hz)
        return compute_rms_bins(core, bin_s)[0]

    parts = map_parallel(rms_of, range(0, usable, piece))  # independent pieces, in order
    values = np.concatenate([np.zeros(0), *parts])
    return RmsTrace(values, width / fs, n / fs)


def _rswa(
    chin: Signal | None,
    std: ScoringStandard,
    hyp: Hypnogram | None,
    events: ScoredEvents,
    beats: EcgBeats,
    fds: Sequence[Signal] = (),
    chin_notches: tuple[float, ...] | None = None,
) -> dict[str, Any]:
    """REM sleep without atonia from the chin EMG, with the FDS EMG when recorded (cds.detect.rswa); every value
    null with its reason when the stages or a usable chin are missing. ECG beats found in the leg channels are
    cancelled in the chin and FDS too."""
    rules = load_rswa_rules()
    reason = None
    if hyp is None:
        reason = "no hypnogram: REM epochs unknown"
    elif chin is None:
        reason = "no usable chin EMG channel (see quality.channels.chin)"
    if reason is not None or chin is None or hyp is None:
        shape = {k: v for k, v in _null_like(RemEmgActivity.empty().to_dict()).items() if k != "unavailable"}
        return {**shape, "channels": [], "unavailable": dict.fromkeys(sorted(shape), reason)}
    trace = _chin_rms_trace(chin, std, beats, rules.amplitude_bin_s, chin_notches)

    def spans(table: np.ndarray) -> np.ndarray:
        t = _span(table)
        return np.column_stack([t[:, 0], t[:, 0] + t[:, 1]])

    found = detect_rem_emg_activity(
        trace,
        to_stages(hyp.stages),
        hyp.epoch_s,
        hyp.start_s,
        rules,
        arousals_s=spans(events.arousals) if len(events.arousals) else None,
        respiratory_s=spans(events.respiratory) if events.has_respiratory_scoring else None,
        fds=[_chin_rms_trace(sig, std, beats, rules.amplitude_bin_s) for sig in fds],
    )
    data = found.to_dict()
    if not events.has_respiratory_scoring:
        data["excluded_mini_epochs"]["respiratory"] = None
        data["unavailable"]["excluded_mini_epochs.respiratory"] = (
            "no respiratory events scored: REM mini-epochs with apneas or hypopneas could not be left out"
        )
    if not len(events.arousals):
        data["excluded_mini_epochs"]["arousal"] = None
        data["unavailable"]["excluded_mini_epochs.arousal"] = (
            "no arousals scored: REM mini-epochs with arousal-related activity could not be left out"
        )
    data["unavailable"] = dict(sorted(data["unavailable"].items()))
    return {**data, "channels": ["chin", *(str(s.role) for s in fds)]}


def export_events(report: AnalysisReport, path: str | Path) -> None:
    """Write the detected events for review: EDF+ annotations (``.edf``) or CSV (``.csv``), via cds.io.export."""
    from cds.io.export import write_events_csv, write_events_edf

    path = Path(path)
    rows = [
        (e["onset_s"], e["duration_s"], f"{'PLM' if e['periodic'] else 'LM'} {e['side']}")
        for e in report.data["leg_movements"]["events"]
    ]
    for e in report.data["sleep_onset_jerks"].get("events") or []:
        rows.append((e["onset_s"], e["duration_s"], "Sleep onset jerk"))
    rows.sort()
    if path.suffix.lower() == ".edf":
        write_events_edf(path, rows, duration_s=report.duration_s, start=report.start)
    else:
        write_events_csv(path, rows)


def render_summary(report: AnalysisReport) -> str:
    """A readable multi-line summary of the report (what ``cds analyze`` prints)."""
    d = report.data
    lm, sleep = d["leg_movements"], d["sleep"]

    def val(section: dict[str, Any], key: str, unit: str = "") -> str:
        value = section.get(key)
        if value is None:
            return f"n/a ({section.get('unavailable', {}).get(key, 'unavailable')})"
        return f"{value}{unit}"

    lines = [
        f"{d['recording']['name']}  ({d['recording']['duration_s'] / 3600:.2f} h, {d['recording']['edf_type']}, "
        f"standard {d['parameters']['standard']})",
        "channels: " + ", ".join(f"{k}={d['channels'][k] or '-'}" for k in ("left_leg", "right_leg", "chin")),
        f"sleep: TST {val(sleep, 'total_sleep_time_min', ' min')}, SE {val(sleep, 'sleep_efficiency_pct', '%')}, "
        f"SOL {val(sleep, 'sleep_onset_latency_min', ' min')}, WASO {val(sleep, 'waso_min', ' min')}",
        f"leg movements: {lm['count']} ({lm['per_side']['left']} left, {lm['per_side']['right']} right, "
        f"{lm['per_side']['bilateral']} bilateral); in PLM series: {lm['plm_count']}",
        f"PLMS index: {val(lm, 'plms_index', '/h')} (including respiratory-related: "
        f"{val(lm, 'plms_index_including_respiratory', '/h')})",
        f"PLMW index: {val(lm, 'plmw_index', '/h')}; LM index: {val(lm, 'lms_index', '/h')}; "
        f"PLMS-arousal index: {val(lm, 'plms_arousal_index', '/h')}; periodicity index: "
        f"{val(lm, 'periodicity_index')}",
        f"sleep-onset jerks: {val(d['sleep_onset_jerks'], 'count')}",
        f"fragmentary myoclonus: excessive {val(d['fragmentary_myoclonus'], 'excessive')}, "
        f"{val(d['fragmentary_myoclonus'], 'potentials_per_min_nrem', '/min NREM')}; trains of discrete potentials "
        f"not scored as leg movements: {d['fragmentary_myoclonus'].get('trains_not_leg_movements', 0)}",
        f"REM sleep without atonia (chin): tonic {val(d['rswa'], 'tonic_chin_pct', '% of 20-s REM epochs')}, "
        f"phasic {val(d['rswa'], 'phasic_chin_pct', '% of 2-s mini-epochs')} (Montreal), any "
        f"{val(d['rswa'], 'any_chin_pct', '% of 3-s mini-epochs')} (SINBAR)"
        + (" - INDETERMINATE (see caveat rswa_values_indeterminate)" if d["rswa"].get("indeterminate") else ""),
    ]
    lines += [f"caveat [{c['code']}]: {c['text']}" for c in d["caveats"]]
    return "\n".join(lines)

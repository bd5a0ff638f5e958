"""Scoring standards for leg movements: AASM (v2.6) and WASM 2016, loaded from knowledge/standards/*.yaml.

Every clinical number used by ``cds.detect`` and ``cds.stats`` comes from a frozen ``ScoringStandard``; none is a
default in code. A missing or unknown key in a standard file is a ``RuleFileError``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from cds.errors import RuleFileError
from cds.paths import knowledge_dir
from cds.standard_names import Standard

__all__ = [
    "ArousalRules",
    "BilateralRules",
    "DetectorHeuristics",
    "FragmentaryRules",
    "JerkRules",
    "LegMovementRules",
    "PeriodicityRules",
    "QualityRules",
    "RespiratoryRules",
    "RswaRules",
    "ScoringStandard",
    "SeriesRules",
    "SignalRules",
    "Standard",
    "StatisticsRules",
    "load_detector_heuristics",
    "load_rswa_rules",
    "load_rswa_rules_file",
    "load_standard",
]


@dataclass(frozen=True)
class SignalRules:
    band_hz: tuple[float, float]
    filter_order: int
    nyquist_margin: float
    min_sfreq_hz: float
    notch_hz: tuple[float, ...]
    notch_ratio: float
    notch_q: float
    envelope_bin_s: float
    envelope_span_s: float
    envelope_percentile: float
    baseline_block_s: float
    baseline_span_s: float
    baseline_exclusion_s: float


@dataclass(frozen=True)
class LegMovementRules:
    onset_above_rest_uv: float
    offset_above_rest_uv: float
    offset_hold_s: float
    min_duration_s: float
    duration_tolerance_s: float
    max_duration_s: float
    keep_long_movements: bool
    max_duration_bilateral_s: float
    morphology_check: bool


@dataclass(frozen=True)
class BilateralRules:
    rule: str  # "onset_lag" (AASM) or "gap_overlap" (WASM 2016)
    max_onset_lag_s: float | None
    max_gap_s: float | None
    max_components: int | None
    max_duration_s: float | None


@dataclass(frozen=True)
class SeriesRules:
    min_count: int
    imi_min_s: float
    imi_max_s: float
    non_candidate_breaks: bool
    respiratory_breaks: bool


@dataclass(frozen=True)
class RespiratoryRules:
    anchor: str  # "event": [onset - before, end + after]; "end": [end - before, end + after]
    before_s: float
    after_s: float


@dataclass(frozen=True)
class ArousalRules:
    max_gap_s: float


@dataclass(frozen=True)
class PeriodicityRules:
    imi_min_s: float
    imi_max_s: float
    min_consecutive: int


@dataclass(frozen=True)
class StatisticsRules:
    imi_histogram_edges_s: tuple[float, ...]


@dataclass(frozen=True)
class JerkRules:
    min_duration_s: float
    max_duration_s: float
    onset_above_rest_uv: float
    envelope_s: float
    max_lag_s: float
    transition_window_s: float


@dataclass(frozen=True)
class FragmentaryRules:
    min_duration_s: float
    max_duration_s: float
    duration_tolerance_s: float
    envelope_s: float
    min_amplitude_uv: float
    onset_above_rest_uv: float
    min_rate_per_min: float
    min_nrem_minutes: float
    train_min_potentials: int
    train_silence_s: float
    train_silence_above_rest_uv: float


@dataclass(frozen=True)
class QualityRules:
    max_resting_uv: float
    flat_range_uv: float
    saturation_fraction: float
    min_usable_fraction: float
    max_resolution_uv: float
    max_above_threshold_s: float
    max_above_threshold_fraction: float


@dataclass(frozen=True)
class ScoringStandard:
    """All parameters of one scoring standard, as read from ``knowledge/standards/<id>.yaml``."""

    id: str
    title: str
    references: tuple[str, ...]
    signal: SignalRules
    leg_movement: LegMovementRules
    bilateral: BilateralRules
    plm_series: SeriesRules
    respiratory: RespiratoryRules
    arousal: ArousalRules
    periodicity: PeriodicityRules
    statistics: StatisticsRules
    sleep_onset_jerk: JerkRules
    fragmentary_myoclonus: FragmentaryRules
    quality: QualityRules

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))


@dataclass(frozen=True)
class RswaRules:
    """How REM sleep without atonia is scored, as read from ``knowledge/standards/rswa.yaml`` (every field is
    described there, with its source)."""

    id: str
    title: str
    references: tuple[str, ...]
    epoch_s: float
    mini_epoch_s: float
    montreal_epoch_s: float
    montreal_mini_epoch_s: float
    amplitude_bin_s: float
    tonic_bin_s: float
    background: str
    background_window_s: float
    background_step_s: float
    background_percentile: float
    min_background_uv: float
    tonic_ratio: float
    tonic_absolute_uv: float
    tonic_min_fraction: float
    aasm_sustained_percentile: float
    phasic_ratio: float
    phasic_min_duration_s: float
    phasic_max_duration_s: float
    montreal_phasic_max_duration_s: float
    burst_gap_s: float
    aasm_transient_min_mini_epochs: int
    any_ratio: float
    any_min_duration_s: float
    exclude_arousals: bool
    exclude_respiratory: bool
    artefact_uv: float
    flat_uv: float
    max_excluded_fraction: float
    min_rem_minutes: float
    indeterminate_rem_minutes: float
    indeterminate_rem_ahi_per_h: float
    indeterminate_without_respiratory: bool
    indeterminate_without_arousals: bool

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))


@dataclass(frozen=True)
class EcgHeuristics:
    qrs_smooth_s: float
    min_rr_s: float
    max_rr_s: float
    candidate_separation_s: float
    peak_above_local: float
    local_level_s: float
    shape_half_s: float
    shape_max_lag_s: float
    min_shape_corr: float
    shape_beats: int
    regular_window_s: float
    min_regular_fraction: float
    fill_min_scale: float
    template_pre_s: float
    template_post_s: float
    template_beats: int
    scale_bounds: tuple[float, ...]
    screen_chunks: int
    screen_chunk_s: float
    taper_fraction: float
    fragmentary_exclusion_s: float


@dataclass(frozen=True)
class BurstHeuristics:
    offset_fraction: float
    hold_s: float


@dataclass(frozen=True)
class JerkHeuristics:
    isolation_s: float
    leg_max_duration_s: float
    beat_lock_s: float
    beat_over_ecg_ratio: float
    duration_tolerance_s: float
    min_beat_locked: int
    window_margin_s: float


@dataclass(frozen=True)
class HumHeuristics:
    chunks: int
    chunk_s: float


@dataclass(frozen=True)
class QualityHeuristics:
    block_s: float
    noise_block_s: float


@dataclass(frozen=True)
class DetectorHeuristics:
    """cds's own detection heuristics, from ``knowledge/standards/detectors.yaml`` (each described there)."""

    id: str
    title: str
    references: tuple[str, ...]
    ecg: EcgHeuristics
    bursts: BurstHeuristics
    sleep_onset_jerk: JerkHeuristics
    hum: HumHeuristics
    quality: QualityHeuristics

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _build(cls: type, data: Any, path: Path, where: str) -> Any:
    """Build dataclass ``cls`` from a mapping, strictly: every field present, no unknown key."""
    if not isinstance(data, dict):
        raise RuleFileError(f"expected a mapping, got {type(data).__name__}", path=path, location=where)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    missing = sorted(set(fields) - set(data))
    if unknown or missing:
        raise RuleFileError(
            f"keys do not match the standard schema (missing: {missing}, unknown: {unknown})", path=path, location=where
        )
    values = {}
    for name, field in fields.items():
        raw = data[name]
        sub = (
            _SECTIONS.get(name)
            if cls is ScoringStandard
            else _HEURISTIC_SECTIONS.get(name)
            if cls is DetectorHeuristics
            else None
        )
        if sub is not None:
            values[name] = _build(sub, raw, path, f"{where}.{name}" if where else name)
        elif isinstance(raw, list):
            values[name] = tuple(float(v) if isinstance(v, (int, float)) else str(v) for v in raw)
        elif isinstance(raw, int) and not isinstance(raw, bool) and "float" in str(field.type):
            values[name] = float(raw)
        else:
            values[name] = raw
    return cls(**values)


_SECTIONS: dict[str, type] = {
    "signal": SignalRules,
    "leg_movement": LegMovementRules,
    "bilateral": BilateralRules,
    "plm_series": SeriesRules,
    "respiratory": RespiratoryRules,
    "arousal": ArousalRules,
    "periodicity": PeriodicityRules,
    "statistics": StatisticsRules,
    "sleep_onset_jerk": JerkRules,
    "fragmentary_myoclonus": FragmentaryRules,
    "quality": QualityRules,
}


_HEURISTIC_SECTIONS: dict[str, type] = {
    "ecg": EcgHeuristics,
    "bursts": BurstHeuristics,
    "sleep_onset_jerk": JerkHeuristics,
    "hum": HumHeuristics,
    "quality": QualityHeuristics,
}


def _cache_file(text: str) -> Path | None:
    """Where the parsed form of a standards file with this content is kept (None: caching off), beside the rule
    cache ($CDS_CACHE_DIR, else $XDG_CACHE_HOME/cds, else ~/.cache/cds; CDS_NO_CACHE=1 turns it off)."""
    if os.environ.get("CDS_NO_CACHE"):
        return None
    base = os.environ.get("CDS_CACHE_DIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cds"
    )
    key = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
    return Path(base) / "standards" / f"{key}.json"


def _read_yaml(path: Path, what: str) -> Any:
    """The safe-loaded YAML of a standards file. The pure-Python YAML parser costs about 0.1 s per file at every
    start of ``cds``; the parsed data (plain JSON types) is kept in the user's cache keyed by the file's content,
    so an edited file is always parsed again. Validation (``_build``) runs on every load either way."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleFileError(f"cannot read {what}: {exc}", path=path) from exc
    cached = _cache_file(text)
    if cached is not None and cached.is_file():
        try:
            return json.loads(cached.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass  # unreadable entry: parse the file again and rewrite it
    try:
        data = YAML(typ="safe").load(text)
    except YAMLError as exc:
        raise RuleFileError(f"cannot read {what}: {exc}", path=path) from exc
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data), encoding="utf-8")
            tmp.replace(cached)
        except (OSError, TypeError, ValueError):
            pass  # a cache that cannot be written only costs time
    return data


def load_standard_file(path: str | Path) -> ScoringStandard:
    """Load and validate one standard file (used by ``load_standard`` and by tests on broken copies)."""
    path = Path(path)
    data = _read_yaml(path, "standard file")
    standard = _build(ScoringStandard, data, path, "")
    if standard.bilateral.rule not in ("onset_lag", "gap_overlap"):
        raise RuleFileError(
            f"unknown bilateral rule (allowed: onset_lag, gap_overlap, got: {standard.bilateral.rule})",
            path=path,
            location="bilateral.rule",
        )
    if standard.respiratory.anchor not in ("event", "end"):
        raise RuleFileError(
            f"unknown respiratory anchor (allowed: event, end, got: {standard.respiratory.anchor})",
            path=path,
            location="respiratory.anchor",
        )
    return standard


def load_rswa_rules_file(path: str | Path) -> RswaRules:
    """Load and validate an RSWA rules file (``load_rswa_rules`` and tests on broken copies)."""
    path = Path(path)
    rules: RswaRules = _build(RswaRules, _read_yaml(path, "RSWA rules"), path, "")
    if not 0 < rules.amplitude_bin_s <= rules.tonic_bin_s <= rules.mini_epoch_s <= rules.epoch_s:
        raise RuleFileError("need 0 < amplitude_bin_s <= tonic_bin_s <= mini_epoch_s <= epoch_s", path=path)
    for epoch, mini in (("epoch_s", "mini_epoch_s"), ("montreal_epoch_s", "montreal_mini_epoch_s")):
        e, m = getattr(rules, epoch), getattr(rules, mini)
        if not 0 < rules.tonic_bin_s <= m <= e or abs(e / m - round(e / m)) > 1e-9:
            raise RuleFileError(
                f"{epoch} must be a whole number of mini-epochs ({mini}, >= tonic_bin_s)", path=path, location=mini
            )
    if rules.background not in ("running", "global"):
        raise RuleFileError(
            f"background must be running or global (got: {rules.background})", path=path, location="background"
        )
    if not 0 < rules.background_step_s <= rules.background_window_s:
        raise RuleFileError(
            "need 0 < background_step_s <= background_window_s", path=path, location="background_step_s"
        )
    return rules


def load_detector_heuristics_file(path: str | Path) -> DetectorHeuristics:
    """Load and validate a detector-heuristics file (``load_detector_heuristics`` and tests on broken copies)."""
    path = Path(path)
    heuristics: DetectorHeuristics = _build(DetectorHeuristics, _read_yaml(path, "detector heuristics"), path, "")
    return heuristics


@functools.cache
def load_detector_heuristics() -> DetectorHeuristics:
    """The frozen ``DetectorHeuristics`` of knowledge/standards/detectors.yaml."""
    return load_detector_heuristics_file(knowledge_dir() / "standards" / "detectors.yaml")


@functools.cache
def load_rswa_rules() -> RswaRules:
    """The frozen ``RswaRules`` of knowledge/standards/rswa.yaml."""
    return load_rswa_rules_file(knowledge_dir() / "standards" / "rswa.yaml")


@functools.cache
def load_standard(standard: Standard | str) -> ScoringStandard:
    """Return the frozen ``ScoringStandard`` for ``"aasm"`` or ``"wasm2016"`` from knowledge/standards/."""
    try:
        key = Standard(str(standard).lower())
    except ValueError as exc:
        allowed = ", ".join(s.value for s in Standard)
        raise RuleFileError(f"unknown scoring standard (allowed: {allowed}, got: {standard})") from exc
    path = knowledge_dir() / "standards" / f"{key.value}.yaml"
    result = load_standard_file(path)
    if result.id != key.value:
        raise RuleFileError(f"standard id does not match its file name (got: {result.id})", path=path, location="id")
    return result

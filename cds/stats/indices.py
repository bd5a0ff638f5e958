"""Leg-movement statistics: LM, PLMS, PLMW and PLMS-arousal indices, periodicity index, IMI histogram, counts.

Definitions: AASM v2.6 / WASM 2016 indices (events per hour of sleep or of wake within lights off-on), Ferri 2006
periodicity index. Without a hypnogram every per-hour index is None with the reason in ``unavailable``; nothing is
computed against a guessed sleep time. ``to_dict`` always gives the same keys: an object that cannot be computed
(``per_stage``, ``plm_duration_s``) keeps its keys with null values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cds.detect.legmovements import LegMovements
from cds.detect.plm import PlmSeries
from cds.stages import SleepStage
from cds.standards import ScoringStandard
from cds.stats.sleep import SLEEP_STAGES, STAGES, HypnogramLike, SleepSummary

__all__ = ["LegMovementStats", "compute_imis", "compute_leg_movement_stats", "compute_periodicity_index"]

NO_HYPNOGRAM = "no hypnogram: sleep and wake time unknown, so no per-hour index is computed"
DURATION_KEYS = ("mean", "median", "min", "max")


@dataclass(frozen=True)
class LegMovementStats:
    """The ``leg_movements`` summary (without the event list); None values are explained in ``unavailable``."""

    count: int
    plm_count: int
    plms_count: int | None
    lms_index: float | None
    plms_index: float | None
    plmw_index: float | None
    plms_arousal_index: float | None
    plms_index_including_respiratory: float | None
    periodicity_index: float | None
    per_stage: dict[str, dict[str, int]] | None
    per_side: dict[str, int]
    imi_histogram: dict[str, Any]
    plm_duration_s: dict[str, float] | None
    unavailable: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        reasons = dict(self.unavailable)
        if self.periodicity_index is None:
            reasons.setdefault("periodicity_index", "fewer than two leg movements: no inter-movement interval")
        if self.plm_duration_s is None:
            reasons.setdefault("plm_duration_s", "no periodic leg movement in sleep")
        return {
            "count": self.count,
            "plm_count": self.plm_count,
            "plms_count": self.plms_count,
            "lms_index": _r1(self.lms_index),
            "plms_index": _r1(self.plms_index),
            "plmw_index": _r1(self.plmw_index),
            "plms_arousal_index": _r1(self.plms_arousal_index),
            "plms_index_including_respiratory": _r1(self.plms_index_including_respiratory),
            "periodicity_index": None if self.periodicity_index is None else round(self.periodicity_index, 3),
            "per_stage": self.per_stage or {s: {"lm": None, "plm": None} for s in STAGES},
            "per_side": self.per_side,
            "imi_histogram": self.imi_histogram,
            "plm_duration_s": self.plm_duration_s or dict.fromkeys(DURATION_KEYS),
            "unavailable": dict(sorted(reasons.items())),
        }


def _r1(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def compute_imis(onset_s: NDArray[np.floating]) -> NDArray[np.float64]:
    """Onset-to-onset inter-movement intervals (s) of consecutive LMs."""
    return np.diff(np.sort(np.asarray(onset_s, dtype=np.float64)))


def compute_periodicity_index(imis: NDArray[np.floating], standard: ScoringStandard) -> float | None:
    """Ferri 2006: share of IMIs that lie in [imi_min_s, imi_max_s] and belong to a run of >= ``min_consecutive``
    such consecutive IMIs. None when there is no IMI."""
    rules = standard.periodicity
    imis = np.asarray(imis, dtype=np.float64)
    if imis.size == 0:
        return None
    ok = (imis >= rules.imi_min_s) & (imis <= rules.imi_max_s)
    padded = np.concatenate(([False], ok, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    lengths = edges[1::2] - edges[0::2]
    return float(lengths[lengths >= rules.min_consecutive].sum() / imis.size)


def _histogram(imis: NDArray[np.float64], standard: ScoringStandard) -> dict[str, Any]:
    edges = np.asarray(standard.statistics.imi_histogram_edges_s, dtype=np.float64)
    counts, _ = np.histogram(imis[imis < edges[-1]], bins=edges)
    return {"edges_s": [float(e) for e in edges], "counts": counts.tolist(), "over_max": int((imis >= edges[-1]).sum())}


def _per_hour(count: int, minutes: float | None) -> float | None:
    return None if not minutes else count / (minutes / 60.0)


def _in_period(hyp: HypnogramLike, times: NDArray[np.float64]) -> NDArray[np.bool_]:
    mask = np.ones(times.size, dtype=bool)
    if hyp.lights_off_s is not None:
        mask &= times >= hyp.lights_off_s
    if hyp.lights_on_s is not None:
        mask &= times < hyp.lights_on_s
    return mask


def compute_leg_movement_stats(
    lms: LegMovements,
    series: PlmSeries,
    standard: ScoringStandard,
    *,
    hypnogram: HypnogramLike | None = None,
    sleep: SleepSummary | None = None,
    series_including_respiratory: PlmSeries | None = None,
    arousal_associated: NDArray[np.bool_] | None = None,
) -> LegMovementStats:
    """All leg-movement statistics of one night. ``count`` and ``per_side`` cover every detected LM;
    ``series.excluded`` marks respiratory-related LMs, which the LM index, the IMIs and the per-stage LM counts
    leave out (AASM: not scored) and which are never periodic."""
    unavailable: dict[str, str] = {}
    scored = ~series.excluded
    per_side = {s: int((lms.side == s).sum()) for s in ("left", "right", "bilateral")}
    with_resp = series_including_respiratory or series
    if hypnogram is None or sleep is None:
        imis = compute_imis(lms.onset_s[scored])
        for key in (
            "lms_index",
            "plms_index",
            "plmw_index",
            "plms_arousal_index",
            "plms_index_including_respiratory",
            "plms_count",
            "per_stage",
        ):
            unavailable[key] = NO_HYPNOGRAM
        durations = lms.duration_s[series.periodic]
        if durations.size == 0:
            unavailable["plm_duration_s"] = "no periodic leg movement"
        return LegMovementStats(
            len(lms),
            series.count,
            None,
            None,
            None,
            None,
            None,
            None,
            compute_periodicity_index(imis, standard),
            None,
            per_side,
            _histogram(imis, standard),
            _durations(durations),
            unavailable,
        )
    stage = hypnogram.stage_at(lms.onset_s)
    inside = _in_period(hypnogram, lms.onset_s)
    in_sleep = inside & np.isin(stage, SLEEP_STAGES)
    in_wake = inside & (stage == SleepStage.W.value)
    tst = sleep.total_sleep_time_min
    if not tst:
        for key in ("lms_index", "plms_index", "plms_arousal_index", "plms_index_including_respiratory"):
            unavailable[key] = "no sleep epoch scored in the analysed period"
    if not sleep.wake_in_period_min:
        unavailable["plmw_index"] = "no wake epoch scored in the analysed period"
    plms = series.periodic & in_sleep
    arousal_index = None
    if arousal_associated is None:
        unavailable["plms_arousal_index"] = "no arousal scoring given (events file or annotations)"
    else:
        arousal_index = _per_hour(int((plms & arousal_associated).sum()), tst)
    sleep_scored = in_sleep & scored
    imis = compute_imis(lms.onset_s[sleep_scored])
    per_stage = {
        s.value: {
            "lm": int((sleep_scored & (stage == s.value)).sum() if s != SleepStage.W else (in_wake & scored).sum()),
            "plm": int((series.periodic & inside & (stage == s.value)).sum()),
        }
        for s in STAGES
    }
    return LegMovementStats(
        count=len(lms),
        plm_count=series.count,
        plms_count=int(plms.sum()),
        lms_index=_per_hour(int(sleep_scored.sum()), tst),
        plms_index=_per_hour(int(plms.sum()), tst),
        plmw_index=_per_hour(int((series.periodic & in_wake).sum()), sleep.wake_in_period_min),
        plms_arousal_index=arousal_index,
        plms_index_including_respiratory=_per_hour(int((with_resp.periodic & in_sleep).sum()), tst),
        periodicity_index=compute_periodicity_index(imis, standard),
        per_stage=per_stage,
        per_side=per_side,
        imi_histogram=_histogram(imis, standard),
        plm_duration_s=_durations(lms.duration_s[plms]),
        unavailable=unavailable,
    )


def _durations(durations: NDArray[np.float64]) -> dict[str, float] | None:
    if durations.size == 0:
        return None
    return {  # keys: DURATION_KEYS
        "mean": round(float(durations.mean()), 3),
        "median": round(float(np.median(durations)), 3),
        "min": round(float(durations.min()), 3),
        "max": round(float(durations.max()), 3),
    }

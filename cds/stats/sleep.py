"""Sleep statistics from a hypnogram: TST, sleep efficiency, sleep-onset latency, WASO, minutes per stage.

Definitions follow the AASM scoring manual (v2.6, general parameters): the period analysed runs from lights off to
lights on when they are given, otherwise over the scored epochs. Unscored ("?") and movement ("M") epochs count in
time in bed but not as sleep or wake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from cds.stages import SleepStage

__all__ = [
    "NREM_STAGES",
    "SLEEP_STAGES",
    "STAGES",
    "HypnogramLike",
    "SleepSummary",
    "compute_sleep_summary",
    "null_sleep_dict",
    "period_mask",
]

SLEEP_STAGES = (SleepStage.N1, SleepStage.N2, SleepStage.N3, SleepStage.R)
NREM_STAGES = (SleepStage.N1, SleepStage.N2, SleepStage.N3)
STAGES = (SleepStage.W, *SLEEP_STAGES)  # the keys of every per-stage object in the analysis JSON


class HypnogramLike(Protocol):
    """What the statistics need of ``cds.io.hypnogram.Hypnogram``."""

    @property
    def stages(self) -> tuple[str, ...]: ...
    @property
    def epoch_s(self) -> float: ...
    @property
    def start_s(self) -> float: ...
    @property
    def lights_off_s(self) -> float | None: ...
    @property
    def lights_on_s(self) -> float | None: ...

    def stage_at(self, times_s: NDArray[np.floating]) -> NDArray[np.str_]: ...


@dataclass(frozen=True)
class SleepSummary:
    """Sleep statistics in minutes and percent; None when undefined (no sleep: no latency)."""

    total_sleep_time_min: float
    time_in_bed_min: float
    sleep_efficiency_pct: float | None
    sleep_onset_latency_min: float | None
    waso_min: float | None
    wake_in_period_min: float
    stage_minutes: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "total_sleep_time_min": round(self.total_sleep_time_min, 1),
            "time_in_bed_min": round(self.time_in_bed_min, 1),
            "sleep_efficiency_pct": None if self.sleep_efficiency_pct is None else round(self.sleep_efficiency_pct, 1),
            "sleep_onset_latency_min": _r(self.sleep_onset_latency_min),
            "waso_min": _r(self.waso_min),
            "stage_minutes": {k: round(v, 1) for k, v in self.stage_minutes.items()},
        }


def null_sleep_dict() -> dict[str, Any]:
    """``SleepSummary.to_dict()``'s shape with every value null (no hypnogram: nothing can be computed)."""
    keys = ("total_sleep_time_min", "time_in_bed_min", "sleep_efficiency_pct", "sleep_onset_latency_min", "waso_min")
    return {**dict.fromkeys(keys), "stage_minutes": dict.fromkeys(STAGES)}


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def period_mask(hyp: HypnogramLike) -> NDArray[np.bool_]:
    """Epochs inside lights off to lights on (all scored epochs when the lights are not given)."""
    starts = hyp.start_s + np.arange(len(hyp.stages)) * hyp.epoch_s
    mask = np.ones(len(hyp.stages), dtype=bool)
    if hyp.lights_off_s is not None:
        mask &= starts + hyp.epoch_s > hyp.lights_off_s
    if hyp.lights_on_s is not None:
        mask &= starts < hyp.lights_on_s
    return mask


def compute_sleep_summary(hyp: HypnogramLike) -> SleepSummary:
    """TST, SE, SOL (lights off to the first sleep epoch), WASO (wake after sleep onset within the period)."""
    stages = np.asarray(hyp.stages, dtype="<U2")
    inside = period_mask(hyp)
    epoch_min = hyp.epoch_s / 60.0
    in_period = stages[inside]
    sleep = np.isin(in_period, SLEEP_STAGES)
    tst = float(sleep.sum() * epoch_min)
    tib = float(in_period.size * epoch_min)
    minutes = {s.value: round(float((in_period == s.value).sum() * epoch_min), 3) for s in STAGES}
    wake = in_period == SleepStage.W.value
    sol: float | None = None
    waso: float | None = None
    if sleep.any():
        first = int(np.argmax(sleep))
        sol = first * epoch_min
        waso = float(wake[first:].sum() * epoch_min)
    return SleepSummary(
        total_sleep_time_min=tst,
        time_in_bed_min=tib,
        sleep_efficiency_pct=100.0 * tst / tib if tib > 0 else None,
        sleep_onset_latency_min=sol,
        waso_min=waso,
        wake_in_period_min=float(wake.sum() * epoch_min),
        stage_minutes=minutes,
    )

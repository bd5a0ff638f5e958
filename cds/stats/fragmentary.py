"""Excessive fragmentary myoclonus (AASM optional rule): >= 20 min of NREM sleep with >= 5 potentials per minute."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cds.standards import ScoringStandard
from cds.stats.sleep import NREM_STAGES, HypnogramLike, period_mask

__all__ = ["EFM_KEYS", "EfmResult", "compute_efm"]

EFM_KEYS = ("excessive", "minutes_meeting_rule", "potentials_per_min_nrem", "nrem_minutes", "potential_count")


@dataclass(frozen=True)
class EfmResult:
    excessive: bool
    minutes_meeting_rule: float
    potentials_per_min_nrem: float | None
    nrem_minutes: float
    potential_count: int

    def to_dict(self) -> dict[str, Any]:
        """Keys ``EFM_KEYS`` (a night without a hypnogram gives the same keys, all null)."""
        return {
            "excessive": self.excessive,
            "minutes_meeting_rule": round(self.minutes_meeting_rule, 1),
            "potentials_per_min_nrem": (
                None if self.potentials_per_min_nrem is None else round(self.potentials_per_min_nrem, 2)
            ),
            "nrem_minutes": round(self.nrem_minutes, 1),
            "potential_count": self.potential_count,
        }


def compute_efm(
    potential_onset_s: NDArray[np.floating], hypnogram: HypnogramLike, standard: ScoringStandard
) -> EfmResult:
    """Count potentials per NREM minute (1-min windows from the hypnogram start, both halves NREM, inside the
    lights period) and apply the AASM EFM rule from ``standard.fragmentary_myoclonus``."""
    rules = standard.fragmentary_myoclonus
    stages = np.asarray(hypnogram.stages, dtype="<U2")
    nrem_epoch = np.isin(stages, NREM_STAGES) & period_mask(hypnogram)
    per_min = max(1, round(60.0 / hypnogram.epoch_s))
    n_min = stages.size // per_min
    minute_nrem = nrem_epoch[: n_min * per_min].reshape(n_min, per_min).all(axis=1)
    times = np.asarray(potential_onset_s, dtype=np.float64)
    minute_of = np.floor((times - hypnogram.start_s) / (per_min * hypnogram.epoch_s)).astype(np.int64)
    valid = (minute_of >= 0) & (minute_of < n_min)
    counts = np.bincount(minute_of[valid], minlength=n_min)[:n_min]
    minute_len = per_min * hypnogram.epoch_s / 60.0
    nrem_minutes = float(minute_nrem.sum() * minute_len)
    meeting = float((minute_nrem & (counts >= rules.min_rate_per_min * minute_len)).sum() * minute_len)
    rate = float(counts[minute_nrem].sum() / nrem_minutes) if nrem_minutes else None
    return EfmResult(
        excessive=meeting >= rules.min_nrem_minutes,
        minutes_meeting_rule=meeting,
        potentials_per_min_nrem=rate,
        nrem_minutes=nrem_minutes,
        potential_count=int(counts[minute_nrem].sum()),
    )

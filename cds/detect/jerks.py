"""Sleep-onset (hypnic) jerks: brief generalized bursts, chin and legs together, near a W->N1 transition.

Derived heuristic of the clinical brief (section 2.10): isolated bursts of 50-250 ms in the chin and every leg EMG
within ``max_lag_s`` of each other, within ``transition_window_s`` of a wake-to-N1 transition.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cds.detect.bursts import Bursts, detect_bursts
from cds.detect.preprocess import FilteredEmg
from cds.standards import ScoringStandard

__all__ = ["SleepOnsetJerks", "detect_sleep_onset_jerks", "find_wake_to_n1_transitions"]

log = logging.getLogger(__name__)

ISOLATION_S = 2.0  # another burst in the chin within this time: rhythmic (ECG, tremor), not a single jerk


@dataclass(frozen=True, eq=False)
class SleepOnsetJerks:
    onset_s: NDArray[np.float64]
    duration_s: NDArray[np.float64]

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": int(self.onset_s.size),
            "events": [
                {"onset_s": round(float(o), 3), "duration_s": round(float(d), 3)}
                for o, d in zip(self.onset_s, self.duration_s, strict=True)
            ],
        }


def find_wake_to_n1_transitions(stages: tuple[str, ...] | list[str], epoch_s: float, start_s: float) -> NDArray:
    """Times (s) of the boundaries where a W epoch is followed by an N1 epoch."""
    arr = np.asarray(stages, dtype="<U2")
    idx = np.flatnonzero((arr[:-1] == "W") & (arr[1:] == "N1")) + 1
    return start_s + idx * epoch_s


def _isolated(onsets: NDArray[np.float64]) -> NDArray[np.bool_]:
    """No other generalized burst within ``ISOLATION_S`` (a train of them is rhythmic, not a sleep start)."""
    if onsets.size == 0:
        return np.zeros(0, dtype=bool)
    gaps = np.diff(onsets)
    return (np.concatenate(([np.inf], gaps)) > ISOLATION_S) & (np.concatenate((gaps, [np.inf])) > ISOLATION_S)


def detect_sleep_onset_jerks(
    chin: FilteredEmg,
    legs: list[FilteredEmg],
    transitions_s: NDArray[np.floating],
    standard: ScoringStandard,
    *,
    leg_movement_spans: NDArray[np.floating] | None = None,
) -> SleepOnsetJerks:
    """Jerks: chin bursts matched by a burst in every leg channel within ``max_lag_s`` (generalized), with no other
    generalized burst within ``ISOLATION_S``, within ``transition_window_s`` of a W->N1 transition and outside
    detected leg movements (``leg_movement_spans`` (n, 2): onset_s, end_s)."""
    rules = standard.sleep_onset_jerk

    def bursts(f: FilteredEmg) -> Bursts:
        return detect_bursts(f, envelope_s=rules.envelope_s, above_rest_uv=rules.onset_above_rest_uv,
                             min_duration_s=rules.min_duration_s, max_duration_s=rules.max_duration_s,
                             rules=standard.signal)  # fmt: skip

    chin_b = bursts(chin)
    generalized = np.ones(chin_b.onset_s.size, dtype=bool)
    for leg in legs:  # every leg bursts with the chin (ECG beats in the chin alone do not count)
        lb = bursts(leg)
        ext = np.concatenate(([-np.inf], lb.onset_s, [np.inf]))
        k = np.searchsorted(ext, chin_b.onset_s)
        nearest = np.minimum(np.abs(ext[k - 1] - chin_b.onset_s), np.abs(ext[k] - chin_b.onset_s))
        generalized &= nearest <= rules.max_lag_s
    chin_b = chin_b.select(generalized)
    chin_b = chin_b.select(_isolated(chin_b.onset_s))
    transitions = np.asarray(transitions_s, dtype=np.float64)
    keep = np.zeros(chin_b.onset_s.size, dtype=bool)
    if transitions.size:
        keep = np.abs(chin_b.onset_s[:, None] - transitions[None, :]).min(axis=1) <= rules.transition_window_s
    if leg_movement_spans is not None and len(leg_movement_spans):
        spans = np.asarray(leg_movement_spans, dtype=np.float64).reshape(-1, 2)
        inside = (chin_b.onset_s[:, None] >= spans[None, :, 0] - 0.5) & (chin_b.onset_s[:, None] <= spans[None, :, 1])
        keep &= ~inside.any(axis=1)
    log.info("sleep-onset jerks: %d of %d isolated generalized bursts (%d W->N1 transitions)", keep.sum(),
             keep.size, transitions.size)  # fmt: skip
    return SleepOnsetJerks(chin_b.onset_s[keep], chin_b.duration_s[keep])

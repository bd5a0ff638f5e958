"""Sleep-onset (hypnic) jerks: brief generalized bursts, chin and legs together, near a W->N1 transition.

Derived heuristic of the clinical brief (section 2.10): isolated bursts of 50-250 ms in the chin, matched by a burst
in every leg EMG starting within ``max_lag_s``, within ``transition_window_s`` of a wake-to-N1 transition.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cds.detect.bursts import Bursts, detect_bursts
from cds.detect.preprocess import FilteredEmg
from cds.stages import SleepStage
from cds.standards import ScoringStandard, load_detector_heuristics

__all__ = ["SleepOnsetJerks", "detect_sleep_onset_jerks", "find_wake_to_n1_transitions"]

log = logging.getLogger(__name__)

# knowledge/standards/detectors.yaml, section sleep_onset_jerk (each number described there)
_H = load_detector_heuristics().sleep_onset_jerk
ISOLATION_S = _H.isolation_s
LEG_MAX_DURATION_S = _H.leg_max_duration_s
BEAT_LOCK_S = _H.beat_lock_s
BEAT_OVER_ECG_RATIO = _H.beat_over_ecg_ratio
DURATION_TOLERANCE_S = _H.duration_tolerance_s
MIN_BEAT_LOCKED = _H.min_beat_locked


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


def find_wake_to_n1_transitions(stages: Sequence[str], epoch_s: float, start_s: float) -> NDArray:
    """Times (s) of the boundaries where a W epoch is followed by an N1 epoch (``SleepStage`` members or labels)."""
    arr = np.asarray([str(s) for s in stages], dtype="<U2")
    idx = np.flatnonzero((arr[:-1] == SleepStage.W.value) & (arr[1:] == SleepStage.N1.value)) + 1
    return start_s + idx * epoch_s


def _isolated(onsets: NDArray[np.float64], ignore: NDArray[np.bool_] | None = None) -> NDArray[np.bool_]:
    """No other generalized burst within ``ISOLATION_S`` (a train of them is rhythmic, not a sleep start);
    bursts flagged in ``ignore`` (beat-locked) do not count as neighbours."""
    if onsets.size == 0:
        return np.zeros(0, dtype=bool)
    counted = onsets if ignore is None else onsets[~ignore]
    ext = np.concatenate(([-np.inf], counted, [np.inf]))
    k = np.searchsorted(ext, onsets, side="left")  # ext[k - 1] < onset <= ext[k]
    same = ext[k] == onsets  # the burst itself among the counted ones: look one further
    after = np.where(same, ext[np.minimum(k + 1, ext.size - 1)], ext[k])
    return (onsets - ext[k - 1] > ISOLATION_S) & (after - onsets > ISOLATION_S)


def _beat_locked(chin_b: Bursts, r_peak_s: NDArray[np.floating] | None) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Generalized bursts starting within ``BEAT_LOCK_S`` of an R peak (ignored as neighbours in the isolation
    test), and those of them taken for ECG beats: all but the ones whose chin peak stands ``BEAT_OVER_ECG_RATIO``
    above the other beat-locked bursts, none when there are fewer than ``MIN_BEAT_LOCKED`` (the ECG was removed
    and a burst fell on a beat by chance)."""
    none = np.zeros(chin_b.onset_s.size, dtype=bool)
    if r_peak_s is None or len(r_peak_s) == 0 or chin_b.onset_s.size == 0:
        return none, none
    ext = np.concatenate(([-np.inf], np.sort(np.asarray(r_peak_s, dtype=np.float64)), [np.inf]))
    k = np.searchsorted(ext, chin_b.onset_s)
    locked = np.minimum(ext[k] - chin_b.onset_s, chin_b.onset_s - ext[k - 1]) <= BEAT_LOCK_S
    if locked.sum() < MIN_BEAT_LOCKED:
        return locked, none
    return locked, locked & (chin_b.peak_uv < BEAT_OVER_ECG_RATIO * np.median(chin_b.peak_uv[locked]))


def _above_beat_residual(bursts: Bursts, r_peak_s: NDArray[np.floating] | None) -> NDArray[np.bool_]:
    """Bursts of one channel whose peak is at least ``BEAT_OVER_ECG_RATIO`` x the median peak of that channel's
    beat-locked bursts (the level of the ECG residual there); all of them when fewer than ``MIN_BEAT_LOCKED`` are
    beat-locked."""
    locked = _beat_locked(bursts, r_peak_s)[0]
    if locked.sum() < MIN_BEAT_LOCKED:
        return np.ones(bursts.onset_s.size, dtype=bool)
    return bursts.peak_uv >= BEAT_OVER_ECG_RATIO * np.median(bursts.peak_uv[locked])


def _generalized(
    chin_b: Bursts, leg_bursts: list[Bursts], max_lag_s: float, r_peak_s: NDArray[np.floating] | None = None
) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.float64]]:
    """Chin bursts matched in every leg by a burst starting within ``max_lag_s`` of the chin onset, and the
    generalized burst's onset and duration: the medians over the chin and the matched leg bursts.

    A chin burst starting on a heart beat (within ``BEAT_LOCK_S`` of an R peak in ``r_peak_s``) may have been
    started early or lengthened by the beat's residual: its legs may then start inside the chin burst instead,
    provided they start within ``max_lag_s`` of each other and each leg's burst stands out from that leg's ECG
    residual (``_above_beat_residual``: residuals reach all channels at once, a jerk is far larger in the legs;
    the chin's own burst is the one the residual swells);
    the medians (the legs outvote the chin) give the jerk's own timing."""
    beat_locked = _beat_locked(chin_b, r_peak_s)[0]
    generalized = np.ones(chin_b.onset_s.size, dtype=bool)
    near_chin = np.ones(chin_b.onset_s.size, dtype=bool)
    onsets, durations = [chin_b.onset_s], [chin_b.duration_s]
    for lb in leg_bursts:
        if lb.onset_s.size == 0:
            return np.zeros(chin_b.onset_s.size, dtype=bool), chin_b.onset_s, chin_b.duration_s
        after = np.minimum(np.searchsorted(lb.onset_s, chin_b.onset_s), lb.onset_s.size - 1)
        before = np.maximum(after - 1, 0)
        closer = np.abs(lb.onset_s[before] - chin_b.onset_s) <= np.abs(lb.onset_s[after] - chin_b.onset_s)
        pick = np.where(closer, before, after)  # the leg burst starting nearest the chin onset
        lag = lb.onset_s[pick] - chin_b.onset_s
        near = np.abs(lag) <= max_lag_s
        near_chin &= near
        inside = beat_locked & (lag >= 0.0) & (lag <= chin_b.duration_s) & _above_beat_residual(lb, r_peak_s)[pick]
        generalized &= near | inside
        onsets.append(lb.onset_s[pick])
        durations.append(lb.duration_s[pick])
    legs = np.stack(onsets[1:]) if len(onsets) > 1 else np.zeros((1, chin_b.onset_s.size))
    legs_together = legs.max(axis=0) - legs.min(axis=0) <= max_lag_s
    matched = near_chin | (generalized & legs_together)
    return matched, np.median(np.stack(onsets), axis=0), np.median(np.stack(durations), axis=0)


def detect_sleep_onset_jerks(
    chin: FilteredEmg,
    legs: list[FilteredEmg],
    transitions_s: NDArray[np.floating],
    standard: ScoringStandard,
    *,
    leg_movement_spans: NDArray[np.floating] | None = None,
    ecg_r_peak_s: NDArray[np.floating] | None = None,
) -> SleepOnsetJerks:
    """Jerks: chin bursts matched by a burst in every leg channel starting within ``max_lag_s`` (generalized; a
    leg burst may last up to ``LEG_MAX_DURATION_S``) whose duration, the median over chin and legs, lies in
    ``min_duration_s``-``max_duration_s`` (± ``DURATION_TOLERANCE_S``), with no other generalized burst within
    ``ISOLATION_S``, within ``transition_window_s`` of a W->N1 transition and outside
    detected leg movements (``leg_movement_spans`` (n, 2): onset_s, end_s).

    With ECG R peaks (``ecg_r_peak_s``, s on the channels' time axis), beat-locked generalized bursts are not
    counted as neighbours in the isolation test, and a train of them is not taken for jerks (``_beat_locked``).
    """
    rules = standard.sleep_onset_jerk

    def bursts(f: FilteredEmg, low_s: float, high_s: float) -> Bursts:
        return detect_bursts(
            f,
            envelope_s=rules.envelope_s,
            above_rest_uv=rules.onset_above_rest_uv,
            min_duration_s=low_s,
            max_duration_s=high_s,
            rules=standard.signal,
        )

    tolerance = DURATION_TOLERANCE_S
    chin_b = bursts(chin, rules.min_duration_s - tolerance, LEG_MAX_DURATION_S)
    leg_b = [bursts(leg, 0.0, LEG_MAX_DURATION_S) for leg in legs]
    matched, onset_s, duration_s = _generalized(chin_b, leg_b, rules.max_lag_s, ecg_r_peak_s)
    brief = (duration_s >= rules.min_duration_s - tolerance) & (duration_s <= rules.max_duration_s + tolerance)
    chin_b = Bursts(onset_s, duration_s, chin_b.peak_uv).select(matched & brief)
    locked, beats = _beat_locked(chin_b, ecg_r_peak_s)
    chin_b = chin_b.select(_isolated(chin_b.onset_s, locked) & ~beats)
    transitions = np.asarray(transitions_s, dtype=np.float64)
    keep = np.zeros(chin_b.onset_s.size, dtype=bool)
    if transitions.size:
        keep = np.abs(chin_b.onset_s[:, None] - transitions[None, :]).min(axis=1) <= rules.transition_window_s
    if leg_movement_spans is not None and len(leg_movement_spans):
        spans = np.asarray(leg_movement_spans, dtype=np.float64).reshape(-1, 2)
        inside = (chin_b.onset_s[:, None] >= spans[None, :, 0] - 0.5) & (chin_b.onset_s[:, None] <= spans[None, :, 1])
        keep &= ~inside.any(axis=1)
    log.info(
        "sleep-onset jerks: %d of %d isolated generalized bursts (%d W->N1 transitions, %d beat-locked)",
        keep.sum(),
        keep.size,
        transitions.size,
        int(locked.sum()),
    )
    return SleepOnsetJerks(chin_b.onset_s[keep], chin_b.duration_s[keep])

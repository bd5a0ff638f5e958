"""Brief EMG bursts (tens to hundreds of ms) on a short envelope: the raw material of sleep-onset jerks and
fragmentary myoclonus. Pure and vectorised."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cds.detect._kernels import segment_max
from cds.detect.legmovements import find_threshold_events
from cds.detect.preprocess import FilteredEmg, compute_resting_level, short_envelope
from cds.standards import SignalRules, load_detector_heuristics

__all__ = ["Bursts", "detect_bursts"]

# knowledge/standards/detectors.yaml, section bursts: a burst ends where the envelope falls to ``OFFSET_FRACTION``
# of the onset excess (8 -> 2 µV) for at least ``HOLD_S``, so one burst is not split by a dip of its own envelope
OFFSET_FRACTION = load_detector_heuristics().bursts.offset_fraction
HOLD_S = load_detector_heuristics().bursts.hold_s


@dataclass(frozen=True, eq=False)
class Bursts:
    """Bursts of one channel: onset and duration (s) and peak |EMG| (µV, band-passed)."""

    onset_s: NDArray[np.float64]
    duration_s: NDArray[np.float64]
    peak_uv: NDArray[np.float64]

    def select(self, mask: NDArray[np.bool_]) -> Bursts:
        return Bursts(self.onset_s[mask], self.duration_s[mask], self.peak_uv[mask])


def detect_bursts(
    filtered: FilteredEmg,
    *,
    envelope_s: float,
    above_rest_uv: float,
    min_duration_s: float,
    max_duration_s: float,
    rules: SignalRules,
) -> Bursts:
    """Bursts whose ``envelope_s`` mean-rectified envelope rises ``above_rest_uv`` above the local resting level,
    ending when it falls to ``OFFSET_FRACTION`` of that excess for ``HOLD_S`` (the LM onset/offset logic at a
    short time scale); kept when the duration lies in ``min_duration_s``-``max_duration_s``."""
    env = short_envelope(filtered, envelope_s)
    rest = compute_resting_level(env, rules)
    above = env.values_uv > rest + above_rest_uv
    below = env.values_uv <= rest + OFFSET_FRACTION * above_rest_uv
    onsets, ends = find_threshold_events(above, below, max(1, round(HOLD_S / env.step_s)))
    duration = (ends - onsets) * env.step_s
    keep = (duration >= min_duration_s - 1e-9) & (duration <= max_duration_s + 1e-9)
    onsets, ends = onsets[keep], ends[keep]
    width = max(1, round(env.step_s * filtered.sfreq_hz))
    data = filtered.data_uv
    first = np.minimum(onsets * width, data.size - 1)
    last = np.minimum(np.maximum(ends * width, first + 1), data.size)
    # peak |EMG| as max(max, -min) of each burst: no whole-channel |data| copy, no per-burst loop
    peak = np.maximum(segment_max(data, first, last), -segment_max(data, first, last, np.minimum))
    return Bursts(
        (onsets * env.step_s).astype(np.float64),
        ((ends - onsets) * env.step_s).astype(np.float64),
        peak.reshape(-1).astype(np.float64),
    )

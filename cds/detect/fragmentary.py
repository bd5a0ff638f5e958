"""Fragmentary myoclonus potentials in the leg EMG: 75-150 ms bursts of > 50 µV outside leg movements.

Parameters from ``standard.fragmentary_myoclonus`` (AASM optional EFM rule, clinical brief 2.8). The EFM
decision itself (>= 20 min of NREM with >= 5 potentials/min) is ``cds.stats.fragmentary.compute_efm``.
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import NDArray

from cds.detect.bursts import detect_bursts
from cds.detect.preprocess import FilteredEmg
from cds.standards import ScoringStandard, load_detector_heuristics

__all__ = ["detect_fragmentary_potentials"]

log = logging.getLogger(__name__)


# a brief burst starting within this time of an R peak is (residual) ECG, not a potential (detectors.yaml, ecg)
ECG_EXCLUSION_S = load_detector_heuristics().ecg.fragmentary_exclusion_s


def detect_fragmentary_potentials(
    leg: FilteredEmg,
    standard: ScoringStandard,
    *,
    exclude_spans: NDArray[np.floating] | None = None,
    ecg_r_peak_s: NDArray[np.floating] | None = None,
) -> NDArray[np.float64]:
    """Onsets (s) of fragmentary-myoclonus potentials in one leg channel, outside ``exclude_spans`` ((n, 2):
    start_s, end_s, e.g. leg movements and jerks, widened by 0.5 s) and not starting within ``ECG_EXCLUSION_S``
    of an ECG R peak (``ecg_r_peak_s``, s on the channel's time axis; see ``cds.detect.ecg.find_ecg_beats``).

    .. warning:: with ECG beats given, real potentials that happen to start within ``ECG_EXCLUSION_S`` of a beat
       are lost too (about 2 x 0.06 s x heart rate: 12-15% at 60-75 bpm), so the rate is slightly low.
    """
    rules = standard.fragmentary_myoclonus
    bursts = detect_bursts(
        leg,
        envelope_s=rules.envelope_s,
        above_rest_uv=rules.onset_above_rest_uv,
        min_duration_s=rules.min_duration_s - rules.duration_tolerance_s,
        max_duration_s=rules.max_duration_s + rules.duration_tolerance_s,
        rules=standard.signal,
    )
    keep = bursts.peak_uv >= rules.min_amplitude_uv
    if exclude_spans is not None and len(exclude_spans):
        spans = np.asarray(exclude_spans, dtype=np.float64).reshape(-1, 2)
        order = np.argsort(spans[:, 0])
        starts, ends = spans[order, 0] - 0.5, np.maximum.accumulate(spans[order, 1] + 0.5)
        k = np.searchsorted(starts, bursts.onset_s, side="right")
        inside = np.zeros(bursts.onset_s.size, dtype=bool)
        has = k > 0
        inside[has] = ends[k[has] - 1] >= bursts.onset_s[has]
        keep &= ~inside
    if ecg_r_peak_s is not None and len(ecg_r_peak_s):
        keep &= ~_near_sorted(np.sort(np.asarray(ecg_r_peak_s, dtype=np.float64)), bursts.onset_s, ECG_EXCLUSION_S)
    log.info("fragmentary potentials: %d of %d brief bursts", keep.sum(), bursts.onset_s.size)
    return bursts.onset_s[keep]


def _near_sorted(times_s: NDArray[np.float64], query_s: NDArray[np.float64], tolerance_s: float) -> NDArray[np.bool_]:
    """Whether each of ``query_s`` lies within ``tolerance_s`` of one of the sorted ``times_s``."""
    ext = np.concatenate(([-np.inf], times_s, [np.inf]))
    k = np.searchsorted(ext, query_s)
    return np.minimum(np.abs(ext[k - 1] - query_s), np.abs(ext[k] - query_s)) <= tolerance_s

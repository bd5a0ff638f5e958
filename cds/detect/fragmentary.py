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
from cds.standards import ScoringStandard

__all__ = ["detect_fragmentary_potentials"]

log = logging.getLogger(__name__)


def detect_fragmentary_potentials(
    leg: FilteredEmg, standard: ScoringStandard, *, exclude_spans: NDArray[np.floating] | None = None
) -> NDArray[np.float64]:
    """Onsets (s) of fragmentary-myoclonus potentials in one leg channel, outside ``exclude_spans`` ((n, 2):
    start_s, end_s, e.g. leg movements and jerks, widened by 0.5 s)."""
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
    log.info("fragmentary potentials: %d of %d brief bursts", keep.sum(), bursts.onset_s.size)
    return bursts.onset_s[keep]

"""The PLM grammar: bilateral merging, respiratory exclusion, LM-arousal association and PLM series.

Every step takes event tables (``LegMovements`` or (n, 2) arrays of onset_s, duration_s), never signals, so each
rule is tested on hand-made lists. The numbers come from the ``ScoringStandard`` (AASM v2.6 or WASM 2016).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cds.detect.legmovements import LegMovements
from cds.standards import ScoringStandard

__all__ = [
    "PlmSeries",
    "describe_grammar",
    "find_arousal_associated",
    "find_bilateral_movements",
    "find_candidates",
    "find_plm_series",
    "find_respiratory_related",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class PlmSeries:
    """Per-LM result of the series grammar (arrays parallel to the LM table)."""

    periodic: NDArray[np.bool_]  # member of a PLM series
    series_id: NDArray[np.int64]  # 0, 1, ... per series; -1 when not periodic
    candidate: NDArray[np.bool_]  # could be part of a series (WASM CLM; always True for AASM LMs)
    excluded: NDArray[np.bool_]  # respiratory-related: not scored (AASM) / not a PLM candidate (WASM)

    @property
    def count(self) -> int:
        return int(self.periodic.sum())

    @property
    def n_series(self) -> int:
        return int(self.series_id.max(initial=-1) + 1)


def find_bilateral_movements(left: LegMovements, right: LegMovements, standard: ScoringStandard) -> LegMovements:
    """Merge monolateral LMs of the two legs into one table, per the standard's bilateral rule.

    AASM (``onset_lag``): LMs on the two legs whose onsets are < ``max_onset_lag_s`` apart count as one LM.
    WASM 2016 (``gap_overlap``): LMs of opposite legs that overlap or whose gap (offset to onset) is < ``max_gap_s``
    merge into a bilateral LM of at most ``max_components`` monolateral LMs and ``max_duration_s``; a component that
    would break either limit starts a new LM. The merged LM spans the first onset to the last offset.

    .. warning:: AASM chains: an LM joins the current bilateral LM when it is on the other leg than the last member
       and its onset is < 5 s after that member's onset, so L-R-L at 3-s lags is one LM of 3 components. The manual
       does not say how to treat chains; this reading never counts two legs moving together twice.
    """
    rule = standard.bilateral
    onset = np.concatenate([left.onset_s, right.onset_s])
    end = np.concatenate([left.end_s, right.end_s])
    side = np.concatenate([left.side, right.side])
    peak = np.concatenate([left.peak_uv, right.peak_uv])
    order = np.lexsort((side, onset))
    onset, end, side, peak = onset[order], end[order], side[order], peak[order]
    group = np.zeros(onset.size, dtype=np.int64)
    g, g_onset, g_end, g_count, last_side, last_onset = -1, 0.0, 0.0, 0, "", 0.0
    for i in range(onset.size):
        if rule.rule == "onset_lag":
            join = g >= 0 and side[i] != last_side and onset[i] - last_onset < rule.max_onset_lag_s
        else:
            new_end = max(g_end, end[i])
            join = (
                g >= 0
                and side[i] != last_side
                and onset[i] - g_end < rule.max_gap_s
                and (rule.max_components is None or g_count < rule.max_components)
                and new_end - g_onset <= rule.max_duration_s
            )
        if join:
            g_end, g_count = max(g_end, end[i]), g_count + 1
        else:
            g, g_onset, g_end, g_count = g + 1, onset[i], end[i], 1
        group[i], last_side, last_onset = g, side[i], onset[i]
    n = g + 1
    first = np.concatenate(([True], group[1:] != group[:-1])) if onset.size else np.zeros(0, dtype=bool)
    m_onset = onset[first]
    m_end = np.maximum.reduceat(end, np.flatnonzero(first)) if n else np.zeros(0)
    m_peak = np.fmax.reduceat(peak, np.flatnonzero(first)) if n else np.zeros(0)
    counts = np.bincount(group, minlength=n)
    m_side = side[first].copy()
    m_side[counts > 1] = "bilateral"
    params = dict(left.parameters or right.parameters)
    params["bilateral_rule"] = _describe_bilateral(standard)
    resting = [r for r in (left.resting_uv, right.resting_uv) if r is not None]
    log.info("bilateral merge (%s): %d + %d monolateral -> %d LMs", rule.rule, len(left), len(right), n)
    return LegMovements(
        m_onset,
        m_end - m_onset,
        m_side,
        m_peak,
        counts.astype(np.int64),
        params,
        float(np.mean(resting)) if resting else None,
    )


def _describe_bilateral(standard: ScoringStandard) -> str:
    rule = standard.bilateral
    if rule.rule == "onset_lag":
        return f"LMs of the two legs with onsets < {rule.max_onset_lag_s} s apart count as one LM"
    return (
        f"overlap or gap < {rule.max_gap_s} s between opposite legs; <= {rule.max_components} components, "
        f"<= {rule.max_duration_s} s"
    )


def find_candidates(lms: LegMovements, standard: ScoringStandard) -> NDArray[np.bool_]:
    """Candidate LMs (WASM CLM): monolateral ``min_duration_s``-``max_duration_s``, bilateral up to
    ``max_duration_bilateral_s``. Under AASM every scored LM already meets its duration rule."""
    rule = standard.leg_movement
    limit = np.where(lms.side == "bilateral", rule.max_duration_bilateral_s, rule.max_duration_s)
    # the same measurement tolerance the detector applies to the 0.5-s minimum (envelope bins), so an LM the
    # detector kept is not demoted to a non-candidate for being a bin short
    shortest = rule.min_duration_s - rule.duration_tolerance_s
    return (lms.duration_s >= shortest - 1e-9) & (lms.duration_s <= limit + 1e-9)


def _overlaps(a_start: NDArray, a_end: NDArray, b_start: NDArray, b_end: NDArray, gap_s: float) -> NDArray[np.bool_]:
    """For each interval a: does any interval b overlap it or lie within a gap < ``gap_s``? (sorted-sweep)."""
    if a_start.size == 0 or b_start.size == 0:
        return np.zeros(a_start.size, dtype=bool)
    order = np.argsort(b_start)
    b_start, b_end = b_start[order], b_end[order]
    max_end = np.maximum.accumulate(b_end)
    # b intervals starting before a_end + gap: the latest-ending of them must end after a_start - gap.
    k = np.searchsorted(b_start, a_end + gap_s, side="left")
    found = np.zeros(a_start.size, dtype=bool)
    has = k > 0
    found[has] = max_end[k[has] - 1] > a_start[has] - gap_s
    return found


def find_respiratory_related(
    lms: LegMovements, respiratory: NDArray[np.floating], standard: ScoringStandard
) -> NDArray[np.bool_]:
    """LMs that overlap the respiratory window of any event in ``respiratory`` ((n, 2): onset_s, duration_s).

    AASM (``anchor: event``): from ``before_s`` before the event's onset to ``after_s`` after its end.
    WASM 2016 (``anchor: end``): from ``before_s`` before to ``after_s`` after the event's end.
    """
    events = np.asarray(respiratory, dtype=np.float64).reshape(-1, 2)
    rule = standard.respiratory
    r_end = events[:, 0] + events[:, 1]
    r_anchor = events[:, 0] if rule.anchor == "event" else r_end
    return _overlaps(lms.onset_s, lms.end_s, r_anchor - rule.before_s, r_end + rule.after_s, 0.0)


def find_arousal_associated(
    lms: LegMovements, arousals: NDArray[np.floating], standard: ScoringStandard
) -> NDArray[np.bool_]:
    """LMs associated with an arousal: they overlap or the gap between them is < ``arousal.max_gap_s``."""
    events = np.asarray(arousals, dtype=np.float64).reshape(-1, 2)
    gap = standard.arousal.max_gap_s - 1e-9
    return _overlaps(lms.onset_s, lms.end_s, events[:, 0], events[:, 0] + events[:, 1], gap)


def find_plm_series(
    lms: LegMovements, standard: ScoringStandard, *, respiratory_related: NDArray[np.bool_] | None = None
) -> PlmSeries:
    """Mark LMs that belong to a PLM series: >= ``min_count`` consecutive candidates whose onset-to-onset
    intervals all lie in [``imi_min_s``, ``imi_max_s``].

    AASM: respiratory-related LMs are not scored (removed; the series is judged without them). WASM 2016: a
    respiratory-related CLM and any LM that is not a CLM end the run (``respiratory_breaks``,
    ``non_candidate_breaks``). Wake does not break a series; PLMS/PLMW are split later by stage.
    """
    rules = standard.plm_series
    n = len(lms)
    resp = np.zeros(n, dtype=bool) if respiratory_related is None else np.asarray(respiratory_related, dtype=bool)
    candidate = find_candidates(lms, standard)
    excluded = resp & ~np.bool_(rules.respiratory_breaks)
    breaker = np.zeros(n, dtype=bool)
    if rules.non_candidate_breaks:
        breaker |= ~candidate
    if rules.respiratory_breaks:
        breaker |= resp
    keep = np.flatnonzero(~excluded)
    onset, brk = lms.onset_s[keep], breaker[keep]
    imi = np.diff(onset)
    in_range = (imi >= rules.imi_min_s - 1e-9) & (imi <= rules.imi_max_s + 1e-9)
    new_run = np.ones(keep.size, dtype=bool)
    if keep.size > 1:
        new_run[1:] = ~in_range | brk[1:] | brk[:-1]
    run = np.cumsum(new_run) - 1
    size = np.bincount(run, minlength=int(run.max(initial=-1)) + 1)
    member = ~brk & (size[run] >= rules.min_count) if keep.size else np.zeros(0, dtype=bool)
    periodic = np.zeros(n, dtype=bool)
    periodic[keep] = member
    series_id = np.full(n, -1, dtype=np.int64)
    if member.any():
        _, dense = np.unique(run[member], return_inverse=True)
        series_id[keep[member]] = dense
    return PlmSeries(periodic, series_id, candidate, resp.copy())


def describe_grammar(standard: ScoringStandard) -> dict[str, Any]:
    """The grammar parameters for the JSON ``parameters`` section."""
    s, r = standard.plm_series, standard.respiratory
    return {
        "bilateral_rule": _describe_bilateral(standard),
        "imi_bounds_s": [s.imi_min_s, s.imi_max_s],
        "min_series": s.min_count,
        "non_candidate_breaks_series": s.non_candidate_breaks,
        "respiratory_window_s": {
            "anchor": "event" if r.anchor == "event" else "event_end",
            "before_s": r.before_s,
            "after_s": r.after_s,
        },
        "respiratory_related_breaks_series": s.respiratory_breaks,
        "arousal_max_gap_s": standard.arousal.max_gap_s,
    }

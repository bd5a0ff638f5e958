"""REM sleep without atonia (RSWA) from the chin (mentalis) EMG, and the flexor digitorum superficialis (FDS)
when recorded: tonic, phasic and "any" activity in REM epochs and 3-s mini-epochs, relative to the night's REM
background amplitude.

Methods: AASM Manual v2.6 (sustained muscle activity: >= 50 % of a REM epoch above the minimum NREM chin
amplitude; transient: >= 5 of the 10 3-s mini-epochs holding bursts of 0.1-5 s at >= 4 x background), SINBAR
(Frauscher et al. 2012: "any" mentalis activity and phasic FDS per 3-s mini-epoch) and Montreal (Montplaisir et
al. 2010: tonic density per epoch, phasic density per mini-epoch). Every number comes from ``RswaRules``
(knowledge/standards/rswa.yaml); the cut-offs these percentages are compared with are in thresholds.yaml.
Pure and vectorised: no I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cds.detect.preprocess import FilteredEmg
from cds.stages import NREM, SleepStage
from cds.standards import RswaRules

__all__ = ["RemEmgActivity", "RmsTrace", "compute_rms_bins", "describe_rswa", "detect_rem_emg_activity", "rms_trace"]

log = logging.getLogger(__name__)

PCT_KEYS = (
    "tonic_chin_pct",
    "phasic_chin_pct",
    "any_chin_pct",
    "any_chin_fds_pct",
    "aasm_sustained_epochs_pct",
    "aasm_transient_epochs_pct",
)


EXCLUSIONS = ("arousal", "artefact", "flat", "respiratory")


@dataclass(frozen=True)
class RemEmgActivity:
    """RSWA percentages (null when not computable, with the reason) and the counts behind them."""

    tonic_chin_pct: float | None
    phasic_chin_pct: float | None
    any_chin_pct: float | None
    any_chin_fds_pct: float | None
    aasm_sustained_epochs_pct: float | None
    aasm_transient_epochs_pct: float | None
    rem_epochs: int
    judged_epochs: int
    mini_epochs: int
    scorable_mini_epochs: int
    excluded_mini_epochs: dict[str, int]
    background_uv: float | None
    nrem_minimum_uv: float | None
    unavailable: dict[str, str] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> RemEmgActivity:
        """A result with nothing scored (its ``to_dict`` has the keys of every result)."""
        return _empty(0, 0, 0, {k: np.zeros(0, dtype=bool) for k in EXCLUSIONS}, None, None, "not scored")

    def to_dict(self) -> dict[str, Any]:
        def r(value: float | None, digits: int) -> float | None:
            return None if value is None else round(float(value), digits)

        return {
            **{key: r(getattr(self, key), 2) for key in PCT_KEYS},
            "rem_epochs": self.rem_epochs,
            "judged_epochs": self.judged_epochs,
            "mini_epochs": self.mini_epochs,
            "scorable_mini_epochs": self.scorable_mini_epochs,
            "excluded_mini_epochs": dict(sorted(self.excluded_mini_epochs.items())),
            "background_uv": r(self.background_uv, 3),
            "nrem_minimum_uv": r(self.nrem_minimum_uv, 3),
            "unavailable": dict(sorted(self.unavailable.items())),
        }


@dataclass(frozen=True, eq=False)
class RmsTrace:
    """RMS (µV) of a band-passed EMG in consecutive bins of ``step_s`` (bin k starts at k x step_s), and the
    length of the signal it was computed from."""

    values_uv: NDArray[np.float64]
    step_s: float
    duration_s: float


def rms_trace(emg: FilteredEmg, bin_s: float) -> RmsTrace:
    """The ``RmsTrace`` of a whole filtered channel (``compute_rms_bins``)."""
    values, step = compute_rms_bins(emg, bin_s)
    return RmsTrace(values, step, emg.data_uv.size / emg.sfreq_hz)


def compute_rms_bins(emg: FilteredEmg, bin_s: float) -> tuple[NDArray[np.float64], float]:
    """RMS (µV) of the filtered EMG in consecutive bins of about ``bin_s`` (bin k starts at k x the returned step)."""
    width = max(1, round(bin_s * emg.sfreq_hz))
    n = emg.data_uv.size // width
    rows = emg.data_uv[: n * width].reshape(n, width)
    return np.sqrt(np.einsum("ij,ij->i", rows, rows, dtype=np.float64) / width), width / emg.sfreq_hz


def _runs(mask: NDArray[np.bool_], gap: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Start and end (exclusive) bin of every run of True, runs separated by fewer than ``gap`` False bins merged."""
    padded = np.concatenate(([False], mask, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    starts, ends = edges[0::2], edges[1::2]
    if starts.size > 1 and gap > 1:
        first = np.concatenate(([True], starts[1:] - ends[:-1] >= gap))  # a run far from the previous opens a group
        last = np.append(np.flatnonzero(first)[1:] - 1, starts.size - 1)
        starts, ends = starts[first], ends[last]
    return starts.astype(np.int64), ends.astype(np.int64)


def _mark_mini_epochs(
    starts_s: NDArray[np.float64], ends_s: NDArray[np.float64], grid_s: NDArray[np.float64], mini_s: float, min_s: float
) -> NDArray[np.bool_]:
    """For mini-epochs starting at ``grid_s`` (each ``mini_s`` long): whether some interval overlaps it >= min_s."""
    hit = np.zeros(grid_s.size, dtype=bool)
    if starts_s.size == 0 or grid_s.size == 0:
        return hit
    first = np.searchsorted(grid_s, starts_s, side="right") - 1
    last = np.searchsorted(grid_s, ends_s, side="left") - 1
    for a, b, s, e in zip(first, last, starts_s, ends_s, strict=True):
        for k in range(max(a, 0), min(b, grid_s.size - 1) + 1):
            if min(e, grid_s[k] + mini_s) - max(s, grid_s[k]) >= min_s - 1e-9:
                hit[k] = True
    return hit


def _bursts(
    rms: NDArray[np.float64], step_s: float, level: float, rules: RswaRules, min_s: float, max_s: float | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Onset and end (s) of stretches with RMS >= level lasting min_s to max_s (None: no upper limit)."""
    starts, ends = _runs(rms >= level, max(1, round(rules.burst_gap_s / step_s)))
    duration = (ends - starts) * step_s
    keep = duration >= min_s - 1e-9
    if max_s is not None:
        keep &= duration <= max_s + 1e-9
    return (starts[keep] * step_s).astype(np.float64), (ends[keep] * step_s).astype(np.float64)


def _phasic(
    rms: NDArray[np.float64], step: float, rise_uv: float, peak_uv: float, rules: RswaRules, grid: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """Mini-epochs holding a phasic burst: a stretch above the activity level ``rise_uv`` (where it rises from and
    returns to background) lasting ``phasic_min_duration_s``-``phasic_max_duration_s`` whose RMS reaches
    ``peak_uv``. Measured from the rise, a tonic stretch is one long run (not a train of bursts)."""
    starts, ends = _runs(rms >= rise_uv, max(1, round(rules.burst_gap_s / step)))
    duration = (ends - starts) * step
    keep = (duration >= rules.phasic_min_duration_s - 1e-9) & (duration <= rules.phasic_max_duration_s + 1e-9)
    if keep.any():
        peaks = np.array([rms[a:b].max() for a, b in zip(starts[keep], ends[keep], strict=True)])
        keep[np.flatnonzero(keep)] = peaks >= peak_uv
    on, off = (starts[keep] * step).astype(np.float64), (ends[keep] * step).astype(np.float64)
    return _mark_mini_epochs(on, off, grid, rules.mini_epoch_s, rules.phasic_min_duration_s)


def _overlaps(grid_s: NDArray[np.float64], mini_s: float, spans_s: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Which mini-epochs overlap any of the (n, 2) onset/end spans."""
    if spans_s.size == 0:
        return np.zeros(grid_s.size, dtype=bool)
    order = np.argsort(spans_s[:, 0])
    on, end = spans_s[order, 0], np.maximum.accumulate(spans_s[order, 1])
    k = np.searchsorted(on, grid_s + mini_s, side="left")  # spans starting before the mini-epoch ends
    out = np.zeros(grid_s.size, dtype=bool)
    has = k > 0
    out[has] = end[k[has] - 1] > grid_s[has]
    return out


def _pct(num: int, den: int) -> float | None:
    return None if den == 0 else 100.0 * num / den


def detect_rem_emg_activity(
    chin: FilteredEmg | RmsTrace,
    stages: Sequence[SleepStage],
    epoch_s: float,
    start_s: float,
    rules: RswaRules,
    *,
    arousals_s: NDArray[np.floating] | None = None,
    respiratory_s: NDArray[np.floating] | None = None,
    fds: Sequence[FilteredEmg | RmsTrace] = (),
) -> RemEmgActivity:
    """Score REM sleep without atonia on a band-passed chin EMG (µV, time 0 = recording start), given whole or as
    its ``RmsTrace`` in ``amplitude_bin_s`` bins (what ``cds.analysis`` computes piecewise, to save memory).

    ``stages``: one ``SleepStage`` per hypnogram epoch of ``epoch_s`` starting ``start_s``; RSWA epochs are the
    REM epochs lying wholly inside the signal, cut into ``mini_epoch_s`` mini-epochs. ``arousals_s`` and
    ``respiratory_s`` ((n, 2) onset/end) are left out with their mini-epochs when the rules say so, as are
    mini-epochs with artefact (RMS above ``artefact_uv``) or a flat signal. ``fds``: band-passed FDS channels,
    whose phasic activity adds to the chin's "any" activity (SINBAR any mentalis + phasic FDS).

    .. warning:: the background is one number per night (a low percentile of the REM chin RMS), not a running
       level: a night whose REM is almost all tonic has a raised background and under-reads tonic activity.
    """
    mini_per_epoch = round(rules.epoch_s / rules.mini_epoch_s)
    trace = chin if isinstance(chin, RmsTrace) else rms_trace(chin, rules.amplitude_bin_s)
    rms, step = trace.values_uv, trace.step_s
    per_tonic = max(1, round(rules.tonic_bin_s / step))
    n_tonic = rms.size // per_tonic
    rms1 = np.sqrt(np.mean(rms[: n_tonic * per_tonic].reshape(n_tonic, per_tonic) ** 2, axis=1))
    tonic_step = per_tonic * step
    duration = trace.duration_s
    labels = np.asarray([str(s) for s in stages], dtype="<U2")
    ep_start = (start_s + np.arange(labels.size) * epoch_s).astype(np.float64)
    rswa_starts = np.concatenate(
        [
            np.arange(a, a + epoch_s - rules.epoch_s + 1e-9, rules.epoch_s)
            for a, s in zip(ep_start, labels, strict=True)
            if s == SleepStage.R.value
        ]
        or [np.zeros(0)]
    )
    rswa_starts = rswa_starts[(rswa_starts >= 0) & (rswa_starts + rules.epoch_s <= duration + 1e-9)]
    grid = (rswa_starts[:, None] + rules.mini_epoch_s * np.arange(mini_per_epoch)[None, :]).reshape(-1)

    def window_max(values: NDArray[np.float64], vstep: float, length: float) -> NDArray[np.float64]:
        a = np.clip(np.round(grid / vstep).astype(np.int64), 0, values.size)
        b = np.clip(np.round((grid + length) / vstep).astype(np.int64), 0, values.size)
        return np.array([values[i:j].max(initial=0.0) for i, j in zip(a, b, strict=True)])

    excluded = {
        "artefact": window_max(rms, step, rules.mini_epoch_s) > rules.artefact_uv,
        "flat": window_max(rms1, tonic_step, rules.mini_epoch_s) < rules.flat_uv,
        "arousal": _overlaps(grid, rules.mini_epoch_s, _spans(arousals_s))
        if rules.exclude_arousals
        else np.zeros(grid.size, dtype=bool),
        "respiratory": _overlaps(grid, rules.mini_epoch_s, _spans(respiratory_s))
        if rules.exclude_respiratory
        else np.zeros(grid.size, dtype=bool),
    }
    out_mask = np.zeros(grid.size, dtype=bool)
    for mask in excluded.values():
        out_mask |= mask
    scorable = ~out_mask
    reasons: dict[str, str] = {}
    rem_min = scorable.sum() * rules.mini_epoch_s / 60.0
    background = nrem_min = None
    rem_sec = _seconds_in(grid[scorable], rules.mini_epoch_s, tonic_step, rms1.size)
    if rem_sec.size:
        background = max(float(np.percentile(rms1[rem_sec], rules.background_percentile)), rules.min_background_uv)
    nrem_idx = _seconds_in(ep_start[np.isin(labels, [s.value for s in NREM])], epoch_s, tonic_step, rms1.size)
    if nrem_idx.size:
        nrem_min = float(np.percentile(rms1[nrem_idx], rules.aasm_sustained_percentile))
    if background is None or rem_min < rules.min_rem_minutes:
        why = (
            f"{rem_min:.1f} min of scorable REM sleep (at least {rules.min_rem_minutes:g} min needed)"
            if labels.size
            else "no hypnogram epochs"
        )
        return _empty(rswa_starts.size, grid.size, int(scorable.sum()), excluded, background, nrem_min, why)

    tonic_level = min(rules.tonic_ratio * background, rules.tonic_absolute_uv)
    any_level = min(rules.any_ratio * background, rules.tonic_absolute_uv)
    phasic = _phasic(rms, step, any_level, rules.phasic_ratio * background, rules, grid) & scorable
    on, off = _bursts(rms, step, any_level, rules, rules.any_min_duration_s, None)
    any_chin = (_mark_mini_epochs(on, off, grid, rules.mini_epoch_s, rules.any_min_duration_s) | phasic) & scorable
    any_fds = any_chin.copy()
    for arm in fds:
        arm_trace = arm if isinstance(arm, RmsTrace) else rms_trace(arm, rules.amplitude_bin_s)
        arm_rms, arm_step = arm_trace.values_uv, arm_trace.step_s
        arm_bg = max(float(np.percentile(arm_rms, rules.background_percentile)), rules.min_background_uv)
        arm_any = min(rules.any_ratio * arm_bg, rules.tonic_absolute_uv)
        any_fds |= _phasic(arm_rms, arm_step, arm_any, rules.phasic_ratio * arm_bg, rules, grid) & scorable

    by_epoch = scorable.reshape(-1, mini_per_epoch)
    judged = (1.0 - by_epoch.mean(axis=1)) <= rules.max_excluded_fraction
    above = _epoch_fraction(rms, step, rswa_starts, rules.epoch_s, tonic_level)
    tonic = (above >= rules.tonic_min_fraction) & judged
    sustained = np.zeros_like(tonic)
    if nrem_min is not None:
        sustained = (_epoch_fraction(rms, step, rswa_starts, rules.epoch_s, nrem_min) >= 0.5) & judged
    else:
        reasons["aasm_sustained_epochs_pct"] = "no NREM epoch scored: the minimum NREM chin amplitude is unknown"
    transient = (phasic.reshape(-1, mini_per_epoch).sum(axis=1) >= rules.aasm_transient_min_mini_epochs) & judged
    n_judged, n_scorable = int(judged.sum()), int(scorable.sum())
    if not fds:
        reasons["any_chin_fds_pct"] = "no flexor digitorum superficialis (FDS) EMG channel in the recording"
    result = RemEmgActivity(
        tonic_chin_pct=_pct(int(tonic.sum()), n_judged),
        phasic_chin_pct=_pct(int(phasic.sum()), n_scorable),
        any_chin_pct=_pct(int(any_chin.sum()), n_scorable),
        any_chin_fds_pct=_pct(int(any_fds.sum()), n_scorable) if fds else None,
        aasm_sustained_epochs_pct=_pct(int(sustained.sum()), n_judged) if nrem_min is not None else None,
        aasm_transient_epochs_pct=_pct(int(transient.sum()), n_judged),
        rem_epochs=int(rswa_starts.size),
        judged_epochs=n_judged,
        mini_epochs=int(grid.size),
        scorable_mini_epochs=n_scorable,
        excluded_mini_epochs={k: int(v.sum()) for k, v in excluded.items()},
        background_uv=background,
        nrem_minimum_uv=nrem_min,
        unavailable=reasons,
    )
    log.info(
        "RSWA: %d REM epochs, background %.2f µV, tonic %s %%, phasic %s %%, any %s %%",
        rswa_starts.size,
        background,
        result.tonic_chin_pct,
        result.phasic_chin_pct,
        result.any_chin_pct,
    )
    return result


def _spans(table: NDArray[np.floating] | None) -> NDArray[np.float64]:
    if table is None:
        return np.zeros((0, 2))
    return np.asarray(table, dtype=np.float64).reshape(-1, 2)


def _seconds_in(starts_s: NDArray[np.float64], length_s: float, step_s: float, n: int) -> NDArray[np.int64]:
    """Indices of the ``step_s`` bins lying inside the windows [start, start + length)."""
    if starts_s.size == 0:
        return np.zeros(0, dtype=np.int64)
    per = max(1, round(length_s / step_s))
    idx = (np.round(starts_s / step_s).astype(np.int64)[:, None] + np.arange(per)[None, :]).reshape(-1)
    return np.unique(idx[(idx >= 0) & (idx < n)])


def _epoch_fraction(
    rms: NDArray[np.float64], step_s: float, starts_s: NDArray[np.float64], epoch_s: float, level: float
) -> NDArray[np.float64]:
    """Share of each epoch's ``step_s`` bins whose RMS is at or above ``level`` (the time the level is held)."""
    per = max(1, round(epoch_s / step_s))
    idx = np.round(starts_s / step_s).astype(np.int64)[:, None] + np.arange(per)[None, :]
    inside = idx < rms.size
    values = np.where(inside, rms[np.minimum(idx, rms.size - 1)], -np.inf)
    return (values >= level).sum(axis=1) / np.maximum(inside.sum(axis=1), 1)


def _empty(
    rem_epochs: int,
    mini_epochs: int,
    scorable: int,
    excluded: dict[str, NDArray[np.bool_]],
    background: float | None,
    nrem_min: float | None,
    why: str,
) -> RemEmgActivity:
    return RemEmgActivity(
        **dict.fromkeys(PCT_KEYS),  # type: ignore[arg-type]  # every percentage null
        rem_epochs=rem_epochs,
        judged_epochs=0,
        mini_epochs=mini_epochs,
        scorable_mini_epochs=scorable,
        excluded_mini_epochs={k: int(v.sum()) for k, v in excluded.items()},
        background_uv=background,
        nrem_minimum_uv=nrem_min,
        unavailable=dict.fromkeys(PCT_KEYS, why),
    )


def describe_rswa(rules: RswaRules) -> dict[str, Any]:
    """The RSWA parameters, for the JSON ``parameters`` section (every number of rswa.yaml, and the method)."""
    return {
        **rules.to_dict(),
        "amplitude": f"RMS of the band-passed EMG in {rules.amplitude_bin_s:g}-s bins (phasic, any, the time an "
        f"epoch is held above the tonic level) and {rules.tonic_bin_s:g}-s bins (background, flat signal)",
        "background": f"{rules.background_percentile:g}th percentile of the 1-s RMS over the night's scorable REM, "
        f"at least {rules.min_background_uv:g} µV",
    }

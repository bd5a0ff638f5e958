"""REM sleep without atonia (RSWA) from the chin (mentalis) EMG, and the flexor digitorum superficialis (FDS)
when recorded: tonic, phasic and "any" activity in REM epochs and mini-epochs, relative to the REM background
amplitude (a running level by default).

Methods: AASM Manual v2.6 (sustained muscle activity: >= 50 % of a REM epoch above the minimum NREM chin
amplitude; transient: >= 5 of the 10 3-s mini-epochs holding bursts of 0.1-5 s at >= 4 x background), SINBAR
(Frauscher et al. 2012: "any" mentalis activity and phasic FDS per 3-s mini-epoch) and Montreal (Montplaisir et
al. 2010: tonic density per 20-s epoch, phasic density per 2-s mini-epoch). Background: a low percentile of the
scorable REM chin RMS in a moving window (SINBAR and Montreal judge activity against the surrounding REM
background; moving-window noise level as in Ferri et al. 2010, Sleep Med 11:947) or over the night. Every number
comes from ``RswaRules``
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

from cds.detect._kernels import segment_max
from cds.detect.preprocess import FilteredEmg
from cds.stages import NREM, SleepStage
from cds.standards import RswaRules

__all__ = [
    "RemEmgActivity",
    "RmsTrace",
    "compute_rms_bins",
    "describe_rswa",
    "detect_rem_emg_activity",
    "rem_epoch_starts",
    "rms_trace",
]

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
    montreal_epochs: int = 0
    montreal_judged_epochs: int = 0
    montreal_mini_epochs: int = 0
    montreal_scorable_mini_epochs: int = 0
    rem_ahi_per_h: float | None = None
    # why the values cannot be taken at face value (code -> reason); empty: they can
    indeterminate: dict[str, str] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> RemEmgActivity:
        """A result with nothing scored (its ``to_dict`` has the keys of every result)."""
        return _empty(None, None, None, None, None, "not scored")

    @property
    def scored(self) -> bool:
        return any(getattr(self, key) is not None for key in PCT_KEYS)

    def to_dict(self) -> dict[str, Any]:
        def r(value: float | None, digits: int) -> float | None:
            return None if value is None else round(float(value), digits)

        return {
            **{key: r(getattr(self, key), 2) for key in PCT_KEYS},
            # null when nothing was scored; else whether the values carry a caveat (the reasons below)
            "indeterminate": bool(self.indeterminate) if self.scored else None,
            "indeterminate_reasons": [{"code": k, "text": v} for k, v in sorted(self.indeterminate.items())]
            if self.scored
            else [],
            "rem_ahi_per_h": r(self.rem_ahi_per_h, 2),
            "rem_epochs": self.rem_epochs,
            "judged_epochs": self.judged_epochs,
            "mini_epochs": self.mini_epochs,
            "scorable_mini_epochs": self.scorable_mini_epochs,
            "montreal_epochs": self.montreal_epochs,
            "montreal_judged_epochs": self.montreal_judged_epochs,
            "montreal_mini_epochs": self.montreal_mini_epochs,
            "montreal_scorable_mini_epochs": self.montreal_scorable_mini_epochs,
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
    rms: NDArray[np.float64],
    step_s: float,
    level: NDArray[np.float64],
    rules: RswaRules,
    min_s: float,
    max_s: float | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Onset and end (s) of stretches with RMS >= level lasting min_s to max_s (None: no upper limit)."""
    starts, ends = _runs(rms >= level, max(1, round(rules.burst_gap_s / step_s)))
    duration = (ends - starts) * step_s
    keep = duration >= min_s - 1e-9
    if max_s is not None:
        keep &= duration <= max_s + 1e-9
    return (starts[keep] * step_s).astype(np.float64), (ends[keep] * step_s).astype(np.float64)


def _phasic(
    rms: NDArray[np.float64],
    step: float,
    rise_uv: NDArray[np.float64],
    peak_uv: NDArray[np.float64],
    rules: RswaRules,
    grid: NDArray[np.float64],
    mini_s: float,
    max_s: float,
) -> NDArray[np.bool_]:
    """Mini-epochs (``mini_s`` long, starting at ``grid``) holding a phasic burst: a stretch above the activity
    level ``rise_uv`` (per bin: where it rises from and returns to background) lasting ``phasic_min_duration_s`` to
    ``max_s`` whose RMS reaches ``peak_uv`` somewhere. Measured from the rise, a tonic stretch is one long run (not
    a train of bursts)."""
    starts, ends = _runs(rms >= rise_uv, max(1, round(rules.burst_gap_s / step)))
    duration = (ends - starts) * step
    keep = (duration >= rules.phasic_min_duration_s - 1e-9) & (duration <= max_s + 1e-9)
    if keep.any():  # some bin of the stretch reaches its peak level (rms >= level exactly when rms - level >= 0)
        keep[np.flatnonzero(keep)] = segment_max(rms - peak_uv, starts[keep], ends[keep]) >= 0.0
    on, off = (starts[keep] * step).astype(np.float64), (ends[keep] * step).astype(np.float64)
    return _mark_mini_epochs(on, off, grid, mini_s, rules.phasic_min_duration_s)


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


def rem_epoch_starts(
    ep_start: NDArray[np.float64], is_rem: NDArray[np.bool_], epoch_s: float, length_s: float, duration_s: float
) -> NDArray[np.float64]:
    """Starts (s) of the ``length_s`` scoring epochs cut from each run of consecutive REM hypnogram epochs (of
    ``epoch_s``, starting at ``ep_start``), from the run's start; a tail shorter than ``length_s`` is not scored,
    nor an epoch reaching outside the signal (0 to ``duration_s``). With ``length_s == epoch_s`` these are the REM
    epochs themselves."""
    padded = np.concatenate(([False], is_rem, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    out = []
    for a, b in zip(edges[0::2], edges[1::2], strict=True):
        run_start, run_s = float(ep_start[a]), (b - a) * epoch_s
        n = int(np.floor(run_s / length_s + 1e-9))
        out.append(run_start + length_s * np.arange(n))
    starts = np.concatenate([np.zeros(0), *out]).astype(np.float64)
    return starts[(starts >= 0) & (starts + length_s <= duration_s + 1e-9)]


@dataclass(frozen=True, eq=False)
class _Grid:
    """One method's scoring grid: epoch starts, mini-epoch starts, and which mini-epochs are left out (why)."""

    epoch_s: float
    mini_s: float
    epochs: NDArray[np.float64]
    minis: NDArray[np.float64]
    excluded: dict[str, NDArray[np.bool_]]

    @property
    def per_epoch(self) -> int:
        return round(self.epoch_s / self.mini_s)

    @property
    def scorable(self) -> NDArray[np.bool_]:
        out = np.zeros(self.minis.size, dtype=bool)
        for mask in self.excluded.values():
            out |= mask
        return ~out

    def judged(self, rules: RswaRules) -> NDArray[np.bool_]:
        """Epochs with at most ``max_excluded_fraction`` of their mini-epochs left out."""
        by_epoch = self.scorable.reshape(-1, self.per_epoch)
        return (1.0 - by_epoch.mean(axis=1)) <= rules.max_excluded_fraction


def _background(
    rms1: NDArray[np.float64], tonic_step: float, rem_idx: NDArray[np.int64], rules: RswaRules
) -> NDArray[np.float64] | None:
    """The background amplitude (µV) of every ``tonic_step`` bin: the ``background_percentile`` of the 1-s RMS
    over the scorable REM seconds ``rem_idx``, over the whole night ("global") or within +/- half of
    ``background_window_s`` of the bin ("running", evaluated every ``background_step_s`` and interpolated; bins
    whose window holds no REM take the nearest level). Never below ``min_background_uv``; None without REM."""
    if rem_idx.size == 0:
        return None
    values = rms1[rem_idx]
    if rules.background == "global":
        level = max(float(np.percentile(values, rules.background_percentile)), rules.min_background_uv)
        return np.full(rms1.size, level)
    half = max(1, round(rules.background_window_s / 2.0 / tonic_step))
    stride = max(1, round(rules.background_step_s / tonic_step))
    centres = np.arange(int(rem_idx[0]), int(rem_idx[-1]) + stride, stride)
    lo = np.searchsorted(rem_idx, centres - half, side="left")
    hi = np.searchsorted(rem_idx, centres + half, side="right")
    has = hi > lo
    centres, lo, hi = centres[has], lo[has], hi[has]
    levels = _window_percentiles(values, lo, hi, rules.background_percentile)
    out = np.interp(np.arange(rms1.size, dtype=np.float64), centres.astype(np.float64), levels)
    return np.maximum(out, rules.min_background_uv)


def _window_percentiles(
    values: NDArray[np.float64], lo: NDArray[np.int64], hi: NDArray[np.int64], q: float
) -> NDArray[np.float64]:
    """``np.percentile(values[lo[i]:hi[i]], q)`` (linear interpolation) for every window at once: the windows are
    gathered into rows padded with +inf and sorted together (no per-window Python loop). Every window non-empty."""
    count = hi - lo
    width = int(count.max(initial=1))
    idx = lo[:, None] + np.arange(width)[None, :]
    rows = np.where(idx < hi[:, None], values[np.minimum(idx, values.size - 1)], np.inf)
    rows.sort(axis=1)
    pos = q / 100.0 * (count - 1)
    below = np.floor(pos).astype(np.int64)
    above = np.minimum(below + 1, count - 1)
    r = np.arange(lo.size)
    a, b = rows[r, below], rows[r, above]
    return a + (b - a) * (pos - below)


def _fine(level1: NDArray[np.float64], per_tonic: int, n: int) -> NDArray[np.float64]:
    """A per-1-s-bin level spread over the ``n`` fine (``amplitude_bin_s``) bins (the last value carried on)."""
    fine = np.repeat(level1, per_tonic)
    if fine.size < n:
        fine = np.concatenate([fine, np.full(n - fine.size, level1[-1] if level1.size else 0.0)])
    return fine[:n]


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

    ``stages``: one ``SleepStage`` per hypnogram epoch of ``epoch_s`` starting ``start_s``. AASM and SINBAR score
    the REM epochs lying wholly inside the signal in ``epoch_s`` (30-s) epochs of ``mini_epoch_s`` (3-s)
    mini-epochs; Montreal scores ``montreal_epoch_s`` (20-s) epochs of ``montreal_mini_epoch_s`` (2-s) mini-epochs
    cut from each run of consecutive REM epochs (``rem_epoch_starts``), as Montplaisir et al. 2010 published
    (tonic density of 20-s epochs, phasic density of 2-s mini-epochs, bursts of 0.1-10 s). ``arousals_s`` and
    ``respiratory_s`` ((n, 2) onset/end; None when not scored) are left out with their mini-epochs when the rules
    say so, as are mini-epochs with artefact (RMS above ``artefact_uv``) or a flat signal. ``fds``: band-passed FDS
    channels, whose phasic activity adds to the chin's "any" activity (SINBAR any mentalis + phasic FDS).

    The background is a running level (``background: running``: a low percentile of the scorable REM chin RMS
    within a moving window, as SINBAR and Montreal compare activity with the surrounding REM background; the
    moving-window noise level follows Ferri et al. 2010) or one number per night (``global``).

    The values are flagged ``indeterminate`` (with the reasons) when REM apneas or arousals could not be left out
    (none scored), REM-AHI reaches ``indeterminate_rem_ahi_per_h`` or there is less than
    ``indeterminate_rem_minutes`` of scorable REM.

    .. warning:: a running background is raised by tonic activity filling almost all of its window (more than
       95 % of five minutes of REM with the shipped rules), which then under-reads that activity; the global
       background has the same weakness over the whole night.
    """
    trace = chin if isinstance(chin, RmsTrace) else rms_trace(chin, rules.amplitude_bin_s)
    rms, step = trace.values_uv, trace.step_s
    per_tonic = max(1, round(rules.tonic_bin_s / step))
    n_tonic = rms.size // per_tonic
    rms1 = np.sqrt(np.mean(rms[: n_tonic * per_tonic].reshape(n_tonic, per_tonic) ** 2, axis=1))
    tonic_step = per_tonic * step
    duration = trace.duration_s
    labels = np.asarray([str(s) for s in stages], dtype="<U2")
    ep_start = (start_s + np.arange(labels.size) * epoch_s).astype(np.float64)
    is_rem = labels == SleepStage.R.value
    arousals = None if arousals_s is None else _spans(arousals_s)
    respiratory = None if respiratory_s is None else _spans(respiratory_s)

    def window_max(values: NDArray[np.float64], vstep: float, grid: NDArray[np.float64], length: float) -> Any:
        a = np.clip(np.round(grid / vstep).astype(np.int64), 0, values.size)
        b = np.clip(np.round((grid + length) / vstep).astype(np.int64), 0, values.size)
        out = np.zeros(grid.size, dtype=np.float64)  # an empty window reads 0 (RMS is never negative)
        filled = b > a
        out[filled] = segment_max(values, a[filled], b[filled])
        return out

    def make_grid(length_s: float, mini_s: float) -> _Grid:
        epochs = rem_epoch_starts(ep_start, is_rem, epoch_s, length_s, duration)
        minis = (epochs[:, None] + mini_s * np.arange(round(length_s / mini_s))[None, :]).reshape(-1)
        none = np.zeros(minis.size, dtype=bool)
        excluded = {
            "artefact": window_max(rms, step, minis, mini_s) > rules.artefact_uv,
            "flat": window_max(rms1, tonic_step, minis, mini_s) < rules.flat_uv,
            "arousal": _overlaps(minis, mini_s, _spans(arousals)) if rules.exclude_arousals else none,
            "respiratory": _overlaps(minis, mini_s, _spans(respiratory)) if rules.exclude_respiratory else none,
        }
        return _Grid(length_s, mini_s, epochs, minis, excluded)

    sinbar = make_grid(rules.epoch_s, rules.mini_epoch_s)  # AASM and SINBAR: 30-s epochs, 3-s mini-epochs
    montreal = make_grid(rules.montreal_epoch_s, rules.montreal_mini_epoch_s)  # Montreal: 20-s, 2-s
    scorable = sinbar.scorable
    reasons: dict[str, str] = {}
    rem_min = scorable.sum() * rules.mini_epoch_s / 60.0
    rem_idx = _seconds_in(sinbar.minis[scorable], rules.mini_epoch_s, tonic_step, rms1.size)
    bg1 = _background(rms1, tonic_step, rem_idx, rules)
    background = None if bg1 is None else float(np.median(bg1[rem_idx]))
    nrem_min = None
    nrem_idx = _seconds_in(ep_start[np.isin(labels, [s.value for s in NREM])], epoch_s, tonic_step, rms1.size)
    if nrem_idx.size:
        nrem_min = float(np.percentile(rms1[nrem_idx], rules.aasm_sustained_percentile))
    rem_ahi = _rem_ahi(respiratory, ep_start[is_rem], epoch_s)
    if rem_ahi is None:
        reasons["rem_ahi_per_h"] = (
            "no respiratory events scored" if respiratory is None else "no REM epoch in the hypnogram"
        )
    indeterminate = _indeterminate(rules, rem_min, rem_ahi, respiratory is not None, arousals)
    if bg1 is None or rem_min < rules.min_rem_minutes:
        why = (
            f"{rem_min:.1f} min of scorable REM sleep (at least {rules.min_rem_minutes:g} min needed)"
            if labels.size
            else "no hypnogram epochs"
        )
        return _empty(sinbar, montreal, background, nrem_min, rem_ahi, why, reasons)

    bg = _fine(bg1, per_tonic, rms.size)
    tonic_level = np.minimum(rules.tonic_ratio * bg, rules.tonic_absolute_uv)
    any_level = np.minimum(rules.any_ratio * bg, rules.tonic_absolute_uv)
    peak_level = rules.phasic_ratio * bg
    # AASM transient and SINBAR on the 3-s grid (bursts of 0.1-5 s); Montreal phasic on the 2-s grid (0.1-10 s)
    phasic = (
        _phasic(rms, step, any_level, peak_level, rules, sinbar.minis, rules.mini_epoch_s, rules.phasic_max_duration_s)
        & scorable
    )
    m_scorable = montreal.scorable
    m_phasic = (
        _phasic(
            rms,
            step,
            any_level,
            peak_level,
            rules,
            montreal.minis,
            rules.montreal_mini_epoch_s,
            rules.montreal_phasic_max_duration_s,
        )
        & m_scorable
    )
    on, off = _bursts(rms, step, any_level, rules, rules.any_min_duration_s, None)
    any_chin = (
        _mark_mini_epochs(on, off, sinbar.minis, rules.mini_epoch_s, rules.any_min_duration_s) | phasic
    ) & scorable
    any_fds = any_chin.copy()
    for arm in fds:
        arm_trace = arm if isinstance(arm, RmsTrace) else rms_trace(arm, rules.amplitude_bin_s)
        arm_rms, arm_step = arm_trace.values_uv, arm_trace.step_s
        arm_per = max(1, round(rules.tonic_bin_s / arm_step))
        arm_n = arm_rms.size // arm_per
        arm_rms1 = np.sqrt(np.mean(arm_rms[: arm_n * arm_per].reshape(arm_n, arm_per) ** 2, axis=1))
        arm_idx = rem_idx[rem_idx < arm_rms1.size]
        arm_bg1 = _background(arm_rms1, arm_per * arm_step, arm_idx, rules)
        if arm_bg1 is None:
            continue
        arm_bg = _fine(arm_bg1, arm_per, arm_rms.size)
        arm_any = np.minimum(rules.any_ratio * arm_bg, rules.tonic_absolute_uv)
        any_fds |= (
            _phasic(
                arm_rms,
                arm_step,
                arm_any,
                rules.phasic_ratio * arm_bg,
                rules,
                sinbar.minis,
                rules.mini_epoch_s,
                rules.phasic_max_duration_s,
            )
            & scorable
        )

    judged = sinbar.judged(rules)
    m_judged = montreal.judged(rules)
    tonic = (
        _epoch_fraction(rms, step, montreal.epochs, rules.montreal_epoch_s, tonic_level) >= rules.tonic_min_fraction
    ) & m_judged
    sustained = np.zeros_like(judged)
    if nrem_min is not None:
        nrem_level = np.full(rms.size, nrem_min)
        sustained = (_epoch_fraction(rms, step, sinbar.epochs, rules.epoch_s, nrem_level) >= 0.5) & judged
    else:
        reasons["aasm_sustained_epochs_pct"] = "no NREM epoch scored: the minimum NREM chin amplitude is unknown"
    transient = (phasic.reshape(-1, sinbar.per_epoch).sum(axis=1) >= rules.aasm_transient_min_mini_epochs) & judged
    n_judged, n_scorable = int(judged.sum()), int(scorable.sum())
    if not fds:
        reasons["any_chin_fds_pct"] = "no flexor digitorum superficialis (FDS) EMG channel in the recording"
    result = RemEmgActivity(
        tonic_chin_pct=_pct(int(tonic.sum()), int(m_judged.sum())),
        phasic_chin_pct=_pct(int(m_phasic.sum()), int(m_scorable.sum())),
        any_chin_pct=_pct(int(any_chin.sum()), n_scorable),
        any_chin_fds_pct=_pct(int(any_fds.sum()), n_scorable) if fds else None,
        aasm_sustained_epochs_pct=_pct(int(sustained.sum()), n_judged) if nrem_min is not None else None,
        aasm_transient_epochs_pct=_pct(int(transient.sum()), n_judged),
        rem_epochs=int(sinbar.epochs.size),
        judged_epochs=n_judged,
        mini_epochs=int(sinbar.minis.size),
        scorable_mini_epochs=n_scorable,
        excluded_mini_epochs={k: int(v.sum()) for k, v in sinbar.excluded.items()},
        background_uv=background,
        nrem_minimum_uv=nrem_min,
        montreal_epochs=int(montreal.epochs.size),
        montreal_judged_epochs=int(m_judged.sum()),
        montreal_mini_epochs=int(montreal.minis.size),
        montreal_scorable_mini_epochs=int(m_scorable.sum()),
        rem_ahi_per_h=rem_ahi,
        indeterminate=indeterminate,
        unavailable=reasons,
    )
    log.info(
        "RSWA: %d REM epochs, background %.2f µV (%s), tonic %s %%, phasic %s %%, any %s %%",
        sinbar.epochs.size,
        background,
        rules.background,
        result.tonic_chin_pct,
        result.phasic_chin_pct,
        result.any_chin_pct,
    )
    return result


def _rem_ahi(respiratory: NDArray[np.float64] | None, rem_starts: NDArray[np.float64], epoch_s: float) -> float | None:
    """Scored apneas and hypopneas starting in a REM epoch, per hour of REM (None: not scored, or no REM)."""
    if respiratory is None or rem_starts.size == 0:
        return None
    onsets = np.sort(respiratory[:, 0])
    inside = np.searchsorted(onsets, rem_starts + epoch_s, side="left") - np.searchsorted(onsets, rem_starts, "left")
    return float(inside.sum()) / (rem_starts.size * epoch_s / 3600.0)


def _indeterminate(
    rules: RswaRules,
    rem_min: float,
    rem_ahi: float | None,
    respiratory_scored: bool,
    arousals: NDArray[np.float64] | None,
) -> dict[str, str]:
    """Why the RSWA values cannot be taken at face value (code -> reason); empty when they can."""
    out: dict[str, str] = {}
    if rules.indeterminate_without_respiratory and not respiratory_scored:
        out["respiratory_not_scored"] = (
            "no respiratory events scored: REM mini-epochs with apneas or hypopneas (and their arousals) could not "
            "be left out, and REM-AHI is unknown"
        )
    if rules.indeterminate_without_arousals and (arousals is None or arousals.size == 0):
        out["arousals_not_scored"] = (
            "no arousals scored: REM mini-epochs with arousal-related activity could not be left out"
        )
    if rem_ahi is not None and rem_ahi >= rules.indeterminate_rem_ahi_per_h:
        out["rem_ahi_high"] = (
            f"REM-AHI {rem_ahi:.1f}/h (at least {rules.indeterminate_rem_ahi_per_h:g}/h): apnea-related EMG mimics RSWA"
        )
    if rem_min < rules.indeterminate_rem_minutes:
        out["rem_too_short"] = (
            f"{rem_min:.1f} min of scorable REM sleep (at least {rules.indeterminate_rem_minutes:g} min needed to "
            "judge REM atonia)"
        )
    return out


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
    rms: NDArray[np.float64], step_s: float, starts_s: NDArray[np.float64], epoch_s: float, level: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Share of each epoch's ``step_s`` bins whose RMS is at or above ``level`` (per bin): the time it is held."""
    per = max(1, round(epoch_s / step_s))
    idx = np.round(starts_s / step_s).astype(np.int64)[:, None] + np.arange(per)[None, :]
    inside = idx < rms.size
    clipped = np.minimum(idx, rms.size - 1)
    values = np.where(inside, rms[clipped] - level[clipped], -np.inf)
    return (values >= 0).sum(axis=1) / np.maximum(inside.sum(axis=1), 1)


def _empty(
    sinbar: _Grid | None,
    montreal: _Grid | None,
    background: float | None,
    nrem_min: float | None,
    rem_ahi: float | None,
    why: str,
    reasons: dict[str, str] | None = None,
) -> RemEmgActivity:
    excluded = dict.fromkeys(EXCLUSIONS, 0) if sinbar is None else {k: int(v.sum()) for k, v in sinbar.excluded.items()}
    return RemEmgActivity(
        **dict.fromkeys(PCT_KEYS),  # type: ignore[arg-type]  # every percentage null
        rem_epochs=0 if sinbar is None else int(sinbar.epochs.size),
        judged_epochs=0,
        mini_epochs=0 if sinbar is None else int(sinbar.minis.size),
        scorable_mini_epochs=0 if sinbar is None else int(sinbar.scorable.sum()),
        excluded_mini_epochs=excluded,
        background_uv=background,
        nrem_minimum_uv=nrem_min,
        montreal_epochs=0 if montreal is None else int(montreal.epochs.size),
        montreal_mini_epochs=0 if montreal is None else int(montreal.minis.size),
        montreal_scorable_mini_epochs=0 if montreal is None else int(montreal.scorable.sum()),
        rem_ahi_per_h=rem_ahi,
        unavailable={**(reasons or {}), **dict.fromkeys(PCT_KEYS, why), "indeterminate": why},
    )


def describe_rswa(rules: RswaRules) -> dict[str, Any]:
    """The RSWA parameters, for the JSON ``parameters`` section (every number of rswa.yaml, and the method)."""
    where = (
        f"within +/- {rules.background_window_s / 2:g} s (evaluated every {rules.background_step_s:g} s)"
        if rules.background == "running"
        else "over the night"
    )
    return {
        **rules.to_dict(),
        "amplitude": f"RMS of the band-passed EMG in {rules.amplitude_bin_s:g}-s bins (phasic, any, the time an "
        f"epoch is held above the tonic level) and {rules.tonic_bin_s:g}-s bins (background, flat signal)",
        "background_method": f"{rules.background}: {rules.background_percentile:g}th percentile of the 1-s RMS over "
        f"the scorable REM {where}, at least {rules.min_background_uv:g} µV",
        "grids": f"AASM and SINBAR: {rules.epoch_s:g}-s REM epochs of {rules.mini_epoch_s:g}-s mini-epochs; Montreal "
        f"(tonic_chin_pct, phasic_chin_pct): {rules.montreal_epoch_s:g}-s epochs of {rules.montreal_mini_epoch_s:g}-s "
        "mini-epochs cut from each run of consecutive REM epochs",
    }

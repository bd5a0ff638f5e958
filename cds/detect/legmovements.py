"""Leg-movement detection in one tibialis-anterior EMG channel (AASM v2.6 LM rule; WASM 2016 when asked).

Onset where the envelope rises ``onset_above_rest_uv`` above the local resting level; offset at the start of the
first period of >= ``offset_hold_s`` with the envelope <= ``offset_above_rest_uv`` above it; duration rules from the
standard. Events are ``LegMovements`` tables, so the grammar steps (``cds.detect.plm``) work on hand-made lists too.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cds.detect._kernels import segment_max
from cds.detect.preprocess import (
    Envelope,
    FilteredEmg,
    compute_envelope,
    compute_resting_level,
    describe_notch_check,
    rms_calibration,
    short_envelope,
    slice_filtered,
)
from cds.standards import ScoringStandard

__all__ = [
    "LegMovements",
    "describe_detection",
    "detect_leg_movements_filtered",
    "find_fragmentary_trains",
    "find_threshold_events",
    "make_leg_movements",
]

log = logging.getLogger(__name__)

SIDES = ("left", "right", "bilateral")


@dataclass(frozen=True, eq=False)
class LegMovements:
    """A table of leg movements: parallel arrays sorted by onset (s from recording start), plus provenance.

    ``side`` holds "left", "right" or "bilateral"; ``components`` the number of monolateral LMs merged into each.
    """

    onset_s: NDArray[np.float64]
    duration_s: NDArray[np.float64]
    side: NDArray[np.str_]
    peak_uv: NDArray[np.float64]
    components: NDArray[np.int64]
    parameters: dict[str, Any] = field(default_factory=dict)
    resting_uv: float | None = None
    # (n, 2) onset/end (s) of every above-threshold stretch found in the channel before the duration rules (the
    # data-quality check reads them: a stretch that never ends means the offset rule was never met); None for
    # tables not detected from a signal (hand-made lists, bilateral merges).
    threshold_spans_s: NDArray[np.float64] | None = field(default=None, repr=False)
    # (n, 2) onset/end (s) of candidates that met the LM rules but were trains of discrete fragmentary-myoclonus
    # potentials (``find_fragmentary_trains``): not leg movements; their potentials count as fragmentary myoclonus.
    fragmentary_trains_s: NDArray[np.float64] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.onset_s.size)

    @property
    def end_s(self) -> NDArray[np.float64]:
        return self.onset_s + self.duration_s

    def select(self, mask: NDArray[np.bool_]) -> LegMovements:
        """Return the rows where ``mask`` is True."""
        return LegMovements(
            self.onset_s[mask],
            self.duration_s[mask],
            self.side[mask],
            self.peak_uv[mask],
            self.components[mask],
            self.parameters,
            self.resting_uv,
            self.threshold_spans_s,
            self.fragmentary_trains_s,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": [
                {"onset_s": round(float(o), 3), "duration_s": round(float(d), 3), "side": str(s)}
                for o, d, s in zip(self.onset_s, self.duration_s, self.side, strict=True)
            ],
            "parameters": self.parameters,
        }


def make_leg_movements(
    onset_s: Any,
    duration_s: Any,
    side: Any = "left",
    *,
    peak_uv: Any = None,
    components: Any = None,
    parameters: dict[str, Any] | None = None,
) -> LegMovements:
    """Build a sorted ``LegMovements`` table from plain lists (hand-made event lists, scored-event files).

    ``duration_s`` and ``side`` may be scalars applied to every row. Raises ValueError on mismatched lengths or an
    unknown side."""
    onset = np.asarray(onset_s, dtype=np.float64).reshape(-1)
    duration = np.asarray(duration_s, dtype=np.float64)
    duration = np.full(onset.shape, float(duration)) if duration.ndim == 0 else duration.reshape(-1)
    if onset.shape != duration.shape:
        raise ValueError("onset_s and duration_s must have the same length")
    sides = np.broadcast_to(np.asarray(side, dtype=str), onset.shape).astype("<U9")
    bad = sorted(set(sides.tolist()) - set(SIDES))
    if bad:
        raise ValueError(f"unknown side (allowed: {', '.join(SIDES)}, got: {bad[0]})")
    peak = np.full(onset.shape, np.nan) if peak_uv is None else np.asarray(peak_uv, dtype=np.float64).reshape(-1)
    comp = np.ones(onset.shape, dtype=np.int64) if components is None else np.asarray(components, dtype=np.int64)
    order = np.argsort(onset, kind="stable")
    return LegMovements(onset[order], duration[order], sides[order], peak[order], comp[order], parameters or {})


def find_threshold_events(
    above_on: NDArray[np.bool_], below_off: NDArray[np.bool_], hold_bins: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Onset/offset bin indices: an event starts at the first ``above_on`` bin after a quiet period and ends at the
    start of the next run of >= ``hold_bins`` ``below_off`` bins (or at the end of the signal). Vectorised."""
    above_on, below_off = np.asarray(above_on, dtype=bool), np.asarray(below_off, dtype=bool)
    n = above_on.size
    padded = np.concatenate(([False], below_off, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    q_start, q_end = edges[0::2], edges[1::2]
    long_quiet = (q_end - q_start) >= hold_bins
    q_start = q_start[long_quiet]
    # Only the first active bin of each stretch between long quiet runs starts an event. Such a bin is a rising
    # edge of ``above_on`` or directly follows a quiet-run start (when the two masks overlap), so those few
    # candidates replace the full list of active bins (often a large share of the night) with the same result.
    active = np.flatnonzero(above_on[1:] & ~above_on[:-1]) + 1
    if n and above_on[0]:
        active = np.concatenate(([0], active))
    after_quiet = q_start + 1
    after_quiet = after_quiet[after_quiet < n]
    after_quiet = after_quiet[above_on[after_quiet]]
    if after_quiet.size:
        active = np.union1d(active, after_quiet)
    if active.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    group = np.searchsorted(q_start, active)  # index of the quiet run that ends each active bin's event
    first = np.concatenate(([True], group[1:] != group[:-1]))
    onsets = active[first]
    ends = np.append(q_start, n)[group[first]]
    return onsets.astype(np.int64), ends.astype(np.int64)


def detect_leg_movements_filtered(
    filtered: FilteredEmg, *, side: str, standard: ScoringStandard, envelope: Envelope | None = None
) -> LegMovements:
    """Detect monolateral leg movements in one band-passed tibialis-anterior EMG channel (the production path:
    ``cds.analysis`` filters each channel once, cancels ECG, then calls this).

    Implements AASM-SM-2.6 LM rules (WASM-2016 when ``standard`` says so): running-percentile envelope, a local
    resting level estimated twice (the second time with the first pass's movements excluded), then onset/offset
    thresholds. Returns every event of >= ``min_duration_s`` (less ``duration_tolerance_s``: the envelope ends an LM
    about two bins early); events longer than ``max_duration_s`` are dropped under AASM and kept (as
    non-candidates) under WASM; candidates that are trains of fragmentary potentials are set aside
    (``find_fragmentary_trains``).

    .. warning:: the amplitude rules are applied to an RMS-equivalent envelope (a running percentile,
       ``envelope_percentile``, over ``envelope_span_s`` of ``envelope_bin_s`` mean-rectified bins, scaled so steady
       EMG reads its RMS), not to single samples (see ``parameters``); onsets and offsets are resolved to one bin
       (about 20 ms).
    """
    rules, lm_rules = standard.signal, standard.leg_movement
    env = envelope if envelope is not None else compute_envelope(filtered, rules)
    step = env.step_s
    hold = max(1, round(lm_rules.offset_hold_s / step))
    rest = compute_resting_level(env, rules)
    onsets, ends = find_threshold_events(
        env.values_uv > rest + lm_rules.onset_above_rest_uv, env.values_uv <= rest + lm_rules.offset_above_rest_uv, hold
    )
    exclude = _widen(onsets, ends, round(rules.baseline_exclusion_s / step), env.values_uv.size)
    rest = compute_resting_level(env, rules, exclude=exclude)
    values = env.values_uv
    onsets, ends = find_threshold_events(
        values > rest + lm_rules.onset_above_rest_uv, values <= rest + lm_rules.offset_above_rest_uv, hold
    )
    spans = np.column_stack([onsets * step, ends * step]).astype(np.float64)
    duration = (ends - onsets) * step
    keep = duration >= lm_rules.min_duration_s - lm_rules.duration_tolerance_s - 1e-9
    if not lm_rules.keep_long_movements:
        keep &= duration <= lm_rules.max_duration_s
    if lm_rules.morphology_check:
        tolerance = round(lm_rules.duration_tolerance_s / step)
        keep &= _morphology_ok(values - rest, onsets, ends, hold, lm_rules.offset_above_rest_uv, tolerance)
    onsets, ends = onsets[keep], ends[keep]
    train = find_fragmentary_trains(filtered, onsets, ends, step, rest, standard)
    trains_s = np.column_stack([onsets[train] * step, ends[train] * step]).astype(np.float64)
    onsets, ends = onsets[~train], ends[~train]
    peak = segment_max(values - rest, onsets, ends).astype(np.float64)  # each LM's peak above rest
    resting_uv = float(np.median(rest)) if rest.size else None
    params = describe_detection(filtered, standard, step)
    log.info("%s leg: %d leg movements, resting level %.2f µV", side, onsets.size, resting_uv or float("nan"))
    return LegMovements(
        (onsets * step).astype(np.float64),
        ((ends - onsets) * step).astype(np.float64),
        np.full(onsets.size, side, dtype="<U9"),
        peak.astype(np.float64),
        np.ones(onsets.size, dtype=np.int64),
        params,
        resting_uv,
        spans,
        trains_s,
    )


def find_fragmentary_trains(
    filtered: FilteredEmg,
    onsets: NDArray[np.int64],
    ends: NDArray[np.int64],
    step_s: float,
    rest: NDArray[np.float32],
    standard: ScoringStandard,
) -> NDArray[np.bool_]:
    """Which LM candidates (envelope bins ``onsets``-``ends`` of ``step_s``, local resting level ``rest`` per bin)
    are trains of discrete fragmentary-myoclonus potentials rather than leg movements.

    On the short (``fragmentary_myoclonus.envelope_s``) envelope, a train holds >= ``train_min_potentials``
    potentials (stretches above ``onset_above_rest_uv`` over rest; two stretches without silence between them are
    one), each no longer than the longest fragmentary potential (``max_duration_s`` + ``duration_tolerance_s``)
    and peaking at >= ``min_amplitude_uv``, every two separated by >= ``train_silence_s`` of EMG back within
    ``train_silence_above_rest_uv`` of rest. The candidate is read with a margin of the longest potential on each
    side, so a potential its edges cut is judged whole. AASM v2.6:
    fragmentary-myoclonus potentials usually last <= 150 ms; a
    leg movement is one EMG rise lasting >= 0.5 s, which a train only seems to be because the 0.5-s offset hold
    bridges its silences. Each candidate is examined on its own stretch of signal (no whole-channel arrays).
    """
    out = np.zeros(onsets.size, dtype=bool)
    fm = standard.fragmentary_myoclonus
    longest = fm.max_duration_s + fm.duration_tolerance_s + 1e-9
    shortest = fm.min_duration_s - fm.duration_tolerance_s - 1e-9
    for i, (a, b) in enumerate(zip(onsets, ends, strict=True)):  # per candidate: no whole-channel temporaries
        # read with a margin of the longest potential on each side: the LM envelope (a running percentile) starts
        # and ends a candidate inside its first and last potentials, and a potential cut by the edge would look
        # too weak or too short to be one
        first_s = max(0.0, a * step_s - longest)
        part = slice_filtered(filtered, first_s, b * step_s + longest)
        env = short_envelope(part, fm.envelope_s)
        level = float(np.median(rest[a:b])) if b > a else 0.0
        quiet = env.values_uv <= level + fm.train_silence_above_rest_uv
        # each envelope value averages two bins (``short_envelope``), so k quiet values in a row span
        # (k + 1) bins of EMG within the level: the fewest k that span train_silence_s
        hold = max(1, math.ceil(fm.train_silence_s / env.step_s - 1e-9) - 1)
        lo, hi = round((a * step_s - first_s) / env.step_s), round((b * step_s - first_s) / env.step_s)
        if not _holds(quiet[lo:hi], hold):
            continue  # no silence inside the candidate: one continuous rise (almost every LM stops here)
        padded = np.concatenate(([False], env.values_uv > level + fm.onset_above_rest_uv, [False]))
        edges = np.flatnonzero(padded[1:] != padded[:-1])
        on, off = edges[0::2], edges[1::2]  # potentials: stretches above the onset level, ...
        real = (off - on) * env.step_s >= shortest  # ... not one-bin blips of the resting EMG, ...
        on, off = on[real], off[real]
        if on.size > 1:  # ... two stretches without silence between them being one potential (or one rise), ...
            apart = np.array([_holds(quiet[e:s], hold) for e, s in zip(off[:-1], on[1:], strict=True)])
            on, off = on[np.concatenate(([True], apart))], off[np.concatenate((apart, [True]))]
        inside = (off > lo) & (on < hi)  # ... and those of the candidate (read whole when cut by its edges)
        on, off = on[inside], off[inside]
        if on.size < fm.train_min_potentials or ((off - on) * env.step_s > longest).any():
            continue
        width = round(env.step_s * filtered.sfreq_hz)
        peaks = np.array(
            [
                float(np.abs(part.data_uv[p * width : max(q * width, p * width + 1)]).max())
                for p, q in zip(on, off, strict=True)
            ]
        )
        # every potential >= min_amplitude_uv: a clonic LM's sub-bursts of mixed strength stay one LM (allowing a weak
        # one among strong ones lost 1-2 % of the clonic LMs of bench_robustness.py's clinic_B nights)
        out[i] = bool((peaks >= fm.min_amplitude_uv).all())
    if out.any():
        log.info("%d LM candidates were trains of fragmentary potentials (not LMs)", int(out.sum()))
    return out


def _holds(quiet: NDArray[np.bool_], hold: int) -> bool:
    """Whether ``quiet`` holds a run of >= ``hold`` True values."""
    return quiet.size >= hold and bool(np.convolve(quiet, np.ones(hold), "valid").max(initial=0) >= hold)


def _morphology_ok(
    excess: NDArray[np.float32],
    onsets: NDArray[np.int64],
    ends: NDArray[np.int64],
    hold: int,
    level_uv: float,
    tolerance: int = 0,
) -> NDArray[np.bool_]:
    """WASM 2016 computer-scoring morphology rule: some >= 0.5 s stretch with median EMG >= 2 µV above rest. An
    event measured up to ``tolerance`` bins shorter than ``hold`` (the duration tolerance) is judged as a whole."""
    ok = np.zeros(onsets.size, dtype=bool)
    for i, (a, b) in enumerate(zip(onsets, ends, strict=True)):
        seg = excess[a:b]
        if seg.size < max(1, hold - tolerance):
            continue
        width = min(hold, seg.size)
        windows = np.lib.stride_tricks.sliding_window_view(seg, width)[:: max(1, width // 5)]
        ok[i] = bool((np.median(windows, axis=1) >= level_uv).any())
    return ok


def _widen(onsets: NDArray[np.int64], ends: NDArray[np.int64], pad: int, n: int) -> NDArray[np.bool_]:
    """Boolean mask of events widened by ``pad`` bins on each side (difference-array, no per-sample loop).

    Overlapping widened events are merged first, so the difference array only holds +1/-1 at distinct bins and
    its running sum stays 0/1: it fits int8, where an int32 array summed into int64 cost 12 MB per 8-h channel.
    """
    starts = np.clip(np.asarray(onsets, dtype=np.int64) - pad, 0, n)
    stops = np.clip(np.asarray(ends, dtype=np.int64) + pad, 0, n)
    filled = starts < stops  # an empty span marks nothing (ends >= onsets: spans are never reversed)
    starts, stops = starts[filled], stops[filled]
    if starts.size == 0:
        return np.zeros(n, dtype=bool)
    order = np.argsort(starts, kind="stable")
    starts, reach = starts[order], np.maximum.accumulate(stops[order])
    first = np.ones(starts.size, dtype=bool)
    first[1:] = starts[1:] > reach[:-1]  # a span starting past everything before it opens a new merged span
    last = np.append(np.flatnonzero(first)[1:] - 1, starts.size - 1).astype(np.int64)
    marks = np.zeros(n + 1, dtype=np.int8)
    marks[starts[first]] = 1
    marks[reach[last]] = -1
    return np.cumsum(marks[:-1], dtype=np.int8) > 0


def describe_detection(filtered: FilteredEmg, standard: ScoringStandard, step_s: float) -> dict[str, Any]:
    """The parameters actually used, for the JSON ``parameters`` section."""
    sig, lm = standard.signal, standard.leg_movement
    return {
        "band_hz": [round(filtered.band_hz[0], 3), round(filtered.band_hz[1], 3)],
        "filter": f"Butterworth order {sig.filter_order}, second-order sections, zero phase (forward-backward)",
        "notch_hz": list(filtered.notch_hz),
        "notch_check": describe_notch_check(),
        "notch_q": sig.notch_q,
        "envelope": (
            f"running {sig.envelope_percentile:g}th percentile over {sig.envelope_span_s} s of mean-rectified bins "
            f"of {round(step_s, 6)} s, scaled by {rms_calibration(filtered.sfreq_hz, filtered.band_hz, sig):.3f} to "
            "RMS-equivalent µV (the scale at which band-passed Gaussian noise reads its RMS)"
        ),
        "baseline_method": (
            f"local resting level: per-{sig.baseline_block_s}-s block median with movements excluded "
            f"(+/-{sig.baseline_exclusion_s} s), running median over {sig.baseline_span_s} s"
        ),
        "onset_above_rest_uv": lm.onset_above_rest_uv,
        "offset_above_rest_uv": lm.offset_above_rest_uv,
        "offset_hold_s": lm.offset_hold_s,
        "min_duration_s": lm.min_duration_s,
        "duration_tolerance_s": lm.duration_tolerance_s,
        "max_duration_s": lm.max_duration_s,
        "max_duration_bilateral_s": lm.max_duration_bilateral_s,
        "morphology_check": lm.morphology_check,
    }

"""ECG artefact in the leg and chin EMG: find the R peaks, subtract a running beat template.

Follows the adaptive ECG cancellation of the Stanford PLM detector (Moore H et al., "Design and validation of a
periodic leg movement detector", PLoS One 2014;9(12):e114565, doi:10.1371/journal.pone.0114565): the heart beat
reaches every EMG electrode at the same moment, so R peaks are found on the combined band-passed channels, accepted
only as a regular train of beats with a consistent shape, and each beat is removed per channel by subtracting a
median template of its neighbouring beats scaled by least squares. Pure, vectorised numpy/scipy.

.. warning:: validated on synthetic nights only (cds.synth ECG knobs); a wide QRS (0.15 s) leaves a residual that
   can still merge with a sleep-onset jerk falling on a beat.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from cds.caveats import Caveat
from cds.detect import _kernels
from cds.detect.preprocess import FilteredEmg
from cds.parallel import map_parallel
from cds.standards import load_detector_heuristics

__all__ = ["EcgBeats", "cancel_ecg", "clean_channel", "describe_ecg_parameters", "find_ecg_beats", "remove_ecg"]

log = logging.getLogger(__name__)

# The method's numbers, from knowledge/standards/detectors.yaml (section ecg, each described there).
_H = load_detector_heuristics().ecg
# Beat finding (R peaks on the combined channels)
QRS_SMOOTH_S = _H.qrs_smooth_s
MIN_RR_S, MAX_RR_S = _H.min_rr_s, _H.max_rr_s
CANDIDATE_SEPARATION_S = _H.candidate_separation_s
PEAK_ABOVE_LOCAL, LOCAL_LEVEL_S = _H.peak_above_local, _H.local_level_s
SHAPE_HALF_S, SHAPE_MAX_LAG_S = _H.shape_half_s, _H.shape_max_lag_s
MIN_SHAPE_CORR, SHAPE_BEATS = _H.min_shape_corr, _H.shape_beats
REGULAR_WINDOW_S, MIN_REGULAR_FRACTION = _H.regular_window_s, _H.min_regular_fraction
FILL_MIN_SCALE = _H.fill_min_scale
# Removal (template subtraction per channel)
TEMPLATE_PRE_S, TEMPLATE_POST_S, TEMPLATE_BEATS = _H.template_pre_s, _H.template_post_s, _H.template_beats
SCALE_BOUNDS = (_H.scale_bounds[0], _H.scale_bounds[1])
SCREEN_CHUNKS, SCREEN_CHUNK_S = _H.screen_chunks, _H.screen_chunk_s
TAPER_FRACTION = _H.taper_fraction
_CHUNK = 1 << 16  # samples per chunk of whole-channel arithmetic (fits in cache; no whole-channel temporaries)
_SORT_AT_MOST = 512  # medians over at most this many values: by sorting rows (faster than partitioning them)
_GROUP_BEATS = 1024  # beat windows worked on at once (small temporaries)


@dataclass(frozen=True, eq=False)
class EcgBeats:
    """R-peak times (s from the start of the channels) of an accepted ECG train; empty when none was found."""

    r_peak_s: NDArray[np.float64]
    candidates: int = 0  # energy peaks examined

    def __len__(self) -> int:
        return int(self.r_peak_s.size)

    @property
    def heart_rate_bpm(self) -> float | None:
        rr = np.diff(self.r_peak_s)
        rr = rr[(rr >= MIN_RR_S) & (rr <= MAX_RR_S)]
        return None if rr.size == 0 else float(60.0 / np.median(rr))

    def shifted(self, start_s: float, end_s: float) -> EcgBeats:
        """Beats inside ``start_s``-``end_s``, with times relative to ``start_s`` (for a window of a channel)."""
        r = self.r_peak_s
        return EcgBeats(r[(r >= start_s) & (r < end_s)] - start_s, self.candidates)

    def to_dict(self) -> dict[str, Any]:
        hr = self.heart_rate_bpm
        return {"beats": len(self), "heart_rate_bpm": None if hr is None else round(hr, 1)}


def describe_ecg_parameters() -> dict[str, Any]:
    """The ECG-cancellation parameters, for the ``parameters`` section of the analysis JSON."""
    return {
        "ecg_cancellation": {
            "method": "R peaks on the summed noise-normalised QRS energy of all EMG channels, kept when regular and "
            "of consistent shape; per channel a median template of neighbouring beats, scaled by least squares, "
            "is subtracted (Stanford PLM detector, Moore et al. 2014)",
            "qrs_smooth_s": QRS_SMOOTH_S,
            "rr_bounds_s": [MIN_RR_S, MAX_RR_S],
            "peak_above_local_factor": PEAK_ABOVE_LOCAL,
            "local_level_s": LOCAL_LEVEL_S,
            "shape_half_s": SHAPE_HALF_S,
            "min_shape_corr": MIN_SHAPE_CORR,
            "regular_window_s": REGULAR_WINDOW_S,
            "min_regular_fraction": MIN_REGULAR_FRACTION,
            "fill_min_scale": FILL_MIN_SCALE,
            "template_window_s": [-TEMPLATE_PRE_S, TEMPLATE_POST_S],
            "template_beats": TEMPLATE_BEATS,
            "scale_bounds": list(SCALE_BOUNDS),
            "screen": f"{SCREEN_CHUNKS} stretches of {SCREEN_CHUNK_S:g} s spread over the night searched first; "
            "no regular ECG in any of them: no cancellation",
        }
    }


def _qrs_energy(channels: Sequence[NDArray], sfreq_hz: float) -> NDArray[np.float32]:
    """Sum over channels of (x / robust noise SD)², moving mean over ``QRS_SMOOTH_S`` (``nearest`` edges).

    Computed in cache-sized chunks with no whole-channel temporaries. The moving mean repeats scipy's
    ``uniform_filter1d`` step for step (a float64 running sum of the entering minus the leaving sample, divided by
    the width), so the values are the same."""
    n = min(c.size for c in channels)
    scales = []
    for c in channels:
        mad = float(np.median(np.abs(np.asarray(c[: n : max(1, n // 200_000)], dtype=np.float32)))) / 0.6745
        scales.append(np.float32(max(mad, 1e-6)))
    width = max(1, round(QRS_SMOOTH_S * sfreq_hz))
    before, after = width // 2, width - width // 2 - 1
    energy = np.empty(n, dtype=np.float32)
    raw, work = np.empty(_CHUNK, dtype=np.float32), np.empty(_CHUNK, dtype=np.float32)
    line = np.empty(width + _CHUNK + after)  # raw energy from ``width`` samples before the chunk, edge-padded
    running = 0.0
    for a in range(0, n, _CHUNK):
        m = min(_CHUNK, n - a)
        part, tmp = raw[:m], work[:m]
        for i, (c, scale) in enumerate(zip(channels, scales, strict=True)):
            np.divide(np.asarray(c[a : a + m], dtype=np.float32), scale, out=part if i == 0 else tmp)
            if i == 0:  # the first channel's square is the sum so far (0 + v is v: squares are never -0)
                np.square(part, out=part)
            else:
                part += np.square(tmp, out=tmp)
        if a == 0:
            line[:width] = part[0]
        line[width : width + m] = part
        if a + m == n:
            line[width + m : width + m + after] = part[-1]
        if a == 0:
            for k in range(width):
                running += line[width + k - before]
            energy[0] = running / width
            first, lo = 1, after + 1
        else:
            first, lo = a - after, 0
        count = (n if a + m == n else a + m - after) - first
        if count > 0:
            step = line[lo + width : lo + width + count] - line[lo : lo + count]
            step[0] += running
            np.cumsum(step, out=step)
            running = step[-1]
            energy[first : first + count] = np.divide(step, width, out=step)
        line[:width] = line[m : m + width]
    return energy


def _block_level(energy: NDArray[np.float32], sfreq_hz: float) -> tuple[NDArray[np.float32], int]:
    """Running median of the energy over ``LOCAL_LEVEL_S``, from medians of 1-s blocks: the level of each block
    and the block length (samples); ``_level_at`` reads it at given samples."""
    block = max(1, round(sfreq_hz))
    n_blocks = max(1, energy.size // block)
    rows, per = energy[: n_blocks * block].reshape(n_blocks, -1), max(1, _CHUNK // block)
    med = np.empty(n_blocks, dtype=energy.dtype)
    for a in range(0, n_blocks, per):  # in cache-sized groups of blocks (the partition copies its input)
        med[a : a + per] = _median_axis1(rows[a : a + per])
    return _kernels.median_filter(med, max(1, round(LOCAL_LEVEL_S)) | 1), block


def _level_at(level: tuple[NDArray[np.float32], int], idx: NDArray[np.int64]) -> NDArray[np.float32]:
    """The local level (``_block_level``) at samples ``idx``; a last partial block takes the last full one's."""
    med, block = level
    return med[np.minimum(idx // block, med.size - 1)]


def _peaks_at_or_above(energy: NDArray[np.float32], lowest: np.float32, distance: int) -> NDArray[np.int64]:
    """``find_peaks(energy, height=lowest, distance=distance)`` (same peaks), in cache-sized chunks cut at samples
    below ``lowest`` (no peak or plateau at that height spans a cut), each searched only in its stretches at or
    above ``lowest`` with one sample either side; then scipy's own distance rule on all of them."""
    found, heights, a, n = [], [], 0, energy.size
    while a < n - 1:
        b = min(a + _CHUNK, n - 1)
        while b < n - 1 and energy[b] >= lowest:  # move the cut to the next sample below lowest
            hit = np.flatnonzero(energy[b : b + 4096] < lowest)
            b = min(b + (int(hit[0]) if hit.size else 4096), n - 1)
        part = energy[a : b + 1]
        above = part >= lowest
        keep = above.copy()
        keep[1:] |= above[:-1]  # the sample after each stretch ...
        keep[:-1] |= above[1:]  # ... and the one before it
        src = np.flatnonzero(keep)
        peaks, peak_heights = _kernels.find_peaks(part[src], lowest)
        found.append(src[peaks] + a)  # a stretch's end samples lie below lowest: no maximum spans two stretches
        heights.append(peak_heights)
        a = b
    peaks = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    if distance > 1 and peaks.size > 1:
        peaks = peaks[_kernels.select_by_peak_distance(peaks, np.concatenate(heights), distance)]
    return peaks


def _segments(x: NDArray, idx: NDArray[np.int64], before: int, after: int) -> NDArray[np.float32]:
    """(beats, before + after) samples of ``x`` around each index (indices must leave room at both ends)."""
    return sliding_window_view(np.asarray(x, dtype=np.float32), before + after)[idx - before]


def _median_axis1(x: NDArray[np.floating]) -> NDArray[np.floating]:
    """``np.median(x, axis=1)`` (same values). Short axes (blocks of beats, 1-s blocks) are sorted as contiguous
    rows (numpy's vectorised sort beats a partition there); long ones use a single-pivot partition, where for an
    even count the lower middle value is the largest of the lower half."""
    mid = x.shape[1] // 2
    if x.shape[1] <= _SORT_AT_MOST:
        ordered = np.sort(np.moveaxis(x, 1, -1), axis=-1)  # moveaxis: a view; the sort copies it contiguously
        upper = ordered[..., mid]
        return upper if x.shape[1] % 2 else (ordered[..., mid - 1] + upper) / 2
    part = np.partition(x, mid, axis=1)
    upper = part[:, mid]
    if x.shape[1] % 2:
        return upper
    return (part[:, :mid].max(axis=1) + upper) / 2


_Weights = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]


def _block_medians(
    take: Callable[[NDArray[np.int64]], NDArray[np.float32]], n_rows: int, per_block: int
) -> tuple[NDArray[np.float32], _Weights]:
    """Sample-wise medians of consecutive blocks of about ``per_block`` of ``n_rows`` rows (``take(indices)`` gives
    those rows), a few blocks at a time; returns the medians and, for every row, the two blocks and the weight
    that interpolate them linearly between block centres (for ``_interpolated``)."""
    n_blocks = max(1, n_rows // per_block)
    bounds = np.linspace(0, n_rows, n_blocks + 1).astype(np.int64)
    sizes = np.diff(bounds)
    medians: NDArray[np.float32] | None = None
    for size in np.unique(sizes):  # blocks differ in size by at most one row: batched medians per size
        which = np.flatnonzero(sizes == size)
        for group in np.array_split(which, min(which.size, max(1, which.size * int(size) // _GROUP_BEATS))):
            rows = take((bounds[group, None] + np.arange(size)[None, :]).ravel())
            part = _median_axis1(rows.reshape(group.size, int(size), *rows.shape[1:]))
            if medians is None:
                medians = np.empty((n_blocks, *part.shape[1:]), dtype=np.result_type(part.dtype, np.float32))
            medians[group] = part
    assert medians is not None
    centres = (bounds[:-1] + bounds[1:] - 1) / 2.0
    pos = np.interp(np.arange(n_rows), centres, np.arange(n_blocks))
    lo = np.floor(pos).astype(np.int64)
    return medians, (lo, np.minimum(lo + 1, n_blocks - 1), (pos - lo)[:, None].astype(np.float32))


def _interpolated(medians: NDArray[np.float32], weights: _Weights, start: int, stop: int) -> NDArray[np.float32]:
    """Rows ``start`` to ``stop`` of the running median: the block medians linearly interpolated between block
    centres (``weights`` from ``_block_medians``)."""
    lo, hi, frac = (w[start:stop] for w in weights)
    return (medians[lo] * (1 - frac) + medians[hi] * frac).astype(np.float32, copy=False)


def _running_median_rows(rows: NDArray[np.float32], per_block: int) -> NDArray[np.float32]:
    """For each row, the sample-wise median of its neighbouring rows: medians of consecutive blocks of about
    ``per_block`` rows, linearly interpolated between block centres (a running median that costs one sort)."""
    medians, weights = _block_medians(lambda idx: rows[idx], rows.shape[0], per_block)
    return _interpolated(medians, weights, 0, rows.shape[0])


def _centred(template: NDArray[np.float32]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Each (channels, samples) row of ``template`` minus its mean, and its sum of squares (for ``_correlate``,
    computed once)."""
    axes = (1, 2)
    b = template - template.mean(axis=axes, keepdims=True)
    return b, np.einsum("icj,icj->i", b, b)


def _window_sums(wide: NDArray[np.float32], width: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(beats, lags) sum and centred sum of squares of each beat's (channels, ``width``) window of ``wide`` at every
    lag, from running sums (float64); for ``_correlate_lags``, computed once per shape test."""
    n_lags, size = wide.shape[2] - width + 1, width * wide.shape[1]
    run = np.zeros((wide.shape[0], wide.shape[2] + 1))
    run2 = np.zeros_like(run)
    total, power = wide[:, 0].astype(np.float64), np.square(wide[:, 0], dtype=np.float64)
    for i in range(1, wide.shape[1]):  # summed over the channels one after the other, as sum(axis=1) does
        total += wide[:, i]
        power += np.square(wide[:, i], dtype=np.float64)
    np.cumsum(total, axis=1, out=run[:, 1:])
    np.cumsum(power, axis=1, out=run2[:, 1:])
    total = run[:, width : width + n_lags] - run[:, :n_lags]  # (beats, lags)
    return total, run2[:, width : width + n_lags] - run2[:, :n_lags] - total * total / size


def _correlate_lags(
    wide: NDArray[np.float32], width: int, centred: tuple[NDArray, NDArray], sums: tuple[NDArray, NDArray]
) -> NDArray[np.float32]:
    """(lags, beats) Pearson correlation of each beat's (channels, ``width``) window of ``wide`` at every lag (start
    0 to the last that fits) with its row of a template given as ``_centred``; the windows' sums and centred
    powers come from ``_window_sums``, so each lag costs one product with the template."""
    b, bb = centred
    (total, centred_power), n_lags, size = sums, wide.shape[2] - width + 1, width * wide.shape[1]
    b_sum = b.sum(axis=(1, 2), dtype=np.float64)
    products = np.empty((wide.shape[0], n_lags), dtype=np.result_type(wide, b))
    for k in range(n_lags):
        np.einsum("icj,icj->i", wide[:, :, k : k + width], b, out=products[:, k])
    num = products - total / size * b_sum[:, None]  # the window's mean times the template's (about zero) sum
    denom = np.sqrt(np.maximum(centred_power, 0.0) * bb[:, None])
    out = np.zeros(num.shape)
    np.divide(num, denom, out=out, where=denom > 0)
    return out.T.astype(np.float32)


def _shape_consistent(
    channels: Sequence[NDArray], peaks: NDArray[np.int64], sfreq_hz: float
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """How well each candidate's waveform (all channels, R ± ``SHAPE_HALF_S``) correlates >= ``MIN_SHAPE_CORR``
    with the median waveform of blocks of ``SHAPE_BEATS`` neighbouring candidates, at the best lag within
    ``SHAPE_MAX_LAG_S``; and the peaks moved by that lag (aligned on the template, for the subtraction).
    Returns that correlation and the aligned peaks. Worked through in groups of candidates (small temporaries)."""
    half, lag = max(1, round(SHAPE_HALF_S * sfreq_hz)), round(SHAPE_MAX_LAG_S * sfreq_hz)
    width, chans = 2 * half + 1, [np.asarray(c, dtype=np.float32) for c in channels]
    all_wide = np.empty((peaks.size, len(chans), 2 * (half + lag) + 1), dtype=np.float32)  # (beats, channels, .)
    for i, c in enumerate(chans):
        all_wide[:, i] = _segments(c, peaks, half + lag, half + lag + 1)
    windows = sliding_window_view(all_wide, width, axis=2)  # (beats, channels, lags, width)
    groups = [slice(a, min(a + _GROUP_BEATS, peaks.size)) for a in range(0, peaks.size, _GROUP_BEATS)]
    wides = [all_wide[g] for g in groups]
    sums = [_window_sums(wide, width) for wide in wides]  # each window's sum and centred power, per group

    def aligned(shift: NDArray[np.int64]) -> Callable[[NDArray[np.int64]], NDArray[np.float32]]:
        # rows (beats, channels x width, channel after channel) of the windows moved by ``shift``
        return lambda idx: windows[idx, :, lag + shift[idx]].reshape(idx.size, len(chans) * width)

    best = np.zeros(peaks.size, dtype=np.int64)
    corr = np.empty((2 * lag + 1, peaks.size), dtype=np.float32)
    for _ in range(2):  # template from the current alignment, then the best lag of each candidate against it
        medians, weights = _block_medians(aligned(best), peaks.size, SHAPE_BEATS)
        for g, wide, wide_sums in zip(groups, wides, sums, strict=True):
            rows = _interpolated(medians, weights, g.start, g.stop).reshape(wide.shape[0], len(chans), width)
            corr[:, g] = _correlate_lags(wide, width, _centred(rows), wide_sums)
        best = corr.argmax(axis=0) - lag
    return corr.max(axis=0), peaks + best


def _strongest_apart(positions: NDArray[np.int64], score: NDArray[np.floating], n: int, distance: int) -> NDArray:
    """Sorted positions at least ``distance`` apart, the higher ``score`` winning: ``find_peaks`` on a sparse
    array of ``n`` samples holding the scores, run on its occupied samples only (with a zero between two that are
    not neighbours, so local maxima are the same), then scipy's own distance rule."""
    occupied, which = np.unique(positions, return_inverse=True)
    values = np.zeros(occupied.size, dtype=np.float32)
    np.maximum.at(values, which, np.asarray(score, dtype=np.float32) + 2.0)
    at = np.arange(occupied.size) + 1 + np.cumsum(np.diff(occupied, prepend=occupied[:1]) > 1)
    compact = np.zeros(at[-1] + 2 if at.size else 2, dtype=np.float32)
    compact[at] = values
    found, peak_heights = _kernels.find_peaks(compact, 1.0)
    kept = occupied[np.searchsorted(at, found)]
    return kept[_kernels.select_by_peak_distance(kept, peak_heights, max(1, distance))]


def _fill_single_gaps(channels: Sequence[NDArray], r_idx: NDArray[np.int64], sfreq_hz: float) -> NDArray[np.int64]:
    """Add the beat hidden under a jerk, potential or brief movement: in every gap between accepted beats of about
    two local intervals (1.6-2.5 x the median of the neighbouring intervals), the position at least ``MIN_RR_S``
    from both ends where the channels' median beat templates (R ± ``SHAPE_HALF_S``) fit best, kept when the
    least-squares scale of the fit is at least ``FILL_MIN_SCALE``."""
    if r_idx.size < 5:
        return r_idx
    rr = np.diff(r_idx)
    local = _kernels.median_filter(rr.astype(np.float64), 9)
    gap = np.flatnonzero((rr >= 1.6 * local) & (rr <= 2.5 * local))
    margin = round(MIN_RR_S * sfreq_hz)
    lo, hi = r_idx[gap] + margin, r_idx[gap + 1] - margin
    gap, lo, hi = gap[hi > lo], lo[hi > lo], hi[hi > lo]
    if gap.size == 0:
        return r_idx
    half = max(1, round(SHAPE_HALF_S * sfreq_hz))
    n = min(c.size for c in channels)
    where = lo[:, None] + np.arange(int((hi - lo).max()))[None, :]  # (gaps, longest interior)
    at = np.minimum(where, n - half - 1)  # the template's fit (a correlation) is needed at these positions only
    fit, power = np.zeros(where.shape, dtype=np.float32), 0.0
    for c in channels:
        x = np.asarray(c, dtype=np.float32)
        segs = _segments(x, r_idx[(r_idx >= half) & (r_idx < c.size - half - 1)], half, half + 1)
        template = _median_axis1(segs[None])[0]
        for k in range(template.size):
            fit += x[at + (k - half)] * template[k]
        power += float((template * template).sum())
    values = np.where(where < hi[:, None], fit, -np.inf)
    pick = values.argmax(axis=1)
    best = where[np.arange(gap.size), pick]
    added = best[fit[np.arange(gap.size), pick] >= FILL_MIN_SCALE * power]
    return np.sort(np.concatenate([r_idx, added]))


def _regular(r_peak_s: NDArray[np.float64], duration_s: float) -> NDArray[np.bool_]:
    """Beats lying where at least ``MIN_REGULAR_FRACTION`` of the surrounding ``REGULAR_WINDOW_S`` is spanned by
    beat-to-beat intervals within ``MIN_RR_S``-``MAX_RR_S`` (a heart rhythm, not scattered bursts)."""
    if r_peak_s.size < 3:
        return np.zeros(r_peak_s.size, dtype=bool)
    rr = np.diff(r_peak_s)
    ok = (rr >= MIN_RR_S) & (rr <= MAX_RR_S)
    step = 1.0  # coverage on a 1-s grid
    grid = np.zeros(int(np.ceil(duration_s / step)) + 1)
    starts, ends = r_peak_s[:-1][ok], r_peak_s[1:][ok]
    np.add.at(grid, np.minimum((starts / step).astype(np.int64), grid.size - 1), ends - starts)
    size = max(1, round(REGULAR_WINDOW_S / step))
    inside = _kernels.uniform_filter1d(np.ones(grid.size), size)  # the window's part in the night
    covered = _kernels.uniform_filter1d(grid, size) / inside / step
    return covered[np.minimum((r_peak_s / step).astype(np.int64), grid.size - 1)] >= MIN_REGULAR_FRACTION


def find_ecg_beats(channels_filtered: Sequence[NDArray[np.floating]], sfreq_hz: float) -> EcgBeats:
    """R peaks of the ECG artefact shared by band-passed EMG channels (µV, same ``sfreq_hz``, same start).

    Implements the beat detection step of the Stanford PLM detector's adaptive ECG cancellation (Moore et al.
    2014): the ECG reaches all EMG electrodes simultaneously, so the QRS energy of the channels (each normalised
    by its robust noise SD, summed, smoothed over ``QRS_SMOOTH_S``) peaks at every R wave. Candidates are energy
    peaks at least ``CANDIDATE_SEPARATION_S`` apart and ``PEAK_ABOVE_LOCAL`` times above the local median energy;
    they are kept when their waveform correlates with their neighbours' median waveform (an ECG beat repeats its
    shape; leg-movement and noise bursts do not), the better of two closer than ``MIN_RR_S``, and when they form
    a regular train (``_regular``); a beat hidden under a brief burst is then added where the template fits
    (``_fill_single_gaps``). A night without ECG gives no beats. Returns ``EcgBeats`` (empty, never None).
    """
    chans = [np.asarray(c) for c in channels_filtered if np.asarray(c).size]
    if not chans or min(c.size for c in chans) < 4 * sfreq_hz:
        return EcgBeats(np.zeros(0))
    n = min(c.size for c in chans)
    energy = _qrs_energy(chans, sfreq_hz)
    level = _block_level(energy, sfreq_hz)
    # peaks below the lowest acceptance level are dropped before the separation rule (find_peaks applies height
    # first): they can only be removed there, never remove a higher peak, and sorting them dominated the cost
    lowest = np.float32(PEAK_ABOVE_LOCAL) * level[0].min()
    peaks = _peaks_at_or_above(energy, lowest, max(1, round(CANDIDATE_SEPARATION_S * sfreq_hz)))
    half = max(1, round(max(SHAPE_HALF_S + SHAPE_MAX_LAG_S, TEMPLATE_POST_S) * sfreq_hz))
    ok = (energy[peaks] > PEAK_ABOVE_LOCAL * _level_at(level, peaks)) & (peaks >= half) & (peaks < n - half - 1)
    peaks = peaks[ok]
    n_candidates = int(peaks.size)
    if peaks.size < 3:
        return EcgBeats(np.zeros(0), n_candidates)
    corr, aligned = _shape_consistent(chans, peaks, sfreq_hz)
    good = corr >= MIN_SHAPE_CORR
    r_idx = _strongest_apart(aligned[good], corr[good], n, round(MIN_RR_S * sfreq_hz))
    r_idx = r_idx[_regular(r_idx / sfreq_hz, n / sfreq_hz)]
    r_peak_s = _fill_single_gaps(chans, r_idx, sfreq_hz) / sfreq_hz
    log.info("ECG: %d R peaks accepted of %d energy peaks (%d channels)", r_peak_s.size, n_candidates, len(chans))
    return EcgBeats(r_peak_s.astype(np.float64), n_candidates)


def remove_ecg(filtered: NDArray[np.floating], sfreq_hz: float, beats: EcgBeats) -> NDArray[np.float32]:
    """``filtered`` (µV) minus the ECG: at each R peak a template (R - ``TEMPLATE_PRE_S`` to R +
    ``TEMPLATE_POST_S``) scaled by least squares to that beat's QRS (R ± ``SHAPE_HALF_S``) and tapered at its ends
    is subtracted.

    Implements the cancellation step of the Stanford PLM detector's adaptive ECG cancellation (Moore et al. 2014).
    The template is the sample-wise median of blocks of ``TEMPLATE_BEATS`` beats, linearly interpolated between
    block centres (``_running_median_rows``: a running median template that follows slow changes in shape), so a
    leg movement over a few beats barely changes it; the scale is clipped to ``SCALE_BOUNDS``. A new float32
    array; ``filtered`` unchanged.
    """
    x = np.asarray(filtered, dtype=np.float32)
    out = x.copy()
    pre, post = round(TEMPLATE_PRE_S * sfreq_hz), round(TEMPLATE_POST_S * sfreq_hz)
    idx = np.round(beats.r_peak_s * sfreq_hz).astype(np.int64)
    idx = idx[(idx >= pre) & (idx < x.size - post)]
    if idx.size < 3:
        return out
    windows = sliding_window_view(x, pre + post)  # beats are sorted (find_ecg_beats): windows overlap neighbours
    medians, weights = _block_medians(lambda rows: windows[idx[rows] - pre], idx.size, TEMPLATE_BEATS)
    taper = _kernels.tukey(pre + post, TAPER_FRACTION).astype(np.float32)[None, :]
    core = slice(max(0, pre - round(SHAPE_HALF_S * sfreq_hz)), pre + round(SHAPE_HALF_S * sfreq_hz) + 1)

    def fitted(start: int, stop: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:  # beats start to stop
        segs = windows[idx[start:stop] - pre]
        templates = _interpolated(medians, weights, start, stop)
        templates *= taper
        power = (templates[:, core] * templates[:, core]).sum(axis=1)  # the scale is fitted on the QRS only, so
        fit = (segs[:, core] * templates[:, core]).sum(axis=1)  # a burst beside the beat does not bend it
        scale = np.divide(fit, power, out=np.ones_like(power), where=power > 0)
        return segs, templates * np.clip(scale, *SCALE_BOUNDS)[:, None]

    step = np.diff(idx)
    if step.size and (step.min() < 0 or (step[:-1] + step[1:] < pre + post).any()):  # a sample in three windows
        where = (idx[:, None] + np.arange(-pre, post)[None, :]).ravel()
        out -= np.bincount(where, weights=fitted(0, idx.size)[1].ravel(), minlength=x.size).astype(np.float32)
        return out
    writable = sliding_window_view(out, pre + post, writeable=True)
    for a in range(0, idx.size, _GROUP_BEATS):  # in groups of beats, each with its neighbours (shared samples)
        b = min(a + _GROUP_BEATS, idx.size)
        lo, hi = max(a - 1, 0), min(b + 1, idx.size)
        segs, rows = fitted(lo, hi)
        rows = _overlaps_summed(rows, step[lo : hi - 1])
        writable[idx[a:b] - pre] = segs[a - lo : b - lo] - rows[a - lo : b - lo]
    return out


def _overlaps_summed(fitted: NDArray[np.float32], step: NDArray[np.int64]) -> NDArray[np.float32]:
    """``fitted`` (beats, window) with each sample two consecutive windows share (``step``: the beats' spacing,
    no sample in three windows) set, in both rows, to the two beats' sum (float64, then rounded: the total a sum
    over all beats gives), so writing the rows one after the other leaves that total."""
    pairs = np.flatnonzero(step < fitted.shape[1])
    if pairs.size == 0:
        return fitted
    shift = step[pairs][:, None]
    cols = np.arange(fitted.shape[1])[None, :]
    shared = cols >= shift  # (pairs, window): the columns of the earlier row that the next row covers
    nxt = fitted[pairs + 1][np.arange(pairs.size)[:, None], np.where(shared, cols - shift, 0)]
    total = (fitted[pairs].astype(np.float64) + np.where(shared, nxt, 0.0)).astype(np.float32)
    out = fitted.copy()
    out[pairs] = total
    head = cols < fitted.shape[1] - shift  # (pairs, window): the later row's columns inside the earlier window
    later = out[pairs + 1]
    later[head] = total[np.arange(pairs.size)[:, None], np.where(head, cols + shift, 0)][head]
    out[pairs + 1] = later
    return out


def _ecg_in_some_stretch(channels: Sequence[NDArray], sfreq_hz: float) -> bool:
    """Whether a regular ECG shows in any of SCREEN_CHUNKS stretches spread over the night (short nights: all of
    it). ECG pick-up comes from electrode placement and lasts the night, so the screen spares ECG-free nights
    the whole-night beat search without missing contaminated ones."""
    n = min(c.size for c in channels)
    chunk = round(SCREEN_CHUNK_S * sfreq_hz)
    if n <= chunk * SCREEN_CHUNKS:
        return True  # short recording: search all of it
    starts = np.linspace(0, n - chunk, SCREEN_CHUNKS).astype(np.int64)
    return any(len(find_ecg_beats([c[a : a + chunk] for c in channels], sfreq_hz)) for a in starts)


def cancel_ecg(
    filtered_by_role: Mapping[str, FilteredEmg],
) -> tuple[dict[str, FilteredEmg], EcgBeats, list[Caveat]]:
    """Find the ECG on all given channels together and remove it from each.

    Channels with the most common sampling rate are used for beat finding (their overlapping length); the beats
    (in s) are removed from every channel. Returns the cleaned channels (same band and notch facts), the beats
    and a caveat naming the channels when ECG was found and removed.
    """
    if not filtered_by_role:
        return {}, EcgBeats(np.zeros(0)), []
    rates = [f.sfreq_hz for f in filtered_by_role.values()]
    sfreq = max(set(rates), key=rates.count)
    channels = [f.data_uv for f in filtered_by_role.values() if f.sfreq_hz == sfreq]
    if not _ecg_in_some_stretch(channels, sfreq):
        return dict(filtered_by_role), EcgBeats(np.zeros(0)), []
    beats = find_ecg_beats(channels, sfreq)
    if not len(beats):
        return dict(filtered_by_role), beats, []
    roles = list(filtered_by_role)
    cleaned = dict(
        zip(roles, map_parallel(lambda role: clean_channel(filtered_by_role[role], beats), roles), strict=True)
    )
    hr = beats.heart_rate_bpm
    text = (
        f"ECG artefact in the EMG ({len(beats)} beats, about {hr:.0f} bpm) was removed by beat-template "
        "subtraction before scoring; leg movements overlapping beats are scored on the cleaned signal"
    )
    return cleaned, beats, [Caveat("ecg_artefact_removed", text, ",".join(sorted(filtered_by_role)))]


def clean_channel(filtered: FilteredEmg, beats: EcgBeats) -> FilteredEmg:
    """``filtered`` with the ECG at ``beats`` (times on its own axis) removed; itself when there are no beats."""
    if not len(beats):
        return filtered
    return dataclasses.replace(filtered, data_uv=remove_ecg(filtered.data_uv, filtered.sfreq_hz, beats))

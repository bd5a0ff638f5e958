"""EMG preprocessing: zero-phase band-pass, optional mains notch, rectified envelope and local resting level.

Implements the AASM technical specification for leg EMG (10-100 Hz band, notch only if needed) and the envelope
and baseline method stated in ``knowledge/standards/*.yaml`` (``signal`` section). Pure, vectorised numpy/scipy.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cds.detect import _kernels
from cds.errors import SignalError
from cds.standards import SignalRules, load_detector_heuristics

__all__ = [
    "Envelope",
    "FilteredEmg",
    "band_for",
    "compute_envelope",
    "compute_resting_level",
    "describe_notch_check",
    "filter_emg",
    "find_mains_notches",
    "rms_calibration",
    "short_envelope",
    "slice_filtered",
]

log = logging.getLogger(__name__)

FloatArray = NDArray[np.floating]

_BASELINE_STRIDE = 4  # envelope samples per baseline sample


@dataclass(frozen=True, eq=False)
class FilteredEmg:
    """Band-passed (and possibly notched) EMG in µV, float32, with the filter actually applied."""

    data_uv: NDArray[np.float32]
    sfreq_hz: float
    band_hz: tuple[float, float]
    band_clipped: bool  # True when the upper edge had to be lowered below Nyquist
    notch_hz: tuple[float, ...]


@dataclass(frozen=True, eq=False)
class Envelope:
    """Smoothed rectified EMG on a regular grid: ``values_uv[k]`` describes time ``k * step_s``."""

    values_uv: NDArray[np.float32]
    step_s: float


def filter_emg(
    emg_uv: FloatArray, sfreq_hz: float, rules: SignalRules, *, notch_hz: tuple[float, ...] | None = None
) -> FilteredEmg:
    """Band-pass ``emg_uv`` (µV) zero-phase (Butterworth SOS, forward-backward) in float32; notch mains if present.

    The upper edge is kept at ``nyquist_margin`` × Nyquist when the standard's edge would reach it. ``notch_hz``
    skips the hum search (pieces of one channel share the notches found on the whole).
    Raises SignalError for a signal that is not 1-D or shorter than 2 s.
    """
    (low, high_used), clipped = band_for(sfreq_hz, rules)
    raw = np.asarray(emg_uv)
    lowest, highest = scorable_rates_hz(rules)
    if not lowest <= sfreq_hz <= highest:
        raise SignalError(
            f"cannot filter EMG sampled at {sfreq_hz:g} Hz for the {low:g}-{rules.band_hz[1]:g} Hz band "
            f"(scorable: {lowest:.1f} to {highest:g} Hz)"
        )
    if raw.ndim != 1 or raw.size < 2 * sfreq_hz:
        raise SignalError(f"cannot filter a signal of shape {raw.shape} at {sfreq_hz:g} Hz (at least 2 s needed)")
    # The DC offset (median of a float32 sample of the signal) is removed before filtering. Offset and hum search
    # read only small float32 copies, so the full float32 signal is written once, straight into the padded
    # buffer the filter runs on.
    offset = np.float32(np.median(np.asarray(raw[:: max(1, raw.size // 100_000)], dtype=np.float32)))
    notches = _mains_notches_spread(raw, sfreq_hz, rules, offset) if notch_hz is None else tuple(notch_hz)
    design = _filter_design(rules.filter_order, low, high_used, float(sfreq_hz), notches, rules.notch_q)
    filtered = _sosfiltfilt_float32(design, raw, offset)
    log.info(
        "band-pass %.1f-%.1f Hz, Butterworth order %d, zero phase (sosfiltfilt); notch %s",
        low,
        high_used,
        rules.filter_order,
        list(notches) or "none",
    )
    return FilteredEmg(filtered, sfreq_hz, (float(low), float(high_used)), bool(clipped), notches)


@dataclass(frozen=True, eq=False)
class _Design:
    """A float32 SOS cascade with what ``scipy.signal.sosfiltfilt`` derives from it (initial states, pad length)."""

    sos: NDArray[np.float32]
    zi: NDArray[np.float32]  # sosfilt_zi(sos): steady-state section states for a unit step
    edge: int  # odd-extension length sosfiltfilt uses by default


@functools.lru_cache(maxsize=32)
def _filter_design(
    order: int, low: float, high: float, sfreq_hz: float, notches: tuple[float, ...], notch_q: float
) -> _Design:
    """Band-pass plus notches as one SOS cascade. Cached: the jerk search filters dozens of chin windows with the
    same design, and ``butter`` costs about a millisecond each time."""
    sos = _kernels.butter_bandpass_sos(order, low, high, sfreq_hz)
    for f0 in notches:
        sos = np.vstack([sos, _kernels.iirnotch_sos(f0, notch_q, sfreq_hz)])
    sos32 = np.ascontiguousarray(sos, dtype=np.float32)
    n_sections = sos32.shape[0]
    ntaps = 2 * n_sections + 1 - min(int((sos32[:, 2] == 0).sum()), int((sos32[:, 5] == 0).sum()))
    zi = np.ascontiguousarray(_kernels.sosfilt_zi(sos32), dtype=np.float32)
    for arr in (sos32, zi):
        arr.flags.writeable = False  # shared by every call through the cache
    return _Design(sos32, zi, 3 * ntaps)


def _sosfiltfilt_float32(design: _Design, raw: FloatArray, offset: np.float32) -> NDArray[np.float32]:
    """``scipy.signal.sosfiltfilt(design.sos, float32(raw) - offset)`` with the same float32 arithmetic, step by
    step, but in one buffer instead of five: the odd extension is built in place, both passes run in place
    through scipy's SOS kernel, with an in-place reversal between them. The result is the same reversed view
    sosfiltfilt returns."""
    n, edge = raw.size, design.edge
    if n <= edge + 1:  # too short to extend (filter_emg needs 2 s, far longer): scipy's own function and errors
        from scipy.signal import sosfiltfilt

        data = np.subtract(np.asarray(raw, dtype=np.float32), offset)
        return sosfiltfilt(design.sos.copy(), data).astype(np.float32, copy=False)  # writable sos
    ext = np.empty(n + 2 * edge, dtype=np.float32)
    mid = ext[edge : edge + n]
    mid[...] = raw  # float64 -> float32 cast, as np.asarray(raw, dtype=np.float32)
    np.subtract(mid, offset, out=mid)
    if edge:  # scipy's odd_ext: 2 * x[0] - x[edge:0:-1] and 2 * x[-1] - x[-2:-edge-2:-1], in float32
        np.subtract(2 * mid[0:1], mid[edge:0:-1], out=ext[:edge])
        np.subtract(2 * mid[-1:], mid[-2 : -edge - 2 : -1], out=ext[edge + n :])
    sos = design.sos.copy()  # the kernel wants a writable buffer; the cached design stays read-only
    n_sections = sos.shape[0]
    zi = (design.zi * ext[0:1]).reshape(1, n_sections, 2)
    _kernels.sosfilt_inplace(sos, ext.reshape(1, -1), np.ascontiguousarray(zi))
    zi = (design.zi * ext[-1:]).reshape(1, n_sections, 2)
    _reverse_in_place(ext)  # the backward pass runs on the reversed forward output, in the same buffer
    _kernels.sosfilt_inplace(sos, ext.reshape(1, -1), np.ascontiguousarray(zi))
    return ext[::-1][edge : edge + n]


def _reverse_in_place(a: NDArray[np.float32], step: int = 1 << 16) -> None:
    """Reverse a contiguous 1-D array through a small scratch array: no second signal-sized buffer (fresh
    memory is slow to fault in, more so than the copy itself)."""
    n = a.size
    half = n // 2
    for start in range(0, half, step):
        stop = min(half, start + step)
        left, right = a[start:stop], a[n - stop : n - start][::-1]
        scratch = left.copy()
        left[...] = right
        right[...] = scratch


MAX_EMG_SFREQ_HZ = 100_000.0  # above this a sampling rate is a header error, not an EMG amplifier


def scorable_rates_hz(rules: SignalRules) -> tuple[float, float]:
    """The sampling rates at which an EMG channel can be filtered for scoring: the band kept below
    ``nyquist_margin`` x Nyquist must still span at least one octave above its lower edge (10-20 Hz for the AASM
    10-100 Hz band, so at least 44.4 Hz); above MAX_EMG_SFREQ_HZ the rate is a header error. Between the lower
    limit and ``min_sfreq_hz`` (AASM 200 Hz) a channel is scored with a ``low_sampling_rate`` caveat."""
    low = float(rules.band_hz[0])
    return 2.0 * (2.0 * low) / rules.nyquist_margin, MAX_EMG_SFREQ_HZ


def band_for(sfreq_hz: float, rules: SignalRules) -> tuple[tuple[float, float], bool]:
    """The band actually used at ``sfreq_hz`` and whether its upper edge had to be lowered below Nyquist."""
    low, high = rules.band_hz
    limit = sfreq_hz / 2.0 * rules.nyquist_margin
    return (float(low), float(min(high, limit))), bool(high >= limit)


def slice_filtered(filtered: FilteredEmg, start_s: float, end_s: float) -> FilteredEmg:
    """The stretch ``start_s``-``end_s`` of a filtered channel (a view, no copy)."""
    a = max(0, int(start_s * filtered.sfreq_hz))
    b = max(a, int(end_s * filtered.sfreq_hz))
    return FilteredEmg(
        filtered.data_uv[a:b], filtered.sfreq_hz, filtered.band_hz, filtered.band_clipped, filtered.notch_hz
    )


def find_mains_notches(data: FloatArray, sfreq_hz: float, rules: SignalRules) -> tuple[float, ...]:
    """Mains frequencies (and their second harmonic) whose line power exceeds ``notch_ratio`` x the neighbouring
    band in any of ``HUM_CHUNKS`` 1-min stretches spread evenly over the recording (Welch on each)."""
    return _mains_notches_spread(np.asarray(data), sfreq_hz, rules, np.float32(0.0))


# stretches spread over the night that the hum search reads (hum may cover part of it only): detectors.yaml, hum
HUM_CHUNKS = load_detector_heuristics().hum.chunks
HUM_CHUNK_S = load_detector_heuristics().hum.chunk_s


def describe_notch_check() -> str:
    """How the notch decision is taken, for the JSON ``parameters`` section."""
    return (
        f"Welch line check (median of 2-s periodograms) on {HUM_CHUNKS} stretches of {HUM_CHUNK_S:g} s spread "
        "over the recording; a mains frequency (and its second harmonic) is notched (second-order IIR notch) when its "
        "line stands out "
        "in any stretch"
    )


def _hum_chunks(data: FloatArray, sfreq_hz: float) -> list[FloatArray]:
    """``HUM_CHUNKS`` stretches of ``HUM_CHUNK_S`` (views) centred at (k + 0.5) / HUM_CHUNKS of ``data``; the
    whole signal when it is shorter than two stretches."""
    width = int(HUM_CHUNK_S * sfreq_hz)
    if data.size <= 2 * width:
        return [data]
    out, seen = [], set()
    for k in range(HUM_CHUNKS):
        centre = int((k + 0.5) / HUM_CHUNKS * data.size)
        start = min(max(0, centre - width // 2), data.size - width)
        if start not in seen:
            seen.add(start)
            out.append(data[start : start + width])
    return out


def _mains_notches_spread(
    raw: FloatArray, sfreq_hz: float, rules: SignalRules, offset: np.float32
) -> tuple[float, ...]:
    """Union of the notches found in each hum-search stretch, in the order of ``rules.notch_hz``."""
    found: set[float] = set()
    for chunk in _hum_chunks(raw, sfreq_hz):
        found.update(_mains_notches(np.subtract(np.asarray(chunk, dtype=np.float32), offset), sfreq_hz, rules))
    order = [f for f0 in rules.notch_hz for f in (float(f0), 2.0 * float(f0))]
    return tuple(f for f in order if f in found)


def _line_stands_out(freqs: NDArray, power: NDArray, f0: float, ratio: float) -> bool:
    line = power[np.abs(freqs - f0) <= 1.0].max(initial=0.0)
    near = power[(np.abs(freqs - f0) > 3.0) & (np.abs(freqs - f0) <= 8.0)]
    return bool(near.size and line > ratio * float(np.median(near)))


def _mains_notches(chunk: NDArray[np.float32], sfreq_hz: float, rules: SignalRules) -> tuple[float, ...]:
    """Mains frequencies standing out in ``chunk``; for each, the second harmonic too when it stands out and lies
    below 0.95 x Nyquist (a notch needs a frequency below Nyquist; above the band edge the filter skirt still
    passes part of it)."""
    high_hz = band_for(sfreq_hz, rules)[0][1]
    if chunk.size < 4 * sfreq_hz:
        return ()
    # Median of the 2-s periodograms: a leg movement or pop in a few segments cannot raise a line or its
    # neighbourhood (a mean let one 1.5-s burst in a 1-min stretch fake a 60 Hz line), steady hum is unaffected.
    freqs, power = _kernels.median_periodogram(chunk, sfreq_hz, int(2 * sfreq_hz))
    found = []
    for f0 in rules.notch_hz:
        if f0 >= high_hz + 5.0 or not _line_stands_out(freqs, power, float(f0), rules.notch_ratio):
            continue
        found.append(float(f0))
        harmonic = 2.0 * float(f0)
        if harmonic < sfreq_hz / 2.0 * 0.95 and _line_stands_out(freqs, power, harmonic, rules.notch_ratio):
            found.append(harmonic)
    return tuple(found)


_BIN_CHUNK = 8192  # bins per block of _bin_rectified: the block's samples stay in cache across its strided passes


def _bin_rectified(data: NDArray[np.float32], sfreq_hz: float, bin_s: float) -> tuple[NDArray[np.float32], float]:
    """Mean of |data| in consecutive bins of about ``bin_s``; returns the bins and their exact length in s.

    A few strided passes (one per sample of a bin) beat a mean over a short trailing axis; they run block by block,
    so a night's samples are read from memory once instead of once per pass (the same sums in the same order)."""
    width = max(1, round(bin_s * sfreq_hz))
    n_bins = data.size // width
    total = np.zeros(n_bins, dtype=np.float32)
    scratch = np.empty(min(n_bins, _BIN_CHUNK), dtype=data.dtype)  # |x| keeps the input dtype
    for a in range(0, n_bins, _BIN_CHUNK):
        b = min(n_bins, a + _BIN_CHUNK)
        block, sums, part = data[a * width : b * width], total[a:b], scratch[: b - a]
        for k in range(width):
            np.abs(block[k::width], out=part)
            sums += part
    total /= np.float32(width)
    return total, width / sfreq_hz


def compute_envelope(filtered: FilteredEmg, rules: SignalRules) -> Envelope:
    """Envelope for the LM amplitude rules, in RMS-equivalent µV: running ``envelope_percentile`` over
    ``envelope_span_s`` of mean-rectified bins, times ``rms_calibration`` (so steady EMG reads its RMS).

    The rank filter makes the envelope deaf to bursts that fill less than (100 - percentile)% of its span (ECG
    beats, electrode pops) while a leg movement of >= 0.5 s passes at nearly its full level. The scale puts the
    8 µV and 2 µV rules on the RMS amplitude, the envelope the clinical brief (2.1) and the RMS-based detectors
    (psgscoring; Moore et al. 2014) apply them to, instead of on a robust statistic that reads about 0.7 x RMS.
    """
    values, step_s = _percentile_envelope(filtered.data_uv, filtered.sfreq_hz, rules)
    values *= np.float32(rms_calibration(filtered.sfreq_hz, filtered.band_hz, rules))
    return Envelope(values.astype(np.float32, copy=False), step_s)


def _percentile_envelope(
    data: NDArray[np.float32], sfreq_hz: float, rules: SignalRules
) -> tuple[NDArray[np.float32], float]:
    """Running ``envelope_percentile`` over ``envelope_span_s`` of mean-rectified bins (unscaled), and the bin step."""
    bins, step_s = _bin_rectified(data, sfreq_hz, rules.envelope_bin_s)
    size = max(1, round(rules.envelope_span_s / step_s)) | 1
    return (_running_percentile(bins, rules.envelope_percentile, size) if bins.size else bins), step_s


CALIBRATION_S = 300.0  # seconds of seeded Gaussian noise the envelope scale is measured on
CALIBRATION_SEED = 20_161_231  # fixed: the same scale (bit for bit) on every run and machine


@functools.lru_cache(maxsize=32)
def rms_calibration(sfreq_hz: float, band_hz: tuple[float, float], rules: SignalRules) -> float:
    """RMS / median envelope of Gaussian noise band-passed like the EMG at ``sfreq_hz``: the factor that turns
    the running percentile of mean-rectified bins into an RMS-equivalent amplitude (about 1.39 at 200-1000 Hz
    with 20-ms bins and the 40th percentile; measured, not assumed, because it depends on the samples per bin and
    the percentile). Deterministic: seeded noise (PCG64), cached per rate, band and rules."""
    n = int(CALIBRATION_S * sfreq_hz)
    noise = np.random.default_rng(CALIBRATION_SEED).standard_normal(n, dtype=np.float32)
    design = _filter_design(rules.filter_order, band_hz[0], band_hz[1], float(sfreq_hz), (), rules.notch_q)
    data = _sosfiltfilt_float32(design, noise, np.float32(0.0))
    edge = int(sfreq_hz)  # the filter's start and end transients stay out of both measures
    core = data[edge:-edge].astype(np.float64)
    rms = float(np.sqrt(np.mean(core * core)))
    values, step_s = _percentile_envelope(data, float(sfreq_hz), rules)
    skip = int(edge / (step_s * sfreq_hz)) + 1
    return rms / float(np.median(values[skip:-skip]))


_RANK_CHUNK_BLOCKS = 4096  # blocks per pass of _running_rank: its ~100 working arrays stay in cache


def _running_percentile(bins: NDArray[np.float32], percentile: float, size: int) -> NDArray[np.float32]:
    """``ndimage.percentile_filter(bins, percentile, size=size, mode="nearest")``, the same values.

    The rank filter of scipy costs ~30 ns per bin; ``_running_rank`` gets the same order statistic from a few
    dozen vectorised min/max passes at a third of that. NaN (no total order for min/max), rank 0 or size - 1
    and out-of-range percentiles (clipped to the window) take the plain sliding-window partition instead.
    """
    pct = percentile + 100.0 if percentile < 0.0 else percentile  # scipy's rank from a percentile
    rank = size - 1 if pct == 100.0 else int(float(size) * pct / 100.0)
    if bins.ndim != 1 or size % 2 == 0 or not 0 < rank < size - 1 or not 0 <= pct <= 100 or np.isnan(bins).any():
        return _kernels.rank_filter(bins, min(max(rank, 0), size - 1), size)
    return _running_rank(bins, size, rank)


def _running_rank(x: NDArray[np.float32], size: int, rank: int) -> NDArray[np.float32]:
    """Order statistic ``rank`` (0 = smallest) of every centred window of odd ``size``, edges padded with the
    end values (ndimage mode "nearest"); ``x`` 1-D without NaN.

    Cut the padded signal into blocks of ``size``: a window starting at column j of block b is the suffix of b
    from j plus the prefix of b + 1 up to j. For every block the ``rank + 1`` smallest values of each prefix and
    of each suffix are kept sorted, grown one column at a time (min/max insertion), and the window's value is
    the (rank + 1)-th smallest of the two sorted lists: min over p + q = rank + 1 of max(A[p], B[q]). Only
    comparisons, so the result is exactly the rank filter's.
    """
    n, half, m = x.size, size // 2, rank + 1
    n_blocks = -(-(n + 2 * half) // size) + 1  # plus one: the last windows read the next block's prefix
    padded = np.full(n_blocks * size, np.inf, dtype=x.dtype)  # +inf after the end is never inside a window
    padded[:half] = x[0]
    padded[half : half + n] = x
    padded[half + n : n + 2 * half] = x[-1]
    blocks = padded.reshape(n_blocks, size)
    out = np.empty((n_blocks - 1, size), dtype=x.dtype)  # out[b, j]: window starting at column j of block b

    for b0 in range(0, n_blocks - 1, _RANK_CHUNK_BLOCKS):
        b1 = min(n_blocks - 1, b0 + _RANK_CHUNK_BLOCKS)
        cols = np.ascontiguousarray(blocks[b0 : b1 + 1].T)  # cols[c]: column c of blocks b0..b1

        def smallest(order: range, cols: NDArray[np.float32] = cols) -> list[list[NDArray[np.float32]]]:
            """For L = 1, 2, ...: the min(L, m) smallest of the first L columns in ``order``, ascending."""
            runs: list[list[NDArray[np.float32]]] = []
            cur: list[NDArray[np.float32]] = []
            for c in order:
                carry, grown = cols[c], []
                for value in cur:
                    grown.append(np.minimum(value, carry))
                    carry = np.maximum(value, carry)
                if len(grown) < m:
                    grown.append(carry)
                cur = grown
                runs.append(cur)
            return runs

        prefix = smallest(range(size - 1))  # prefix[L - 1]: columns 0..L-1
        suffix = smallest(range(size - 1, -1, -1))  # suffix[L - 1]: columns size-L..size-1
        res = out[b0:b1]
        res[:, 0] = suffix[size - 1][m - 1][:-1]  # a window on a whole block
        for j in range(1, size):
            a, b = suffix[size - j - 1], prefix[j - 1]  # block b from column j; block b + 1 before column j
            best = None
            for p in range(max(0, m - len(b)), min(m, len(a)) + 1):
                q = m - p
                if q == 0:
                    cand = a[p - 1][:-1]
                elif p == 0:
                    cand = b[q - 1][1:]
                else:
                    cand = np.maximum(a[p - 1][:-1], b[q - 1][1:])
                best = cand if best is None else np.minimum(best, cand)
            res[:, j] = best
    return out.reshape(-1)[:n].copy()


def short_envelope(filtered: FilteredEmg, window_s: float) -> Envelope:
    """Mean-rectified envelope in bins of ``window_s`` (brief potentials: jerks, fragmentary myoclonus)."""
    bins, step_s = _bin_rectified(filtered.data_uv, filtered.sfreq_hz, window_s / 2.0)
    if bins.size:  # mean of each bin and the next (the last with itself), in bins' own buffer: no shifted copy
        last = bins[-1] + bins[-1]
        np.add(bins[:-1], bins[1:], out=bins[:-1])  # numpy treats the overlap as if bins[1:] were copied first
        bins[-1] = last
        bins *= 0.5
    return Envelope(bins.astype(np.float32, copy=False), step_s)


def _row_percentile(blocks: NDArray[np.float32], q: float) -> NDArray[np.float64]:
    """Percentile ``q`` of each row ignoring NaN (sorted rows; NaN sorts last), NaN for rows with no value."""
    ordered = np.sort(blocks, axis=1)
    count = np.isfinite(blocks).sum(axis=1)
    pos = np.clip(np.floor(q / 100.0 * (count - 1)).astype(np.int64), 0, blocks.shape[1] - 1)
    out = ordered[np.arange(blocks.shape[0]), pos].astype(np.float64)
    out[count == 0] = np.nan
    return out


def compute_resting_level(
    envelope: Envelope, rules: SignalRules, *, exclude: NDArray[np.bool_] | None = None
) -> NDArray[np.float32]:
    """Local resting level (µV) per envelope sample: per-block median (or 20th percentile on the first pass) of
    samples outside ``exclude`` (movements), then a running median over ``baseline_span_s``, interpolated.
    Blocks are read at every ``_BASELINE_STRIDE``-th envelope sample, which is plenty for a level that changes
    over tens of seconds.
    """
    values = envelope.values_uv
    if values.size == 0:
        return values.copy()
    stride = _BASELINE_STRIDE
    per_block = max(1, round(rules.baseline_block_s / envelope.step_s / stride))
    sampled = values[::stride].astype(np.float32, copy=True)
    if exclude is not None:
        sampled[exclude[::stride]] = np.nan
    n_blocks = -(-sampled.size // per_block)
    padded = np.full(n_blocks * per_block, np.nan, dtype=np.float32)
    padded[: sampled.size] = sampled
    blocks = padded.reshape(n_blocks, per_block)
    valid = np.isfinite(blocks).sum(axis=1) >= max(1, per_block // 5)
    level = np.where(valid, _row_percentile(blocks, 20.0 if exclude is None else 50.0), np.nan)
    idx = np.arange(n_blocks)
    good = np.isfinite(level)
    if not good.any():
        return np.full(values.size, np.float32(np.percentile(values, 20.0)))
    level = np.interp(idx, idx[good], level[good])
    span = max(1, round(rules.baseline_span_s / rules.baseline_block_s)) | 1
    level = _kernels.median_filter(level, span)
    return _interp_block_centres(values.size, per_block * stride, level)


def _interp_block_centres(n: int, width: int, level: NDArray[np.float64]) -> NDArray[np.float32]:
    """``np.interp(np.arange(n), (np.arange(level.size) + 0.5) * width, level).astype(np.float32)``, bit for bit.

    np.interp binary-searches every one of the ``n`` points (the largest cost of the resting level). The block
    centres are a regular grid, so every gap between two centres holds the same ``width`` integer offsets ``d``:
    the values are np.interp's own ``slope[j] * d + level[j]`` (the same float64 operations in the same order),
    computed as one (gaps x width) outer product. Outside the centres np.interp returns the end levels.
    """
    out = np.empty(n, dtype=np.float32)
    half = width / 2.0  # centre j sits at j * width + half (exact: integers and halves)
    lead = min(n, int(np.ceil(half)))  # points before the first centre
    out[:lead] = level[0]
    if level.size < 2 or lead == n:
        out[lead:] = level[-1]
        return out
    gaps = level.size - 1
    centres = (np.arange(level.size) + 0.5) * width
    slope = (level[1:] - level[:-1]) / (centres[1:] - centres[:-1])  # np.interp's slopes
    offsets = (lead + np.arange(width)) - half  # x - centre[j] for the points of gap j
    stop = min(n, lead + gaps * width)
    grid = out[lead:stop]
    full = (stop - lead) // width
    rows = max(1, (1 << 17) // width)  # gaps per step: the float64 products stay in cache
    for g in range(0, full, rows):
        h = min(full, g + rows)
        np.add(slope[g:h, None] * offsets, level[g:h, None], out=grid[g * width : h * width].reshape(h - g, width))
    if stop - lead > full * width:  # a last, partial gap at the end of the signal
        rest = grid[full * width :]
        np.add(slope[full] * offsets[: rest.size], level[full], out=rest)
    out[stop:] = level[-1]  # at and after the last centre
    return out

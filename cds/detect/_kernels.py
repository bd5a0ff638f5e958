"""The numerical kernels of the signal core, without importing scipy's Python packages.

Importing ``scipy.signal`` costs 0.6-1.7 s on the project's 2-core machine (it imports scipy.stats, optimize,
interpolate and the array-API layer) and ``scipy.ndimage`` 0.4-0.6 s: more than scoring an 8-hour night once
the file is read. The signal core needs only a Butterworth band-pass and a notch design, the initial states of a
cascade of second-order sections, a median-averaged periodogram, order-statistic and moving-average filters, a
Tukey window, local maxima and ``find_peaks``' distance rule. The designs, the periodogram, the window and the
filters are written here in numpy, following scipy's algorithms step by step (tests compare every one with
scipy's public function). The two loops that must run compiled -- the second-order-section recursion and the
peak search -- are scipy's own compiled extension modules, loaded from the installed scipy (pinned in
constraints.txt) without running the ``scipy.signal`` package ``__init__``; when that is not possible (another
scipy layout) they come through the ordinary import, which is slower to start and gives the same numbers.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

__all__ = [
    "butter_bandpass_sos",
    "find_peaks",
    "iirnotch_sos",
    "load_scipy_extension",
    "median_filter",
    "median_periodogram",
    "rank_filter",
    "segment_max",
    "select_by_peak_distance",
    "sosfilt_inplace",
    "sosfilt_zi",
    "tukey",
    "uniform_filter1d",
]


def load_scipy_extension(package: str, name: str) -> ModuleType:
    """The compiled module ``package.name`` of the installed scipy (``"scipy.signal", "_sosfilt"``), loaded from
    its file so the package's Python ``__init__`` does not run. It is registered under its own name, so a later
    ``import scipy.signal`` uses the same module (a compiled module cannot be initialised twice)."""
    full = f"{package}.{name}"
    if full in sys.modules:
        return sys.modules[full]
    try:
        import scipy

        folder = Path(scipy.__file__).parent.joinpath(*package.split(".")[1:])
        files = [folder / f"{name}{suffix}" for suffix in importlib.machinery.EXTENSION_SUFFIXES]
        path = next(f for f in files if f.is_file())
        loader = importlib.machinery.ExtensionFileLoader(full, str(path))
        spec = importlib.util.spec_from_file_location(full, path, loader=loader)
        if spec is None:
            raise ImportError(full)
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        loader.exec_module(module)
        return module
    except (ImportError, OSError, StopIteration):
        sys.modules.pop(full, None)
        return importlib.import_module(full)  # the ordinary way: imports the package first


_sosfilt = load_scipy_extension("scipy.signal", "_sosfilt")._sosfilt
_peaks = load_scipy_extension("scipy.signal", "_peak_finding_utils")


def sosfilt_inplace(sos: NDArray, x: NDArray, zi: NDArray) -> None:
    """Run the cascade ``sos`` ((n, 6), writable, x's dtype) over each row of ``x`` (2-D, C-contiguous) in place,
    starting from the states ``zi`` ((rows, n, 2)), which are updated: scipy's ``sosfilt`` kernel."""
    _sosfilt(sos, x, zi)


def _poly_real(roots: list[complex]) -> NDArray[np.float64]:
    """Coefficients of the monic polynomial with these roots (real when they come in conjugate pairs)."""
    return np.real(np.poly(np.asarray(roots, dtype=complex))).astype(np.float64)


def butter_bandpass_sos(order: int, low_hz: float, high_hz: float, sfreq_hz: float) -> NDArray[np.float64]:
    """Digital Butterworth band-pass ``low_hz``-``high_hz`` of ``order`` as second-order sections: scipy's
    ``butter(order, [low, high], "bandpass", fs=sfreq_hz, output="sos")``, step by step (analog prototype,
    band-pass transform, pre-warped bilinear transform, "nearest" pole-zero pairing with the poles closest to the
    unit circle last and the gain in the first section)."""
    fs = 2.0
    wn = 2.0 * np.asarray([low_hz, high_hz], dtype=np.float64) / float(sfreq_hz)
    warped = 2.0 * fs * np.tan(np.pi * wn / fs)
    m = np.arange(-order + 1, order, 2)
    p = -np.exp(1j * np.pi * m / (2 * order))
    bw, wo = warped[1] - warped[0], np.sqrt(warped[0] * warped[1])
    p_lp = p * bw / 2.0
    root = np.sqrt(p_lp**2 - wo**2)
    p_bp = np.concatenate((p_lp + root, p_lp - root))
    z_bp = np.zeros(order)
    k = bw**order
    fs2 = 2.0 * fs
    z_z = np.append((fs2 + z_bp) / (fs2 - z_bp), -np.ones(p_bp.size - z_bp.size))
    p_z = (fs2 + p_bp) / (fs2 - p_bp)
    k_z = k * np.real(np.prod(fs2 - z_bp) / np.prod(fs2 - p_bp))
    return _pair_sections(np.real(z_z), p_z, float(k_z))


def _pair_sections(zeros: NDArray[np.floating], poles: NDArray[Any], gain: float) -> NDArray[np.float64]:
    """scipy's ``zpk2sos`` (pairing "nearest") for real zeros and poles in complex-conjugate pairs, the case of a
    Butterworth band-pass: one pole pair per section, the pair closest to the unit circle placed last, each with
    the two real zeros nearest to it."""
    tol = 100 * np.finfo(np.float64).eps
    if np.any(np.abs(poles.imag) <= tol * np.abs(poles)):
        raise ValueError("a real pole: not a band-pass design")
    ordered = poles[np.lexsort((np.abs(poles.imag), poles.real))]
    pairs = list(ordered[ordered.imag > 0])  # one pole of each conjugate pair, as scipy's _cplxreal keeps them
    z = list(np.sort(zeros))
    sos = np.zeros((len(pairs), 6))
    for si in range(len(pairs) - 1, -1, -1):
        worst = int(np.argmin([abs(1 - abs(q)) for q in pairs]))
        p1 = pairs.pop(worst)
        chosen = []
        for _ in range(2):
            if z:
                i = int(np.argsort(np.abs(np.asarray(z) - p1), kind="quicksort")[0])
                chosen.append(z.pop(i))
        b = _poly_real(chosen)
        a = _poly_real([p1, np.conj(p1)])
        sos[si, 3 - b.size : 3] = b
        sos[si, 3:] = a
    sos[0, :3] *= gain
    return sos


def iirnotch_sos(f0_hz: float, q: float, sfreq_hz: float) -> NDArray[np.float64]:
    """Second-order IIR notch at ``f0_hz`` with quality factor ``q`` as one section: scipy's ``iirnotch``."""
    w0 = 2.0 * f0_hz / sfreq_hz
    bw = w0 / q * np.pi
    w0 *= np.pi
    gb = 1.0 / np.sqrt(2.0)
    beta = (np.sqrt(1.0 - gb**2.0) / gb) * np.tan(bw / 2.0)
    gain = 1.0 / (1.0 + beta)
    b = gain * np.array([1.0, -2.0 * np.cos(w0), 1.0])
    a = np.array([1.0, -2.0 * gain * np.cos(w0), 2.0 * gain - 1.0])
    return np.concatenate((b, a))[None, :]


def sosfilt_zi(sos: NDArray) -> NDArray[np.floating]:
    """Steady-state section states for a unit step: scipy's ``sosfilt_zi`` (``lfilter_zi`` per section, scaled
    by the DC gain of the sections before it), in the cascade's own float type."""
    sos = np.asarray(sos)
    dtype = sos.dtype if np.issubdtype(sos.dtype, np.floating) else np.dtype(np.float64)
    zi = np.empty((sos.shape[0], 2), dtype=dtype)
    scale = 1.0
    for i, row in enumerate(sos.astype(dtype, copy=False)):
        b, a = row[:3], row[3:]
        if a[0] != 1.0:
            b, a = b / a[0], a / a[0]
        i_minus_a = (np.eye(2) - np.array([[-a[1], 1.0], [-a[2], 0.0]], dtype=dtype)).astype(dtype)
        zi[i] = scale * np.linalg.solve(i_minus_a, b[1:] - a[1:] * b[0])
        scale *= b.sum() / a.sum()
    return zi


def median_periodogram(x: NDArray, sfreq_hz: float, nperseg: int) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
    """Welch's power spectral density with the median of the periodograms: scipy's ``welch(x, fs, nperseg=...,
    average="median")`` (periodic Hann window, half overlap, constant detrend, one-sided density)."""
    x = np.asarray(x, dtype=np.float64)
    nperseg = min(nperseg, x.size)
    step = nperseg - nperseg // 2
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(nperseg) / nperseg)
    starts = np.arange(0, x.size - nperseg + 1, step)
    segs = sliding_window_view(x, nperseg)[starts]
    segs = (segs - segs.mean(axis=1, keepdims=True)) * window
    power = np.abs(np.fft.rfft(segs, axis=1)) ** 2 / (sfreq_hz * float((window * window).sum()))
    power[:, 1 : -1 if nperseg % 2 == 0 else None] *= 2.0
    half = 2 * np.arange(1, (starts.size - 1) // 2 + 1)
    bias = 1.0 + float(np.sum(1.0 / (half + 1) - 1.0 / half))
    return np.fft.rfftfreq(nperseg, 1.0 / sfreq_hz), np.median(power, axis=0) / bias


def rank_filter(x: NDArray, rank: int, size: int) -> NDArray:
    """Order statistic ``rank`` (0 = smallest) of every window of ``size`` samples, edges padded with the end
    values: ``ndimage.rank_filter(x, rank, size=size, mode="nearest")`` for 1-D ``x`` without NaN (the window
    of sample i starts ``size // 2`` samples before it). Memory: ``size`` x the input; meant for short series."""
    x = np.asarray(x)
    if x.size == 0:
        return x.copy()
    padded = np.concatenate((np.full(size // 2, x[0]), x, np.full(size - 1 - size // 2, x[-1])))
    return np.partition(sliding_window_view(padded, size), rank, axis=1)[:, rank].astype(x.dtype, copy=False)


def median_filter(x: NDArray, size: int) -> NDArray:
    """``ndimage.median_filter(x, size=size, mode="nearest")`` for 1-D ``x`` without NaN."""
    return rank_filter(x, size // 2, size)


def uniform_filter1d(x: NDArray, size: int) -> NDArray[np.float64]:
    """Moving average over ``size`` samples with zeros beyond the ends: ``ndimage.uniform_filter1d(x, size,
    mode="constant")`` (the window of sample i starts ``size // 2`` samples before it)."""
    x = np.asarray(x, dtype=np.float64)
    padded = np.concatenate((np.zeros(size // 2 + 1), x, np.zeros(size - 1 - size // 2)))
    total = np.cumsum(padded)
    return (total[size:] - total[:-size]) / size


def tukey(m: int, alpha: float) -> NDArray[np.float64]:
    """Symmetric Tukey (tapered cosine) window of ``m`` samples: scipy's ``windows.tukey(m, alpha)``."""
    if m <= 1:
        return np.ones(max(m, 0))
    if alpha <= 0:
        return np.ones(m)
    if alpha >= 1.0:
        return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(m) / (m - 1))
    n = np.arange(m)
    width = int(np.floor(alpha * (m - 1) / 2.0))
    n1, n2, n3 = n[: width + 1], n[width + 1 : m - width - 1], n[m - width - 1 :]
    w1 = 0.5 * (1 + np.cos(np.pi * (-1 + 2.0 * n1 / alpha / (m - 1))))
    w3 = 0.5 * (1 + np.cos(np.pi * (-2.0 / alpha + 1 + 2.0 * n3 / alpha / (m - 1))))
    return np.concatenate((w1, np.ones(n2.shape), w3))


def find_peaks(x: NDArray, height: float | np.floating) -> tuple[NDArray[np.intp], NDArray]:
    """Local maxima of 1-D ``x`` (the middle of a flat top) at or above ``height`` and their values: scipy's
    ``find_peaks(x, height=height)`` with its compiled maxima search."""
    data = np.ascontiguousarray(x, dtype=np.float64)
    peaks = _peaks._local_maxima_1d(data)[0]
    values = data[peaks]
    keep = values >= height
    return peaks[keep], np.asarray(x)[peaks[keep]]


def select_by_peak_distance(peaks: NDArray, heights: NDArray, distance: float) -> NDArray[np.bool_]:
    """Which of the sorted ``peaks`` survive ``find_peaks``' distance rule (the higher one wins), scipy's kernel."""
    return np.asarray(
        _peaks._select_by_peak_distance(
            np.asarray(peaks, dtype=np.intp), np.asarray(heights, dtype=np.float64), np.float64(distance)
        ),
        dtype=bool,
    )


def segment_max(
    values: NDArray[Any], starts: NDArray[np.integer], ends: NDArray[np.integer], ufunc: Any = np.maximum
) -> NDArray[Any]:
    """``values[a:b].max()`` for every segment ``a, b`` of ``starts``, ``ends`` (each 0 <= a < b <= values.size), in
    one ``np.maximum.reduceat`` call instead of a Python loop: exactly the same numbers (a maximum does not round).
    Segments may overlap or come in any order: reduceat reduces each ``idx[2k]:idx[2k + 1]`` on its own.
    ``ufunc=np.minimum`` gives the minima."""
    starts = np.asarray(starts, dtype=np.int64).reshape(-1)
    ends = np.asarray(ends, dtype=np.int64).reshape(-1)
    if starts.size == 0:
        return np.zeros(0, dtype=values.dtype)
    idx = np.empty(2 * starts.size, dtype=np.int64)
    idx[0::2], idx[1::2] = starts, ends
    tail = ends == values.size  # reduceat takes indices < size: such a segment runs to the end by itself ...
    if tail.any():
        idx[1::2][tail] = starts[tail]  # ... when its end index is dropped; a repeated index yields values[start]
        out = ufunc.reduceat(values, idx)[0::2]
        out[tail] = [ufunc.reduce(values[a:]) for a in starts[tail]]
        return out
    return ufunc.reduceat(values, idx)[0::2]

"""cds.detect._kernels against scipy's public functions: same designs, same filters, same peaks (issue 13).

The kernels exist so that scoring a night never imports scipy.signal / scipy.ndimage (0.5-1.7 s of imports on a
2-core machine); these tests fail if a scipy upgrade changes a behaviour the numpy versions copy."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage, signal

from cds.detect import _kernels as k


@pytest.mark.parametrize("sfreq_hz", [128.0, 200.0, 256.0, 500.0, 512.0, 1000.0])
def test_butterworth_band_pass_is_scipys(sfreq_hz: float) -> None:
    high = min(100.0, 0.9 * sfreq_hz / 2)
    ours = k.butter_bandpass_sos(4, 10.0, high, sfreq_hz)
    theirs = signal.butter(4, [10.0, high], btype="bandpass", fs=sfreq_hz, output="sos")
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)
    assert np.array_equal(ours.astype(np.float32), theirs.astype(np.float32))


@pytest.mark.parametrize(("f0", "sfreq_hz"), [(50.0, 256.0), (60.0, 200.0), (100.0, 512.0), (120.0, 1000.0)])
def test_notch_is_scipys(f0: float, sfreq_hz: float) -> None:
    theirs = signal.tf2sos(*signal.iirnotch(f0, 10.0, fs=sfreq_hz))
    np.testing.assert_allclose(k.iirnotch_sos(f0, 10.0, sfreq_hz), theirs, rtol=1e-12, atol=1e-14)


def test_section_states_are_scipys_in_float32() -> None:
    sos = np.vstack(
        [signal.butter(4, [10, 100], "bandpass", fs=256, output="sos"), signal.tf2sos(*signal.iirnotch(50, 10, fs=256))]
    ).astype(np.float32)
    ours = k.sosfilt_zi(sos)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, signal.sosfilt_zi(sos), rtol=2e-5, atol=1e-6)


def test_in_place_filter_is_sosfilt() -> None:
    x = np.random.default_rng(0).standard_normal(5000).astype(np.float32)
    sos = signal.butter(4, [10, 100], "bandpass", fs=256, output="sos").astype(np.float32)
    zi = np.zeros((1, sos.shape[0], 2), dtype=np.float32)
    buf = x.copy().reshape(1, -1)
    k.sosfilt_inplace(sos.copy(), buf, zi)
    np.testing.assert_allclose(buf[0], signal.sosfilt(sos, x), rtol=1e-4, atol=1e-5)


def test_median_periodogram_is_welch_median() -> None:
    x = np.random.default_rng(1).standard_normal(60 * 256) + np.sin(2 * np.pi * 50 * np.arange(60 * 256) / 256)
    freqs, power = k.median_periodogram(x, 256.0, 512)
    f2, p2 = signal.welch(x, fs=256.0, nperseg=512, average="median")
    assert np.array_equal(freqs, f2)
    np.testing.assert_allclose(power, p2, rtol=1e-9)


@pytest.mark.parametrize("size", [1, 3, 6, 9, 13, 31])
def test_rank_and_median_filters_are_ndimages(size: int) -> None:
    y = np.random.default_rng(2).standard_normal(3001)
    assert np.array_equal(k.median_filter(y, size), ndimage.median_filter(y, size=size, mode="nearest"))
    rank = size // 3
    assert np.array_equal(k.rank_filter(y, rank, size), ndimage.rank_filter(y, rank, size=size, mode="nearest"))
    assert k.median_filter(np.zeros(0), size).size == 0


@pytest.mark.parametrize("size", [1, 2, 5, 30, 31])
def test_moving_average_is_uniform_filter1d(size: int) -> None:
    y = np.random.default_rng(3).standard_normal(500)
    np.testing.assert_allclose(
        k.uniform_filter1d(y, size), ndimage.uniform_filter1d(y, size, mode="constant"), atol=1e-12
    )


@pytest.mark.parametrize(("m", "alpha"), [(20, 0.5), (21, 0.25), (5, 1.0), (10, 0.0), (1, 0.5)])
def test_tukey_is_scipys(m: int, alpha: float) -> None:
    np.testing.assert_allclose(k.tukey(m, alpha), signal.windows.tukey(m, alpha), atol=1e-15)


def test_peaks_and_distance_rule_are_find_peaks() -> None:
    z = np.abs(np.random.default_rng(4).standard_normal(20000)).astype(np.float32)
    z[100:104] = 5.0  # a flat top: its middle sample
    peaks, heights = k.find_peaks(z, 1.0)
    theirs, props = signal.find_peaks(z, height=1.0)
    assert np.array_equal(peaks, theirs) and np.array_equal(heights, props["peak_heights"])
    assert 101 in peaks
    keep = k.select_by_peak_distance(peaks, heights, 7)
    assert np.array_equal(peaks[keep], signal.find_peaks(z, height=1.0, distance=7)[0])


def test_scoring_a_night_imports_no_scipy_package() -> None:
    """Importing the analysis (and the CLI) leaves scipy.signal, scipy.ndimage and scipy.stats unimported; the
    compiled kernels are loaded under their own names, so a later ``import scipy.signal`` still works."""
    code = (
        "import sys, cds.analysis, cds.cli\n"
        "bad = [m for m in ('scipy.signal', 'scipy.ndimage', 'scipy.stats', 'scipy.optimize') if m in sys.modules]\n"
        "print(','.join(bad) or 'none')\n"
        "import scipy.signal\n"
        "print(scipy.signal.sosfilt_zi(scipy.signal.butter(2, 0.3, output='sos')).shape)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["none", "(1,", "2)"]


def test_segment_max_equals_the_loop_it_replaces():
    """Maxima and minima of segments in any order, overlapping, one reaching the end of the array: exactly the
    values of ``values[a:b].max()`` per segment (the bursts', LMs' and RSWA mini-epochs' peaks)."""
    from cds.detect._kernels import segment_max

    rng = np.random.default_rng(7)
    values = rng.standard_normal(5000).astype(np.float32)
    starts = rng.integers(0, 4999, 400)
    ends = np.minimum(starts + rng.integers(1, 80, 400), values.size)
    ends[[3, 50]] = values.size
    assert np.array_equal(
        segment_max(values, starts, ends), [values[a:b].max() for a, b in zip(starts, ends, strict=True)]
    )
    assert np.array_equal(
        segment_max(values, starts, ends, np.minimum), [values[a:b].min() for a, b in zip(starts, ends, strict=True)]
    )
    assert segment_max(values, np.zeros(0, int), np.zeros(0, int)).size == 0

"""Preprocessing: band edge below Nyquist, notch only when hum is present, envelope and resting level."""

from __future__ import annotations

import numpy as np
import pytest

from cds.analysis import analyze_recording
from cds.detect.ecg import cancel_ecg
from cds.detect.legmovements import detect_leg_movements_filtered
from cds.detect.preprocess import compute_envelope, compute_resting_level, filter_emg, find_mains_notches
from cds.standards import load_standard
from cds.synth.config import SynthConfig
from cds.synth.generate import write_synthetic_psg

AASM = load_standard("aasm")
RULES = AASM.signal


def _production_path(emg_uv, sfreq_hz, *, side, standard):
    """One leg scored by the calls cds.analysis makes (filter, ECG cancellation, envelope, detection)."""
    filtered = cancel_ecg({side: filter_emg(np.asarray(emg_uv), float(sfreq_hz), standard.signal)})[0][side]
    return detect_leg_movements_filtered(
        filtered, side=side, standard=standard, envelope=compute_envelope(filtered, standard.signal)
    )


@pytest.mark.parametrize(
    ("sfreq", "high", "clipped"), [(512, 100.0, False), (256, 100.0, False), (200, 90.0, True), (128, 57.6, True)]
)
def test_upper_band_edge_is_kept_below_nyquist(sfreq, high, clipped):
    f = filter_emg(np.random.default_rng(0).standard_normal(20 * sfreq), sfreq, RULES)
    assert f.band_hz == (10.0, pytest.approx(high)) and f.band_clipped is clipped
    assert f.data_uv.dtype == np.float32


def test_notch_only_where_hum_stands_out():
    fs, rng = 256, np.random.default_rng(1)
    t = np.arange(60 * fs) / fs
    quiet = rng.standard_normal(t.size) * 2
    assert filter_emg(quiet, fs, RULES).notch_hz == ()
    assert filter_emg(quiet + 10 * np.sin(2 * np.pi * 60 * t), fs, RULES).notch_hz == (60.0,)


@pytest.mark.parametrize("where", ["first", "last"])
def test_hum_in_part_of_the_night_is_notched(where):
    """Hum confined to the first or last third of a 30-min signal (missed by a middle-only search) is notched."""
    fs, rng = 256, np.random.default_rng(3)
    n = 30 * 60 * fs
    x = rng.standard_normal(n) * 2
    span = slice(0, n // 3) if where == "first" else slice(2 * n // 3, n)
    t = np.arange(n) / fs
    x[span] += 30 * np.sin(2 * np.pi * 50 * t[span])
    f = filter_emg(x, fs, RULES)
    assert f.notch_hz == (50.0,)
    assert float(np.sqrt(np.mean(f.data_uv[span].astype(np.float64) ** 2))) < 4.0  # hum gone, noise left


def test_second_harmonic_is_notched_when_it_stands_out():
    fs, rng = 512, np.random.default_rng(4)
    t = np.arange(120 * fs) / fs
    quiet = rng.standard_normal(t.size) * 2
    hum = 40 * np.sin(2 * np.pi * 60 * t)
    assert filter_emg(quiet + hum, fs, RULES).notch_hz == (60.0,)
    assert filter_emg(quiet + hum + 10 * np.sin(2 * np.pi * 120 * t), fs, RULES).notch_hz == (60.0, 120.0)
    assert find_mains_notches(quiet + hum + 10 * np.sin(2 * np.pi * 120 * t), fs, RULES) == (60.0, 120.0)


def test_resting_level_is_not_inflated_by_movements():
    fs, rng = 256, np.random.default_rng(2)
    x = rng.standard_normal(300 * fs) * 3
    for o in range(5, 295, 15):  # a 3-s movement every 15 s: 20% of the time
        x[o * fs : (o + 3) * fs] += 60 * rng.standard_normal(3 * fs)
    env = compute_envelope(filter_emg(x, fs, RULES), RULES)
    quiet = compute_envelope(filter_emg(rng.standard_normal(300 * fs) * 3, fs, RULES), RULES)
    moving = float(np.median(compute_resting_level(env, RULES, exclude=env.values_uv > 20)))
    assert moving == pytest.approx(float(np.median(quiet.values_uv)), rel=0.25)


def test_low_sampling_rate_night_is_scored_with_caveats(tmp_path):
    path = tmp_path / "128.edf"
    write_synthetic_psg(path, SynthConfig.preset("sparse").replace(hours=0.2, sfreq_hz=128), seed=1)
    codes = {c["code"] for c in analyze_recording(path).to_dict()["caveats"]}
    assert {"low_sampling_rate", "band_edge_at_nyquist"} <= codes


@pytest.mark.parametrize("sfreq", [200, 256, 500, 512])
def test_envelope_reads_the_rms_of_steady_emg(sfreq):
    """The 8 µV and 2 µV rules apply to an RMS-equivalent envelope: band-passed noise of any level reads its own
    RMS (the robust percentile alone reads about 0.7 x RMS); the scale is the same on every call."""
    rng = np.random.default_rng(sfreq)
    for rms_in in (1.5, 6.0, 30.0):
        x = rng.standard_normal(120 * sfreq) * rms_in
        filtered = filter_emg(x, sfreq, AASM.signal)
        core = filtered.data_uv[sfreq:-sfreq].astype(np.float64)
        rms = float(np.sqrt(np.mean(core * core)))
        env = compute_envelope(filtered, AASM.signal).values_uv
        assert float(np.median(env)) == pytest.approx(rms, rel=0.03)
    assert "RMS-equivalent" in _production_path(x, sfreq, side="left", standard=AASM).parameters["envelope"]


def test_eight_microvolt_rule_reads_rms_above_rest():
    """A burst whose band-passed RMS rises 10 µV above a 2 µV RMS rest is an LM; one that rises 5 µV is not."""
    fs, rng = 256, np.random.default_rng(11)
    x = rng.standard_normal(200 * fs) * 2.0
    for onset, target in ((50.0, 12.0), (120.0, 7.0)):  # band-passed RMS of the burst plus rest
        burst = rng.standard_normal(2 * fs)
        burst *= np.sqrt(target**2 - 2.0**2) / np.std(filter_emg(np.tile(burst, 5), fs, RULES).data_uv)
        x[int(onset * fs) : int(onset * fs) + 2 * fs] += burst
    lm = _production_path(x, fs, side="left", standard=AASM)
    assert lm.onset_s.round(0).tolist() == [50.0]


@pytest.mark.parametrize(
    ("n", "sfreq", "bin_s"),
    [(0, 256.0, 0.02), (7, 256.0, 0.02), (40_001, 256.0, 0.02), (100_000, 200.0, 0.5), (123_457, 512.0, 0.0125)],
)
def test_binned_rectified_mean_is_the_per_bin_mean_of_absolute_values(n, sfreq, bin_s):
    """The bins are read block by block (a night's samples leave memory once): each bin is still |x| summed over its
    samples in order, in float32, divided by its width; samples after the last whole bin are left out."""
    from cds.detect.preprocess import _bin_rectified

    x = np.random.default_rng(n).normal(0.0, 20.0, n).astype(np.float32)
    width = max(1, round(bin_s * sfreq))
    bins, step_s = _bin_rectified(x, sfreq, bin_s)
    whole = np.abs(x[: n // width * width]).reshape(-1, width)
    expected = np.zeros(whole.shape[0], dtype=np.float32)
    for k in range(width):  # float32, sample by sample, as the definition reads
        expected += whole[:, k]
    expected /= np.float32(width)
    assert step_s == width / sfreq
    np.testing.assert_array_equal(bins, expected)

"""ECG beat finding and template cancellation (cds.detect.ecg) on channels with beats planted at known times."""

from __future__ import annotations

import numpy as np
import pytest

from cds.detect.ecg import EcgBeats, cancel_ecg, find_ecg_beats, remove_ecg
from cds.detect.preprocess import filter_emg
from cds.io.channels import ChannelRole
from cds.io.edf import read_recording
from cds.standards import load_standard
from cds.synth.evaluate import match_events

FS = 256
GAINS = (0.8, 1.0, 1.5)  # left leg, right leg, chin: the ECG reaches every electrode at once


def _qrs(shape: str, qrs_s: float) -> np.ndarray:
    """A unit beat: P-QRS-T waves (as cds.synth's "pqrst") or a biphasic spike."""
    if shape == "biphasic":
        t = np.arange(-0.06, 0.06, 1 / FS)
        return -t / 0.012 * np.exp(0.5 - 0.5 * (t / 0.012) ** 2)
    t = np.arange(-0.3, 0.45, 1 / FS)

    def wave(a: float, centre: float, sd: float) -> np.ndarray:
        return a * np.exp(-0.5 * ((t - centre) / sd) ** 2)

    w = qrs_s
    return (
        wave(0.12, -0.17, 0.025)
        + wave(-0.15, -0.28 * w, 0.07 * w)
        + wave(1.0, 0.0, 0.11 * w)
        + wave(-0.35, 0.3 * w, 0.09 * w)
        + wave(0.3, 0.28, 0.05)
    )


def _night(
    seconds: float = 600.0,
    *,
    ecg_uv: float = 0.0,
    bpm: tuple[float, float] = (55.0, 90.0),
    shape: str = "pqrst",
    qrs_s: float = 0.09,
    lms: list[tuple[float, float, float]] = (),
    seed: int = 0,
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Raw µV channels (left leg, right leg, chin) with ECG, their ECG-free twins and the planted R-peak times.
    ``lms``: (onset_s, duration_s, RMS µV) noise bursts in both legs."""
    rng = np.random.default_rng(seed)
    n = int(seconds * FS)
    clean = [rng.standard_normal(n) * level for level in (2.0, 2.0, 3.0)]
    for onset, duration, amp in lms:
        a, m = int(onset * FS), int(duration * FS)
        for x in clean[:2]:
            x[a : a + m] += amp * rng.standard_normal(m)
    r_peaks = np.cumsum(rng.uniform(60.0 / bpm[1], 60.0 / bpm[0], size=int(seconds * bpm[1] / 60) + 2))
    r_peaks = r_peaks[(r_peaks > 1.0) & (r_peaks < seconds - 1.0)]
    train = np.zeros(n)
    train[np.round(r_peaks * FS).astype(int)] = 1.0 + 0.15 * np.sin(2 * np.pi * r_peaks / 4.0)  # breathing
    zero = round((0.06 if shape == "biphasic" else 0.3) * FS)  # kernel sample at t = 0 (the R peak)
    ecg = np.convolve(train, _qrs(shape, qrs_s))[zero : zero + n] * ecg_uv
    return [x + g * ecg for x, g in zip(clean, GAINS, strict=True)], clean, r_peaks


def _filtered(raw: list[np.ndarray]) -> list[np.ndarray]:
    rules = load_standard("aasm").signal
    return [filter_emg(x, FS, rules).data_uv for x in raw]


@pytest.mark.parametrize(
    ("ecg_uv", "bpm", "shape", "qrs_s"),
    [
        (150.0, (50.0, 120.0), "pqrst", 0.09),
        (200.0, (100.0, 120.0), "pqrst", 0.09),
        (120.0, (50.0, 70.0), "pqrst", 0.15),
        (60.0, (60.0, 86.0), "biphasic", 0.09),
        (25.0, (60.0, 86.0), "biphasic", 0.09),
    ],
)
def test_planted_beats_are_found_at_their_times(ecg_uv, bpm, shape, qrs_s):
    raw, _, r_peaks = _night(ecg_uv=ecg_uv, bpm=bpm, shape=shape, qrs_s=qrs_s, lms=[(100.0, 3.0, 80.0)])
    beats = find_ecg_beats(_filtered(raw[:2]), FS)
    m = match_events(r_peaks, beats.r_peak_s, tolerance_s=0.03)
    assert m.sensitivity >= 0.97
    assert m.ppv >= 0.99
    assert beats.heart_rate_bpm == pytest.approx(60.0 / np.median(np.diff(r_peaks)), rel=0.1)


def test_no_beats_without_ecg_even_with_leg_movements():
    lms = [(t, 1.5, 60.0) for t in np.arange(20.0, 580.0, 8.0)]  # a PLM night at its densest
    raw, _, _ = _night(ecg_uv=0.0, lms=lms)
    assert len(find_ecg_beats(_filtered(raw), FS)) == 0
    assert len(find_ecg_beats(_filtered(raw[:2]), FS)) == 0


def test_a_rhythmic_train_of_unlike_bursts_is_not_ecg():
    """Regular timing alone is not enough: brief noise bursts every 0.9 s do not repeat a waveform."""
    raw, _, _ = _night(ecg_uv=0.0, lms=[(t, 0.08, 60.0) for t in np.arange(5.0, 595.0, 0.9)])
    assert len(find_ecg_beats(_filtered(raw[:2]), FS)) == 0


@pytest.mark.parametrize(
    ("preset", "changes"),
    [
        ("periodic", {}),
        ("sparse", {}),
        ("periodic", {"imi_s": (5.0, 12.0), "series_per_h": 10.0, "lm_amplitude_uv": (100.0, 400.0)}),
    ],
)
def test_no_beats_on_synthetic_nights_without_ecg(synth_night, preset, changes):
    path, _ = synth_night(preset, 3, hours=0.5, **changes)
    rec = read_recording(path)
    rules = load_standard("aasm").signal
    legs = [
        filter_emg(rec.signals[r].data_uv, rec.signals[r].sfreq_hz, rules).data_uv
        for r in (ChannelRole.LEFT_LEG, ChannelRole.RIGHT_LEG)
    ]
    assert len(find_ecg_beats(legs, rec.signals[ChannelRole.LEFT_LEG].sfreq_hz)) == 0


def test_empty_and_short_inputs_give_no_beats_and_removal_changes_nothing():
    assert len(find_ecg_beats([], FS)) == 0
    assert len(find_ecg_beats([np.zeros(FS)], FS)) == 0
    x = np.random.default_rng(0).standard_normal(10 * FS).astype(np.float32)
    out = remove_ecg(x, FS, EcgBeats(np.zeros(0)))
    assert out is not x
    np.testing.assert_array_equal(out, x)
    cleaned, beats, caveats = cancel_ecg({})
    assert (cleaned, len(beats), caveats) == ({}, 0, [])


@pytest.mark.parametrize(("ecg_uv", "bpm"), [(150.0, (50.0, 120.0)), (200.0, (100.0, 120.0))])
def test_residual_ecg_after_removal_is_small_and_leg_movements_survive(ecg_uv, bpm):
    lms = [
        (t, d, a)
        for t, d, a in zip(
            np.arange(30.0, 570.0, 25.0),
            np.tile([0.6, 1.5, 4.0], 8),
            np.tile([15.0, 40.0, 150.0, 300.0], 6),
            strict=False,
        )
    ]
    raw, clean, _ = _night(ecg_uv=ecg_uv, bpm=bpm, lms=lms, seed=4)
    noisy, truth = _filtered(raw[:2]), _filtered(clean[:2])
    beats = find_ecg_beats(noisy, FS)
    outside = np.ones(noisy[0].size, dtype=bool)
    for onset, duration, _ in lms:
        outside[int((onset - 0.5) * FS) : int((onset + duration + 0.5) * FS)] = False
    for x, x0 in zip(noisy, truth, strict=True):
        cleaned = remove_ecg(x, FS, beats)
        ecg_rms = np.sqrt(np.mean((x - x0)[outside] ** 2))
        assert np.sqrt(np.mean((cleaned - x0)[outside] ** 2)) < 0.2 * ecg_rms  # >= 80% of the ECG (RMS) removed
        for onset, duration, _ in lms:
            a, b = int(onset * FS), int((onset + duration) * FS)
            ratio = np.sqrt(np.mean(cleaned[a:b] ** 2)) / np.sqrt(np.mean(x0[a:b] ** 2))
            assert ratio == pytest.approx(1.0, abs=0.1), (onset, duration)


def test_cancel_ecg_cleans_every_channel_and_says_so():
    from cds.detect.preprocess import FilteredEmg

    raw, clean, r_peaks = _night(ecg_uv=100.0)
    roles = ("left_leg", "right_leg", "chin")
    chans = {role: FilteredEmg(x, FS, (10.0, 100.0), False, ()) for role, x in zip(roles, _filtered(raw), strict=True)}
    cleaned, beats, caveats = cancel_ecg(chans)
    assert match_events(r_peaks, beats.r_peak_s, tolerance_s=0.03).sensitivity >= 0.97
    assert [c.code for c in caveats] == ["ecg_artefact_removed"]
    for role, x0 in zip(("left_leg", "right_leg", "chin"), _filtered(clean), strict=True):
        assert cleaned[role].band_hz == (10.0, 100.0)
        before = np.sqrt(np.mean((chans[role].data_uv - x0) ** 2))
        assert np.sqrt(np.mean((cleaned[role].data_uv - x0) ** 2)) < 0.2 * before
    quiet = {"left_leg": FilteredEmg(_filtered(clean[:1])[0], FS, (10.0, 100.0), False, ())}
    unchanged, none, no_caveats = cancel_ecg(quiet)
    assert unchanged["left_leg"] is quiet["left_leg"]
    assert len(none) == 0 and no_caveats == []


def _planted_channels(sfreq_hz: float, seconds: float = 300.0, seed: int = 1) -> list[np.ndarray]:
    """Two noisy channels at ``sfreq_hz`` with a PQRST train (60-100 bpm) and a few bursts."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sfreq_hz)
    r_peaks = np.cumsum(rng.uniform(0.6, 1.0, size=int(seconds) + 2))
    r_peaks = r_peaks[(r_peaks > 1.0) & (r_peaks < seconds - 1.0)]
    t = np.arange(-0.1, 0.1, 1 / sfreq_hz)
    beat = np.exp(-0.5 * (t / 0.01) ** 2) - 0.3 * np.exp(-0.5 * ((t - 0.03) / 0.01) ** 2)
    train = np.zeros(n)
    train[np.round(r_peaks * sfreq_hz).astype(int)] = 100.0
    ecg = np.convolve(train, beat)[len(t) // 2 : len(t) // 2 + n]
    chans = [rng.standard_normal(n) * 3.0 + g * ecg for g in (0.8, 1.2)]
    for onset in (50.0, 120.0, 200.0):
        a = int(onset * sfreq_hz)
        chans[0][a : a + int(2 * sfreq_hz)] += 60.0 * rng.standard_normal(int(2 * sfreq_hz))
    return [c.astype(np.float32) for c in chans]


@pytest.mark.parametrize("sfreq_hz", [200.0, 256.0, 512.0])
def test_chunked_energy_and_peak_search_equal_the_whole_night_computation(monkeypatch, sfreq_hz):
    """The QRS energy is summed and smoothed chunk by chunk and its peaks are searched between cuts below the
    threshold; both must give exactly what uniform_filter1d and find_peaks give on the whole night."""
    from scipy import ndimage, signal

    import cds.detect.ecg as ecg

    chans = _planted_channels(sfreq_hz)
    monkeypatch.setattr(ecg, "_CHUNK", 997)  # many chunks, cut anywhere
    energy = ecg._qrs_energy(chans, sfreq_hz)
    summed = np.zeros(chans[0].size, dtype=np.float32)
    for c in chans:
        mad = float(np.median(np.abs(c[:: max(1, c.size // 200_000)]))) / 0.6745
        summed += np.square(c / np.float32(mad))
    width = max(1, round(ecg.QRS_SMOOTH_S * sfreq_hz))
    np.testing.assert_array_equal(energy, ndimage.uniform_filter1d(summed, width, mode="nearest"))
    distance = round(ecg.CANDIDATE_SEPARATION_S * sfreq_hz)
    for lowest in np.float32([1.0, 20.0, np.median(energy) * 6, energy.max() / 2]):
        expected = signal.find_peaks(energy, height=lowest, distance=distance)[0]
        np.testing.assert_array_equal(ecg._peaks_at_or_above(energy, lowest, distance), expected)
    plateaus = np.repeat(np.random.default_rng(2).integers(0, 5, 4000), 3).astype(np.float32)  # ties and plateaus
    for lowest in np.float32([0.0, 2.0, 4.0]):
        expected = signal.find_peaks(plateaus, height=lowest, distance=7)[0]
        np.testing.assert_array_equal(ecg._peaks_at_or_above(plateaus, lowest, 7), expected)


def test_fast_heart_overlapping_templates_are_removed_the_same_in_any_grouping(monkeypatch):
    """At 140-170 bpm consecutive 0.5-s templates overlap; the shared samples must lose both beats' templates
    (ECG mostly gone), whatever the groups of beats the subtraction is worked through in."""
    import cds.detect.ecg as ecg

    raw, clean, r_peaks = _night(ecg_uv=150.0, bpm=(140.0, 170.0), seed=5)
    noisy, truth = _filtered(raw[:1])[0], _filtered(clean[:1])[0]
    beats = EcgBeats(r_peaks)
    assert (np.diff(r_peaks) < ecg.TEMPLATE_PRE_S + ecg.TEMPLATE_POST_S).mean() > 0.9
    cleaned = remove_ecg(noisy, FS, beats)
    assert np.sqrt(np.mean((cleaned - truth) ** 2)) < 0.2 * np.sqrt(np.mean((noisy - truth) ** 2))
    for group in (1, 7):
        monkeypatch.setattr(ecg, "_GROUP_BEATS", group)
        np.testing.assert_array_equal(remove_ecg(noisy, FS, beats), cleaned)


def test_shared_samples_of_overlapping_windows_get_both_beats_templates():
    """Rows written one after the other must leave, in samples two windows share, the sum of both rows (as a sum
    over all beats in float64 gives), and each row itself elsewhere."""
    import cds.detect.ecg as ecg

    rng = np.random.default_rng(3)
    window = 128
    starts = 10 + np.cumsum(rng.integers(64, 200, size=300))  # some windows overlap their neighbour, none three
    fitted = rng.standard_normal((starts.size, window)).astype(np.float32)
    expected = np.zeros(starts[-1] + window + 10)
    np.add.at(expected, (starts[:, None] + np.arange(window)[None, :]).ravel(), fitted.ravel().astype(np.float64))
    rows = ecg._overlaps_summed(fitted, np.diff(starts))
    written = np.zeros(expected.size, dtype=np.float32)
    for start, row in zip(starts, rows, strict=True):
        written[start : start + window] = row
    np.testing.assert_array_equal(written, expected.astype(np.float32))
    assert (np.diff(starts) < window).sum() > 50

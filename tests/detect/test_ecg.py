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
    return (wave(0.12, -0.17, 0.025) + wave(-0.15, -0.28 * w, 0.07 * w) + wave(1.0, 0.0, 0.11 * w)
            + wave(-0.35, 0.3 * w, 0.09 * w) + wave(0.3, 0.28, 0.05))  # fmt: skip


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


@pytest.mark.parametrize(("preset", "changes"), [("periodic", {}), ("sparse", {}), ("periodic", {"imi_s": (5.0, 12.0),
                         "series_per_h": 10.0, "lm_amplitude_uv": (100.0, 400.0)})])  # fmt: skip
def test_no_beats_on_synthetic_nights_without_ecg(synth_night, preset, changes):
    path, _ = synth_night(preset, 3, hours=0.5, **changes)
    rec = read_recording(path)
    rules = load_standard("aasm").signal
    legs = [filter_emg(rec.signals[r].data_uv, rec.signals[r].sfreq_hz, rules).data_uv
            for r in (ChannelRole.LEFT_LEG, ChannelRole.RIGHT_LEG)]  # fmt: skip
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
    lms = [(t, d, a) for t, d, a in zip(np.arange(30.0, 570.0, 25.0), np.tile([0.6, 1.5, 4.0], 8),
                                        np.tile([15.0, 40.0, 150.0, 300.0], 6), strict=False)]  # fmt: skip
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

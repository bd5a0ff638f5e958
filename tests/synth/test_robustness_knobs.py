"""Robustness knobs of the generator: defaults leave the older nights unchanged; each knob does what it says."""

from __future__ import annotations

import numpy as np
import pytest

from cds.io.channels import ChannelRole
from cds.io.edf import read_recording
from cds.synth.config import SynthConfig
from cds.synth.generate import write_synthetic_psg


def test_default_knobs_leave_truth_json_and_file_unchanged(tmp_path):
    base = SynthConfig.preset("sparse").replace(hours=0.1)
    explicit = base.replace(
        lm_shape="flat",
        resting_wander=0.0,
        ecg_bpm=None,
        hum_span=(0.0, 1.0),
        pop_shape="burst",
        pop_uv=(80.0, 200.0),
        fm_uv=(50.0, 120.0),
    )
    a = write_synthetic_psg(tmp_path / "a.edf", base, seed=4)
    write_synthetic_psg(tmp_path / "b.edf", explicit, seed=4)
    assert (tmp_path / "a.edf").read_bytes() == (tmp_path / "b.edf").read_bytes()
    assert "lm_shape" not in a.to_dict()["config"]
    assert (
        "lm_shape"
        in write_synthetic_psg(tmp_path / "c.edf", base.replace(lm_shape="clonic"), seed=4).to_dict()["config"]
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"lm_shape": "waxing"},
        {"lm_shape": "clonic"},
        {"ecg_uv": 150.0, "ecg_shape": "pqrst", "ecg_bpm": (100.0, 120.0), "ecg_qrs_s": 0.14},
        {"pops_per_h": 60.0, "pop_shape": "step", "pop_uv": (500.0, 1000.0)},
        {"resting_wander": 0.4, "hum_hz": 60.0, "hum_uv": 40.0, "hum_span": (0.5, 1.0), "hum_harmonic_uv": 5.0},
    ],
)
def test_knobs_write_readable_nights(tmp_path, changes):
    path = tmp_path / "night.edf"
    truth = write_synthetic_psg(path, SynthConfig.preset("periodic").replace(hours=0.2, **changes), seed=1)
    leg = read_recording(path).signals[ChannelRole.LEFT_LEG].data_uv
    assert np.isfinite(leg).all() and len(truth.events.onset_s) > 0


def test_hum_only_in_its_span(tmp_path):
    path = tmp_path / "hum.edf"
    cfg = SynthConfig(
        hours=0.2,
        series_per_h=0.0,
        sparse_lm_per_h=0.0,
        jerks=False,
        fm_per_min=0.0,
        hum_hz=50.0,
        hum_uv=40.0,
        hum_span=(0.5, 1.0),
    )
    write_synthetic_psg(path, cfg, seed=0)
    leg = read_recording(path).signals[ChannelRole.LEFT_LEG].data_uv
    half = leg.size // 2
    assert np.std(leg[: half - 1000]) < 5.0 < np.std(leg[half + 1000 :])


def test_long_movements_with_short_intervals_never_overlap(tmp_path):
    cfg = SynthConfig.preset("periodic").replace(
        hours=0.5, lm_duration_s=(6.0, 9.8), imi_s=(5.0, 12.0), bilateral_lag_s=(0.0, 6.0), bilateral_fraction=0.8
    )
    e = write_synthetic_psg(tmp_path / "long.edf", cfg, seed=2).events
    for side in ("left", "right"):
        sel = e.side == side
        onset, end = e.onset_s[sel], e.onset_s[sel] + e.duration_s[sel]
        assert (onset[1:] - end[:-1] >= 0.99).all()


def test_band_limited_emg_keeps_its_in_band_rms_at_any_sampling_rate(tmp_path):
    """White EMG spreads its RMS up to Nyquist, so the 10-100 Hz share falls as the rate rises (0.84 x at 256 Hz,
    0.59 x at 512 Hz); band-limited EMG (emg_band_hz 20-150 Hz) has the same in-band RMS at 200 and 512 Hz
    (70 or 80 of its 130 Hz inside the scoring band)."""
    from cds.detect.preprocess import filter_emg
    from cds.standards import load_standard

    rules = load_standard("aasm").signal
    in_band = {}
    for band in (None, (20.0, 150.0)):
        for fs in (200, 512):
            cfg = SynthConfig(
                hours=0.1,
                sfreq_hz=fs,
                series_per_h=0.0,
                sparse_lm_per_h=0.0,
                jerks=False,
                fm_per_min=0.0,
                resting_uv=(5.0,) * 5,
                emg_band_hz=band,
            )
            write_synthetic_psg(tmp_path / f"{fs}-{band}.edf", cfg, seed=3)
            leg = read_recording(tmp_path / f"{fs}-{band}.edf").signals[ChannelRole.LEFT_LEG].data_uv
            in_band[band, fs] = float(np.std(filter_emg(leg, fs, rules).data_uv[fs:-fs]))
    assert in_band[None, 512] == pytest.approx(5.0 * np.sqrt(90.0 / 256.0), rel=0.1)  # white: 0.59 x in band
    assert in_band[(20.0, 150.0), 512] == pytest.approx(in_band[(20.0, 150.0), 200], rel=0.1)
    assert in_band[(20.0, 150.0), 512] == pytest.approx(5.0 * np.sqrt(80.0 / 130.0), rel=0.1)
    assert in_band[(20.0, 150.0), 512] > 1.2 * in_band[None, 512]

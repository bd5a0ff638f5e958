"""Configuration of a synthetic PSG night: what is planted and which artefacts are added."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["PRESETS", "SynthConfig"]


@dataclass(frozen=True)
class SynthConfig:
    """One synthetic night. Amplitudes in µV (RMS of the burst), rates per hour unless stated."""

    hours: float = 0.5
    sfreq_hz: int = 256
    unit: str = "uV"  # "uV", "mV" or "V" in the EDF header
    labels: tuple[str | None, str | None, str | None] = ("Leg L", "Leg R", "Chin")  # left, right, chin
    hypnogram_scheme: str = "aasm"  # "aasm" (W/N1/N2/N3/R) or "rk" (W/1/2/3/4/R)
    hypnogram_in_edf: bool = True  # stages as EDF+ annotations in the recording
    initial_wake_min: float = 4.0
    awakenings_per_h: float = 2.0  # each followed by a W->N1 transition
    series_per_h: float = 3.0  # periodic LM series in sleep
    series_length: tuple[int, int] = (6, 20)
    imi_s: tuple[float, float] = (10.0, 40.0)
    wake_series_per_h: float = 0.0  # periodic LM series in wake (PLMW)
    sparse_lm_per_h: float = 6.0
    bilateral_fraction: float = 0.3
    bilateral_lag_s: tuple[float, float] = (0.0, 0.3)  # onset of the second leg after the first
    lm_duration_s: tuple[float, float] = (0.8, 4.0)
    lm_amplitude_uv: tuple[float, float] = (20.0, 200.0)
    jerks: bool = True  # one sleep-onset jerk near each W->N1 transition
    pops_per_h: float = 0.0  # electrode pops: 0.1-0.35 s bursts in one leg (not leg movements)
    body_movements_per_h: float = 0.0  # 12-30 s bursts in both legs and chin (AASM: not LMs; WASM: non-candidate)
    fm_per_min: float = 0.3  # fragmentary-myoclonus potentials per minute of NREM (background)
    resting_uv: tuple[float, float, float, float, float] = (3.0, 2.5, 2.0, 2.0, 1.2)  # W, N1, N2, N3, R (leg RMS)
    chin_resting_uv: tuple[float, float, float, float, float] = (6.0, 4.0, 3.0, 3.0, 1.0)
    ecg_uv: float = 0.0
    hum_hz: float = 0.0
    hum_uv: float = 0.0
    drift_uv: float = 0.0
    dc_offset_uv: float = 0.0
    flat_roles: tuple[str, ...] = ()  # roles ("left_leg", ...) written as a flat line
    clip_uv: float | None = None  # physical range +/- this: larger samples saturate
    # Robustness knobs (benchmarks/bench_robustness.py). Their defaults reproduce the nights above byte for byte.
    lm_shape: str = "flat"  # "flat" (tapered noise burst), "waxing" (rise-and-fall envelope), "clonic" (sub-bursts)
    resting_wander: float = 0.0  # slow log-normal wander of the resting EMG (0.3: about +/-30% over minutes)
    ecg_bpm: tuple[float, float] | None = None  # heart-rate range; None: RR 0.7-1.0 s (60-86 bpm)
    ecg_shape: str = "biphasic"  # "biphasic" (Gaussian derivative) or "pqrst" (Q, R, S, T waves)
    ecg_qrs_s: float = 0.09  # QRS width for "pqrst" (0.08-0.10 s normal; 0.12-0.16 s bundle-branch block)
    hum_span: tuple[float, float] = (0.0, 1.0)  # hum only in this fraction of the night (a loosening electrode)
    hum_harmonic_uv: float = 0.0  # second mains harmonic (100 or 120 Hz) amplitude
    pop_shape: str = "burst"  # "burst" (0.1-0.35 s noise) or "step" (electrode pop: step with exponential decay)
    pop_uv: tuple[float, float] = (80.0, 200.0)
    fm_uv: tuple[float, float] = (50.0, 120.0)  # fragmentary potentials: RMS scale of the Hann-shaped burst
    # EMG spectrum: None = white up to Nyquist (the stated RMS is spread over 0-fs/2, so the share inside the
    # 10-100 Hz scoring band falls as the sampling rate rises); (low, high) = EMG of the stated RMS band-limited to
    # that band, as real surface EMG whose power lies in tens to ~150 Hz: the part above 0.9 x Nyquist is lost (an
    # anti-alias filter), so the in-band amplitude no longer depends on the sampling rate. Applies to resting EMG,
    # LMs, jerks and fragmentary potentials, not to artefacts.
    emg_band_hz: tuple[float, float] | None = None
    # REM sleep without atonia and fragmentary trains (cds/synth/motor.py, issue 13), off by default: the share of
    # REM epochs with tonic chin activity (7-10 of their 10 mini-epochs elevated), the share of the other REM
    # mini-epochs holding one phasic chin burst (0.2-1.5 s), their RMS (µV); trains of 4-8 discrete potentials
    # (50-120 ms, 150-400 ms of silence between them) in one leg per hour of NREM sleep.
    rswa_tonic_fraction: float = 0.0
    rswa_phasic_fraction: float = 0.0
    rswa_tonic_uv: tuple[float, float] = (5.0, 10.0)
    rswa_phasic_uv: tuple[float, float] = (10.0, 30.0)
    fm_trains_per_h: float = 0.0
    fm_train_potential_s: tuple[float, float] = (0.05, 0.12)  # duration of each potential of a train
    fm_train_gap_s: tuple[float, float] = (0.15, 0.4)  # silence between two potentials of a train
    # the chin electrode's gain drifts linearly from 1 at the start to 1 + this at the end of the night (everything
    # the chin records, atonic REM included, scales with it): what a running RSWA background follows
    chin_gain_drift: float = 0.0

    @classmethod
    def preset(cls, name: str) -> SynthConfig:
        """A named scenario: periodic, sparse, noisy, low_rate, wake_lms, efm, rswa, fm_trains or demo."""
        try:
            return dataclasses.replace(cls(), **PRESETS[name])
        except KeyError as exc:
            raise ValueError(f"unknown preset (allowed: {', '.join(sorted(PRESETS))}, got: {name})") from exc

    def replace(self, **changes: Any) -> SynthConfig:
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, dict[str, Any]] = {
    "periodic": {"series_per_h": 5.0, "sparse_lm_per_h": 4.0},
    "sparse": {"series_per_h": 0.0, "sparse_lm_per_h": 30.0, "bilateral_fraction": 0.2},
    "noisy": {
        "ecg_uv": 25.0,
        "hum_hz": 50.0,
        "hum_uv": 15.0,
        "drift_uv": 300.0,
        "dc_offset_uv": 1500.0,
        "unit": "mV",
        "labels": ("EMG Tib-L", "EMG Tib-R", "EMG Chin"),
        "sfreq_hz": 512,
        "pops_per_h": 8.0,
        "body_movements_per_h": 3.0,
    },
    "low_rate": {"sfreq_hz": 200, "labels": ("LAT", "RAT", "Chin"), "hypnogram_scheme": "rk", "unit": "V"},
    "wake_lms": {"initial_wake_min": 12.0, "wake_series_per_h": 6.0, "series_per_h": 2.0, "awakenings_per_h": 3.0},
    "efm": {"fm_per_min": 12.0, "series_per_h": 2.0, "initial_wake_min": 2.0, "awakenings_per_h": 1.0},
    "rswa": {"rswa_tonic_fraction": 0.35, "rswa_phasic_fraction": 0.2, "series_per_h": 2.0, "awakenings_per_h": 1.0},
    "fm_trains": {"fm_trains_per_h": 20.0, "series_per_h": 2.0, "sparse_lm_per_h": 4.0},
    "demo": {"hours": 7.5, "series_per_h": 3.0, "sparse_lm_per_h": 5.0, "awakenings_per_h": 1.5},
}

"""Write a synthetic PSG night (EDF+, pyedflib) with planted leg movements, jerks and fragmentary myoclonus.

The truth is scored with the same grammar (``cds.detect.plm``) and statistics (``cds.stats``) as a real night, so
a detector is judged on detection alone.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyedflib
from scipy import signal as sps

from cds.detect.legmovements import LegMovements, make_leg_movements
from cds.detect.plm import find_bilateral_movements, find_plm_series
from cds.stages import SleepStage, to_stages
from cds.standards import Standard, load_standard
from cds.stats.fragmentary import compute_efm
from cds.stats.indices import compute_leg_movement_stats
from cds.stats.sleep import compute_sleep_summary
from cds.synth.config import SynthConfig
from cds.synth.motor import PlantedMotor, add_motor_activity, plant_motor
from cds.synth.plant import EPOCH_S, PlantedEvents, plant_events, plant_stages

__all__ = ["SynthHypnogram", "SynthTruth", "write_synthetic_psg", "write_truth_json"]

log = logging.getLogger(__name__)

_STAGE_INDEX = {"W": 0, "N1": 1, "N2": 2, "N3": 3, "R": 4}
_UNIT_SCALE = {"uV": 1.0, "mV": 1e-3, "V": 1e-6}
_RK = {"W": "W", "N1": "1", "N2": "2", "R": "R"}
_ROBUSTNESS_KNOBS = (
    "lm_shape",
    "resting_wander",
    "ecg_bpm",
    "ecg_shape",
    "ecg_qrs_s",
    "hum_span",
    "hum_harmonic_uv",
    "pop_shape",
    "pop_uv",
    "fm_uv",
    "emg_band_hz",
    "rswa_tonic_fraction",
    "rswa_phasic_fraction",
    "rswa_tonic_uv",
    "rswa_phasic_uv",
    "fm_trains_per_h",
    "fm_train_potential_s",
    "fm_train_gap_s",
    "chin_gain_drift",
)
# Knobs left out of the truth JSON at their defaults, so truth files of the older nights stay identical.
_ROBUSTNESS_DEFAULTS = {f.name: f.default for f in fields(SynthConfig) if f.name in _ROBUSTNESS_KNOBS}


@dataclass(frozen=True)
class SynthHypnogram:
    """The planted hypnogram, with the attributes the statistics use (same shape as cds.io's Hypnogram)."""

    stages: tuple[SleepStage, ...]
    epoch_s: float = EPOCH_S
    start_s: float = 0.0
    lights_off_s: float | None = None
    lights_on_s: float | None = None

    def stage_at(self, times_s: np.ndarray) -> np.ndarray:
        idx = np.floor(np.asarray(times_s, dtype=float) / self.epoch_s)
        inside = (idx >= 0) & (idx < len(self.stages))
        out = np.full(idx.shape, "?", dtype="<U2")
        out[inside] = np.asarray(self.stages, dtype="<U2")[idx[inside].astype(int)]
        return out


@dataclass(frozen=True, eq=False)
class SynthTruth:
    """What was planted, and the indices the grammar gives on it."""

    config: SynthConfig
    seed: int
    hypnogram: SynthHypnogram
    events: PlantedEvents
    plms_index: dict[str, float | None]  # per standard
    plmw_index: dict[str, float | None]
    efm_minutes: float
    efm_excessive: bool
    hypnogram_path: Path | None = None
    motor: PlantedMotor | None = None  # RSWA and fragmentary trains, when planted (cds/synth/motor.py)

    def leg_movements(self, standard: str = "aasm") -> LegMovements:
        """The planted LMs merged across legs by ``standard``'s bilateral rule."""
        std = load_standard(standard)
        e = self.events
        keep = (e.kind != "body") | std.leg_movement.keep_long_movements
        lf, rt = keep & (e.side == "left"), keep & (e.side == "right")
        left = make_leg_movements(e.onset_s[lf], e.duration_s[lf], "left", peak_uv=e.amplitude_uv[lf])
        right = make_leg_movements(e.onset_s[rt], e.duration_s[rt], "right", peak_uv=e.amplitude_uv[rt])
        return find_bilateral_movements(left, right, std)

    def to_dict(self) -> dict[str, Any]:
        e = self.events
        return {
            "schema": "cds.synth-truth/v1",
            "seed": self.seed,
            "config": {
                k: list(v) if isinstance(v, tuple) else v
                for k, v in asdict(self.config).items()
                if k not in _ROBUSTNESS_DEFAULTS or v != _ROBUSTNESS_DEFAULTS[k]
            },
            "hypnogram": {"epoch_s": self.hypnogram.epoch_s, "stages": list(self.hypnogram.stages)},
            "leg_movement_components": [
                {
                    "onset_s": round(float(o), 3),
                    "duration_s": round(float(d), 3),
                    "side": str(s),
                    "amplitude_uv": round(float(a), 1),
                    "periodic": str(k) != "sparse",
                    "kind": str(k),
                    "lm_id": int(i),
                }
                for o, d, s, a, k, i in zip(
                    e.onset_s, e.duration_s, e.side, e.amplitude_uv, e.kind, e.lm_id, strict=True
                )
            ],
            "sleep_onset_jerks": [
                {"onset_s": round(float(o), 3), "duration_s": round(float(d), 3)}
                for o, d in zip(e.jerk_onset_s, e.jerk_duration_s, strict=True)
            ],
            "fragmentary_potentials": len(e.fm_onset_s),
            "electrode_pops": len(e.pop_onset_s),
            "plms_index": self.plms_index,
            "plmw_index": self.plmw_index,
            "efm_minutes": self.efm_minutes,
            "efm_excessive": self.efm_excessive,
            **(self.motor.to_dict() if self.motor is not None else {}),
        }


def _burst(rng: np.random.Generator, n: int, taper_s: float, sfreq: float) -> np.ndarray:
    alpha = min(1.0, 2.0 * taper_s * sfreq / max(n, 1))
    return (rng.standard_normal(n) * sps.windows.tukey(n, alpha)).astype(np.float32)


def _lm_burst(config: SynthConfig, rng: np.random.Generator, n: int, sfreq: float) -> np.ndarray:
    """One LM burst of unit RMS in its strong part, shaped by ``config.lm_shape``.

    "waxing": 0.1-s attack, then a slowly fluctuating level (0.35-1 of the peak) and a 0.3-s fade, as real tibialis
    bursts wax and wane. "clonic": sub-bursts of 0.15-0.4 s separated by 0.05-0.3 s silences (shorter than the
    0.5-s offset hold, so the whole train is one LM under both standards).
    """
    if config.lm_shape == "flat":
        return _burst(rng, n, 0.05, sfreq)
    t = np.arange(n) / sfreq
    if config.lm_shape == "waxing":
        knots = np.arange(0.0, t[-1] + 0.5 if n else 0.5, 0.25)
        level = np.interp(t, knots, rng.uniform(0.35, 1.0, size=knots.size))
        level[: n // 4 + 1] = np.maximum(level[: n // 4 + 1], 0.8)  # the movement starts with a clear burst
        attack = np.clip(t / 0.1, 0.0, 1.0)
        fade = np.clip((t[-1] - t) / 0.3, 0.0, 1.0) if n else t
        return (rng.standard_normal(n) * level * attack * fade).astype(np.float32)
    if config.lm_shape == "clonic":
        gate = np.zeros(n, dtype=np.float32)
        pos = 0
        while pos < n:
            on = int(rng.uniform(0.15, 0.4) * sfreq)
            gate[pos : pos + on] = sps.windows.tukey(on, 0.3)[: n - pos] if on > 2 else 1.0
            pos += on + int(rng.uniform(0.05, 0.3) * sfreq)
        tail = np.flatnonzero(gate)[-1] + 1 if gate.any() else n
        gate[tail:] = 0.0
        return (rng.standard_normal(n) * gate).astype(np.float32)
    raise ValueError(f"unknown lm_shape (allowed: flat, waxing, clonic, got: {config.lm_shape})")


def _slow_wander(rng: np.random.Generator, n: int, fs: int, sigma: float) -> np.ndarray:
    """A positive factor around 1 wandering over minutes: exp(sigma * smooth Gaussian noise of unit SD)."""
    knots = np.arange(0.0, n / fs + 120.0, 60.0)
    values = rng.standard_normal(knots.size)
    return np.exp(sigma * np.interp(np.arange(n) / fs, knots, values)).astype(np.float32)


def _synthesise(config: SynthConfig, stages: list[str], ev: PlantedEvents, rng: np.random.Generator) -> dict:
    """µV signals per role (float32)."""
    fs = config.sfreq_hz
    n = len(stages) * int(EPOCH_S) * fs
    per_epoch = int(EPOCH_S * fs)
    idx = np.array([_STAGE_INDEX.get(s, 0) for s in stages])
    out = {}
    for role, levels in (
        ("left_leg", config.resting_uv),
        ("right_leg", config.resting_uv),
        ("chin", config.chin_resting_uv),
    ):
        level = np.repeat(np.asarray(levels, dtype=np.float32)[idx], per_epoch)
        if config.resting_wander:
            level = level * _slow_wander(rng, n, fs, config.resting_wander)
        out[role] = rng.standard_normal(n, dtype=np.float32) * level
    for o, d, side, a, kind in zip(ev.onset_s, ev.duration_s, ev.side, ev.amplitude_uv, ev.kind, strict=True):
        s, m = int(o * fs), int(d * fs)
        burst = _lm_burst(config, rng, m, fs) if kind != "body" else _burst(rng, m, 0.05, fs)
        out[f"{side}_leg"][s : s + m] += a * burst[: n - s]
        if kind == "body" and side == "left":
            out["chin"][s : s + m] += a * _burst(rng, m, 0.05, fs)[: n - s]
    # with a band-limited EMG, pops (artefacts) are added after the EMG is filtered; the random draws keep their order
    pops = {role: np.zeros(n, dtype=np.float32) for role in out} if config.emg_band_hz else out
    for o, d, side in zip(ev.pop_onset_s, ev.pop_duration_s, ev.pop_side, strict=True):
        s, m = int(o * fs), int(d * fs)
        if config.pop_shape == "step":  # the electrode potential jumps and relaxes back over 0.2-1 s
            tau = rng.uniform(0.2, 1.0)
            m = min(n - s, int(5 * tau * fs))
            jump = rng.uniform(*config.pop_uv) * (1 if rng.random() < 0.5 else -1)
            pops[f"{side}_leg"][s : s + m] += (jump * np.exp(-np.arange(m) / (tau * fs))).astype(np.float32)
        else:
            pops[f"{side}_leg"][s : s + m] += rng.uniform(*config.pop_uv) * _burst(rng, m, 0.02, fs)
    for o, d in zip(ev.jerk_onset_s, ev.jerk_duration_s, strict=True):
        for role in ("chin", "left_leg", "right_leg"):
            s, m = int((o + rng.uniform(0, 0.03)) * fs), int(d * fs)
            out[role][s : s + m] += rng.uniform(80, 250) * _burst(rng, m, d / 2, fs)
    for o, d, side in zip(ev.fm_onset_s, ev.fm_duration_s, ev.fm_side, strict=True):
        s, m = int(o * fs), int(d * fs)
        out[f"{side}_leg"][s : s + m] += rng.uniform(*config.fm_uv) * _burst(rng, m, d / 2, fs)
    if config.emg_band_hz:
        for role in out:
            out[role] = _band_limited(out[role], config.emg_band_hz, fs) + pops[role]
    _add_artefacts(config, out, n, rng)
    return out


def _band_limited(emg: np.ndarray, band_hz: tuple[float, float], fs: int) -> np.ndarray:
    """``emg`` (white noise bursts of stated RMS) band-passed zero-phase to ``band_hz`` and scaled by the filter's
    power share (mean of |H|^4 over 0-Nyquist), so white noise keeps its RMS. Where the band reaches past 0.9 x
    Nyquist it is cut there and the RMS falls with the lost share of the band (an anti-alias filter's loss): the
    power inside any band below the cut is the same at every sampling rate."""
    low, nominal_high = float(band_hz[0]), float(band_hz[1])
    high = min(nominal_high, 0.45 * fs)
    sos = sps.butter(4, [low, high], btype="bandpass", fs=fs, output="sos")
    _, response = sps.sosfreqz(sos, worN=8192, fs=fs)
    gain = np.sqrt((high - low) / (nominal_high - low) / np.mean(np.abs(response) ** 4))
    return (sps.sosfiltfilt(sos, emg) * gain).astype(np.float32)


def _add_artefacts(config: SynthConfig, out: dict, n: int, rng: np.random.Generator) -> None:
    fs = config.sfreq_hz
    if config.ecg_uv:
        rr = (0.7, 1.0) if config.ecg_bpm is None else (60.0 / config.ecg_bpm[1], 60.0 / config.ecg_bpm[0])
        beats = np.cumsum(rng.uniform(*rr, size=int(n / fs / rr[0]) + 2))
        train = np.zeros(n, dtype=np.float32)
        train[(beats[beats < n / fs - 1] * fs).astype(int)] = 1.0
        if config.ecg_shape == "pqrst":
            t = np.arange(-0.3, 0.45, 1 / fs)
            w = config.ecg_qrs_s

            def wave(a: float, centre: float, sd: float) -> np.ndarray:
                return a * np.exp(-0.5 * ((t - centre) / sd) ** 2)

            qrs = (
                wave(0.12, -0.17, 0.025)
                + wave(-0.15, -0.28 * w, 0.07 * w)
                + wave(1.0, 0.0, 0.11 * w)
                + wave(-0.35, 0.3 * w, 0.09 * w)
                + wave(0.3, 0.28, 0.05)
            ).astype(np.float32)
            # breathing modulates the beat amplitude by +/-15% (about 15 breaths per minute)
            resp = 1.0 + 0.15 * np.sin(2 * np.pi * np.arange(n) / fs / rng.uniform(3.5, 5.0))
            train *= resp.astype(np.float32)
        elif config.ecg_shape == "biphasic":
            t = np.arange(-0.06, 0.06, 1 / fs)
            qrs = (-t / 0.012 * np.exp(0.5 - 0.5 * (t / 0.012) ** 2)).astype(np.float32)  # peak 1
        else:
            raise ValueError(f"unknown ecg_shape (allowed: biphasic, pqrst, got: {config.ecg_shape})")
        ecg = sps.oaconvolve(train, qrs, mode="same").astype(np.float32) * config.ecg_uv
        for role, gain in (("left_leg", 0.8), ("right_leg", 1.0), ("chin", 1.5)):
            out[role] += gain * ecg
    if config.hum_uv or config.hum_harmonic_uv:
        phase = (2 * np.pi * config.hum_hz / fs) * np.arange(n)
        hum = (config.hum_uv * np.sin(phase)).astype(np.float32)
        if config.hum_harmonic_uv:
            hum += (config.hum_harmonic_uv * np.sin(2 * phase + 0.7)).astype(np.float32)
        if tuple(config.hum_span) != (0.0, 1.0):
            a, b = int(config.hum_span[0] * n), int(config.hum_span[1] * n)
            hum[:a] = 0.0
            hum[b:] = 0.0
        for role in out:
            out[role] += hum
    if config.drift_uv or config.dc_offset_uv:
        secs = np.arange(n // fs + 2, dtype=float)
        for role in out:
            walk = np.cumsum(rng.standard_normal(secs.size)) * config.drift_uv / 30.0
            slow = config.drift_uv * np.sin(2 * np.pi * secs / rng.uniform(40, 200)) + walk
            out[role] += (np.interp(np.arange(n) / fs, secs, slow) + config.dc_offset_uv).astype(np.float32)


def _annotations(config: SynthConfig, stages: list[str], rng: np.random.Generator) -> list[tuple[float, float, str]]:
    rows, i = [], 0
    while i < len(stages):
        j = i
        while j < len(stages) and stages[j] == stages[i]:
            j += 1
        s = stages[i]
        label = s if config.hypnogram_scheme == "aasm" else _RK.get(s, "3" if rng.random() < 0.5 else "4")
        rows.append((i * EPOCH_S, (j - i) * EPOCH_S, f"Sleep stage {label}"))
        i = j
    return rows


# A fixed, obviously synthetic start time: the same config and seed give a byte-identical file (pyedflib would
# otherwise stamp the wall-clock time into the header).
SYNTHETIC_START = datetime(2000, 1, 1, 22, 0, 0)


def _write_edf(path: Path, config: SynthConfig, signals: dict, annotations: list) -> None:
    scale = _UNIT_SCALE[config.unit]
    roles = [(r, lab) for r, lab in zip(("left_leg", "right_leg", "chin"), config.labels, strict=True) if lab]
    writer = pyedflib.EdfWriter(str(path), len(roles), file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        headers: list[dict[str, Any]] = []
        data = []
        for role, label in roles:
            x = np.zeros_like(signals[role]) if role in config.flat_roles else signals[role]
            limit_uv = config.clip_uv or float(np.abs(x).max(initial=1.0)) * 1.2 + 1.0
            limit = float(f"{limit_uv * scale:.2g}")
            x64 = np.clip(x.astype(np.float64) * scale, -limit, limit)
            headers.append(
                {
                    "label": label,
                    "dimension": config.unit,
                    "sample_frequency": config.sfreq_hz,
                    "physical_max": limit,
                    "physical_min": -limit,
                    "digital_max": 32767,
                    "digital_min": -32768,
                    "transducer": "",
                    "prefilter": "",
                }
            )
            data.append(x64)
        writer.setStartdatetime(SYNTHETIC_START)
        writer.setSignalHeaders(headers)
        writer.writeSamples(data)
        for onset, duration, text in annotations:
            writer.writeAnnotation(onset, duration, text)
    finally:
        writer.close()


def write_synthetic_psg(path: str | Path, config: SynthConfig, *, seed: int) -> SynthTruth:
    """Write ``path`` (EDF+) for ``config`` with random generator ``seed``; return the planted truth.

    When ``config.hypnogram_in_edf`` is False the stages go to ``<path stem>.hypnogram.csv`` instead.
    """
    path = Path(path)
    rng = np.random.default_rng(seed)
    stages = plant_stages(config, rng)
    events = plant_events(config, stages, rng)
    signals = _synthesise(config, stages, events, rng)
    motor = None
    if config.rswa_tonic_fraction or config.rswa_phasic_fraction or config.fm_trains_per_h:
        busy = [(float(o) - 1.0, float(o + d) + 1.0) for o, d in zip(events.onset_s, events.duration_s, strict=True)]
        busy += [(float(o) - 1.0, float(o) + 1.0) for o in [*events.jerk_onset_s, *events.fm_onset_s]]
        motor = plant_motor(config, stages, busy, seed)
        add_motor_activity(config, motor, signals, seed)
    if config.chin_gain_drift:
        chin = signals["chin"]
        chin *= np.linspace(1.0, 1.0 + config.chin_gain_drift, chin.size, dtype=np.float32)
    stage_rows = _annotations(config, stages, rng)
    hyp_path = None
    if config.hypnogram_in_edf:
        _write_edf(path, config, signals, stage_rows)
    else:
        from cds.io.export import write_events_csv

        _write_edf(path, config, signals, [])
        hyp_path = path.with_suffix(".hypnogram.csv")
        write_events_csv(hyp_path, stage_rows)
    hyp = SynthHypnogram(to_stages(stages))
    truth = SynthTruth(config, seed, hyp, events, {}, {}, 0.0, False, hyp_path, motor)
    sleep = compute_sleep_summary(hyp)
    for std_name in Standard:
        std = load_standard(std_name)
        lms = truth.leg_movements(std_name)
        stats = compute_leg_movement_stats(lms, find_plm_series(lms, std), std, hypnogram=hyp, sleep=sleep)
        truth.plms_index[std_name.value] = None if stats.plms_index is None else round(stats.plms_index, 3)
        truth.plmw_index[std_name.value] = None if stats.plmw_index is None else round(stats.plmw_index, 3)
    efm = compute_efm(events.fm_onset_s, hyp, load_standard("aasm"))
    object.__setattr__(truth, "efm_minutes", efm.minutes_meeting_rule)
    object.__setattr__(truth, "efm_excessive", efm.excessive)
    log.info(
        "wrote %s: %d LM components, %d jerks, %d potentials",
        path.name,
        len(events.onset_s),
        len(events.jerk_onset_s),
        len(events.fm_onset_s),
    )
    return truth


def write_truth_json(path: str | Path, truth: SynthTruth) -> None:
    """Write the truth as sorted, indented JSON."""
    Path(path).write_text(json.dumps(truth.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")

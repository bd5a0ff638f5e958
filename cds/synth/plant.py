"""Planting: a hypnogram and the event tables (leg movements, jerks, fragmentary potentials) of a synthetic night."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cds.synth.config import SynthConfig

__all__ = ["EPOCH_S", "PlantedEvents", "plant_events", "plant_stages"]

EPOCH_S = 30.0
SLEEP = ("N1", "N2", "N3", "R")
NREM = ("N1", "N2", "N3")


@dataclass(frozen=True, eq=False)
class PlantedEvents:
    """Monolateral LM components (parallel arrays), sleep-onset jerks and fragmentary potentials."""

    onset_s: np.ndarray
    duration_s: np.ndarray
    side: np.ndarray  # "left" / "right"
    amplitude_uv: np.ndarray
    kind: np.ndarray  # "periodic", "wake", "sparse", "body" (12-30 s: an LM only under WASM)
    lm_id: np.ndarray  # components of one planted (bilateral) LM share an id
    jerk_onset_s: np.ndarray
    jerk_duration_s: np.ndarray
    fm_onset_s: np.ndarray
    fm_duration_s: np.ndarray
    fm_side: np.ndarray
    pop_onset_s: np.ndarray
    pop_duration_s: np.ndarray
    pop_side: np.ndarray


def plant_stages(config: SynthConfig, rng: np.random.Generator) -> list[str]:
    """A plausible hypnogram: initial wake, N1, cycles of N2/N3/N2/R, and awakenings followed by N1."""
    n_epochs = max(1, int(config.hours * 3600 // EPOCH_S))
    scale = float(np.clip(config.hours / 6.0, 0.3, 1.0))
    stages = ["W"] * max(1, round(config.initial_wake_min * 2)) + ["N1"] * int(rng.integers(2, 5))
    cycle = 0
    while len(stages) < n_epochs:
        n3 = max(0.0, 1.0 - 0.3 * cycle)
        for stage, lo, hi in (("N2", 10, 25), ("N3", 8 * n3, 20 * n3), ("N2", 3, 10), ("R", 5, 20)):
            stages += [stage] * round(rng.uniform(lo, hi) * scale * 2)
        cycle += 1
    stages = stages[:n_epochs]
    first_sleep = stages.index("N1") + 4 if "N1" in stages else n_epochs
    n_wake = round(config.awakenings_per_h * config.hours)
    if n_epochs - first_sleep > 12 and n_wake:
        starts = np.sort(rng.choice(np.arange(first_sleep + 2, n_epochs - 6), size=n_wake, replace=False))
        for s in starts:
            stages[s : s + 2] = ["W", "W"]
            stages[s + 2 : s + 4] = ["N1", "N1"]
    return stages


class _Occupancy:
    """Intervals already holding an event (with clearance), to keep planted events distinct."""

    def __init__(self) -> None:
        self.spans: list[tuple[float, float]] = []

    def free(self, start: float, end: float) -> bool:
        return all(end <= a or start >= b for a, b in self.spans)

    def take(self, start: float, end: float) -> None:
        self.spans.append((start, end))


def _stage_at(stages: list[str], t: float) -> str:
    i = int(t // EPOCH_S)
    return stages[i] if 0 <= i < len(stages) else "?"


def _reach_s(config: SynthConfig) -> float:
    """How far after its onset a planted LM (both legs) can reach: long movements and lags need more room."""
    return config.lm_duration_s[1] * 1.1 + config.bilateral_lag_s[1] + 1.5


def _lm_rows(
    config: SynthConfig, rng: np.random.Generator, onset: float, kind: str, lm_id: int, end_limit: float = np.inf
) -> list[tuple]:
    """One planted LM (one or two legs); no component ends later than ``end_limit`` (the next LM of a series
    minus a clear gap), so a long movement never runs into the next one."""
    duration = rng.uniform(*config.lm_duration_s)
    lo, hi = np.log(config.lm_amplitude_uv[0]), np.log(config.lm_amplitude_uv[1])
    amplitude = float(np.exp(rng.uniform(lo, hi)))
    first = "left" if rng.random() < 0.5 else "right"
    rows: list[tuple] = [(onset, duration, first, amplitude, kind, lm_id)]
    if rng.random() < config.bilateral_fraction:
        other = "right" if first == "left" else "left"
        lag = rng.uniform(*config.bilateral_lag_s)
        rows.append(
            (onset + lag, duration * rng.uniform(0.8, 1.1), other, amplitude * rng.uniform(0.7, 1.3), kind, lm_id)
        )
    if any(r[0] + r[1] > end_limit for r in rows):  # a lagging leg starting too late is left out
        rows = [(o, max(0.6, min(d, end_limit - o)), *rest) for o, d, *rest in rows if o + 0.6 <= end_limit]
    return rows


def _plant_series(config, rng, stages, occ, rows, allowed, per_h, kind) -> None:
    duration_s = len(stages) * EPOCH_S
    n_series = int(rng.poisson(per_h * config.hours)) if per_h > 0 else 0
    if per_h > 0 and n_series == 0:
        n_series = 1
    for _ in range(n_series):
        for _attempt in range(60):
            length = int(rng.integers(config.series_length[0], config.series_length[1] + 1))
            t0 = rng.uniform(30.0, duration_s - 30.0)
            onsets = t0 + np.concatenate(([0.0], np.cumsum(rng.uniform(*config.imi_s, size=length - 1))))
            ok = [o < duration_s - 15 and _stage_at(stages, o) in allowed for o in onsets]
            cut = ok.index(False) if False in ok else len(ok)
            onsets = onsets[:cut]
            after = max(8.0, _reach_s(config))
            if onsets.size < 4 or not all(occ.free(o - 3.0, o + after) for o in onsets):
                continue
            limits = np.append(onsets[1:] - 1.0, np.inf)  # a clear gap before the next LM of the series
            for o, limit in zip(onsets, limits, strict=True):
                occ.take(o - 3.0, o + after)
                rows += _lm_rows(config, rng, float(o), kind, len({r[5] for r in rows}), float(limit))
            break


def plant_events(config: SynthConfig, stages: list[str], rng: np.random.Generator) -> PlantedEvents:
    """Plant jerks at W->N1 transitions, periodic series (sleep and wake), sparse LMs and fragmentary potentials."""
    duration_s = len(stages) * EPOCH_S
    occ = _Occupancy()
    jerks = []
    if config.jerks:
        for i in range(1, len(stages)):
            if stages[i - 1] == "W" and stages[i] == "N1":
                t = i * EPOCH_S + rng.uniform(-15.0, 15.0)
                if 5.0 < t < duration_s - 5.0 and occ.free(t - 5.0, t + 5.0):
                    occ.take(t - 5.0, t + 5.0)
                    jerks.append((t, rng.uniform(0.08, 0.2)))
    rows: list[tuple] = []
    _plant_series(
        config, rng, stages, occ, rows, ("N2",) if config.hours <= 2.5 else NREM, config.series_per_h, "periodic"
    )
    _plant_series(config, rng, stages, occ, rows, ("W",), config.wake_series_per_h, "wake")
    if config.body_movements_per_h > 0:
        for t in rng.uniform(
            30.0, duration_s - 60.0, size=int(rng.poisson(config.body_movements_per_h * config.hours))
        ):
            d = rng.uniform(12.0, 30.0)
            if occ.free(t - 10.0, t + d + 10.0):
                occ.take(t - 10.0, t + d + 10.0)
                lm_id, amplitude = len({r[5] for r in rows}), rng.uniform(50.0, 200.0)
                rows += [
                    (float(t), d, "left", amplitude, "body", lm_id),
                    (float(t), d, "right", amplitude, "body", lm_id),
                ]
    pops = []
    if config.pops_per_h > 0:
        for t in rng.uniform(10.0, duration_s - 15.0, size=int(rng.poisson(config.pops_per_h * config.hours))):
            if occ.free(t - 5.0, t + 5.0):
                occ.take(t - 5.0, t + 5.0)
                pops.append((float(t), rng.uniform(0.1, 0.35), "left" if rng.random() < 0.5 else "right"))
    after = max(10.0, _reach_s(config) + 2.0)
    for t in rng.uniform(10.0, duration_s - 15.0, size=int(rng.poisson(config.sparse_lm_per_h * config.hours))):
        if occ.free(t - 5.0, t + after):
            occ.take(t - 5.0, t + after)
            rows += _lm_rows(config, rng, float(t), "sparse", len({r[5] for r in rows}))
    fm: list[tuple[float, float, str]] = []
    nrem_epochs = [i for i, s in enumerate(stages) if s in NREM]
    n_fm = int(rng.poisson(config.fm_per_min * len(nrem_epochs) / 2.0))
    if nrem_epochs and n_fm:
        epochs = rng.choice(nrem_epochs, size=n_fm)
        for t in np.sort(epochs * EPOCH_S + rng.uniform(0.0, EPOCH_S, size=n_fm)):
            if occ.free(t - 1.5, t + 1.5) and (not fm or t - fm[-1][0] > 0.4):
                fm.append((float(t), rng.uniform(0.075, 0.15), "left" if rng.random() < 0.5 else "right"))
    rows.sort(key=lambda r: r[0])
    cols: list[tuple] = list(zip(*rows, strict=True)) if rows else [()] * 6
    return PlantedEvents(
        np.asarray(cols[0], dtype=float),
        np.asarray(cols[1], dtype=float),
        np.asarray(cols[2], dtype="<U9"),
        np.asarray(cols[3], dtype=float),
        np.asarray(cols[4], dtype="<U9"),
        np.asarray(cols[5], dtype=int),
        np.asarray([j[0] for j in jerks], dtype=float),
        np.asarray([j[1] for j in jerks], dtype=float),
        np.asarray([f[0] for f in fm], dtype=float),
        np.asarray([f[1] for f in fm], dtype=float),
        np.asarray([f[2] for f in fm], dtype="<U9"),
        np.asarray([p[0] for p in pops], dtype=float),
        np.asarray([p[1] for p in pops], dtype=float),
        np.asarray([p[2] for p in pops], dtype="<U9"),
    )

"""Planted REM sleep without atonia (tonic and phasic chin activity) and fragmentary-myoclonus trains.

Drawn from their own random stream (``plant_motor(seed)``), so nights without them are byte-identical to the
nights generated before these scenarios existed. The truth is computed from what is planted, independently of
cds.detect: tonic epochs, phasic mini-epochs and their percentages of the REM epochs and mini-epochs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cds.synth.config import SynthConfig

__all__ = [
    "EPOCH_S",
    "MINI_EPOCH_S",
    "PlantedMotor",
    "add_motor_activity",
    "montreal_epochs",
    "plant_motor",
    "tonic_spans",
]

EPOCH_S = 30.0
MINI_EPOCH_S = 3.0
MINI_PER_EPOCH = 10
EDGE_S = 0.3  # a phasic burst keeps this far from its mini-epoch's edges, so it belongs to exactly one
# Montreal (Montplaisir et al. 2010): 20-s epochs of 2-s mini-epochs, cut from each run of consecutive REM epochs
MONTREAL_EPOCH_S = 20.0
MONTREAL_MINI_S = 2.0
TONIC_CLEAR_S = 1.0  # no Montreal epoch is left with a tonic share within this of half its length (unambiguous)


@dataclass(frozen=True, eq=False)
class PlantedMotor:
    """What was planted: tonic chin spans per REM epoch, phasic chin bursts, fragmentary trains in the legs."""

    rem_epochs: tuple[int, ...]
    tonic: tuple[tuple[int, int, int, float], ...]  # (epoch, first mini-epoch, mini-epochs elevated, RMS µV)
    phasic: tuple[tuple[float, float, float], ...]  # (onset s, duration s, RMS µV)
    trains: tuple[tuple[str, tuple[tuple[float, float], ...]], ...]  # (side, ((onset s, duration s), ...))

    def rswa_truth(self) -> dict[str, Any]:
        """Percentages as the methods define them, from the planted activity (no exclusions: none planted):
        SINBAR "any" and AASM on 30-s epochs of 3-s mini-epochs, Montreal tonic on 20-s epochs (>= half the
        epoch tonic) and phasic on 2-s mini-epochs (a burst in it), both cut from each run of REM epochs."""
        n_rem = len(self.rem_epochs)
        if n_rem == 0:
            return {"rem_epochs": 0}
        minis = n_rem * MINI_PER_EPOCH
        phasic_minis = {int(o // MINI_EPOCH_S) for o, _, _ in self.phasic}
        tonic_minis = {e * MINI_PER_EPOCH + k0 + k for e, k0, length, _ in self.tonic for k in range(length)}
        per_epoch: dict[int, int] = {}
        for m in phasic_minis:
            per_epoch[m // MINI_PER_EPOCH] = per_epoch.get(m // MINI_PER_EPOCH, 0) + 1
        montreal = montreal_epochs(self.rem_epochs)
        spans = tonic_spans(self.tonic)
        tonic_m = sum(1 for a in montreal if _overlap(a, a + MONTREAL_EPOCH_S, spans) >= MONTREAL_EPOCH_S / 2)
        m_minis = [a + MONTREAL_MINI_S * k for a in montreal for k in range(round(MONTREAL_EPOCH_S / MONTREAL_MINI_S))]
        bursts = [(o, o + d) for o, d, _ in self.phasic]
        phasic_m = sum(1 for a in m_minis if _overlap(a, a + MONTREAL_MINI_S, bursts) > 0.0)
        return {
            "rem_epochs": n_rem,
            "montreal_epochs": len(montreal),
            "tonic_chin_pct": round(100.0 * tonic_m / len(montreal), 3) if montreal else None,
            "phasic_chin_pct": round(100.0 * phasic_m / len(m_minis), 3) if m_minis else None,
            "any_chin_pct": round(100.0 * len(phasic_minis | tonic_minis) / minis, 3),
            "aasm_sustained_epochs_pct": round(100.0 * sum(1 for t in self.tonic if t[2] >= 5) / n_rem, 3),
            "aasm_transient_epochs_pct": round(100.0 * sum(1 for v in per_epoch.values() if v >= 5) / n_rem, 3),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "rswa": {
                **self.rswa_truth(),
                "tonic_epochs": [
                    {"epoch": e, "first_mini_epoch": k, "mini_epochs": n, "rms_uv": round(a, 2)}
                    for e, k, n, a in self.tonic
                ],
                "phasic_bursts": [
                    {"onset_s": round(o, 3), "duration_s": round(d, 3), "rms_uv": round(a, 2)}
                    for o, d, a in self.phasic
                ],
            },
            "fragmentary_trains": [
                {"side": side, "potentials": [{"onset_s": round(o, 3), "duration_s": round(d, 3)} for o, d in p]}
                for side, p in self.trains
            ],
        }


def montreal_epochs(rem_epochs: tuple[int, ...] | list[int]) -> list[float]:
    """Starts (s) of the 20-s Montreal epochs cut from each run of consecutive 30-s REM epochs."""
    out: list[float] = []
    i = 0
    rem = sorted(rem_epochs)
    while i < len(rem):
        j = i
        while j + 1 < len(rem) and rem[j + 1] == rem[j] + 1:
            j += 1
        start, length = rem[i] * EPOCH_S, (j - i + 1) * EPOCH_S
        out += [start + MONTREAL_EPOCH_S * k for k in range(int(length // MONTREAL_EPOCH_S))]
        i = j + 1
    return out


def tonic_spans(tonic: Any) -> list[tuple[float, float]]:
    """(start s, end s) of each planted tonic stretch."""
    return [(e * EPOCH_S + k0 * MINI_EPOCH_S, e * EPOCH_S + (k0 + n) * MINI_EPOCH_S) for e, k0, n, _ in tonic]


def _overlap(a: float, b: float, spans: list[tuple[float, float]]) -> float:
    return sum(max(0.0, min(b, e) - max(a, s)) for s, e in spans)


def _free(t: float, spans: list[tuple[float, float]], clearance: float) -> bool:
    return all(t + clearance <= a or t - clearance >= b for a, b in spans)


def plant_motor(config: SynthConfig, stages: list[str], busy_s: list[tuple[float, float]], seed: int) -> PlantedMotor:
    """Choose tonic REM epochs, phasic mini-epochs and fragmentary trains (away from ``busy_s`` leg events)."""
    rng = np.random.default_rng((seed, 13))
    rem = [i for i, s in enumerate(stages) if s == "R"]
    tonic_idx = (
        sorted(rng.choice(rem, size=round(config.rswa_tonic_fraction * len(rem)), replace=False).tolist())
        if rem
        else []
    )
    tonic: list[tuple[int, int, int, float]] = []
    montreal = montreal_epochs(rem)
    for e in tonic_idx:
        # placed so that no Montreal epoch it reaches is tonic for about half its length (the truth is clear)
        near = [a for a in montreal if a < (e + 1) * EPOCH_S and a + MONTREAL_EPOCH_S > e * EPOCH_S]
        for _attempt in range(50):
            length = int(rng.integers(7, MINI_PER_EPOCH + 1))
            k0 = int(rng.integers(0, MINI_PER_EPOCH - length + 1))
            spans = tonic_spans([*tonic, (int(e), k0, length, 0.0)])
            shares = [_overlap(a, a + MONTREAL_EPOCH_S, spans) for a in near]
            if all(abs(x - MONTREAL_EPOCH_S / 2) >= TONIC_CLEAR_S for x in shares):
                break
        tonic.append((int(e), k0, length, float(rng.uniform(*config.rswa_tonic_uv))))
    others = [e * MINI_PER_EPOCH + k for e in rem if e not in set(tonic_idx) for k in range(MINI_PER_EPOCH)]
    n_phasic = round(config.rswa_phasic_fraction * len(rem) * MINI_PER_EPOCH)
    phasic = []
    if others and n_phasic:
        for m in sorted(rng.choice(others, size=min(n_phasic, len(others)), replace=False).tolist()):
            for _attempt in range(50):  # its ends also keep EDGE_S from the 2-s Montreal mini-epoch edges
                duration = float(rng.uniform(0.2, 1.5))
                onset = m * MINI_EPOCH_S + float(rng.uniform(EDGE_S, MINI_EPOCH_S - EDGE_S - duration))
                ends = (onset, onset + duration)
                if all(abs(t - MONTREAL_MINI_S * round(t / MONTREAL_MINI_S)) >= EDGE_S for t in ends):
                    break
            phasic.append((onset, duration, float(rng.uniform(*config.rswa_phasic_uv))))
    trains = []
    nrem = [i for i, s in enumerate(stages) if s in ("N2", "N3")]
    n_trains = int(rng.poisson(config.fm_trains_per_h * config.hours)) if config.fm_trains_per_h > 0 else 0
    for _ in range(n_trains):
        for _attempt in range(30):
            t = float(rng.choice(nrem) * EPOCH_S + rng.uniform(2.0, 20.0)) if nrem else 0.0
            count = int(rng.integers(4, 9))
            pots, at = [], t
            for _k in range(count):
                d = float(rng.uniform(*config.fm_train_potential_s))
                pots.append((at, d))
                at += d + float(rng.uniform(*config.fm_train_gap_s))  # silence between potentials
            if nrem and _free(t, busy_s, at - t + 3.0):
                busy_s.append((t - 3.0, at + 3.0))
                trains.append(("left" if rng.random() < 0.5 else "right", tuple(pots)))
                break
    return PlantedMotor(tuple(rem), tuple(tonic), tuple(phasic), tuple(trains))


def add_motor_activity(config: SynthConfig, planted: PlantedMotor, signals: dict, seed: int) -> None:
    """Add the planted activity to the µV signals (in place), noise drawn from its own stream."""
    rng = np.random.default_rng((seed, 14))
    fs = config.sfreq_hz
    chin = signals["chin"]
    for e, k0, length, rms in planted.tonic:
        a = int((e * EPOCH_S + k0 * MINI_EPOCH_S) * fs)
        b = int((e * EPOCH_S + (k0 + length) * MINI_EPOCH_S) * fs)
        chin[a:b] += (rms * rng.standard_normal(b - a)).astype(np.float32)
    for onset, duration, rms in planted.phasic:
        a, m = int(onset * fs), int(duration * fs)
        chin[a : a + m] += (rms * rng.standard_normal(m) * np.hanning(m) ** 0.25).astype(np.float32)
    for side, pots in planted.trains:
        leg = signals[f"{side}_leg"]
        for onset, duration in pots:
            a, m = int(onset * fs), int(duration * fs)
            leg[a : a + m] += (rng.uniform(60.0, 150.0) * rng.standard_normal(m) * np.hanning(m)).astype(np.float32)

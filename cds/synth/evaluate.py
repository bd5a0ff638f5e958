"""Compare detected events with planted truth (used by the tests and the detection benchmark)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["MatchResult", "match_events"]


@dataclass(frozen=True)
class MatchResult:
    true_positives: int
    false_negatives: int
    false_positives: int

    @property
    def sensitivity(self) -> float:
        n = self.true_positives + self.false_negatives
        return self.true_positives / n if n else 1.0

    @property
    def ppv(self) -> float:
        n = self.true_positives + self.false_positives
        return self.true_positives / n if n else 1.0


def match_events(
    truth_onset_s: NDArray[np.floating], detected_onset_s: NDArray[np.floating], *, tolerance_s: float
) -> MatchResult:
    """Greedy one-to-one matching of onsets within ``tolerance_s`` (nearest first)."""
    truth = np.sort(np.asarray(truth_onset_s, dtype=float))
    detected = np.sort(np.asarray(detected_onset_s, dtype=float))
    if truth.size == 0 or detected.size == 0:
        return MatchResult(0, int(truth.size), int(detected.size))
    dist = np.abs(truth[:, None] - detected[None, :])
    pairs = np.argwhere(dist <= tolerance_s)
    order = np.argsort(dist[pairs[:, 0], pairs[:, 1]], kind="stable")
    used_t, used_d = set(), set()
    for i, j in pairs[order]:
        if i not in used_t and j not in used_d:
            used_t.add(int(i))
            used_d.add(int(j))
    tp = len(used_t)
    return MatchResult(tp, int(truth.size) - tp, int(detected.size) - tp)

"""Agreement statistics between two scorings: event matching by onset, Bland-Altman limits, intraclass correlation.

Pure functions on arrays. Event agreement: each event of one scoring is paired with at most one of the other,
nearest onsets first, when the onsets differ by at most the stated tolerance (the usual event-level comparison
of automatic and manual scoring). Index agreement: Bland & Altman (Lancet 1986;1:307-310), 95 % limits of
agreement = mean difference +/- 1.96 SD; ICC(2,1), two-way random effects, absolute agreement, single measure
(Shrout & Fleiss, Psychol Bull 1979;86:420-428; McGraw & Wong 1996 "ICC(A,1)").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["LIMITS_Z", "EventAgreement", "bland_altman", "icc_absolute", "match_onsets"]

LIMITS_Z = 1.96  # Bland-Altman: 95 % of differences of normally distributed pairs lie within mean +/- 1.96 SD


@dataclass(frozen=True)
class EventAgreement:
    """Matched (true positive), missed (false negative: site only) and extra (false positive: cds only) events."""

    true_positives: int
    false_negatives: int
    false_positives: int

    @property
    def sensitivity(self) -> float | None:
        n = self.true_positives + self.false_negatives
        return self.true_positives / n if n else None

    @property
    def ppv(self) -> float | None:
        n = self.true_positives + self.false_positives
        return self.true_positives / n if n else None

    @property
    def f1(self) -> float | None:
        n = 2 * self.true_positives + self.false_negatives + self.false_positives
        return 2 * self.true_positives / n if n else None

    def __add__(self, other: EventAgreement) -> EventAgreement:
        return EventAgreement(
            self.true_positives + other.true_positives,
            self.false_negatives + other.false_negatives,
            self.false_positives + other.false_positives,
        )

    def to_dict(self) -> dict[str, Any]:
        def r(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {
            "true_positives": self.true_positives,
            "false_negatives": self.false_negatives,
            "false_positives": self.false_positives,
            "sensitivity": r(self.sensitivity),
            "ppv": r(self.ppv),
            "f1": r(self.f1),
        }


def match_onsets(reference_s: NDArray[np.floating], test_s: NDArray[np.floating], tolerance_s: float) -> EventAgreement:
    """Pair reference (site) and test (cds) onsets one to one, nearest first, within ``tolerance_s``."""
    ref = np.sort(np.asarray(reference_s, dtype=np.float64).reshape(-1))
    test = np.sort(np.asarray(test_s, dtype=np.float64).reshape(-1))
    if ref.size == 0 or test.size == 0:
        return EventAgreement(0, int(ref.size), int(test.size))
    lo = np.searchsorted(test, ref - tolerance_s, side="left")
    hi = np.searchsorted(test, ref + tolerance_s, side="right")
    pairs = [(abs(float(test[j] - ref[i])), i, j) for i in range(ref.size) for j in range(lo[i], hi[i])]
    pairs.sort()
    used_ref: set[int] = set()
    used_test: set[int] = set()
    for _, i, j in pairs:
        if i not in used_ref and j not in used_test:
            used_ref.add(i)
            used_test.add(j)
    tp = len(used_ref)
    return EventAgreement(tp, int(ref.size) - tp, int(test.size) - tp)


def bland_altman(reference: NDArray[np.floating], test: NDArray[np.floating]) -> dict[str, float | int | None]:
    """Mean difference (test - reference), its SD and the 95 % limits of agreement; SD and limits need 2 pairs."""
    ref, tst = np.asarray(reference, dtype=np.float64), np.asarray(test, dtype=np.float64)
    diff = tst - ref
    n = int(diff.size)
    if n == 0:
        return {"n": 0, "mean_difference": None, "sd_difference": None, "lower_limit": None, "upper_limit": None}
    mean = float(diff.mean())
    sd = float(diff.std(ddof=1)) if n >= 2 else None
    return {
        "n": n,
        "mean_difference": mean,
        "sd_difference": sd,
        "lower_limit": None if sd is None else mean - LIMITS_Z * sd,
        "upper_limit": None if sd is None else mean + LIMITS_Z * sd,
    }


def icc_absolute(reference: NDArray[np.floating], test: NDArray[np.floating]) -> float | None:
    """ICC(2,1), two-way random effects, absolute agreement, single rater, of paired values; None below 2 pairs
    or when every value is the same (no between-recording variance to explain)."""
    data = np.column_stack([np.asarray(reference, dtype=np.float64), np.asarray(test, dtype=np.float64)])
    n, k = data.shape
    if n < 2:
        return None
    grand = data.mean()
    ss_rows = k * float(((data.mean(axis=1) - grand) ** 2).sum())
    ss_cols = n * float(((data.mean(axis=0) - grand) ** 2).sum())
    ss_err = float(((data - grand) ** 2).sum()) - ss_rows - ss_cols
    ms_rows, ms_cols, ms_err = ss_rows / (n - 1), ss_cols / (k - 1), ss_err / ((n - 1) * (k - 1))
    denominator = ms_rows + (k - 1) * ms_err + k * (ms_cols - ms_err) / n
    if denominator <= 0:
        return None
    return (ms_rows - ms_err) / denominator

"""Agreement statistics on hand-computed cases (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest

from cds.validation.agreement import EventAgreement, bland_altman, icc_absolute, match_onsets


def test_matching_is_one_to_one_nearest_first_within_the_tolerance():
    site = [10.0, 20.0, 30.0, 40.0]
    ours = [10.4, 19.9, 20.3, 30.6, 55.0]  # 20.0 has two candidates: the nearer (19.9) wins; 30.6 is too far
    got = match_onsets(site, ours, 0.5)
    assert got == EventAgreement(true_positives=2, false_negatives=2, false_positives=3)
    assert got.sensitivity == pytest.approx(0.5) and got.ppv == pytest.approx(0.4)
    assert got.f1 == pytest.approx(2 * 2 / (2 * 2 + 2 + 3))


def test_the_tolerance_is_inclusive_and_empty_sides_are_counted():
    assert match_onsets([5.0], [5.5], 0.5).true_positives == 1
    assert match_onsets([5.0], [5.5001], 0.5).true_positives == 0
    assert match_onsets([], [1.0, 2.0], 0.5) == EventAgreement(0, 0, 2)
    none = match_onsets([], [], 0.5)
    assert none.sensitivity is None and none.ppv is None and none.f1 is None


def test_bland_altman_by_hand():
    got = bland_altman(np.array([10.0, 20.0, 30.0]), np.array([12.0, 21.0, 33.0]))  # differences 2, 1, 3
    assert got["n"] == 3 and got["mean_difference"] == pytest.approx(2.0)
    assert got["sd_difference"] == pytest.approx(1.0)
    assert got["lower_limit"] == pytest.approx(2.0 - 1.96) and got["upper_limit"] == pytest.approx(2.0 + 1.96)
    one = bland_altman(np.array([1.0]), np.array([2.0]))
    assert one["mean_difference"] == 1.0 and one["sd_difference"] is None and one["lower_limit"] is None


def test_icc_absolute_agreement_by_hand():
    # rows (1,2) (2,3) (3,4): MSR = 2, MSC = 1.5, MSE = 0 -> ICC(2,1) = 2 / (2 + 2 * 1.5 / 3) = 2/3
    assert icc_absolute(np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0])) == pytest.approx(2 / 3)
    assert icc_absolute(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(1.0)
    assert icc_absolute(np.array([1.0]), np.array([1.0])) is None
    assert icc_absolute(np.array([2.0, 2.0]), np.array([2.0, 2.0])) is None

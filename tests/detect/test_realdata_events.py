"""Real event timing: a Noxturnal export through cds.io.events.read_events -> grammar and respiratory exclusion."""

from __future__ import annotations

import numpy as np
import pytest

from cds.detect.legmovements import make_leg_movements
from cds.detect.plm import find_plm_series, find_respiratory_related
from cds.io.events import read_events
from cds.standards import load_standard

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def nox(real_data_dir):
    return read_events(real_data_dir / "sleepr-testdata" / "noxturnal_events_example_unicode_2.csv")


def _lms(nox):
    table = nox.leg_movements
    return make_leg_movements(table[:, 0], np.nan_to_num(table[:, 1], nan=0.5), "bilateral")


def test_noxturnal_counts(nox):
    assert len(nox.leg_movements) == 30  # 29 'MJ' + 1 'PLM'
    assert len(nox.respiratory) >= 114 + 89  # obstructive apneas + hypopneas (plus any other apnea kind)
    assert nox.has_respiratory_scoring


@pytest.mark.parametrize("name", ["aasm", "wasm2016"])
def test_respiratory_exclusion_and_series_on_real_timing(nox, name):
    std = load_standard(name)
    lms = _lms(nox)
    related = find_respiratory_related(lms, nox.respiratory, std)
    # hand check of the windows on the real table: an LM is related iff it overlaps some widened event
    r = nox.respiratory
    lo = (r[:, 0] if std.respiratory.anchor == "event" else r[:, 0] + r[:, 1]) - std.respiratory.before_s
    hi = r[:, 0] + r[:, 1] + std.respiratory.after_s
    expected = [bool(((lo < e) & (hi > o)).any()) for o, e in zip(lms.onset_s, lms.end_s, strict=True)]
    assert related.tolist() == expected
    excluded = find_plm_series(lms, std, respiratory_related=related)
    including = find_plm_series(lms, std)
    assert excluded.count <= including.count
    assert not (excluded.periodic & related).any()
    imis = np.diff(lms.onset_s)
    if including.count:  # every periodic LM has a neighbour within the standard's interval bounds
        ok = (imis >= std.plm_series.imi_min_s) & (imis <= std.plm_series.imi_max_s)
        near = np.concatenate(([False], ok)) | np.concatenate((ok, [False]))
        assert near[including.periodic].all()

"""The AASM EFM rule on hand-made potential times."""

from __future__ import annotations

import numpy as np

from cds.standards import load_standard
from cds.stats.fragmentary import compute_efm
from cds.synth.generate import SynthHypnogram

AASM = load_standard("aasm")


def _minutes(rate_per_min, minutes, start_s=0.0):
    return np.concatenate([start_s + 60 * m + np.linspace(1, 59, rate_per_min) for m in range(minutes)])


def test_twenty_nrem_minutes_at_five_per_minute_is_excessive():
    hyp = SynthHypnogram(("N2",) * 40 + ("W",) * 10)
    efm = compute_efm(_minutes(5, 20), hyp, AASM)
    assert efm.excessive and efm.minutes_meeting_rule == 20.0
    assert efm.nrem_minutes == 20.0 and efm.potentials_per_min_nrem == 5.0


def test_nineteen_minutes_or_four_per_minute_is_not():
    hyp = SynthHypnogram(("N2",) * 40)
    assert not compute_efm(_minutes(5, 19), hyp, AASM).excessive
    assert not compute_efm(_minutes(4, 20), hyp, AASM).excessive


def test_potentials_in_rem_or_wake_do_not_count():
    hyp = SynthHypnogram(("R",) * 40 + ("W",) * 40)
    efm = compute_efm(_minutes(10, 40), hyp, AASM)
    assert not efm.excessive and efm.nrem_minutes == 0.0 and efm.potentials_per_min_nrem is None


def test_no_potentials():
    efm = compute_efm(np.array([]), SynthHypnogram(("N2",) * 4), AASM)
    assert efm.potential_count == 0 and efm.potentials_per_min_nrem == 0.0 and not efm.excessive

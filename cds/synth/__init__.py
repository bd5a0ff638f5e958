"""Synthetic PSG nights with planted leg movements, jerks and fragmentary myoclonus (tests, benchmarks, demo)."""

from cds.synth.config import PRESETS, SynthConfig
from cds.synth.evaluate import MatchResult, match_events
from cds.synth.generate import SynthHypnogram, SynthTruth, write_synthetic_psg, write_truth_json

__all__ = [
    "PRESETS",
    "MatchResult",
    "SynthConfig",
    "SynthHypnogram",
    "SynthTruth",
    "match_events",
    "write_synthetic_psg",
    "write_truth_json",
]

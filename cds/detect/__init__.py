"""Detection: pure, vectorised functions on arrays (signals) and event tables (the PLM grammar)."""

from cds.detect.ecg import EcgBeats, cancel_ecg, find_ecg_beats, remove_ecg
from cds.detect.fragmentary import detect_fragmentary_potentials
from cds.detect.jerks import SleepOnsetJerks, detect_sleep_onset_jerks, find_wake_to_n1_transitions
from cds.detect.legmovements import LegMovements, detect_leg_movements_filtered, make_leg_movements
from cds.detect.plm import (
    PlmSeries,
    find_arousal_associated,
    find_bilateral_movements,
    find_candidates,
    find_plm_series,
    find_respiratory_related,
)
from cds.detect.preprocess import compute_envelope, compute_resting_level, filter_emg
from cds.detect.quality import ChannelQuality, assess_channel

__all__ = [
    "ChannelQuality",
    "EcgBeats",
    "LegMovements",
    "PlmSeries",
    "SleepOnsetJerks",
    "assess_channel",
    "cancel_ecg",
    "compute_envelope",
    "compute_resting_level",
    "detect_fragmentary_potentials",
    "detect_leg_movements_filtered",
    "detect_sleep_onset_jerks",
    "filter_emg",
    "find_arousal_associated",
    "find_bilateral_movements",
    "find_candidates",
    "find_ecg_beats",
    "find_plm_series",
    "find_respiratory_related",
    "find_wake_to_n1_transitions",
    "make_leg_movements",
    "remove_ecg",
]

"""Statistics: sleep (TST, SE, SOL, WASO), leg-movement indices, the EFM rule."""

from cds.stats.fragmentary import EfmResult, compute_efm
from cds.stats.indices import LegMovementStats, compute_leg_movement_stats, compute_periodicity_index
from cds.stats.sleep import SleepSummary, compute_sleep_summary

__all__ = [
    "EfmResult",
    "LegMovementStats",
    "SleepSummary",
    "compute_efm",
    "compute_leg_movement_stats",
    "compute_periodicity_index",
    "compute_sleep_summary",
]

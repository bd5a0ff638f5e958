"""Sleep stages as an enum (AASM Manual v2.6 §IV: W, N1, N2, N3, R in 30-s epochs; '?' unscored, 'M' movement
time). A shared leaf: the readers (cds.io) build hypnograms of ``SleepStage`` members and the signal core
(cds.detect, cds.stats) tests them against the sets below, never against spelled-out strings. ``SleepStage`` is a
``StrEnum``, so a member is also its label (``SleepStage.R == "R"``) in JSON, CSV and numpy string arrays."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy only where an array is built: the letter's figure reads stages without it
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["NREM", "SLEEP", "SleepStage", "stage_labels", "to_stages"]


class SleepStage(StrEnum):
    """One 30-s epoch's stage; values are the AASM labels used in every output."""

    W = "W"
    N1 = "N1"
    N2 = "N2"
    N3 = "N3"
    R = "R"
    UNSCORED = "?"
    MOVEMENT = "M"


NREM: frozenset[SleepStage] = frozenset({SleepStage.N1, SleepStage.N2, SleepStage.N3})
SLEEP: frozenset[SleepStage] = NREM | {SleepStage.R}


def to_stages(labels: Iterable[str]) -> tuple[SleepStage, ...]:
    """The stages of already-normalised labels ('W', 'N1', ..., '?', 'M'); ValueError names an unknown one."""
    try:
        return tuple(SleepStage(label) for label in labels)
    except ValueError as exc:
        allowed = ", ".join(s.value for s in SleepStage)
        raise ValueError(f"unknown sleep stage (allowed: {allowed}; {exc})") from exc


def stage_labels(stages: Iterable[str], members: Iterable[SleepStage]) -> NDArray[np.bool_]:
    """Boolean mask: which of ``stages`` (per epoch) are one of ``members``."""
    import numpy as np

    wanted = np.asarray(sorted(s.value for s in members), dtype="<U2")
    return np.isin(np.asarray(list(stages), dtype="<U2"), wanted)

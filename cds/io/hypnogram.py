"""Hypnograms: 30-s sleep stages from EDF+ annotations, CSV/TSV stage tables or Noxturnal exports.

AASM Manual v2.6 §IV (stages W, N1, N2, N3, R in 30-s epochs); Rechtschaffen & Kales 1968 stages 1-4 map to
N1, N2 and N3 (3 and 4 together), as in the AASM 2007 transition rules. Unscored epochs are '?', movement
time 'M'. Annotations longer than one epoch (Sleep-EDF) expand to consecutive epochs; gaps stay '?'.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from cds.caveats import Caveat
from cds.errors import HypnogramError, InputError
from cds.io.edf import Annotation
from cds.io.events import fold_label, read_aligned_annotations, read_event_table

__all__ = ["STAGES", "Hypnogram", "check_hypnogram", "hypnogram_from_annotations", "read_hypnogram", "stage_of"]

log = logging.getLogger(__name__)

STAGES = ("W", "N1", "N2", "N3", "R")
UNSCORED = "?"
MOVEMENT = "M"
DEFAULT_EPOCH_S = 30.0

_STAGE_WORDS = {
    "w": "W", "wake": "W", "eveil": "W", "awake": "W",
    "n1": "N1", "s1": "N1", "n2": "N2", "s2": "N2", "n3": "N3", "s3": "N3", "s4": "N3", "n4": "N3",
    "r": "R", "rem": "R", "sr": "R",
    "?": UNSCORED, "u": UNSCORED, "unscored": UNSCORED, "unknown": UNSCORED,
    "m": MOVEMENT, "mt": MOVEMENT, "movement time": MOVEMENT, "movement": MOVEMENT,
}  # fmt: skip
_RK_DIGITS = {"1": "N1", "2": "N2", "3": "N3", "4": "N3"}
_PREFIX = re.compile(r"^sleep[\s_]*stage[\s_]*")


@dataclass(frozen=True)
class Hypnogram:
    """One stage per epoch, epoch 0 starting ``start_s`` seconds after the recording start."""

    stages: tuple[str, ...]
    epoch_s: float
    start_s: float
    lights_off_s: float | None
    lights_on_s: float | None
    source: str
    scheme: str
    caveats: tuple[Caveat, ...] = field(default=(), compare=False)

    @property
    def end_s(self) -> float:
        return self.start_s + len(self.stages) * self.epoch_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "scheme": self.scheme,
            "epoch_s": self.epoch_s,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "n_epochs": len(self.stages),
            "lights_off_s": self.lights_off_s,
            "lights_on_s": self.lights_on_s,
            "caveats": [c.to_dict() for c in self.caveats],
        }

    @cached_property
    def _stage_array(self) -> np.ndarray:
        return np.array(self.stages, dtype="<U2")

    def stage_at(self, times_s: np.ndarray) -> np.ndarray:
        """Stage of the epoch holding each time (s after recording start); '?' outside the hypnogram."""
        times_s = np.asarray(times_s, dtype=np.float64)
        idx = np.floor((times_s - self.start_s) / self.epoch_s)
        inside = (idx >= 0) & (idx < len(self.stages))
        out = np.full(times_s.shape, UNSCORED, dtype="<U2")
        out[inside] = self._stage_array[idx[inside].astype(np.intp)]
        return out


def stage_of(label: str, *, prefixed_only: bool = False) -> tuple[str, bool] | None:
    """Map a stage label to (stage, is_rk), or None when it is not a stage label.

    With ``prefixed_only`` (EDF+ annotations) only 'Sleep stage X' and 'Movement time' count.
    """
    text = fold_label(label)
    bare = _PREFIX.sub("", text)
    if prefixed_only and bare == text and text != "movement time":
        return None
    if bare in _RK_DIGITS:
        return _RK_DIGITS[bare], True
    if bare in _STAGE_WORDS:
        return _STAGE_WORDS[bare], False
    return None


def _epoch_of(durations: list[float], source: str) -> float:
    """30 s (AASM) when every stage duration is a multiple of it, else the shortest duration (old 20-s R&K)."""
    positive = [d for d in durations if d > 0]
    if not positive:
        return DEFAULT_EPOCH_S
    for epoch in (DEFAULT_EPOCH_S, min(positive)):
        off_grid = [d for d in positive if abs(d / epoch - round(d / epoch)) > 1e-3 or round(d / epoch) == 0]
        if not off_grid:
            return epoch
    raise HypnogramError(
        f"stage durations {', '.join(f'{d:g}' for d in sorted(set(off_grid))[:5])} s are not whole multiples "
        f"of the {epoch:g}-s epoch",
        path=source,
    )


def _build(
    rows: Sequence[tuple[float, float | None, str]],
    *,
    source: str,
    lights: tuple[float | None, float | None],
    caveats: Sequence[Caveat] = (),
) -> Hypnogram | None:
    staged = []
    rk = False
    for onset_s, duration_s, label in rows:
        hit = stage_of(label, prefixed_only=False)
        if hit is not None:
            staged.append((onset_s, duration_s, hit[0]))
            rk = rk or hit[1]
    if not staged:
        return None
    epoch_s = _epoch_of([d for _, d, _ in staged if d is not None], source)
    start_s = min(o for o, _, _ in staged)
    slots: dict[int, str] = {}
    conflicts = 0
    for onset_s, duration_s, stage in staged:
        first = round((onset_s - start_s) / epoch_s)
        count = max(1, round(duration_s / epoch_s)) if duration_s else 1
        for i in range(first, first + count):
            if slots.get(i, stage) != stage:
                conflicts += 1
            slots[i] = stage
    stages = [UNSCORED] * (max(slots) + 1)
    for i, stage in slots.items():
        stages[i] = stage
    extra = list(caveats)
    if conflicts:
        extra.append(
            Caveat(
                "hypnogram_overlaps",
                f"{source}: {conflicts} epochs carry two different stages; the later annotation was kept",
            )
        )
    log.info(
        "%s: %d epochs of %g s from %g s, scheme %s", source, len(stages), epoch_s, start_s, "rk" if rk else "aasm"
    )
    return Hypnogram(
        tuple(stages), epoch_s, start_s, lights[0], lights[1], source, "rk" if rk else "aasm", tuple(extra)
    )


def _lights(rows: Sequence[tuple[float, float | None, str]]) -> tuple[float | None, float | None]:
    off = next((o for o, _, t in rows if re.match(r"lights?[\s_-]*off", fold_label(t))), None)
    on = next((o for o, _, t in rows if re.match(r"lights?[\s_-]*on\b", fold_label(t))), None)
    return off, on


def hypnogram_from_annotations(annotations: Sequence[Annotation], *, source: str) -> Hypnogram | None:
    """Build a hypnogram from EDF+ 'Sleep stage X' annotations; None when there are none."""
    rows = [(a.onset_s, a.duration_s, a.text) for a in annotations]
    staged = [r for r in rows if stage_of(r[2], prefixed_only=True) is not None]
    return _build(staged, source=source, lights=_lights(rows))


def read_hypnogram(path: str | Path, *, recording_start: datetime | None = None) -> Hypnogram:
    """Read a hypnogram file: annotation-only EDF+, a CSV/TSV ``onset,duration,stage`` or a Noxturnal export.

    Raises: HypnogramError when the file is missing, unreadable or holds no stage labels.
    """
    path = Path(path)
    if not path.is_file():
        raise HypnogramError("file not found", path=path)
    with path.open("rb") as fh:
        is_edf = fh.read(8) in (b"0       ", b"\xffBIOSEMI")
    if is_edf:
        try:
            annotations, caveats = read_aligned_annotations(path, recording_start)
        except InputError as exc:
            raise HypnogramError(exc.problem, path=path, hint=exc.hint) from exc
        rows = [(a.onset_s, a.duration_s, a.text) for a in annotations]
        staged = [r for r in rows if stage_of(r[2], prefixed_only=True) is not None]
        hyp = _build(staged, source=path.name, lights=_lights(rows), caveats=caveats)
    else:
        try:
            rows, caveats = read_event_table(path, recording_start=recording_start)
        except InputError as exc:
            raise HypnogramError(exc.problem, path=path, location=exc.location, hint=exc.hint) from exc
        hyp = _build(rows, source=path.name, lights=_lights(rows), caveats=caveats)
    if hyp is None:
        raise HypnogramError(
            "no sleep-stage labels found",
            path=path,
            hint="expected 'Sleep stage W/N1/N2/N3/R' (AASM) or 'Sleep stage W/1/2/3/4/R/?' (R&K)",
        )
    return hyp


def check_hypnogram(hyp: Hypnogram, recording_duration_s: float, *, path: str | Path | None) -> tuple[Caveat, ...]:
    """Compare the hypnogram span with the recording; no overlap at all is an error, a mismatch a caveat.

    Returns only the caveats of this comparison; the reading caveats stay in ``hyp.caveats``.
    """
    overlap_s = min(hyp.end_s, recording_duration_s) - max(hyp.start_s, 0.0)
    span = f"hypnogram {hyp.start_s:g}-{hyp.end_s:g} s, recording 0-{recording_duration_s:g} s"
    if overlap_s <= 0:
        raise HypnogramError(f"hypnogram does not overlap the recording ({span})", path=path)
    caveats = []
    hyp_len = hyp.end_s - hyp.start_s
    if (
        abs(hyp_len - recording_duration_s) > 2 * hyp.epoch_s
        or hyp.start_s < 0
        or hyp.end_s > recording_duration_s + hyp.epoch_s
    ):
        caveats.append(
            Caveat(
                "hypnogram_length_mismatch",
                f"{hyp.source}: hypnogram {hyp_len / 60:.1f} min and "
                f"recording {recording_duration_s / 60:.1f} min differ ({span})",
            )
        )
    return tuple(caveats)

"""Hypnograms: 30-s sleep stages from EDF+ annotations, CSV/TSV stage tables or Noxturnal exports.

AASM Manual v2.6 §IV (stages W, N1, N2, N3, R in 30-s epochs); Rechtschaffen & Kales 1968 stages 1-4 map to
N1, N2 and N3 (3 and 4 together), as in the AASM 2007 transition rules. Unscored epochs are '?', movement
time 'M'. Annotations longer than one epoch (Sleep-EDF) expand to consecutive epochs; gaps stay '?'.

Labels come from a documented vocabulary (knowledge/labels.yaml, extended with ``--stage-labels``; cds.io.labels).
A label that should be a stage but is not in it is refused with its line, never dropped: in a table whose label
column is ``stage``, every row; in an EDF+ file, every 'Sleep stage X'; in a mixed event table (Noxturnal), a
label that looks like a stage ('N5', 'Sleep stage 9') or that fills whole epochs where no stage is scored.
Stages off the epoch grid are refused; with the recording's duration, scored epochs outside the recording are
dropped with a caveat, or the file refused when they are more than 10 % of it (another night, wrong epoch).
Unscored epochs inside the night are named by a caveat.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from cds.caveats import Caveat
from cds.errors import HypnogramError, InputError
from cds.io.edf import Annotation
from cds.io.events import annotation_rows, is_known_label, read_aligned_annotations, read_table
from cds.io.labels import LabelVocabulary, fold_label, load_labels, strip_stage_prefix
from cds.io.validate import MAX_BEYOND_FRACTION, MAX_SPAN_S, Row, check_row_times, where_text
from cds.stages import SleepStage, to_stages

__all__ = ["STAGES", "Hypnogram", "check_hypnogram", "hypnogram_from_annotations", "read_hypnogram", "stage_of"]

log = logging.getLogger(__name__)

STAGES = (SleepStage.W, SleepStage.N1, SleepStage.N2, SleepStage.N3, SleepStage.R)
UNSCORED = SleepStage.UNSCORED
MOVEMENT = SleepStage.MOVEMENT
DEFAULT_EPOCH_S = 30.0
_STAGE_LIKE = re.compile(r"^(?:(?:n|s|nrem|stage)\s*\d+|stage\s+\w+)$")
_LIGHTS_OFF = re.compile(r"lights?[\s_-]*off")
_LIGHTS_ON = re.compile(r"lights?[\s_-]*on\b")
_MAX_EXPANSION = 20  # stage rows may overlap (caveat), but not cover the night more than this many times


@dataclass(frozen=True)
class Hypnogram:
    """One stage per epoch (``SleepStage``), epoch 0 starting ``start_s`` seconds after the recording start."""

    stages: tuple[SleepStage, ...]
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


def stage_of(
    label: str, *, prefixed_only: bool = False, labels: LabelVocabulary | None = None
) -> tuple[str, bool] | None:
    """Map a stage label to (stage, is_rk), or None when it is not a stage label (knowledge/labels.yaml).

    With ``prefixed_only`` (EDF+ annotations) only 'Sleep stage X' and 'Movement time' count.
    """
    return (labels or load_labels()).stage(label, prefixed_only=prefixed_only)


def _epoch_of(rows: list[Row], path: str | Path) -> float:
    """30 s (AASM) when every stage duration is a multiple of it, else the shortest duration (old 20-s R&K)."""
    positive = [(r, r.duration_s) for r in rows if r.duration_s is not None and r.duration_s > 0]
    if not positive:
        return DEFAULT_EPOCH_S
    for epoch in (DEFAULT_EPOCH_S, min(d for _, d in positive)):
        off_grid = [(r, d) for r, d in positive if not _on_grid(d, epoch) or round(d / epoch) == 0]
        if not off_grid:
            return epoch
    durations = sorted({d for _, d in off_grid})
    raise HypnogramError(
        f"stage durations {', '.join(f'{d:g}' for d in durations[:5])} s are not whole multiples "
        f"of the {epoch:g}-s epoch",
        path=path,
        location=off_grid[0][0].where or None,
    )


class _Staged(NamedTuple):
    row: Row
    stage: str
    rk: bool
    first: int = 0  # epoch index from the first stage onset
    n_epochs: int = 1


def _unknown_stage(row: Row, labels: LabelVocabulary, path: str | Path, why: str = "") -> HypnogramError:
    return HypnogramError(
        f"unknown sleep-stage label {row.label!r}{why}",
        path=path,
        location=row.where or None,
        hint=f"allowed: {labels.describe_stages()}; add labels with --stage-labels FILE (see knowledge/labels.yaml)",
    )


def _classify(
    rows: Sequence[Row], labels: LabelVocabulary, *, mode: str, path: str | Path
) -> tuple[list[_Staged], list[Row]]:
    """Stage rows and the unknown rows left for the gap check. ``mode``: 'annotations' (EDF+: 'Sleep stage X'
    only), 'stages' (a stage column: every row a stage or a known marker) or 'mixed' (an event table). Each
    distinct label is looked up once (a table repeats a handful of labels)."""
    meaning: dict[str, tuple[str, tuple[str, bool] | None]] = {}
    staged, unknown = [], []
    for row in rows:
        if row.label not in meaning:
            meaning[row.label] = _label_meaning(row.label, labels, mode)
        what, hit = meaning[row.label]
        if what == "stage" and hit is not None:
            staged.append(_Staged(row, hit[0], hit[1]))
        elif what == "refuse":
            raise _unknown_stage(row, labels, path)
        elif what == "unknown":
            unknown.append(row)
    return staged, unknown


def _label_meaning(label: str, labels: LabelVocabulary, mode: str) -> tuple[str, tuple[str, bool] | None]:
    """('stage', (stage, is_rk)), ('other', None) for a known non-stage label, ('refuse', None) for an unknown
    stage label, or ('unknown', None) for an unknown label of a mixed table."""
    hit = labels.stage(label, prefixed_only=mode == "annotations")
    if hit is not None:
        return "stage", hit
    folded = fold_label(label)
    prefixed = strip_stage_prefix(folded) != folded
    if mode == "annotations":
        return ("refuse" if prefixed else "other"), None
    if is_known_label(label, labels):
        return "other", None
    if mode == "stages" or prefixed or _STAGE_LIKE.match(strip_stage_prefix(folded)):
        return "refuse", None
    return "unknown", None


def _on_grid(offset_s: float, epoch_s: float) -> bool:
    k = offset_s / epoch_s
    return abs(k - round(k)) <= 1e-3


def _place(staged: list[_Staged], epoch_s: float, start_s: float, path: str | Path) -> list[_Staged]:
    """Epoch index and count of every stage row (numpy over all rows); a stage off the epoch grid is refused with
    its line."""
    onsets = np.fromiter((s.row.onset_s for s in staged), dtype=np.float64, count=len(staged))
    durations = np.fromiter((s.row.duration_s or 0.0 for s in staged), dtype=np.float64, count=len(staged))
    k = (onsets - start_s) / epoch_s
    first = np.rint(k)
    off = np.flatnonzero(np.abs(k - first) > 1e-3)
    if off.size:
        s = staged[int(off[0])]
        raise HypnogramError(
            f"stage {s.row.label!r} starts at {s.row.onset_s:g} s, off the {epoch_s:g}-s epoch grid that "
            f"starts at {start_s:g} s",
            path=path,
            location=s.row.where or None,
        )
    counts = np.maximum(1.0, np.rint(durations / epoch_s))
    return [
        _Staged(s.row, s.stage, s.rk, int(f), int(c))
        for s, f, c in zip(staged, first.tolist(), counts.tolist(), strict=True)
    ]


def _window(start_s: float, epoch_s: float, last: int, duration_s: float | None) -> tuple[int, int]:
    """Epoch indices kept: those overlapping the recording (0 to ``duration_s``), or all without a duration."""
    if duration_s is None:
        return 0, last
    lo = math.floor(-start_s / epoch_s - 1) + 1  # first epoch ending after 0 s
    hi = math.ceil((duration_s - start_s) / epoch_s) - 1  # last epoch starting before the end
    return lo, hi


def _build(
    rows: Sequence[Row],
    *,
    source: str,
    path: str | Path,
    lights: tuple[float | None, float | None],
    labels: LabelVocabulary,
    mode: str,
    caveats: Sequence[Caveat] = (),
    recording_duration_s: float | None = None,
) -> Hypnogram | None:
    staged, unknown = _classify(rows, labels, mode=mode, path=path)
    if not staged:
        return None
    check_row_times([s.row for s in staged], path=path, error_cls=HypnogramError, bounded=recording_duration_s is None)
    epoch_s = _epoch_of([s.row for s in staged], path)
    start_s = min(s.row.onset_s for s in staged)
    staged = _place(staged, epoch_s, start_s, path)
    last = max(s.first + s.n_epochs - 1 for s in staged)
    if recording_duration_s is None and (last + 1) * epoch_s > MAX_SPAN_S:
        raise HypnogramError(f"stages span {(last + 1) * epoch_s / 86400:.1f} days: not one night", path=path)
    lo, hi = _window(start_s, epoch_s, last, recording_duration_s)
    expanded = sum(max(0, min(s.first + s.n_epochs - 1, hi) - max(s.first, lo) + 1) for s in staged)
    if expanded > _MAX_EXPANSION * max(1, hi - lo + 1) + len(staged):
        raise HypnogramError(f"stage annotations overlap {expanded} times over {hi - lo + 1} epochs", path=path)
    slots: dict[int, str] = {}
    conflicts = outside_scored = 0
    first_outside: _Staged | None = None
    rk = False
    for s in staged:
        rk = rk or s.rk
        inside_from, inside_to = max(s.first, lo), min(s.first + s.n_epochs - 1, hi)
        n_inside = max(0, inside_to - inside_from + 1)
        if s.stage != UNSCORED and n_inside < s.n_epochs:
            outside_scored += s.n_epochs - n_inside
            first_outside = first_outside or s
        for i in range(inside_from, inside_to + 1):
            if slots.get(i, s.stage) != s.stage:
                conflicts += 1
            slots[i] = s.stage
    extra = list(caveats)
    if recording_duration_s is not None:
        extra += _beyond_recording(
            slots, outside_scored, first_outside, epoch_s, start_s, recording_duration_s, source=source, path=path
        )
        check_row_times([s.row for s in staged], path=path, error_cls=HypnogramError)
    first_i, last_i = min(slots), max(slots)
    stages: list[str] = [UNSCORED.value] * (last_i - first_i + 1)
    for i, stage in slots.items():
        stages[i - first_i] = stage
    if mode == "mixed":
        _refuse_unknown_in_gaps(unknown, slots, epoch_s, start_s, labels, path)
    if conflicts:
        extra.append(
            Caveat(
                "hypnogram_overlaps",
                f"{source}: {conflicts} epochs carry two different stages; the later annotation was kept",
            )
        )
    extra += _unscored_inside(stages, set(slots), first_i, epoch_s, source)
    scheme = "rk" if rk else "aasm"
    begin_s = start_s + first_i * epoch_s
    extra += _check_lights(lights, recording_duration_s, path, source)
    log.info("%s: %d epochs of %g s from %g s, scheme %s", source, len(stages), epoch_s, begin_s, scheme)
    return Hypnogram(to_stages(stages), epoch_s, begin_s, lights[0], lights[1], source, scheme, tuple(extra))


def _beyond_recording(
    slots: dict[int, str],
    outside_scored: int,
    first: _Staged | None,
    epoch_s: float,
    start_s: float,
    duration_s: float,
    *,
    source: str,
    path: str | Path,
) -> list[Caveat]:
    """Scored epochs outside the recording: none kept at all, or more than MAX_BEYOND_FRACTION of the recording,
    is another night (refused); a few are dropped with a caveat."""
    scored_min = outside_scored * epoch_s / 60
    if not slots:
        raise HypnogramError(
            f"hypnogram does not overlap the recording (its {scored_min:.1f} min of stages start at {start_s:g} s; "
            f"recording 0-{duration_s:g} s)",
            path=path,
        )
    if outside_scored == 0:
        return []
    where = f" (from {where_text(first.row.where)})" if first is not None and first.row.where else ""
    if outside_scored * epoch_s > max(2 * epoch_s, MAX_BEYOND_FRACTION * duration_s):
        raise HypnogramError(
            f"{scored_min:.1f} min of scored stages lie outside the recording (0-{duration_s:g} s, "
            f"{duration_s / 60:.1f} min){where}: more than {MAX_BEYOND_FRACTION:.0%} of it",
            path=path,
            hint="is it this recording's hypnogram? another night, or another epoch length?",
        )
    text = (
        f"{source}: {outside_scored} scored epochs ({scored_min:.1f} min){where} lie outside the recording "
        f"(0-{duration_s:g} s) and were not used"
    )
    return [Caveat("hypnogram_beyond_recording", text)]


def _refuse_unknown_in_gaps(
    unknown: Sequence[Row],
    slots: dict[int, str],
    epoch_s: float,
    start_s: float,
    labels: LabelVocabulary,
    path: str | Path,
) -> None:
    """In a mixed table, an unknown label that fills whole epochs where no stage is scored is a stage the
    vocabulary does not know ('sleepy' for REM): refused, not left as a silent gap."""
    first_i, last_i = min(slots), max(slots)
    for row in unknown:
        offset = row.onset_s - start_s
        duration = row.duration_s or 0.0
        if duration <= 0 or not _on_grid(offset, epoch_s) or not _on_grid(duration, epoch_s):
            continue
        i = round(offset / epoch_s)
        if first_i <= i <= last_i and i not in slots:
            raise _unknown_stage(row, labels, path, why=" where no stage is scored")


def _unscored_inside(stages: list[str], filled: set[int], first_i: int, epoch_s: float, source: str) -> list[Caveat]:
    """Unscored epochs between the first and the last scored one: TST and efficiency cannot count them."""
    scored = [k for k, stage in enumerate(stages) if stage != UNSCORED]
    if not scored:
        return []
    inside = range(scored[0], scored[-1] + 1)
    gaps = sum(1 for k in inside if (k + first_i) not in filled)
    marked = sum(1 for k in inside if stages[k] == UNSCORED and (k + first_i) in filled)
    if not gaps and not marked:
        return []
    parts = [f"{gaps} with no stage in the file" if gaps else "", f"{marked} marked unscored" if marked else ""]
    text = (
        f"{source}: {gaps + marked} epochs ({(gaps + marked) * epoch_s / 60:.1f} min) between the first and the last "
        f"scored epoch have no stage ({', '.join(p for p in parts if p)}); they count in time in bed, not as sleep "
        "or wake"
    )
    return [Caveat("hypnogram_unscored_epochs", text)]


def _lights(rows: Sequence[Row]) -> tuple[float | None, float | None]:
    off = next((r.onset_s for r in rows if _LIGHTS_OFF.match(fold_label(r.label))), None)
    on = next((r.onset_s for r in rows if _LIGHTS_ON.match(fold_label(r.label))), None)
    return off, on


def _check_lights(
    lights: tuple[float | None, float | None], duration_s: float | None, path: str | Path, source: str
) -> list[Caveat]:
    """Lights off before lights on, both finite and (with a recording) off before its end and on after its start;
    lights off before the recording starts or lights on after it ends are named (the period is the recording's)."""
    off, on = lights
    for name, value in (("lights off", off), ("lights on", on)):
        if value is not None and not (math.isfinite(value) and abs(value) <= MAX_SPAN_S):
            raise HypnogramError(f"{name} at {value!r} s is not a time within the night", path=path)
    if off is not None and on is not None and on <= off:
        raise HypnogramError(f"lights on ({on:g} s) is not after lights off ({off:g} s)", path=path)
    if duration_s is None:
        return []
    if off is not None and off >= duration_s:
        raise HypnogramError(f"lights off at {off:g} s is after the end of the recording ({duration_s:g} s)", path=path)
    if on is not None and on <= 0:
        raise HypnogramError(f"lights on at {on:g} s is before the recording starts", path=path)
    outside = [f"lights off at {off:g} s is before the recording starts"] if off is not None and off < 0 else []
    if on is not None and on > duration_s:
        outside.append(f"lights on at {on:g} s is after the recording ends ({duration_s:g} s)")
    if not outside:
        return []
    text = f"{source}: {' and '.join(outside)}; the analysed period is limited to the recording"
    return [Caveat("lights_outside_recording", text)]


def hypnogram_from_annotations(
    annotations: Sequence[Annotation],
    *,
    source: str,
    path: str | Path | None = None,
    recording_duration_s: float | None = None,
    labels: LabelVocabulary | None = None,
) -> Hypnogram | None:
    """Build a hypnogram from EDF+ 'Sleep stage X' annotations; None when there are none."""
    rows = annotation_rows(annotations, path=path)
    return _build(
        rows,
        source=source,
        path=path or source,
        lights=_lights(rows),
        labels=labels or load_labels(),
        mode="annotations",
        recording_duration_s=recording_duration_s,
    )


def read_hypnogram(
    path: str | Path,
    *,
    recording_start: datetime | None = None,
    recording_duration_s: float | None = None,
    labels: LabelVocabulary | None = None,
) -> Hypnogram:
    """Read a hypnogram file: annotation-only EDF+, a CSV/TSV ``onset,duration,stage`` or a Noxturnal export.

    Raises: HypnogramError when the file is missing, unreadable, holds no stage labels or an unknown one, has
    stages off the epoch grid, or (with ``recording_duration_s``) does not belong to the recording.
    """
    path = Path(path)
    if not path.is_file():
        raise HypnogramError("file not found" if not path.exists() else "not a file", path=path)
    vocab = labels or load_labels()
    with path.open("rb") as fh:
        is_edf = fh.read(8) in (b"0       ", b"\xffBIOSEMI")
    try:
        if is_edf:
            annotations, caveats = read_aligned_annotations(path, recording_start)
            rows, mode = annotation_rows(annotations, path=path), "annotations"
        else:
            table = read_table(path, recording_start=recording_start)
            rows, caveats = table.rows, table.caveats
            mode = "stages" if table.label_column == "stage" else "mixed"
    except HypnogramError:
        raise
    except InputError as exc:
        raise HypnogramError(exc.problem, path=path, location=exc.location, hint=exc.hint) from exc
    check_row_times(rows, path=path, error_cls=HypnogramError, bounded=False)
    hyp = _build(
        rows,
        source=path.name,
        path=path,
        lights=_lights(rows),
        labels=vocab,
        mode=mode,
        caveats=caveats,
        recording_duration_s=recording_duration_s,
    )
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

"""Scored events: respiratory events and arousals (for RRLM exclusion and LM-arousal association), and
human-scored leg movements (for tests and benchmarks).

AASM Manual v2.6 §VII.C: leg movements within 0.5 s of a respiratory event (apnea, hypopnea, RERA) are not
scored as PLMs; WASM 2016 (Ferri et al.) extends the exclusion window. Sources: EDF+ annotations, a plain
CSV/TSV ``onset_s,duration_s,type``, and Noxturnal event exports (UTF-16, French labels, clock times).
"""

from __future__ import annotations

import csv
import io
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from cds.caveats import Caveat
from cds.errors import InputError
from cds.io.edf import Annotation, read_annotations, read_start

__all__ = [
    "EventRow",
    "ScoredEvents",
    "events_from_annotations",
    "read_aligned_annotations",
    "read_event_table",
    "read_events",
]

log = logging.getLogger(__name__)

EventRow = tuple[float, float | None, str]  # onset_s relative to recording start, duration_s (None: unknown), label

_NOX_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$")


@dataclass(frozen=True)
class ScoredEvents:
    """Event tables of shape (n, 2): onset_s, duration_s (NaN when the source gives no duration), by onset."""

    respiratory: np.ndarray
    arousals: np.ndarray
    leg_movements: np.ndarray
    source: str
    has_respiratory_scoring: bool
    caveats: tuple[Caveat, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "n_respiratory": len(self.respiratory),
            "n_arousals": len(self.arousals),
            "n_leg_movements": len(self.leg_movements),
            "has_respiratory_scoring": self.has_respiratory_scoring,
            "caveats": [c.to_dict() for c in self.caveats],
        }


def fold_label(text: str) -> str:
    """Case- and accent-insensitive form of an event label: 'Micro-éveil' -> 'micro-eveil'."""
    decomposed = unicodedata.normalize("NFKD", text.strip().casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _kind(label: str) -> str | None:
    text = fold_label(label)
    if re.search(r"apn(e|o)e?a|apnee|hypopn|\brera\b|respiratory effort", text) or re.match(r"a\.\s", text):
        return "respiratory"
    if re.search(r"desat", text):
        return "desaturation"
    if re.search(r"arousal|micro-?\s?eveil", text):
        return "arousal"
    if text in {"mj", "plm", "lm", "plms", "plmw"} or re.search(r"(limb|leg) movement|\blm\b|\bplm", text):
        return "leg_movement"
    return None


def _table(rows: list[tuple[float, float | None]]) -> np.ndarray:
    arr = np.array([(o, np.nan if d is None else d) for o, d in rows], dtype=np.float64).reshape(-1, 2)
    return arr[np.argsort(arr[:, 0], kind="stable")]


def _events_from_rows(rows: Sequence[EventRow], *, source: str, caveats: Sequence[Caveat] = ()) -> ScoredEvents:
    groups: dict[str, list[tuple[float, float | None]]] = {"respiratory": [], "arousal": [], "leg_movement": []}
    has_resp = False
    for onset_s, duration_s, label in rows:
        kind = _kind(label)
        if kind in ("respiratory", "desaturation"):
            has_resp = True
        if kind in groups:
            groups[kind].append((onset_s, duration_s))
    log.info(
        "%s: %d respiratory events, %d arousals, %d scored leg movements",
        source,
        len(groups["respiratory"]),
        len(groups["arousal"]),
        len(groups["leg_movement"]),
    )
    return ScoredEvents(
        respiratory=_table(groups["respiratory"]),
        arousals=_table(groups["arousal"]),
        leg_movements=_table(groups["leg_movement"]),
        source=source,
        has_respiratory_scoring=has_resp,
        caveats=tuple(caveats),
    )


def events_from_annotations(annotations: Sequence[Annotation], *, source: str) -> ScoredEvents:
    """Sort EDF+ annotations into respiratory events, arousals and scored leg movements.

    ``has_respiratory_scoring`` is True when any respiratory or oxygen-desaturation annotation is present.
    """
    return _events_from_rows([(a.onset_s, a.duration_s, a.text) for a in annotations], source=source)


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16")
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _clock_s(text: str) -> float | None:
    m = _CLOCK.match(text.strip())
    return None if m is None else int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def _parse_datetime(text: str) -> datetime | None:
    for fmt in _NOX_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    return None


def _to_seconds(cells: list[str], recording_start: datetime | None, path: Path) -> tuple[list[float], list[Caveat]]:
    """Convert onset cells (seconds, hh:mm:ss or a full date-time) to seconds after the recording start."""
    try:
        return [float(c) for c in cells], []
    except ValueError:
        pass
    stamps = [_parse_datetime(c) for c in cells]
    if all(s is not None for s in stamps):
        ref = recording_start or stamps[0]
        secs = [(s - ref).total_seconds() for s in stamps]
    else:
        clocks = [_clock_s(c) for c in cells]
        bad = next((c for c, s in zip(cells, clocks, strict=True) if s is None), None)
        if bad is not None:
            raise InputError(f"onset {bad!r} is neither seconds nor a clock time hh:mm:ss", path=path)
        ref_s = (
            clocks[0]
            if recording_start is None
            else recording_start.hour * 3600
            + recording_start.minute * 60
            + (recording_start.second + recording_start.microsecond / 1e6)
        )
        secs, day = [], 0.0
        for i, c in enumerate(clocks):  # clock times wrap past midnight
            if i and c < clocks[i - 1] - 12 * 3600:
                day += 86400.0
            secs.append(c + day - ref_s)
        if recording_start is not None and secs and secs[0] < -12 * 3600:
            secs = [s + 86400.0 for s in secs]
    if recording_start is not None:
        return secs, []
    return secs, [
        Caveat(
            "times_relative_to_first_event",
            f"{path.name}: clock times without a recording start; times are counted from the first event of the file",
        )
    ]


def _columns(header: list[str], path: Path) -> tuple[int, int | None, int, bool]:
    """Indices of onset, duration and label columns, and whether the file is a Noxturnal export."""
    folded = [fold_label(h) for h in header]
    if "heure de debut" in folded or "start time" in folded:
        start = folded.index("heure de debut") if "heure de debut" in folded else folded.index("start time")
        label = next((i for i, h in enumerate(folded) if h in ("evenement", "event")), None)
        dur = next((i for i, h in enumerate(folded) if h in ("duree", "duration")), None)
        if label is not None:
            return start, dur, label, True
    onset = next((i for i, h in enumerate(folded) if h in ("onset", "onset_s", "start_s")), None)
    dur = next((i for i, h in enumerate(folded) if h in ("duration", "duration_s")), None)
    label = next((i for i, h in enumerate(folded) if h in ("stage", "type", "event", "label", "description")), None)
    if onset is None or label is None:
        raise InputError(
            f"unrecognised event table header {header!r}",
            path=path,
            location="1",
            hint="expected columns onset,duration,stage (or type), or a Noxturnal export",
        )
    return onset, dur, label, False


def read_event_table(
    path: str | Path, *, recording_start: datetime | None = None
) -> tuple[list[EventRow], list[Caveat]]:
    """Read a CSV/TSV event or stage table into (onset_s, duration_s, label) rows sorted by onset."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path)
    text = _read_text(path)
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first else (";" if first.count(";") > first.count(",") else ",")
    lines = [r for r in csv.reader(io.StringIO(text), delimiter=delimiter) if any(c.strip() for c in r)]
    if not lines:
        raise InputError("empty event table", path=path)
    onset_i, dur_i, label_i, _ = _columns([c.strip() for c in lines[0]], path)
    body = lines[1:]
    if body and all(c.strip().startswith("[") or not c.strip() for c in body[0]):
        body = body[1:]  # Noxturnal: second line holds units
    width = max(onset_i, label_i, dur_i or 0) + 1
    short = next((n for n, r in enumerate(body, start=2) if len(r) < width), None)
    if short is not None:
        raise InputError(f"row has fewer than {width} columns", path=path, location=str(short))
    onsets, caveats = _to_seconds([r[onset_i] for r in body], recording_start, path)
    rows: list[EventRow] = []
    for n, (r, onset_s) in enumerate(zip(body, onsets, strict=True), start=2):
        cell = r[dur_i].strip() if dur_i is not None else ""
        try:
            duration_s = float(cell) if cell else None
        except ValueError:
            raise InputError(f"duration {cell!r} is not a number of seconds", path=path, location=str(n)) from None
        rows.append((onset_s, duration_s, r[label_i].strip()))
    rows.sort(key=lambda row: row[0])
    return rows, caveats


def read_aligned_annotations(
    path: Path, recording_start: datetime | None
) -> tuple[tuple[Annotation, ...], list[Caveat]]:
    """Annotations of an EDF+ file with onsets moved to the recording's time base (its own start may differ)."""
    annotations = read_annotations(path)
    file_start = read_start(path)
    if recording_start is None or file_start is None or file_start == recording_start:
        return annotations, []
    shift_s = (file_start - recording_start.replace(tzinfo=None)).total_seconds()
    if abs(shift_s) > 12 * 3600:  # a day apart is a date-field slip (Sleep-EDF), not a real offset
        text = (
            f"{path.name}: starts {file_start:%Y-%m-%d %H:%M:%S}, {shift_s / 3600:+.1f} h from the recording start "
            f"{recording_start:%Y-%m-%d %H:%M:%S}; onsets were not shifted"
        )
        return annotations, [Caveat("start_dates_differ", text)]
    log.info("%s starts %+g s from the recording: onsets shifted", path.name, shift_s)
    shifted = tuple(Annotation(a.onset_s + shift_s, a.duration_s, a.text, a.channel) for a in annotations)
    return shifted, []


def _is_edf(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(8) in (b"0       ", b"\xffBIOSEMI")


def read_events(path: str | Path, *, recording_start: datetime | None = None) -> ScoredEvents:
    """Read scored events from EDF+ annotations, a CSV/TSV (onset_s,duration_s,type) or a Noxturnal export."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path)
    if _is_edf(path):
        annotations, caveats = read_aligned_annotations(path, recording_start)
        rows = [(a.onset_s, a.duration_s, a.text) for a in annotations]
        return _events_from_rows(rows, source=path.name, caveats=caveats)
    rows, caveats = read_event_table(path, recording_start=recording_start)
    return _events_from_rows(rows, source=path.name, caveats=caveats)

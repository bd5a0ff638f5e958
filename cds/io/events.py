"""Scored events: respiratory events and arousals (for RRLM exclusion and LM-arousal association), and
human-scored leg movements (for tests and benchmarks).

AASM Manual v2.6 §VII.C: leg movements within 0.5 s of a respiratory event (apnea, hypopnea, RERA) are not
scored as PLMs; WASM 2016 (Ferri et al.) extends the exclusion window. Sources: EDF+ annotations, a plain
CSV/TSV ``onset_s,duration_s,type``, and Noxturnal event exports (UTF-16, French labels, clock times).

Every onset and duration is checked (cds.io.validate): not a finite number of seconds, an event longer than the
recording, or a file none of whose events falls in the recording is refused with the line; events just outside
the recording are dropped with a caveat. Labels of an events file that are not recognised (built-in patterns,
knowledge/labels.yaml, the user's --stage-labels file) are named by a caveat, never silently taken for "none".
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from cds.caveats import Caveat
from cds.errors import InputError
from cds.io.edf import Annotation, read_annotations, read_start
from cds.io.labels import LabelVocabulary, fold_label, load_labels
from cds.io.validate import Row, check_row_times, fit_events
from cds.limits import MAX_ANNOTATIONS, MAX_TABLE_BYTES, MAX_TABLE_ROWS, read_limited

__all__ = [
    "EventRow",
    "EventTable",
    "ScoredEvents",
    "annotation_rows",
    "events_from_annotations",
    "fold_label",
    "read_aligned_annotations",
    "read_event_table",
    "read_events",
    "read_table",
]

log = logging.getLogger(__name__)

EventRow = Row  # onset_s relative to recording start, duration_s (None: unknown), label, where in the file

_NOX_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$")
_USED_KINDS = ("respiratory", "desaturation", "arousal", "leg_movement")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_LIGHTS = re.compile(r"lights?[\s_-]*(off|on)\b")


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


@functools.lru_cache(maxsize=8192)
def _pattern_kind(label: str) -> str | None:
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


def event_kind(label: str, labels: LabelVocabulary | None = None) -> str | None:
    """respiratory, desaturation, arousal or leg_movement; None for any other label. The vocabulary's explicit
    labels come first, then the built-in patterns."""
    vocab = labels or load_labels()
    return vocab.event_kind(label) or _pattern_kind(label)


def is_known_label(label: str, labels: LabelVocabulary) -> bool:
    """A label cds knows the meaning of: a stage, an event kind, a lights marker or an ignored label."""
    folded = fold_label(label)
    return bool(
        labels.stage(label) is not None
        or event_kind(label, labels) is not None
        or _LIGHTS.match(folded)
        or labels.ignored(label)
    )


def _table(rows: list[tuple[float, float | None]]) -> np.ndarray:
    arr = np.array([(o, np.nan if d is None else d) for o, d in rows], dtype=np.float64).reshape(-1, 2)
    return arr[np.argsort(arr[:, 0], kind="stable")]


def _events_from_rows(
    rows: Sequence[Row],
    *,
    source: str,
    caveats: Sequence[Caveat] = (),
    path: str | Path | None = None,
    recording_duration_s: float | None = None,
    labels: LabelVocabulary | None = None,
    name_unknown: bool = False,
    side_file: bool = True,
) -> ScoredEvents:
    vocab = labels or load_labels()
    check_row_times(rows, path=path, bounded=False)
    kinds = [event_kind(row.label, vocab) for row in rows]
    used = [row for row, kind in zip(rows, kinds, strict=True) if kind in _USED_KINDS]
    extra = list(caveats)
    if recording_duration_s is not None:
        used, outside = fit_events(used, recording_duration_s, path=path, source=source, side_file=side_file)
        extra += outside
    if side_file or recording_duration_s is None:
        check_row_times(rows, path=path)
    if name_unknown:
        extra += _unknown_label_caveat(rows, vocab, source)
    groups: dict[str, list[tuple[float, float | None]]] = {"respiratory": [], "arousal": [], "leg_movement": []}
    has_resp = False
    for row in used:
        kind = event_kind(row.label, vocab)
        if kind in ("respiratory", "desaturation"):
            has_resp = True
        if kind in groups:
            groups[kind].append((row.onset_s, row.duration_s))
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
        caveats=tuple(extra),
    )


def _unknown_label_caveat(rows: Sequence[Row], labels: LabelVocabulary, source: str) -> list[Caveat]:
    """Name the labels of an events file that cds does not know (e.g. 'OA' for obstructive apnea): they were not
    used, which is not the same as "no such events"."""
    counts = Counter(row.label for row in rows if not is_known_label(row.label, labels))
    if not counts:
        return []
    shown = ", ".join(f"{label!r} ({n})" for label, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5])
    more = f" and {len(counts) - 5} more" if len(counts) > 5 else ""
    text = (
        f"{source}: labels not recognised as respiratory events, desaturations, arousals, leg movements or stages "
        f"were not used: {shown}{more}; if they are events, add them to a --stage-labels file (section events)"
    )
    return [Caveat("event_labels_unrecognised", text)]


def annotation_rows(annotations: Sequence[Annotation], *, path: str | Path | None = None) -> list[Row]:
    """Rows of EDF+ annotations, each named 'annotation N' (file order) for messages; refused over the limit."""
    if len(annotations) > MAX_ANNOTATIONS:
        raise InputError(f"{len(annotations)} annotations, more than cds reads (limit {MAX_ANNOTATIONS})", path=path)
    return [Row(a.onset_s, a.duration_s, a.text, f"annotation {i}") for i, a in enumerate(annotations, start=1)]


def events_from_annotations(
    annotations: Sequence[Annotation],
    *,
    source: str,
    path: str | Path | None = None,
    recording_duration_s: float | None = None,
    labels: LabelVocabulary | None = None,
) -> ScoredEvents:
    """Sort EDF+ annotations into respiratory events, arousals and scored leg movements.

    ``has_respiratory_scoring`` is True when any respiratory or oxygen-desaturation annotation is present (within
    the recording, when its duration is given)."""
    return _events_from_rows(
        annotation_rows(annotations, path=path),
        source=source,
        path=path,
        recording_duration_s=recording_duration_s,
        labels=labels,
        side_file=False,
    )


def _read_text(path: Path) -> str:
    raw = read_limited(path, MAX_TABLE_BYTES, "hypnogram or event table")
    try:
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = raw.decode("utf-16")
        elif raw.startswith(b"\xef\xbb\xbf"):
            text = raw[3:].decode("utf-8")
        else:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
    except UnicodeDecodeError as exc:
        raise InputError(f"not a text table: {exc.reason} at byte {exc.start}", path=path) from None
    control = _CONTROL.search(text)
    if control is not None:
        bad = control.start()
        line = text.count("\n", 0, bad) + 1
        raise InputError(
            f"not a text table: control character 0x{ord(text[bad]):02x} (binary data?)", path=path, location=str(line)
        )
    lines = text.count("\n")
    if lines > MAX_TABLE_ROWS + 2:
        raise InputError(
            f"{lines} lines, more than a table of {MAX_TABLE_ROWS} rows (limit)",
            path=path,
            hint="is this the right file?",
        )
    return text


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


def _to_seconds(
    cells: list[str], lines: list[int], recording_start: datetime | None, path: Path
) -> tuple[list[float], list[Caveat]]:
    """Convert onset cells (seconds, hh:mm:ss or a full date-time) to seconds after the recording start."""
    try:
        return [float(c) for c in cells], []
    except ValueError:
        pass
    parsed = [_parse_datetime(c) for c in cells]
    stamps = [s for s in parsed if s is not None]
    if len(stamps) == len(parsed):
        ref = recording_start or stamps[0]
        secs = [(s - ref).total_seconds() for s in stamps]
    else:
        maybe_clocks = [_clock_s(c) for c in cells]
        bad = next(((c, n) for c, n, s in zip(cells, lines, maybe_clocks, strict=True) if s is None), None)
        if bad is not None:
            raise InputError(
                f"onset {bad[0]!r} is neither seconds nor a clock time hh:mm:ss", path=path, location=str(bad[1])
            )
        clocks = [float(s) for s in maybe_clocks if s is not None]
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


def _columns(header: list[str], path: Path, line: int = 1) -> tuple[int, int | None, int, bool]:
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
            f"unrecognised event table header {header[:8]!r}",
            path=path,
            location=str(line),
            hint="expected columns onset,duration,stage (or type), or a Noxturnal export",
        )
    return onset, dur, label, False


@dataclass(frozen=True)
class EventTable:
    """The rows of a CSV/TSV table (sorted by onset), its reading caveats, and the name of its label column
    (folded: 'stage' means every row is meant to be a sleep stage)."""

    rows: list[Row]
    caveats: list[Caveat]
    label_column: str
    noxturnal: bool


def _csv_lines(text: str, path: Path) -> list[tuple[int, list[str]]]:
    """Non-blank CSV records with their line numbers; the delimiter (tab, ';' or ',') from the first line."""
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first else (";" if first.count(";") > first.count(",") else ",")
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    out: list[tuple[int, list[str]]] = []
    try:
        start = 1
        for record in reader:
            if any(c.strip() for c in record):
                out.append((start, record))
                if len(out) > MAX_TABLE_ROWS + 2:
                    raise InputError(
                        f"more than {MAX_TABLE_ROWS} rows (limit)",
                        path=path,
                        location=str(start),
                        hint="is this the right file?",
                    )
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(f"not a readable table: {exc}", path=path, location=str(reader.line_num)) from None
    return out


def read_table(path: str | Path, *, recording_start: datetime | None = None) -> EventTable:
    """Read a CSV/TSV event or stage table (or a Noxturnal export) into rows sorted by onset, each with its line.

    Refused (InputError naming the line): over the size or row limits (cds.limits), binary data, an unknown
    header, a short row, an onset or duration that is not a number of seconds."""
    path = Path(path)
    text = _read_text(path)
    lines = _csv_lines(text, path)
    if not lines:
        raise InputError("empty event table", path=path)
    header_line, header = lines[0]
    onset_i, dur_i, label_i, noxturnal = _columns([c.strip() for c in header], path, header_line)
    body = lines[1:]
    if body and all(c.strip().startswith("[") or not c.strip() for c in body[0][1]):
        body = body[1:]  # Noxturnal: second line holds units
    width = max(onset_i, label_i, dur_i or 0) + 1
    short = next((n for n, r in body if len(r) < width), None)
    if short is not None:
        raise InputError(f"row has fewer than {width} columns", path=path, location=str(short))
    onsets, caveats = _to_seconds([r[onset_i] for _, r in body], [n for n, _ in body], recording_start, path)
    rows: list[Row] = []
    for (n, r), onset_s in zip(body, onsets, strict=True):
        cell = r[dur_i].strip() if dur_i is not None else ""
        try:
            duration_s = float(cell) if cell else None
        except ValueError:
            raise InputError(f"duration {cell!r} is not a number of seconds", path=path, location=str(n)) from None
        rows.append(Row(onset_s, duration_s, r[label_i].strip(), str(n)))
    check_row_times(rows, path=path, bounded=False)
    rows.sort(key=lambda row: row.onset_s)
    return EventTable(rows, caveats, fold_label(header[label_i]), noxturnal)


def read_event_table(
    path: str | Path, *, recording_start: datetime | None = None
) -> tuple[list[EventRow], list[Caveat]]:
    """Read a CSV/TSV event or stage table into (onset_s, duration_s, label, line) rows sorted by onset."""
    table = read_table(path, recording_start=recording_start)
    return table.rows, table.caveats


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


def read_events(
    path: str | Path,
    *,
    recording_start: datetime | None = None,
    recording_duration_s: float | None = None,
    labels: LabelVocabulary | None = None,
) -> ScoredEvents:
    """Read scored events from EDF+ annotations, a CSV/TSV (onset_s,duration_s,type) or a Noxturnal export.

    With ``recording_duration_s`` the events are checked against the recording (cds.io.validate.fit_events);
    labels the file holds that cds does not know are named by an ``event_labels_unrecognised`` caveat."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found" if not path.exists() else "not a file", path=path)
    if _is_edf(path):
        annotations, caveats = read_aligned_annotations(path, recording_start)
        rows = annotation_rows(annotations, path=path)
    else:
        rows, caveats = read_event_table(path, recording_start=recording_start)
    return _events_from_rows(
        rows,
        source=path.name,
        caveats=caveats,
        path=path,
        recording_duration_s=recording_duration_s,
        labels=labels,
        name_unknown=True,
    )

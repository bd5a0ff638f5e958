"""Export scored events: an annotation-only EDF+C file (opens in EDFbrowser, MNE, edfio, pyedflib) and a CSV.

EDF+ specification (Kemp & Olivan 2003), §2.2: one 'EDF Annotations' signal; each data record starts with a
time-keeping TAL '+t<20><20><0>', followed by TALs '+onset<21>duration<20>text<20><0>'. Files are written to
a temporary file in the target folder and renamed once complete.
"""

from __future__ import annotations

import csv
import io
import math
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from cds.errors import InputError

__all__ = ["write_events_csv", "write_events_edf"]

RECORD_S = 1.0  # data-record duration of the exported file
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _seconds(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if text.startswith("-") else "+" + text


def _clean(text: str) -> str:
    return "".join(" " if c in "\x00\x14\x15" else c for c in str(text)).strip()


def _field(text: str, width: int) -> bytes:
    raw = text.encode("ascii", "replace")[:width]
    return raw + b" " * (width - len(raw))


def _check(events: Sequence[tuple[float, float, str]], duration_s: float, path: Path) -> None:
    if not duration_s > 0 or not math.isfinite(duration_s):
        raise InputError(f"recording duration must be a positive number of seconds, got {duration_s!r}", path=path)
    for n, (onset_s, dur_s, _) in enumerate(events):
        if not (0 <= onset_s <= duration_s) or (dur_s is not None and not dur_s >= 0):
            raise InputError(
                f"event {n}: onset {onset_s!r} s / duration {dur_s!r} s outside 0-{duration_s:g} s", path=path
            )


def _records(events: Sequence[tuple[float, float, str]], n_records: int) -> list[bytes]:
    per_record: list[list[bytes]] = [[] for _ in range(n_records)]
    for onset_s, dur_s, text in sorted(events, key=lambda e: e[0]):
        k = min(int(onset_s // RECORD_S), n_records - 1)
        dur = "" if dur_s is None else "\x15" + _seconds(dur_s).lstrip("+")
        per_record[k].append(f"{_seconds(onset_s)}{dur}\x14{_clean(text)}\x14\x00".encode())
    return [f"{_seconds(k * RECORD_S)}\x14\x14\x00".encode() + b"".join(tals) for k, tals in enumerate(per_record)]


def write_events_edf(
    path: str | Path,
    events: Sequence[tuple[float, float, str]],
    *,
    duration_s: float,
    start: datetime | None,
) -> None:
    """Write ``(onset_s, duration_s, text)`` events as an annotation-only EDF+C file spanning ``duration_s``."""
    path = Path(path)
    _check(events, duration_s, path)
    n_records = max(1, math.ceil(duration_s / RECORD_S - 1e-9))
    records = _records(events, n_records)
    samples = max(len(r) for r in records) // 2 + 1  # 2 bytes per sample, at least one trailing NUL
    data = b"".join(r + b"\x00" * (2 * samples - len(r)) for r in records)
    when = start or datetime(1985, 1, 1)
    recording = f"Startdate {when.day:02d}-{_MONTHS[when.month - 1]}-{when.year}" if start else "Startdate X"
    header = b"".join(
        [
            _field("0", 8),
            _field("X X X X", 80),
            _field(f"{recording} X X cds", 80),
            _field(when.strftime("%d.%m.%y"), 8),
            _field(when.strftime("%H.%M.%S"), 8),
            _field("512", 8),
            _field("EDF+C", 44),
            _field(str(n_records), 8),
            _field(f"{RECORD_S:g}", 8),
            _field("1", 4),
            _field("EDF Annotations", 16),
            _field("", 80),
            _field("", 8),
            _field("-1", 8),
            _field("1", 8),
            _field("-32768", 8),
            _field("32767", 8),
            _field("", 80),
            _field(str(samples), 8),
            _field("", 32),
        ]
    )
    _write_atomic(path, header + data)


def write_events_csv(path: str | Path, events: Sequence[tuple[float, float, str]]) -> None:
    """Write events as CSV with header ``onset_s,duration_s,type`` (the format read_events reads back)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["onset_s", "duration_s", "type"])
    for onset_s, dur_s, text in sorted(events, key=lambda e: e[0]):
        writer.writerow([_seconds(onset_s).lstrip("+"), "" if dur_s is None else _seconds(dur_s).lstrip("+"), text])
    _write_atomic(Path(path), buffer.getvalue().encode("utf-8"))

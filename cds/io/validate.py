"""Times in side files (hypnograms, scored events) checked against the recording they belong to.

Issue 16, "never silently wrong": an onset or duration that is not a finite number of seconds is refused with
the file and line (exit 3); so is an event longer than the recording, a file none of whose events falls in the
recording (another night), and a hypnogram that scores far more time outside the recording than inside it. A
few events or epochs just outside the recording are dropped and named by a caveat (``events_outside_recording``,
``hypnogram_beyond_recording``): what remains is still right for the recorded night.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from cds.caveats import Caveat
from cds.errors import InputError

__all__ = [
    "MAX_BEYOND_FRACTION",
    "MAX_SPAN_S",
    "Row",
    "check_row_times",
    "fit_events",
    "is_outside",
    "where_text",
]

MAX_SPAN_S = 7 * 86400.0  # no hypnogram or event file spans more than a week
MAX_BEYOND_FRACTION = 0.1  # scored time outside the recording above this share of it: not this recording's file


class Row(NamedTuple):
    """One annotation or table row: onset (s after the recording start), duration (None: not given), label, and
    where it is in its file (a line number, or 'annotation N') for messages."""

    onset_s: float
    duration_s: float | None
    label: str
    where: str = ""


def where_text(where: str) -> str:
    """'12' -> 'line 12'; 'annotation 3' stays."""
    return f"line {where}" if where.isdigit() else where


def _seconds(value: float | None) -> str:
    return "unknown" if value is None else f"{value:g} s"


def check_row_times(
    rows: Sequence[Row], *, path: str | Path | None, error_cls: type[InputError] = InputError, bounded: bool = True
) -> None:
    """Every onset a finite number of seconds, every duration not given or finite and non-negative; with
    ``bounded`` also within MAX_SPAN_S (a week) of the recording start. The first bad row is refused with its
    line. (Checks against the recording itself come first where its duration is known, so that a hypnogram of
    the wrong length is refused for its length, not for its last line.)"""
    if not rows:
        return
    onsets = np.fromiter((row.onset_s for row in rows), dtype=np.float64, count=len(rows))
    durations = np.fromiter(
        (np.nan if row.duration_s is None else row.duration_s for row in rows), dtype=np.float64, count=len(rows)
    )
    given = np.fromiter((row.duration_s is not None for row in rows), dtype=bool, count=len(rows))
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(onsets) | (given & ~(np.isfinite(durations) & (durations >= 0)))
        if bounded:
            bad |= np.abs(onsets) > MAX_SPAN_S
            bad |= given & (durations > MAX_SPAN_S)
    if bad.any():
        _refuse_row(rows[int(np.argmax(bad))], path=path, error_cls=error_cls)


def _refuse_row(row: Row, *, path: str | Path | None, error_cls: type[InputError]) -> None:
    """Raise the one problem of a row found by check_row_times."""
    onset, duration = row.onset_s, row.duration_s
    where = row.where or None
    if not math.isfinite(onset):
        raise error_cls(f"onset {onset!r} of {row.label!r} is not a time", path=path, location=where)
    if duration is not None and (not math.isfinite(duration) or duration < 0):
        raise error_cls(
            f"duration {duration!r} of {row.label!r} is not a length of time (expected seconds >= 0)",
            path=path,
            location=where,
        )
    if abs(onset) > MAX_SPAN_S:
        raise error_cls(
            f"onset {_seconds(onset)} of {row.label!r} is more than 7 days from the recording start",
            path=path,
            location=where,
        )
    raise error_cls(
        f"duration {_seconds(duration)} of {row.label!r} is longer than 7 days: not an event of one night",
        path=path,
        location=where,
    )


def is_outside(row: Row, duration_s: float) -> bool:
    """The row lies wholly before the recording start or starts at or after its end."""
    end = row.onset_s + (row.duration_s or 0.0)
    return end < 0.0 or row.onset_s >= duration_s


def fit_events(
    rows: Sequence[Row], duration_s: float, *, path: str | Path | None, source: str, side_file: bool = True
) -> tuple[list[Row], list[Caveat]]:
    """The rows that belong to a recording of ``duration_s`` seconds, and caveats naming those that do not.

    From a side file (``--events``) an event longer than the whole recording (it would cover every movement) and a
    file whose events all lie outside the recording (another night, another date) are refused (InputError): the
    user can give the right file. The recording's own annotations are not refused for them: such events are left
    out and named by a caveat, and the recording is scored."""
    extra: list[Caveat] = []
    too_long = [row for row in rows if row.duration_s is not None and row.duration_s > duration_s]
    if too_long and side_file:
        row = too_long[0]
        raise InputError(
            f"{row.label!r} lasts {_seconds(row.duration_s)}, longer than the whole recording ({_seconds(duration_s)})",
            path=path,
            location=row.where or None,
        )
    if too_long:
        row = too_long[0]
        extra.append(
            Caveat(
                "events_longer_than_recording",
                (
                    f"{source}: {len(too_long)} scored events last longer than the whole recording "
                    f"({_seconds(duration_s)}) and were not used; the first, {row.label!r} "
                    f"({where_text(row.where)}), lasts {_seconds(row.duration_s)}"
                ),
            )
        )
        rows = [row for row in rows if row not in too_long]
    outside = [row for row in rows if is_outside(row, duration_s)]
    if side_file and rows and len(outside) == len(rows):
        first = outside[0]
        raise InputError(
            f"none of the {len(rows)} scored events falls within the recording (0-{duration_s:g} s); the first, "
            f"{first.label!r}, is at {_seconds(first.onset_s)}",
            path=path,
            location=first.where or None,
            hint="is it this night's file? another date, or onsets in another time base?",
        )
    if not outside:
        return list(rows), extra
    first = outside[0]
    where = f" ({where_text(first.where)})" if first.where else ""
    text = (
        f"{source}: {len(outside)} of {len(rows)} scored events lie outside the recording (0-{duration_s:g} s) and "
        f"were not used; the first, {first.label!r}{where}, is at {_seconds(first.onset_s)}"
    )
    return [row for row in rows if not is_outside(row, duration_s)], [*extra, Caveat("events_outside_recording", text)]

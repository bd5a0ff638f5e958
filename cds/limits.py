"""Size and count limits of the files a user gives cds (README "Limits").

A file over a limit is refused before it is parsed, so a wrong or hostile file (a whole folder of exports
concatenated, 700 000 keys) costs milliseconds, not minutes and gigabytes. The limits are far above any real
file of its kind: a patient file is a few kilobytes; a hypnogram of a week of 30-s epochs has 20 160 rows.
"""

from __future__ import annotations

from pathlib import Path

from cds.errors import InputError

__all__ = [
    "MAX_ANNOTATIONS",
    "MAX_PATIENT_BYTES",
    "MAX_PATIENT_LINES",
    "MAX_PATIENT_PROBLEMS",
    "MAX_TABLE_BYTES",
    "MAX_TABLE_ROWS",
    "check_size",
    "read_limited",
]

MAX_PATIENT_BYTES = 32 * 1024  # patient context file (YAML or JSON)
MAX_PATIENT_LINES = 1_000  # lines of a patient file (a full one has about 100)
MAX_PATIENT_PROBLEMS = 20  # a patient file stops being checked after this many problems
MAX_TABLE_BYTES = 32 * 1024 * 1024  # hypnogram or event table (CSV/TSV, Noxturnal export)
MAX_TABLE_ROWS = 100_000  # rows of a hypnogram or event table (a week of 30-s epochs is 20 160)
MAX_ANNOTATIONS = 200_000  # EDF+ annotations in a recording, hypnogram or event file


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n >= 1024 * 1024 else f"{n // 1024} KiB"


def check_size(path: Path, limit: int, what: str, error_cls: type[InputError] = InputError) -> int:
    """The file's size in bytes; ``error_cls`` when it is missing, not a file or larger than ``limit``."""
    try:
        if not path.is_file():
            raise error_cls("file not found" if not path.exists() else "not a file", path=path)
        size = path.stat().st_size
    except OSError as exc:
        raise error_cls(f"cannot read file: {exc.strerror or exc}", path=path) from exc
    if size > limit:
        raise error_cls(
            f"{size:,} bytes is larger than a {what} can be (limit {_size(limit)})".replace(",", " "),
            path=path,
            hint="is this the right file?",
        )
    return size


def read_limited(path: Path, limit: int, what: str, error_cls: type[InputError] = InputError) -> bytes:
    """The bytes of ``path`` after :func:`check_size` (read at most ``limit`` + 1 bytes, in case it grew)."""
    check_size(path, limit, what, error_cls)
    try:
        with path.open("rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise error_cls(f"cannot read file: {exc.strerror or exc}", path=path) from exc
    if len(raw) > limit:
        raise error_cls(f"larger than a {what} can be (limit {_size(limit)})", path=path)
    return raw

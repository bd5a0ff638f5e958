"""Which nights a batch scores: a folder of recordings, a glob, or a manifest CSV.

Folder or glob: every ``*.edf`` is a night; files beside it named ``<stem>.hypnogram.<ext>``,
``<stem>.events.<ext>`` and ``<stem>.patient.yaml|yml|json`` are its hypnogram, events and patient file (and are
never taken for recordings). Manifest: a CSV with a ``recording`` column and optional ``id``, ``hypnogram``,
``events`` and ``patient`` columns; relative paths are read from the manifest's folder; an unknown column is an
error (a misspelt ``hypnogramm`` column must not silently drop every hypnogram).
"""

from __future__ import annotations

import csv
import glob
import re
from dataclasses import dataclass
from pathlib import Path

from cds.errors import InputError, UsageError

__all__ = ["MANIFEST_COLUMNS", "NightSpec", "discover_nights"]

MANIFEST_COLUMNS = ("id", "recording", "hypnogram", "events", "patient")
_RECORDING_SUFFIXES = (".edf",)
_COMPANIONS = {
    "hypnogram": (".csv", ".tsv", ".txt", ".edf"),
    "events": (".csv", ".tsv", ".txt", ".edf"),
    "patient": (".yaml", ".yml", ".json"),
}
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,119}$")


@dataclass(frozen=True)
class NightSpec:
    """One night of a cohort: its id (the name of its result folder) and its input files."""

    night_id: str
    recording: Path
    hypnogram: Path | None = None
    events: Path | None = None
    patient: Path | None = None


def discover_nights(source: str | Path) -> list[NightSpec]:
    """The nights of a folder, a glob pattern or a manifest CSV, sorted by id; ids are unique and safe as folder
    names. InputError (exit 3) for a missing source or a bad manifest; UsageError (exit 2) for no nights."""
    text = str(source)
    path = Path(text)
    if path.is_file() and path.suffix.lower() in (".csv", ".tsv"):
        nights = _from_manifest(path)
    elif path.is_dir():
        nights = _from_files(sorted(p for p in path.rglob("*") if _is_recording(p)), root=path)
    elif any(ch in text for ch in "*?["):
        found = sorted(Path(p) for p in glob.glob(text, recursive=True) if _is_recording(Path(p)))
        nights = _from_files(found, root=None)
    elif path.exists():
        raise InputError("not a folder, a glob or a manifest (.csv)", path=path)
    else:
        raise InputError("not found (a folder, a glob such as 'nights/*.edf', or a manifest .csv)", path=path)
    if not nights:
        raise UsageError(f"no recordings (*.edf) found in {text!r}", option="SOURCE")
    _check_unique(nights, text)
    return sorted(nights, key=lambda n: n.night_id)


def _is_recording(path: Path) -> bool:
    if path.suffix.lower() not in _RECORDING_SUFFIXES or not path.is_file() or path.name.startswith("."):
        return False
    inner = Path(path.stem).suffix.lower()  # X.hypnogram.edf is X's hypnogram, not a night
    return inner not in (".hypnogram", ".events")


def _companion(recording: Path, role: str) -> Path | None:
    for suffix in _COMPANIONS[role]:
        candidate = recording.with_name(f"{recording.stem}.{role}{suffix}")
        if candidate.is_file():
            return candidate
    return None


def _night_id(recording: Path, root: Path | None) -> str:
    rel = recording.relative_to(root) if root is not None else Path(recording.name)
    return "--".join(rel.with_suffix("").parts)


def _from_files(recordings: list[Path], root: Path | None) -> list[NightSpec]:
    return [
        NightSpec(
            night_id=_safe_id(_night_id(rec, root), rec),
            recording=rec,
            hypnogram=_companion(rec, "hypnogram"),
            events=_companion(rec, "events"),
            patient=_companion(rec, "patient"),
        )
        for rec in recordings
    ]


def _safe_id(night_id: str, where: Path | str) -> str:
    if not _SAFE_ID.match(night_id):
        raise InputError(
            f"night id {night_id!r} cannot name a result folder (letters, digits, '.', '_', '-'; up to 120)",
            path=where,
        )
    return night_id


def _from_manifest(manifest: Path) -> list[NightSpec]:
    delimiter = "\t" if manifest.suffix.lower() == ".tsv" else ","
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, delimiter=delimiter)
            columns = [c.strip() for c in reader.fieldnames or []]
            unknown = [c for c in columns if c not in MANIFEST_COLUMNS]
            if "recording" not in columns or unknown:
                problem = f"unknown column(s) {', '.join(map(repr, unknown))}" if unknown else "no 'recording' column"
                raise InputError(
                    f"{problem} (allowed: {', '.join(MANIFEST_COLUMNS)})", path=manifest, location="line 1"
                )
            rows = [
                ({k.strip(): (v or "").strip() for k, v in row.items() if k is not None}, reader.line_num)
                for row in reader
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read the manifest: {exc}", path=manifest) from exc
    base = manifest.parent
    nights = []
    for row, line in rows:
        if not any(row.values()):
            continue  # a blank line
        if not row.get("recording"):
            raise InputError("empty 'recording' cell", path=manifest, location=f"line {line}")
        recording = _cell_path(row, "recording", base)
        assert recording is not None
        night_id = row.get("id") or recording.stem
        nights.append(
            NightSpec(
                night_id=_safe_id(night_id, f"{manifest.name}:{line}"),
                recording=recording,
                hypnogram=_cell_path(row, "hypnogram", base),
                events=_cell_path(row, "events", base),
                patient=_cell_path(row, "patient", base),
            )
        )
    return nights


def _cell_path(row: dict[str, str], column: str, base: Path) -> Path | None:
    """A manifest cell as a path (relative ones from the manifest's folder); None when empty."""
    value = row.get(column) or ""
    return None if not value else (Path(value) if Path(value).is_absolute() else base / value)


def _check_unique(nights: list[NightSpec], source: str) -> None:
    seen: dict[str, NightSpec] = {}
    for night in nights:
        if night.night_id.lower() in seen:  # case-insensitive file systems would merge the two folders
            other = seen[night.night_id.lower()]
            raise InputError(
                f"two nights share the id {night.night_id!r} ({other.recording.name}, {night.recording.name}): "
                "give each an 'id' in a manifest",
                path=source,
            )
        seen[night.night_id.lower()] = night

"""The vocabulary of hypnogram and event labels: ``knowledge/labels.yaml`` plus the user's additions.

AASM Manual v2.6 §IV stages (W, N1, N2, N3, R), Rechtschaffen & Kales 1968 stage numbers (3 and 4 are N3),
'?' unscored and 'M' movement time. Labels are compared folded (case, accents, surrounding spaces ignored; a
leading 'Sleep stage' dropped). A user extends the vocabulary with a file of the same shape given as
``--stage-labels FILE`` or ``$CDS_STAGE_LABELS``; it may add labels, never remap a shipped one. The vocabulary in
use is named in analysis.json (``hypnogram.labels``), so a result can be traced to the labels it was read with.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds.errors import InputError
from cds.limits import read_limited
from cds.paths import knowledge_dir
from cds.yamlfile import load_yaml, locate

__all__ = [
    "EVENT_KINDS",
    "STAGE_CODES",
    "LabelVocabulary",
    "LabelsFileError",
    "fold_label",
    "load_labels",
    "strip_stage_prefix",
]

SCHEMA = "cds.labels/v1"
STAGE_CODES = ("W", "N1", "N2", "N3", "R", "?", "M")
RK_CODES = ("N1", "N2", "N3")
EVENT_KINDS = ("respiratory", "desaturation", "arousal", "leg_movement")
ENV = "CDS_STAGE_LABELS"
MAX_LABELS_BYTES = 256 * 1024
_SECTIONS = ("schema", "stages", "rk_stages", "events", "ignore")
_PREFIX = re.compile(r"^sleep[\s_]*stage[\s_]*")


class LabelsFileError(InputError):
    """A label vocabulary file (shipped or the user's) is malformed or contradicts the shipped one."""


@functools.lru_cache(maxsize=8192)  # a table repeats a few labels thousands of times
def fold_label(text: str) -> str:
    """Case- and accent-insensitive form of a label: 'Micro-éveil' -> 'micro-eveil'."""
    decomposed = unicodedata.normalize("NFKD", str(text).strip().casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def strip_stage_prefix(folded: str) -> str:
    """'sleep stage n2' -> 'n2' (a folded label)."""
    return _PREFIX.sub("", folded)


@dataclass(frozen=True)
class LabelVocabulary:
    """Folded label -> stage (and whether it is an R&K number), folded label -> event kind, ignored labels."""

    stages: Mapping[str, str]
    rk_stages: Mapping[str, str]
    events: Mapping[str, str]
    ignore: frozenset[str]
    extension: Mapping[str, str] | None = None  # {"name", "sha256"} of the user's file, None without one

    def stage(self, label: str, *, prefixed_only: bool = False) -> tuple[str, bool] | None:
        """(stage, is_rk) of a label, or None when it is not a stage label. With ``prefixed_only`` (EDF+
        annotations) only 'Sleep stage X' and 'Movement time' are stage labels."""
        text = fold_label(label)
        bare = strip_stage_prefix(text)
        if prefixed_only and bare == text and text != "movement time":
            return None
        if bare in self.rk_stages:
            return self.rk_stages[bare], True
        if bare in self.stages:
            return self.stages[bare], False
        return None

    def event_kind(self, label: str) -> str | None:
        """The event kind a label was given in a vocabulary file (the built-in patterns are in cds.io.events)."""
        return self.events.get(fold_label(label))

    def ignored(self, label: str) -> bool:
        return fold_label(label) in self.ignore

    def describe_stages(self) -> str:
        """The allowed stage labels, for a refusal message: 'W (w, wake, ...); N1 (...); ...'."""
        by_stage: dict[str, list[str]] = {code: [] for code in STAGE_CODES}
        for label, code in self.stages.items():
            by_stage[code].append(label)
        for label, code in self.rk_stages.items():
            by_stage[code].append(label)
        return "; ".join(f"{code}: {', '.join(sorted(labels))}" for code, labels in by_stage.items() if labels)

    def to_dict(self) -> dict[str, Any]:
        """What analysis.json records of the vocabulary: the user's file (name, sha256), or null with the reason."""
        if self.extension:
            return {"extension": dict(self.extension), "unavailable": {}}
        reason = "no --stage-labels file (nor CDS_STAGE_LABELS): knowledge/labels.yaml alone"
        return {"extension": None, "unavailable": {"extension": reason}}


def _strings(root: Any, keys: list, value: Any, path: Path) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        raise LabelsFileError(
            f"{'.'.join(map(str, keys))}: expected a list of labels", path=path, location=locate(root, keys)
        )
    return [fold_label(str(v)) for v in value]


def _parse(path: Path, text: str | None = None) -> dict[str, Any]:
    """One vocabulary file -> {"stages": {label: code}, "rk_stages": {...}, "events": {...}, "ignore": set}."""
    root = load_yaml(path, error_cls=LabelsFileError, text=text)
    if root is None:
        root = {}
    if not isinstance(root, dict):
        raise LabelsFileError("expected a mapping with stages/rk_stages/events/ignore", path=path, location="1:1")
    unknown = [k for k in root if k not in _SECTIONS]
    if unknown:
        raise LabelsFileError(
            f"unknown section {unknown[0]!r} (allowed: {', '.join(_SECTIONS)})",
            path=path,
            location=locate(root, [unknown[0]]),
        )
    if root.get("schema", SCHEMA) != SCHEMA:
        raise LabelsFileError(f"schema must be {SCHEMA!r}", path=path, location=locate(root, ["schema"]))
    out: dict[str, Any] = {"stages": {}, "rk_stages": {}, "events": {}, "ignore": set()}
    for section, allowed in (("stages", STAGE_CODES), ("rk_stages", RK_CODES), ("events", EVENT_KINDS)):
        table = root.get(section) or {}
        if not isinstance(table, dict):
            raise LabelsFileError(f"{section}: expected a mapping", path=path, location=locate(root, [section]))
        for code, labels in table.items():
            if str(code) not in allowed:
                raise LabelsFileError(
                    f"{section}: unknown {'kind' if section == 'events' else 'stage'} {code!r} "
                    f"(allowed: {', '.join(allowed)})",
                    path=path,
                    location=locate(root, [section, code]),
                )
            for label in _strings(root, [section, code], labels or [], path):
                earlier = out[section].get(label)
                if earlier is not None and earlier != str(code):
                    raise LabelsFileError(
                        f"{section}: label {label!r} given for both {earlier} and {code}",
                        path=path,
                        location=locate(root, [section, code]),
                    )
                out[section][label] = str(code)
    out["ignore"] = set(_strings(root, ["ignore"], root.get("ignore") or [], path))
    return out


def _merge(base: dict[str, Any], extra: dict[str, Any], path: Path) -> dict[str, Any]:
    """The shipped vocabulary plus a user's additions; an addition may not remap a shipped label."""
    merged: dict[str, Any] = {section: dict(base[section]) for section in ("stages", "rk_stages", "events")}
    meaning = {
        **{k: f"stage {v}" for k, v in base["stages"].items()},
        **{k: f"R&K stage {v}" for k, v in base["rk_stages"].items()},
        **{k: f"event {v}" for k, v in base["events"].items()},
        **dict.fromkeys(base["ignore"], "ignored"),
    }
    for section, kind in (("stages", "stage"), ("rk_stages", "R&K stage"), ("events", "event")):
        for label, code in extra[section].items():
            shipped = meaning.get(label)
            if shipped is not None and shipped != f"{kind} {code}":
                raise LabelsFileError(
                    f"label {label!r} means {shipped} in the shipped vocabulary; an addition cannot make it "
                    f"{kind} {code}",
                    path=path,
                )
            merged[section][label] = code
    for label in extra["ignore"]:
        if meaning.get(label, "ignored") != "ignored":
            raise LabelsFileError(f"label {label!r} means {meaning[label]}; it cannot be ignored", path=path)
    merged["ignore"] = set(base["ignore"]) | set(extra["ignore"])
    return merged


@functools.lru_cache(maxsize=16)
def _load(shipped: str, shipped_stamp: tuple, extra: str | None, extra_stamp: tuple | None) -> LabelVocabulary:
    base = _parse(Path(shipped))
    extension = None
    if extra is not None:
        path = Path(extra)
        raw = read_limited(path, MAX_LABELS_BYTES, "label vocabulary file", LabelsFileError)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LabelsFileError(f"not UTF-8 text (byte {exc.start})", path=path) from None
        base = _merge(base, _parse(path, text), path)
        extension = {"name": path.name, "sha256": hashlib.sha256(raw).hexdigest()}
    return LabelVocabulary(
        stages=base["stages"],
        rk_stages=base["rk_stages"],
        events=base["events"],
        ignore=frozenset(base["ignore"]),
        extension=extension,
    )


def _stamp(path: Path, error_cls: type[InputError]) -> tuple:
    try:
        st = path.stat()
    except OSError as exc:
        raise error_cls(f"cannot read the label vocabulary: {exc.strerror or exc}", path=path) from exc
    return (st.st_mtime_ns, st.st_size)


def load_labels(extra: str | Path | None = None) -> LabelVocabulary:
    """The shipped vocabulary (``knowledge/labels.yaml``) plus ``extra`` (default ``$CDS_STAGE_LABELS``).

    Raises LabelsFileError (exit 3) naming the file and line when a vocabulary file is malformed, or when an
    addition would remap a shipped label."""
    shipped = knowledge_dir() / "labels.yaml"
    if extra is None and os.environ.get(ENV):
        extra = os.environ[ENV]
    extra_path = None if extra is None else Path(extra)
    if extra_path is not None and not extra_path.is_file():
        raise LabelsFileError(
            "label vocabulary file not found" if not extra_path.exists() else "not a file", path=extra_path
        )
    return _load(
        str(shipped),
        _stamp(shipped, LabelsFileError),
        None if extra_path is None else str(extra_path),
        None if extra_path is None else _stamp(extra_path, LabelsFileError),
    )

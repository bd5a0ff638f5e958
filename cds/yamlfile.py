"""Strict YAML reading for rule, knowledge and patient files (design/rule-engine.md section 1).

ruamel.yaml round-trip mode: YAML 1.2 (``no`` stays a string), duplicate keys are errors, every key and item
keeps its line and column. On top of that we forbid anchors, aliases and explicit tags, so a file is plain data.
JSON files are read by the same loader (JSON is a subset of YAML 1.2) so their errors carry line:col too.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent

from cds.errors import InputError

__all__ = ["PathKey", "Problems", "bad_date", "load_yaml", "locate", "locate_value", "to_plain"]

PathKey = Sequence[str | int]


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def _mark(exc: MarkedYAMLError) -> str | None:
    mark = exc.problem_mark or exc.context_mark
    return f"{mark.line + 1}:{mark.column + 1}" if mark is not None else None


_DATE_LIKE = re.compile(r"""(?<![\w.:-])['"]?(\d{4})-(\d{1,2})-(\d{1,2})(?![\w.:-])""")


def bad_date(text: str) -> tuple[int, int, str] | None:
    """(line, column, message), 1-based, of the first date-shaped scalar that is no calendar date
    (``reviewed: 2026-13-45``): YAML reads such a value as a date and fails without saying where."""
    for number, line in enumerate(text.splitlines(), start=1):
        code = line.split(" #", 1)[0]
        for match in _DATE_LIKE.finditer(code):
            if match.group(0).startswith(("'", '"')):
                continue  # quoted: a string, not a date
            year, month, day = (int(g) for g in match.groups())
            try:
                _dt.date(year, month, day)
            except ValueError as exc:
                value = match.group(0)
                return number, match.start() + 1, f"not a date: {value} ({exc}; allowed: YYYY-MM-DD)"
    return None


def load_yaml(path: str | Path, *, error_cls: type[InputError] = InputError, text: str | None = None) -> Any:
    """Read ``path`` (or ``text`` shown as ``path``) strictly; raise ``error_cls`` with line:col on any problem."""
    path = Path(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise error_cls(f"cannot read file: {exc}", path=path) from exc
    # Anchors (&), aliases (*) and tags (!) cannot occur in a text without those characters: skip the scan then.
    events = _yaml().parse(text) if any(c in text for c in "&*!") else ()
    try:
        for event in events:
            where = f"{event.start_mark.line + 1}:{event.start_mark.column + 1}"
            if isinstance(event, AliasEvent):
                raise error_cls("aliases (*name) are not allowed; write the value out", path=path, location=where)
            if isinstance(event, ScalarEvent | CollectionStartEvent):
                if event.anchor:
                    raise error_cls("anchors (&name) are not allowed", path=path, location=where)
                if event.tag:
                    raise error_cls(f"explicit tags are not allowed (got {event.tag})", path=path, location=where)
        data = _yaml().load(text)
    except MarkedYAMLError as exc:
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise error_cls(problem.replace("\n", " "), path=path, location=_mark(exc)) from exc
    except Exception as exc:  # ruamel raises a few unmarked errors (e.g. duplicate keys in old versions)
        if isinstance(exc, InputError):
            raise
        found = bad_date(text) if isinstance(exc, ValueError) else None
        if found is not None:
            raise error_cls(found[2], path=path, location=f"{found[0]}:{found[1]}") from exc
        raise error_cls(f"invalid YAML: {exc}".replace("\n", " "), path=path) from exc
    return data


def locate(root: Any, keys: PathKey) -> str | None:
    """Return ``line:col`` (1-based) of the key or item at ``keys`` inside ``root``, or of its nearest parent."""
    node = root
    where: str | None = None
    for key in keys:
        try:
            if isinstance(node, CommentedMap) and key in node:
                line, col = node.lc.key(key)
                where = f"{line + 1}:{col + 1}"
                node = node[key]
            elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
                line, col = node.lc.item(key)
                where = f"{line + 1}:{col + 1}"
                node = node[key]
            else:
                break
        except (KeyError, TypeError, AttributeError):
            break
    if where is None and isinstance(root, CommentedMap | CommentedSeq) and root.lc.line is not None:
        where = f"{root.lc.line + 1}:{root.lc.col + 1}"
    return where


def locate_value(root: Any, keys: PathKey) -> str | None:
    """Like :func:`locate` but points at the value of the last key (for bad values)."""
    if not keys:
        return locate(root, keys)
    parent = root
    for key in keys[:-1]:
        try:
            parent = parent[key]
        except (KeyError, IndexError, TypeError):
            return locate(root, keys)
    last = keys[-1]
    try:
        if isinstance(parent, CommentedMap) and last in parent:
            line, col = parent.lc.value(last)
            return f"{line + 1}:{col + 1}"
    except (KeyError, TypeError, AttributeError):
        pass
    return locate(root, keys)


def to_plain(value: Any) -> Any:
    """Convert ruamel containers and scalar subclasses to plain dict/list/str/int/float/bool/None/date."""
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    return value


class Problems:
    """Collects every problem of a check as ``(path, location, text)``; raises them together at the end."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str | None, str]] = []

    def add(self, path: str | Path, location: str | None, text: str) -> None:
        self.items.append((str(path), location, text))

    def __len__(self) -> int:
        return len(self.items)

    def lines(self) -> list[str]:
        """Each problem as ``file:line:col: problem``."""
        return [":".join(p for p in (path, loc) if p) + f": {text}" for path, loc, text in self.items]

    def raise_if_any(self, error_cls: type[InputError]) -> None:
        """Raise the first problem as ``error_cls`` (with ``.problems`` holding all lines) if there are any."""
        if not self.items:
            return
        path, loc, text = self.items[0]
        more = len(self.items) - 1
        error = error_cls(text, path=path, location=loc, hint=f"and {more} more problem(s)" if more else None)
        error.problems = self.lines()  # type: ignore[attr-defined]
        raise error

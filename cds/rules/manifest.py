"""Rule-set manifest (``rules/MANIFEST.yaml``): the rule-set version and the sha256 of every rule and knowledge file.

The manifest is what a decision record's ``inputs.ruleset`` names (``version`` and ``sha256``), and what
``cds rules check`` compares rule files against: a rule whose ``version:`` is unchanged but whose file hash
differs from the hash recorded for that version was changed without a version bump (rule-engine design notes,
section 5: "a release manifest lists all rule hashes").

Hashes are sha256 of the file's bytes (no normalisation). The rule-set hash is the sha256 of the
``sha256sum``-style listing ``"<sha256>  <path>\\n"`` of every file, sorted by path, so it can be re-derived with
standard tools. Scenario files (``*.scenario.yaml``) are tests, not rules: they are not part of the rule set.

This module reads the manifest and stamps decisions; writing a new one is a release step of the authoring tools
(``cds.authoring.release``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from cds.errors import RuleFileError
from cds.files import sha256_of as hash_file
from cds.paths import knowledge_dir, rules_dir

__all__ = [
    "MANIFEST_NAME",
    "MANIFEST_SCHEMA",
    "RELEASES_DIR",
    "RELEASE_SCHEMA",
    "VERSION_RE",
    "Manifest",
    "RuleStamp",
    "compute_ruleset_sha256",
    "hash_file",
    "latest_release",
    "read_manifest",
    "read_rule_stamp",
    "release_records",
    "rule_stamp_of",
    "ruleset_stamp",
    "scan_ruleset",
]

log = logging.getLogger(__name__)

MANIFEST_NAME = "MANIFEST.yaml"
MANIFEST_SCHEMA = "cds.ruleset-manifest/v1"
_DATA_SUFFIXES = (".yaml", ".yml", ".json", ".csv")
_SCENARIO_SUFFIX = ".scenario.yaml"
VERSION_RE = re.compile(r"^\d+(\.\d+)*$")


@dataclass(frozen=True)
class RuleStamp:
    """One rule as recorded in the manifest: its id, integer version, file hash and path (relative)."""

    rule_id: str
    version: int
    sha256: str
    path: str


@dataclass(frozen=True)
class Manifest:
    """A rule-set version: ``files`` maps ``rules/...`` and ``knowledge/...`` paths to sha256."""

    version: str
    sha256: str
    files: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    rules: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # rule id -> RuleStamp


def _is_ruleset_file(path: Path, relative: Path) -> bool:
    return (
        relative.suffix in _DATA_SUFFIXES
        and relative.name != MANIFEST_NAME
        and not relative.name.endswith(_SCENARIO_SUFFIX)
        and not any(part.startswith(".") for part in relative.parts)
        and path.is_file()
    )


def scan_ruleset(rules: Path | None = None, knowledge: Path | None = None) -> dict[str, str]:
    """Map ``rules/<relpath>`` and ``knowledge/<relpath>`` (POSIX separators) to the sha256 of each data file."""
    found: dict[str, str] = {}
    from cds.rules.load import rule_files

    for prefix, root in (("rules", rules or rules_dir()), ("knowledge", knowledge or knowledge_dir())):
        root = Path(root)
        if not root.is_dir():
            continue
        # rules: exactly the files the loader loads (a misplaced file is a load error, never manifested)
        for path in rule_files(root) if prefix == "rules" else sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if _is_ruleset_file(path, relative):
                found[f"{prefix}/{relative.as_posix()}"] = hash_file(path)
    return dict(sorted(found.items()))


def compute_ruleset_sha256(files: dict[str, str] | MappingProxyType[str, Any]) -> str:
    """sha256 of the sorted ``sha256sum`` listing of ``files``."""
    listing = "".join(f"{digest}  {name}\n" for name, digest in sorted(files.items()))
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


def read_rule_stamp(path: Path, relative: str) -> RuleStamp | None:
    """The ``id`` and integer ``version`` at the top of a rule file, or None when the file does not state them."""
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError, ValueError) as exc:  # ValueError: a date that is no date
        log.debug("%s: not read for the manifest (%s)", path, exc)
        return None
    return rule_stamp_of(data, path, relative)


def rule_stamp_of(data: Any, path: Path, relative: str) -> RuleStamp | None:
    """The stamp of a rule file already parsed (``data``): None when it states no ``id`` or integer ``version``."""
    if not isinstance(data, Mapping):
        return None
    rule_id, version = data.get("id"), data.get("version")
    if not isinstance(rule_id, str) or not isinstance(version, int) or isinstance(version, bool):
        return None
    return RuleStamp(rule_id, version, hash_file(path), relative)


def _need(cond: bool, problem: str, path: Path) -> None:
    if not cond:
        raise RuleFileError(problem, path=path, hint="regenerate it with `cds rules manifest --update`")


def read_manifest(path: Path | None = None) -> Manifest:
    """Read ``rules/MANIFEST.yaml`` (or ``path``); raise RuleFileError when it is missing or malformed."""
    path = Path(path or rules_dir() / MANIFEST_NAME)
    try:
        data: Any = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RuleFileError(
            "no rule-set manifest", path=path, hint="create it with `cds rules manifest --update`"
        ) from exc
    except (OSError, UnicodeDecodeError, YAMLError) as exc:
        raise RuleFileError(f"unreadable manifest: {exc}".replace("\n", " "), path=path) from exc
    _need(isinstance(data, dict) and data.get("schema") == MANIFEST_SCHEMA, f"not a {MANIFEST_SCHEMA} file", path)
    version, digest = str(data.get("version", "")), data.get("sha256")
    files, rules = data.get("files") or {}, data.get("rules") or {}
    _need(bool(VERSION_RE.match(version)), f"bad version {version!r}", path)
    _need(isinstance(files, dict) and isinstance(rules, dict), "files and rules must be mappings", path)
    _need(isinstance(digest, str) and digest == compute_ruleset_sha256(files), "sha256 does not match its files", path)
    stamps = {}
    for rule_id, entry in rules.items():
        _need(isinstance(entry, dict) and isinstance(entry.get("version"), int), f"rule {rule_id}: bad entry", path)
        stamps[str(rule_id)] = RuleStamp(
            str(rule_id), entry["version"], str(entry.get("sha256")), str(entry.get("path"))
        )
    return Manifest(version, digest, MappingProxyType(dict(files)), MappingProxyType(stamps))


def ruleset_stamp(rules: Path | None = None, knowledge: Path | None = None) -> dict[str, str | None]:
    """``inputs.ruleset`` of a decision record: the manifest's version, and the sha256 of the files as they are.

    When the files no longer match the manifest, the version is reported as ``<version>+modified`` so that a
    decision is never labelled with a version whose content it did not use; without a manifest it is null.
    """
    rules = Path(rules or rules_dir())
    digest = compute_ruleset_sha256(scan_ruleset(rules, knowledge))
    try:
        manifest = read_manifest(rules / MANIFEST_NAME)
    except RuleFileError as exc:
        log.warning("rule-set version unknown: %s", exc)
        return {"version": None, "sha256": digest}
    version = manifest.version if manifest.sha256 == digest else f"{manifest.version}+modified"
    return {"version": version, "sha256": digest}


RELEASE_SCHEMA = "cds.ruleset-release/v1"
RELEASES_DIR = "releases"  # releases/<version>.json beside rules/: signed release records (cds rules release)


def _release_sort_key(record: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(x) for x in str(record.get("version", "0")).split(".") if x.isdigit())


def release_records(rules: Path) -> list[tuple[dict[str, Any], Path]]:
    """Every release record in ``releases/`` beside ``rules`` with its path, oldest version first (unsigned
    content as written: the caller verifies the signature)."""
    import json

    folder = Path(rules).parent / RELEASES_DIR
    records = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RuleFileError(f"unreadable release record: {exc}", path=path) from exc
        if isinstance(data, dict) and data.get("schema") == RELEASE_SCHEMA:
            records.append((data, path))
    return sorted(records, key=lambda r: _release_sort_key(r[0]))


def latest_release(rules: Path) -> tuple[dict[str, Any], Path] | None:
    """The newest release record in ``releases/`` beside ``rules`` (by version) and its path, or None."""
    records = release_records(rules)
    return records[-1] if records else None

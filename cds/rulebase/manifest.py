"""Rule-set manifest (``rules/MANIFEST.yaml``): the rule-set version and the sha256 of every rule and knowledge file.

The manifest is what a decision record's ``inputs.ruleset`` names (``version`` and ``sha256``), and what
``cds rules check`` compares rule files against: a rule whose ``version:`` is unchanged but whose file hash
differs from the hash recorded for that version was changed without a version bump (rule-engine design notes,
section 5: "a release manifest lists all rule hashes").

Hashes are sha256 of the file's bytes (no normalisation). The rule-set hash is the sha256 of the
``sha256sum``-style listing ``"<sha256>  <path>\\n"`` of every file, sorted by path, so it can be re-derived with
standard tools. Scenario files (``*.scenario.yaml``) are tests, not rules: they are not part of the rule set.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from cds.errors import RuleFileError
from cds.files import sha256_of as hash_file
from cds.files import write_atomic
from cds.paths import knowledge_dir, rules_dir

__all__ = [
    "MANIFEST_NAME",
    "MANIFEST_SCHEMA",
    "Manifest",
    "RuleStamp",
    "build_manifest",
    "bump_version",
    "compute_ruleset_sha256",
    "hash_file",
    "read_manifest",
    "read_rule_stamp",
    "render_manifest",
    "ruleset_stamp",
    "scan_ruleset",
    "update_manifest",
    "write_manifest",
]

log = logging.getLogger(__name__)

MANIFEST_NAME = "MANIFEST.yaml"
MANIFEST_SCHEMA = "cds.ruleset-manifest/v1"
_DATA_SUFFIXES = (".yaml", ".yml", ".json", ".csv")
_SCENARIO_SUFFIX = ".scenario.yaml"
_VERSION_RE = re.compile(r"^\d+(\.\d+)*$")


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
    files: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    rules: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))  # rule id -> RuleStamp


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
    for prefix, root in (("rules", rules or rules_dir()), ("knowledge", knowledge or knowledge_dir())):
        root = Path(root)
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if _is_ruleset_file(path, relative):
                found[f"{prefix}/{relative.as_posix()}"] = hash_file(path)
    return dict(sorted(found.items()))


def compute_ruleset_sha256(files: dict[str, str] | MappingProxyType) -> str:
    """sha256 of the sorted ``sha256sum`` listing of ``files``."""
    listing = "".join(f"{digest}  {name}\n" for name, digest in sorted(files.items()))
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


def read_rule_stamp(path: Path, relative: str) -> RuleStamp | None:
    """The ``id`` and integer ``version`` at the top of a rule file, or None when the file does not state them."""
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError) as exc:
        log.debug("%s: not read for the manifest (%s)", path, exc)
        return None
    if not isinstance(data, dict):
        return None
    rule_id, version = data.get("id"), data.get("version")
    if not isinstance(rule_id, str) or not isinstance(version, int) or isinstance(version, bool):
        return None
    return RuleStamp(rule_id, version, hash_file(path), relative)


def _rule_stamps(files: dict[str, str], rules: Path) -> dict[str, RuleStamp]:
    stamps: dict[str, RuleStamp] = {}
    for name in files:
        if not name.startswith("rules/") or not name.endswith((".yaml", ".yml")):
            continue
        stamp = read_rule_stamp(rules / name.removeprefix("rules/"), name)
        if stamp is not None and stamp.rule_id not in stamps:
            stamps[stamp.rule_id] = stamp
    return dict(sorted(stamps.items()))


def bump_version(version: str) -> str:
    """Increase the last number of a dotted version (``0.3.1`` -> ``0.3.2``)."""
    parts = version.split(".")
    return ".".join([*parts[:-1], str(int(parts[-1]) + 1)])


def build_manifest(
    rules: Path | None = None,
    knowledge: Path | None = None,
    *,
    previous: Manifest | None = None,
    version: str | None = None,
) -> Manifest:
    """Hash the rule set now. The version is ``version`` if given, else the previous one, bumped when the
    rule-set hash changed (``0.1.0`` for a first manifest)."""
    rules = Path(rules or rules_dir())
    files = scan_ruleset(rules, knowledge)
    digest = compute_ruleset_sha256(files)
    if version is None:
        if previous is None:
            version = "0.1.0"
        else:
            version = previous.version if previous.sha256 == digest else bump_version(previous.version)
    if not _VERSION_RE.match(version):
        raise RuleFileError(f"bad rule-set version {version!r}", hint="dotted numbers, e.g. 0.3.0")
    return Manifest(version, digest, MappingProxyType(files), MappingProxyType(_rule_stamps(files, rules)))


def render_manifest(manifest: Manifest) -> str:
    """The manifest as YAML text (stable order, one line per file and rule)."""
    lines = [
        "# Generated by `cds rules manifest --update`: do not edit by hand. sha256 = sha256 of the sorted",
        '# "<sha256>  <path>" listing of the files below (scenario files are tests and are not listed).',
        f"schema: {MANIFEST_SCHEMA}",
        f"version: '{manifest.version}'",
        f"sha256: {manifest.sha256}",
        "files:" + ("" if manifest.files else " {}"),
    ]
    lines += [f"  {name}: {digest}" for name, digest in manifest.files.items()]
    lines.append("rules:" + ("" if manifest.rules else " {}"))
    for stamp in manifest.rules.values():
        lines.append(f"  {stamp.rule_id}: {{version: {stamp.version}, sha256: {stamp.sha256}, path: {stamp.path}}}")
    return "\n".join(lines) + "\n"


def write_manifest(manifest: Manifest, path: Path | None = None) -> Path:
    """Write the manifest atomically (default ``rules/MANIFEST.yaml``) and return where."""
    path = Path(path or rules_dir() / MANIFEST_NAME)
    write_atomic(path, render_manifest(manifest))
    log.info("wrote %s: rule set %s (%s, %d files)", path, manifest.version, manifest.sha256[:12], len(manifest.files))
    return path


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
    _need(bool(_VERSION_RE.match(version)), f"bad version {version!r}", path)
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


def update_manifest(
    rules: Path,
    knowledge: Path,
    *,
    target: Path | None = None,
    version: str | None = None,
    force: bool = False,
) -> tuple[Manifest | None, list]:
    """Rewrite the manifest at ``target`` (default ``rules/MANIFEST.yaml``) from ``rules`` and ``knowledge``.

    Refuses (returns None and the problems) when a rule changed without a version bump against the manifest
    being replaced, since rewriting it would erase the evidence; ``force`` skips that check.
    """
    from cds.rulebase.check import find_version_problems, read_rule_docs

    target = Path(target or Path(rules) / MANIFEST_NAME)
    if not force and target.is_file():
        problems = find_version_problems(read_rule_docs(Path(rules), []), Path(rules), target)
        if problems:
            return None, problems
    previous = read_manifest(target) if target.is_file() else None
    manifest = build_manifest(rules, knowledge, previous=previous, version=version)
    write_manifest(manifest, target)
    return manifest, []

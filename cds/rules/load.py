"""Load every ``rules/<n>-<layer>/*.yaml`` rule file: strict YAML, JSON Schema, then the semantic pass.

All problems are collected as ``file:line:col: problem``; :func:`load_rules` raises the first as RuleFileError
(with the count of others and ``.problems``), :func:`check_rules` returns them as a list.
``*.scenario.yaml`` files are scenarios, not rules.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cds.errors import RuleFileError
from cds.kb import Knowledge
from cds.rules.schema import IN_FORCE, LAYERS, rule_schema
from cds.yamlfile import Problems, load_yaml, locate, to_plain

__all__ = [
    "IN_FORCE",
    "RULE_SUFFIXES",
    "RuleSet",
    "RuleSpec",
    "check_rules",
    "load_rules",
    "misplaced_rule_files",
    "rule_files",
]

_VALIDATOR: Any = None  # built on first use: a triage reads a compiled bundle and never validates a rule file


def _validator() -> Any:
    """The JSON Schema validator of rule files (jsonschema is imported only when a rule file is validated)."""
    global _VALIDATOR
    if _VALIDATOR is None:
        from jsonschema import Draft202012Validator

        _VALIDATOR = Draft202012Validator(rule_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)
    return _VALIDATOR


class _Deferred:
    """A pickled value read back on first use (RuleSpec.root)."""

    def __init__(self, blob: bytes) -> None:
        self.blob = blob


@dataclass(frozen=True)
class RuleSpec:
    """One validated rule file. ``when``/``then``/``tests`` are plain data (the condition AST)."""

    id: str
    title: str
    version: int
    status: str
    layer: str
    references: tuple[dict[str, Any], ...]
    when: Any
    then: tuple[dict[str, Any], ...]
    because: str
    tests: tuple[dict[str, Any], ...]
    path: str
    sha256: str
    data: dict[str, Any] = field(compare=False, repr=False)
    source: Any = field(default=None, compare=False, repr=False)  # the ruamel mapping (line:col); see ``root``

    @property
    def root(self) -> Any:
        """The rule file's ruamel mapping, for line:col (authoring tools). A stored rule set keeps it pickled
        apart (``__getstate__``) and reads it back only when asked: a triage never needs it, and it is most of the
        cost of loading a compiled bundle (cds.rules.bundle)."""
        if isinstance(self.source, _Deferred):
            object.__setattr__(self, "source", pickle.loads(self.source.blob))
        return self.source

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if state.get("source") is not None and not isinstance(state["source"], _Deferred):
            state["source"] = _Deferred(pickle.dumps(state["source"], protocol=pickle.HIGHEST_PROTOCOL))
        return state

    @property
    def effective(self) -> str | None:
        """ISO date from which the rule takes part in decisions (None: always)."""
        value = self.data.get("effective")
        return None if value is None else str(value)

    @property
    def expires(self) -> str | None:
        """ISO date after which the rule is expired (it still fires, named in every decision), or None."""
        value = self.data.get("expires")
        return None if value is None else str(value)

    @property
    def in_force(self) -> bool:
        """An active or deprecated rule: loaded for decisions (rules/README.md, "Governance")."""
        return self.status in IN_FORCE

    @property
    def salience(self) -> int:
        return LAYERS[self.layer]

    @property
    def reference_keys(self) -> tuple[str, ...]:
        return tuple(r["key"] for r in self.references)


@dataclass(frozen=True)
class RuleSet:
    """Rules sorted by id, and a SHA-256 over all rule files (name and bytes) and the knowledge hash."""

    rules: tuple[RuleSpec, ...]
    sha256: str
    directory: str

    def active(self) -> tuple[RuleSpec, ...]:
        """The rules in force: status active or deprecated (a deprecated rule fires until it is retired)."""
        return tuple(r for r in self.rules if r.status in IN_FORCE)

    def by_id(self) -> dict[str, RuleSpec]:
        return {r.id: r for r in self.rules}


RULE_SUFFIXES = (".yaml", ".yml")
_NOT_RULES = ("MANIFEST.yaml",)


def _is_rule_like(path: Path) -> bool:
    return (
        path.suffix in RULE_SUFFIXES
        and not path.name.startswith(".")
        and not path.name.endswith((".scenario.yaml", ".scenario.yml"))
        and path.is_file()
    )


def rule_files(rules_dir: Path) -> list[Path]:
    """THE rule-file discovery (issue 11): ``*.yaml``/``*.yml`` directly inside a layer folder of ``rules_dir``,
    sorted by path; scenario and hidden files excluded. Loading, listing, the manifest, the checks and the rule
    book all use it, and :func:`misplaced_rule_files` names every other YAML file, which is an error."""
    out = []
    for folder in sorted(p for p in rules_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        out += [p for p in folder.iterdir() if _is_rule_like(p)]
    return sorted(out)


def misplaced_rule_files(rules_dir: Path) -> list[Path]:
    """YAML files under ``rules_dir`` that :func:`rule_files` does not load: in the rules folder itself (other
    than the manifest) or in a folder below a layer folder. Subfolders are rejected, never half-used."""
    loaded = set(rule_files(rules_dir))
    return sorted(
        p
        for p in rules_dir.rglob("*")
        if _is_rule_like(p)
        and p not in loaded
        and p.name not in _NOT_RULES
        and not any(part.startswith(".") for part in p.relative_to(rules_dir).parts)
    )


def _best(error: Any) -> Any:
    """For a ``oneOf`` failure, the error of the branch the author most likely meant (its keys are present)."""
    if not error.context:
        return error
    branches: dict[Any, list[Any]] = {}
    for sub in error.context:
        branches.setdefault(sub.schema_path[0], []).append(sub)

    def score(errs: list[Any]) -> tuple[int, int]:
        shallow = sum(1 for e in errs if not e.relative_path and e.validator in ("required", "additionalProperties"))
        return shallow, len(errs)

    chosen = min(branches.values(), key=score)
    return _best(max(chosen, key=lambda e: len(e.absolute_path)))


def _message(error: Any) -> tuple[list[Any], str]:
    keys = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        if extra:
            hint = ", ".join(sorted(allowed))
            return [*keys, extra[0]], f"unknown key '{extra[0]}' (allowed: {hint})"
    return keys, error.message


def _schema_problems(path: Path, root: Any, data: dict[str, Any], problems: Problems) -> bool:
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    for error in errors:
        keys, text = _message(_best(error))
        where = ".".join(map(str, keys[:-1] if text.startswith("unknown key") else keys)) or "(top)"
        # the position of the key (of the unknown key, or of the key whose value is bad): `rules check` and its
        # tests rely on it
        problems.add(path, locate(root, keys), f"{where}: {text}")
    return not errors


def _folder_layer(path: Path) -> str | None:
    name = path.parent.name
    return name.split("-", 1)[1] if "-" in name else None


def _load_one(real: Path, kb: Knowledge, problems: Problems, path: Path) -> RuleSpec | None:
    """Load ``real``; ``path`` (relative to the rules folder's parent) is what messages show."""
    try:
        root = load_yaml(real, error_cls=RuleFileError)
    except RuleFileError as exc:
        problems.add(path, exc.location, exc.problem)
        return None
    if not isinstance(root, dict):
        problems.add(path, "1:1", "a rule file is a mapping (id, title, version, ...)")
        return None
    data = to_plain(root)
    before = len(problems)
    if not _schema_problems(path, root, data, problems):
        return None
    if data["id"] != path.stem:
        problems.add(path, locate(root, ["id"]), f"id '{data['id']}' must equal the file name '{path.stem}'")
    folder_layer = _folder_layer(path)
    if data["layer"] != folder_layer:
        problems.add(path, locate(root, ["layer"]), f"layer '{data['layer']}' must match the folder '{folder_layer}'")
    from cds.rules.semantic import check_rule_semantics  # only when a rule file is validated (not from a bundle)

    check_rule_semantics(data, root, path, kb, problems)
    _check_dates(data, root, path, problems)
    if len(problems) > before:
        return None
    return RuleSpec(
        id=data["id"],
        title=data["title"],
        version=data["version"],
        status=data["status"],
        layer=data["layer"],
        references=tuple(data["references"]),
        when=data["when"],
        then=tuple(data["then"]),
        because=data["because"],
        tests=tuple(data.get("tests") or ()),
        path=f"{path.parent.name}/{path.name}",
        sha256=hashlib.sha256(real.read_bytes()).hexdigest(),
        data=data,
        source=root,
    )


def _check_dates(data: dict[str, Any], root: Any, path: Path, problems: Problems) -> None:
    """``effective`` before ``expires``; a deprecated rule says when it ends (``expires``). The schema already
    rejected a value that is no ISO date, and the YAML reader one that is no calendar date (both with line:col)."""
    effective, expires = data.get("effective"), data.get("expires")
    if effective is not None and expires is not None and str(expires) <= str(effective):
        problems.add(
            path,
            locate(root, ["expires"]),
            f"expires: {expires} is not after effective: {effective} (the rule would never be in force)",
        )
    if data["status"] == "deprecated" and expires is None:
        problems.add(
            path,
            locate(root, ["status"]),
            "status: a deprecated rule needs an expires: date (the last day it is meant to stay in force)",
        )


def _collect(rules_dir: Path, kb: Knowledge) -> tuple[RuleSet, Problems]:
    problems = Problems()
    if not rules_dir.is_dir():
        problems.add(rules_dir, None, "rules folder missing")
        return RuleSet((), "", rules_dir.name), problems
    for folder in sorted(p for p in rules_dir.iterdir() if p.is_dir()):
        if _folder_layer(folder / "x") not in LAYERS:
            problems.add(
                Path(rules_dir.name) / folder.name,
                None,
                f"unknown layer folder (allowed: {', '.join(LAYERS)} with a number prefix)",
            )
    for stray in misplaced_rule_files(rules_dir):
        where = Path(rules_dir.name) / stray.relative_to(rules_dir)
        problems.add(
            where,
            None,
            "rule file outside a layer folder: it would not be loaded (rules/<n-layer>/ID.yaml; "
            "subfolders of a layer folder are not read)",
        )
    specs: list[RuleSpec] = []
    seen: dict[str, Path] = {}
    digest = hashlib.sha256(kb.sha256.encode())
    for path in rule_files(rules_dir):
        digest.update(f"{path.parent.name}/{path.name}".encode() + b"\0" + path.read_bytes() + b"\0")
        spec = _load_one(path, kb, problems, Path(rules_dir.name) / path.parent.name / path.name)
        if spec is None:
            continue
        if spec.id in seen:
            problems.add(
                Path(rules_dir.name) / path.parent.name / path.name,
                "1:1",
                f"duplicate rule id {spec.id} (also in {seen[spec.id].name})",
            )
            continue
        seen[spec.id] = path
        specs.append(spec)
    specs.sort(key=lambda s: s.id)
    return RuleSet(tuple(specs), digest.hexdigest(), rules_dir.name), problems


def check_rules(rules_dir: Path, kb: Knowledge) -> tuple[RuleSet, list[str]]:
    """Load every rule file and return the rule set (valid files only) and every problem as a line."""
    rules, problems = _collect(Path(rules_dir), kb)
    return rules, problems.lines()


def load_rules(rules_dir: Path, kb: Knowledge) -> RuleSet:
    """Load every rule file; raise RuleFileError (first problem, count of others) if any file is bad."""
    rules, problems = _collect(Path(rules_dir), kb)
    problems.raise_if_any(RuleFileError)
    return rules

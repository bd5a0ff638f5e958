"""Load and validate ``knowledge/``: references, thresholds, drugs, vocabularies and the field registry.

Every file is read strictly (cds.yamlfile: no duplicate keys, anchors or tags); unknown keys and wrong
types are ``RuleFileError``s naming ``file:line:col``. All problems are collected before raising.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cds.errors import RuleFileError
from cds.fieldspec import FieldSpec, build_field_registry
from cds.files import RACY_NS
from cds.paths import knowledge_dir as _default_knowledge_dir
from cds.policy import Policy
from cds.yamlfile import Problems, load_yaml, locate, to_plain

__all__ = [
    "DERIVE_OPS",
    "Knowledge",
    "derive_thresholds",
    "expand_groups",
    "fill_thresholds",
    "load_knowledge",
    "normalise_term",
    "read_raw",
    "read_thresholds",
    "read_vocab",
    "resolve_renal_bands",
]

log = logging.getLogger(__name__)

FILES = ("references.yaml", "thresholds.yaml", "drugs.yaml", "vocab.yaml", "fields.yaml", "policy.yaml")

_REF_KEYS = {
    "citation": str,
    "year": (int, type(None)),
    "tag": str,
    "kind": str,
    "doi": (str, type(None)),
    "url": (str, type(None)),
    "note": str,
    "section": str,
    "pmid": (str, int, type(None)),
}
_THRESHOLD_KEYS = {"value": (int, float), "derived": dict, "unit": str, "references": list, "note": str}
DERIVE_OPS = ("plus", "minus", "times", "divided_by")  # the declared arithmetic of a derived threshold
_DRUG_KEYS = {
    "name": str,
    "dose_child": str,
    "classes": list,
    "dose": (str, type(None)),
    "references": list,
    "renal": list,
    "hepatic": (str, list, type(None)),
    "seed": bool,
    "note": str,
    "monitoring": str,
}
_VOCAB_LISTS = ("sexes", "distress_levels", "hla_b1502_values", "eeg_values")
_VOCAB_MAPS = (
    "conditions",
    "actions",
    "urgencies",
    "treatment_statuses",
    "findings",
    "evidence",
    "reasons",
    "caveats",
    "past_outcomes",
    "medication_actions",
    "strengths",
    "ancestry_terms",
    "pathways",
)


@dataclass(frozen=True)
class Knowledge:
    """The validated knowledge base (read-only mappings) and a SHA-256 over its files."""

    references: MappingProxyType
    thresholds: MappingProxyType
    drugs: MappingProxyType
    groups: MappingProxyType
    medications: MappingProxyType
    aliases: MappingProxyType  # normalised alias -> drug name (drugs.yaml aliases)
    products: MappingProxyType  # medication name -> the treatment code it is a form of (drugs.yaml products)
    classes: MappingProxyType  # drug class -> {description, references} (drugs.yaml classes)
    same_active: MappingProxyType  # candidate -> the candidates delivering the same active drug (drugs.yaml)
    vocab: MappingProxyType
    fields: MappingProxyType  # name -> FieldSpec
    sha256: str
    policy_obj: Policy
    directory: str = field(default="", compare=False)

    def threshold(self, name: str) -> float:
        return self.thresholds[name]["value"]

    def drug_classes(self) -> tuple[str, ...]:
        """Every drug class named in drugs.yaml (treatment candidates and patient medications)."""
        classes = {c for d in self.drugs.values() for c in d.get("classes", [])}
        classes |= {c for cs in self.medications.values() for c in cs}
        return tuple(sorted(classes))

    def canonical_drug_name(self, text: str) -> str:
        """A drug name as a person writes it -> the knowledge base's name: case, spaces, hyphens and
        punctuation do not matter, and a known alias (brand or other spelling) maps to its generic name."""
        key = normalise_term(text)
        return str(self.aliases.get(key, key))

    def drug_name_label(self, name: str) -> str:
        """Display name of a drug: its treatment entry's name, else the generic name in words."""
        entry = self.drugs.get(name)
        if entry and entry.get("name"):
            return str(entry["name"])
        return name.replace("_", " ")

    def medication_classes(self, name: str) -> tuple[str, ...] | None:
        """Classes of a generic drug name a patient file lists, or None when the name is not known."""
        if name in self.medications:
            return tuple(self.medications[name])
        if name in self.drugs:
            return tuple(self.drugs[name].get("classes", []))
        return None


def normalise_term(text: str) -> str:
    """Lower-case words joined by '_' (every run of characters other than letters and digits is one
    separator): ``'Sodium Valproate'`` and ``'sodium-valproate'`` -> ``'sodium_valproate'``."""
    return "_".join(re.findall(r"[0-9a-z]+", text.casefold()))


def _check_keys(problems: Problems, path: Path, root: Any, where: list, entry: Any, spec: dict, required: set) -> None:
    if not isinstance(entry, dict):
        problems.add(path, locate(root, where), f"{'.'.join(map(str, where))}: expected a mapping")
        return
    for key, value in entry.items():
        if key not in spec:
            allowed = ", ".join(sorted(spec))
            problems.add(path, locate(root, [*where, key]), f"unknown key '{key}' (allowed: {allowed})")
        elif not isinstance(value, spec[key]) or (isinstance(value, bool) and spec[key] in ((int, float), int)):
            problems.add(path, locate(root, [*where, key]), f"{key}: wrong type (got {value!r})")
    for key in sorted(required - set(entry)):
        problems.add(path, locate(root, where), f"{'.'.join(map(str, where))}: missing required key '{key}'")


def _load(path: Path, problems: Problems) -> Any:
    if not path.is_file():
        problems.add(path, None, "file missing")
        return {}
    try:
        data = load_yaml(path, error_cls=RuleFileError)
    except RuleFileError as exc:
        problems.add(path, exc.location, exc.problem)
        return {}
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.add(path, "1:1", "expected a mapping at the top level")
        return {}
    return data


def read_raw(directory: str | Path, name: str) -> dict[str, Any]:
    """One knowledge file as plain data, read by the same strict YAML reader as :func:`load_knowledge` but not
    validated; ``{}`` (with a logged warning) when it is missing or unreadable. For the authoring tools that must
    still work on a knowledge folder that does not validate (``rules check`` reports why) or on an older release
    (``rules diff``); everything that decides uses :func:`load_knowledge`."""
    path = Path(directory) / name
    try:
        stat = path.stat()
        stamp: tuple[Any, ...] | None = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    except OSError:
        stamp = None
    if stamp is not None and stamp in _RAW_READ:
        return copy.deepcopy(_RAW_READ[stamp])
    problems = Problems()
    data = _load(path, problems)
    for line in problems.lines():
        log.warning("%s", line)
    plain = to_plain(data) if isinstance(data, dict) else {}
    if stamp is not None and not problems.lines() and time.time_ns() - stamp[2] > RACY_NS:
        _RAW_READ[stamp] = copy.deepcopy(plain)
        while len(_RAW_READ) > 64:
            _RAW_READ.pop(next(iter(_RAW_READ)))
    return plain


# read_raw's parsed files by (path, size, mtime, ctime): the authoring checks read the same knowledge file several
# times in one run, and ruamel's round-trip reader is slow. A changed file has a new stamp and is read again; a file
# written within cds.files.RACY_NS is not remembered (a second write within the clock's granularity keeps the stamp).
_RAW_READ: dict[tuple[Any, ...], dict[str, Any]] = {}


def derive_thresholds(entries: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[list[Any], str]]]:
    """Every threshold with its ``value``: a derived one (``derived: {from: BASE, minus: OTHER}``; one of
    plus/minus/times/divided_by, the operand a threshold name or a number) computed from the values it names,
    so changing a base value changes it. No code runs: four operations on named numbers. Returns the entries
    (derived ones keep ``derived`` and gain ``value``) and the problems as (key path, message)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in entries.items()}
    problems: list[tuple[list[Any], str]] = []
    state: dict[str, str] = {}  # name -> "busy" while computing, "done" after

    def value_of(name: str, trail: list[str]) -> float | None:
        entry = out.get(name)
        if not isinstance(entry, dict):
            return None
        if state.get(name) == "busy":
            problems.append(([name, "derived"], f"derived: circular ({' -> '.join([*trail, name])})"))
            return None
        if state.get(name) == "done" or "derived" not in entry:
            value = entry.get("value")
            return value if isinstance(value, int | float) and not isinstance(value, bool) else None
        state[name] = "busy"
        result = compute(name, entry, [*trail, name])
        state[name] = "done"
        if result is not None:
            entry["value"] = result
        return result

    def operand(name: str, ref: Any, key: str, trail: list[str], same_unit: bool) -> float | None:
        if isinstance(ref, int | float) and not isinstance(ref, bool):
            return ref
        if isinstance(ref, str) and isinstance(out.get(ref), dict):
            other = out[ref]
            if same_unit and other.get("unit") != out[name].get("unit"):
                problems.append(
                    (
                        [name, "derived", key],
                        f"derived: {ref} is in {other.get('unit')}, {name} in {out[name].get('unit')} "
                        "(plus and minus need one unit)",
                    )
                )
            return value_of(ref, trail)
        problems.append(([name, "derived", key], f"derived: {key} {ref!r} is neither a number nor a threshold name"))
        return None

    def compute(name: str, entry: dict[str, Any], trail: list[str]) -> float | None:
        rule = entry["derived"]
        ops = [k for k in DERIVE_OPS if k in rule]
        extra = sorted(set(rule) - {"from", *DERIVE_OPS})
        if "value" in entry:
            problems.append(([name, "value"], "a derived threshold has no value of its own (it is computed)"))
        if "from" not in rule or len(ops) != 1 or extra:
            allowed = "from and one of " + ", ".join(DERIVE_OPS)
            problems.append(([name, "derived"], f"derived: write {{from: NAME, OP: NAME or number}} ({allowed})"))
            return None
        op = ops[0]
        same = op in ("plus", "minus")
        base, other = operand(name, rule["from"], "from", trail, same), operand(name, rule[op], op, trail, same)
        if base is None or other is None:
            return None
        if op == "divided_by" and other == 0:
            problems.append(([name, "derived", op], "derived: division by zero"))
            return None
        result = {"plus": base + other, "minus": base - other, "times": base * other}.get(op, base / other)
        result = round(result, 10)
        return int(result) if float(result).is_integer() and op != "divided_by" else result

    for name, entry in out.items():
        if isinstance(entry, dict) and "derived" in entry and isinstance(entry["derived"], dict):
            value_of(name, [])
        elif isinstance(entry, dict) and "value" not in entry:
            problems.append(([name], f"{name}: missing required key 'value' (or derived:)"))
    return out, problems


def read_thresholds(directory: str | Path) -> dict[str, Any]:
    """``thresholds.yaml`` of ``directory`` read as :func:`read_raw` does, derived values computed (problems are
    the loader's to report)."""
    return derive_thresholds(read_raw(directory, "thresholds.yaml"))[0]


_THRESHOLD_PLACEHOLDER = re.compile(r"\{threshold:([^{}]+)\}")


def fill_thresholds(text: str, thresholds: Mapping[str, Any]) -> str:
    """``{threshold:NAME}`` in a vocabulary label, a rule's title or rationale (the rule book, ``rules show``)
    replaced by the threshold's value, as the letter fills a rule's prose, so such a text never states a number the
    rules no longer use (an unknown name is left as written: the loader reports it)."""
    from cds.formatting import format_value

    def sub(match: re.Match[str]) -> str:
        entry = thresholds.get(match.group(1))
        return format_value(entry["value"]) if isinstance(entry, Mapping) and "value" in entry else match.group(0)

    return _THRESHOLD_PLACEHOLDER.sub(sub, text) if "{" in text else text


def _fill_vocab(vocab: dict[str, Any], thresholds: Mapping[str, Any]) -> dict[str, Any]:
    return {
        section: {k: fill_thresholds(v, thresholds) if isinstance(v, str) else v for k, v in entries.items()}
        if isinstance(entries, dict)
        else entries
        for section, entries in vocab.items()
    }


def read_vocab(directory: str | Path) -> dict[str, Any]:
    """``vocab.yaml`` as :func:`read_raw` reads it, its labels' ``{threshold:NAME}`` filled in."""
    return _fill_vocab(read_raw(directory, "vocab.yaml"), read_thresholds(directory))


def _check_refs(problems: Problems, path: Path, root: Any, where: list, refs: Any, known: dict) -> None:
    for i, key in enumerate(refs if isinstance(refs, list) else []):
        if key not in known:
            problems.add(path, locate(root, [*where, i]), f"unknown reference key '{key}' (not in references.yaml)")


def _validate(directory: Path, raw: dict[str, Any], problems: Problems) -> None:
    refs, thresholds, drugs, vocab = (raw[f] for f in FILES[:4])
    p = directory / "references.yaml"
    for key, entry in refs.items():
        _check_keys(problems, p, refs, [key], entry, _REF_KEYS, {"citation"})
    p = directory / "thresholds.yaml"
    for key, entry in thresholds.items():
        _check_keys(problems, p, thresholds, [key], entry, _THRESHOLD_KEYS, {"unit", "references"})
        if isinstance(entry, dict):
            _check_refs(problems, p, thresholds, [key, "references"], entry.get("references"), refs)
    for keys, text in derive_thresholds(to_plain(thresholds))[1]:
        problems.add(p, locate(thresholds, keys), text)
    p = directory / "drugs.yaml"
    _check_keys(
        problems,
        p,
        drugs,
        [],
        drugs,
        {
            "groups": dict,
            "drugs": dict,
            "medications": dict,
            "aliases": dict,
            "classes": dict,
            "products": dict,
            "same_active": list,
        },
        set(),
    )
    seen_active: set[str] = set()
    for i, members in enumerate(drugs.get("same_active") or []):
        ok = isinstance(members, list) and len(members) >= 2
        for j, code in enumerate(members if isinstance(members, list) else []):
            if code not in (drugs.get("drugs") or {}) or code in seen_active:
                problems.add(p, locate(drugs, ["same_active", i, j]), f"same_active: '{code}' unknown or listed twice")
            seen_active.add(str(code))
        if not ok:
            problems.add(p, locate(drugs, ["same_active", i]), "same_active: a list of two or more treatment codes")
    known_names = set(drugs.get("drugs") or {}) | set(drugs.get("medications") or {})
    for name, code in (drugs.get("products") or {}).items():
        if name not in known_names or code not in (drugs.get("drugs") or {}):
            problems.add(
                p, locate(drugs, ["products", name]), f"product {name}: needs a known name and a treatment code"
            )
    for alias, name in (drugs.get("aliases") or {}).items():
        if name not in known_names:
            problems.add(p, locate(drugs, ["aliases", alias]), f"alias {alias}: '{name}' is not a known drug name")
        if normalise_term(str(alias)) != alias:
            problems.add(
                p,
                locate(drugs, ["aliases", alias]),
                f"alias {alias}: write it normalised ('{normalise_term(str(alias))}')",
            )
    used_classes = {c for d in (drugs.get("drugs") or {}).values() if isinstance(d, dict) for c in d.get("classes", [])}
    used_classes |= {c for cs in (drugs.get("medications") or {}).values() if isinstance(cs, list) for c in cs}
    for cls in sorted(used_classes - set(drugs.get("classes") or {})):
        problems.add(p, None, f"drug class '{cls}' is used but not described under classes:")
    for cls, entry in (drugs.get("classes") or {}).items():
        _check_keys(
            problems,
            p,
            drugs,
            ["classes", cls],
            entry,
            {"description": str, "references": list},
            {"description", "references"},
        )
        if isinstance(entry, dict):
            _check_refs(problems, p, drugs, ["classes", cls, "references"], entry.get("references"), refs)
    for key, entry in (drugs.get("drugs") or {}).items():
        _check_keys(problems, p, drugs, ["drugs", key], entry, _DRUG_KEYS, {"name", "classes"})
        if isinstance(entry, dict):
            _check_refs(problems, p, drugs, ["drugs", key, "references"], entry.get("references"), refs)
            for i, band in enumerate(entry.get("renal") or []):
                where = ["drugs", key, "renal", i]
                _check_keys(problems, p, drugs, where, band, RENAL_BAND_KEYS, {"text"})
                if isinstance(band, dict):
                    _check_renal_band(problems, p, drugs, where, band, thresholds)
    for name, members in (drugs.get("groups") or {}).items():
        if isinstance(members, dict):
            _check_keys(problems, p, drugs, ["groups", name], members, _GROUP_BY_CLASS, set())
            for key in _GROUP_BY_CLASS:
                for i, cls in enumerate(members.get(key) or []):
                    if cls not in (drugs.get("classes") or {}):
                        problems.add(p, locate(drugs, ["groups", name, key, i]), f"group {name}: unknown class '{cls}'")
            continue
        if not isinstance(members, list):
            problems.add(p, locate(drugs, ["groups", name]), f"group {name}: a list of drugs or {{classes: [...]}}")
            continue
        for i, member in enumerate(members):
            if member not in (drugs.get("drugs") or {}):
                problems.add(p, locate(drugs, ["groups", name, i]), f"group {name}: '{member}' is not under drugs:")
    for name, classes in (drugs.get("medications") or {}).items():
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            problems.add(p, locate(drugs, ["medications", name]), f"medications.{name}: expected a list of classes")
    _validate_policy(directory / "policy.yaml", raw["policy.yaml"], vocab, problems)
    if "urgencies" in vocab:
        problems.add(directory / "vocab.yaml", locate(vocab, ["urgencies"]), "urgencies are defined in policy.yaml")
    p = directory / "vocab.yaml"
    for key, value in vocab.items():
        if key in _VOCAB_LISTS:
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        elif key in _VOCAB_MAPS:
            ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        else:
            problems.add(p, locate(vocab, [key]), f"unknown vocabulary section '{key}'")
            continue
        if not ok:
            problems.add(p, locate(vocab, [key]), f"{key}: wrong shape (lists of codes or code: description)")
        elif isinstance(value, dict):
            for code, label in value.items():
                for name in _THRESHOLD_PLACEHOLDER.findall(str(label)):
                    if name not in thresholds:
                        problems.add(p, locate(vocab, [key, code]), f"{key}.{code}: unknown threshold '{name}'")


RENAL_LIMITS = ("crcl_from_ml_min", "crcl_to_ml_min")  # crcl_from_ml_min <= CrCl < crcl_to_ml_min; null: open
# a limit is {threshold: NAME} or null; a number passes the type check only to be named by _check_renal_band
RENAL_BAND_KEYS: dict[str, Any] = {**{k: (dict, int, float, type(None)) for k in RENAL_LIMITS}, "text": str}


def _check_renal_band(problems: Problems, path: Path, root: Any, where: list, band: dict, thresholds: Any) -> None:
    """A renal band limit names the creatinine-clearance threshold the SAF-RENAL rules use (``{threshold: NAME}``,
    unit mL/min), never a number: the drug table then follows a changed threshold with the rules. Its ``text``
    may quote a threshold as ``{threshold:NAME}`` (filled when the knowledge is loaded)."""
    for limit in RENAL_LIMITS:
        ref = band.get(limit)
        if isinstance(ref, bool | int | float):
            problems.add(
                path,
                locate(root, [*where, limit]),
                f"{limit}: write {{threshold: NAME}} (a threshold in mL/min the rules use), not the number {ref}",
            )
        elif isinstance(ref, dict):
            name = ref.get("threshold")
            entry = thresholds.get(name) if isinstance(name, str) and set(ref) == {"threshold"} else None
            if not isinstance(entry, dict):
                problems.add(
                    path, locate(root, [*where, limit]), f"{limit}: {{threshold: NAME}} naming a threshold (got {ref})"
                )
            elif entry.get("unit") != "mL/min":
                problems.add(
                    path, locate(root, [*where, limit]), f"{limit}: {name} is in {entry.get('unit')}, not mL/min"
                )
    for name in _THRESHOLD_PLACEHOLDER.findall(str(band.get("text", ""))):
        if name not in thresholds:
            problems.add(path, locate(root, [*where, "text"]), f"text: unknown threshold '{name}'")


def _resolved_band(band: Any, thresholds: Mapping[str, Any]) -> Any:
    if not isinstance(band, dict):
        return band
    out = dict(band)
    for limit in RENAL_LIMITS:
        ref = band.get(limit)
        entry = thresholds.get(str(ref.get("threshold"))) if isinstance(ref, Mapping) else None
        if isinstance(entry, Mapping):
            out[limit] = entry.get("value")
    if isinstance(band.get("text"), str):
        out["text"] = fill_thresholds(band["text"], thresholds)
    return out


def resolve_renal_bands(drugs: dict[str, Any], thresholds: Mapping[str, Any]) -> dict[str, Any]:
    """``drugs.yaml`` with every renal band limit ``{threshold: NAME}`` replaced by the threshold's value and the
    band texts' ``{threshold:NAME}`` filled, as the engine reads them (problems are the loader's to report)."""
    entries = drugs.get("drugs")
    if not isinstance(entries, dict):
        return drugs
    resolved = {
        code: {**entry, "renal": [_resolved_band(b, thresholds) for b in entry["renal"]]}
        if isinstance(entry, dict) and isinstance(entry.get("renal"), list)
        else entry
        for code, entry in entries.items()
    }
    return {**drugs, "drugs": resolved}


_POLICY_KEYS = {
    "urgency": list,
    "treatment_status": dict,
    "medication_action": dict,
    "studies": list,
    "provisional_when_caveat": list,
    "action_priority": list,
    "pathways": dict,
    "conditional": dict,
    "fallback": dict,
    "age_display": dict,
    "treatment_pathway": dict,
}


def _validate_policy(path: Path, policy: Any, vocab: dict, problems: Problems) -> None:
    """knowledge/policy.yaml: every section present with its shape; codes from the vocabularies."""
    _check_keys(problems, path, policy, [], policy, _POLICY_KEYS, set(_POLICY_KEYS))
    if not isinstance(policy, dict):
        return
    for i, tier in enumerate(policy.get("urgency") or []):
        spec = {"code": str, "interval": str, "max_days": (int, type(None))}
        _check_keys(problems, path, policy, ["urgency", i], tier, spec, {"code", "interval", "max_days"})
    actions = vocab.get("actions") or {}
    fallback = policy.get("fallback")
    if isinstance(fallback, dict) and fallback.get("action") not in actions:
        problems.add(path, locate(policy, ["fallback", "action"]), "fallback.action: unknown action (vocab.yaml)")
    try:
        built = Policy.from_data(to_plain(policy))
    except (KeyError, TypeError, ValueError) as exc:
        problems.add(path, None, f"policy: missing or malformed entry {exc}")
        return
    if built.contraindicated_current not in built.medication_actions:
        problems.add(path, locate(policy, ["medication_action"]), "contraindicated_current must be one of order")


_GROUP_BY_CLASS = {"classes": list, "except_classes": list}


def expand_groups(drugs: dict[str, Any]) -> dict[str, list[str]]:
    """Every drug group as a list of candidate codes. A group is a list, or chosen by class:
    ``{classes: [a]}`` (candidates of any of the classes), ``{except_classes: [a]}`` (all candidates of none of
    them), or both; members keep the order of ``drugs:``, so a class-defined group never drifts from the list."""
    candidates: dict[str, Any] = drugs.get("drugs") or {}
    groups: dict[str, list[str]] = {}
    for name, members in (drugs.get("groups") or {}).items():
        if not isinstance(members, dict):
            groups[name] = list(members or [])
            continue
        wanted, unwanted = set(members.get("classes") or []), set(members.get("except_classes") or [])
        classes_of = {code: set(entry.get("classes") or ()) for code, entry in candidates.items()}
        groups[name] = [
            code for code, have in classes_of.items() if (not wanted or wanted & have) and not unwanted & have
        ]
    return groups


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def load_knowledge(knowledge_dir: str | Path | None = None) -> Knowledge:
    """Load and validate every knowledge file; raise RuleFileError (first problem, count of others)."""
    directory = Path(knowledge_dir) if knowledge_dir is not None else _default_knowledge_dir()
    problems = Problems()
    roots = {name: _load(directory / name, problems) for name in FILES}
    raw = {name: to_plain(root) for name, root in roots.items()}
    _validate(directory, roots, problems)
    raw["thresholds.yaml"] = derive_thresholds(raw["thresholds.yaml"])[0]  # problems: added by _validate
    raw["vocab.yaml"] = _fill_vocab(raw["vocab.yaml"], raw["thresholds.yaml"])
    raw["drugs.yaml"] = resolve_renal_bands(raw["drugs.yaml"], raw["thresholds.yaml"])
    drugs = raw["drugs.yaml"]
    vocab = raw["vocab.yaml"]
    fields: dict[str, FieldSpec] = build_field_registry(
        roots["fields.yaml"], vocab, drugs, path=directory / "fields.yaml", problems=problems
    )
    problems.raise_if_any(RuleFileError)
    digest = hashlib.sha256()
    for name in FILES:
        digest.update(name.encode() + b"\0" + (directory / name).read_bytes() + b"\0")
    log.info(
        "loaded knowledge: %d references, %d thresholds, %d fields",
        len(raw["references.yaml"]),
        len(raw["thresholds.yaml"]),
        len(fields),
    )
    for section in _VOCAB_MAPS:
        vocab.setdefault(section, {})
    policy = Policy.from_data(raw["policy.yaml"])
    vocab["urgencies"] = {tier.code: tier.interval for tier in policy.urgencies}  # one place: policy.yaml
    return Knowledge(
        references=_freeze(raw["references.yaml"]),
        thresholds=_freeze(raw["thresholds.yaml"]),
        drugs=_freeze(drugs.get("drugs") or {}),
        groups=_freeze(expand_groups(drugs)),
        medications=_freeze(drugs.get("medications") or {}),
        aliases=_freeze(drugs.get("aliases") or {}),
        products=_freeze(drugs.get("products") or {}),
        classes=_freeze(drugs.get("classes") or {}),
        same_active=_freeze({code: sorted(members) for members in drugs.get("same_active") or [] for code in members}),
        vocab=_freeze(vocab),
        fields=MappingProxyType(fields),
        sha256=digest.hexdigest(),
        policy_obj=policy,
        directory=directory.name,
    )

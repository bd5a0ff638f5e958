"""What the letter needs from knowledge/: labels for codes, full citations, drug names and doses.

A thin view so the templates never see the knowledge base's internal layout. Reads through ``cds.kb`` when
available and falls back to the YAML files in ``knowledge/`` (safe loader, nothing executed).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cds.errors import RuleFileError
from cds.paths import knowledge_dir

if TYPE_CHECKING:
    from cds.kb import Knowledge

log = logging.getLogger(__name__)

__all__ = ["LetterKnowledge", "letter_knowledge_of", "load_letter_knowledge"]

_ACRONYMS = {
    "plms",
    "plmw",
    "plm",
    "plmd",
    "lm",
    "ahi",
    "efm",
    "rls",
    "rbd",
    "osa",
    "rswa",
    "psg",
    "eeg",
    "tst",
    "rem",
    "hft",
    "alma",
}


@dataclass(frozen=True)
class LetterKnowledge:
    """Labels per vocabulary section, full citations per reference key, drug entries per drug code, units, the
    fields shown as whole numbers or as ages, and the decision policy (urgency time frames, age display)."""

    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    references: Mapping[str, str] = field(default_factory=dict)
    drugs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    units: Mapping[str, str] = field(default_factory=dict)
    integers: frozenset[str] = frozenset()
    ages: frozenset[str] = frozenset()
    policy: Any = None  # cds.policy.Policy of the same knowledge folder

    def interval(self, urgency: str) -> str:
        """The time frame of an urgency tier, worded once in knowledge/policy.yaml."""
        if self.policy is not None:
            try:
                return str(self.policy.interval(urgency))
            except KeyError:
                pass
        return self.label("urgencies", urgency)

    def label(self, section: str, code: str, *, fallback: str | None = None) -> str:
        """The human label of ``code`` in vocabulary ``section``; a readable form of the code if none."""
        text = (self.labels.get(section) or {}).get(code)
        return str(text) if text else humanise(fallback or code)

    def citation(self, key: str) -> str | None:
        """The full citation of reference ``key``, or None when knowledge/references.yaml lacks it."""
        return self.references.get(key)

    def drug_label(self, drug: str) -> str:
        entry = self.drugs.get(drug) or {}
        return str(entry.get("label") or entry.get("name") or humanise(drug))

    def drug_dose(self, drug: str) -> str | None:
        """The adult dose text of a drug from knowledge/drugs.yaml, when it states one."""
        entry = self.drugs.get(drug) or {}
        dose = entry.get("dose") or entry.get("adult_dose") or entry.get("dose_text")
        if isinstance(dose, Mapping):
            dose = dose.get("text") or dose.get("adult") or "; ".join(f"{k}: {v}" for k, v in dose.items())
        return str(dose) if dose else None


_SPELLING = {"crcl": "CrCl", "egfr": "eGFR", "tsat": "TSAT", "hla": "HLA"}
_UNIT_WORDS = ("ml_min", "ng_ml", "per_h", "pct", "min", "h", "years", "days", "kg", "weeks", "months", "uv", "hz")


def humanise(code: str) -> str:
    """``plms_index`` -> ``PLMS index``, ``renal.crcl_ml_min`` -> ``CrCl``: a readable fallback for codes
    without a vocabulary label (unit suffixes dropped, scoring acronyms kept upper case)."""
    text = str(code).rsplit(".", 1)[-1]
    for unit in _UNIT_WORDS:
        if text.endswith("_" + unit) and len(text) > len(unit) + 1:
            text = text[: -len(unit) - 1]
            break
    words = [_SPELLING.get(w.lower(), w.upper() if w.lower() in _ACRONYMS else w) for w in text.split("_") if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:] if not words or words[0] not in _SPELLING.values() else text


def load_letter_knowledge(folder: Path | None = None) -> LetterKnowledge:
    """Load labels, citations and drugs for the letter from ``knowledge/`` (default: cds.paths.knowledge_dir).

    Read back from the content-keyed cache (cds.rules.cache) when ``knowledge/`` is byte-identical to a
    previous load, so a triage does not parse the knowledge files a second time.
    """
    from cds.rules.cache import content_key, read_cached, write_cached

    folder = folder or knowledge_dir()
    key = content_key(folder)
    cached = read_cached(key, kind="letter-knowledge")
    if isinstance(cached, LetterKnowledge):
        return cached
    loaded = _load_letter_knowledge(folder)
    write_cached(key, loaded, kind="letter-knowledge")
    return loaded


def _load_letter_knowledge(folder: Path) -> LetterKnowledge:
    """The letter's view of the ONE knowledge loader (cds.kb): the same validated files the rules were run on."""
    from cds.kb import load_knowledge

    return letter_knowledge_of(load_knowledge(folder))


def letter_knowledge_of(kb: Knowledge) -> LetterKnowledge:
    """The letter's view of knowledge already loaded: a triage passes the rule base's own (the letter then words
    exactly the knowledge the rules ran on, and nothing is read again)."""
    labels = {str(k): _label_map(v) for k, v in kb.vocab.items() if isinstance(v, Mapping)}
    labels["fields"] = {name: spec.description for name, spec in kb.fields.items() if spec.description}
    units = {name: str(spec.unit) for name, spec in kb.fields.items() if spec.unit}
    references = {str(k): _citation_text(v) for k, v in kb.references.items()}
    drugs = {str(k): dict(v) for k, v in kb.drugs.items()}
    integers = frozenset(name for name, spec in kb.fields.items() if spec.integer)
    ages = frozenset(name for name, spec in kb.fields.items() if spec.display == "age")
    return LetterKnowledge(
        labels=labels,
        references=references,
        drugs=drugs,
        units=units,
        integers=integers,
        ages=ages,
        policy=kb.policy_obj,
    )


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        log.info("letter knowledge: %s not present", path.name)
        return {}
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError) as exc:
        raise RuleFileError(f"cannot read knowledge file: {exc}", path=path.name) from exc
    return data if isinstance(data, dict) else {}


def _entries(data: Mapping[str, Any]) -> dict[str, Any]:
    """Entries keyed by code, whether the file is a mapping or holds a list under a top-level key."""
    for key in ("references", "drugs"):
        inner = data.get(key)
        if isinstance(inner, list):
            return {str(e.get("key") or e.get("id") or e.get("drug")): e for e in inner if isinstance(e, Mapping)}
        if isinstance(inner, Mapping):
            return dict(inner)
    return {k: v for k, v in data.items() if k not in ("schema", "version")}


def _label_map(section: Any) -> dict[str, str]:
    if not isinstance(section, Mapping):
        return {}
    out: dict[str, str] = {}
    for code, value in section.items():
        if isinstance(value, str):
            out[str(code)] = value
        elif isinstance(value, Mapping):
            text = value.get("label") or value.get("title") or value.get("name") or value.get("description")
            if text:
                out[str(code)] = str(text)
    return out


def _citation_text(entry: Any) -> str:
    if isinstance(entry, str):
        return entry
    if not isinstance(entry, Mapping):
        return str(entry)
    if entry.get("citation"):
        text = str(entry["citation"])
    else:
        parts = [
            entry.get("authors"),
            entry.get("title"),
            entry.get("journal") or entry.get("source"),
            entry.get("year"),
        ]
        text = ". ".join(str(p).rstrip(".") for p in parts if p) + "."
    doi = entry.get("doi")
    if doi and str(doi) not in text:
        text += f" doi:{doi}"
    return text

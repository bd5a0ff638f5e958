"""The field registry: every input field a rule may test (knowledge/fields.yaml plus generated families).

A field has a type (bool | number | enum | text), an optional unit and range, allowed values for enums (a list
or ``{vocab: SECTION}`` / ``{drugs: true}``), the sources that may supply it and a description. The families
``conditions.*``, ``medications.*``, ``drug_classes.*`` and ``recent_drug_classes.*`` are generated from
vocab.yaml and drugs.yaml (rules/README.md, "Conditions").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds.facts.yamlfile import Problems, locate

__all__ = [
    "COUNT_FAMILY",
    "DRUG_CLASS_FAMILIES",
    "DRUG_NAME_FAMILIES",
    "FAMILIES",
    "SOURCES",
    "TYPES",
    "FieldSpec",
    "build_field_registry",
]

TYPES = ("bool", "number", "enum", "text")
SOURCES = ("patient", "reported", "recording")
_KEYS = {"type", "unit", "min", "max", "values", "sources", "description", "derived", "integer", "display"}
DISPLAYS = ("age",)  # how a value is shown: "age" = years, or weeks/months under the policy's age limit

# Generated families (rules/README.md "Conditions"): prefix -> (type, description template) per drug name or class.
DRUG_NAME_FAMILIES = {
    "medications": "Currently takes {}",
    "recent_medications": "{} started or increased shortly before the jerks",
    "past_medications": "Took {} in the past",
    "past_failed": "{} was tried before and was ineffective or not tolerated",
    "past_allergy": "Allergy or hypersensitivity to {} before",
}
DRUG_CLASS_FAMILIES = {
    "drug_classes": "Takes a drug of class {}",
    "recent_drug_classes": "A drug of class {} started or increased before the jerks",
    "past_drug_classes": "Took a drug of class {} in the past",
    "past_failed_classes": "A drug of class {} was ineffective or not tolerated before",
    "past_augmentation_classes": "A drug of class {} caused augmentation before",
    "past_impulse_control_classes": "A drug of class {} caused an impulse-control disorder before",
}
COUNT_FAMILY = "drug_class_counts"  # number of current drugs of a class (integer)
FAMILIES = (*DRUG_NAME_FAMILIES, *DRUG_CLASS_FAMILIES, COUNT_FAMILY, "conditions")


@dataclass(frozen=True)
class FieldSpec:
    """One input field. ``min``/``max`` are inclusive bounds of a valid value; ``values`` lists enum codes."""

    name: str
    type: str
    description: str
    sources: tuple[str, ...] = ("patient",)
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] = ()
    derived: bool = False
    integer: bool = False
    display: str | None = None

    def check_value(self, value: Any) -> str | None:
        """Return a problem text when ``value`` does not fit this field, else None."""
        if self.type == "bool":
            return None if isinstance(value, bool) else "expected true or false"
        if self.type == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                return f"expected a number{f' in {self.unit}' if self.unit else ''}"
            if not math.isfinite(value):  # .nan passes every range test; .inf cannot be written to the log
                return f"expected a finite number{f' in {self.unit}' if self.unit else ''}"
            if self.integer and value != int(value):
                return "expected a whole number"
            if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
                unit = f" {self.unit}" if self.unit else ""
                return f"out of range (allowed: {_fmt(self.min)} to {_fmt(self.max)}{unit})"
            return None
        if self.type == "enum":
            if value not in self.values:
                return f"not an allowed value (allowed: {', '.join(self.values)})"
            return None
        return None if isinstance(value, str) else "expected text"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, (), False)}


def _fmt(x: float | None) -> str:
    if x is None:
        return "any"
    return str(int(x)) if float(x).is_integer() else str(x)


def _enum_values(spec: Any, vocab: dict, drugs: dict) -> tuple[str, ...] | None:
    if isinstance(spec, list):
        return tuple(str(v) for v in spec)
    if isinstance(spec, dict) and set(spec) == {"vocab"}:
        section = vocab.get(spec["vocab"])
        if section is None:
            return None
        return tuple(section) if isinstance(section, list | dict) else None
    if isinstance(spec, dict) and set(spec) == {"drugs"}:
        return tuple(sorted(drugs.get("drugs") or {}))
    return None


def _generated(vocab: dict, drugs: dict) -> dict[str, FieldSpec]:
    out: dict[str, FieldSpec] = {}
    for code, text in (vocab.get("conditions") or {}).items():
        out[f"conditions.{code}"] = FieldSpec(f"conditions.{code}", "bool", f"Condition: {text}")
    names = set(drugs.get("medications") or {}) | set(drugs.get("drugs") or {})
    for name in sorted(names):
        for prefix, text in DRUG_NAME_FAMILIES.items():
            out[f"{prefix}.{name}"] = FieldSpec(f"{prefix}.{name}", "bool", text.format(name))
    classes = {c for d in (drugs.get("drugs") or {}).values() if isinstance(d, dict) for c in d.get("classes", [])}
    classes |= {c for cs in (drugs.get("medications") or {}).values() if isinstance(cs, list) for c in cs}
    for cls in sorted(classes):
        for prefix, text in DRUG_CLASS_FAMILIES.items():
            out[f"{prefix}.{cls}"] = FieldSpec(f"{prefix}.{cls}", "bool", text.format(cls))
        out[f"{COUNT_FAMILY}.{cls}"] = FieldSpec(
            f"{COUNT_FAMILY}.{cls}", "number", f"Number of current drugs of class {cls}", min=0, integer=True
        )
    return out


def build_field_registry(
    root: Any, vocab: dict, drugs: dict, *, path: Path, problems: Problems
) -> dict[str, FieldSpec]:
    """Validate fields.yaml (``root``, a ruamel mapping) and return name -> FieldSpec, generated families added."""
    registry: dict[str, FieldSpec] = {}
    for name, entry in (root or {}).items():
        where = locate(root, [name])
        if not isinstance(entry, dict):
            problems.add(path, where, f"{name}: expected a mapping")
            continue
        bad = sorted(set(entry) - _KEYS)
        if bad:
            problems.add(
                path, locate(root, [name, bad[0]]), f"{name}: unknown key '{bad[0]}' (allowed: {sorted(_KEYS)})"
            )
        ftype = entry.get("type")
        if ftype not in TYPES:
            problems.add(path, where, f"{name}: type must be one of {', '.join(TYPES)} (got {ftype!r})")
            continue
        sources = tuple(entry.get("sources") or ("patient",))
        if any(s not in SOURCES for s in sources):
            problems.add(path, where, f"{name}: sources must be among {', '.join(SOURCES)}")
        if entry.get("display") is not None and entry.get("display") not in DISPLAYS:
            problems.add(path, where, f"{name}: display must be one of {', '.join(DISPLAYS)}")
        values: tuple[str, ...] = ()
        if ftype == "enum":
            found = _enum_values(entry.get("values"), vocab, drugs)
            if found is None:
                problems.add(path, where, f"{name}: enum needs values: [..] or {{vocab: SECTION}} or {{drugs: true}}")
                continue
            values = found
        registry[str(name)] = FieldSpec(
            name=str(name),
            type=ftype,
            description=str(entry.get("description") or ""),
            sources=sources,
            unit=entry.get("unit"),
            min=entry.get("min"),
            max=entry.get("max"),
            values=values,
            derived=bool(entry.get("derived", False)),
            integer=bool(entry.get("integer", False)),
            display=entry.get("display"),
        )
    for name, spec in _generated(vocab, drugs).items():
        registry.setdefault(name, spec)
    return registry

"""The JSON Schema of a patient file (spec/patient-v1.md), generated from the field registry so that the
validator in cds.facts.patient and the published schema cannot drift apart.

``python -m cds.facts.patient_schema`` rewrites ``knowledge/schema/patient-v1.schema.json``.
Documented additions beyond the spec: none in the file format; ``psg.date`` may be a date or a string.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cds.facts.patient import SCHEMAS, SECTIONS
from cds.fieldspec import FieldSpec
from cds.kb import Knowledge, load_knowledge
from cds.paths import knowledge_dir

__all__ = ["build_patient_schema", "write_patient_schema"]


def _prop(spec: FieldSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"description": spec.description + (f" ({spec.unit})" if spec.unit else "")}
    if spec.type == "bool":
        out["type"] = "boolean"
    elif spec.type == "number":
        out["type"] = "integer" if spec.integer else "number"
        if spec.min is not None:
            out["minimum"] = spec.min
        if spec.max is not None:
            out["maximum"] = spec.max
    elif spec.type == "enum":
        out["enum"] = list(spec.values)
    else:
        out["type"] = "string"
    return out


def _section(kb: Knowledge, section: str) -> dict[str, Any]:
    prefix = SECTIONS[section]
    source = "reported" if section == "polysomnography" else "patient"
    props = {
        name[len(prefix) :]: _prop(spec)
        for name, spec in sorted(kb.fields.items())
        if name.startswith(prefix) and source in spec.sources
    }
    if section == "polysomnography":
        props["date"] = {"description": "Date of the study (ISO date)", "type": "string"}
    return {"type": "object", "additionalProperties": False, "properties": props}


def build_patient_schema(kb: Knowledge) -> dict[str, Any]:
    """The patient-v1 JSON Schema (draft 2020-12) for the fields of ``kb``."""
    top = {
        name: _prop(spec)
        for name, spec in sorted(kb.fields.items())
        if "." not in name and (not spec.derived or name == "age_years")
    }
    change = {
        "type": "object",
        "additionalProperties": False,
        "required": ["drug"],
        "properties": {
            "drug": {"type": "string", "description": "Generic name"},
            "days_ago": {"type": "number", "minimum": 0, "description": "Days before the jerks began"},
            "dose_mg_per_day": {"type": "number", "minimum": 0, "description": "New daily dose (mg/day)"},
        },
    }
    medication = {
        "type": "object",
        "additionalProperties": False,
        "required": ["drug"],
        "properties": {
            "drug": {"type": "string", "minLength": 1, "description": "Generic name"},
            "dose_mg_per_day": {"type": "number", "minimum": 0, "description": "Current daily dose (mg/day)"},
            "since_months": {"type": "number", "minimum": 0, "description": "Months taken so far"},
        },
    }
    past = {
        "type": "object",
        "additionalProperties": False,
        "required": ["drug"],
        "properties": {
            "drug": {"type": "string", "minLength": 1, "description": "Generic name"},
            "outcome": {"enum": sorted(kb.vocab.get("past_outcomes") or {}), "description": "How it ended"},
            "note": {"type": "string", "description": "Free text"},
        },
    }
    props = {
        "schema": {"enum": list(SCHEMAS), "description": "File format and version (v1.1 adds documented fields)"},
        "id": {"type": ["string", "integer"], "minLength": 1, "description": "Pseudonym echoed in the letter"},
        **top,
        **{section: _section(kb, section) for section in SECTIONS},
        "conditions": {
            "type": "array",
            "items": {"enum": sorted(kb.vocab["conditions"])},
            "description": "Coded conditions; codes not listed are false when the list is given",
        },
        "conditions_absent": {
            "type": "array",
            "items": {"enum": sorted(kb.vocab["conditions"])},
            "description": "v1.1: conditions asked about and absent; when given, a condition in neither list is "
            "unknown (not false)",
        },
        "medications_complete": {
            "type": "boolean",
            "description": "v1.1: false when the medication list may be incomplete: a drug not listed is then "
            "unknown, not 'not taken' (default true)",
        },
        "past_medications_complete": {
            "type": "boolean",
            "description": "v1.1: false when past_medications may be incomplete (e.g. only the allergies an EHR "
            "records): a drug not listed is then unknown (default true)",
        },
        "medications": {
            "type": "array",
            "items": {"oneOf": [{"type": "string", "minLength": 1}, medication]},
            "description": "Generic names (or v1.1 {drug, dose_mg_per_day, since_months}); a name "
            "unknown to drugs.yaml gives a caveat, not an error",
        },
        "past_medications": {
            "type": "array",
            "items": {"oneOf": [{"type": "string", "minLength": 1}, past]},
            "description": "v1.1: drugs taken before and how they ended (outcome)",
        },
        "medication_changes": {
            "type": "array",
            "items": change,
            "description": "Drugs started or increased shortly before the jerks began",
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://cds.example/schema/patient-v1.schema.json",
        "title": "cds patient context file, version 1.1 (cds.patient/v1.1; v1 files stay valid)",
        "description": "Omitted means unknown, never false. Unknown keys are errors. Exactly one of age_years "
        "or age_days.",
        "type": "object",
        "additionalProperties": False,
        "required": ["schema", "id"],
        "oneOf": [
            {"required": ["age_years"], "not": {"required": ["age_days"]}},
            {"required": ["age_days"], "not": {"required": ["age_years"]}},
        ],
        "properties": props,
    }


def write_patient_schema(kb: Knowledge | None = None, directory: Path | None = None) -> Path:
    target = (directory or knowledge_dir() / "schema") / "patient-v1.schema.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(build_patient_schema(kb or load_knowledge()), indent=2, sort_keys=True) + "\n"
    target.write_text(text, encoding="utf-8")
    return target


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(f"{write_patient_schema()}\n")

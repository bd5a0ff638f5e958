"""JSON Schemas of the knowledge files, published under ``knowledge/schema/`` for editors and other tools.

They are generated from the same key tables the knowledge loader (``cds.kb``) and the field registry
(``cds.fieldspec``) check with, so the published schema and the loader cannot disagree on shape; the loader then
adds what a schema cannot say (references that exist, codes from the vocabularies, class-defined groups).
``python -m cds.knowledge_schema`` rewrites them; ``tests/test_knowledge_schema.py`` keeps them current.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cds import fieldspec, kb
from cds.paths import knowledge_dir

__all__ = ["knowledge_schemas", "write_knowledge_schemas"]

_BASE = "https://cds.example/schema/"
_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}


def _types(spec: Any) -> dict[str, Any]:
    kinds = spec if isinstance(spec, tuple) else (spec,)
    names = sorted({"null" if k is type(None) else _JSON_TYPES[k] for k in kinds})
    return {"type": names[0] if len(names) == 1 else names}


def _entry(spec: dict[str, Any], required: set[str], description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "properties": {key: _types(kind) for key, kind in sorted(spec.items())},
        "required": sorted(required),
        "additionalProperties": False,
    }


def _document(name: str, description: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{_BASE}{name}.schema.json",
        "title": f"knowledge/{name}.yaml",
        "description": description,
        **body,
    }


def _code_map(description: str) -> dict[str, Any]:
    return {"type": "object", "description": description, "additionalProperties": {"type": "string"}}


def knowledge_schemas() -> dict[str, dict[str, Any]]:
    """File stem -> JSON Schema, for every knowledge file ``cds.kb`` loads."""
    code_list = {"type": "array", "items": {"type": "string"}}
    renal_band = _entry(
        {"text": str},
        {"text"},
        "A renal dose band by creatinine clearance: crcl_from_ml_min <= CrCl < crcl_to_ml_min (null: open end)",
    )
    threshold_ref = {
        "type": "object",
        "properties": {"threshold": {"type": "string"}},
        "required": ["threshold"],
        "additionalProperties": False,
    }
    for limit in kb.RENAL_LIMITS:  # named thresholds only: the loader rejects a number (it would not follow)
        renal_band["properties"][limit] = {
            "oneOf": [threshold_ref, {"type": "null"}],
            "description": "{threshold: NAME}: a threshold in mL/min of knowledge/thresholds.yaml, or null",
        }
    assert set(renal_band["properties"]) == set(kb.RENAL_BAND_KEYS), "renal band keys changed: update this schema"
    drug = _entry(kb._DRUG_KEYS, {"name", "classes"}, "A treatment candidate")
    drug["properties"]["renal"] = {"type": "array", "items": renal_band}
    group = {
        "oneOf": [
            {**code_list, "description": "treatment candidates"},
            _entry(kb._GROUP_BY_CLASS, set(), "candidates chosen by class (in the order of drugs:)"),
        ]
    }
    vocab_props: dict[str, Any] = {name: code_list for name in kb._VOCAB_LISTS}
    vocab_props |= {name: _code_map(f"{name}: code -> description") for name in kb._VOCAB_MAPS if name != "urgencies"}
    field_properties: dict[str, Any] = {
        "type": {"enum": list(fieldspec.TYPES)},
        "unit": {"type": "string"},
        "min": {"type": "number"},
        "max": {"type": "number"},
        "values": {"oneOf": [code_list, {"type": "object"}]},
        "sources": {"type": "array", "items": {"enum": list(fieldspec.SOURCES)}},
        "description": {"type": "string"},
        "derived": {"type": "boolean"},
        "integer": {"type": "boolean"},
        "display": {"enum": list(fieldspec.DISPLAYS)},
    }
    assert set(field_properties) == set(fieldspec._KEYS), "fieldspec keys changed: update this schema"
    field_spec = {
        "type": "object",
        "properties": field_properties,
        "required": ["type", "description"],
        "additionalProperties": False,
    }
    urgency_tier = _entry(
        {"code": str, "interval": str, "max_days": (int, type(None))},
        {"code", "interval", "max_days"},
        "An urgency tier and its time frame",
    )
    policy_props = {key: _types(kind) for key, kind in kb._POLICY_KEYS.items()}
    policy_props["urgency"] = {"type": "array", "items": urgency_tier}
    return {
        "references": _document(
            "references",
            "Every source a rule, threshold, drug or class cites, by key.",
            {"type": "object", "additionalProperties": _entry(kb._REF_KEYS, {"citation"}, "A reference")},
        ),
        "thresholds": _document(
            "thresholds",
            "Named clinical numbers with unit and sources; rules refer to them as {threshold: NAME}.",
            {
                "type": "object",
                "additionalProperties": {
                    **_entry(
                        kb._THRESHOLD_KEYS, {"unit", "references"}, "A threshold: a value, or derived from others"
                    ),
                    "oneOf": [{"required": ["value"]}, {"required": ["derived"]}],
                },
            },
        ),
        "drugs": _document(
            "drugs",
            "Treatment candidates, drug classes, groups, patient medication names and their classes.",
            {
                "type": "object",
                "properties": {
                    "classes": {
                        "type": "object",
                        "additionalProperties": _entry(
                            {"description": str, "references": list}, {"description", "references"}, "A drug class"
                        ),
                    },
                    "groups": {"type": "object", "additionalProperties": group},
                    "drugs": {"type": "object", "additionalProperties": drug},
                    "medications": {"type": "object", "additionalProperties": code_list},
                    "aliases": _code_map("alias (brand or other spelling) -> drug name"),
                    "products": _code_map("medication name -> the treatment code it is a form of"),
                    "same_active": {"type": "array", "items": {**code_list, "minItems": 2}},
                },
                "additionalProperties": False,
            },
        ),
        "vocab": _document(
            "vocab",
            "Codes and their descriptions (conditions, actions, findings, reasons, caveats, ...).",
            {"type": "object", "properties": vocab_props, "additionalProperties": False},
        ),
        "fields": _document(
            "fields",
            "Every input field a rule may test (generated families are not listed).",
            {"type": "object", "additionalProperties": field_spec},
        ),
        "policy": _document(
            "policy",
            "How conclusions are resolved: urgency tiers, status and action order, studies, pathway, fallback.",
            {
                "type": "object",
                "properties": policy_props,
                "required": sorted(kb._POLICY_KEYS),
                "additionalProperties": False,
            },
        ),
    }


def write_knowledge_schemas(directory: Path | None = None) -> list[Path]:
    """Write ``<file>.schema.json`` for every knowledge file under ``knowledge/schema``; return the paths."""
    target = directory or knowledge_dir() / "schema"
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, schema in knowledge_schemas().items():
        path = target / f"{stem}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover
    for written in write_knowledge_schemas():
        print(written)

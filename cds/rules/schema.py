"""The JSON Schema of a rule file (rules/README.md), written to knowledge/schema/rule.schema.json.

The schema checks shape only (keys, types, one operator per atom); cds.rules.load adds the semantic pass
(fields, thresholds, vocabularies, stratification). ``python -m cds.rules.schema`` rewrites the file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from cds.paths import knowledge_dir

__all__ = ["IN_FORCE", "LAYERS", "OPERATORS", "rule_schema", "write_rule_schema"]

LAYERS = {"evidence": 500, "findings": 400, "triage": 300, "treatment": 200, "safety": 100}
IN_FORCE = ("active", "deprecated")  # statuses whose rules are compiled and fire (rules/README.md, Governance)
OPERATORS = ("is", "eq", "in", "gt", "gte", "lt", "lte", "between")

_NUMBER = {"oneOf": [{"type": "number"}, {"$ref": "#/$defs/threshold"}]}
_CODE = {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}


def _atom() -> dict[str, Any]:
    ops: dict[str, Any] = {
        "is": {"enum": [True, False, "unknown", "known"]},
        "eq": {"type": ["string", "number", "boolean"]},
        "in": {"type": "array", "minItems": 1, "items": {"type": ["string", "number"]}},
        "gt": _NUMBER,
        "gte": _NUMBER,
        "lt": _NUMBER,
        "lte": _NUMBER,
        "between": {"type": "array", "minItems": 2, "maxItems": 2, "items": _NUMBER},
    }
    return {
        "type": "object",
        "description": "A field atom: exactly one operator, optionally restricted to one source.",
        "properties": {"field": {"type": "string"}, "source": {"enum": ["patient", "reported", "recording"]}, **ops},
        "required": ["field"],
        "additionalProperties": False,
        "oneOf": [{"required": [op]} for op in OPERATORS],
    }


def _action() -> dict[str, Any]:
    one = {"type": "object", "additionalProperties": False}
    return {
        "oneOf": [
            {**one, "properties": {"evidence": _CODE}, "required": ["evidence"]},
            {**one, "properties": {"finding": _CODE}, "required": ["finding"]},
            {
                **one,
                "properties": {
                    "recommend": _CODE,
                    "urgency": {"enum": ["routine", "soon", "urgent", "emergency"]},
                    "extended_eeg": {"type": "boolean"},
                },
                "required": ["recommend", "urgency"],
            },
            {
                **one,
                "properties": {
                    "treatment": _CODE,
                    "treatments": {
                        "oneOf": [
                            {"type": "array", "minItems": 1, "items": _CODE},
                            {
                                "type": "object",
                                "properties": {
                                    "group": {"type": "string"},
                                    "not_current": {
                                        "type": "boolean",
                                        "description": "leave out the drugs the patient already takes",
                                    },
                                },
                                "required": ["group"],
                                "additionalProperties": False,
                            },
                            {
                                "type": "object",
                                "description": "the drug the referrer asks about (requested_treatment)",
                                "properties": {"requested": {"const": True}},
                                "required": ["requested"],
                                "additionalProperties": False,
                            },
                            {
                                "type": "object",
                                "description": "candidates whose <family>.<drug> fact is true (e.g. past_failed)",
                                "properties": {"family": _CODE},
                                "required": ["family"],
                                "additionalProperties": False,
                            },
                        ]
                    },
                    "status": {"enum": ["option", "caution", "specialist_only", "not_recommended", "contraindicated"]},
                    "reason": _CODE,
                    "note": {"type": "string"},
                    "strength": _CODE,
                },
                "required": ["status", "reason"],
                "oneOf": [{"required": ["treatment"]}, {"required": ["treatments"]}],
            },
            {
                **one,
                "description": "a row for drugs the patient already takes (current medication)",
                "properties": {
                    "medication": {
                        "type": "object",
                        "additionalProperties": False,
                        "minProperties": 1,
                        "properties": {
                            "class": _CODE,
                            "classes": {"type": "array", "minItems": 1, "items": _CODE},
                            "group": {"type": "string"},
                            "drugs": {"type": "array", "minItems": 1, "items": _CODE},
                            "recent": {"type": "boolean"},
                            "all": {"const": True},
                        },
                    },
                    "action": _CODE,
                    "reason": _CODE,
                    "how": {"type": "string"},
                    "note": {"type": "string"},
                    "likely_cause": {"type": "boolean"},
                },
                "required": ["medication", "action", "reason"],
            },
            {**one, "properties": {"caveat": _CODE, "text": {"type": "string"}}, "required": ["caveat", "text"]},
            {**one, "properties": {"ask": {"type": "string"}, "text": {"type": "string"}}, "required": ["ask"]},
        ]
    }


def rule_schema() -> dict[str, Any]:
    """Return the rule-file JSON Schema (draft 2020-12)."""
    node_ref = {"$ref": "#/$defs/node"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://cds.example/schema/rule.schema.json",
        "title": "cds rule file",
        "description": "One rule of the cds rule base (rules/README.md). One rule per file; file name = id.",
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "title", "version", "status", "layer", "references", "when", "then", "because"],
        "properties": {
            "id": {"type": "string", "pattern": "^[A-Z0-9][A-Z0-9-]*$"},
            "title": {"type": "string", "minLength": 1},
            "version": {"type": "integer", "minimum": 1},
            "status": {
                "enum": ["draft", "active", "deprecated", "retired"],
                "description": "draft and retired rules are not loaded for decisions; a deprecated rule stays in "
                "force until its expires date (which it must carry) and is reported by `rules check`",
            },
            "authors": {"type": "array", "items": {"type": "string"}},
            "reviewed": {"type": "string", "format": "date"},
            "effective": {
                "type": "string",
                "format": "date",
                "description": "the rule takes part in decisions from this date on (a decision dated earlier "
                "leaves it out)",
            },
            "expires": {
                "type": "string",
                "format": "date",
                "description": "the last date the rule's approval covers; after it the rule still fires, but every "
                "decision and letter names it as expired until it is reviewed and released again",
            },
            "layer": {"enum": list(LAYERS)},
            "references": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["key"],
                    "properties": {
                        "key": {"type": "string"},
                        "section": {"type": "string"},
                        "grade": {"type": "string"},
                        "role": {
                            "enum": ["evidence", "background"],
                            "description": "background: context only, never the evidence for the rule's step",
                        },
                    },
                },
            },
            "rationale": {"type": "string"},
            "scope": {
                "enum": ["complaint", "current_medication"],
                "description": "what the conclusions concern: the presenting complaint (default), or a drug the "
                "patient already takes (such a recommendation may stand beside reassurance about the complaint)",
            },
            "overrides": {
                "type": "array",
                "items": {"type": "string", "pattern": "^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$"},
                "uniqueItems": True,
                "description": "treatment rules whose status for a drug this rule also rates is set aside when both "
                "fire: the declared precedence that `rules check` requires between conflicting treatment statuses",
            },
            "when": node_ref,
            "then": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/action"}},
            "because": {"type": "string", "minLength": 1},
            "tests": {"type": "array", "items": {"$ref": "#/$defs/test"}},
        },
        "$defs": {
            "threshold": {
                "type": "object",
                "properties": {"threshold": {"type": "string"}},
                "required": ["threshold"],
                "additionalProperties": False,
            },
            "node": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {"all": {"type": "array", "minItems": 1, "items": node_ref}},
                        "required": ["all"],
                        "additionalProperties": False,
                    },
                    {
                        "type": "object",
                        "properties": {"any": {"type": "array", "minItems": 1, "items": node_ref}},
                        "required": ["any"],
                        "additionalProperties": False,
                    },
                    {
                        "type": "object",
                        "properties": {"not": node_ref},
                        "required": ["not"],
                        "additionalProperties": False,
                    },
                    {"$ref": "#/$defs/atom"},
                    {
                        "type": "object",
                        "properties": {"evidence": _CODE},
                        "required": ["evidence"],
                        "additionalProperties": False,
                    },
                    {
                        "type": "object",
                        "properties": {"finding": _CODE},
                        "required": ["finding"],
                        "additionalProperties": False,
                    },
                    {
                        "type": "object",
                        "properties": {"recommendation": _CODE},
                        "required": ["recommendation"],
                        "additionalProperties": False,
                    },
                ]
            },
            "atom": _atom(),
            "action": _action(),
            "test": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "given", "expect"],
                "properties": {
                    "name": {"type": "string"},
                    "note": {"type": "string"},
                    "todo": {"type": "boolean"},
                    "given": {"type": "object"},
                    "expect": {
                        "type": "object",
                        "description": "fires: whether the rule fires on `given`; where it fires, what it concludes "
                        "(each key listed is compared exactly with the rule's conclusions of that kind) and a phrase "
                        "its rendered `because` contains (issue 11: tests that assert outputs)",
                        "properties": {
                            "fires": {"type": "boolean"},
                            "evidence": {"type": "array", "items": {"type": "string"}},
                            "findings": {"type": "array", "items": {"type": "string"}},
                            "recommendations": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {"action": {"type": "string"}, "urgency": {"type": "string"}},
                                    "required": ["action", "urgency"],
                                    "additionalProperties": False,
                                },
                            },
                            "treatments": {"type": "object", "additionalProperties": {"type": "string"}},
                            "because": {"type": "string", "minLength": 1},
                        },
                        "required": ["fires"],
                        "additionalProperties": False,
                    },
                },
            },
        },
    }


def write_rule_schema(directory: Path | None = None) -> Path:
    """Write rule.schema.json under ``knowledge/schema`` and return its path."""
    target = (directory or knowledge_dir() / "schema") / "rule.schema.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(rule_schema(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return target


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(f"{write_rule_schema()}\n")

"""The published patient-v1 JSON Schema and the validator agree on good and bad files."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from cds.errors import PatientFileError
from cds.facts.patient import parse_patient
from cds.facts.patient_schema import build_patient_schema
from tests.facts.conftest import DATA

GOOD = {"schema": "cds.patient/v1", "id": "P-1", "age_years": 40}
CASES = [
    ("minimal", {}, True),
    ("infant", {"age_years": None, "age_days": 30}, True),
    ("both ages", {"age_days": 30}, False),
    ("no age", {"age_years": None}, False),
    ("negative age", {"age_years": -3}, False),
    ("ferritin text", {"labs": {"ferritin_ng_ml": "high"}}, False),
    ("bad sex", {"sex": "f?"}, False),
    ("typo in symptoms", {"symptoms": {"insomia": True}}, False),
    ("unknown top key", {"weight": 80}, False),
    ("bool as string", {"pregnant": "yes"}, False),
    ("ess out of range", {"epworth_sleepiness_score": 25}, False),
    ("ess fractional", {"epworth_sleepiness_score": 6.5}, False),
    ("condition code", {"conditions": ["epilepsy"]}, True),
    ("unknown condition", {"conditions": ["epilepsi"]}, False),
    ("unknown medication is fine", {"medications": ["unobtainium"]}, True),
    ("change needs drug", {"medication_changes": [{"days_ago": 3}]}, False),
    ("change", {"medication_changes": [{"drug": "sertraline", "days_ago": 3, "dose_mg_per_day": 50}]}, True),
    ("psg block", {"polysomnography": {"plms_index": 30, "respiratory_channels": True, "date": "2026-10-02"}}, True),
    ("psg recording-only field", {"polysomnography": {"leg_channels": 2}}, False),
    ("enum lab", {"labs": {"hla_b1502": "maybe"}}, False),
    ("wrong schema", {"schema": "cds.patient/v2"}, False),
]


def _data(change: dict) -> dict:
    data = {**GOOD, **change}
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize(("name", "change", "valid"), CASES, ids=[c[0] for c in CASES])
def test_validator_and_schema_agree(tiny_kb, name, change, valid):
    data = _data(change)
    schema_ok = Draft202012Validator(build_patient_schema(tiny_kb)).is_valid(data)
    try:
        parse_patient(data, path="p.yaml", knowledge=tiny_kb)
        validator_ok = True
    except PatientFileError:
        validator_ok = False
    assert (schema_ok, validator_ok) == (valid, valid)


def test_spec_example_is_valid_under_the_published_schema():
    from cds.paths import knowledge_dir

    schema = json.loads((knowledge_dir() / "schema" / "patient-v1.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    data = YAML(typ="safe").load((DATA / "patient-full.yaml").read_text())
    data["polysomnography"]["date"] = str(data["polysomnography"]["date"])
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(data)]
    assert errors == []


def test_published_schema_is_current():
    """Regenerate with ``python -m cds.facts.patient_schema`` after changing fields, vocab or drugs."""
    from cds.kb import load_knowledge
    from cds.paths import knowledge_dir

    on_disk = json.loads((knowledge_dir() / "schema" / "patient-v1.schema.json").read_text())
    assert on_disk == build_patient_schema(load_knowledge())

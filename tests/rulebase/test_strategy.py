"""The firing order never depends on PYTHONHASHSEED (experta's default strategy does)."""

from __future__ import annotations

import os
import subprocess
import sys

from cds.decision import decide
from tests.rulebase.conftest import TINY_KNOWLEDGE, TINY_RULES

SCRIPT = """
import sys
from cds.facts.patient import parse_patient
from cds.decision import decide, dump_decision
from cds.rules.engine import load_rulebase
rb = load_rulebase(sys.argv[1], sys.argv[2])
data = {"schema": "cds.patient/v1", "id": "S", "age_years": 40, "pregnant": True, "sex": "female",
        "symptoms": {"insomnia": True, "daytime_impairment": True}, "medications": ["oxycodone", "sertraline"],
        "labs": {"ferritin_ng_ml": 20}, "polysomnography": {"plms_index": 30, "respiratory_channels": False}}
analysis = {"leg_movements": {"plms_index": 28.5}, "respiratory": {"scored": False}}
p = parse_patient(data, path="p.yaml", knowledge=rb.kb)
sys.stdout.write(dump_decision(decide(rb, p, analysis=analysis, patient_sha256="0" * 64)))
"""


def test_trace_identical_across_hash_seeds():
    outputs = set()
    for seed in ("0", "1", "7", "42", "1234"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(TINY_RULES), str(TINY_KNOWLEDGE)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1
    text = outputs.pop()
    assert '"rule": "SAF-OPIOID-CLONAZEPAM"' in text and '"rule": "FND-PLMD"' in text


def test_order_is_layer_then_rule_id(tiny_rulebase):
    from cds.facts.patient import parse_patient

    data = {
        "schema": "cds.patient/v1",
        "id": "S",
        "age_years": 40,
        "pregnant": True,
        "medications": ["oxycodone"],
        "symptoms": {"insomnia": True},
        "labs": {"ferritin_ng_ml": 20},
        "polysomnography": {"plms_index": 30},
    }
    patient = parse_patient(data, path="p.yaml", knowledge=tiny_rulebase.kb)
    trace = decide(tiny_rulebase, patient, patient_sha256="").trace
    order = [(-f.salience, f.rule) for f in trace]
    assert order == sorted(order)
    assert [f.rule for f in trace][:3] == ["EVD-ADULT", "EVD-LOW-FERRITIN", "EVD-OPIOID"]

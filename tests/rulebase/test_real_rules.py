"""The real rules/ folder: every inline case agrees between the evaluator and experta, and random patients
never get a vetoed drug offered (hypothesis). Fails, with the loader's first problem, while rules/ is broken."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds.authoring.scenarios import given_facts
from cds.decision import decide, dump_decision
from cds.facts.patient import parse_patient
from cds.rules.engine import load_rulebase
from cds.rules.evaluate import FactView, evaluate
from cds.rules.facts import Evidence, Finding, Recommendation

STATUS_ORDER = ("option", "caution", "specialist_only", "not_recommended", "contraindicated")  # decision-v1


@pytest.fixture(scope="module")
def real_rulebase():
    return load_rulebase()


def test_inline_cases_agree_between_evaluator_and_experta(real_rulebase):
    kb = real_rulebase.kb
    disagreements = []
    for spec in real_rulebase.rules.active():
        single = type(real_rulebase)(type(real_rulebase.rules)((spec,), "x", "rules"), kb)
        for case in spec.tests:
            records, derived = given_facts(case["given"], kb)
            facts = [Evidence(code=c) for c in derived["evidence"]] + [Finding(code=c) for c in derived["findings"]]
            facts += [
                Recommendation(action=a, urgency="routine", extended_eeg=False) for a in derived["recommendations"]
            ]
            fired = bool(single.run_facts(records, facts))
            holds = evaluate(spec.when, FactView.from_records(records, **derived), kb.thresholds)[0]
            if fired != holds:
                disagreements.append(f"{spec.id}: {case['name']}: experta {fired}, evaluator {holds}")
    assert disagreements == []


def _patients(kb):
    fields = sorted(
        n
        for n, s in kb.fields.items()
        if "." in n and n.split(".")[0] in ("symptoms", "labs") and s.type in ("bool", "enum", "number")
    )

    def value(name):
        spec = kb.fields[name]
        if spec.type == "bool":
            return st.booleans()
        if spec.type == "enum":
            return st.sampled_from(spec.values)
        hi = min(spec.max if spec.max is not None else 200, 200)
        return st.integers(int(spec.min or 0), int(hi))

    chosen = st.lists(st.sampled_from(fields), max_size=12, unique=True).flatmap(
        lambda names: st.fixed_dictionaries({n: value(n) for n in names})
    )
    meds = sorted(kb.medications)[:60] + sorted(kb.drugs)
    return st.fixed_dictionaries(
        {
            "age_years": st.integers(0, 95),
            "sex": st.sampled_from(["female", "male"]),
            "pregnant": st.booleans(),
            "flat": chosen,
            "conditions": st.lists(st.sampled_from(sorted(kb.vocab["conditions"])), max_size=4, unique=True),
            "medications": st.lists(st.sampled_from(meds), max_size=4, unique=True),
            "plms_index": st.one_of(st.none(), st.integers(0, 80)),
        }
    )


def _patient_dict(draw: dict) -> dict:
    data = {
        "schema": "cds.patient/v1",
        "id": "H",
        "age_years": draw["age_years"],
        "sex": draw["sex"],
        "pregnant": draw["pregnant"],
        "conditions": draw["conditions"],
        "medications": draw["medications"],
    }
    for name, value in draw["flat"].items():
        section, key = name.split(".", 1)
        data.setdefault(section, {})[key] = value
    if draw["plms_index"] is not None:
        data["polysomnography"] = {"plms_index": draw["plms_index"]}
    return data


def test_safety_invariant_on_random_patients(real_rulebase):
    kb = real_rulebase.kb

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(draw=_patients(kb))
    def check(draw):
        patient = parse_patient(_patient_dict(draw), path="h.yaml", knowledge=kb)
        decision = decide(real_rulebase, patient, patient_sha256="0" * 64)
        final = {t.drug: t.status for t in decision.treatments}
        for firing in decision.trace:
            for item in firing.asserted:
                if item["type"] == "treatment" and item["layer"] == "safety" and item["status"] != "caution":
                    assert STATUS_ORDER.index(final[item["drug"]]) >= STATUS_ORDER.index(item["status"])
        for entry in (*decision.recommendations, *decision.treatments):
            assert entry.rules and entry.references
        assert dump_decision(decision) == dump_decision(decide(real_rulebase, patient, patient_sha256="0" * 64))

    check()

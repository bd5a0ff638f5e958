"""Compiled rules fire (or not) per atom kind, unknown vs false, any/not, thresholds, sources; resolution."""

from __future__ import annotations

import json
import random

import pytest

from cds.decision import decide as decide_record
from cds.decision import dump_decision
from cds.facts.patient import parse_patient
from cds.rules.engine import RuleBase
from cds.rules.load import RuleSet


def decide(rulebase, analysis=None, **fields):
    data = {"schema": "cds.patient/v1", "id": "T-1", **fields}
    patient = parse_patient(data, path="t.yaml", knowledge=rulebase.kb)
    # the record (what decision.json holds): these tests read it as the letter and the log do
    return decide_record(rulebase, patient, analysis=analysis, patient_sha256="0" * 64, recording_name=None).to_record()


def fired(decision):
    return [f["rule"] for f in decision["trace"]]


def findings(decision):
    return [f["code"] for f in decision["findings"]]


def statuses(decision):
    return {t["drug"]: t["status"] for t in decision["treatments"]}


PLMD = {"age_years": 40, "symptoms": {"insomnia": True}}


def test_threshold_is_strictly_greater(tiny_rulebase):
    at = decide(tiny_rulebase, **PLMD, polysomnography={"plms_index": 15})
    above = decide(tiny_rulebase, **PLMD, polysomnography={"plms_index": 15.5})
    assert "plmd" not in findings(at)
    assert findings(above) == ["plmd"]


def test_gte_threshold_and_evidence_atom(tiny_rulebase):
    adult = decide(tiny_rulebase, age_years=18, symptoms={"insomnia": True}, polysomnography={"plms_index": 30})
    child = decide(tiny_rulebase, age_years=17.9, symptoms={"insomnia": True}, polysomnography={"plms_index": 30})
    assert "EVD-ADULT" in fired(adult) and findings(adult) == ["plmd"]
    assert "EVD-ADULT" not in fired(child) and findings(child) == []


def test_any_holds_through_either_branch(tiny_rulebase):
    impaired = decide(
        tiny_rulebase,
        age_years=40,
        symptoms={"insomnia": False, "daytime_impairment": True},
        polysomnography={"plms_index": 30},
    )
    neither = decide(
        tiny_rulebase,
        age_years=40,
        symptoms={"insomnia": False, "daytime_impairment": False},
        polysomnography={"plms_index": 30},
    )
    assert findings(impaired) == ["plmd"]
    assert findings(neither) == []


def test_not_on_evidence_blocks(tiny_rulebase):
    rls = decide(tiny_rulebase, **PLMD, conditions=["restless_legs_syndrome"], polysomnography={"plms_index": 30})
    other = decide(tiny_rulebase, **PLMD, conditions=["epilepsy"], polysomnography={"plms_index": 30})
    assert findings(rls) == []
    assert findings(other) == ["plmd"]


def test_unknown_is_not_false(tiny_rulebase):
    unknown = decide(tiny_rulebase, age_years=30)
    false = decide(tiny_rulebase, age_years=30, pregnant=False)
    true = decide(tiny_rulebase, age_years=30, pregnant=True)
    assert "SAF-PREGNANCY" not in fired(unknown) + fired(false)
    assert "SAF-PREGNANCY" in fired(true)
    # `is: unknown` holds only while no source knows the field
    assert "TRI-PSG-ROUTINE" in fired(unknown)
    reported = decide(tiny_rulebase, age_years=30, polysomnography={"plms_index": 2})
    assert "TRI-PSG-ROUTINE" not in fired(reported)
    assert unknown["asks"] == [
        {"field": "psg.plms_index", "rules": ["TRI-PSG-ROUTINE"], "text": "No polysomnogram: PLMS index unknown."}
    ]


def test_bool_atom_on_drug_class_family(tiny_rulebase):
    on = decide(tiny_rulebase, age_years=50, medications=["oxycodone"])
    off = decide(tiny_rulebase, age_years=50, medications=["sertraline"])
    unknown = decide(tiny_rulebase, age_years=50)
    assert "EVD-OPIOID" in fired(on)
    assert "EVD-OPIOID" not in fired(off) + fired(unknown)


def test_source_restriction(tiny_rulebase):
    reported = decide(tiny_rulebase, age_years=50, polysomnography={"respiratory_channels": False})
    analysis = {"respiratory": {"scored": False}, "leg_movements": {"plms_index": None}}
    measured = decide(tiny_rulebase, analysis=analysis, age_years=50)
    assert "FND-NO-RESP-CAVEAT" not in fired(reported)
    assert "FND-NO-RESP-CAVEAT" in fired(measured)
    assert measured["caveat_details"][0]["rule"] == "FND-NO-RESP-CAVEAT"
    assert measured["caveats"][0].startswith("The recording had no respiratory channels")


def test_recording_null_value_is_unknown_not_zero(tiny_rulebase):
    analysis = {"leg_movements": {"plms_index": None, "unavailable": {"plms_index": "no leg channels"}}}
    decision = decide(tiny_rulebase, analysis=analysis, age_years=50)
    assert "TRI-PSG-ROUTINE" in fired(decision)  # psg.plms_index still unknown
    assert "plms_index" not in decision["measurements"]


def test_measurements_keep_both_sources(tiny_rulebase):
    analysis = {"recording": {"sha256": "ab" * 32}, "leg_movements": {"plms_index": 34.25}}
    decision = decide(tiny_rulebase, analysis=analysis, **PLMD, polysomnography={"plms_index": 41})
    m = decision["measurements"]["plms_index"]
    assert (m["value"], m["source"], m["unit"]) == (34.25, "recording", "/h")
    assert m["other_sources"] == [{"value": 41, "source": "reported", "method": None}]
    assert decision["inputs"]["recording"]["sha256"] == "ab" * 32
    # both sources satisfy the rule: two activations, one finding
    assert fired(decision).count("FND-PLMD") == 2
    assert findings(decision) == ["plmd"]


def test_because_renders_matched_value_and_threshold(tiny_rulebase):
    decision = decide(tiny_rulebase, **PLMD, polysomnography={"plms_index": 34})
    plmd = decision["findings"][0]
    assert plmd["rule"] == "FND-PLMD"
    assert plmd["because"] == ["PLMS index 34 /h above 15 /h with sleep complaints"]
    firing = next(f for f in decision["trace"] if f["rule"] == "FND-PLMD")
    matched = {(f["type"], f.get("field") or f.get("code")) for f in firing["facts"]}
    assert matched == {("datum", "psg.plms_index"), ("datum", "symptoms.insomnia"), ("evidence", "adult")}
    assert firing["salience"] == 400 and firing["asserted"] == [{"type": "finding", "code": "plmd"}]


def test_most_urgent_recommendation_wins(tiny_rulebase):
    decision = decide(tiny_rulebase, age_years=40, symptoms={"daytime_impairment": True})
    (rec,) = decision["recommendations"]
    assert (rec["action"], rec["urgency"]) == ("polysomnography", "soon")
    assert rec["rules"] == ["TRI-PSG-ROUTINE", "TRI-PSG-SOON"]
    assert rec["urgency_rules"] == ["TRI-PSG-SOON"]
    assert rec["references"] == ["ICSD-3"]


def test_most_favourable_proposal_stands(tiny_rulebase):
    normal = decide(tiny_rulebase, **PLMD, labs={"ferritin_ng_ml": 120}, polysomnography={"plms_index": 30})
    low = decide(tiny_rulebase, **PLMD, labs={"ferritin_ng_ml": 20}, polysomnography={"plms_index": 30})
    assert statuses(normal)["oral_iron"] == "not_recommended"
    assert statuses(low)["oral_iron"] == "option"
    iron = next(t for t in low["treatments"] if t["drug"] == "oral_iron")
    assert iron["rules"] == ["TRT-IRON"] and iron["dose"] == "65 mg elemental iron"


def test_veto_beats_offer(tiny_rulebase):
    decision = decide(tiny_rulebase, **PLMD, pregnant=True, sex="female", polysomnography={"plms_index": 30})
    got = statuses(decision)
    assert got["sodium_valproate"] == "contraindicated"
    assert got["clonazepam"] == "option"
    valproate = next(t for t in decision["treatments"] if t["drug"] == "sodium_valproate")
    assert valproate["reasons"] == ["pregnancy"] and valproate["rules"] == ["SAF-PREGNANCY"]


def test_veto_shown_without_proposal_but_bare_caution_is_not(tiny_rulebase):
    pregnant = decide(tiny_rulebase, age_years=30, pregnant=True)
    assert statuses(pregnant) == {"sodium_valproate": "contraindicated"}
    opioid = decide(tiny_rulebase, age_years=30, medications=["oxycodone"])
    assert statuses(opioid) == {}
    offered = decide(tiny_rulebase, **PLMD, medications=["oxycodone"], polysomnography={"plms_index": 30})
    clon = next(t for t in offered["treatments"] if t["drug"] == "clonazepam")
    assert clon["status"] == "caution"
    assert clon["notes"] == ["Opioid co-prescription: start low, monitor sedation."]


def test_decision_is_json_and_deterministic(tiny_rulebase):
    first = dump_decision(decide(tiny_rulebase, **PLMD, polysomnography={"plms_index": 30}))
    second = dump_decision(decide(tiny_rulebase, **PLMD, polysomnography={"plms_index": 30}))
    assert first == second and first.endswith("}\n")
    data = json.loads(first)
    assert data["schema"] == "cds.decision/v1" and data["patient_id"] == "T-1"
    assert list(data) == sorted(data)
    assert "/" not in json.dumps(data["inputs"])  # no paths
    assert data["inputs"]["ruleset"]["version"] is None  # the tiny rule set has no MANIFEST.yaml
    assert len(data["inputs"]["ruleset"]["sha256"]) == 64


def test_shuffled_rule_order_gives_same_trace(tiny_rulebase):
    base = dump_decision(decide(tiny_rulebase, **PLMD, medications=["oxycodone"], polysomnography={"plms_index": 30}))
    rules = list(tiny_rulebase.rules.rules)
    for seed in range(3):
        random.Random(seed).shuffle(rules)
        shuffled = RuleBase(RuleSet(tuple(rules), tiny_rulebase.rules.sha256, "rules"), tiny_rulebase.kb)
        shuffled.stamp = tiny_rulebase.stamp
        again = decide(shuffled, **PLMD, medications=["oxycodone"], polysomnography={"plms_index": 30})
        assert dump_decision(again) == base


def test_draft_rules_are_not_compiled(rules_copy, tiny_kb):
    from cds.rules.load import load_rules

    path = rules_copy / "5-safety" / "SAF-PREGNANCY.yaml"
    path.write_text(path.read_text().replace("status: active", "status: draft"))
    rulebase = RuleBase(load_rules(rules_copy, tiny_kb), tiny_kb)
    assert statuses(decide(rulebase, age_years=30, pregnant=True)) == {}


@pytest.mark.parametrize("status", ["option", "caution", "specialist_only", "not_recommended"])
def test_safety_re_check_never_lets_contraindicated_through(status):
    from cds.decision.record import resolve_treatments
    from cds.kb import load_knowledge

    firings = [
        {
            "rule": "A",
            "because": "",
            "asserted": [{"type": "treatment", "drug": "x", "status": status, "reason": "r", "layer": "treatment"}],
        },
        {
            "rule": "B",
            "because": "",
            "asserted": [
                {"type": "treatment", "drug": "x", "status": "contraindicated", "reason": "r", "layer": "safety"}
            ],
        },
    ]
    assert resolve_treatments(firings, load_knowledge().policy_obj)["x"][0] == "contraindicated"


def test_input_caveats_keep_their_source(tiny_rulebase):
    analysis = {
        "leg_movements": {"plms_index": 3},
        "caveats": [{"code": "one_leg_only", "text": "Only one leg.", "channel": "left_leg"}],
    }
    decision = decide(tiny_rulebase, analysis=analysis, age_years=50, medications=["mysterium"])
    details = {d["code"]: d for d in decision["caveat_details"]}
    assert details["one_leg_only"] == {
        "code": "one_leg_only",
        "text": "Only one leg.",
        "source": "recording",
        "channel": "left_leg",
    }
    assert details["medication_classes_unknown"]["source"] == "patient"
    assert "Only one leg." in decision["caveats"]


def test_empty_rule_set(tmp_path, tiny_kb):
    from cds.rules.load import check_rules

    for layer in ("1-evidence", "2-findings", "3-triage", "4-treatment", "5-safety"):
        (tmp_path / "rules" / layer).mkdir(parents=True)
    rules, problems = check_rules(tmp_path / "rules", tiny_kb)
    assert rules.rules == () and problems == []
    decision = decide(RuleBase(rules, tiny_kb), age_years=30)
    assert (decision["findings"], decision["recommendations"], decision["treatments"], decision["trace"]) == (
        [],
        [],
        [],
        [],
    )
    assert any(f["field"] == "age_years" and f["value"] == 30 for f in decision["facts"])


def test_load_rulebase_is_cached_until_a_file_changes(rules_copy):
    from cds.rules.engine import load_rulebase
    from tests.rulebase.conftest import TINY_KNOWLEDGE

    first = load_rulebase(rules_copy, TINY_KNOWLEDGE)
    assert load_rulebase(rules_copy, TINY_KNOWLEDGE) is first
    path = rules_copy / "5-safety" / "SAF-PREGNANCY.yaml"
    path.write_text(path.read_text().replace("status: active", "status: draft"))
    changed = load_rulebase(rules_copy, TINY_KNOWLEDGE)
    assert changed is not first
    assert "SAF-PREGNANCY" not in {r.id for r in changed.rules.active()}

"""The pure evaluator: known answers, the first failing atom, and agreement with experta (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds.decision import decide
from cds.facts.types import DatumRecord
from cds.rules.engine import RuleBase
from cds.rules.evaluate import FactView, evaluate
from cds.rules.facts import Evidence, Finding
from cds.rules.load import RuleSet, RuleSpec

TH = {"t15": {"value": 15}}


def view(**data):
    return FactView(data={k: [(v, "patient")] for k, v in data.items()})


def test_all_reports_first_failing_atom_with_actual_value():
    node = {"all": [{"field": "a", "gt": {"threshold": "t15"}}, {"field": "b", "is": True}]}
    assert evaluate(node, view(a=20, b=True), TH) == (True, None, None)
    assert evaluate(node, view(a=12, b=True), TH) == (False, node["all"][0], 12)
    assert evaluate(node, view(a=20), TH) == (False, node["all"][1], None)


def test_not_holds_for_unknown_and_reports_the_value_that_held():
    node = {"not": {"field": "b", "is": True}}
    assert evaluate(node, view(), TH)[0] is True
    assert evaluate(node, view(b=False), TH)[0] is True
    assert evaluate(node, view(b=True), TH) == (False, node, True)


def test_between_is_half_open_and_unknown_is_false():
    node = {"field": "a", "between": [5, 15]}
    assert [evaluate(node, view(a=v), TH)[0] for v in (4.99, 5, 14.99, 15)] == [False, True, True, False]
    assert evaluate({"field": "a", "is": False}, view(), TH)[0] is False


def test_source_restriction():
    facts = FactView(data={"a": [(20, "reported")]})
    assert evaluate({"field": "a", "gt": 10}, facts, TH)[0] is True
    assert evaluate({"field": "a", "gt": 10, "source": "recording"}, facts, TH)[0] is False
    assert evaluate({"field": "a", "is": "unknown", "source": "recording"}, facts, TH)[0] is True


# ---- differential test against experta -------------------------------------------------------------------

_NUM = st.one_of(
    st.sampled_from([{"gt": 15}, {"gte": 15}, {"lt": 15}, {"lte": 15}, {"between": [10, 20]}]),
    st.just({"gt": {"threshold": "plms_index_adult_per_h"}}),
    st.sampled_from([{"is": "unknown"}, {"is": "known"}]),
)
_SRC = st.sampled_from([{}, {"source": "recording"}, {"source": "reported"}])
_ATOM = st.one_of(
    st.builds(lambda op, src: {"field": "psg.plms_index", **op, **src}, _NUM, _SRC),
    st.builds(lambda v: {"field": "symptoms.insomnia", "is": v}, st.sampled_from([True, False, "unknown", "known"])),
    st.builds(lambda v: {"field": "sex", "eq": v}, st.sampled_from(["female", "male"])),
    st.builds(lambda v: {"field": "sex", "in": v}, st.sampled_from([["female"], ["male", "other"]])),
    st.builds(lambda v: {"evidence": v}, st.sampled_from(["adult", "on_opioid"])),
    st.builds(lambda v: {"finding": v}, st.sampled_from(["plmd", "rls"])),
)
_NODE = st.recursive(
    _ATOM,
    lambda inner: st.one_of(
        st.builds(lambda xs: {"all": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"any": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, inner),
    ),
    max_leaves=6,
)
_FACTS = st.fixed_dictionaries(
    {
        "plms_recording": st.one_of(st.none(), st.sampled_from([5.0, 10, 14.9, 15, 15.1, 20, 40])),
        "plms_reported": st.one_of(st.none(), st.sampled_from([5, 15, 20])),
        "insomnia": st.one_of(st.none(), st.booleans()),
        "sex": st.one_of(st.none(), st.sampled_from(["female", "male", "other"])),
        "evidence": st.sets(st.sampled_from(["adult", "on_opioid"])),
        "findings": st.sets(st.sampled_from(["plmd", "rls"])),
    }
)


def _records(f):
    out = [
        DatumRecord("psg.plms_index", f["plms_recording"], f["plms_recording"] is not None, "recording"),
        DatumRecord("psg.plms_index", f["plms_reported"], f["plms_reported"] is not None, "reported"),
        DatumRecord("symptoms.insomnia", f["insomnia"], f["insomnia"] is not None, "patient"),
        DatumRecord("sex", f["sex"], f["sex"] is not None, "patient"),
    ]
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(node=_NODE, facts=_FACTS)
def test_evaluator_agrees_with_experta(tiny_kb, node, facts):
    spec = RuleSpec(
        id="TRI-X",
        title="x",
        version=1,
        status="active",
        layer="triage",
        references=(),
        when=node,
        then=({"caveat": "no_respiratory", "text": "x"},),
        because="x",
        tests=(),
        path="3-triage/TRI-X.yaml",
        sha256="0",
        data={},
    )
    rulebase = RuleBase(RuleSet((spec,), "x", "rules"), tiny_kb)
    records = _records(facts)
    derived = [Evidence(code=c) for c in sorted(facts["evidence"])] + [
        Finding(code=c) for c in sorted(facts["findings"])
    ]
    fired = bool(rulebase.run_facts(records, derived))
    view = FactView.from_records(records, evidence=facts["evidence"], findings=facts["findings"])
    assert evaluate(node, view, tiny_kb.thresholds)[0] == fired


def test_regression_not_all_with_one_unknown_field_fires_in_experta(tiny_kb):
    """Found by the differential test: the branches of an `any` share one experta rule object, and the agenda
    strategy used to retract both when one branch stopped matching."""
    node = {"not": {"all": [{"field": "symptoms.insomnia", "is": True}, {"field": "sex", "eq": "female"}]}}
    spec = RuleSpec(
        id="TRI-X",
        title="x",
        version=1,
        status="active",
        layer="triage",
        references=(),
        when=node,
        then=({"caveat": "no_respiratory", "text": "x"},),
        because="x",
        tests=(),
        path="3-triage/TRI-X.yaml",
        sha256="0",
        data={},
    )
    rulebase = RuleBase(RuleSet((spec,), "x", "rules"), tiny_kb)
    firings = rulebase.run_facts([DatumRecord("sex", "female", True, "patient")])
    assert [f["rule"] for f in firings] == ["TRI-X"]


def test_view_of_decision_explains_a_rule_that_did_not_fire(tiny_rulebase):
    from cds.facts.patient import parse_patient
    from cds.rules.evaluate import view_of_decision

    data = {
        "schema": "cds.patient/v1",
        "id": "E",
        "age_years": 40,
        "symptoms": {"insomnia": False},
        "polysomnography": {"plms_index": 30},
    }
    patient = parse_patient(data, path="p.yaml", knowledge=tiny_rulebase.kb)
    decision = decide(tiny_rulebase, patient, patient_sha256="").to_record()
    rule = tiny_rulebase.by_id["FND-PLMD"]
    holds, atom, actual = evaluate(
        rule.when, view_of_decision(decision, before_layer="findings"), tiny_rulebase.kb.thresholds
    )
    assert (holds, atom, actual) == (False, {"field": "symptoms.insomnia", "is": True}, False)
    triage_view = view_of_decision(decision, before_layer="triage")
    assert triage_view.evidence == {"adult"} and triage_view.findings == set()
    assert "reassurance" not in triage_view.recommendations

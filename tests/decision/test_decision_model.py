"""The typed Decision (cds/decision/model.py): every decision of the clinical case library survives the round trip
record -> Decision -> record unchanged, decide()'s JSON and letter are those of the record it was built from (the
dict path before the typed one), malformed records are refused naming the part, and the ordered codes are the
policy's."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds.authoring import casebank
from cds.decision import Decision, DecisionRecordError, decide, dump_decision
from cds.decision.record import build_decision_record
from cds.facts.patient import parse_patient
from cds.kb import load_knowledge, read_raw
from cds.letter.render import render_letter
from cds.paths import knowledge_dir
from cds.policy import Policy
from cds.rules.engine import load_rulebase

REPO = Path(__file__).resolve().parents[2]
CASES_DIR = REPO / "tests" / "cases"


@pytest.fixture(scope="module")
def rulebase() -> Any:
    return load_rulebase()


@pytest.fixture(scope="module")
def library(rulebase: Any) -> list[tuple[str, dict[str, Any], Decision]]:
    """Every library case as (name, the record as build_decision_record makes it, its Decision as decide() makes
    it: ``Decision.from_record`` of that record with the rule base's policy; decide() itself is compared on a few)."""
    out = []
    for case in casebank.load_cases(CASES_DIR):
        patient = parse_patient(case.patient, path=f"{case.name}.yaml", knowledge=rulebase.kb)
        result = rulebase.run(patient, None)
        record = build_decision_record(
            rulebase, patient, result, analysis=None, patient_sha256=case.patient_sha256, recording_name=None
        )
        out.append((case.name, record, Decision.from_record(record, policy=rulebase.kb.policy_obj)))
    return out


def test_decide_returns_the_decision_of_the_record(
    rulebase: Any, library: list[tuple[str, dict[str, Any], Decision]]
) -> None:
    cases = {c.name: c for c in casebank.load_cases(CASES_DIR)}
    for name, _, expected in library[::40]:
        case = cases[name]
        patient = parse_patient(case.patient, path=f"{name}.yaml", knowledge=rulebase.kb)
        decision = decide(rulebase, patient, patient_sha256=case.patient_sha256)
        assert isinstance(decision, Decision)
        assert decision == expected, name


def test_the_library_is_all_there(library: list[tuple[str, dict[str, Any], Decision]]) -> None:
    assert len(library) == len(list(CASES_DIR.glob("*.yaml"))) >= 80


def test_every_library_decision_is_its_record_byte_for_byte(
    library: list[tuple[str, dict[str, Any], Decision]],
) -> None:
    """decide() (typed) writes exactly the decision.json the dict path writes, and reads back to itself."""
    for name, record, decision in library:
        text = dump_decision(record)  # the dict path: what decision.json was before the typed Decision
        assert decision.to_json() == text, name
        assert dump_decision(decision) == text, name
        again = Decision.from_record(json.loads(text))
        assert again == decision, name
        assert again.to_json() == text, name


def test_letters_of_library_cases_are_those_of_the_record(library: list[tuple[str, dict[str, Any], Decision]]) -> None:
    """The letter renders from to_record() exactly as from the dict path's JSON (a few cases of each kind)."""
    chosen = [entry for entry in library if entry[2].treatments and entry[2].current_medications][:2]
    chosen += [entry for entry in library if entry[2].branches][:2]
    chosen += [entry for entry in library if entry[2].conclusion.fallback][:1]
    assert len(chosen) >= 4
    for name, record, decision in chosen:
        old = render_letter(json.loads(dump_decision(record)), letter_date="2026-01-01")
        new = render_letter(decision.to_record(), letter_date="2026-01-01")
        assert (new.markdown, new.html) == (old.markdown, old.html), name


def test_typed_attributes_say_what_the_record_says(library: list[tuple[str, dict[str, Any], Decision]]) -> None:
    policy = load_knowledge().policy_obj
    for name, record, decision in library:
        assert decision.conclusion.action == record["conclusion"]["action"], name
        assert decision.conclusion.urgency.value == record["conclusion"]["urgency"], name
        assert isinstance(decision.conclusion.urgency, policy.urgency_type), name
        assert [t.status.value for t in decision.treatments] == [t["status"] for t in record["treatments"]], name
        if decision.recommendations:  # the first step is the most urgent recommendation, by the policy's order
            assert decision.conclusion.urgency == max(r.urgency for r in decision.recommendations), name
            ranks = [policy.urgency_rank(r["urgency"]) for r in record["recommendations"]]
            assert decision.conclusion.urgency.rank == max(ranks), name
        for t in decision.treatments:
            assert decision.treatment(t.drug) is t


# ------------------------------------------------------------------------------------------------ malformed


@pytest.fixture(scope="module")
def sample(library: list[tuple[str, dict[str, Any], Decision]]) -> dict[str, Any]:
    """A library record with treatments, recommendations and current medications."""
    wanted = (json.loads(dump_decision(r)) for _, r, d in library if d.treatments and d.current_medications)
    return next(record for record in wanted if record["recommendations"])


def _nested(depth: int) -> list[Any]:
    out: list[Any] = []
    for _ in range(depth):
        out = [out]
    return out


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("conclusion"), r"^not a decision record: conclusion: missing$"),
        (
            lambda d: d["recommendations"][0].update(urgency="whenever"),
            r"^not a decision record: recommendations\[0\]\.urgency: unknown urgency 'whenever' \(allowed: routine, "
            r"soon, urgent, emergency\)$",
        ),
        (lambda d: d["treatments"][0].pop("drug"), r"^not a decision record: treatments\[0\]\.drug: missing$"),
        (
            lambda d: d["treatments"][0].update(status="maybe"),
            r"^not a decision record: treatments\[0\]\.status: unknown treatmentstatus 'maybe'",
        ),
        (lambda d: d["conclusion"].update(urgency=None), r"conclusion\.urgency: unknown urgency None"),
        (lambda d: d.update(schema="cds.decision/v2"), r"schema: expected 'cds\.decision/v1'"),
        (lambda d: d.update(findings={}), r"findings: expected a list of objects, got dict"),
        (lambda d: d["trace"][0].update(version="3"), r"trace\[0\]\.version: expected an integer, got str"),
        (lambda d: d.update(extra=1), r"top level: unknown key 'extra'"),
        (lambda d: d["current_medications"][0].update(action=""), r"current_medications\[0\]\.action: expected a non"),
        (lambda d: d["recommendations"][0].update(extended_eeg=None), r"extended_eeg: null \(leave the key out"),
        (lambda d: d["facts"][0].update(value=_nested(3000)), r"top level: nested too deeply$"),
    ],
)
def test_a_malformed_record_is_refused_naming_the_part(sample: dict[str, Any], edit: Any, message: str) -> None:
    record = copy.deepcopy(sample)
    edit(record)
    with pytest.raises(DecisionRecordError, match=message):
        Decision.from_record(record)


def test_the_error_names_the_source_when_given(sample: dict[str, Any]) -> None:
    record = {k: v for k, v in sample.items() if k != "conclusion"}
    with pytest.raises(DecisionRecordError) as err:
        Decision.from_record(record, source="night1/decision.json")
    assert str(err.value) == "night1/decision.json: not a decision record: conclusion: missing"


def test_a_decision_is_read_only(sample: dict[str, Any]) -> None:
    decision = Decision.from_record(sample)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.conclusion.action = "reassurance"  # type: ignore[misc]
    with pytest.raises(TypeError):
        decision.trace[0].facts[0]["value"] = 1  # type: ignore[index]


# ------------------------------------------------------------------------------------------------ the policy's order


def _raw_policy() -> dict[str, Any]:
    return read_raw(knowledge_dir(), "policy.yaml")


def _policy(**changes: Any) -> Policy:
    return Policy.from_data({**_raw_policy(), **changes})


def test_urgency_and_status_order_come_from_the_policy(sample: dict[str, Any]) -> None:
    shipped = load_knowledge().policy_obj
    assert [u.value for u in shipped.urgency_type] == list(shipped.urgency_order)
    assert [s.value for s in shipped.status_type] == list(shipped.status_order)
    # a policy with one more tier, most urgent last: the enum follows it, no code change
    tiers = [*_raw_policy()["urgency"], {"code": "immediate", "interval": "now", "max_days": 0}]
    other = _policy(urgency=tiers)
    urgency = other.urgency_type
    assert urgency("immediate") > urgency("emergency") > urgency("routine")
    record = copy.deepcopy(sample)
    record["recommendations"][0]["urgency"] = "immediate"
    decision = Decision.from_record(record, policy=other)
    assert decision.recommendations[0].urgency.rank == len(tiers) - 1
    assert decision.to_record()["recommendations"][0]["urgency"] == "immediate"
    with pytest.raises(DecisionRecordError, match="unknown urgency 'immediate'"):
        Decision.from_record(record)  # the shipped policy has no such tier
    with pytest.raises(TypeError, match="cannot order"):
        assert urgency("routine") < shipped.urgency_type("soon")


# ------------------------------------------------------------------------------------------------ generated records

_codes = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
_words = st.lists(st.text(max_size=20), max_size=3)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A value for an optional key: the key left out (None here) or present."""
    return st.one_of(st.none(), strategy)


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


_shipped = load_knowledge().policy_obj
_urgencies = st.sampled_from(list(_shipped.urgency_order))
_statuses = st.sampled_from(list(_shipped.status_order))
_recommendation = st.builds(
    lambda action, urgency, rules, because, merged, eeg: _drop_none(
        {
            "action": action,
            "urgency": urgency,
            "interval": _shipped.interval(urgency),
            "rules": rules,
            "urgency_rules": rules[:1],
            "references": [],
            "because": because,
            "consolidated_from": merged,
            "extended_eeg": eeg,
        }
    ),
    _codes,
    _urgencies,
    st.lists(_codes, max_size=3),
    _words,
    _maybe(st.lists(_codes, max_size=2)),
    _maybe(st.booleans()),
)
_treatment = st.builds(
    lambda drug, status, dose, flags, strength: {
        "drug": drug,
        "name": drug.title(),
        "status": status,
        "reasons": [],
        "rules": [],
        "references": [],
        "notes": [],
        "because": [],
        "dose": dose,  # always there, null when the knowledge base has no dose
        "discussed": flags[0],
        "current": flags[1],
        **_drop_none({"strength": strength}),
    },
    _codes,
    _statuses,
    _maybe(st.text(max_size=30)),
    st.tuples(st.booleans(), st.booleans()),
    _maybe(st.lists(_codes, max_size=2)),
)
_value = st.one_of(st.booleans(), st.integers(-5, 500), st.floats(allow_nan=False, allow_infinity=False))


@settings(max_examples=40, deadline=None)
@given(
    recs=st.lists(_recommendation, max_size=4),
    treatments=st.lists(_treatment, max_size=4),
    otherwise=_maybe(st.tuples(_codes, _urgencies)),
    measured=st.dictionaries(_codes, _value, max_size=3),
    record_block=_maybe(st.fixed_dictionaries({"id": _codes, "seq": st.integers(1, 99)})),
    release=st.sampled_from(["absent", "null", "object"]),
)
def test_generated_records_survive_the_round_trip(
    sample: dict[str, Any],
    recs: list[dict[str, Any]],
    treatments: list[dict[str, Any]],
    otherwise: tuple[str, str] | None,
    measured: dict[str, Any],
    record_block: dict[str, Any] | None,
    release: str,
) -> None:
    record = copy.deepcopy(sample)
    record["recommendations"], record["treatments"] = recs, treatments
    if otherwise is not None:
        action, urgency = otherwise
        interval = _shipped.interval(urgency)
        record["conclusion"]["otherwise"] = {"action": action, "urgency": urgency, "interval": interval}
    record["measurements"] = {
        name: {
            "value": value,
            "unit": None,
            "source": "reported",
            "method": None,
            "other_sources": [],
            "provisional": False,
        }
        for name, value in measured.items()
    }
    if record_block is not None:
        record["record"] = record_block
    if release != "absent":
        record["inputs"]["ruleset"]["release"] = None if release == "null" else {"version": "1", "approver": "x"}
    text = json.dumps(record, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    decision = Decision.from_record(json.loads(text))
    assert decision.to_json() == text
    assert Decision.from_record(decision.to_record()) == decision

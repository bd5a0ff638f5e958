"""The independent clinical case bank (tests/cases) against the real engine, scored by the benchmark's function.

Gate (clinical brief 7.3 and issue 10): zero safety failures over all cases (no drug that must not be offered comes
out as option/caution; every required contraindication is stated) and overall agreement >= 98 % of the expected
pathways, urgencies, recommendations, findings, treatment statuses and current-medication actions. The scorer itself
is checked on hand-made decisions.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from cds.facts.patient import parse_patient
from cds.kb import load_knowledge
from cds.rulebase import casebank

REPO = Path(__file__).resolve().parents[1]
CASES_DIR = REPO / "tests" / "cases"
MIN_OVERALL = 0.98


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return casebank


@pytest.fixture(scope="module")
def cases(bench: ModuleType) -> list:
    return bench.load_cases(CASES_DIR)


@pytest.fixture(scope="module")
def result(bench: ModuleType) -> tuple:
    return bench.run_benchmark(CASES_DIR)


# ---------------------------------------------------------------- the case files themselves


def test_case_bank_size_and_unique_ids(cases: list) -> None:
    assert len(cases) >= 80
    ids = [c.patient["id"] for c in cases]
    assert len(ids) == len(set(ids))


def test_every_patient_is_valid_patient_v1(cases: list) -> None:
    kb = load_knowledge()
    for case in cases:
        patient = parse_patient(case.patient, path=f"{case.name}.yaml", knowledge=kb)
        assert patient.id == case.patient["id"]
        assert not [c for c in patient.caveats if c.code == "medication_classes_unknown"], case.name


def test_expectations_use_the_decision_vocabularies(cases: list) -> None:
    """Codes in want/want_not/safety are spelled as decision-v1 and knowledge/vocab.yaml define them."""
    kb = load_knowledge()
    vocab = kb.vocab
    for case in cases:
        for part in (case.want, case.want_not):
            for code in part.get("findings") or ():
                assert code in vocab["findings"], (case.name, code)
            for rec in part.get("recommendations") or ():
                assert rec.get("action", "reassurance") in vocab["actions"], (case.name, rec)
                assert rec.get("urgency", "routine") in vocab["urgencies"], (case.name, rec)
            for drug, status in (part.get("treatments") or {}).items():
                assert drug in kb.drugs, (case.name, drug)
                assert status in vocab["treatment_statuses"], (case.name, status)
        for drug in case.safety_contraindicated:
            assert drug in kb.drugs, (case.name, drug)
        for part in (case.want, case.want_not):
            for drug, action in (part.get("medications") or {}).items():
                assert kb.canonical_drug_name(drug) == drug, (case.name, drug)
                assert action in vocab["medication_actions"], (case.name, action)
            if part.get("pathway"):
                assert part["pathway"]["action"] in vocab["actions"], (case.name, part["pathway"])
                assert part["pathway"].get("urgency", "routine") in vocab["urgencies"], (case.name, part["pathway"])


def test_load_cases_rejects_unknown_expectation_keys(bench: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "01-bad.yaml").write_text(
        "note: x\npatient: {schema: cds.patient/v1, id: X, age_years: 30}\nwant: {finding: [rls]}\n"
    )
    with pytest.raises(ValueError, match=r"01-bad.yaml: want has unknown keys \['finding'\]"):
        bench.load_cases(tmp_path)
    (tmp_path / "01-bad.yaml").write_text("note: x\nwant: {}\n")
    with pytest.raises(ValueError, match="needs note, patient, want"):
        bench.load_cases(tmp_path)


# ---------------------------------------------------------------- the scorer, on hand-made decisions


def _case(bench: ModuleType, want: dict, want_not: dict | None = None, safety: tuple = ()) -> object:
    return bench.ClinicalCase("t", "note", {"id": "T"}, want, want_not or {}, tuple(safety))


def _decision(findings=(), recs=(), treatments=None) -> dict:
    return {
        "findings": [{"code": c} for c in findings],
        "recommendations": [dict(r) for r in recs],
        "treatments": [{"drug": d, "status": s} for d, s in (treatments or {}).items()],
    }


def test_score_all_right(bench: ModuleType) -> None:
    case = _case(
        bench,
        {
            "findings": ["rls"],
            "recommendations": [{"action": "iron_studies", "urgency": "routine"}],
            "treatments": {"gabapentin": "option"},
        },
        {"findings": ["plmd"], "treatments": {"clonazepam": "option"}},
        ("sodium_valproate",),
    )
    decision = _decision(
        ["rls"],
        [{"action": "iron_studies", "urgency": "routine"}],
        {"gabapentin": "option", "clonazepam": "specialist_only", "sodium_valproate": "contraindicated"},
    )
    score = bench.score_case(case, decision)
    assert [(i.category, i.ok) for i in score.items] == [
        ("findings", True),
        ("findings", True),
        ("recommendations", True),
        ("urgency", True),
        ("treatment statuses", True),
        ("treatment statuses", True),
    ]
    assert score.safety_failures == ()


def test_score_safety_failures(bench: ModuleType) -> None:
    """A 'must not be offered' drug as caution and an unstated contraindication are both safety failures."""
    case = _case(bench, {}, {"treatments": {"clonazepam": "option"}}, ("phenytoin", "primidone"))
    decision = _decision(treatments={"clonazepam": "caution", "phenytoin": "not_recommended"})
    score = bench.score_case(case, decision)
    assert [i.ok for i in score.items] == [False]
    assert score.safety_failures == (
        "clonazepam offered as caution (must not be offered)",
        "phenytoin must be stated contraindicated, got not_recommended",
        "primidone must be stated contraindicated, got not listed",
    )
    # a want_not status other than option is an ordinary item, not a safety check
    case = _case(bench, {}, {"treatments": {"sodium_valproate": "contraindicated"}})
    score = bench.score_case(case, _decision(treatments={"sodium_valproate": "contraindicated"}))
    assert [i.ok for i in score.items] == [False] and score.safety_failures == ()


def test_score_urgency_uses_most_urgent_and_negations(bench: ModuleType) -> None:
    recs = [
        {"action": "neurology_referral", "urgency": "routine"},
        {"action": "neurology_referral", "urgency": "urgent"},
        {"action": "video_polysomnography", "urgency": "soon", "extended_eeg": True},
    ]
    case = _case(
        bench,
        {
            "recommendations": [
                {"action": "neurology_referral", "urgency": "urgent"},
                {"action": "video_polysomnography", "extended_eeg": True},
                {"urgency": "emergency"},
            ]
        },
        {
            "recommendations": [
                {"action": "neurology_referral", "urgency": "routine"},
                {"action": "reassurance"},
                {"action": "video_polysomnography", "urgency": "soon"},
            ]
        },
    )
    score = bench.score_case(case, _decision(recs=recs))
    got = [(i.category, i.text, i.ok) for i in score.items]
    assert got == [
        ("recommendations", "neurology_referral", True),
        ("urgency", "neurology_referral urgent", True),
        ("recommendations", "video_polysomnography", True),
        ("recommendations", "video_polysomnography extended_eeg=True", True),
        ("urgency", "recommendation with urgency emergency", False),
        ("urgency", "no neurology_referral routine", True),
        ("recommendations", "no reassurance", True),
        ("urgency", "no video_polysomnography soon", False),
    ]


def test_score_pathway_conditional_and_current_medications(bench: ModuleType) -> None:
    case = _case(
        bench,
        {
            "pathway": {"action": "polysomnography", "urgency": "soon"},
            "conditional": True,
            "medications": {"sertraline": "switch", "metformin": "continue"},
        },
        {"medications": {"zopiclone": "continue"}},
    )
    decision = _decision(
        recs=[{"action": "video_polysomnography", "urgency": "soon", "consolidated_from": ["polysomnography"]}]
    )
    decision["conclusion"] = {"action": "video_polysomnography", "urgency": "soon", "conditional": False}
    decision["current_medications"] = [
        {"drug": "sertraline", "action": "switch"},
        {"drug": "zopiclone", "action": "taper_and_stop"},
    ]
    got = [(i.category, i.text, i.ok) for i in bench.score_case(case, decision).items]
    assert got == [
        ("pathway", "first step polysomnography", True),  # the consolidated video-PSG answers it
        ("urgency", "first step soon", True),
        ("pathway", "conditional=True", False),
        ("current medications", "sertraline: switch", True),
        ("current medications", "metformin: continue", False),  # no row for a current drug is a miss
        ("current medications", "zopiclone not continue", True),
    ]


def test_score_cases_totals(bench: ModuleType) -> None:
    case = _case(bench, {"findings": ["plms", "plmd"], "treatments": {"oral_iron": "option"}})
    one = bench.score_case(case, _decision(["plms"], treatments={"oral_iron": "option"}))
    two = bench.score_case(case, _decision([], treatments={"oral_iron": "caution"}))
    total = bench.score_cases([one, two])
    zero = dict.fromkeys(casebank.CATEGORIES, 0)
    assert total.right == {**zero, "findings": 1, "treatment statuses": 1}
    assert total.total == {**zero, "findings": 4, "treatment statuses": 2}
    assert total.overall == pytest.approx(2 / 6)
    report = bench.format_report(total, [0.01, 0.03])
    assert "overall                 2 / 6      33.3 %" in report
    assert "t: [findings] want plmd; got absent" in report
    assert "safety failures: 0" in report


# ---------------------------------------------------------------- the gate on the real engine


def test_engine_has_zero_safety_failures(result: tuple) -> None:
    score, _ = result
    assert score.safety_failures == []


def test_engine_agreement_at_least_98_pct(result: tuple, bench: ModuleType) -> None:
    score, decision_s = result
    assert len(decision_s) == len(score.cases) >= 40
    assert score.overall >= MIN_OVERALL, bench.format_report(score, decision_s)


def test_check_decision_spec_flags_partial_seed_list_and_missing_rules(bench: ModuleType) -> None:
    seed = dict.fromkeys(bench.SEED_DRUGS, "not_recommended")
    complete = _decision(recs=[{"action": "reassurance", "rules": ["R1"]}], treatments=seed)
    for t in complete["treatments"]:
        t["rules"] = ["R2"]
    assert bench.check_decision_spec(complete) == ()
    assert bench.check_decision_spec(_decision()) == ()  # no drug discussed: nothing to list
    restriction_only = _decision(treatments={"sodium_valproate": "specialist_only"})
    restriction_only["treatments"][0].update(rules=["R3"], discussed=False)
    assert bench.check_decision_spec(restriction_only) == ()  # a bare safety restriction is not a discussion
    partial = _decision(recs=[{"action": "polysomnography"}], treatments={"sodium_valproate": "specialist_only"})
    assert bench.check_decision_spec(partial) == (
        "drugs discussed (sodium_valproate) but seed drugs missing: clonazepam, phenobarbital, phenytoin, primidone",
        "recommendation polysomnography names no rule",
        "treatment sodium_valproate (specialist_only) names no rule",
    )

"""Property-based safety sweep (issue 10): thousands of generated patients through the real rule base.

For every generated patient (ages from neonates to older adults, pregnancy, conditions, current, recently started and
past drugs with their outcomes, labs, free-text ancestry, a reported study, a drug asked about):

- no contraindicated drug is offered: the hard contraindications below, written from the clinical brief (section 7)
  and clinical review 2 independently of the rule files, never come out as option or caution, and a current drug
  they name is never simply continued; a drug that failed before is not offered again;
- no empty decision: a conclusion with an action and its time frame;
- the urgency is never lower than the most urgent red flag present requires (table below, from the brief's red
  flags and clinical review 2 A4/B8/C9/D15);
- a current drug the knowledge base knows always has a current-medication row;
- reruns are byte-identical (checked on the full decision, branches included, for every tenth patient).

The number of patients tried is printed in the terminal summary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from cds.decision import decide, dump_decision
from cds.facts.patient import parse_patient
from cds.rules.engine import load_rulebase

SWEEP_PATIENTS = int(__import__("os").environ.get("CDS_SWEEP_PATIENTS", "2000"))
SWEEP_SHARDS = 8  # the sweep runs as this many tests, so that parallel workers (pytest -n) can share it
URGENCY = ("routine", "soon", "urgent", "emergency")
OFFERED = ("option", "caution")

ANCESTRIES = (
    "Han Chinese",
    "Vietnamese",
    "south-east Asian",
    "Indian",
    "British",
    "white Irish",
    "mixed",
    "Thai/Irish",
    "American Indian",
    "unknown",
    "Nigerian",
)
FAILED = ("ineffective", "not_tolerated")

# Hard contraindications (clinical brief 7.1 BLOCK entries; clinical review 2 D12-D14, E19). Each: a test on the
# patient file and the drugs that must never be offered, nor continued unchanged when already taken.
HARD: tuple[tuple[str, Callable[[dict], bool], tuple[str, ...]], ...] = (
    ("pregnancy", lambda p: p.get("pregnant") is True, ("sodium_valproate", "temazepam", "triazolam")),
    (
        "acute porphyria",
        lambda p: "acute_porphyria" in p.get("conditions", ()),
        ("sodium_valproate", "phenobarbital", "primidone", "phenytoin", "carbamazepine"),
    ),
    (
        "HLA-B*15:02 carrier",
        lambda p: p.get("labs", {}).get("hla_b1502") == "positive",
        ("carbamazepine", "oxcarbazepine", "phenytoin", "fosphenytoin"),
    ),
    ("narrow-angle glaucoma", lambda p: "narrow_angle_glaucoma" in p.get("conditions", ()), ("clonazepam",)),
    ("myasthenia gravis", lambda p: "myasthenia_gravis" in p.get("conditions", ()), ("clonazepam",)),
    (
        "liver disease",
        lambda p: bool({"liver_disease", "cirrhosis", "hepatic_failure"} & set(p.get("conditions", ()))),
        ("sodium_valproate", "clonazepam"),
    ),
    (
        "POLG or urea-cycle disorder",
        lambda p: bool({"mitochondrial_disease_polg", "urea_cycle_disorder"} & set(p.get("conditions", ()))),
        ("sodium_valproate",),
    ),
    (
        "iron overload",
        lambda p: (
            "iron_overload" in p.get("conditions", ()) or p.get("labs", {}).get("transferrin_saturation_pct", 0) >= 45
        ),
        ("oral_iron", "iv_iron", "ferumoxytol", "iron_dextran_lmw", "iron_sucrose"),
    ),
    (
        "respiratory insufficiency",
        lambda p: "respiratory_insufficiency" in p.get("conditions", ()),
        ("clonazepam", "phenobarbital", "primidone"),
    ),
    (
        "childbearing potential outside the pregnancy prevention programme",
        lambda p: p.get("childbearing_potential") is True and p.get("pregnancy_prevention_programme") is False,
        ("sodium_valproate",),
    ),
)


# Minimum urgency of a red flag (clinical brief 4.2; clinical review 2 A4, B8, C9, D15).
def _symptom(name: str) -> Callable[[dict], bool]:
    return lambda p: p.get("symptoms", {}).get(name) is True


def _age(p: dict) -> float:
    return p["age_years"] if "age_years" in p else p["age_days"] / 365.25


MIN_URGENCY: tuple[tuple[str, Callable[[dict], bool], str], ...] = (
    ("encephalopathy", _symptom("encephalopathy"), "emergency"),
    ("negative myoclonus", _symptom("negative_myoclonus"), "emergency"),
    ("new focal deficit", _symptom("new_focal_deficit"), "emergency"),
    ("rapid cognitive decline", _symptom("rapid_cognitive_decline"), "emergency"),
    (
        "infantile spasms",
        lambda p: (
            _age(p) < 2
            and any(_symptom(s)(p) for s in ("spasm_clusters", "jerks_while_awake", "developmental_regression"))
        ),
        "emergency",
    ),
    (
        "neonatal seizure features",
        lambda p: (
            _age(p) < 1
            and (p.get("symptoms", {}).get("jerks_stop_on_waking") is False or _symptom("poor_feeding_or_apnoea")(p))
        ),
        "emergency",
    ),
    ("seizure", _symptom("seizure"), "urgent"),
    ("loss of consciousness", _symptom("loss_of_consciousness"), "urgent"),
    ("stereotyped hypermotor episodes", _symptom("stereotyped_nocturnal_episodes"), "urgent"),
    ("focal or asymmetric jerks", _symptom("focal_or_asymmetric_jerks"), "urgent"),
    ("epileptiform EEG", lambda p: p.get("labs", {}).get("eeg") == "epileptiform", "urgent"),
    ("hepatic failure", lambda p: "hepatic_failure" in p.get("conditions", ()), "urgent"),
    ("jerks while awake", lambda p: _age(p) >= 2 and _symptom("jerks_while_awake")(p), "soon"),
    ("progressive course", _symptom("progressive_course"), "soon"),
    ("parkinsonism", _symptom("parkinsonism"), "soon"),
    ("stimulus-sensitive jerks", _symptom("stimulus_sensitive_jerks"), "soon"),
    ("dream enactment", _symptom("dream_enactment"), "soon"),
)

TRIED = {"patients": 0, "full decisions": 0}


@pytest.fixture(scope="module")
def rulebase():
    return load_rulebase()


def _patients(kb: Any) -> st.SearchStrategy[dict]:
    meds = sorted(kb.medications)
    drugs = sorted(kb.drugs)
    symptoms_all = sorted(
        n.split(".", 1)[1] for n, f in kb.fields.items() if n.startswith("symptoms.") and f.type == "bool"
    )
    conditions = sorted(kb.vocab["conditions"])
    outcomes = sorted(kb.vocab["past_outcomes"])

    @st.composite
    def patient(draw: Any) -> dict:
        band = draw(st.sampled_from(("neonate", "infant", "toddler", "child", "adolescent", "adult", "older")))
        data: dict[str, Any] = {"schema": "cds.patient/v1.1", "id": "SWEEP"}
        if band in ("neonate", "infant"):
            data["age_days"] = draw(st.integers(1, 28) if band == "neonate" else st.integers(29, 364))
        else:
            lo, hi = {
                "toddler": (1, 2),
                "child": (3, 12),
                "adolescent": (13, 17),
                "adult": (18, 64),
                "older": (65, 95),
            }[band]
            data["age_years"] = draw(st.integers(lo, hi))
        data["sex"] = draw(st.sampled_from(("female", "male", "other", "unknown")))
        if data["sex"] == "female" and 15 <= data.get("age_years", 0) <= 50:
            for key in ("pregnant", "childbearing_potential", "pregnancy_prevention_programme"):
                if draw(st.booleans()):
                    data[key] = draw(st.booleans())
            if data.get("pregnant"):
                data["pregnancy_weeks"] = draw(st.integers(4, 40))
        symptoms = draw(st.lists(st.sampled_from(symptoms_all), max_size=14, unique=True))
        data["symptoms"] = {name: draw(st.booleans()) for name in symptoms}
        if draw(st.booleans()):
            data["conditions"] = draw(st.lists(st.sampled_from(conditions), max_size=4, unique=True))
        if draw(st.integers(0, 3)):
            data["medications"] = draw(st.lists(st.sampled_from(meds), max_size=5, unique=True))
        if draw(st.booleans()):
            data["medication_changes"] = [
                {"drug": d, "days_ago": draw(st.integers(1, 60))}
                for d in draw(st.lists(st.sampled_from(meds), max_size=2, unique=True))
            ]
        if draw(st.booleans()):
            data["past_medications"] = [
                {"drug": d, "outcome": draw(st.sampled_from(outcomes))}
                for d in draw(st.lists(st.sampled_from(meds), max_size=3, unique=True))
            ]
        labs: dict[str, Any] = {}
        for key, strategy in (
            ("ferritin_ng_ml", st.integers(5, 400)),
            ("transferrin_saturation_pct", st.integers(5, 60)),
            ("creatinine_clearance_ml_min", st.integers(5, 130)),
            ("egfr_ml_min", st.integers(5, 130)),
            ("hla_b1502", st.sampled_from(("positive", "negative"))),
            ("hla_a3101", st.sampled_from(("positive", "negative"))),
            ("eeg", st.sampled_from(("normal", "epileptiform", "not_done"))),
        ):
            if draw(st.integers(0, 2)) == 0:
                labs[key] = draw(strategy)
        if labs:
            data["labs"] = labs
        if draw(st.integers(0, 2)) == 0:
            data["ancestry"] = draw(st.sampled_from(ANCESTRIES))
        if draw(st.integers(0, 2)) == 0:
            data["polysomnography"] = {
                "respiratory_channels": draw(st.booleans()),
                "total_sleep_time_h": draw(st.sampled_from((2.5, 5.0, 6.8))),
                "plms_index": draw(st.integers(0, 80)),
                "ahi": draw(st.integers(0, 40)),
            }
        if draw(st.integers(0, 3)) == 0:
            data["requested_treatment"] = draw(st.sampled_from(drugs))
        return data

    return patient()


def _check(decision: dict, data: dict, kb: Any) -> None:
    statuses = {t["drug"]: t["status"] for t in decision["treatments"]}
    rows = {m["drug"]: m for m in decision["current_medications"]}
    for name, test, drugs in HARD:
        if test(data):
            for drug in drugs:
                assert statuses.get(drug) not in OFFERED, f"{drug} offered ({statuses.get(drug)}) despite {name}"
                if drug in rows:
                    assert rows[drug]["action"] != "continue", f"current {drug} continued despite {name}"
    failed = {m["drug"] for m in data.get("past_medications", ()) if m["outcome"] in FAILED}
    for drug in failed & set(statuses):
        assert statuses[drug] not in OFFERED, f"{drug} offered again although it failed before"
    conclusion = decision["conclusion"]
    assert conclusion["action"] and conclusion["interval"], "empty decision"
    urgencies = [r["urgency"] for r in decision["recommendations"]] + [conclusion["urgency"]]
    top = max(URGENCY.index(u) for u in urgencies)
    for name, test, needed in MIN_URGENCY:
        if test(data):
            assert top >= URGENCY.index(needed), f"{name} needs {needed}, decision gives {URGENCY[top]}"
    current = set(data.get("medications", ())) | {c["drug"] for c in data.get("medication_changes", ())}
    for drug in current:
        name = kb.canonical_drug_name(drug)
        if kb.medication_classes(name) is not None:
            assert name in rows, f"current drug {name} has no current-medication row"


@pytest.mark.parametrize("shard", range(SWEEP_SHARDS))
def test_generated_patients_are_never_unsafe_empty_or_under_triaged(rulebase, shard):
    """One of SWEEP_SHARDS parts of the sweep, each its own fixed seed (reproducible; parallel test workers
    share the parts out)."""
    kb = rulebase.kb
    wanted = -(-SWEEP_PATIENTS // SWEEP_SHARDS)
    before = TRIED["patients"]

    @seed(20261208 + shard)
    @settings(
        max_examples=wanted,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=_patients(kb))
    def check(data: dict) -> None:
        patient = parse_patient(data, path="sweep.yaml", knowledge=kb)
        TRIED["patients"] += 1
        full = TRIED["patients"] % 10 == 0
        decision = decide(rulebase, patient, patient_sha256="0" * 64, counterfactuals=full)
        _check(decision.to_record(), data, kb)
        if full:
            TRIED["full decisions"] += 1
            again = decide(rulebase, patient, patient_sha256="0" * 64)
            assert dump_decision(decision) == dump_decision(again), "rerun not byte-identical"

    check()
    assert TRIED["patients"] - before >= wanted


def _decision(treatments: dict, urgency: str = "routine", rows: dict | None = None) -> dict:
    return {
        "treatments": [{"drug": d, "status": s} for d, s in treatments.items()],
        "current_medications": [{"drug": d, "action": a} for d, a in (rows or {}).items()],
        "recommendations": [{"action": "reassurance", "urgency": urgency}],
        "conclusion": {"action": "reassurance", "urgency": urgency, "interval": "x"},
    }


@pytest.mark.parametrize(
    ("data", "decision", "message"),
    [
        ({"pregnant": True, "age_years": 30}, _decision({"sodium_valproate": "caution"}), "despite pregnancy"),
        (
            {"conditions": ["acute_porphyria"], "age_years": 30, "medications": ["phenytoin"]},
            _decision({}, rows={"phenytoin": "continue"}),
            "current phenytoin continued",
        ),
        (
            {"age_years": 30, "past_medications": [{"drug": "pregabalin", "outcome": "ineffective"}]},
            _decision({"pregabalin": "option"}),
            "offered again",
        ),
        ({"age_years": 30, "symptoms": {"encephalopathy": True}}, _decision({}, "urgent"), "needs emergency"),
        ({"age_days": 200, "symptoms": {"spasm_clusters": True}}, _decision({}, "urgent"), "infantile spasms"),
        ({"age_years": 30, "medications": ["sertraline"]}, _decision({}), "has no current-medication row"),
    ],
)
def test_the_sweep_oracle_catches_each_kind_of_error(rulebase, data, decision, message):
    """The invariants can fail: each hand-made unsafe decision is caught with its reason."""
    with pytest.raises(AssertionError, match=message):
        _check(decision, data, rulebase.kb)
    empty = _decision({})
    empty["conclusion"] = {"action": "", "urgency": "routine", "interval": ""}
    with pytest.raises(AssertionError, match="empty decision"):
        _check(empty, {"age_years": 30}, rulebase.kb)

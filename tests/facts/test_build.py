"""Facts from a patient and from a `cds analyze` result: unknown is not false; null is unknown, never 0."""

from __future__ import annotations

from cds.facts.build import build_patient_facts, build_recording_facts
from cds.facts.patient import parse_patient


def facts(kb, **fields):
    p = parse_patient({"schema": "cds.patient/v1", "id": "T", **fields}, path="t.yaml", knowledge=kb)
    return {(d.field, d.source): d for d in build_patient_facts(p, kb)}


def value(f, name, source="patient"):
    d = f[(name, source)]
    return d.value if d.known else "unknown"


def test_omitted_fields_are_unknown(tiny_kb):
    f = facts(tiny_kb, age_years=40, pregnant=False)
    assert value(f, "pregnant") is False
    assert value(f, "symptoms.insomnia") == "unknown"
    assert value(f, "psg.plms_index", "reported") == "unknown"
    assert ("psg.leg_channels", "reported") not in f  # recording-only field


def test_conditions_listed_true_others_false_no_list_unknown(tiny_kb):
    listed = facts(tiny_kb, age_years=40, conditions=["epilepsy"])
    assert value(listed, "conditions.epilepsy") is True
    assert value(listed, "conditions.restless_legs_syndrome") is False
    none = facts(tiny_kb, age_years=40)
    assert value(none, "conditions.epilepsy") == "unknown"


def test_medications_and_classes(tiny_kb):
    f = facts(tiny_kb, age_years=40, medications=["oxycodone"])
    assert value(f, "medications.oxycodone") is True and value(f, "medications.sertraline") is False
    assert value(f, "drug_classes.opioid") is True and value(f, "drug_classes.ssri") is False
    assert value(f, "recent_drug_classes.opioid") == "unknown"
    unknown_drug = facts(tiny_kb, age_years=40, medications=["oxycodone", "mysterium"])
    assert value(unknown_drug, "drug_classes.opioid") is True
    assert value(unknown_drug, "drug_classes.ssri") == "unknown"  # mysterium might be one
    none = facts(tiny_kb, age_years=40)
    assert value(none, "drug_classes.opioid") == "unknown"


def test_medication_changes_give_recent_classes_and_current_use(tiny_kb):
    f = facts(tiny_kb, age_years=40, medication_changes=[{"drug": "sertraline", "days_ago": 10}])
    assert value(f, "recent_drug_classes.ssri") is True and value(f, "recent_drug_classes.opioid") is False
    assert value(f, "drug_classes.ssri") is True
    assert value(f, "drug_classes.opioid") == "unknown"  # no medications list: other current drugs unknown


def test_derived_age_and_crcl(tiny_kb):
    f = facts(tiny_kb, age_days=365, labs={"creatinine_clearance_ml_min": 38})
    assert value(f, "age_years") == round(365 / 365.25, 4)
    assert value(f, "renal.crcl_ml_min") == 38
    g = facts(tiny_kb, age_years=5)
    assert value(g, "renal.crcl_ml_min") == "unknown"


def test_recording_facts_map_sections_and_nulls(tiny_kb):
    analysis = {
        "schema": "cds.analysis/v1",
        "recording": {"sha256": "cd" * 32},
        "standard": "aasm",
        "leg_movements": {"plms_index": 12.5, "plmw_index": None, "unavailable": {"plmw_index": "no wake"}},
        "sleep": {"total_sleep_time_min": 390, "stage_minutes": {"R": 70}},
        "fragmentary_myoclonus": {"excessive": False, "minutes_meeting_rule": 3},
        "sleep_onset_jerks": {"count": 0},
        "respiratory": {"scored": False},
        "channels": [{"name": "LAT", "role": "leg_left"}, {"name": "RAT", "role": "leg_right"}, {"role": "eeg"}],
        "caveats": [{"code": "short_recording", "text": "Under 4 h of sleep.", "channel": None}],
    }
    records, caveats = build_recording_facts(analysis, tiny_kb)
    got = {d.field: (d.value if d.known else "unknown") for d in records}
    assert got["psg.plms_index"] == 12.5
    assert got["psg.plmw_index"] == "unknown"
    assert got["psg.total_sleep_time_h"] == 6.5
    assert got["psg.rem_minutes"] == 70 and got["psg.efm_minutes"] == 3 and got["psg.efm_excessive"] is False
    assert got["psg.sleep_start_jerks"] == 0  # a measured zero stays a zero
    assert got["psg.respiratory_channels"] is False and got["psg.leg_channels"] == 2
    assert got["psg.lm_index"] == "unknown"  # absent from the analysis
    assert all(d.source == "recording" and d.recording_sha256 == "cd" * 32 and d.method == "aasm" for d in records)
    assert [c.code for c in caveats] == ["short_recording"]


def test_empty_analysis_gives_only_unknowns(tiny_kb):
    records, caveats = build_recording_facts({}, tiny_kb)
    assert records and not any(d.known for d in records) and caveats == []


def test_an_allergy_covers_every_product_of_the_same_active_drug():
    """Gabapentin enacarbil delivers gabapentin (Horizant label): a DRESS on gabapentin is an allergy to both;
    a drug that merely failed does not spread to its prodrug."""
    from cds.kb import load_knowledge

    kb = load_knowledge()
    base = {"age_years": 40, "schema": "cds.patient/v1.1"}
    allergic = facts(kb, **base, past_medications=[{"drug": "gabapentin", "outcome": "allergy"}])
    assert value(allergic, "past_allergy.gabapentin") is True
    assert value(allergic, "past_allergy.gabapentin_enacarbil") is True
    assert value(allergic, "past_allergy.pregabalin") is False  # another drug of the class, not the same drug
    failed = facts(kb, **base, past_medications=[{"drug": "gabapentin", "outcome": "ineffective"}])
    assert value(failed, "past_failed.gabapentin") is True
    assert value(failed, "past_failed.gabapentin_enacarbil") is False
    fos = facts(kb, **base, past_medications=[{"drug": "fosphenytoin", "outcome": "allergy"}])
    assert value(fos, "past_allergy.phenytoin") is True


def test_conditions_absent_lists_the_negatives_and_leaves_the_rest_unknown(tiny_kb):
    """Patient v1.1 (issue 12): what an EHR problem list says is present, and what was refuted, and no more."""
    f = facts(tiny_kb, age_years=40, conditions=["epilepsy"], conditions_absent=["restless_legs_syndrome"])
    assert value(f, "conditions.epilepsy") is True
    assert value(f, "conditions.restless_legs_syndrome") is False
    assert value(f, "conditions.chronic_kidney_disease") == "unknown"
    only_absent = facts(tiny_kb, age_years=40, conditions_absent=["epilepsy"])
    assert value(only_absent, "conditions.epilepsy") is False
    assert value(only_absent, "conditions.restless_legs_syndrome") == "unknown"


def test_condition_both_present_and_absent_is_an_error(tiny_kb):
    import pytest

    from cds.errors import PatientFileError

    with pytest.raises(PatientFileError, match="'epilepsy' is listed both as present"):
        facts(tiny_kb, age_years=40, conditions=["epilepsy"], conditions_absent=["epilepsy"])
    with pytest.raises(PatientFileError, match="medications_complete: expected true or false"):
        facts(tiny_kb, age_years=40, medications=[], medications_complete="no")


def test_incomplete_medication_list_leaves_unlisted_drugs_and_classes_unknown(tiny_kb):
    complete = facts(tiny_kb, age_years=40, medications=["sertraline"])
    partial = facts(tiny_kb, age_years=40, medications=["sertraline"], medications_complete=False)
    assert value(complete, "medications.sertraline") is True and value(partial, "medications.sertraline") is True
    assert value(complete, "drug_classes.ssri") is True and value(partial, "drug_classes.ssri") is True
    assert value(complete, "drug_classes.opioid") is False
    assert value(partial, "drug_classes.opioid") == "unknown"
    assert value(complete, "drug_class_counts.ssri") == 1
    assert value(partial, "drug_class_counts.ssri") == "unknown"  # only a lower bound


def test_incomplete_past_medication_list_leaves_unlisted_drugs_unknown():
    from cds.kb import load_knowledge

    kb = load_knowledge()
    past = [{"drug": "carbamazepine", "outcome": "allergy"}]
    partial = facts(kb, age_years=40, past_medications=past, past_medications_complete=False)
    assert value(partial, "past_allergy.carbamazepine") is True
    assert value(partial, "past_allergy.phenytoin") == "unknown"
    assert value(partial, "past_failed.gabapentin") == "unknown"
    assert value(partial, "past_medications_count") == "unknown"
    complete = facts(kb, age_years=40, past_medications=past)
    assert value(complete, "past_failed.gabapentin") is False

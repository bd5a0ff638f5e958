"""Turn a patient context and a ``cds analyze`` result into input facts (DatumRecord), unknowns included.

Semantics from rules/README.md ("Unknown is not false"): a field the file omits is unknown; ``conditions.*``
are true when listed, false when a ``conditions:`` list exists without them, unknown without a list; the same
for ``medications.*`` and ``drug_classes.*`` (and ``recent_drug_classes.*`` from ``medication_changes``). A drug
named in ``medication_changes`` counts as currently taken. When a listed medication is not in drugs.yaml its
classes are unknown, so the classes not shown true by other drugs become unknown rather than false.
"""

from __future__ import annotations

from typing import Any

from cds.caveats import Caveat
from cds.facts.patient import PatientContext
from cds.facts.types import DatumRecord
from cds.fieldspec import COUNT_FAMILY, DRUG_CLASS_FAMILIES, DRUG_NAME_FAMILIES, FAMILIES, MONTHS_FAMILY
from cds.kb import Knowledge, normalise_term

__all__ = ["RECORDING_MAP", "ancestry_hla_b1502_risk", "build_patient_facts", "build_recording_facts"]

# (section, key) of a cds.analysis/v1 document -> psg.* field (transform applied to the value).
RECORDING_MAP: dict[str, tuple[str, str, float]] = {
    "psg.plms_index": ("leg_movements", "plms_index", 1.0),
    "psg.plms_index_including_rrlm": ("leg_movements", "plms_index_including_respiratory", 1.0),
    "psg.plmw_index": ("leg_movements", "plmw_index", 1.0),
    "psg.lm_index": ("leg_movements", "lms_index", 1.0),
    "psg.periodicity_index": ("leg_movements", "periodicity_index", 1.0),
    "psg.plms_arousal_index": ("leg_movements", "plms_arousal_index", 1.0),
    "psg.total_sleep_time_h": ("sleep", "total_sleep_time_min", 1 / 60),
    "psg.efm_minutes": ("fragmentary_myoclonus", "minutes_meeting_rule", 1.0),
    "psg.efm_excessive": ("fragmentary_myoclonus", "excessive", 1.0),
    "psg.sleep_start_jerks": ("sleep_onset_jerks", "count", 1.0),
    "psg.rswa_tonic_chin_pct": ("rswa", "tonic_chin_pct", 1.0),
    "psg.rswa_phasic_chin_pct": ("rswa", "phasic_chin_pct", 1.0),
    "psg.rswa_any_chin_pct": ("rswa", "any_chin_pct", 1.0),
    "psg.rem_ahi": ("rswa", "rem_ahi_per_h", 1.0),  # from the scored respiratory events, when given
}


def _family(
    out: list[DatumRecord], names: list[str], true: set[str], known: bool, *, unknown_others: bool = False
) -> None:
    for name in names:
        if name.split(".", 1)[1] in true:
            out.append(DatumRecord(name, True, True, "patient"))
        elif known and not unknown_others:
            out.append(DatumRecord(name, False, True, "patient"))
        else:
            out.append(DatumRecord(name, None, False, "patient"))


def _conditions(out: list[DatumRecord], names: list[str], patient: PatientContext) -> None:
    """``conditions.*``: listed true; with v1.1 ``conditions_absent``, those false and every other unknown; without
    it, a given ``conditions:`` list makes the others false (v1) and no list leaves them unknown."""
    present = set(patient.conditions or ())
    if patient.conditions_absent is None:
        _family(out, names, present, patient.conditions is not None)
        return
    absent = set(patient.conditions_absent)
    for name in names:
        code = name.split(".", 1)[1]
        if code in present or code in absent:
            out.append(DatumRecord(name, code in present, True, "patient"))
        else:
            out.append(DatumRecord(name, None, False, "patient"))


def _classes(names: list[str], kb: Knowledge) -> tuple[set[str], bool]:
    """Classes of ``names`` and whether any name had unknown classes."""
    classes: set[str] = set()
    unknown = False
    for name in names:
        found = kb.medication_classes(name)
        if found is None:
            unknown = True
        else:
            classes |= set(found)
    return classes, unknown


def ancestry_hla_b1502_risk(text: str, knowledge: Knowledge) -> bool | None:
    """Free-text ancestry -> at risk for HLA-B*15:02 (True), not at risk (False) or not recognised (None).

    Case, spaces and punctuation do not matter; a term of vocab.yaml ``ancestry_terms`` matches when its words
    appear in order in the text ("Han Chinese (Guangdong)" matches ``han_chinese``). The longest matching terms
    decide ("American Indian" is not "Indian"); any at-risk term among them makes the patient at risk (mixed
    ancestry). CPIC (Phillips 2018) lists the at-risk populations.
    """
    words = normalise_term(text).split("_")
    padded = "_" + "_".join(words) + "_"
    matches = []
    for term, group in knowledge.vocab.get("ancestry_terms", {}).items():
        if f"_{term}_" in padded:
            matches.append((term, group))
    # drop a term contained in a longer matching term ("indian" inside "american_indian")
    kept = [(t, g) for t, g in matches if not any(t != u and f"_{t}_" in f"_{u}_" for u, _ in matches)]
    groups = {g for _, g in kept}
    if "hla_b1502_risk" in groups:
        return True
    return False if groups else None


def build_patient_facts(patient: PatientContext, knowledge: Knowledge) -> list[DatumRecord]:
    """Every field of the registry that a patient file can supply, known or not, sorted by field name."""
    out: list[DatumRecord] = []
    fields = knowledge.fields
    values = dict(patient.values)
    if "age_years" not in values and "age_days" in values:
        values["age_years"] = round(values["age_days"] / 365.25, 4)
    if "labs.creatinine_clearance_ml_min" in values:
        values["renal.crcl_ml_min"] = values["labs.creatinine_clearance_ml_min"]
    if patient.medication_changes is not None:
        values["recent_medication_change"] = bool(patient.medication_changes)
    if isinstance(values.get("ancestry"), str):
        risk = ancestry_hla_b1502_risk(values["ancestry"], knowledge)
        if risk is not None:
            values["ancestry_hla_b1502_risk"] = risk
    if patient.medications is not None and patient.medications_complete:
        changed_names = {str(c["drug"]) for c in patient.medication_changes or ()}
        values["medications_count"] = len(set(patient.medications) | changed_names)
    if patient.past_medications is not None and patient.past_medications_complete:
        values["past_medications_count"] = len({str(m["drug"]) for m in patient.past_medications})
    for name, spec in fields.items():
        if name.split(".", 1)[0] in FAMILIES:
            continue
        source = "reported" if name.startswith("psg.") else "patient"
        if source not in spec.sources:
            continue
        if name in values:
            out.append(DatumRecord(name, values[name], True, source))
        else:
            out.append(DatumRecord(name, None, False, source))
    by_prefix: dict[str, list[str]] = {}
    for name in fields:
        by_prefix.setdefault(name.split(".", 1)[0], []).append(name)
    _conditions(out, by_prefix.get("conditions", []), patient)
    changed = [str(c["drug"]) for c in patient.medication_changes or ()]
    current = sorted(set(patient.medications or ()) | set(changed))
    current_known = patient.medications is not None
    complete = patient.medications_complete  # v1.1: false = a drug not listed is unknown
    changes_known = patient.medication_changes is not None
    past = list(patient.past_medications or ())
    past_known = patient.past_medications is not None
    failed_outcomes = knowledge.policy_obj.failed_outcomes
    failed = [str(m["drug"]) for m in past if m["outcome"] in failed_outcomes]

    def by_outcome(outcome: str) -> list[str]:
        return [str(m["drug"]) for m in past if m["outcome"] == outcome]

    names = {  # drug-name family -> (names true, whether the list is known)
        "medications": (current, current_known),
        "recent_medications": (changed, changes_known),
        "past_medications": ([str(m["drug"]) for m in past], past_known),
        "past_failed": (failed, past_known),
        "past_allergy": (by_outcome("allergy"), past_known),
    }
    for prefix in DRUG_NAME_FAMILIES:
        listed, known = names[prefix]
        with_products = set(listed) | {knowledge.products[n] for n in listed if n in knowledge.products}
        if prefix == "past_allergy":  # a hypersensitivity is to the active drug, whichever product delivers it
            with_products |= {d for n in set(with_products) for d in knowledge.same_active.get(n, ())}
        partial = (prefix == "medications" and not complete) or (
            prefix.startswith("past_") and not patient.past_medications_complete
        )
        _family(out, by_prefix.get(prefix, []), with_products, known, unknown_others=partial)
    class_lists = {  # drug-class family -> (drugs whose classes count, whether the list is known)
        "drug_classes": (current, current_known),
        "recent_drug_classes": (changed, changes_known),
        "past_drug_classes": ([str(m["drug"]) for m in past], past_known),
        "past_failed_classes": (failed, past_known),
        "past_augmentation_classes": (by_outcome("augmentation"), past_known),
        "past_impulse_control_classes": (by_outcome("impulse_control_disorder"), past_known),
    }
    for prefix in DRUG_CLASS_FAMILIES:
        drugs, known = class_lists[prefix]
        classes, unknown = _classes(drugs, knowledge)
        unknown = unknown or (prefix == "drug_classes" and not complete)
        unknown = unknown or (prefix.startswith("past_") and not patient.past_medications_complete)
        _family(out, by_prefix.get(prefix, []), classes, known, unknown_others=unknown)
    for name in by_prefix.get(COUNT_FAMILY, []):
        cls = name.split(".", 1)[1]
        if current_known and complete:
            count = sum(1 for d in current if cls in (knowledge.medication_classes(d) or ()))
            out.append(DatumRecord(name, count, True, "patient"))
        else:
            out.append(DatumRecord(name, None, False, "patient"))
    taken_classes = {c for d in current for c in knowledge.medication_classes(d) or ()}
    for name in by_prefix.get(MONTHS_FAMILY, []):  # only for classes the patient takes: elsewhere it has no meaning
        if name.split(".", 1)[1] in taken_classes:
            months = _class_months(name.split(".", 1)[1], current, patient, knowledge)
            out.append(DatumRecord(name, months, months is not None, "patient"))
    return sorted(out, key=lambda d: (d.field, d.source))


def _class_months(cls: str, current: list[str], patient: PatientContext, knowledge: Knowledge) -> float | None:
    """Months the most recently started current drug of ``cls`` has been taken (v1.1 ``since_months``); unknown
    when no current drug is of the class or when one of them does not say how long it has been taken."""
    members = [d for d in current if cls in (knowledge.medication_classes(d) or ())]
    months = [(patient.medication_details.get(d) or {}).get("since_months") for d in members]
    known = [float(m) for m in months if m is not None]
    if not members or len(known) < len(months):
        return None
    return min(known)


def _count_leg_channels(analysis: dict[str, Any]) -> int | None:
    channels = analysis.get("channels") or analysis.get("recording", {}).get("channels")
    if isinstance(channels, list):
        return sum(1 for c in channels if isinstance(c, dict) and str(c.get("role", "")).startswith("leg"))
    legs = analysis.get("leg_movements", {}).get("channels")
    return len(legs) if isinstance(legs, list) else None


def build_recording_facts(analysis: dict[str, Any], knowledge: Knowledge) -> tuple[list[DatumRecord], list[Caveat]]:
    """Map a cds.analysis/v1 document to psg.* facts (source recording) and its caveats.

    A null value (its section says why under ``unavailable``) is an unknown Datum, never 0.
    """
    sha = (analysis.get("recording") or {}).get("sha256") or analysis.get("sha256")
    method = str(analysis.get("standard") or (analysis.get("parameters") or {}).get("standard") or "cds analyze")

    def rec(name: str, value: Any) -> DatumRecord:
        if value is None or name not in knowledge.fields:
            return DatumRecord(name, None, False, "recording", sha, method)
        if knowledge.fields[name].type == "number" and not isinstance(value, bool):
            value = round(float(value), 6)
        return DatumRecord(name, value, True, "recording", sha, method)

    out: list[DatumRecord] = []
    for name, (section, key, scale) in RECORDING_MAP.items():
        value = (analysis.get(section) or {}).get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and scale != 1.0:
            value = value * scale
        out.append(rec(name, value))
    rem = ((analysis.get("sleep") or {}).get("stage_minutes") or {}).get("R")
    out.append(rec("psg.rem_minutes", rem))
    respiratory = analysis.get("respiratory")
    has_resp = None
    if isinstance(respiratory, dict):
        has_resp = respiratory.get("scored", respiratory.get("present"))
    elif isinstance(respiratory, bool):
        has_resp = respiratory
    out.append(rec("psg.respiratory_channels", has_resp))
    out.append(rec("psg.leg_channels", _count_leg_channels(analysis)))
    caveats = []
    for item in analysis.get("caveats") or []:
        if isinstance(item, dict) and "code" in item:
            caveats.append(Caveat(str(item["code"]), str(item.get("text", "")), item.get("channel")))
    return sorted(out, key=lambda d: d.field), caveats

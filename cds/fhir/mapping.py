"""FHIR R4 -> patient file (``cds.patient/v1.1``): the table of docs/fhir-mapping.md, codes from
knowledge/fhir-codes.yaml.

Absent data is unknown, never false: a field the record does not give is left out of the patient file; a
problem list or medication list from an EHR names what is present and says that the rest is unknown
(``conditions_absent``, ``medications_complete: false``, ``past_medications_complete: false``; docs/patient-file.md).
Everything that was not used, and why, is returned as ``notes`` for the card and the log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

from cds.fhir.codes import FhirCodes
from cds.fhir.resources import codings, concept_texts, effective_date
from cds.kb import Knowledge, normalise_term

__all__ = ["FhirRecord", "MappedPatient", "identify_drug", "map_patient", "pseudonym"]

_INFANT_DAYS = 730  # below 2 years the patient file takes age_days (patient-v1: infants)
_US_CORE_ANCESTRY = ("us-core-race", "us-core-ethnicity")
_CURRENT_REQUEST = ("active", "on-hold")
_CURRENT_STATEMENT = ("active", "intended")
_FINAL_OBSERVATION = ("final", "amended", "corrected")
_INACTIVE_CLINICAL = ("inactive", "resolved", "remission")


@dataclass(frozen=True)
class FhirRecord:
    """Validated resources of one patient; ``None`` for a kind that was not available (unknown, not empty)."""

    patient: Any
    conditions: list[Any] | None = None
    medication_requests: list[Any] | None = None
    medication_statements: list[Any] | None = None
    observations: list[Any] | None = None
    allergies: list[Any] | None = None
    fhir_server: str = ""


@dataclass
class MappedPatient:
    """The patient file as a mapping, and what was left out and why (one sentence each)."""

    document: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def pseudonym(fhir_server: str, patient_id: str) -> str:
    """A stable pseudonym for the letter and the log: no EHR identifier leaves the record system in clear."""
    digest = hashlib.sha256(f"{fhir_server}|{patient_id}".encode()).hexdigest()
    return f"F-{digest[:12]}"


def map_patient(record: FhirRecord, kb: Knowledge, codes: FhirCodes, *, today: dt.date) -> MappedPatient:
    """Build the patient-file mapping of ``record`` (validated by cds.facts.patient afterwards, like any file)."""
    out = MappedPatient({"schema": "cds.patient/v1.1", "id": pseudonym(record.fhir_server, record.patient.id or "")})
    _demographics(record.patient, out, today)
    if record.conditions is not None:
        _conditions(record.conditions, codes, out)
    else:
        out.notes.append("Conditions were not available: every condition is unknown.")
    _medications(record, kb, codes, out)
    if record.observations is not None:
        _observations(record.observations, kb, codes, out)
    else:
        out.notes.append("Observations were not available: laboratory values and pregnancy status are unknown.")
    if record.allergies is not None:
        _allergies(record.allergies, kb, codes, out)
    return out


def _demographics(patient: Any, out: MappedPatient, today: dt.date) -> None:
    doc = out.document
    if patient.gender in ("female", "male", "other", "unknown"):
        doc["sex"] = patient.gender
    birth = patient.birthDate
    if isinstance(birth, str):  # a partial date (year, or year-month): the age is approximate
        parts = [int(p) for p in birth.split("-")]
        birth = dt.date(parts[0], parts[1] if len(parts) > 1 else 1, 1)
        out.notes.append("The birth date is given only in part; the age is counted from its first day.")
    if isinstance(birth, dt.date):
        days = (today - birth).days
        if days < 0:
            out.notes.append("The birth date lies in the future; the age is unknown.")
        elif days < _INFANT_DAYS:
            doc["age_days"] = days
        else:
            doc["age_years"] = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    ancestry = _ancestry(patient)
    if ancestry:
        doc["ancestry"] = ancestry


def _ancestry(patient: Any) -> str:
    """Free text from the US Core race and ethnicity extensions (text and codings' displays), matched later
    against knowledge/vocab.yaml ancestry_terms like any ancestry text."""
    texts: list[str] = []
    for ext in patient.extension or []:
        if not any(ext.url.endswith(name) for name in _US_CORE_ANCESTRY):
            continue
        for sub in ext.extension or []:
            if sub.valueString:
                texts.append(sub.valueString)
            elif sub.valueCoding is not None and sub.valueCoding.display:
                texts.append(sub.valueCoding.display)
    return "; ".join(dict.fromkeys(texts))


def _status(concept: Any) -> str:
    return next((code for _, code, _ in codings(concept) if code), "")


def _condition_code(concept: Any, codes: FhirCodes) -> str | None:
    for system, code, _ in codings(concept):
        if system == codes.systems["snomed"] and code in codes.condition_snomed:
            return codes.condition_snomed[code]
        if system in (codes.systems["icd10cm"], codes.systems["icd10"]):
            for prefix, condition in codes.condition_icd10:
                if code.startswith(prefix):
                    return condition
    return None


def _is_pregnancy(concept: Any, codes: FhirCodes) -> bool:
    for system, code, _ in codings(concept):
        if system == codes.systems["snomed"] and code in codes.pregnancy_snomed:
            return True
        if system in (codes.systems["icd10cm"], codes.systems["icd10"]) and code.startswith(codes.pregnancy_icd10):
            return True
    return False


def _conditions(conditions: list[Any], codes: FhirCodes, out: MappedPatient) -> None:
    present: set[str] = set()
    absent: set[str] = set()
    for condition in conditions:
        verification = _status(condition.verificationStatus)
        clinical = _status(condition.clinicalStatus)
        if verification == "entered-in-error" or clinical in _INACTIVE_CLINICAL:
            continue
        name = " / ".join(concept_texts(condition.code)) or "a condition without text"
        if _is_pregnancy(condition.code, codes):
            if verification != "refuted":
                out.document["pregnant"] = True
            continue
        code = _condition_code(condition.code, codes)
        if code is None:
            out.notes.append(f"Condition not used (no code cds knows): {name}.")
        elif verification == "refuted":
            absent.add(code)
        else:
            present.add(code)
    out.document["conditions"] = sorted(present)
    out.document["conditions_absent"] = sorted(absent - present)  # a problem list is never complete


def identify_drug(concept: Any, kb: Knowledge, codes: FhirCodes) -> str | None:
    """The knowledge base's drug name for a medication concept: an RxNorm ingredient of fhir-codes.yaml, else a
    drug name or alias found in its text or displays (longest run of words first), else None."""
    for system, code, _ in codings(concept):
        if system == codes.systems["rxnorm"] and code in codes.rxnorm:
            return codes.rxnorm[code]
    known = set(kb.drugs) | set(kb.medications)
    for text in concept_texts(concept):
        words = normalise_term(text).split("_")
        for size in range(min(4, len(words)), 0, -1):
            for start in range(len(words) - size + 1):
                name = kb.canonical_drug_name("_".join(words[start : start + size]))
                if name in known:
                    return name
    return None


def _medication_name(resource: Any, kb: Knowledge, codes: FhirCodes, out: MappedPatient) -> str | None:
    concept = getattr(resource, "medicationCodeableConcept", None)
    if concept is None:
        ref = getattr(resource, "medicationReference", None)
        text = (ref.display if ref is not None else None) or ""
        name = kb.canonical_drug_name(text) if text else None
        if not name:
            out.notes.append("A medication given only by reference was not resolved; it is unknown.")
        return name or None
    name = identify_drug(concept, kb, codes)
    if name is None:
        texts = concept_texts(concept)
        return kb.canonical_drug_name(texts[0]) if texts else None  # kept: its classes are unknown (a caveat)
    return name


def _medications(record: FhirRecord, kb: Knowledge, codes: FhirCodes, out: MappedPatient) -> None:
    if record.medication_requests is None and record.medication_statements is None:
        out.notes.append("Medications were not available: every current drug is unknown.")
        return
    names: set[str] = set()
    for request in record.medication_requests or []:
        if request.status in _CURRENT_REQUEST:
            name = _medication_name(request, kb, codes, out)
            names.update([name] if name else [])
    for statement in record.medication_statements or []:
        if statement.status in _CURRENT_STATEMENT:
            name = _medication_name(statement, kb, codes, out)
            names.update([name] if name else [])
    out.document["medications"] = sorted(names)
    out.document["medications_complete"] = False  # an EHR list may miss drugs bought or prescribed elsewhere


def _observations(observations: list[Any], kb: Knowledge, codes: FhirCodes, out: MappedPatient) -> None:
    latest: dict[str, tuple[str, Any]] = {}
    for obs in observations:
        if obs.status not in _FINAL_OBSERVATION:
            continue
        for system, code, _ in codings(obs.code):
            if system != codes.systems["loinc"]:
                continue
            key = codes.observations[code][0] if code in codes.observations else codes.coded_loinc.get(code)
            if key and (key not in latest or effective_date(obs) > latest[key][0]):
                latest[key] = (effective_date(obs), obs)
    for key, (_, obs) in sorted(latest.items()):
        if key in codes.coded:
            _coded_observation(key, obs, codes, out)
        else:
            _quantity(key, obs, kb, codes, out)


def _quantity(name: str, obs: Any, kb: Knowledge, codes: FhirCodes, out: MappedPatient) -> None:
    quantity = obs.valueQuantity
    label = kb.fields[name].description
    if quantity is None or quantity.value is None:
        out.notes.append(f"{label}: the observation has no numeric value; unknown.")
        return
    units = next(units for loinc, (field_name, units) in codes.observations.items() if field_name == name)
    unit = quantity.code or quantity.unit or ""
    if unit not in units:
        out.notes.append(f"{label}: unit {unit!r} is not one cds converts ({', '.join(units)}); unknown.")
        return
    value = round(float(quantity.value) * units[unit], 3)
    value = int(value) if kb.fields[name].integer and float(value).is_integer() else value
    problem = kb.fields[name].check_value(value)
    if problem:
        out.notes.append(f"{label}: {value} not used ({problem}).")
        return
    section, _, key = name.partition(".")
    if section == "labs":
        out.document.setdefault("labs", {})[key] = value
    else:
        out.document[name] = value


def _coded_observation(table: str, obs: Any, codes: FhirCodes, out: MappedPatient) -> None:
    answers = codes.coded[table]
    found = [answers[(s, c)] for s, c, _ in codings(obs.valueCodeableConcept) if (s, c) in answers]
    if not found and obs.valueString and obs.valueString.strip().lower() in ("positive", "negative"):
        found = [obs.valueString.strip().lower()]
    if not found:
        out.notes.append(f"{table.replace('_', ' ')}: the observation's answer is not one cds reads; unknown.")
    elif table == "pregnancy_status":
        out.document["pregnant"] = out.document.get("pregnant", False) or found[0] == "pregnant"
    else:
        out.document.setdefault("labs", {})["hla_b1502"] = found[0]


def _allergies(allergies: list[Any], kb: Knowledge, codes: FhirCodes, out: MappedPatient) -> None:
    past: list[dict[str, str]] = []
    for allergy in allergies:
        verification = _status(allergy.verificationStatus)
        if verification in ("refuted", "entered-in-error") or _status(allergy.clinicalStatus) in (
            "inactive",
            "resolved",
        ):
            continue
        name = identify_drug(allergy.code, kb, codes)
        if name is not None:
            past.append({"drug": name, "outcome": "allergy"})
    if past:
        out.document["past_medications"] = sorted(past, key=lambda m: m["drug"])
        out.document["past_medications_complete"] = False

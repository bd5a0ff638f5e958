"""Realistic FHIR R4 resources for the CDS Hooks tests (hand-written, as an EHR sends them)."""

from __future__ import annotations

from typing import Any

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"fullUrl": f"urn:uuid:{i}", "resource": r} for i, r in enumerate(resources)],
    }


def patient(pid: str, gender: str, birth: str | None, race_text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Patient", "id": pid, "gender": gender}
    if birth:
        out["birthDate"] = birth
    if race_text:
        out["extension"] = [
            {
                "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
                "extension": [
                    {
                        "url": "ombCategory",
                        "valueCoding": {
                            "system": "urn:oid:2.16.840.1.113883.6.238",
                            "code": "2028-9",
                            "display": "Asian",
                        },
                    },
                    {"url": "text", "valueString": race_text},
                ],
            }
        ]
    return out


def condition(pid: str, code: str, display: str, *, verification: str = "confirmed") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "subject": {"reference": f"Patient/{pid}"},
        "clinicalStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
        },
        "verificationStatus": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": verification}]
        },
        "code": {"coding": [{"system": SNOMED, "code": code, "display": display}], "text": display},
    }


def quantity(pid: str, loinc: str, value: float, unit: str, date: str = "2026-01-10") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "effectiveDateTime": date,
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }


def coded(pid: str, loinc: str, snomed: str, date: str = "2026-01-10") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "effectiveDateTime": date,
        "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": snomed}]},
    }


def medication(pid: str, rxcui: str, text: str, *, status: str = "active", rid: str = "m1") -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "subject": {"reference": f"Patient/{pid}"},
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxcui, "display": text}], "text": text},
    }


def hook_request(
    hook: str, pid: str, prefetch: dict[str, Any] | None, draft: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/example", "patientId": pid}
    if draft is not None:
        context["draftOrders"] = bundle(draft)
        if hook == "order-select":
            context["selections"] = [f"MedicationRequest/{draft['id']}"]
    out: dict[str, Any] = {"hook": hook, "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "context": context}
    if prefetch is not None:
        out["prefetch"] = prefetch
    return {**out, **extra}


def full_prefetch(pt: dict[str, Any], *, conditions=(), medications=(), observations=(), allergies=()) -> dict:
    return {
        "patient": pt,
        "conditions": bundle(*conditions),
        "medicationRequests": bundle(*medications),
        "medicationStatements": bundle(),
        "observations": bundle(*observations),
        "allergies": bundle(*allergies),
    }

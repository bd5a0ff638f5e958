"""Validate FHIR R4 resources and search Bundles with ``fhir.resources`` (its R4B models, which read the R4
resources used here: Patient, Condition, MedicationRequest, MedicationStatement, Observation, AllergyIntolerance,
Bundle), and read the small things the mapping needs from them (codings, texts, dates).

A resource that breaks the FHIR model is a ``FhirDataError`` naming where it came from and the first problem; it
is never guessed at.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import ValidationError

from cds.errors import CdsError

__all__ = [
    "RESOURCE_TYPES",
    "FhirDataError",
    "codings",
    "concept_texts",
    "effective_date",
    "resources_of",
    "validate_resource",
]

RESOURCE_TYPES = (
    "Patient",
    "Condition",
    "MedicationRequest",
    "MedicationStatement",
    "Observation",
    "AllergyIntolerance",
    "Bundle",
)


class FhirDataError(CdsError):
    """FHIR data that is not a valid resource of the expected type (where: a prefetch key or a server URL)."""

    def __init__(self, problem: str, *, where: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")


def validate_resource(data: Any, expected: str, *, where: str) -> Any:
    """The ``fhir.resources`` model of ``data``, which must be a ``expected`` resource; FhirDataError otherwise."""
    from fhir.resources.R4B import get_fhir_model_class

    if not isinstance(data, dict):
        raise FhirDataError(
            f"expected a FHIR {expected} resource (a JSON object), got {type(data).__name__}", where=where
        )
    got = data.get("resourceType")
    if got != expected:
        raise FhirDataError(f"expected resourceType {expected!r}, got {got!r}", where=where)
    try:
        return get_fhir_model_class(expected).model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        place = ".".join(str(p) for p in first.get("loc", ()))
        message = " ".join(str(first.get("msg", "invalid")).split())
        raise FhirDataError(f"not a valid FHIR R4 {expected}: {place}: {message}", where=where) from None


def resources_of(data: Any, resource_type: str, *, where: str) -> list[Any]:
    """The ``resource_type`` resources of a search Bundle (or of a single resource given instead of a Bundle).
    Entries of other types (an OperationOutcome in a search result) are skipped."""
    if isinstance(data, dict) and data.get("resourceType") == resource_type:
        return [validate_resource(data, resource_type, where=where)]
    bundle = validate_resource(data, "Bundle", where=where)
    out = []
    for index, entry in enumerate(bundle.entry or []):
        resource = entry.resource
        if resource is not None and resource.get_resource_type() == resource_type:
            out.append(resource)
        elif resource is None:
            raise FhirDataError(f"Bundle.entry[{index}] has no resource", where=where)
    return out


def codings(concept: Any) -> list[tuple[str, str, str]]:
    """``(system, code, display)`` of each coding of a CodeableConcept (empty strings where absent)."""
    if concept is None:
        return []
    return [(c.system or "", c.code or "", c.display or "") for c in concept.coding or []]


def concept_texts(concept: Any) -> list[str]:
    """The text of a CodeableConcept and the displays of its codings: what a person reads."""
    if concept is None:
        return []
    texts = [concept.text] if concept.text else []
    return texts + [c.display for c in concept.coding or [] if c.display]


def effective_date(resource: Any) -> str:
    """The clinically relevant time of an Observation as sortable ISO text ('' when none is given)."""
    for name in ("effectiveDateTime", "effectiveInstant", "issued"):
        value = getattr(resource, name, None)
        if value is not None:
            return value.isoformat() if isinstance(value, dt.date | dt.datetime) else str(value)
    period = getattr(resource, "effectivePeriod", None)
    if period is not None and (period.end or period.start):
        value = period.end or period.start
        return value.isoformat() if isinstance(value, dt.date | dt.datetime) else str(value)
    return ""

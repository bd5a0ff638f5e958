"""FHIR R4 and CDS Hooks 2.0: the record mapped to a patient file, cards from the decision (docs/fhir-mapping.md)."""

from cds.fhir.codes import FhirCodes, load_fhir_codes
from cds.fhir.hooks import SERVICES, HookRequestError, HooksService, TriageOutcome, prefetch_templates
from cds.fhir.mapping import FhirRecord, MappedPatient, identify_drug, map_patient

__all__ = [
    "SERVICES",
    "FhirCodes",
    "FhirRecord",
    "HookRequestError",
    "HooksService",
    "MappedPatient",
    "TriageOutcome",
    "identify_drug",
    "load_fhir_codes",
    "map_patient",
    "prefetch_templates",
]

"""The CDS Hooks 2.0 service (https://cds-hooks.hl7.org/2.0/): discovery, and patient-view / order-select /
order-sign requests answered with cards from one triage per ordered drug.

Data comes from the request's ``prefetch``; a prefetch key that is absent or null is fetched from ``fhirServer``
with the request's access token (an ``httpx`` transport can be injected: tests never reach a network). What
still cannot be had is unknown, and the card says so. A malformed request is a ``HookRequestError`` (4xx) naming
the problem; nothing in a request is executed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cds.errors import CdsError
from cds.fhir import cards
from cds.fhir.codes import FhirCodes
from cds.fhir.mapping import FhirRecord, identify_drug, map_patient
from cds.fhir.resources import FhirDataError, resources_of, validate_resource
from cds.kb import Knowledge

log = logging.getLogger(__name__)

__all__ = ["SERVICES", "HookRequestError", "HooksService", "TriageOutcome", "prefetch_templates"]

SERVICES = {  # service id -> hook
    "cds-sleep-triage": "patient-view",
    "cds-drug-check-select": "order-select",
    "cds-drug-check-sign": "order-sign",
}
_PATIENT_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")  # FHIR id: nothing else reaches a URL
_MAX_BODY = 5 * 1024 * 1024
_FETCH_TIMEOUT_S = 5.0
# prefetch key -> (query template, resource type of its entries)
_QUERIES = {
    "patient": ("Patient/{{context.patientId}}", "Patient"),
    "conditions": ("Condition?patient={{context.patientId}}", "Condition"),
    "medicationRequests": ("MedicationRequest?patient={{context.patientId}}&status=active", "MedicationRequest"),
    "medicationStatements": ("MedicationStatement?patient={{context.patientId}}", "MedicationStatement"),
    "observations": ("Observation?patient={{context.patientId}}&code={codes}", "Observation"),
    "allergies": ("AllergyIntolerance?patient={{context.patientId}}", "AllergyIntolerance"),
}


class HookRequestError(CdsError):
    """A request the service cannot read: ``status`` is the HTTP status (400, 404, 413, 415)."""

    def __init__(self, status: int, problem: str) -> None:
        self.status = status
        super().__init__(problem)


@dataclass(frozen=True)
class TriageOutcome:
    """What the server's triage callback returns: the letter view and decision, and where the letter is."""

    view: Mapping[str, Any]
    decision: Mapping[str, Any]
    record_hash: str
    letter_path: str  # path under the server root, e.g. /records/12/letter


TriageFn = Callable[[Path], TriageOutcome]


def prefetch_templates(codes: FhirCodes) -> dict[str, str]:
    """The prefetch templates of every service (Observation limited to the LOINC codes the mapping reads)."""
    observation_codes = ",".join(f"{codes.systems['loinc']}|{c}" for c in codes.loinc_codes())
    return {key: query.replace("{codes}", observation_codes) for key, (query, _) in _QUERIES.items()}


class HooksService:
    """Answers CDS Hooks requests; ``triage`` runs one patient file through cds.pipeline and logs the decision."""

    def __init__(
        self,
        kb: Knowledge,
        codes: FhirCodes,
        work_dir: Path,
        triage: TriageFn,
        *,
        transport: httpx.BaseTransport | None = None,
        today: Callable[[], dt.date] = dt.date.today,
    ) -> None:
        self.kb, self.codes, self.work_dir, self.triage = kb, codes, work_dir, triage
        self.transport, self.today = transport, today
        self.templates = prefetch_templates(codes)

    def discovery(self) -> dict[str, Any]:
        prefetch = self.templates
        titles = {
            "patient-view": (
                "Sleep-jerk triage",
                "Triage of nocturnal jerks from the record: what to do first and "
                "when, with a link to the full letter (cds rule base).",
            ),
            "order-select": (
                "Sleep-myoclonus drug check",
                "Warns when a drug being ordered is contraindicated, a "
                "caution or not recommended for this patient, with reasons, sources and alternatives.",
            ),
            "order-sign": (
                "Sleep-myoclonus drug check at signing",
                "The same check as order-select, when the order is signed.",
            ),
        }
        return {
            "services": [
                {
                    "hook": hook,
                    "id": service_id,
                    "title": titles[hook][0],
                    "description": titles[hook][1],
                    "prefetch": prefetch,
                    "usageRequirements": "No data is sent outside the server; an EHR identifier "
                    "appears in the decision log only as a pseudonym.",
                }
                for service_id, hook in SERVICES.items()
            ]
        }

    def handle(self, service_id: str, body: bytes, *, base_url: str) -> dict[str, Any]:
        """Answer one request with ``{"cards": [...]}``; HookRequestError for a request that cannot be read."""
        hook = SERVICES.get(service_id)
        if hook is None:
            raise HookRequestError(404, f"no CDS service {service_id!r} (allowed: {', '.join(SERVICES)})")
        request = _parse_request(body, hook)
        patient_id = request["context"]["patientId"]
        orders = self._orders(request) if hook != "patient-view" else []
        if hook != "patient-view" and not orders:
            return {"cards": []}  # no drug of the rule base is being ordered: nothing to check
        record, notes = self._record(request, patient_id)
        book_url = f"{base_url.rstrip('/')}/rules/book"
        if record is None:
            source = {"label": "cds sleep-myoclonus rule set"}
            return {
                "cards": [
                    cards.unavailable_card(
                        "cds could not read this patient's record",
                        " ".join(notes),
                        source=source,
                        key=request["hookInstance"],
                    )
                ]
            }
        mapped = map_patient(record, self.kb, self.codes, today=self.today())
        notes = [*notes, *mapped.notes]
        if "age_years" not in mapped.document and "age_days" not in mapped.document:
            source = {"label": "cds sleep-myoclonus rule set"}
            text = "The record gives no usable birth date; cds needs the age to triage and to check drugs."
            return {
                "cards": [
                    cards.unavailable_card(
                        "cds cannot check without the patient's age", text, source=source, key=request["hookInstance"]
                    )
                ]
            }
        if hook == "patient-view":
            outcome = self._run(mapped.document)
            card = cards.patient_view_card(
                outcome.view,
                outcome.decision,
                self.codes,
                record_hash=outcome.record_hash,
                letter_url=base_url.rstrip("/") + outcome.letter_path,
                book_url=book_url,
                notes=notes,
            )
            return {"cards": [card]}
        out = []
        for order in orders:
            outcome = self._run({**mapped.document, "requested_treatment": order["drug"]})
            out.append(
                cards.order_card(
                    outcome.view,
                    outcome.decision,
                    self.codes,
                    order=order,
                    record_hash=outcome.record_hash,
                    book_url=book_url,
                    letter_url=base_url.rstrip("/") + outcome.letter_path,
                    notes=notes,
                    patient_ref=f"Patient/{patient_id}",
                )
            )
        return {"cards": out}

    def _run(self, document: Mapping[str, Any]) -> TriageOutcome:
        text = json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        path = self.work_dir / f"{hashlib.sha256(text.encode()).hexdigest()[:24]}.json"
        self.work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(text, encoding="utf-8")
        return self.triage(path)

    def _orders(self, request: Mapping[str, Any]) -> list[dict[str, str]]:
        """The drugs of the draft orders (order-select: only the selected ones) that the rule base knows."""
        context = request["context"]
        try:
            drafts = resources_of(context["draftOrders"], "MedicationRequest", where="context.draftOrders")
        except FhirDataError as exc:
            raise HookRequestError(400, str(exc)) from None
        selections = context.get("selections")
        if request["hook"] == "order-select" and selections is not None:
            if not isinstance(selections, list) or not all(isinstance(s, str) for s in selections):
                raise HookRequestError(400, "context.selections: expected a list of resource references")
            drafts = [d for d in drafts if f"MedicationRequest/{d.id}" in selections]
        orders = []
        for draft in drafts:
            concept = draft.medicationCodeableConcept
            drug = identify_drug(concept, self.kb, self.codes) if concept is not None else None
            if drug is not None and drug in self.kb.drugs:
                label = str((self.kb.drugs.get(drug) or {}).get("name") or drug)
                orders.append({"drug": drug, "label": label, "id": draft.id or ""})
        return orders

    def _record(self, request: Mapping[str, Any], patient_id: str) -> tuple[FhirRecord | None, list[str]]:
        prefetch = request.get("prefetch") or {}
        notes: list[str] = []
        found: dict[str, list[Any] | None] = {}
        patient = None
        for key, (_, kind) in _QUERIES.items():
            data = prefetch.get(key)
            where = f"prefetch.{key}"
            if data is None:
                data, where = self._fetch(request, patient_id, key, notes)
            if data is None:
                continue
            try:
                if key == "patient":
                    patient = validate_resource(data, "Patient", where=where)
                else:
                    found[key] = resources_of(data, kind, where=where)
            except FhirDataError as exc:
                if where.startswith("prefetch"):
                    raise HookRequestError(400, str(exc)) from None
                notes.append(f"{key}: the FHIR server's answer was not valid FHIR; unknown.")
        if patient is None:
            notes.append("The Patient resource was neither prefetched nor fetched from the FHIR server.")
            return None, notes
        record = FhirRecord(
            patient=patient,
            conditions=found.get("conditions"),
            medication_requests=found.get("medicationRequests"),
            medication_statements=found.get("medicationStatements"),
            observations=found.get("observations"),
            allergies=found.get("allergies"),
            fhir_server=str(request.get("fhirServer") or ""),
        )
        return record, notes

    def _fetch(self, request: Mapping[str, Any], patient_id: str, key: str, notes: list[str]) -> tuple[Any, str]:
        server = request.get("fhirServer")
        if not server:
            return None, ""
        query = self.templates[key].replace("{{context.patientId}}", patient_id)
        url = f"{str(server).rstrip('/')}/{query}"
        token = (request.get("fhirAuthorization") or {}).get("access_token")
        headers = {"Accept": "application/fhir+json"} | ({"Authorization": f"Bearer {token}"} if token else {})
        try:
            with httpx.Client(transport=self.transport, timeout=_FETCH_TIMEOUT_S) as client:
                response = client.get(url, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("FHIR server fetch of %s failed: %s", key, type(exc).__name__)
            notes.append(f"{key}: the FHIR server could not be reached; unknown.")
            return None, ""
        if response.status_code != 200:
            log.warning("FHIR server fetch of %s: HTTP %d", key, response.status_code)
            notes.append(f"{key}: the FHIR server answered HTTP {response.status_code}; unknown.")
            return None, ""
        try:
            return response.json(), f"fhirServer {key}"
        except ValueError:
            notes.append(f"{key}: the FHIR server's answer was not JSON; unknown.")
            return None, ""


def _parse_request(body: bytes, hook: str) -> dict[str, Any]:
    """Check the CDS Hooks request envelope; HookRequestError(400/413) naming the first problem."""
    if len(body) > _MAX_BODY:
        raise HookRequestError(413, f"request body over {_MAX_BODY // (1024 * 1024)} MiB")
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HookRequestError(400, f"request body is not JSON: {exc}") from None
    if not isinstance(request, dict):
        raise HookRequestError(400, "request body must be a JSON object")
    if request.get("hook") != hook:
        raise HookRequestError(400, f"hook: this service answers {hook!r}, got {request.get('hook')!r}")
    if not isinstance(request.get("hookInstance"), str) or not request["hookInstance"]:
        raise HookRequestError(400, "hookInstance: required (a UUID string)")
    context = request.get("context")
    if not isinstance(context, dict):
        raise HookRequestError(400, "context: required object")
    if not isinstance(context.get("patientId"), str) or not _PATIENT_ID.match(context["patientId"]):
        raise HookRequestError(400, "context.patientId: required FHIR id (letters, digits, '-', '.'; 64 at most)")
    if hook != "patient-view" and context.get("draftOrders") is None:
        raise HookRequestError(400, "context.draftOrders: required for order-select and order-sign (a Bundle)")
    for key, kind in (("prefetch", dict), ("fhirAuthorization", dict)):
        if request.get(key) is not None and not isinstance(request[key], kind):
            raise HookRequestError(400, f"{key}: expected an object")
    server = request.get("fhirServer")
    if server is not None and (not isinstance(server, str) or not server.startswith(("https://", "http://"))):
        raise HookRequestError(400, "fhirServer: expected an http(s) URL")
    return request

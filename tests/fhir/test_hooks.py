"""CDS Hooks 2.0 over HTTP with realistic FHIR bundles. Expected indicators and content come from the clinical
brief and clinical review 2 (written before running the service), not from its output:

- pregnant woman with RLS, ferritin 30, ordering ropinirole: dopamine agonists in pregnancy are
  block-unless-specialist (brief 7.1) and not for standard use in RLS (AASM 2025, brief 6.3) -> a warning, not
  information; RLS in pregnancy with ferritin < 75: oral iron first (review 2, E17) -> oral iron is the offered
  alternative; valproate is never offered.
- patient on valproate of Han Chinese ancestry, HLA-B*15:02 not tested, ordering carbamazepine: test before
  starting (CPIC; review 2, D13) -> at least a warning naming HLA-B*15:02; known carrier -> must not be given
  (critical).
- a record with almost nothing: no silence, unknowns named; clonazepam without an indication is not for sleep
  myoclonus (seed drugs rest on expert opinion, brief 6.1) -> a warning.
"""

from __future__ import annotations

import json

import httpx
from fhir_bundles import coded, condition, full_prefetch, hook_request, medication, patient, quantity

PID = "pat-123"


def _post(server, service: str, body) -> httpx.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return server.post(f"/cds-services/{service}", content=data, headers={"Content-Type": "application/json"})


def test_discovery_lists_the_three_services_with_prefetch_templates(server):
    services = {s["id"]: s for s in server.get("/cds-services").json()["services"]}
    assert {s["hook"] for s in services.values()} == {"patient-view", "order-select", "order-sign"}
    prefetch = services["cds-drug-check-sign"]["prefetch"]
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    assert prefetch["conditions"] == "Condition?patient={{context.patientId}}"
    assert prefetch["medicationRequests"].startswith("MedicationRequest?patient={{context.patientId}}")
    assert "AllergyIntolerance" in prefetch["allergies"] and "MedicationStatement" in prefetch["medicationStatements"]
    for loinc in ("2276-4", "2502-3", "33914-3", "2164-2", "82810-3"):  # ferritin, TSAT, eGFR, CrCl, pregnancy
        assert f"http://loinc.org|{loinc}" in prefetch["observations"]


def _pregnant_rls(draft):
    pt = patient(PID, "female", "1995-03-14")
    prefetch = full_prefetch(
        pt,
        conditions=[condition(PID, "32914008", "Restless legs syndrome")],
        observations=[coded(PID, "82810-3", "77386006"), quantity(PID, "2276-4", 30, "ng/mL")],
    )
    return hook_request("order-sign", PID, prefetch, draft)


def test_pregnant_woman_with_rls_ordering_ropinirole_gets_a_warning_and_oral_iron(server):
    draft = medication(PID, "72302", "Ropinirole 0.25 MG Oral Tablet", status="draft", rid="draft-1")
    response = _post(server, "cds-drug-check-sign", _pregnant_rls(draft))
    assert response.status_code == 200
    (card,) = response.json()["cards"]
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Ropinirole:") and "option" not in card["summary"]
    assert "Pregnan" in card["detail"]
    labels = [s["label"] for s in card["suggestions"]]
    assert any("Oral iron" in label for label in labels)
    assert not any("valproate" in label.lower() for label in labels)
    create = card["suggestions"][0]["actions"][-1]
    assert create["type"] == "create" and create["resource"]["status"] == "draft"
    assert card["suggestions"][0]["actions"][0] == {
        "type": "delete",
        "description": "Remove the Ropinirole order",
        "resourceId": ["MedicationRequest/draft-1"],
    }
    assert card["selectionBehavior"] == "at-most-one"
    assert card["source"]["label"].startswith("cds sleep-myoclonus rule set 0.")
    (link,) = card["links"]
    letter = server.get(link["url"].replace("http://testserver", ""))
    assert letter.status_code == 200 and "Ropinirole" in letter.text


def test_order_select_answers_only_for_the_selected_draft(server):
    draft = medication(PID, "72302", "Ropinirole 0.25 MG Oral Tablet", status="draft", rid="draft-2")
    body = _pregnant_rls(draft) | {"hook": "order-select"}
    body["context"]["selections"] = ["MedicationRequest/draft-2"]
    assert _post(server, "cds-drug-check-select", body).json()["cards"][0]["indicator"] == "warning"
    body["context"]["selections"] = ["MedicationRequest/another"]
    assert _post(server, "cds-drug-check-select", body).json() == {"cards": []}


def _valproate_han(observations=()):
    pt = patient("pat-456", "male", "1980-07-01", race_text="Han Chinese")
    prefetch = full_prefetch(
        pt,
        conditions=[condition("pat-456", "84757009", "Epilepsy")],
        medications=[medication("pat-456", "11118", "Valproic acid 250 MG Oral Capsule")],
        observations=list(observations),
    )
    draft = medication("pat-456", "2002", "Carbamazepine 200 MG Oral Tablet", status="draft", rid="cbz")
    return hook_request("order-sign", "pat-456", prefetch, draft)


def test_valproate_patient_of_at_risk_ancestry_ordering_carbamazepine_is_warned_to_test_hla(server):
    (card,) = _post(server, "cds-drug-check-sign", _valproate_han()).json()["cards"]
    assert card["indicator"] in ("warning", "critical")
    assert card["summary"].startswith("Carbamazepine:") and "option for" not in card["summary"]
    assert "HLA-B" in card["detail"]


def test_known_hla_b1502_carrier_ordering_carbamazepine_gets_a_critical_card(server):
    positive = {**coded("pat-456", "57979-7", "10828004")}
    (card,) = _post(server, "cds-drug-check-sign", _valproate_han([positive])).json()["cards"]
    assert card["indicator"] == "critical"
    assert "contraindicated" in card["summary"]
    for suggestion in card.get("suggestions", []):
        assert "carbamazepine" not in suggestion["label"].lower()


def test_record_with_almost_nothing_names_the_unknowns_and_does_not_offer_clonazepam(server):
    pt = patient("pat-789", "unknown", "1970-01-01")
    view = _post(server, "cds-sleep-triage", hook_request("patient-view", "pat-789", {"patient": pt})).json()
    (card,) = view["cards"]
    assert card["indicator"] in ("info", "warning") and card["summary"].startswith("Sleep-jerk triage:")
    assert "Conditions were not available" in card["detail"] and "Medications were not available" in card["detail"]
    draft = medication("pat-789", "2598", "clonazepam 0.5 MG Oral Tablet", status="draft", rid="czp")
    body = hook_request("order-sign", "pat-789", {"patient": pt}, draft)
    (order,) = _post(server, "cds-drug-check-sign", body).json()["cards"]
    assert order["indicator"] == "warning"


def test_without_a_birth_date_the_card_says_the_age_is_needed(server):
    pt = patient("pat-000", "female", None)
    (card,) = _post(server, "cds-sleep-triage", hook_request("patient-view", "pat-000", {"patient": pt})).json()[
        "cards"
    ]
    assert card["indicator"] == "info" and "age" in card["summary"]


def test_missing_prefetch_is_fetched_from_the_fhir_server_with_the_access_token(server):
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers.get("authorization")))
        if request.url.path.endswith("/Patient/pat-321"):
            return httpx.Response(200, json=patient("pat-321", "female", "1995-03-14"))
        if "/Condition" in request.url.path:
            return httpx.Response(
                200,
                json={
                    "resourceType": "Bundle",
                    "type": "searchset",
                    "entry": [{"resource": condition("pat-321", "32914008", "Restless legs syndrome")}],
                },
            )
        if "/Observation" in request.url.path:
            return httpx.Response(
                200,
                json={
                    "resourceType": "Bundle",
                    "type": "searchset",
                    "entry": [{"resource": coded("pat-321", "82810-3", "77386006")}],
                },
            )
        return httpx.Response(503)

    server.app.state.hooks.transport = httpx.MockTransport(handler)
    try:
        draft = medication("pat-321", "72302", "Ropinirole 0.25 MG Oral Tablet", status="draft", rid="d9")
        body = hook_request(
            "order-sign",
            "pat-321",
            None,
            draft,
            fhirServer="https://ehr.example/fhir",
            fhirAuthorization={
                "access_token": "tok-abc",
                "token_type": "Bearer",
                "scope": "x",
                "expires_in": 300,
                "subject": "cds",
            },
        )
        (card,) = _post(server, "cds-drug-check-sign", body).json()["cards"]
    finally:
        server.app.state.hooks.transport = None
    assert ("/fhir/Patient/pat-321", "Bearer tok-abc") in seen
    assert card["indicator"] == "warning" and "Pregnan" in card["detail"]  # the fetched data was used
    assert "answered HTTP 503" in card["detail"]  # what could not be had is named


def test_malformed_requests_get_4xx_with_a_reason(server):
    assert _post(server, "cds-sleep-triage", b"{not json").status_code == 400
    assert "not JSON" in _post(server, "cds-sleep-triage", b"{not json").json()["detail"]
    wrong_hook = hook_request("order-sign", PID, None)
    assert "this service answers 'patient-view'" in _post(server, "cds-sleep-triage", wrong_hook).json()["detail"]
    no_patient = {"hook": "patient-view", "hookInstance": "x", "context": {}}
    response = _post(server, "cds-sleep-triage", no_patient)
    assert response.status_code == 400 and "context.patientId" in response.json()["detail"]
    bad = hook_request("patient-view", PID, {"patient": {"resourceType": "Patient", "birthDate": "1990-13-45"}})
    response = _post(server, "cds-sleep-triage", bad)
    assert response.status_code == 400 and "prefetch.patient" in response.json()["detail"]
    assert "birthDate" in response.json()["detail"]
    no_drafts = hook_request("order-sign", PID, None)
    assert _post(server, "cds-drug-check-sign", no_drafts).status_code == 400
    assert _post(server, "no-such-service", hook_request("patient-view", PID, None)).status_code == 404
    injected = hook_request("patient-view", "../../etc/passwd", None)
    assert _post(server, "cds-sleep-triage", injected).status_code == 400

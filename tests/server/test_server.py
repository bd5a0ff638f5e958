"""The web app over HTTP: authentication (token, dev mode only on loopback), the form (unknown by default, messages
beside the field, a valid patient file out, a patient file in), no patient data in the server's logs."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from cds.errors import CdsError
from cds.server import ServerConfig, TokenStore, check_bind, create_app


@pytest.fixture
def secured(tmp_path):
    data = tmp_path / "data"
    app = create_app(ServerConfig(data_dir=data))
    token = TokenStore(data).ensure()
    return TestClient(app), token, data


def test_data_dir_is_private_and_the_token_is_stored_only_as_a_hash(secured):
    _, token, data = secured
    assert data.stat().st_mode & 0o777 == 0o700
    stored = (data / "auth.json").read_text()
    assert token not in stored and (data / "auth.json").stat().st_mode & 0o777 == 0o600
    assert TokenStore(data).ensure() is None  # shown once: a second start makes none


def test_without_token_every_page_and_service_is_refused(secured):
    client, token, _ = secured
    assert client.get("/cds-services").status_code == 401
    assert client.post("/cds-services/cds-sleep-triage", content=b"{}").status_code == 401
    assert client.get("/audit", headers={"Accept": "application/json"}).status_code == 401
    page = client.get("/triage/new", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login"
    assert client.get("/cds-services", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.post("/login", data={"token": "wrong"}).status_code == 401
    client.post("/login", data={"token": token})
    assert client.get("/triage/new").status_code == 200  # the session cookie


def test_dev_mode_only_on_loopback():
    check_bind("127.0.0.1", True)
    check_bind("::1", True)
    with pytest.raises(CdsError, match="loopback only"):
        check_bind("0.0.0.0", True)
    with pytest.raises(CdsError, match="loopback only"):
        check_bind("192.0.2.7", True)
    check_bind("0.0.0.0", False)  # with a token, any address


def test_dev_refused_on_another_host_is_a_usage_error(tmp_path):
    from cds.cli import run

    assert run(["serve", "--dev", "--host", "0.0.0.0", "--data-dir", str(tmp_path / "d")]) == 2


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    app = create_app(ServerConfig(data_dir=tmp_path_factory.mktemp("dev") / "data", dev=True))
    with TestClient(app) as client:
        yield client


def test_form_defaults_every_answer_to_unknown(dev):
    html = dev.get("/triage/new").text
    assert 'name="symptoms.insomnia" value="unknown" checked' in html
    assert 'name="condition.epilepsy" value="unknown" checked' in html
    assert 'name="medications_known" value="unknown" checked' in html


def test_form_messages_stand_beside_the_field(dev):
    form = {"id": "P-1", "age": "40", "labs.ferritin_ng_ml": "high", "symptoms.insomnia": "unknown", "action": "check"}
    response = dev.post("/triage/form", data=form)
    assert response.status_code == 400
    assert '<span class="field-error" id="error-labs.ferritin_ng_ml">expected a number in ng/mL' in response.text


def test_form_downloads_a_valid_patient_file_with_unknowns_left_out(dev, tmp_path):
    from cds.facts.patient import read_patient

    form = {
        "id": "P-7",
        "age": "31",
        "age_unit": "years",
        "sex": "female",
        "pregnant": "yes",
        "symptoms.insomnia": "unknown",
        "labs.ferritin_ng_ml": "30",
        "condition.restless_legs_syndrome": "yes",
        "medications_known": "unknown",
        "action": "download",
    }
    response = dev.post("/triage/form", data=form)
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    path = tmp_path / "p.yaml"
    path.write_text(response.text)
    patient = read_patient(path)
    assert patient.values["pregnant"] is True and patient.values["labs.ferritin_ng_ml"] == 30
    assert "symptoms.insomnia" not in patient.values  # unknown is left out, never false
    assert patient.conditions == ("restless_legs_syndrome",) and patient.conditions_absent == ()
    assert patient.medications is None


def test_uploaded_patient_file_fills_the_form(dev):
    from cds.paths import data_dir

    text = (data_dir("examples") / "pregnant-rls.yaml").read_bytes()
    response = dev.post("/triage/patient-file", files={"patient_file": ("pregnant-rls.yaml", text)})
    assert response.status_code == 200
    assert 'value="EX-PREG-01"' in response.text
    assert 'name="symptoms.rls_urge_to_move" value="yes" checked' in response.text
    bad = dev.post(
        "/triage/patient-file", files={"patient_file": ("p.yaml", b"schema: cds.patient/v1\nid: X\nage_years: -3\n")}
    )
    assert bad.status_code == 400 and "p.yaml:3" in bad.text and "out of range" in bad.text


def test_no_patient_data_in_server_logs(dev, caplog):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fhir"))
    from fhir_bundles import condition, full_prefetch, hook_request, patient, quantity

    pt = patient("secret-777", "female", "1995-03-14")
    prefetch = full_prefetch(
        pt,
        conditions=[condition("secret-777", "32914008", "Restless legs syndrome")],
        observations=[quantity("secret-777", "2276-4", 31.7, "ng/mL")],
    )
    with caplog.at_level(logging.DEBUG):
        card = dev.post("/cds-services/cds-sleep-triage", json=hook_request("patient-view", "secret-777", prefetch))
        form = {"id": "NAME-OF-PATIENT", "age": "47", "labs.ferritin_ng_ml": "31.7", "action": "run"}
        dev.post("/triage/form", data=form)
        import time

        time.sleep(3)  # the job runs in the background: its log lines count too
    assert card.status_code == 200
    text = "\n".join(r.getMessage() for r in caplog.records)
    pseudonym = card.json()["cards"][0]["links"][0]["url"]  # the record exists; its patient stays out of the log
    assert pseudonym
    for secret in ("secret-777", "NAME-OF-PATIENT", "31.7", "1995-03-14", "F-"):
        assert secret not in text

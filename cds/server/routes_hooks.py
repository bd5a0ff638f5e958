"""CDS Hooks 2.0 endpoints: ``GET /cds-services`` and ``POST /cds-services/{id}`` (cds.fhir.hooks).

A request that cannot be read gets its 4xx status and ``{"detail": "<reason>"}``; each triage behind a card is
appended to the decision log like any other, and the card links to its letter."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from cds.server.config import ServerConfig

log = logging.getLogger(__name__)

__all__ = ["hooks_service", "router"]

router = APIRouter()


def hooks_service(request: Request) -> Any:
    """The app's HooksService, made on first use (loading the rule base and the FHIR code tables)."""
    service = getattr(request.app.state, "hooks", None)
    if service is None:
        service = request.app.state.hooks = _make_service(request.app.state.config, request.app.state)
    return service


def _make_service(config: ServerConfig, state: Any) -> Any:
    from cds.fhir import HooksService, TriageOutcome, load_fhir_codes
    from cds.pipeline import TriageRequest, cached_rulebase, log_decision, run_triage

    kb = cached_rulebase().kb

    def triage(path: Path) -> TriageOutcome:
        result = run_triage(TriageRequest(patient_path=path))
        entry = log_decision(result, path, config.log_path, full=True)  # the card's letter link renders from the log
        assert result.letter is not None  # run_triage renders by default
        return TriageOutcome(
            view=result.letter.view,
            decision=result.decision,
            record_hash=entry.record_hash,
            letter_path=f"/records/{entry.seq}/letter",
        )

    transport = getattr(state, "fhir_transport", None)  # tests inject an httpx.MockTransport
    return HooksService(kb, load_fhir_codes(kb), config.data_dir / "fhir", triage, transport=transport)


def _base_url(request: Request) -> str:
    config: ServerConfig = request.app.state.config
    return config.public_url or str(request.base_url)


@router.get("/cds-services")
def discovery(request: Request) -> Response:
    return JSONResponse(hooks_service(request).discovery())


@router.post("/cds-services/{service_id}")
async def call_service(request: Request, service_id: str) -> Response:
    from cds.errors import InputError
    from cds.fhir import HookRequestError

    body = await request.body()
    try:
        answer = hooks_service(request).handle(service_id, body, base_url=_base_url(request))
    except HookRequestError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)
    except InputError as exc:  # the mapped record broke the patient schema: say which part
        log.warning("CDS Hooks %s: record not usable (%s)", service_id, type(exc).__name__)
        return JSONResponse({"detail": f"the record could not be used: {exc.problem}"}, status_code=422)
    return JSONResponse(answer)

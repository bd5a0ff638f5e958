"""The FastAPI application of ``cds serve``: the web pages, the decision log, the rule book and the CDS Hooks
service, behind single-user authentication (none in ``--dev``, which is loopback only).

No patient data reaches the server's logs: the ``cds``, ``experta`` (facts at DEBUG) and ``httpx`` (FHIR URLs)
loggers are kept at WARNING, request failures are logged by type, and uvicorn's access log holds paths and ids only.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from cds.server.auth import COOKIE, Sessions, require_user
from cds.server.config import ServerConfig, TokenStore, prepare_data_dir
from cds.server.jobs import JobRunner
from cds.server.pages import page

__all__ = ["create_app"]

_APP_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-src 'self'; "
    "frame-ancestors 'self'; form-action 'self'"
)
_QUIET = ("cds", "experta", "httpx", "httpcore", "weasyprint", "fontTools", "matplotlib")


def create_app(config: ServerConfig) -> FastAPI:
    """Build the app for ``config`` (the data directory is created 0700 if needed)."""
    from cds.server import routes_audit, routes_hooks, routes_triage

    prepare_data_dir(config.data_dir)
    for name in _QUIET:  # their INFO/DEBUG lines name the patient, its facts or the EHR's URLs
        logging.getLogger(name).setLevel(logging.WARNING)
    app = FastAPI(title="cds", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.config = config
    app.state.tokens = TokenStore(config.data_dir)
    app.state.sessions = Sessions()
    app.state.jobs = JobRunner()
    app.mount("/static", StaticFiles(directory=str(Path(__file__).resolve().parent / "static")), name="static")

    @app.middleware("http")
    async def _headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response: Response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", _APP_CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.get("/login")
    def login_page(request: Request) -> Response:
        return page(request, "login.html", error=None)

    @app.post("/login")
    def login(request: Request, token: str = Form("")) -> Response:
        if config.dev or request.app.state.tokens.check(token):
            response = RedirectResponse("/triage/new", status_code=303)
            response.set_cookie(
                COOKIE,
                request.app.state.sessions.new(),
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
            )
            return response
        return page(request, "login.html", status_code=401, error="That token is not right.")

    @app.get("/logout")
    def logout(request: Request) -> Response:
        request.app.state.sessions.drop(request.cookies.get(COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", dependencies=[Depends(require_user)])
    def home() -> Response:
        return RedirectResponse("/triage/new", status_code=303)

    app.include_router(routes_triage.router, dependencies=[Depends(require_user)])
    app.include_router(routes_audit.router, dependencies=[Depends(require_user)])
    app.include_router(routes_hooks.router, dependencies=[Depends(require_user)])
    app.router.add_event_handler("shutdown", app.state.jobs.shutdown)
    return app

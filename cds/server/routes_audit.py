"""The decision log (list, find by record number or hash prefix, verify the chain, view a record and its letter)
and the rule book for authors. The log is ``<data dir>/decisions.sqlite`` (cds.audit.log)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from cds.errors import InputError
from cds.server.config import ServerConfig
from cds.server.pages import LETTER_CSP, page

__all__ = ["router"]

router = APIRouter()


def _log(request: Request):  # type: ignore[no-untyped-def]
    from cds.audit.log import DecisionLog

    config: ServerConfig = request.app.state.config
    return DecisionLog(config.log_path)


def _error(request: Request, text: str, status: int = 404) -> Response:
    return page(
        request, "message.html", status_code=status, title="Decision log", kind="error", text=text, back="/audit"
    )


@router.get("/audit")
def audit_list(request: Request, verify: dict[str, object] | None = None) -> Response:
    try:
        entries = list(_log(request).entries())
    except InputError as exc:
        return _error(request, str(exc), 409)
    return page(request, "audit.html", entries=list(reversed(entries)), verify=verify)


@router.post("/audit/verify")
def audit_verify(request: Request) -> Response:
    result = _log(request).verify()
    if result.ok:
        text = f"The chain holds: {result.records} records, head {result.head_hash[:16]}."
    else:
        text = f"The log was changed: first bad record {result.first_bad} ({result.problem})."
    return audit_list(request, verify={"ok": result.ok, "text": text})


@router.get("/audit/find")
def audit_find(request: Request, q: str = "") -> Response:
    return RedirectResponse(f"/audit/{q.strip()[:64]}", status_code=303)


@router.get("/audit/{ref}")
def audit_record(request: Request, ref: str) -> Response:
    try:
        entry = _log(request).get(ref)
    except InputError as exc:
        return _error(request, str(exc).split(": ", 1)[-1])
    decision_json = json.dumps(entry.decision, indent=2, sort_keys=True, ensure_ascii=False)
    return page(request, "record.html", entry=entry, decision_json=decision_json)


@router.get("/records/{seq}/letter")
def record_letter(request: Request, seq: int) -> Response:
    """The letter of a logged decision, rendered again from the record (CDS Hooks cards link here)."""
    from cds.letter.render import render_letter

    try:
        entry = _log(request).get(seq)
    except InputError as exc:
        return _error(request, str(exc).split(": ", 1)[-1])
    html = render_letter(entry.decision).html
    return Response(html, media_type="text/html; charset=utf-8", headers={"Content-Security-Policy": LETTER_CSP})


@router.get("/rules/book")
def rule_book(request: Request) -> Response:
    """The rule base as the authors' book (``cds rules book``), written once per rule-set version."""
    from cds.authoring.book import describe_rules, render_book
    from cds.errors import CdsError, RuleFileError
    from cds.paths import rules_dir
    from cds.pipeline import cached_rulebase
    from cds.rules.manifest import MANIFEST_NAME, read_manifest

    config: ServerConfig = request.app.state.config
    folder = config.data_dir / "book" / cached_rulebase().sha256[:16]
    book = folder / "rulebook.html"
    if not book.is_file():
        try:
            try:
                version: str | None = read_manifest(rules_dir() / MANIFEST_NAME).version
            except RuleFileError:
                version = None
            render_book(describe_rules(), folder, covered={}, version=version)
        except (CdsError, OSError) as exc:
            return page(
                request,
                "message.html",
                status_code=500,
                title="Rule book",
                kind="error",
                text=f"the rule book could not be written ({type(exc).__name__})",
                back="/",
            )
    return FileResponse(book, media_type="text/html; charset=utf-8", headers={"Content-Security-Policy": LETTER_CSP})

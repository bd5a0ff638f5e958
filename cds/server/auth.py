"""Single-user access: ``Authorization: Bearer <token>`` (CDS Hooks clients, scripts) or a session cookie set by
the login page. In ``--dev`` mode (loopback only) every request is let in."""

from __future__ import annotations

import secrets

from fastapi import HTTPException, Request

from cds.server.config import ServerConfig, TokenStore

__all__ = ["COOKIE", "Sessions", "require_user"]

COOKIE = "cds_session"


class Sessions:
    """Random session ids of this server process (a restart logs everyone out)."""

    def __init__(self) -> None:
        self._ids: set[str] = set()

    def new(self) -> str:
        sid = secrets.token_urlsafe(32)
        self._ids.add(sid)
        return sid

    def valid(self, sid: str | None) -> bool:
        return bool(sid) and sid in self._ids

    def drop(self, sid: str | None) -> None:
        self._ids.discard(sid or "")


def require_user(request: Request) -> None:
    """FastAPI dependency: 401 (API) or a redirect to /login (pages) unless the request is authenticated."""
    config: ServerConfig = request.app.state.config
    if config.dev:
        return
    tokens: TokenStore = request.app.state.tokens
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer ") and tokens.check(header[7:].strip()):
        return
    if request.app.state.sessions.valid(request.cookies.get(COOKIE)):
        return
    wants_page = "text/html" in request.headers.get("accept", "") and request.method == "GET"
    if wants_page:
        raise HTTPException(status_code=303, headers={"Location": "/login"})
    raise HTTPException(
        status_code=401,
        detail="authentication required: Authorization: Bearer <token>",
        headers={"WWW-Authenticate": "Bearer"},
    )

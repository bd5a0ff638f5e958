"""The web pages' Jinja environment (package templates, autoescaped, undefined values are errors)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

# Letters are shown as documents: no script, styles inline, images as data URLs only.
LETTER_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"

__all__ = ["page"]

_FOLDER = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_FOLDER)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``templates/<name>`` with the request's mode (dev banner) and ``context``."""
    html = _env().get_template(name).render(dev=request.app.state.config.dev, **context)
    return HTMLResponse(html, status_code=status_code)

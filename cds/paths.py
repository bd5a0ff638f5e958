"""Where the data folders (rules/, knowledge/, templates/) are.

In a checkout (``pip install -e .``) they sit beside the ``cds`` package; in a wheel they are bundled as
``cds/_bundled/``. ``CDS_HOME`` overrides both (a folder holding rules/, knowledge/, templates/).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_dir", "knowledge_dir", "rules_dir", "templates_dir"]

_PKG = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the folder ``name`` (``rules``, ``knowledge`` or ``templates``)."""
    home = os.environ.get("CDS_HOME")
    candidates = [Path(home) / name] if home else []
    candidates += [_PKG.parent / name, _PKG / "_bundled" / name]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def rules_dir() -> Path:
    return data_dir("rules")


def knowledge_dir() -> Path:
    return data_dir("knowledge")


def templates_dir() -> Path:
    return data_dir("templates")

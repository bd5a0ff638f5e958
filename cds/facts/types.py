"""What the facts stage hands to the rules: one ``DatumRecord`` per input field, known or not.

The engine turns known records into experta facts (``cds.rules.facts``); this module has no engine dependency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["DatumRecord"]


@dataclass(frozen=True, order=True)
class DatumRecord:
    """One input value: ``known=False`` with ``value=None`` for an unknown field. ``source`` is patient,
    reported (the patient file's polysomnography block) or recording (measured by cds)."""

    field: str
    value: Any
    known: bool
    source: str
    recording_sha256: str | None = None
    method: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"field": self.field, "value": self.value, "known": self.known, "source": self.source}
        if self.source == "recording":
            out["recording_sha256"] = self.recording_sha256
            out["method"] = self.method
        return out

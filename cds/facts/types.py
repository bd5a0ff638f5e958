"""experta fact types (rules/README.md): one input type ``Datum`` and the derived conclusions.

Derived facts carry no rule id (design/rule-engine.md section 3: otherwise one conclusion reached by two rules
becomes two facts and later rules fire twice); which rules produced them is kept in the trace.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from cds.rulebase._experta import Fact

__all__ = [
    "Ask",
    "CaveatFact",
    "Datum",
    "DatumRecord",
    "Evidence",
    "Finding",
    "Recommendation",
    "Treatment",
    "fact_to_dict",
]


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
        out = asdict(self)
        if self.source != "recording":
            out.pop("recording_sha256")
            out.pop("method")
        return out

    def to_fact(self) -> Datum:
        return Datum(**{k: v for k, v in asdict(self).items() if v is not None or k == "value"})


class Datum(Fact):
    """Input field value (field, value, known, source[, recording_sha256, method])."""


class Evidence(Fact):
    """Normalised input (code)."""


class Finding(Fact):
    """Clinical finding (code)."""


class Recommendation(Fact):
    """Recommended action (action, urgency, extended_eeg)."""


class Treatment(Fact):
    """Treatment status proposed by one layer (drug, status, reason, layer)."""


class CaveatFact(Fact):
    """A limitation to state in the letter (code)."""


class Ask(Fact):
    """An unknown field that should be asked or measured (field)."""


_TYPE_NAMES = {
    Datum: "datum",
    Evidence: "evidence",
    Finding: "finding",
    Recommendation: "recommendation",
    Treatment: "treatment",
    CaveatFact: "caveat",
    Ask: "ask",
}


def fact_to_dict(fact: Fact) -> dict[str, Any]:
    """A JSON-ready dict of an experta fact: its type and its fields (no internal ids)."""
    out: dict[str, Any] = {"type": _TYPE_NAMES.get(type(fact), type(fact).__name__.lower())}
    out.update({str(k): v for k, v in fact.as_dict().items() if not str(k).startswith("__")})
    return out

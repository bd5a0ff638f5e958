"""experta fact types (rules/README.md): one input type ``Datum`` and the derived conclusions.

Derived facts carry no rule id (design/rule-engine.md section 3: otherwise one conclusion reached by two rules
becomes two facts and later rules fire twice); which rules produced them is kept in the trace.
"""

from __future__ import annotations

from typing import Any

from cds.facts.types import DatumRecord
from cds.rules._experta import Fact

__all__ = [
    "Ask",
    "CaveatFact",
    "Datum",
    "Evidence",
    "Finding",
    "MedicationRow",
    "Recommendation",
    "Treatment",
    "datum_class",
    "fact_to_dict",
    "to_fact",
]


class Datum(Fact):
    """Input field value (field, value, known, source[, recording_sha256, method]).

    Each field gets its own subclass (:func:`datum_class`): experta's alpha network then separates facts by type
    first, which the engine dispatches on directly instead of testing every fact against every field name.
    """


_DATUM_CLASSES: dict[str, type[Datum]] = {}


def datum_class(field: str) -> type[Datum]:
    """The Datum subclass of one field (created once per process)."""
    cls = _DATUM_CLASSES.get(field)
    if cls is None:
        cls = _DATUM_CLASSES[field] = type(f"Datum[{field}]", (Datum,), {"__doc__": f"Datum of {field}"})
    return cls


class Evidence(Fact):
    """Normalised input (code)."""


class Finding(Fact):
    """Clinical finding (code)."""


class Recommendation(Fact):
    """Recommended action (action, urgency, extended_eeg)."""


class Treatment(Fact):
    """Treatment status proposed by one layer (drug, status, reason, layer)."""


class MedicationRow(Fact):
    """What to do with a drug the patient already takes (drug, action, reason)."""


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
    MedicationRow: "medication",
    CaveatFact: "caveat",
    Ask: "ask",
}


def fact_to_dict(fact: Fact) -> dict[str, Any]:
    """A JSON-ready dict of an experta fact: its type and its fields (no internal ids)."""
    kind = "datum" if isinstance(fact, Datum) else _TYPE_NAMES.get(type(fact), type(fact).__name__.lower())
    out: dict[str, Any] = {"type": kind}
    out.update({str(k): v for k, v in fact.as_dict().items() if not str(k).startswith("__")})
    return out


def to_fact(record: DatumRecord) -> Datum:
    """The experta fact of one known input record."""
    extra = {"recording_sha256": record.recording_sha256, "method": record.method} if record.method else {}
    return datum_class(record.field)(
        field=record.field, value=record.value, known=record.known, source=record.source, **extra
    )

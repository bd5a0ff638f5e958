"""experta fact types (rules/README.md): one input type ``Datum`` and the derived conclusions.

Derived facts carry no rule id (design/rule-engine.md section 3: otherwise one conclusion reached by two rules
becomes two facts and later rules fire twice); which rules produced them is kept in the trace.
"""

from __future__ import annotations

import copyreg
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


class _DatumType(type(Fact)):  # type: ignore[misc]
    """The metaclass of the per-field Datum subclasses: it gives them a name pickle can find again (the class of
    ``field`` is ``datum_class(field)``), so a compiled rule base can be stored (cds.rules.bundle)."""

    datum_field: str


def _reduce_datum_type(cls: _DatumType) -> tuple[Any, tuple[str]]:
    return datum_class, (cls.datum_field,)


copyreg.pickle(_DatumType, _reduce_datum_type)

_DATUM_CLASSES: dict[str, type[Datum]] = {}


def datum_class(field: str) -> type[Datum]:
    """The Datum subclass of one field (created once per process)."""
    cls = _DATUM_CLASSES.get(field)
    if cls is None:
        cls = _DatumType(f"Datum[{field}]", (Datum,), {"__doc__": f"Datum of {field}", "datum_field": field})
        _DATUM_CLASSES[field] = cls
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

"""Turn a patient context and a ``cds analyze`` result into input facts (DatumRecord), unknowns included.

Semantics from rules/README.md ("Unknown is not false"): a field the file omits is unknown; ``conditions.*``
are true when listed, false when a ``conditions:`` list exists without them, unknown without a list; the same
for ``medications.*`` and ``drug_classes.*`` (and ``recent_drug_classes.*`` from ``medication_changes``). A drug
named in ``medication_changes`` counts as currently taken. When a listed medication is not in drugs.yaml its
classes are unknown, so the classes not shown true by other drugs become unknown rather than false.
"""

from __future__ import annotations

from typing import Any

from cds.caveats import Caveat
from cds.facts.patient import PatientContext
from cds.facts.types import DatumRecord
from cds.kb import Knowledge

__all__ = ["RECORDING_MAP", "build_patient_facts", "build_recording_facts"]

# (section, key) of a cds.analysis/v1 document -> psg.* field (transform applied to the value).
RECORDING_MAP: dict[str, tuple[str, str, float]] = {
    "psg.plms_index": ("leg_movements", "plms_index", 1.0),
    "psg.plms_index_including_rrlm": ("leg_movements", "plms_index_including_respiratory", 1.0),
    "psg.plmw_index": ("leg_movements", "plmw_index", 1.0),
    "psg.lm_index": ("leg_movements", "lms_index", 1.0),
    "psg.periodicity_index": ("leg_movements", "periodicity_index", 1.0),
    "psg.plms_arousal_index": ("leg_movements", "plms_arousal_index", 1.0),
    "psg.total_sleep_time_h": ("sleep", "total_sleep_time_min", 1 / 60),
    "psg.efm_minutes": ("fragmentary_myoclonus", "minutes_meeting_rule", 1.0),
    "psg.efm_excessive": ("fragmentary_myoclonus", "excessive", 1.0),
    "psg.sleep_start_jerks": ("sleep_onset_jerks", "count", 1.0),
}


def _family(
    out: list[DatumRecord], names: list[str], true: set[str], known: bool, *, unknown_others: bool = False
) -> None:
    for name in names:
        if name.split(".", 1)[1] in true:
            out.append(DatumRecord(name, True, True, "patient"))
        elif known and not unknown_others:
            out.append(DatumRecord(name, False, True, "patient"))
        else:
            out.append(DatumRecord(name, None, False, "patient"))


def _classes(names: list[str], kb: Knowledge) -> tuple[set[str], bool]:
    """Classes of ``names`` and whether any name had unknown classes."""
    classes: set[str] = set()
    unknown = False
    for name in names:
        found = kb.medication_classes(name)
        if found is None:
            unknown = True
        else:
            classes |= set(found)
    return classes, unknown


def build_patient_facts(patient: PatientContext, knowledge: Knowledge) -> list[DatumRecord]:
    """Every field of the registry that a patient file can supply, known or not, sorted by field name."""
    out: list[DatumRecord] = []
    fields = knowledge.fields
    values = dict(patient.values)
    if "age_years" not in values and "age_days" in values:
        values["age_years"] = round(values["age_days"] / 365.25, 4)
    if "labs.creatinine_clearance_ml_min" in values:
        values["renal.crcl_ml_min"] = values["labs.creatinine_clearance_ml_min"]
    if patient.medication_changes is not None:
        values["recent_medication_change"] = bool(patient.medication_changes)
    for name, spec in fields.items():
        if name.split(".", 1)[0] in ("conditions", "medications", "drug_classes", "recent_drug_classes"):
            continue
        source = "reported" if name.startswith("psg.") else "patient"
        if source not in spec.sources:
            continue
        if name in values:
            out.append(DatumRecord(name, values[name], True, source))
        else:
            out.append(DatumRecord(name, None, False, source))
    by_prefix: dict[str, list[str]] = {}
    for name in fields:
        by_prefix.setdefault(name.split(".", 1)[0], []).append(name)
    conditions = set(patient.conditions or ())
    _family(out, by_prefix.get("conditions", []), conditions, patient.conditions is not None)
    changed = [str(c["drug"]) for c in patient.medication_changes or ()]
    current = list(patient.medications or ()) + changed
    current_known = patient.medications is not None
    _family(out, by_prefix.get("medications", []), set(current), current_known)
    classes, unknown = _classes(current, knowledge)
    _family(out, by_prefix.get("drug_classes", []), classes, current_known, unknown_others=unknown)
    recent, recent_unknown = _classes(changed, knowledge)
    _family(
        out,
        by_prefix.get("recent_drug_classes", []),
        recent,
        patient.medication_changes is not None,
        unknown_others=recent_unknown,
    )
    return sorted(out, key=lambda d: (d.field, d.source))


def _count_leg_channels(analysis: dict[str, Any]) -> int | None:
    channels = analysis.get("channels") or analysis.get("recording", {}).get("channels")
    if isinstance(channels, list):
        return sum(1 for c in channels if isinstance(c, dict) and str(c.get("role", "")).startswith("leg"))
    legs = analysis.get("leg_movements", {}).get("channels")
    return len(legs) if isinstance(legs, list) else None


def build_recording_facts(analysis: dict[str, Any], knowledge: Knowledge) -> tuple[list[DatumRecord], list[Caveat]]:
    """Map a cds.analysis/v1 document to psg.* facts (source recording) and its caveats.

    A null value (its section says why under ``unavailable``) is an unknown Datum, never 0.
    """
    sha = (analysis.get("recording") or {}).get("sha256") or analysis.get("sha256")
    method = str(analysis.get("standard") or (analysis.get("parameters") or {}).get("standard") or "cds analyze")

    def rec(name: str, value: Any) -> DatumRecord:
        if value is None or name not in knowledge.fields:
            return DatumRecord(name, None, False, "recording", sha, method)
        if knowledge.fields[name].type == "number" and not isinstance(value, bool):
            value = round(float(value), 6)
        return DatumRecord(name, value, True, "recording", sha, method)

    out: list[DatumRecord] = []
    for name, (section, key, scale) in RECORDING_MAP.items():
        value = (analysis.get(section) or {}).get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and scale != 1.0:
            value = value * scale
        out.append(rec(name, value))
    rem = ((analysis.get("sleep") or {}).get("stage_minutes") or {}).get("R")
    out.append(rec("psg.rem_minutes", rem))
    respiratory = analysis.get("respiratory")
    has_resp = None
    if isinstance(respiratory, dict):
        has_resp = respiratory.get("scored", respiratory.get("present"))
    elif isinstance(respiratory, bool):
        has_resp = respiratory
    out.append(rec("psg.respiratory_channels", has_resp))
    out.append(rec("psg.leg_channels", _count_leg_channels(analysis)))
    caveats = []
    for item in analysis.get("caveats") or []:
        if isinstance(item, dict) and "code" in item:
            caveats.append(Caveat(str(item["code"]), str(item.get("text", "")), item.get("channel")))
    return sorted(out, key=lambda d: d.field), caveats

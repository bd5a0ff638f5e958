"""The patient form, generated from the field registry (knowledge/fields.yaml through cds.kb) and the patient
schema (spec/patient-v1.md with the v1.1 additions, docs/patient-file.md).

Every field has "unknown" as an answer, and it is the default: an unknown field is left out of the patient file
(omitted means unknown, never false). Conditions are answered one by one (yes / no / unknown; with any unknown,
``conditions_absent`` keeps the others unknown). The form becomes a patient-file mapping that cds.facts.patient
validates like any file, so a form and a file can never mean different things.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cds.errors import PatientFileError
from cds.facts.patient import parse_patient
from cds.kb import Knowledge
from cds.yamlfile import load_yaml, to_plain

__all__ = [
    "KEPT_KEYS",
    "FormField",
    "FormResult",
    "document_to_form",
    "document_yaml",
    "form_sections",
    "form_to_document",
    "kept_names",
]

UNKNOWN = "unknown"
_SECTIONS = (
    ("patient", "About the patient", ""),
    ("symptoms", "Symptoms", "symptoms."),
    ("labs", "Laboratory values", "labs."),
    ("psg", "Polysomnography report (external)", "psg."),
)
_TOP_SKIP = ("age_years",)  # asked as one age field with its unit
# Parts of a patient file the form does not edit: kept as they were (a hidden field) and named on the page.
KEPT_KEYS = ("medication_changes", "past_medications", "past_medications_complete")


@dataclass(frozen=True)
class FormField:
    """One input: ``name`` is the form key (the field name), ``kind`` bool | number | enum | text."""

    name: str
    label: str
    kind: str
    unit: str | None = None
    choices: tuple[str, ...] = ()


@dataclass
class FormResult:
    """The patient-file mapping built from a form, messages per form key, and messages about the whole file."""

    document: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.problems


def form_sections(kb: Knowledge) -> list[tuple[str, str, list[FormField]]]:
    """(key, title, fields) for the scalar fields a patient file may give, in registry order."""
    sections = []
    for key, title, prefix in _SECTIONS:
        fields = []
        for name, spec in kb.fields.items():
            in_section = name.startswith(prefix) if prefix else "." not in name
            source = "reported" if key == "psg" else "patient"
            if not in_section or spec.derived or name in _TOP_SKIP or source not in spec.sources:
                continue
            if key == "patient" and name == "age_days":
                continue
            fields.append(FormField(name, spec.description, spec.type, spec.unit, tuple(spec.values)))
        sections.append((key, title, fields))
    return sections


def _number(text: str) -> float | int:
    value = float(text.replace(",", "."))
    return int(value) if value.is_integer() and "." not in text and "," not in text else value


def _scalar(spec: Any, raw: str) -> tuple[Any, str | None]:
    """(value, None) or (None, message) for one answer; an empty or 'unknown' answer is (None, None)."""
    raw = raw.strip()
    if raw in ("", UNKNOWN):
        return None, None
    if spec.type == "bool":
        if raw not in ("yes", "no"):
            return None, "answer yes, no or unknown"
        return raw == "yes", None
    if spec.type == "number":
        try:
            value: Any = _number(raw)
        except ValueError:
            return None, f"expected a number{f' in {spec.unit}' if spec.unit else ''}, got {raw!r}"
    else:
        value = raw
    problem = spec.check_value(value)
    return (None, f"{problem}, got {raw!r}") if problem else (value, None)


def form_to_document(form: Mapping[str, str], kb: Knowledge) -> FormResult:
    """Build and validate the patient-file mapping from submitted form values."""
    doc: dict[str, Any] = {"schema": "cds.patient/v1.1", "id": form.get("id", "").strip()}
    result = FormResult(doc)
    if not doc["id"]:
        result.errors["id"] = "required: a pseudonym such as P-0042 (no name, no record number)"
    _age(form, result)
    for _, _, fields in form_sections(kb):
        for f in fields:
            value, problem = _scalar(kb.fields[f.name], form.get(f.name, ""))
            if problem:
                result.errors[f.name] = problem
            elif value is not None:
                _put(doc, f.name, value)
    _conditions(form, kb, doc)
    _kept(form, result)
    _medications(form, kb, result)
    if result.errors:
        return result
    try:
        parse_patient(doc, path="form", knowledge=kb)
    except PatientFileError as exc:
        result.problems.extend(getattr(exc, "problems", None) or [str(exc)])
    return result


def _put(doc: dict[str, Any], name: str, value: Any) -> None:
    section = {"symptoms": "symptoms", "labs": "labs", "psg": "polysomnography"}.get(name.split(".", 1)[0])
    if section and "." in name:
        doc.setdefault(section, {})[name.split(".", 1)[1]] = value
    else:
        doc[name] = value


def _age(form: Mapping[str, str], result: FormResult) -> None:
    raw, unit = form.get("age", "").strip(), form.get("age_unit", "years")
    if not raw:
        result.errors["age"] = "required: the age (in days for infants)"
        return
    try:
        value = _number(raw)
    except ValueError:
        result.errors["age"] = f"expected a number, got {raw!r}"
        return
    result.document["age_days" if unit == "days" else "age_years"] = value


def _conditions(form: Mapping[str, str], kb: Knowledge, doc: dict[str, Any]) -> None:
    answers = {code: form.get(f"condition.{code}", UNKNOWN) for code in kb.vocab["conditions"]}
    present = sorted(c for c, a in answers.items() if a == "yes")
    absent = sorted(c for c, a in answers.items() if a == "no")
    if not present and not absent:
        return  # not asked: every condition unknown
    doc["conditions"] = present
    if any(a not in ("yes", "no") for a in answers.values()):
        doc["conditions_absent"] = absent  # the unanswered ones stay unknown


def _medications(form: Mapping[str, str], kb: Knowledge, result: FormResult) -> None:
    listed = form.get("medications_known", UNKNOWN)
    names = [n.strip() for n in form.get("medications", "").replace(",", "\n").splitlines() if n.strip()]
    if listed == UNKNOWN:
        if names:
            result.errors["medications"] = "drugs are listed but the list is marked unknown: choose complete or partial"
        return
    if names or "medications" not in result.document:
        result.document["medications"] = [kb.canonical_drug_name(n) for n in names]
    if listed == "partial":
        result.document["medications_complete"] = False


def _kept(form: Mapping[str, str], result: FormResult) -> None:
    raw = form.get("kept", "").strip()
    if not raw:
        return
    try:
        kept = json.loads(raw)
    except ValueError:
        result.problems.append("the parts kept from the uploaded file are damaged; upload the file again")
        return
    for key, value in kept.items() if isinstance(kept, dict) else ():
        if key in KEPT_KEYS or key == "medications":
            result.document[key] = value
        elif key == "psg_date":
            result.document.setdefault("polysomnography", {})["date"] = value


def kept_names(form: Mapping[str, str]) -> list[str]:
    """The keys of the uploaded file that the form keeps without showing them for editing."""
    try:
        kept = json.loads(form.get("kept") or "{}")
    except ValueError:
        return []
    return sorted(kept) if isinstance(kept, dict) else []


def document_yaml(doc: Mapping[str, Any]) -> str:
    """The patient file as YAML text (schema and id first; the strict reader reads it back)."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.representer.sort_base_mapping_type_on_output = False  # type: ignore[attr-defined]
    ordered = {"schema": doc["schema"], "id": doc["id"], **{k: v for k, v in doc.items() if k not in ("schema", "id")}}
    buffer = io.StringIO()
    yaml.dump(to_plain(ordered), buffer)
    return buffer.getvalue()


def document_to_form(text: str, name: str, kb: Knowledge) -> dict[str, str]:
    """Form values from an uploaded patient file (validated first: PatientFileError names file:line:col)."""
    data = load_yaml(name, error_cls=PatientFileError, text=text)
    parse_patient(data, path=name, knowledge=kb)
    doc = to_plain(data)
    form: dict[str, str] = {"id": str(doc.get("id", ""))}
    if "age_days" in doc:
        form["age"], form["age_unit"] = str(doc["age_days"]), "days"
    elif "age_years" in doc:
        form["age"], form["age_unit"] = str(doc["age_years"]), "years"
    sections = {"symptoms": "symptoms.", "labs": "labs.", "polysomnography": "psg."}
    for key, value in doc.items():
        items = value.items() if key in sections and isinstance(value, dict) else [("", value)]
        for sub, v in items:
            name_ = f"{sections[key]}{sub}" if key in sections else key
            if name_ in kb.fields and not isinstance(v, list | dict):
                form[name_] = ("yes" if v else "no") if isinstance(v, bool) else str(v)
    present, absent = set(doc.get("conditions") or []), set(doc.get("conditions_absent") or [])
    if "conditions" in doc or "conditions_absent" in doc:
        for code in kb.vocab["conditions"]:
            default = UNKNOWN if "conditions_absent" in doc else "no"
            form[f"condition.{code}"] = "yes" if code in present else "no" if code in absent else default
    kept = {k: doc[k] for k in KEPT_KEYS if k in doc}
    if isinstance(doc.get("polysomnography"), dict) and "date" in doc["polysomnography"]:
        kept["psg_date"] = str(doc["polysomnography"]["date"])
    if "medications" in doc:
        if any(not isinstance(m, str) for m in doc["medications"]):
            kept["medications"] = doc["medications"]  # doses and durations: kept whole
        else:
            form["medications"] = "\n".join(doc["medications"])
        form["medications_known"] = "complete" if doc.get("medications_complete", True) else "partial"
    if kept:
        form["kept"] = json.dumps(kept, sort_keys=True, default=str)
    return form

"""Read and validate a patient context file (spec/patient-v1.md, ``schema: cds.patient/v1``).

Omitted means unknown, never false. Unknown keys are errors with their key path and a "did you mean";
bad values name the field, the value and what is allowed. YAML and JSON are both read by the strict ruamel
loader (no tags, anchors or duplicate keys), so every error carries ``file:line:col``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cds.caveats import Caveat
from cds.errors import PatientFileError
from cds.kb import Knowledge, load_knowledge
from cds.limits import MAX_PATIENT_BYTES, MAX_PATIENT_LINES, MAX_PATIENT_PROBLEMS, read_limited
from cds.yamlfile import Problems, load_yaml, locate, locate_value, to_plain

__all__ = ["SCHEMA", "PatientContext", "parse_patient", "read_patient", "read_patient_text"]

SCHEMA = "cds.patient/v1.1"
SCHEMAS = ("cds.patient/v1", "cds.patient/v1.1")  # v1.1 adds documented fields; every v1 file stays valid
# Patient-file section -> field-name prefix (rules/README.md: fields follow the file with dots).
SECTIONS = {"symptoms": "symptoms.", "labs": "labs.", "polysomnography": "psg."}
_SPECIAL_TOP = (
    "schema",
    "id",
    "conditions",
    "conditions_absent",
    "medications",
    "medications_complete",
    "medication_changes",
    "past_medications",
    "past_medications_complete",
)
_CHANGE_KEYS = {"drug": str, "days_ago": (int, float), "dose_mg_per_day": (int, float)}
_MEDICATION_KEYS = {"drug": str, "dose_mg_per_day": (int, float), "since_months": (int, float)}
_PAST_KEYS = {"drug": str, "outcome": str, "note": str}
_PSG_EXTRA = ("date",)


@dataclass(frozen=True)
class PatientContext:
    """A validated patient file. ``values`` holds every given scalar field by field name (psg.* values are the
    reported polysomnogram); ``conditions``/``medications``/``medication_changes`` are None when the key is absent
    (unknown), a tuple when given (possibly empty)."""

    id: str
    values: MappingProxyType[str, Any]
    conditions: tuple[str, ...] | None = None
    medications: tuple[str, ...] | None = None
    medication_changes: tuple[MappingProxyType[str, Any], ...] | None = None
    past_medications: tuple[MappingProxyType[str, Any], ...] | None = None  # v1.1: {drug, outcome[, note]}
    # v1.1: conditions asked about and absent; when given, a condition in neither list is unknown (not false)
    conditions_absent: tuple[str, ...] | None = None
    # v1.1: false when the medication list may be incomplete (a drug not listed is unknown, not "not taken")
    medications_complete: bool = True
    past_medications_complete: bool = True  # v1.1: false = a drug not listed under past_medications is unknown
    medication_details: MappingProxyType[str, Any] = field(
        default_factory=lambda: MappingProxyType({})
    )  # name -> details
    psg_date: str | None = None
    caveats: tuple[Caveat, ...] = ()
    source_name: str = field(default="", compare=False)

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


def _did_you_mean(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _allowed_keys(knowledge: Knowledge, section: str | None) -> list[str]:
    if section is None:
        top = [n for n in knowledge.fields if ("." not in n and not knowledge.fields[n].derived) or n == "age_years"]
        return sorted({*top, *_SPECIAL_TOP, *SECTIONS})
    prefix = SECTIONS[section]
    names = [n[len(prefix) :] for n, s in knowledge.fields.items() if n.startswith(prefix) and "patient" in s.sources]
    names += [n[len(prefix) :] for n, s in knowledge.fields.items() if n.startswith(prefix) and "reported" in s.sources]
    return sorted(set(names) | (set(_PSG_EXTRA) if section == "polysomnography" else set()))


class _TooManyProblemsError(Exception):
    """Stops the check of a patient file once MAX_PATIENT_PROBLEMS problems are found (a wrong file)."""


class _Reader:
    def __init__(self, root: Any, path: Path, knowledge: Knowledge) -> None:
        self.root, self.path, self.kb = root, path, knowledge
        self.problems = Problems()
        self.values: dict[str, Any] = {}
        self.caveats: list[Caveat] = []
        self.details: dict[str, MappingProxyType[str, Any]] = {}
        self.lists: tuple[Any, ...] = (None, None, None, None, None)
        self.complete: dict[str, bool] = {}

    def bad(self, keys: list[Any], text: str, *, at_value: bool = True) -> None:
        where = locate_value(self.root, keys) if at_value else locate(self.root, keys)
        self.problems.add(self.path, where, f"{'.'.join(map(str, keys))}: {text}")
        if len(self.problems) >= MAX_PATIENT_PROBLEMS:
            raise _TooManyProblemsError

    def scalar(self, keys: list[Any], name: str, value: Any) -> None:
        spec = self.kb.fields[name]
        value = to_plain(value)  # ruamel scalar subclasses (quoted strings, formatted ints) -> plain values
        problem = spec.check_value(value)
        if problem:
            self.bad(keys, f"{problem}, got {value!r}")
        else:
            self.values[name] = float(value) if spec.type == "number" and isinstance(value, float) else value

    def section(self, key: str, data: Any) -> None:
        if not isinstance(data, dict):
            self.bad([key], f"expected a mapping, got {data!r}")
            return
        allowed = _allowed_keys(self.kb, key)
        for sub, value in data.items():
            if sub not in allowed:
                self.bad([key, sub], f"unknown key{_did_you_mean(sub, allowed)}", at_value=False)
            elif key == "polysomnography" and sub == "date":
                self.values["psg.date"] = str(value)
            elif value is not None:
                self.scalar([key, sub], SECTIONS[key] + sub, value)

    def code_list(self, key: str, data: Any, known: list[str] | None) -> tuple[str, ...] | None:
        if not isinstance(data, list):
            self.bad([key], f"expected a list, got {data!r}")
            return None
        out = []
        for i, code in enumerate(data):
            if not isinstance(code, str) or not code:
                self.bad([key, i], f"expected a code, got {code!r}")
            elif known is not None and code not in known:
                self.bad([key, i], f"unknown code '{code}'{_did_you_mean(code, known)} (allowed: see vocab.yaml)")
            else:
                out.append(code)
        return tuple(sorted(set(out)))

    def drug_name(self, keys: list[Any], value: Any) -> str | None:
        """A drug name as written (any case, spaces or hyphens, a known alias) -> the knowledge base's name."""
        if not isinstance(value, str) or not value.strip():
            self.bad(keys, f"expected a drug name, got {value!r}")
            return None
        return self.kb.canonical_drug_name(value)

    def medications(self, data: Any) -> tuple[str, ...] | None:
        """``medications:`` names, or v1.1 mappings ``{drug, dose_mg_per_day, since_months}``."""
        if not isinstance(data, list):
            self.bad(["medications"], f"expected a list of drug names, got {data!r}")
            return None
        out = []
        for i, item in enumerate(data):
            keys = ["medications", i]
            if isinstance(item, dict):
                if not self.mapping(keys, item, _MEDICATION_KEYS, "drug"):
                    continue
                name = self.drug_name([*keys, "drug"], item["drug"])
                details = {k: v for k, v in to_plain(item).items() if k != "drug"}
                if name is not None and details:
                    self.details[name] = MappingProxyType(details)
            else:
                name = self.drug_name(keys, item)
            if name is not None:
                out.append(name)
        return tuple(sorted(set(out)))

    def mapping(self, keys: list[Any], item: dict[str, Any], spec: dict[str, Any], required: str) -> bool:
        """Check one list item mapping against ``spec`` (key -> type); False when it is unusable."""
        if required not in item:
            self.bad(keys, f"expected a mapping with at least '{required}'")
            return False
        ok = True
        for sub, value in item.items():
            if sub not in spec:
                self.bad([*keys, sub], f"unknown key{_did_you_mean(str(sub), list(spec))}", at_value=False)
                ok = False
            elif isinstance(value, bool) or not isinstance(value, spec[sub]):
                self.bad([*keys, sub], f"wrong type, got {value!r}")
                ok = False
            elif isinstance(value, int | float) and (value != value or value in (float("inf"), float("-inf"))):
                self.bad([*keys, sub], f"expected a finite number, got {value!r}")
                ok = False
            elif isinstance(value, int | float) and value < 0:
                self.bad([*keys, sub], f"must not be negative, got {value!r}")
                ok = False
        return ok

    def past(self, data: Any) -> tuple[MappingProxyType[str, Any], ...] | None:
        """v1.1 ``past_medications:`` ``{drug, outcome[, note]}`` with outcome from vocab.yaml past_outcomes."""
        if not isinstance(data, list):
            self.bad(["past_medications"], f"expected a list of {{drug, outcome}}, got {data!r}")
            return None
        outcomes = list(self.kb.vocab.get("past_outcomes") or {})
        out = []
        for i, item in enumerate(data):
            keys = ["past_medications", i]
            if isinstance(item, str):  # a bare name: taken before, outcome not stated
                item = {"drug": item, "outcome": "unknown"}
            elif not isinstance(item, dict) or not self.mapping(keys, item, _PAST_KEYS, "drug"):
                if not isinstance(item, dict):
                    self.bad(keys, "expected a drug name or a mapping {drug, outcome}")
                continue
            name = self.drug_name([*keys, "drug"], item["drug"])
            outcome = str(item.get("outcome", "unknown"))
            if outcome not in outcomes:
                self.bad(
                    [*keys, "outcome"],
                    f"unknown outcome '{outcome}'{_did_you_mean(outcome, outcomes)} (allowed: {', '.join(outcomes)})",
                )
                continue
            if name is not None:
                out.append(MappingProxyType({**to_plain(item), "drug": name, "outcome": outcome}))
        return tuple(sorted(out, key=lambda m: (m["drug"], m["outcome"])))

    def changes(self, data: Any) -> tuple[MappingProxyType[str, Any], ...] | None:
        if not isinstance(data, list):
            self.bad(["medication_changes"], f"expected a list of {{drug, days_ago, dose_mg_per_day}}, got {data!r}")
            return None
        out = []
        for i, item in enumerate(data):
            keys = ["medication_changes", i]
            if not isinstance(item, dict) or "drug" not in item:
                self.bad(keys, "expected a mapping with at least 'drug'")
                continue
            if not self.mapping(keys, item, _CHANGE_KEYS, "drug"):
                continue
            name = self.drug_name([*keys, "drug"], item["drug"])
            if name is not None:
                out.append(MappingProxyType({**to_plain(item), "drug": name}))
        return tuple(out)

    def medication_caveats(self, names: list[str]) -> None:
        for name in sorted(set(names)):
            if self.kb.medication_classes(name) is None:
                text = f"Medication '{name}' is not in the drug knowledge base; its drug classes are unknown."
                self.caveats.append(Caveat("medication_classes_unknown", text))


def _check_top(r: _Reader, data: dict[str, Any], kb: Knowledge) -> None:
    """Check every top-level key of a patient mapping into ``r`` (values, problems, lists)."""
    if data.get("schema") not in SCHEMAS:
        r.bad(
            ["schema"], f"must be one of {', '.join(SCHEMAS)} (got {data.get('schema')!r})", at_value="schema" in data
        )
    if not isinstance(data.get("id"), str | int) or isinstance(data.get("id"), bool) or str(data.get("id")) == "":
        r.bad(["id"], f"required: a pseudonym such as P-0042 (got {data.get('id')!r})", at_value="id" in data)
    allowed = _allowed_keys(kb, None)
    conditions = medications = changes = past = absent = None
    complete = {"medications_complete": True, "past_medications_complete": True}
    for key, value in data.items():
        if key in ("schema", "id"):
            continue
        if key not in allowed:
            r.bad([key], f"unknown key{_did_you_mean(str(key), allowed)}", at_value=False)
        elif key in SECTIONS:
            r.section(key, value)
        elif key == "conditions":
            conditions = r.code_list(key, value, sorted(kb.vocab["conditions"]))
        elif key == "conditions_absent":
            absent = r.code_list(key, value, sorted(kb.vocab["conditions"]))
        elif key in complete:
            if isinstance(value, bool):
                complete[key] = value
            else:
                r.bad([key], f"expected true or false, got {value!r}")
        elif key == "medications":
            medications = r.medications(value)
        elif key == "medication_changes":
            changes = r.changes(value)
        elif key == "past_medications":
            past = r.past(value)
        elif value is not None:
            r.scalar([key], key, value)
    if ("age_years" in data) == ("age_days" in data):
        r.bad(["age_years"], "exactly one of age_years or age_days is required", at_value=False)
    names = list(medications or ()) + [str(c["drug"]) for c in changes or () if "drug" in c]
    r.medication_caveats(names + [str(m["drug"]) for m in past or ()])
    for code in sorted(set(conditions or ()) & set(absent or ())):
        r.bad(["conditions_absent"], f"'{code}' is listed both as present (conditions) and as absent")
    r.lists = (conditions, medications, changes, past, absent)
    r.complete = complete


def parse_patient(data: Any, *, path: str | Path, knowledge: Knowledge | None = None) -> PatientContext:
    """Validate a patient mapping (a ruamel mapping keeps line:col for messages) and return a PatientContext."""
    kb = knowledge or load_knowledge()
    path = Path(path)
    if not isinstance(data, dict):
        raise PatientFileError("expected a mapping at the top level", path=path, location="1:1")
    r = _Reader(data, path, kb)
    try:
        _check_top(r, data, kb)
    except _TooManyProblemsError:
        first = r.problems.items[0]
        error = PatientFileError(
            first[2],
            path=first[0],
            location=first[1],
            hint=f"and more problems: checking stopped after {MAX_PATIENT_PROBLEMS}",
        )
        error.problems = r.problems.lines()  # type: ignore[attr-defined]
        raise error from None
    conditions, medications, changes, past, absent = r.lists
    complete = r.complete
    r.problems.raise_if_any(PatientFileError)
    values = dict(r.values)
    psg_date = values.pop("psg.date", None)
    return PatientContext(
        id=str(data["id"]),
        values=MappingProxyType(values),
        conditions=conditions,
        conditions_absent=absent,
        medications_complete=complete["medications_complete"],
        past_medications_complete=complete["past_medications_complete"],
        medications=medications,
        medication_changes=changes,
        past_medications=past,
        medication_details=MappingProxyType(r.details),
        psg_date=psg_date,
        caveats=tuple(r.caveats),
        source_name=path.name,
    )


def read_patient_text(path: str | Path) -> str:
    """The text of a patient file, refused before parsing when it is over the limits (README "Limits":
    MAX_PATIENT_BYTES, MAX_PATIENT_LINES) or not UTF-8."""
    path = Path(path)
    raw = read_limited(path, MAX_PATIENT_BYTES, "patient file", PatientFileError)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PatientFileError(f"not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x})", path=path) from None
    lines = text.count("\n") + 1
    if lines > MAX_PATIENT_LINES:
        raise PatientFileError(
            f"{lines} lines is more than a patient file can have (limit {MAX_PATIENT_LINES})",
            path=path,
            hint="is this the right file?",
        )
    return text


def read_patient(path: str | Path, *, knowledge: Knowledge | None = None, text: str | None = None) -> PatientContext:
    """Read a cds.patient/v1 file (YAML or JSON), or ``text`` read from it earlier (read_patient_text); raise
    PatientFileError with file:line:col on any problem."""
    text = read_patient_text(path) if text is None else text
    data = load_yaml(path, error_cls=PatientFileError, text=text)
    return parse_patient(data, path=path, knowledge=knowledge)

"""The decision as typed objects (issue 15): frozen dataclasses for the ``cds.decision/v1`` record and its parts
(spec/decision-v1.md plus the additions of docs/decision-record.md).

``Decision.from_record(mapping)`` validates a record (a decision.json read back, a log entry, the output of
:func:`cds.decision.record.build_decision_record`) and raises :class:`DecisionRecordError` naming the first part
that is wrong; ``Decision.to_record()`` gives back exactly that record (``to_json()`` the canonical text that
``cds triage`` writes). Keys a record may leave out (``consolidated_from``, ``extended_eeg``, ``strength``,
``otherwise``, ...) are ``None`` here when absent, so a record survives the round trip unchanged.

Urgencies and treatment statuses are :class:`cds.policy.OrderedCode` enums built from the declared policy
(``knowledge/policy.yaml``): their members and their order are the policy's, never a list in this module.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Self

from cds.errors import InputError
from cds.policy import OrderedCode, Policy

__all__ = [
    "SCHEMA",
    "Ask",
    "Branch",
    "CaveatDetail",
    "Conclusion",
    "CurrentMedication",
    "Decision",
    "DecisionRecordError",
    "Engine",
    "Finding",
    "Firing",
    "Inputs",
    "Measurement",
    "Otherwise",
    "Recommendation",
    "RecordingInput",
    "Ruleset",
    "Treatment",
]

SCHEMA = "cds.decision/v1"


class DecisionRecordError(InputError):
    """A decision record that is not ``cds.decision/v1`` as cds writes it. The message names the part that is
    wrong (``treatments[2].drug: missing``); ``path`` names the file or log record when the caller knows it."""


_Conv = Callable[[Any, str, "_Context"], Any]


@dataclass(frozen=True)
class _Context:
    """What reading a record needs besides the record: the policy its urgencies and statuses are read against."""

    given: Policy | None

    @property
    def policy(self) -> Policy:
        return self.given or _default_policy()


def _fail(where: str, problem: str) -> DecisionRecordError:
    return DecisionRecordError(f"not a decision record: {where or 'top level'}: {problem}")


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


# ---------------------------------------------------------------------------------------------- converters


def _str(value: Any, where: str, ctx: _Context) -> str:
    if not isinstance(value, str):
        raise _fail(where, f"expected a string, got {_type_name(value)}")
    return value


def _code(value: Any, where: str, ctx: _Context) -> str:
    """A non-empty code (drug, action, finding code, rule id)."""
    if not isinstance(value, str) or not value:
        raise _fail(where, f"expected a non-empty string, got {_type_name(value) if value != '' else 'empty'}")
    return value


def _bool(value: Any, where: str, ctx: _Context) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, f"expected true or false, got {_type_name(value)}")
    return value


def _int(value: Any, where: str, ctx: _Context) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(where, f"expected an integer, got {_type_name(value)}")
    return value


def _strs(value: Any, where: str, ctx: _Context) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise _fail(where, f"expected a list of strings, got {_type_name(value)}")
    return tuple(_str(v, f"{where}[{i}]", ctx) for i, v in enumerate(value))


def _json(value: Any, where: str, ctx: _Context) -> Any:
    """Any JSON value, kept read-only (mappings as MappingProxyType, lists as tuples)."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): _json(v, where, ctx) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_json(v, where, ctx) for v in value)
    return value


def _mapping(value: Any, where: str, ctx: _Context) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(where, f"expected an object, got {_type_name(value)}")
    out: Mapping[str, Any] = _json(value, where, ctx)
    return out


def _mappings(value: Any, where: str, ctx: _Context) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(value, list | tuple):
        raise _fail(where, f"expected a list of objects, got {_type_name(value)}")
    return tuple(_mapping(v, f"{where}[{i}]", ctx) for i, v in enumerate(value))


def _optional(conv: _Conv) -> _Conv:
    def convert(value: Any, where: str, ctx: _Context) -> Any:
        return None if value is None else conv(value, where, ctx)

    return convert


def _urgency(value: Any, where: str, ctx: _Context) -> OrderedCode:
    return _member(ctx.policy.urgency_type, value, where)


def _status(value: Any, where: str, ctx: _Context) -> OrderedCode:
    return _member(ctx.policy.status_type, value, where)


def _member(kind: type[OrderedCode], value: Any, where: str) -> OrderedCode:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise _fail(where, f"unknown {kind.__name__.lower()} {value!r} (allowed: {allowed})") from None


def _part(cls: type[_Record]) -> _Conv:
    def convert(value: Any, where: str, ctx: _Context) -> Any:
        return cls._build(value, where, ctx)

    return convert


def _parts(cls: type[_Record]) -> _Conv:
    def convert(value: Any, where: str, ctx: _Context) -> Any:
        if not isinstance(value, list | tuple):
            raise _fail(where, f"expected a list of objects, got {_type_name(value)}")
        return tuple(cls._build(v, f"{where}[{i}]", ctx) for i, v in enumerate(value))

    return convert


def _key(conv: _Conv, *, name: str | None = None, optional: bool = False) -> dict[str, Any]:
    """A record key (the metadata of its attribute): its converter, its JSON name when it is not the attribute's,
    and whether the record may leave it out (then the attribute defaults to ``None``, exactly when the key is
    absent)."""
    return {"conv": conv, "name": name, "optional": optional}


# ---------------------------------------------------------------------------------------------- base


def _plain(value: Any) -> Any:
    """The JSON value of an attribute: enums as their code, tuples as lists, read-only mappings as dicts."""
    if isinstance(value, _Record):
        return value.to_record()
    if isinstance(value, OrderedCode):
        return value.value
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class _Record:
    """Base of every part: built from a record mapping key by key, written back the same way."""

    @classmethod
    def _build(cls, data: Any, where: str, ctx: _Context) -> Self:
        if not isinstance(data, Mapping):
            raise _fail(where, f"expected an object, got {_type_name(data)}")
        known = {f.metadata.get("name") or f.name: f for f in dataclasses.fields(cls) if "conv" in f.metadata}
        extra = sorted(set(data) - set(known))
        if extra:
            raise _fail(where, f"unknown key {extra[0]!r} (allowed: {', '.join(sorted(known))})")
        values: dict[str, Any] = {}
        for key, f in known.items():
            here = f"{where}.{key}" if where else key
            if key not in data:
                if f.metadata["optional"]:
                    continue
                raise _fail(here, "missing")
            value = data[key]
            if f.metadata["optional"] and value is None:
                raise _fail(here, "null (leave the key out instead)")
            values[f.name] = f.metadata["conv"](value, here, ctx)
        return cls(**values)

    def to_record(self) -> dict[str, Any]:
        """The record as JSON-ready dicts and lists (optional keys left out when ``None``)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if "conv" not in f.metadata:
                continue
            value = getattr(self, f.name)
            if value is None and f.metadata["optional"]:
                continue
            out[f.metadata.get("name") or f.name] = _plain(value)
        return out


# ---------------------------------------------------------------------------------------------- parts


@dataclass(frozen=True)
class RecordingInput(_Record):
    sha256: str | None = dataclasses.field(metadata=_key(_optional(_str)))
    name: str | None = dataclasses.field(metadata=_key(_optional(_str)))


@dataclass(frozen=True)
class Ruleset(_Record):
    """``inputs.ruleset``: the manifest version (null without a readable manifest) and the hash of the files.
    What ``cds triage`` adds (``release``: an object or null; ``governance``) is kept as read in ``added``."""

    version: str | None = dataclasses.field(metadata=_key(_optional(_str)))
    sha256: str = dataclasses.field(metadata=_key(_str))
    added: Mapping[str, Any] = dataclasses.field(default_factory=lambda: MappingProxyType({}))

    _ADDED = ("release", "governance")

    @classmethod
    def _build(cls, data: Any, where: str, ctx: _Context) -> Self:
        if not isinstance(data, Mapping):
            raise _fail(where, f"expected an object, got {_type_name(data)}")
        added = {k: data[k] for k in Ruleset._ADDED if k in data}
        if "release" in added and added["release"] is not None:
            _mapping(added["release"], f"{where}.release", ctx)
        if "governance" in added:
            _mapping(added["governance"], f"{where}.governance", ctx)
        core = super()._build({k: v for k, v in data.items() if k not in added}, where, ctx)
        return dataclasses.replace(core, added=_json(added, where, ctx))

    @property
    def release(self) -> Mapping[str, Any] | None:
        """The signed release this rule set is (None: none, or not recorded)."""
        value: Mapping[str, Any] | None = self.added.get("release")
        return value

    def to_record(self) -> dict[str, Any]:
        return {**super().to_record(), **_plain(self.added)}


@dataclass(frozen=True)
class Engine(_Record):
    name: str = dataclasses.field(metadata=_key(_str))
    version: str = dataclasses.field(metadata=_key(_str))


@dataclass(frozen=True)
class _Hash(_Record):
    sha256: str = dataclasses.field(metadata=_key(_str))


@dataclass(frozen=True)
class Inputs(_Record):
    patient: _Hash = dataclasses.field(metadata=_key(_part(_Hash)))
    recording: RecordingInput | None = dataclasses.field(metadata=_key(_optional(_part(RecordingInput))))
    ruleset: Ruleset = dataclasses.field(metadata=_key(_part(Ruleset)))
    engine: Engine = dataclasses.field(metadata=_key(_part(Engine)))
    knowledge: _Hash | None = dataclasses.field(default=None, metadata=_key(_part(_Hash), optional=True))

    @property
    def patient_sha256(self) -> str:
        return self.patient.sha256


@dataclass(frozen=True)
class Otherwise(_Record):
    action: str = dataclasses.field(metadata=_key(_code))
    urgency: OrderedCode = dataclasses.field(metadata=_key(_urgency))
    interval: str = dataclasses.field(metadata=_key(_str))


@dataclass(frozen=True)
class Conclusion(_Record):
    """What to do first: never empty (the policy's fallback when no rule recommended anything)."""

    action: str = dataclasses.field(metadata=_key(_code))
    urgency: OrderedCode = dataclasses.field(metadata=_key(_urgency))
    interval: str = dataclasses.field(metadata=_key(_str))
    pathway: str = dataclasses.field(metadata=_key(_str))
    conditional: bool = dataclasses.field(metadata=_key(_bool))
    fallback: bool = dataclasses.field(metadata=_key(_bool))
    otherwise: Otherwise | None = dataclasses.field(default=None, metadata=_key(_part(Otherwise), optional=True))
    text: str | None = dataclasses.field(default=None, metadata=_key(_str, optional=True))


@dataclass(frozen=True)
class Branch(_Record):
    """An unanswered yes/no question whose answer ``if_`` would change what to do first."""

    field: str = dataclasses.field(metadata=_key(_code))
    question: str = dataclasses.field(metadata=_key(_str))
    if_: bool = dataclasses.field(metadata=_key(_bool, name="if"))
    action: str = dataclasses.field(metadata=_key(_code))
    urgency: OrderedCode = dataclasses.field(metadata=_key(_urgency))
    interval: str = dataclasses.field(metadata=_key(_str))
    rules: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))
    findings: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))


@dataclass(frozen=True)
class Measurement(_Record):
    value: Any = dataclasses.field(metadata=_key(_json))
    unit: str | None = dataclasses.field(metadata=_key(_optional(_str)))
    source: str = dataclasses.field(metadata=_key(_str))
    method: str | None = dataclasses.field(metadata=_key(_optional(_str)))
    other_sources: tuple[Mapping[str, Any], ...] = dataclasses.field(metadata=_key(_mappings))
    provisional: bool = dataclasses.field(metadata=_key(_bool))


@dataclass(frozen=True)
class Finding(_Record):
    code: str = dataclasses.field(metadata=_key(_code))
    rule: str = dataclasses.field(metadata=_key(_code))
    rules: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))
    references: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))
    because: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))


@dataclass(frozen=True)
class Recommendation(_Record):
    action: str = dataclasses.field(metadata=_key(_code))
    urgency: OrderedCode = dataclasses.field(metadata=_key(_urgency))
    interval: str = dataclasses.field(metadata=_key(_str))
    rules: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))
    urgency_rules: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))
    references: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))
    because: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))
    consolidated_from: tuple[str, ...] | None = dataclasses.field(default=None, metadata=_key(_strs, optional=True))
    extended_eeg: bool | None = dataclasses.field(default=None, metadata=_key(_bool, optional=True))


@dataclass(frozen=True)
class Treatment(_Record):
    """A drug's resolved status for starting it, with the rules, reasons and references behind the status."""

    drug: str = dataclasses.field(metadata=_key(_code))
    name: str = dataclasses.field(metadata=_key(_str))
    status: OrderedCode = dataclasses.field(metadata=_key(_status))
    reasons: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))
    rules: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))
    references: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))
    notes: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))
    because: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))
    dose: str | None = dataclasses.field(metadata=_key(_optional(_str)))
    discussed: bool = dataclasses.field(metadata=_key(_bool))
    current: bool = dataclasses.field(metadata=_key(_bool))
    strength: tuple[str, ...] | None = dataclasses.field(default=None, metadata=_key(_strs, optional=True))


@dataclass(frozen=True)
class CurrentMedication(_Record):
    """A drug the patient already takes and what to do with the prescription."""

    drug: str = dataclasses.field(metadata=_key(_code))
    name: str = dataclasses.field(metadata=_key(_str))
    action: str = dataclasses.field(metadata=_key(_code))
    reasons: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))
    other_reasons: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))
    how: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))
    notes: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))
    likely_cause: bool = dataclasses.field(metadata=_key(_bool))
    rules: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))
    references: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))
    because: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))
    recently_started: bool = dataclasses.field(metadata=_key(_bool))
    in_knowledge_base: bool = dataclasses.field(metadata=_key(_bool))
    details: Mapping[str, Any] | None = dataclasses.field(default=None, metadata=_key(_mapping, optional=True))
    contraindicated: tuple[str, ...] | None = dataclasses.field(default=None, metadata=_key(_strs, optional=True))


@dataclass(frozen=True)
class CaveatDetail(_Record):
    """A caveat with its code and origin: ``source`` (input, recording, rule set, ...) or the ``rule`` that
    raised it."""

    code: str = dataclasses.field(metadata=_key(_code))
    text: str = dataclasses.field(metadata=_key(_str))
    source: str | None = dataclasses.field(default=None, metadata=_key(_str, optional=True))
    channel: str | None = dataclasses.field(default=None, metadata=_key(_str, optional=True))
    rule: str | None = dataclasses.field(default=None, metadata=_key(_code, optional=True))


@dataclass(frozen=True)
class Ask(_Record):
    field: str = dataclasses.field(metadata=_key(_code))
    text: str = dataclasses.field(metadata=_key(_str))
    rules: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))


@dataclass(frozen=True)
class Firing(_Record):
    """One rule firing of the trace: the rule (id, version, hash), the facts it matched and what it asserted."""

    rule: str = dataclasses.field(metadata=_key(_code))
    version: int = dataclasses.field(metadata=_key(_int))
    sha256: str = dataclasses.field(metadata=_key(_str))
    layer: str = dataclasses.field(metadata=_key(_str))
    salience: int = dataclasses.field(metadata=_key(_int))
    facts: tuple[Mapping[str, Any], ...] = dataclasses.field(metadata=_key(_mappings))
    asserted: tuple[Mapping[str, Any], ...] = dataclasses.field(metadata=_key(_mappings))
    because: str = dataclasses.field(metadata=_key(_str))


# ---------------------------------------------------------------------------------------------- the decision


def _schema(value: Any, where: str, ctx: _Context) -> str:
    if value != SCHEMA:
        raise _fail(where, f"expected {SCHEMA!r}, got {value!r}")
    return SCHEMA


def _measurements(value: Any, where: str, ctx: _Context) -> Mapping[str, Measurement]:
    if not isinstance(value, Mapping):
        raise _fail(where, f"expected an object, got {_type_name(value)}")
    return MappingProxyType({str(k): Measurement._build(v, f"{where}.{k}", ctx) for k, v in value.items()})


_DEFAULT_POLICY: list[Policy] = []


def _default_policy() -> Policy:
    """The shipped knowledge's policy (loaded once): what a decision read back from a file is checked against."""
    if not _DEFAULT_POLICY:
        from cds.kb import load_knowledge

        _DEFAULT_POLICY.append(load_knowledge().policy_obj)
    return _DEFAULT_POLICY[0]


@dataclass(frozen=True)
class Decision(_Record):
    """One decision: ``cds.decision/v1`` with the documented additions, typed and read-only."""

    schema: str = dataclasses.field(metadata=_key(_schema))
    patient_id: str | None = dataclasses.field(metadata=_key(_optional(_str)))
    inputs: Inputs = dataclasses.field(metadata=_key(_part(Inputs)))
    conclusion: Conclusion = dataclasses.field(metadata=_key(_part(Conclusion)))
    branches: tuple[Branch, ...] = dataclasses.field(metadata=_key(_parts(Branch)))
    measurements: Mapping[str, Measurement] = dataclasses.field(metadata=_key(_measurements))
    findings: tuple[Finding, ...] = dataclasses.field(metadata=_key(_parts(Finding)))
    recommendations: tuple[Recommendation, ...] = dataclasses.field(metadata=_key(_parts(Recommendation)))
    treatments: tuple[Treatment, ...] = dataclasses.field(metadata=_key(_parts(Treatment)))
    current_medications: tuple[CurrentMedication, ...] = dataclasses.field(metadata=_key(_parts(CurrentMedication)))
    caveats: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))
    caveat_details: tuple[CaveatDetail, ...] = dataclasses.field(metadata=_key(_parts(CaveatDetail)))
    asks: tuple[Ask, ...] = dataclasses.field(metadata=_key(_parts(Ask)))
    background_references: tuple[str, ...] = dataclasses.field(metadata=_key(_strs))
    facts: tuple[Mapping[str, Any], ...] = dataclasses.field(metadata=_key(_mappings))
    trace: tuple[Firing, ...] = dataclasses.field(metadata=_key(_parts(Firing)))
    record: Mapping[str, Any] | None = dataclasses.field(default=None, metadata=_key(_mapping, optional=True))

    @classmethod
    def from_record(cls, data: Any, *, policy: Policy | None = None, source: str | Path | None = None) -> Decision:
        """Validate ``data`` (a decision record as dicts and lists) and build the Decision; urgencies and statuses
        are read against ``policy`` (default: the shipped knowledge's). Raises DecisionRecordError naming the
        first wrong part, and ``source`` (the file or log record the data came from) when given."""
        try:
            try:
                return cls._build(data, "", _Context(policy))
            except RecursionError:
                raise _fail("", "nested too deeply") from None
        except DecisionRecordError as exc:
            if source is None:
                raise
            raise DecisionRecordError(exc.problem, path=source) from None

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, 2-space indent, UTF-8 characters, final newline (``decision.json``)."""
        return json.dumps(self.to_record(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    # ------------------------------------------------------------------ questions the consumers ask

    def treatment(self, drug: str) -> Treatment | None:
        return next((t for t in self.treatments if t.drug == drug), None)

    def recommendation(self, action: str) -> Recommendation | None:
        return next((r for r in self.recommendations if r.action == action), None)

    @property
    def finding_codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.findings)

    def with_ruleset(self, ruleset: Mapping[str, Any], notices: Sequence[Mapping[str, Any]]) -> Decision:
        """This decision with its full ``inputs.ruleset`` (release, governance) and rule-set caveats first."""
        ctx = _Context(None)  # neither part holds an urgency or a status
        details = tuple(CaveatDetail._build(n, "caveat_details", ctx) for n in notices)
        return dataclasses.replace(
            self,
            inputs=dataclasses.replace(self.inputs, ruleset=Ruleset._build(ruleset, "inputs.ruleset", ctx)),
            caveat_details=(*details, *self.caveat_details),
            caveats=(*(d.text for d in details), *self.caveats),
        )

"""A pure-Python evaluator of the rule condition AST (rules/README.md, "Conditions").

Same semantics as the compiled experta rules, written independently of experta's matching: used by inline rule
tests, by ``cds explain`` (which condition failed, with the actual value) and as a differential check.
Unknown is not false: a field atom holds only for a known value; ``not`` of it holds when the field is unknown.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cds.facts.types import DatumRecord

__all__ = ["AtomTest", "FactView", "atom_predicate", "evaluate", "resolve_operand", "view_of_decision"]

_COMPARE = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


@dataclass
class FactView:
    """Known input values by field (each with its source) and the derived codes present."""

    data: dict[str, list[tuple[Any, str]]] = field(default_factory=dict)
    evidence: set[str] = field(default_factory=set)
    findings: set[str] = field(default_factory=set)
    recommendations: set[str] = field(default_factory=set)

    @classmethod
    def from_records(cls, records: Iterable[DatumRecord], **derived: Iterable[str]) -> FactView:
        view = cls(
            evidence=set(derived.pop("evidence", ())),
            findings=set(derived.pop("findings", ())),
            recommendations=set(derived.pop("recommendations", ())),
        )
        if derived:
            raise TypeError(f"unknown derived code kinds: {', '.join(sorted(derived))}")
        for rec in records:
            if rec.known:
                view.data.setdefault(rec.field, []).append((rec.value, rec.source))
        return view


def view_of_decision(decision: dict[str, Any], *, before_layer: str | None = None) -> FactView:
    """The facts of a stored decision record (``facts`` and the derived facts its ``trace`` asserted).

    ``before_layer`` keeps only derived facts asserted by layers before it: what a rule of that layer could see.
    Used by ``cds explain`` to say which condition of a rule that did not fire failed, with the actual value.
    """
    order = ["evidence", "findings", "triage", "treatment", "safety"]
    limit = order.index(before_layer) if before_layer in order else len(order)
    view = FactView()
    for fact in decision.get("facts", []):
        if fact.get("known"):
            view.data.setdefault(fact["field"], []).append((fact["value"], fact["source"]))
    for firing in decision.get("trace", []):
        if firing.get("layer") in order and order.index(firing["layer"]) >= limit:
            continue
        for item in firing.get("asserted", []):
            if item["type"] == "evidence":
                view.evidence.add(item["code"])
            elif item["type"] == "finding":
                view.findings.add(item["code"])
            elif item["type"] == "recommendation":
                view.recommendations.add(item["action"])
    return view


def resolve_operand(operand: Any, thresholds: Any) -> float:
    """A constant, or the value of ``{threshold: NAME}`` from knowledge/thresholds.yaml."""
    if isinstance(operand, dict):
        return float(thresholds[operand["threshold"]]["value"])
    return float(operand)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


@dataclass(frozen=True, eq=False)
class AtomTest:
    """The value test of one field atom (rules/README.md, "Conditions"): a plain value object, not a closure, so
    that a compiled rule base can be stored (cds.rules.bundle) and the engine and the explanations call the
    same test. ``kind`` is ``is`` (a boolean), ``eq``, ``in``, ``between`` (lo <= v < hi) or a comparison."""

    kind: str
    target: Any = None
    low: float = 0.0
    high: float = 0.0

    def __call__(self, v: Any) -> bool:
        kind = self.kind
        if kind == "is":
            return isinstance(v, bool) and v == self.target
        if kind == "eq":
            return bool(v == self.target) and type(v) is not bool
        if kind == "in":
            return not isinstance(v, bool) and v in self.target
        if not _is_number(v):
            return False
        if kind == "between":
            return bool(self.low <= v < self.high)
        return bool(_COMPARE[kind](v, self.low))


def atom_predicate(atom: dict[str, Any], thresholds: Any) -> AtomTest | None:
    """The value test of a field atom (None for ``is: known/unknown``, which test presence only)."""
    if "is" in atom:
        target = atom["is"]
        if target in ("known", "unknown"):
            return None
        return AtomTest("is", target)
    if "eq" in atom:
        return AtomTest("eq", atom["eq"])
    if "in" in atom:
        return AtomTest("in", tuple(atom["in"]))
    if "between" in atom:
        lo, hi = (float(resolve_operand(x, thresholds)) for x in atom["between"])
        return AtomTest("between", low=lo, high=hi)
    for op in _COMPARE:
        if op in atom:
            return AtomTest(op, low=float(resolve_operand(atom[op], thresholds)))
    raise ValueError(f"not a field atom: {atom!r}")


def _field_atom(atom: dict[str, Any], facts: FactView, thresholds: Any) -> tuple[bool, Any]:
    values = [v for v, src in facts.data.get(atom["field"], []) if atom.get("source") in (None, src)]
    if atom.get("is") == "unknown":
        return not values, values[0] if values else None
    if atom.get("is") == "known":
        return bool(values), values[0] if values else None
    pred = atom_predicate(atom, thresholds)
    assert pred is not None
    for v in values:
        if pred(v):
            return True, v
    return False, values[0] if values else None


def evaluate(node: dict[str, Any], facts: FactView, thresholds: Any = None) -> tuple[bool, dict[str, Any] | None, Any]:
    """Evaluate ``node``: (holds, first failing atom or None, actual value of that atom).

    For ``all`` the first child that fails is reported; for ``any`` with no branch holding, the first branch's
    failure; for ``not`` the inner atom that held (its actual value). ``actual`` is None for an unknown field.
    """
    if "all" in node:
        for child in node["all"]:
            holds, atom, actual = evaluate(child, facts, thresholds)
            if not holds:
                return False, atom, actual
        return True, None, None
    if "any" in node:
        first: tuple[bool, dict[str, Any] | None, Any] | None = None
        for child in node["any"]:
            result = evaluate(child, facts, thresholds)
            if result[0]:
                return True, None, None
            first = first or result
        assert first is not None
        return first
    if "not" in node:
        holds, _atom, _actual = evaluate(node["not"], facts, thresholds)
        if holds:
            inner = node["not"]
            leaf = inner if not any(k in inner for k in ("all", "any", "not")) else None
            actual = _field_atom(leaf, facts, thresholds)[1] if leaf and "field" in leaf else True
            return False, node, actual
        return True, None, None
    if "field" in node:
        holds, actual = _field_atom(node, facts, thresholds)
        return holds, None if holds else node, actual
    for kind, pool in (
        ("evidence", facts.evidence),
        ("finding", facts.findings),
        ("recommendation", facts.recommendations),
    ):
        if kind in node:
            holds = node[kind] in pool
            return holds, None if holds else node, holds
    raise ValueError(f"not a condition node: {node!r}")

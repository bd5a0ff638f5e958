"""Compile rule specs into experta rules (design/rule-engine.md section 2). No eval/exec: predicates are
value objects built from the AST (cds.rules.evaluate.atom_predicate).

``not`` is pushed down to atoms (De Morgan) so experta only ever sees NOT around one pattern; ``any`` becomes
OR (experta expands it to alternatives; each firing records its matched facts); field atoms become
``Datum[F](known=True[, source=S], value=P(pred))`` (one Datum subclass per field). ``is: unknown`` is NOT of
any known Datum.
Salience comes from the layer. Each rule's action is a RuleAction carrying its spec (id, version, sha256).
Nothing here is a closure: the compiled network can be stored and loaded again (cds.rules.bundle).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cds.kb import Knowledge
from cds.rules._experta import AND, NOT, OR, InitialFact, KnowledgeEngine, P, Rule
from cds.rules.evaluate import atom_predicate
from cds.rules.facts import Evidence, Finding, Recommendation, datum_class
from cds.rules.load import RuleSet, RuleSpec

__all__ = ["compile_condition", "compile_engine_class", "push_not"]

_DERIVED = {"evidence": (Evidence, "code"), "finding": (Finding, "code"), "recommendation": (Recommendation, "action")}


def push_not(node: dict[str, Any], negate: bool = False) -> dict[str, Any]:
    """Return an equivalent AST where ``not`` wraps only atoms (De Morgan; double negation removed)."""
    if "not" in node:
        return push_not(node["not"], not negate)
    if "all" in node or "any" in node:
        kind = "all" if "all" in node else "any"
        flipped = {"all": "any", "any": "all"}[kind] if negate else kind
        return {flipped: [push_not(child, negate) for child in node[kind]]}
    return {"not": node} if negate else node


def _pattern(atom: dict[str, Any], kb: Knowledge) -> tuple[Any, bool]:
    """(experta pattern, negated) for one positive atom; ``is: unknown`` becomes a negated presence test."""
    for kind, (fact_cls, slot) in _DERIVED.items():
        if kind in atom:
            return fact_cls(**{slot: atom[kind]}), False
    constraints: dict[str, Any] = {"known": True}
    if "source" in atom:
        constraints["source"] = atom["source"]
    pred = atom_predicate(atom, kb.thresholds)
    if pred is not None:
        constraints["value"] = P(pred)
    return datum_class(atom["field"])(**constraints), atom.get("is") == "unknown"


def compile_condition(node: dict[str, Any], kb: Knowledge) -> Any:
    """Compile a (pushed-down) AST node to an experta conditional element."""
    if "all" in node:
        return AND(*(compile_condition(child, kb) for child in node["all"]))
    if "any" in node:
        return OR(*(compile_condition(child, kb) for child in node["any"]))
    negate = "not" in node
    pattern, inverted = _pattern(node["not"] if negate else node, kb)
    return NOT(pattern) if negate != inverted else pattern


def _safe_name(rule_id: str) -> str:
    return "rule_" + re.sub(r"[^A-Za-z0-9]", "_", rule_id)


@dataclass(frozen=True, eq=False)
class RuleAction:
    """The action of one compiled rule: ``action(engine, spec)``. A value object rather than a closure, so that
    a compiled rule base can be stored (cds.rules.bundle); ``rule_id`` orders the agenda (cds.rules.strategy)."""

    spec: RuleSpec
    action: Callable[[Any, RuleSpec], None]

    @property
    def rule_id(self) -> str:
        return self.spec.id

    @property
    def __name__(self) -> str:  # experta logs and update_wrapper read the wrapped function's name
        return _safe_name(self.spec.id)

    def __call__(self, engine: Any) -> None:
        self.action(engine, self.spec)


def compile_rule(spec: RuleSpec, kb: Knowledge, action: Callable[[Any, RuleSpec], None]) -> Any:
    """One experta Rule for ``spec``; its action calls ``action(engine, spec)``."""
    condition = compile_condition(push_not(spec.when), kb)
    return Rule(InitialFact(), condition, salience=spec.salience)(RuleAction(spec, action))


def compile_engine_class(
    rules: RuleSet, kb: Knowledge, base: type, action: Callable[[Any, RuleSpec], None], *, only_active: bool = True
) -> type:
    """A KnowledgeEngine subclass (derived from ``base``) holding one experta rule per (active) rule spec."""
    assert issubclass(base, KnowledgeEngine)
    specs = rules.active() if only_active else rules.rules
    attrs = {_safe_name(s.id): compile_rule(s, kb, action) for s in specs}
    return type(f"CompiledRules_{rules.sha256[:12]}", (base,), attrs)

"""Literal threshold numbers in rule prose (``rules check`` E430; rules/README.md, "Numbers in prose").

A rule's prose (``title`` and ``rationale``, which the rule book prints; ``because``, and ``text``, ``note`` and
``how`` of its actions, which the letter prints) must quote a threshold through ``{threshold:NAME}``, so that a
changed threshold changes the text. The matching rule: a number (or both
ends of a range ``30-59``, ``30 to 59``) written **directly before a unit** that names a threshold's unit (``15/h``,
``15 per hour``, ``75 ng/mL``, ``75 ug/L``, ``18 years``, ``55-year``, ``20 min``) duplicates every threshold of
that unit with that value. Only the thresholds the rule depends on are compared: those of its own
conditions and placeholders, and those of the rules that assert the evidence, findings or recommendations it
matches, followed back through the layers. So "for 3 months after stopping" in a valproate note is not taken for
the HLA-B*15:02 risk window of 3 months, while "from 20 weeks" in the eclampsia rule is the 20-week threshold of the
finding it rests on. A number without a unit (a count, a score, a dose in mg, an age written as a bare number,
``ICSD-3``) is never matched, nor one of another unit (``2 weeks`` against a threshold of 2 years), nor a number
inside a placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "UNIT_WORDS",
    "VOCAB_ACTION_KEYS",
    "LiteralThreshold",
    "find_literal_thresholds",
    "label_dependencies",
    "prose_fields",
    "threshold_dependencies",
]

# threshold unit (knowledge/thresholds.yaml) -> how prose writes it right after the number
UNIT_WORDS: dict[str, str] = {
    "per_h": r"\s?(?:/\s?h(?:our)?|per\s+hour|an\s+hour)\b",
    "per_min": r"\s?(?:/\s?min(?:ute)?|per\s+minute)\b",
    "ng/mL": r"\s?(?:ng/ml|[uµ]g/l|mcg/l)\b",
    "%": r"\s?(?:%|per\s?cent\b)",
    "min": r"\s?(?:min|minutes?)\b",
    "h": r"\s?(?:h|hours?)\b",
    "years": r"(?:\s?(?:years?|yrs?)\b|-year\b)",
    "months": r"(?:\s?months?\b|-month\b)",
    "weeks": r"(?:\s?weeks?\b|-week\b)",
    "days": r"(?:\s?days?\b|-day\b)",
    "mL/min": r"\s?ml/min\b",
    "points": r"\s?points?\b",
    "drugs": r"\s?drugs?\b",
    "nights_per_week": r"\s?(?:(?:times|nights)\s+(?:a|per)\s+week|/\s?week)\b",
}
_NUMBER = r"(?<![\w.{/-])(\d+(?:\.\d+)?)(?:\s*(?:-|–|to)\s*(\d+(?:\.\d+)?))?"
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_PATTERNS = {unit: re.compile(_NUMBER + words, re.IGNORECASE) for unit, words in UNIT_WORDS.items()}


@dataclass(frozen=True)
class LiteralThreshold:
    """A literal number of one prose text that equals thresholds of the same unit."""

    column: int  # 0-based offset of the number in the text
    literal: str  # as written, with its unit
    value: float
    unit: str
    names: tuple[str, ...]  # the thresholds it duplicates


def find_literal_thresholds(text: str, thresholds: Mapping[str, Mapping[str, Any]]) -> list[LiteralThreshold]:
    """Every number-with-unit of ``text`` equal to a threshold of that unit (placeholders are not read)."""
    by_unit: dict[str, dict[float, list[str]]] = {}
    for name, entry in thresholds.items():
        value = entry.get("value") if isinstance(entry, Mapping) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            by_unit.setdefault(str(entry.get("unit")), {}).setdefault(float(value), []).append(name)
    blanked = _PLACEHOLDER.sub(lambda m: " " * len(m.group(0)), text)
    found: dict[tuple[int, str], LiteralThreshold] = {}
    for unit, pattern in _PATTERNS.items():
        values = by_unit.get(unit)
        if not values:
            continue
        for match in pattern.finditer(blanked):
            for group in (1, 2):
                if match.group(group) is None:
                    continue
                value = float(match.group(group))
                if value in values:
                    key = (match.start(group), unit)
                    found[key] = LiteralThreshold(
                        match.start(group), match.group(0).strip(), value, unit, tuple(sorted(values[value]))
                    )
    return [found[k] for k in sorted(found)]


def prose_fields(data: Mapping[str, Any]) -> Iterator[tuple[list[Any], str]]:
    """(key path, text) of a rule's prose: ``title`` and ``rationale`` (the rule book's, ``rules show``), ``because``
    and its actions' ``text``, ``note`` and ``how`` (the letter's)."""
    for key in ("title", "rationale", "because"):
        if isinstance(data.get(key), str):
            yield [key], data[key]
    then = data.get("then")
    for i, action in enumerate(then if isinstance(then, list) else []):
        if isinstance(action, Mapping):
            for key in ("text", "note", "how"):
                if isinstance(action.get(key), str):
                    yield ["then", i, key], action[key]


_DERIVED = {"evidence": "evidence", "finding": "finding", "recommendation": "recommend"}


def _walk(node: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(node, Mapping):
        yield node
        for key in ("all", "any"):
            children = node.get(key)
            for child in children if isinstance(children, list) else []:
                yield from _walk(child)
        if "not" in node:
            yield from _walk(node["not"])


def _own_thresholds(data: Mapping[str, Any]) -> set[str]:
    names: set[str] = set()
    for node in _walk(data.get("when")):
        for op in ("gt", "gte", "lt", "lte", "between"):
            value = node.get(op)
            operands: list[Any] = value if isinstance(value, list) else [value]
            names |= {str(o["threshold"]) for o in operands if isinstance(o, Mapping) and "threshold" in o}
    for _, text in prose_fields(data):
        names |= set(re.findall(r"\{threshold:([^{}]+)\}", text))
    return names


def threshold_dependencies(rules: list[Mapping[str, Any]]) -> dict[str, set[str]]:
    """Rule id -> the thresholds it depends on: its own (conditions, placeholders) and those of every rule
    asserting a derived fact it matches, transitively (retired rules assert nothing)."""
    producers: dict[tuple[str, str], list[str]] = {}
    own: dict[str, set[str]] = {}
    needs: dict[str, set[tuple[str, str]]] = {}
    for data in rules:
        rule_id = str(data.get("id"))
        own[rule_id] = _own_thresholds(data)
        needs[rule_id] = {
            (kind, str(node[kind])) for node in _walk(data.get("when")) for kind in _DERIVED if kind in node
        }
        if data.get("status") == "retired":
            continue
        then = data.get("then")
        for action in then if isinstance(then, list) else []:
            for kind, key in _DERIVED.items():
                if isinstance(action, Mapping) and isinstance(action.get(key), str):
                    producers.setdefault((kind, action[key]), []).append(rule_id)
    out: dict[str, set[str]] = {}
    for rule_id in own:
        seen, todo, names = {rule_id}, [rule_id], set()
        while todo:
            current = todo.pop()
            names |= own.get(current, set())
            for fact in needs.get(current, set()):
                for producer in producers.get(fact, []):
                    if producer not in seen:
                        seen.add(producer)
                        todo.append(producer)
        out[rule_id] = names
    return out


# vocabulary section (knowledge/vocab.yaml) -> the action key whose code it labels
VOCAB_ACTION_KEYS = {
    "evidence": "evidence",
    "findings": "finding",
    "caveats": "caveat",
    "reasons": "reason",
    "actions": "recommend",
}


def label_dependencies(rules: list[Mapping[str, Any]], deps: Mapping[str, set[str]]) -> dict[tuple[str, str], set[str]]:
    """(vocabulary section, code) -> the thresholds of the rules whose conclusions the label words (the rules
    asserting that evidence, finding, caveat or recommendation, or giving that reason): a label is letter prose
    of those rules and follows the same matching rule."""
    out: dict[tuple[str, str], set[str]] = {}
    for data in rules:
        then = data.get("then")
        for action in then if isinstance(then, list) else []:
            if not isinstance(action, Mapping):
                continue
            for section, key in VOCAB_ACTION_KEYS.items():
                if isinstance(action.get(key), str):
                    out.setdefault((section, action[key]), set()).update(deps.get(str(data.get("id")), set()))
    return out

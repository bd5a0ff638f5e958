"""Semantic checks of one rule file against knowledge/ (rules/README.md).

Fields exist and the operator fits the field's type and values; thresholds, reference keys and vocabulary codes
exist; stratification: a rule matches only derived facts of earlier layers; actions fit the layer; ``because``
placeholders resolve; inline tests name real fields and have a firing and a non-firing case.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

from cds.facts.yamlfile import Problems, locate
from cds.kb import Knowledge
from cds.rulebase.schema import LAYERS

__all__ = ["ATOM_LAYER", "LAYER_ACTIONS", "check_rule_semantics", "parse_given_key"]

_ORDER = list(LAYERS)
# Derived-fact atom -> the layer that asserts it (a rule may match it only from a later layer).
ATOM_LAYER = {"evidence": "evidence", "finding": "findings", "recommendation": "triage"}
_ATOM_VOCAB = {"evidence": "evidence", "finding": "findings", "recommendation": "actions"}
LAYER_ACTIONS = {
    "evidence": {"evidence"},
    "findings": {"finding", "caveat", "ask"},
    "triage": {"recommend", "ask", "caveat"},
    "treatment": {"treatment", "treatments", "caveat", "ask"},
    "safety": {"treatment", "treatments", "caveat", "ask"},
}
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_GIVEN_LISTS = {"evidence": "evidence", "findings": "findings", "recommendations": "actions"}


def _hint(name: str, names: Any) -> str:
    close = difflib.get_close_matches(name, list(names), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def parse_given_key(key: str) -> tuple[str, str | None]:
    """``psg.plms_index@reported`` -> (field, source); a plain key has no source."""
    name, _, source = key.partition("@")
    return name, source or None


class _Checker:
    def __init__(self, data: dict, root: Any, path: Path, kb: Knowledge, problems: Problems) -> None:
        self.data, self.root, self.path, self.kb, self.problems = data, root, path, kb, problems
        self.layer = data["layer"]

    def add(self, keys: list, text: str) -> None:
        self.problems.add(self.path, locate(self.root, keys), text)

    def threshold(self, keys: list, operand: Any) -> None:
        if isinstance(operand, dict):
            name = operand["threshold"]
            if name not in self.kb.thresholds:
                self.add(keys, f"unknown threshold '{name}'{_hint(name, self.kb.thresholds)}")

    def atom(self, node: dict, keys: list) -> None:
        name = node["field"]
        spec = self.kb.fields.get(name)
        if spec is None:
            self.add([*keys, "field"], f"unknown field '{name}'{_hint(name, self.kb.fields)}")
            return
        if "source" in node and node["source"] not in spec.sources:
            self.add([*keys, "source"], f"field {name} has no source '{node['source']}' (sources: {spec.sources})")
        op = next(o for o in ("is", "eq", "in", "gt", "gte", "lt", "lte", "between") if o in node)
        value = node[op]
        if op == "is" and value in (True, False) and spec.type != "bool":
            self.add([*keys, op], f"'is: {str(value).lower()}' needs a bool field; {name} is {spec.type}")
        elif op in ("eq", "in"):
            if spec.type not in ("enum", "text"):
                self.add([*keys, op], f"'{op}' needs an enum or text field; {name} is {spec.type}")
            elif spec.type == "enum":
                for v in value if op == "in" else [value]:
                    if v not in spec.values:
                        self.add(
                            [*keys, op], f"{name}: '{v}' is not an allowed value (allowed: {', '.join(spec.values)})"
                        )
        elif op in ("gt", "gte", "lt", "lte", "between"):
            if spec.type != "number":
                self.add([*keys, op], f"'{op}' needs a number field; {name} is {spec.type}")
            for i, operand in enumerate(value if op == "between" else [value]):
                self.threshold([*keys, op, i] if op == "between" else [*keys, op], operand)
            if op == "between":
                lo, hi = (self.operand_value(v) for v in value)
                if lo is not None and hi is not None and lo >= hi:
                    self.add([*keys, op], f"between [{lo}, {hi}] is empty (A <= value < B needs A < B)")

    def operand_value(self, operand: Any) -> float | None:
        if isinstance(operand, dict):
            entry = self.kb.thresholds.get(operand["threshold"])
            return entry["value"] if entry else None
        return operand

    def node(self, node: dict, keys: list) -> None:
        if "all" in node or "any" in node:
            kind = "all" if "all" in node else "any"
            for i, child in enumerate(node[kind]):
                self.node(child, [*keys, kind, i])
        elif "not" in node:
            self.node(node["not"], [*keys, "not"])
        elif "field" in node:
            self.atom(node, keys)
        else:
            kind = next(iter(node))
            code = node[kind]
            vocab = self.kb.vocab.get(_ATOM_VOCAB[kind], {})
            if code not in vocab:
                self.add([*keys, kind], f"unknown {kind} code '{code}'{_hint(code, vocab)} (add it to vocab.yaml)")
            producer = ATOM_LAYER[kind]
            if _ORDER.index(producer) >= _ORDER.index(self.layer):
                self.add(
                    [*keys, kind],
                    f"stratification: a {self.layer} rule cannot match '{kind}' facts "
                    f"(asserted by the {producer} layer; only earlier layers may be matched)",
                )

    def actions(self) -> None:
        allowed = LAYER_ACTIONS[self.layer]
        vocab = self.kb.vocab
        for i, action in enumerate(self.data["then"]):
            keys = ["then", i]
            kind = next(k for k in ("evidence", "finding", "recommend", "treatment", "treatments", "caveat", "ask")
                        if k in action)  # fmt: skip
            if kind not in allowed:
                self.add(keys, f"a {self.layer} rule cannot assert '{kind}' (allowed: {', '.join(sorted(allowed))})")
            checks = {"evidence": "evidence", "finding": "findings", "recommend": "actions", "caveat": "caveats"}
            if kind in checks and action[kind] not in vocab.get(checks[kind], {}):
                section = checks[kind]
                self.add([*keys, kind], f"unknown {kind} code '{action[kind]}'{_hint(action[kind], vocab[section])}"
                         f" (add it to vocab.yaml {section})")  # fmt: skip
            if kind == "ask" and action["ask"] not in self.kb.fields:
                self.add([*keys, "ask"], f"unknown field '{action['ask']}'{_hint(action['ask'], self.kb.fields)}")
            if kind in ("treatment", "treatments"):
                self.treatment(action, keys)

    def treatment(self, action: dict, keys: list) -> None:
        if action["reason"] not in self.kb.vocab.get("reasons", {}):
            self.add([*keys, "reason"], f"unknown reason code '{action['reason']}'"
                     f"{_hint(action['reason'], self.kb.vocab['reasons'])} (add it to vocab.yaml reasons)")  # fmt: skip
        target = action.get("treatment", action.get("treatments"))
        if isinstance(target, dict):
            if target["group"] not in self.kb.groups:
                self.add([*keys, "treatments", "group"], f"unknown drug group '{target['group']}'"
                         f"{_hint(target['group'], self.kb.groups)}")  # fmt: skip
            return
        for j, drug in enumerate([target] if isinstance(target, str) else target):
            if drug not in self.kb.drugs:
                where = [*keys, "treatment"] if isinstance(target, str) else [*keys, "treatments", j]
                self.add(where, f"unknown drug '{drug}'{_hint(drug, self.kb.drugs)} (not under drugs: in drugs.yaml)")

    def because(self) -> None:
        for name in _PLACEHOLDER.findall(self.data["because"]):
            if name.startswith("threshold:"):
                if name[10:] not in self.kb.thresholds:
                    self.add(["because"], f"because: unknown threshold '{name[10:]}'")
            elif name not in self.kb.fields:
                self.add(["because"], f"because: unknown field '{{{name}}}'{_hint(name, self.kb.fields)}")

    def tests(self) -> None:
        outcomes = set()
        for i, case in enumerate(self.data.get("tests") or []):
            keys = ["tests", i, "given"]
            for key, value in case["given"].items():
                if key in _GIVEN_LISTS:
                    vocab = self.kb.vocab.get(_GIVEN_LISTS[key], {})
                    for code in value if isinstance(value, list) else [value]:
                        if code not in vocab:
                            self.add([*keys, key], f"test given: unknown {key} code '{code}'")
                    continue
                name, source = parse_given_key(key)
                spec = self.kb.fields.get(name)
                if spec is None:
                    self.add([*keys, key], f"test given: unknown field '{name}'{_hint(name, self.kb.fields)}")
                elif source is not None and source not in spec.sources:
                    self.add([*keys, key], f"test given: field {name} has no source '{source}'")
                elif value is not None and (problem := spec.check_value(value)):
                    self.add([*keys, key], f"test given: {name}: {problem}, got {value!r}")
            if not case.get("todo"):
                outcomes.add(case["expect"]["fires"])
        if self.data["status"] == "active" and outcomes != {True, False}:
            missing = " and ".join(w for w, b in (("firing", True), ("non-firing", False)) if b not in outcomes)
            self.add(["tests"], f"an active rule needs at least one {missing} test case")


def check_rule_semantics(data: dict, root: Any, path: Path, kb: Knowledge, problems: Problems) -> None:
    """Add every semantic problem of one schema-valid rule to ``problems``."""
    checker = _Checker(data, root, path, kb, problems)
    checker.node(data["when"], ["when"])
    checker.actions()
    for i, ref in enumerate(data["references"]):
        if ref["key"] not in kb.references:
            checker.add(
                ["references", i, "key"], f"unknown reference key '{ref['key']}'{_hint(ref['key'], kb.references)}"
            )
    checker.because()
    checker.tests()

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

from cds.kb import Knowledge
from cds.rules.schema import IN_FORCE, LAYERS
from cds.rules.timeframes import consistent_tiers, stated_frames
from cds.yamlfile import Problems, locate

__all__ = ["ATOM_LAYER", "LAYER_ACTIONS", "check_rule_semantics", "parse_given_key"]

_ORDER = list(LAYERS)
# Derived-fact atom -> the layer that asserts it (a rule may match it only from a later layer).
ATOM_LAYER = {"evidence": "evidence", "finding": "findings", "recommendation": "triage"}
_ATOM_VOCAB = {"evidence": "evidence", "finding": "findings", "recommendation": "actions"}
LAYER_ACTIONS = {
    "evidence": {"evidence"},
    "findings": {"finding", "caveat", "ask"},
    "triage": {"recommend", "ask", "caveat"},
    "treatment": {"treatment", "treatments", "medication", "caveat", "ask"},
    "safety": {"treatment", "treatments", "medication", "caveat", "ask"},
}
_ACTION_KINDS = ("evidence", "finding", "recommend", "treatment", "treatments", "medication", "caveat", "ask")
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
    def __init__(self, data: dict[str, Any], root: Any, path: Path, kb: Knowledge, problems: Problems) -> None:
        self.data, self.root, self.path, self.kb, self.problems = data, root, path, kb, problems
        self.layer = data["layer"]

    def add(self, keys: list[Any], text: str) -> None:
        self.problems.add(self.path, locate(self.root, keys), text)

    def threshold(self, keys: list[Any], operand: Any) -> None:
        if isinstance(operand, dict):
            name = operand["threshold"]
            if name not in self.kb.thresholds:
                self.add(keys, f"unknown threshold '{name}'{_hint(name, self.kb.thresholds)}")

    def atom(self, node: dict[str, Any], keys: list[Any]) -> None:
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
            return float(entry["value"]) if entry else None
        return float(operand) if isinstance(operand, int | float) and not isinstance(operand, bool) else None

    def node(self, node: dict[str, Any], keys: list[Any]) -> None:
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
            kind = next(k for k in _ACTION_KINDS if k in action)
            if kind not in allowed:
                self.add(keys, f"a {self.layer} rule cannot assert '{kind}' (allowed: {', '.join(sorted(allowed))})")
            checks = {"evidence": "evidence", "finding": "findings", "recommend": "actions", "caveat": "caveats"}
            if kind in checks and action[kind] not in vocab.get(checks[kind], {}):
                section = checks[kind]
                self.add(
                    [*keys, kind],
                    f"unknown {kind} code '{action[kind]}'{_hint(action[kind], vocab[section])}"
                    f" (add it to vocab.yaml {section})",
                )
            if kind == "ask" and action["ask"] not in self.kb.fields:
                self.add([*keys, "ask"], f"unknown field '{action['ask']}'{_hint(action['ask'], self.kb.fields)}")
            if kind in ("treatment", "treatments"):
                self.treatment(action, keys)
            if kind == "medication":
                self.medication(action, keys)
            for key in ("text", "note", "how"):
                if isinstance(action.get(key), str):
                    self.placeholders(
                        action[key], [*keys, key], drug_row=kind in ("medication", "treatment", "treatments")
                    )

    def medication(self, action: dict[str, Any], keys: list[Any]) -> None:
        vocab = self.kb.vocab
        if action["action"] not in vocab.get("medication_actions", {}):
            self.add(
                [*keys, "action"],
                f"unknown medication action '{action['action']}'"
                f"{_hint(action['action'], vocab.get('medication_actions', {}))} (vocab.yaml medication_actions)",
            )
        if action["reason"] not in vocab.get("reasons", {}):
            self.add(
                [*keys, "reason"],
                f"unknown reason code '{action['reason']}'"
                f"{_hint(action['reason'], vocab['reasons'])} (add it to vocab.yaml reasons)",
            )
        target = action["medication"]
        for cls in [target["class"]] if "class" in target else target.get("classes", []):
            if cls not in self.kb.classes:
                self.add([*keys, "medication"], f"unknown drug class '{cls}'{_hint(cls, self.kb.classes)}")
        if "group" in target and target["group"] not in self.kb.groups:
            self.add([*keys, "medication", "group"], f"unknown drug group '{target['group']}'")
        names = set(self.kb.medications) | set(self.kb.drugs)
        for drug in target.get("drugs", []):
            if drug not in names:
                self.add([*keys, "medication"], f"unknown drug '{drug}'{_hint(drug, names)}")

    def treatment(self, action: dict[str, Any], keys: list[Any]) -> None:
        if action["reason"] not in self.kb.vocab.get("reasons", {}):
            self.add(
                [*keys, "reason"],
                f"unknown reason code '{action['reason']}'"
                f"{_hint(action['reason'], self.kb.vocab['reasons'])} (add it to vocab.yaml reasons)",
            )
        if action.get("strength") and action["strength"] not in self.kb.vocab.get("strengths", {}):
            self.add(
                [*keys, "strength"],
                f"unknown strength '{action['strength']}'"
                f"{_hint(action['strength'], self.kb.vocab.get('strengths', {}))} (vocab.yaml strengths)",
            )
        target = action.get("treatment", action.get("treatments"))
        if isinstance(target, dict) and "family" in target:
            if f"{target['family']}." not in {f.split(".", 1)[0] + "." for f in self.kb.fields if "." in f}:
                self.add([*keys, "treatments", "family"], f"unknown field family '{target['family']}'")
            return
        if isinstance(target, dict) and "requested" in target:
            return
        if isinstance(target, dict):
            if target["group"] not in self.kb.groups:
                self.add(
                    [*keys, "treatments", "group"],
                    f"unknown drug group '{target['group']}'{_hint(target['group'], self.kb.groups)}",
                )
            return
        for j, drug in enumerate([target] if isinstance(target, str) else target or []):
            if drug not in self.kb.drugs:
                where = [*keys, "treatment"] if isinstance(target, str) else [*keys, "treatments", j]
                self.add(where, f"unknown drug '{drug}'{_hint(drug, self.kb.drugs)} (not under drugs: in drugs.yaml)")

    def because(self) -> None:
        self.placeholders(self.data["because"], ["because"], drug_row=False)

    def book_prose(self) -> None:
        """``{threshold:NAME}`` in ``title`` and ``rationale`` (filled in the rule book and ``rules show``) names a
        threshold. Other braces are left as written there: a rationale may name a placeholder (``{renal_dose}``)."""
        for key in ("title", "rationale"):
            text = self.data.get(key)
            for name in _PLACEHOLDER.findall(text) if isinstance(text, str) else []:
                if name.startswith("threshold:") and name[10:] not in self.kb.thresholds:
                    self.add([key], f"{key}: unknown threshold '{name[10:]}'{_hint(name[10:], self.kb.thresholds)}")

    def placeholders(self, text: str, keys: list[Any], *, drug_row: bool) -> None:
        """Every ``{...}`` of a text resolves: a field, ``threshold:``, ``class:``, ``interval:`` or ``drug``."""
        what = str(keys[-1]) if isinstance(keys[-1], str) else "text"
        for name in _PLACEHOLDER.findall(text):
            if name.startswith("threshold:"):
                if name[10:] not in self.kb.thresholds:
                    self.add(keys, f"{what}: unknown threshold '{name[10:]}'")
            elif name.startswith("class:"):
                if name[6:] not in self.kb.classes:
                    self.add(keys, f"{what}: unknown drug class '{name[6:]}'")
            elif name.startswith("interval:"):
                if name[9:] not in self.kb.policy_obj.urgency_order:
                    self.add(keys, f"{what}: unknown urgency '{name[9:]}'")
            elif name in ("drug", "renal_dose"):
                if not drug_row:
                    self.add(keys, f"{what}: {{drug}} only in a medication or treatment note")
            elif name not in self.kb.fields:
                self.add(keys, f"{what}: unknown field '{{{name}}}'{_hint(name, self.kb.fields)}")

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
        if self.data["status"] in IN_FORCE and outcomes != {True, False}:
            missing = " and ".join(w for w, b in (("firing", True), ("non-firing", False)) if b not in outcomes)
            self.add(["tests"], f"an active rule needs at least one {missing} test case")


def _texts(data: dict[str, Any]) -> list[tuple[list[Any], str]]:
    """(key path, text) of every prose field of a rule: title, rationale, because and its actions' texts."""
    out: list[tuple[list[Any], str]] = [
        ([k], data[k]) for k in ("title", "rationale", "because") if isinstance(data.get(k), str)
    ]
    for i, action in enumerate(data["then"]):
        out += [(["then", i, k], action[k]) for k in ("text", "note", "how") if isinstance(action.get(k), str)]
    return out


def check_time_frames(data: dict[str, Any], kb: Knowledge) -> list[tuple[list[Any], str]]:
    """Time frames written in a rule's prose must be those of the urgency the rule sets (policy.yaml is the one
    place that words them; clinical review 2, A4). A rule that sets no urgency states no time frame."""
    policy = kb.policy_obj
    urgencies = {a["urgency"] for a in data["then"] if "recommend" in a}
    out = []
    for keys, text in _texts(data):
        for frame in stated_frames(text):
            tiers = consistent_tiers(frame.days, policy)
            if not urgencies:
                out.append(
                    (
                        keys,
                        f"states a time frame ('{frame.phrase}') but sets no urgency: time frames belong to "
                        "the rule that sets the urgency (write {interval:URGENCY} there)",
                    )
                )
            elif not tiers & urgencies:
                said = ", ".join(sorted(urgencies))
                meets = " or ".join(sorted(tiers)) or "none"
                out.append(
                    (
                        keys,
                        f"time frame '{frame.phrase}' contradicts the rule's urgency {said} "
                        f"({'; '.join(policy.interval(u) for u in sorted(urgencies))}); it needs {meets}",
                    )
                )
        for name in re.findall(r"\{interval:([a-z_]+)\}", text):
            if urgencies and name not in urgencies:
                out.append((keys, f"{{interval:{name}}} is not the rule's urgency ({', '.join(sorted(urgencies))})"))
    return out


def check_rule_semantics(data: dict[str, Any], root: Any, path: Path, kb: Knowledge, problems: Problems) -> None:
    """Add every semantic problem of one schema-valid rule to ``problems``."""
    checker = _Checker(data, root, path, kb, problems)
    checker.node(data["when"], ["when"])
    checker.actions()
    for i, ref in enumerate(data["references"]):
        if ref["key"] not in kb.references:
            checker.add(
                ["references", i, "key"], f"unknown reference key '{ref['key']}'{_hint(ref['key'], kb.references)}"
            )
        elif kb.references[ref["key"]].get("kind") == "seed" and ref.get("role") != "background":
            checker.add(
                ["references", i],
                f"{ref['key']} is the lay seed article: cite it only with role: background, never as the evidence "
                "for a clinical step",
            )
    if all(ref.get("role") == "background" for ref in data["references"]):
        checker.add(["references"], "a rule needs at least one reference that is evidence (not only background)")
    checker.because()
    checker.book_prose()
    for keys, text in check_time_frames(data, kb):
        checker.add(keys, text)
    checker.tests()

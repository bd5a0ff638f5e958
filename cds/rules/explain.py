"""``cds explain``: why each line of a decision is there, read from the decision record alone.

A filter over the ``trace`` and ``facts`` stored in decision.json (cds.decision/v1), never a fresh engine run:
for every recommendation, finding and treatment status, the chain of rule firings behind it (each with the
facts it matched, including the findings and evidence asserted by earlier rules). For a rule that did not
fire, the rule is loaded from the current rules/ folder and its ``when`` is evaluated on the stored facts to
show the first condition that failed and the actual value; a warning says when the rule set has changed
since the decision was made.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cds.errors import InputError

log = logging.getLogger(__name__)

__all__ = [
    "check_decision",
    "explain_decision",
    "explain_rule",
    "format_explanation",
    "read_decision",
    "record_fact_view",
]

_DERIVED_KEYS = ("code", "action", "drug", "field")


MAX_DECISION_BYTES = 64 * 1024 * 1024  # a decision record with its whole trace is a few hundred kilobytes
_LISTS_OF_OBJECTS = ("trace", "facts", "findings", "recommendations", "treatments", "asks")


def read_decision(path: str | Path) -> dict[str, Any]:
    """Read a decision.json; raise InputError naming the file (and the place in it) when it is unreadable, not
    cds.decision/v1, or shaped otherwise than explain reads it (issue 16: never an internal error)."""
    path = Path(path)
    if path.is_dir():
        raise InputError("cannot read decision record: Is a directory", path=path)
    try:
        if path.is_file() and path.stat().st_size > MAX_DECISION_BYTES:
            raise InputError(f"larger than a decision record can be (limit {MAX_DECISION_BYTES >> 20} MiB)", path=path)
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read decision record: {exc.strerror or exc}", path=path) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"not a decision record: not UTF-8 text (byte {exc.start})", path=path) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg}", path=path, location=f"{exc.lineno}:{exc.colno}") from exc
    except RecursionError:
        raise InputError("not a decision record: nested too deeply", path=path) from None
    if not isinstance(data, dict) or data.get("schema") != "cds.decision/v1":
        got = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise InputError(f"not a decision record (allowed: schema cds.decision/v1, got: {got!r})", path=path)
    _check_shape(data, path)
    return data


def check_decision(data: Any, where: str) -> dict[str, Any]:
    """A decision read from elsewhere (the decision log) checked as :func:`read_decision` checks a file."""
    if not isinstance(data, dict) or data.get("schema") != "cds.decision/v1":
        got = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise InputError(f"not a decision record (allowed: schema cds.decision/v1, got: {got!r})", path=where)
    _check_shape(data, Path(where))
    return data


def _check_shape(data: Mapping[str, Any], path: Path) -> None:
    """The parts explain reads have the types cds.decision/v1 gives them (lists of objects, lists of rule ids)."""

    def bad(where: str, want: str, got: Any) -> InputError:
        return InputError(f"not a decision record: {where}: expected {want}, got {type(got).__name__}", path=path)

    inputs = data.get("inputs")
    if inputs is not None and not isinstance(inputs, Mapping):
        raise bad("inputs", "an object", inputs)
    if isinstance(inputs, Mapping) and not isinstance(inputs.get("ruleset") or {}, Mapping):
        raise bad("inputs.ruleset", "an object", inputs.get("ruleset"))
    for key in _LISTS_OF_OBJECTS:
        items = data.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise bad(key, "a list", items)
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise bad(f"{key}[{i}]", "an object", item)
            for sub in ("rules", "references", "facts", "asserted"):
                if item.get(sub) is not None and not isinstance(item[sub], list):
                    raise bad(f"{key}[{i}].{sub}", "a list", item[sub])
            for sub in ("because", "reasons"):
                if item.get(sub) is not None and not isinstance(item[sub], list | str):
                    raise bad(f"{key}[{i}].{sub}", "a list or a text", item[sub])
            rule_ids = item.get("rules") or []
            for sub in ("rule", *(f"rules[{k}]" for k in range(len(rule_ids)))):
                value = rule_ids[int(sub[6:-1])] if sub.startswith("rules[") else item.get("rule")
                if value is not None and not isinstance(value, str):
                    raise bad(f"{key}[{i}].{sub}", "a rule id", value)
            if key == "trace" and not all(
                isinstance(f, Mapping) for k in ("facts", "asserted") for f in item.get(k) or []
            ):
                raise bad(f"trace[{i}].facts", "a list of objects", item.get("facts"))


def explain_decision(decision: Mapping[str, Any]) -> dict[str, Any]:
    """The chain of rule firings and facts behind every finding, recommendation, treatment status and ask."""
    trace = list(decision.get("trace") or [])
    conclusions = []
    for kind, items, name_key in (
        ("finding", decision.get("findings"), "code"),
        ("recommendation", decision.get("recommendations"), "action"),
        ("treatment", decision.get("treatments"), "drug"),
        ("ask", decision.get("asks"), "field"),
    ):
        for item in items or []:
            rules = list(item.get("rules") or ([item["rule"]] if item.get("rule") else []))
            conclusions.append(
                {
                    "kind": kind,
                    "name": str(item.get(name_key)),
                    "detail": _detail(kind, item),
                    "rules": rules,
                    "references": list(item.get("references") or []),
                    "because": list(item.get("because") or item.get("reasons") or []),
                    "chain": _chain(trace, rules),
                }
            )
    return {
        "patient_id": decision.get("patient_id"),
        "ruleset": _ruleset(decision),
        "conclusions": conclusions,
        "warnings": [],
    }


def explain_rule(decision: Mapping[str, Any], rule_id: str, *, rules_dir: Path | None = None) -> dict[str, Any]:
    """Explain one rule: its firings and what they supported, or, when it did not fire, the first failing
    condition evaluated on the stored facts (the rule itself read from the current rules/ folder)."""
    trace = list(decision.get("trace") or [])
    firings = [t for t in trace if t.get("rule") == rule_id]
    supported = [
        {"kind": c["kind"], "name": c["name"], "detail": c["detail"]}
        for c in explain_decision(decision)["conclusions"]
        if any(step["rule"] == rule_id for step in c["chain"])
    ]
    report: dict[str, Any] = {
        "patient_id": decision.get("patient_id"),
        "ruleset": _ruleset(decision),
        "rule": rule_id,
        "fired": bool(firings),
        "warnings": [],
    }
    if firings:
        report["firings"] = [_step(t) for t in firings]
        report["supported"] = supported
        return report
    report.update(_why_not(decision, rule_id, rules_dir=rules_dir))
    report["warnings"] = _hash_warnings(decision, report.pop("ruleset_sha256"), rules_dir)
    return report


def _ruleset(decision: Mapping[str, Any]) -> dict[str, Any]:
    rs = (decision.get("inputs") or {}).get("ruleset") or {}
    return {"version": rs.get("version"), "sha256": rs.get("sha256")}


def _hash_warnings(decision: Mapping[str, Any], current: str | None, rules_dir: Path | None = None) -> list[str]:
    """A warning when the current rules/ differ from the rule set the decision was made with (the record holds
    the manifest's hash of rules/ and knowledge/, or, without a manifest, the rule loader's hash)."""
    from cds.rules.manifest import ruleset_stamp

    recorded = _ruleset(decision).get("sha256")
    if recorded == current or recorded == ruleset_stamp(rules_dir).get("sha256"):
        return []
    text = (
        f"the rule set changed since this decision (recorded sha256 {str(recorded)[:12]}, "
        f"current {str(current)[:12]}): the rule evaluated is today's version"
    )
    log.warning(text)
    return [text]


def _detail(kind: str, item: Mapping[str, Any]) -> str:
    if kind == "recommendation":
        return str(item.get("urgency") or "")
    if kind == "treatment":
        return str(item.get("status") or "")
    if kind == "ask":
        return str(item.get("text") or "")
    return ""


def _fact_key(fact: Mapping[str, Any]) -> tuple[str, str] | None:
    """Identity of a derived fact (evidence, finding, recommendation, treatment) for chaining; None for inputs."""
    kind = str(fact.get("type") or "")
    if kind in ("datum", "field", "input", ""):
        return None
    for key in _DERIVED_KEYS:
        if fact.get(key) is not None:
            return kind, str(fact[key])
    return None


def _chain(trace: Sequence[Mapping[str, Any]], rules: Sequence[str]) -> list[dict[str, Any]]:
    """The firings of ``rules`` plus, transitively, the earlier firings that asserted the derived facts they
    matched; in trace (firing) order."""
    wanted = {i for i, t in enumerate(trace) if t.get("rule") in set(rules)}
    todo = sorted(wanted)
    while todo:
        index = todo.pop()
        for fact in trace[index].get("facts") or []:
            key = _fact_key(fact) if isinstance(fact, Mapping) else None
            if key is None:
                continue
            for j in range(index):
                asserted = {_fact_key(a) for a in trace[j].get("asserted") or [] if isinstance(a, Mapping)}
                if key in asserted and j not in wanted:
                    wanted.add(j)
                    todo.append(j)
    return [_step(trace[i]) for i in sorted(wanted)]


def _step(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "rule": entry.get("rule"),
        "version": entry.get("version"),
        "layer": entry.get("layer"),
        "because": entry.get("because"),
        "facts": list(entry.get("facts") or []),
        "asserted": list(entry.get("asserted") or []),
    }


def format_explanation(report: Mapping[str, Any]) -> str:
    """Plain text for a terminal: one block per conclusion (or per rule with ``--rule``)."""
    lines = [
        f"decision for {report.get('patient_id')} (rule set {report['ruleset'].get('version')}, "
        f"sha256 {str(report['ruleset'].get('sha256'))[:12]})"
    ]
    lines += [f"warning: {w}" for w in report.get("warnings") or []]
    if "rule" in report:
        lines += _format_rule(report)
    else:
        for c in report.get("conclusions") or []:
            head = f"{c['kind']} {c['name']}" + (f" ({c['detail']})" if c["detail"] else "")
            lines += ["", head]
            if c["because"]:
                lines.append("  because: " + "; ".join(str(b) for b in c["because"]))
            if c["references"]:
                lines.append("  references: " + ", ".join(map(str, c["references"])))
            if not c["chain"]:
                lines.append("  (no firing of " + ", ".join(map(str, c["rules"])) + " in the trace)")
            for step in c["chain"]:
                lines += _format_step(step, indent="  ")
    return "\n".join(lines) + "\n"


def _format_rule(report: Mapping[str, Any]) -> list[str]:
    lines = [""]
    if report["fired"]:
        lines.append(f"rule {report['rule']} fired {len(report['firings'])} time(s)")
        for step in report["firings"]:
            lines += _format_step(step, indent="  ")
        for c in report.get("supported") or []:
            lines.append(f"  supports {c['kind']} {c['name']}" + (f" ({c['detail']})" if c["detail"] else ""))
        return lines
    lines.append(f"rule {report['rule']} (version {report.get('version')}, layer {report.get('layer')}) did not fire")
    failing = report.get("first_failing")
    if report.get("holds"):
        lines.append("  its conditions hold on the stored facts (it would fire with the current rule files)")
    elif failing is not None:
        lines.append(f"  first failing condition: {json.dumps(failing, sort_keys=True)}")
        lines.append(f"  actual value: {json.dumps(report.get('actual'), sort_keys=True)}")
        if report.get("failed"):
            lines.append("  every condition that failed:")
            lines += [f"    - {text}" for text in report["failed"]]
    return lines


def _format_step(step: Mapping[str, Any], *, indent: str) -> list[str]:
    lines = [
        f"{indent}<- {step['rule']} v{step.get('version')} [{step.get('layer')}]"
        + (f": {step['because']}" if step.get("because") else "")
    ]
    for fact in step.get("facts") or []:
        lines.append(f"{indent}     matched {_fact_text(fact)}")
    for fact in step.get("asserted") or []:
        lines.append(f"{indent}     asserted {_fact_text(fact)}")
    return lines


def _fact_text(fact: Any) -> str:
    if not isinstance(fact, Mapping):
        return str(fact)
    kind = fact.get("type") or "fact"
    if fact.get("field") is not None and kind in ("datum", "field", "input", "fact"):
        source = f" ({fact['source']})" if fact.get("source") else ""
        return f"{fact['field']} = {json.dumps(fact.get('value'))}{source}"
    rest = ", ".join(f"{k}={fact[k]}" for k in sorted(fact) if k != "type")
    return f"{kind} {rest}"


def _why_not(decision: Mapping[str, Any], rule_id: str, *, rules_dir: Path | None) -> dict[str, Any]:
    """Evaluate the current version of ``rule_id`` on the facts stored in the record (no engine run)."""
    from cds.paths import rules_dir as default_rules_dir
    from cds.rules.evaluate import evaluate

    folder = Path(rules_dir or default_rules_dir())
    rules, kb = _current_rules(folder, rules_dir is None)
    spec = rules.by_id().get(rule_id)
    if spec is None:
        raise InputError(f"no rule {rule_id} in the current rule set (nor in the decision's trace)", path=folder.name)
    view = record_fact_view(decision)
    holds, failing, actual = evaluate(spec.when, view, kb.thresholds)
    failed = [] if holds else why_not_words(spec.when, view, kb)
    return {
        "version": spec.version,
        "layer": spec.layer,
        "holds": bool(holds),
        "first_failing": _plain(failing),
        "actual": _plain(actual),
        "failed": failed,
        "ruleset_sha256": rules.sha256,
    }


_OPS = {"gt": "above", "gte": "at least", "lt": "below", "lte": "at most", "eq": "equal to"}


def _operand_words(value: Any, kb: Any) -> str:
    if isinstance(value, Mapping) and "threshold" in value:
        name = str(value["threshold"])
        entry = kb.thresholds.get(name) or {}
        unit = f" {entry['unit']}" if entry.get("unit") else ""
        return f"{entry.get('value', '?')}{unit} ({name})"
    return json.dumps(value) if not isinstance(value, str) else value


def _value_words(values: list[Any]) -> str:
    def one(v: Any) -> str:
        if isinstance(v, bool):
            return "yes" if v else "no"
        return v if isinstance(v, str) else json.dumps(v)

    return " / ".join(one(v) for v in values) if values else "unknown"


def atom_words(atom: Mapping[str, Any], view: Any, kb: Any, *, negated: bool = False) -> str:
    """One failed condition in words, with the value the facts hold (``the PLMS index is 12, the rule needs
    above 15 /h (plms_index_adult_per_h)``)."""
    for kind, pool, label in (
        ("evidence", "evidence", "evidence"),
        ("finding", "findings", "finding"),
        ("recommend", "recommendations", "recommendation"),
    ):
        if kind in atom:
            present = str(atom[kind]) in getattr(view, pool)
            if negated:
                return f"{label} {atom[kind]} is present; the rule needs it absent"
            return f"{label} {atom[kind]} is {'present' if present else 'absent'}; the rule needs it"
    if "field" not in atom:
        return f"{json.dumps(_plain(atom), sort_keys=True)} {'holds' if negated else 'does not hold'}"
    field_name = str(atom["field"])
    spec = (getattr(kb, "fields", None) or {}).get(field_name)
    name = f"{getattr(spec, 'description', None) or field_name} ({field_name})"
    source = atom.get("source")
    values = [v for v, src in view.data.get(field_name, []) if source in (None, src)]
    where = f" ({source})" if source else ""
    if "is" in atom and atom["is"] in ("known", "unknown"):
        need = atom["is"]
    elif "is" in atom:
        need = f"{'yes' if atom['is'] else 'no'}"
    elif "in" in atom:
        need = "one of " + ", ".join(map(str, atom["in"]))
    elif "between" in atom:
        lo, hi = atom["between"]
        need = f"from {_operand_words(lo, kb)} to below {_operand_words(hi, kb)}"
    else:
        op = next((o for o in _OPS if o in atom), None)
        need = f"{_OPS[op]} {_operand_words(atom[op], kb)}" if op else json.dumps(_plain(atom))
    if negated:
        return f"{name}{where} is {_value_words(values)}; the rule needs it not {need}"
    return f"{name}{where} is {_value_words(values)}; the rule needs {need}"


def why_not_words(node: Mapping[str, Any], view: Any, kb: Any, *, negated: bool = False) -> list[str]:
    """Every condition that fails (not only the first), each in words with the fact values that failed it."""
    from cds.rules.evaluate import evaluate

    if "all" in node and not negated:
        out: list[str] = []
        for child in node["all"]:
            if not evaluate(child, view, kb.thresholds)[0]:
                out += why_not_words(child, view, kb)
        return out
    if "any" in node and not negated:
        parts = [" / ".join(why_not_words(child, view, kb)) for child in node["any"]]
        return ["none of these holds: " + "; or ".join(f"({p})" for p in parts)]
    if "not" in node:
        inner = node["not"]
        if isinstance(inner, Mapping) and ("all" in inner or "any" in inner):
            return [f"this must not hold, but it does: {json.dumps(_plain(inner), sort_keys=True)}"]
        return [atom_words(inner, view, kb, negated=True)]
    return [atom_words(node, view, kb)]


def _current_rules(folder: Path, default: bool) -> tuple[Any, Any]:
    """The current rule set and knowledge: the process's compiled rule base when it loads cleanly, else every
    valid rule file (a broken unrelated file must not stop an auditor from asking about this one)."""
    from cds.errors import RuleFileError
    from cds.kb import load_knowledge
    from cds.rules.load import check_rules

    if default:
        from cds.rules.engine import load_rulebase

        try:
            rulebase = load_rulebase()
            return rulebase.rules, rulebase.kb
        except RuleFileError as exc:
            log.warning("rule set does not load cleanly (%s); reading the valid rule files", exc)
    kb = load_knowledge()
    return check_rules(folder, kb)[0], kb


def record_fact_view(decision: Mapping[str, Any]) -> Any:
    """The facts the engine saw, rebuilt from the record: known input fields (every source) and the evidence,
    findings and recommendations asserted in the trace (cds.rules.evaluate.FactView)."""
    from cds.rules.evaluate import FactView

    view = FactView()
    for fact in decision.get("facts") or []:
        if fact.get("known", True) and fact.get("field") is not None:
            view.data.setdefault(str(fact["field"]), []).append((fact.get("value"), str(fact.get("source") or "")))
    pools = {"evidence": view.evidence, "finding": view.findings, "recommendation": view.recommendations}
    for entry in decision.get("trace") or []:
        for fact in entry.get("asserted") or []:
            key = _fact_key(fact) if isinstance(fact, Mapping) else None
            if key and key[0] in pools:
                pools[key[0]].add(key[1])
    for rec in decision.get("recommendations") or []:
        view.recommendations.add(str(rec.get("action")))
    for finding in decision.get("findings") or []:
        view.findings.add(str(finding.get("code")))
    return view


def _plain(value: Any) -> Any:
    """JSON-safe form of an evaluation result (condition nodes may be read-only mappings)."""
    return json.loads(json.dumps(value, default=lambda v: dict(v) if isinstance(v, Mapping) else str(v)))

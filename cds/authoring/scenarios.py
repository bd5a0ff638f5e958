"""Run rule tests: each rule's inline ``tests:`` and the whole-patient ``*.scenario.yaml`` files under rules/.

Inline cases (rules/README.md, "Tests"): ``given`` is a flat field map (``FIELD@SOURCE`` picks a source; psg.*
fields default to ``recording``, others to ``patient``) plus ``evidence``/``findings``/``recommendations`` lists;
anything not given is unknown. They are evaluated by the pure evaluator (cds.rules.evaluate).
Scenario cases run the compiled rule base on a patient (inline mapping or ``file``) and optional
``measurements`` (psg.* values measured from a recording) and compare ``want`` / ``want_not``.
One harness serves ``cds rules test``, the self-check and pytest; it also reports coverage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cds.errors import InputError, PatientFileError, RuleFileError
from cds.facts.patient import SCHEMA as PATIENT_SCHEMA
from cds.facts.patient import parse_patient, read_patient
from cds.facts.types import DatumRecord
from cds.kb import Knowledge
from cds.rules.evaluate import FactView, evaluate
from cds.rules.load import RuleSet, RuleSpec
from cds.rules.semantic import parse_given_key
from cds.yamlfile import load_yaml, locate

if TYPE_CHECKING:
    from cds.decision import Decision

__all__ = ["CaseResult", "Coverage", "run_inline_tests", "run_scenarios", "scenario_files"]


@dataclass(frozen=True)
class CaseResult:
    """One test case: where it is, whether it passed, whether it is a ``todo`` and what went wrong."""

    where: str
    name: str
    passed: bool
    todo: bool = False
    problems: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return not self.passed and not self.todo


@dataclass
class Coverage:
    """Rules seen firing and seen blocked (not firing) in at least one case."""

    fired: set[str] = field(default_factory=set)
    blocked: set[str] = field(default_factory=set)

    def never_fired(self, rules: RuleSet) -> list[str]:
        return [r.id for r in rules.active() if r.id not in self.fired]

    def never_blocked(self, rules: RuleSet) -> list[str]:
        return [r.id for r in rules.active() if r.id not in self.blocked]


def given_facts(given: dict[str, Any], kb: Knowledge) -> tuple[list[DatumRecord], dict[str, list[str]]]:
    """Records and derived codes of an inline case's ``given``."""
    records = []
    derived: dict[str, list[str]] = {"evidence": [], "findings": [], "recommendations": []}
    for key, value in given.items():
        if key in derived:
            derived[key] = list(value) if isinstance(value, list) else [value]
            continue
        name, source = parse_given_key(key)
        source = source or ("recording" if name.startswith("psg.") else "patient")
        records.append(DatumRecord(name, value, value is not None, source))
    return records, derived


def run_inline_tests(rules: RuleSet, kb: Knowledge, coverage: Coverage | None = None) -> list[CaseResult]:
    """Evaluate every inline case of every rule (any status) with the pure evaluator."""
    results = []
    for spec in rules.rules:
        for i, case in enumerate(spec.tests):
            records, derived = given_facts(case["given"], kb)
            view = FactView.from_records(records, **derived)
            holds, atom, actual = evaluate(spec.when, view, kb.thresholds)
            want = case["expect"]["fires"]
            problems = []
            if holds != want:
                if want:
                    problems.append(f"expected to fire; failed at {_atom_text(atom)} (actual: {_actual(actual)})")
                else:
                    problems.append("expected not to fire, but every condition held")
            elif holds:
                problems += check_outputs(spec, case["expect"], records, kb)
            where = f"rules/{spec.path}:{locate(spec_root(spec), ['tests', i]) or ''}".rstrip(":")
            results.append(
                CaseResult(where, f"{spec.id}: {case['name']}", not problems, bool(case.get("todo")), tuple(problems))
            )
            if coverage is not None and spec.status == "active":
                (coverage.fired if holds else coverage.blocked).add(spec.id)
    return results


_OUTPUT_KEYS = ("evidence", "findings", "recommendations", "treatments", "because")


def rule_outputs(spec: RuleSpec, kb: Knowledge, known: dict[str, Any]) -> dict[str, Any]:
    """What a rule concludes when it fires, by kind, as a test states it: evidence and finding codes,
    recommendations (action, urgency), treatment statuses by drug (groups expanded)."""
    from cds.rules.engine import _expand_drugs

    out: dict[str, Any] = {"evidence": [], "findings": [], "recommendations": [], "treatments": {}}
    for action in spec.then:
        if "evidence" in action:
            out["evidence"].append(action["evidence"])
        elif "finding" in action:
            out["findings"].append(action["finding"])
        elif "recommend" in action:
            out["recommendations"].append({"action": action["recommend"], "urgency": action["urgency"]})
        elif "status" in action and ("treatment" in action or "treatments" in action):
            for drug in _expand_drugs(action, kb, known):
                out["treatments"][drug] = action["status"]
    out["evidence"].sort()
    out["findings"].sort()
    out["recommendations"].sort(key=lambda r: (r["action"], r["urgency"]))
    return out


def check_outputs(spec: RuleSpec, expect: dict[str, Any], records: list[DatumRecord], kb: Knowledge) -> list[str]:
    """``want KIND X: got Y`` for every output an inline test states that the rule does not conclude."""
    from cds.rules.engine import render_because

    if not any(key in expect for key in _OUTPUT_KEYS):
        return []
    known = {r.field: r.value for r in records if r.known}
    got = rule_outputs(spec, kb, known)
    problems = []
    for key in ("evidence", "findings"):
        if key in expect and sorted(expect[key]) != got[key]:
            want_codes, got_codes = ", ".join(sorted(expect[key])) or "none", ", ".join(got[key]) or "none"
            problems.append(f"want {key} {want_codes}: got {got_codes}")
    if "recommendations" in expect:
        want = sorted(
            ({"action": r["action"], "urgency": r["urgency"]} for r in expect["recommendations"]),
            key=lambda r: (r["action"], r["urgency"]),
        )
        if want != got["recommendations"]:
            problems.append(f"want recommendations {_recs(want)}: got {_recs(got['recommendations'])}")
    if "treatments" in expect and dict(expect["treatments"]) != got["treatments"]:
        problems.append(f"want treatments {_statuses(expect['treatments'])}: got {_statuses(got['treatments'])}")
    if "because" in expect:
        matched = [
            {"type": "datum", "field": r.field, "value": r.value, "known": r.known, "source": r.source} for r in records
        ]
        text = render_because(spec.because, matched, known, kb)
        if expect["because"] not in text:
            problems.append(f"want because containing {expect['because']!r}: got {text!r}")
    return problems


def _recs(recs: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['action']} ({r['urgency']})" for r in recs) or "none"


def _statuses(statuses: dict[str, Any]) -> str:
    return ", ".join(f"{drug}={status}" for drug, status in sorted(statuses.items())) or "none"


def spec_root(spec: RuleSpec) -> Any:
    return spec.root


def _atom_text(atom: Any) -> str:
    if not isinstance(atom, dict):
        return str(atom)
    return "{" + ", ".join(f"{k}: {v}" for k, v in atom.items()) + "}"


def _actual(value: Any) -> str:
    return "unknown" if value is None else repr(value)


def scenario_files(rules_dir: Path) -> list[Path]:
    return sorted(Path(rules_dir).rglob("*.scenario.yaml"))


def _patient_of(case: Any, path: Path, kb: Knowledge, name: str) -> Any:
    if "file" in case and "patient" not in case:
        return read_patient(path.parent / str(case["file"]), knowledge=kb)
    patient = case.get("patient")
    if isinstance(patient, str):
        return read_patient(path.parent / patient, knowledge=kb)
    if not isinstance(patient, dict):
        raise PatientFileError("a case needs patient: {mapping} or file: NAME", path=path)
    if "schema" not in patient:
        patient["schema"] = PATIENT_SCHEMA
    if "id" not in patient:
        patient["id"] = name
    return parse_patient(patient, path=path, knowledge=kb)


def _compare(decision: Decision, want: dict[str, Any], negate: bool) -> list[str]:
    problems = []
    findings = set(decision.finding_codes)
    recs = {r.action: r.urgency.value for r in decision.recommendations}
    treatments = {t.drug: t.status.value for t in decision.treatments}
    label = "want_not" if negate else "want"
    for code in want.get("findings") or []:
        if (code in findings) == negate:
            problems.append(
                f"{label} finding {code}: {'present' if negate else 'absent'} (findings: {sorted(findings)})"
            )
    for rec in want.get("recommendations") or []:
        rec = {"action": rec} if isinstance(rec, str) else rec
        got = recs.get(rec["action"])
        hit = got is not None and rec.get("urgency") in (None, got)
        if hit == negate:
            problems.append(
                f"{label} recommendation {rec['action']}"
                f"{' ' + rec['urgency'] if rec.get('urgency') else ''}: got {got or 'none'}"
            )
    wanted = want.get("treatments") or {}
    pairs = wanted.items() if isinstance(wanted, dict) else ((d, None) for d in wanted)
    for drug, status in pairs:
        got = treatments.get(drug)
        hit = got is not None and status in (None, got)
        if hit == negate:
            problems.append(f"{label} treatment {drug}{' ' + status if status else ''}: got {got or 'not shown'}")
    return problems


def run_scenarios(rulebase: Any, rules_dir: Path, coverage: Coverage | None = None) -> list[CaseResult]:
    """Run every case of every ``*.scenario.yaml`` under ``rules_dir`` on the compiled rule base."""
    results = []
    kb = rulebase.kb
    for path in scenario_files(rules_dir):
        rel = path.relative_to(Path(rules_dir).parent) if Path(rules_dir).parent in path.parents else path
        try:
            root = load_yaml(path, error_cls=RuleFileError)
        except RuleFileError as exc:
            results.append(CaseResult(f"{rel}:{exc.location or ''}", path.name, False, problems=(exc.problem,)))
            continue
        cases = root.get("cases") if isinstance(root, dict) else None
        if not isinstance(cases, list):
            results.append(CaseResult(str(rel), path.name, False, problems=("expected a top-level 'cases:' list",)))
            continue
        for i, case in enumerate(cases):
            results.append(_run_case(rulebase, kb, path, rel, root, i, case, coverage))
    return results


def _run_case(
    rulebase: Any, kb: Knowledge, path: Path, rel: Path, root: Any, i: int, case: Any, coverage: Any
) -> CaseResult:
    where = f"{rel}:{locate(root, ['cases', i]) or ''}"
    name = str(case.get("name", f"case {i + 1}")) if isinstance(case, dict) else f"case {i + 1}"
    todo = bool(case.get("todo")) if isinstance(case, dict) else False
    try:
        if not isinstance(case, dict):
            raise RuleFileError("a case is a mapping (name, patient, want)", path=rel)
        patient = _patient_of(case, path, kb, name)
        analysis = None
        measurements = case.get("measurements") or {}
        extra = []
        for key, value in measurements.items():
            if key not in kb.fields:
                raise RuleFileError(
                    f"measurements: unknown field '{key}'",
                    path=rel,
                    location=locate(root, ["cases", i, "measurements", key]),
                )
            problem = kb.fields[key].check_value(value) if value is not None else None
            if problem:
                raise RuleFileError(
                    f"measurements: {key}: {problem}, got {value!r}",
                    path=rel,
                    location=locate(root, ["cases", i, "measurements", key]),
                )
            extra.append(DatumRecord(str(key), value, value is not None, "recording", None, "scenario measurement"))
        decision = _decide(rulebase, patient, extra, analysis)
    except InputError as exc:
        return CaseResult(where, name, False, todo, (str(exc),))
    problems = _compare(decision, case.get("want") or {}, False) + _compare(decision, case.get("want_not") or {}, True)
    if coverage is not None:
        fired = {f.rule for f in decision.trace}
        coverage.fired |= fired
        coverage.blocked |= {r.id for r in rulebase.rules.active()} - fired
    return CaseResult(where, name, not problems, todo, tuple(problems))


def _decide(rulebase: Any, patient: Any, extra: list[DatumRecord], analysis: Any) -> Decision:
    from cds.decision import Decision
    from cds.decision.record import build_decision_record
    from cds.facts.build import build_patient_facts
    from cds.rules.engine import RunResult

    records = build_patient_facts(patient, rulebase.kb) + extra
    firings = rulebase.run_facts(records)
    result = RunResult(tuple(records), tuple(firings), tuple((c, "patient") for c in patient.caveats))
    record = build_decision_record(rulebase, patient, result, analysis=analysis, patient_sha256="", recording_name=None)
    return Decision.from_record(record, policy=rulebase.kb.policy_obj)

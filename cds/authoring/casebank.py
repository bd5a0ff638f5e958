"""The clinical case library (tests/cases): patient files with the decision expected from the cited literature,
run through the real engine and scored item by item (clinical review 2; ``cds rules cases``).

Each case is a complete ``cds.patient/v1`` (or v1.1) mapping plus expectations written from the literature, not
from the rule files: ``want`` (pathway = what to do first, findings, recommendations with optional urgency,
treatment statuses, current-medication actions, conditional), ``want_not`` (what must not happen) and
``safety.contraindicated`` (contraindications that must be stated). Every expectation is one scored item in one
category: pathway, urgency, recommendations, findings, treatment statuses, current medications.

Scoring (one function, :func:`score_case`):

- ``want.pathway {action, urgency}``: the decision's ``conclusion`` (what to do first) has that action (a study it
  consolidates counts) [pathway] and urgency [urgency]; ``want.conditional``: the conclusion is (not) conditional.
- ``want.findings`` code: present in ``findings[].code``; ``want_not.findings``: absent.
- ``want.recommendations`` ``{action}``: a recommendation with that action, or a study merged into one
  (``consolidated_from``) [recommendations]; ``{action, urgency}`` adds an urgency item: that action's urgency
  equals the one expected; ``{urgency}`` alone: some recommendation has it; any other key (``extended_eeg``) is
  one more recommendations item. ``want_not`` recommendations are the negation of the same tests.
- ``want.treatments`` ``{drug: status}``: the decision lists the drug with exactly that status.
- ``want_not.treatments`` ``{drug: option}`` means "must not be offered": a miss and a **safety failure** when the
  drug comes out as ``option`` or ``caution`` (decision-v1: both may be offered). Any other status: a miss when
  the drug has exactly that status.
- ``want.medications`` ``{drug: action}``: the current-medication row of that drug has that action.
- ``safety.contraindicated`` drug: a safety failure unless the decision lists it as ``contraindicated``.

Besides the score, :func:`check_decision_spec` lists (not scored) breaches of decision-v1 that need no case
expectation: every seed-article drug listed whenever any drug is discussed, rules behind every recommendation and
treatment status.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML

if TYPE_CHECKING:
    from cds.decision import Decision

CATEGORIES = ("pathway", "urgency", "recommendations", "findings", "treatment statuses", "current medications")
URGENCY_ORDER = ("routine", "soon", "urgent", "emergency")  # decision-v1 (least to most urgent)
OFFERED = ("option", "caution")
SEED_DRUGS = ("clonazepam", "sodium_valproate", "phenobarbital", "phenytoin", "primidone")  # decision-v1
_CASE_KEYS = {"note", "patient", "want", "want_not", "safety"}
_PART_KEYS = {"findings", "recommendations", "treatments", "medications", "pathway", "conditional"}


@dataclass(frozen=True)
class ClinicalCase:
    """One case file: the patient mapping and the expectations (plain dicts and lists)."""

    name: str
    note: str
    patient: dict[str, Any]
    want: dict[str, Any]
    want_not: dict[str, Any]
    safety_contraindicated: tuple[str, ...]

    @property
    def patient_sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.patient, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Item:
    """One scored expectation."""

    category: str
    text: str
    ok: bool
    got: str = ""


@dataclass(frozen=True)
class CaseScore:
    """Scored items and safety failures of one case."""

    name: str
    items: tuple[Item, ...]
    safety_failures: tuple[str, ...]
    spec_notes: tuple[str, ...] = ()

    @property
    def misses(self) -> tuple[Item, ...]:
        return tuple(i for i in self.items if not i.ok)


@dataclass(frozen=True)
class BenchmarkScore:
    """Totals over all cases: right/total per category, overall fraction, safety failures."""

    cases: tuple[CaseScore, ...]
    right: dict[str, int] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)

    @property
    def overall(self) -> float:
        total = sum(self.total.values())
        return sum(self.right.values()) / total if total else 0.0

    @property
    def safety_failures(self) -> list[tuple[str, str]]:
        return [(c.name, f) for c in self.cases for f in c.safety_failures]


def load_cases(cases_dir: str | Path) -> list[ClinicalCase]:
    """Read every ``*.yaml`` case (safe YAML); ValueError naming the file on a malformed case."""
    yaml = YAML(typ="safe")
    cases = []
    for path in sorted(Path(cases_dir).glob("*.yaml")):
        data = yaml.load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not {"note", "patient", "want"} <= set(data) or set(data) - _CASE_KEYS:
            raise ValueError(f"{path.name}: a case needs note, patient, want (optional want_not, safety)")
        for part in ("want", "want_not"):
            extra = set(data.get(part) or {}) - _PART_KEYS
            if extra:
                raise ValueError(
                    f"{path.name}: {part} has unknown keys {sorted(extra)} (allowed: {sorted(_PART_KEYS)})"
                )
        safety = data.get("safety") or {}
        cases.append(
            ClinicalCase(
                name=path.stem,
                note=str(data["note"]),
                patient=data["patient"],
                want=data.get("want") or {},
                want_not=data.get("want_not") or {},
                safety_contraindicated=tuple(safety.get("contraindicated") or ()),
            )
        )
    return cases


def _statuses(decision: dict[str, Any]) -> dict[str, str]:
    """Drug -> status; if a drug were listed twice, the more permissive status counts (the unsafe reading)."""
    order = ("option", "caution", "specialist_only", "not_recommended", "contraindicated")
    out: dict[str, str] = {}
    for t in decision.get("treatments", []):
        old = out.get(t["drug"])
        if old is None or order.index(t["status"]) < order.index(old):
            out[t["drug"]] = t["status"]
    return out


def _urgencies(decision: dict[str, Any], *, covering: bool = True) -> dict[str, str | None]:
    """Action -> its most urgent urgency (None when the recommendation has none). A study merged into a more
    capable one (``consolidated_from``, clinical review 2 A3: one study, all reasons) counts as requested, with the
    urgency of the study that covers it."""
    out: dict[str, str | None] = {}
    for rec in decision.get("recommendations", []):
        urg = rec.get("urgency")
        for action in [rec["action"], *(rec.get("consolidated_from", []) if covering else [])]:
            old = out.get(action)
            if action not in out or (urg and (old is None or URGENCY_ORDER.index(urg) > URGENCY_ORDER.index(old))):
                out[action] = urg
    return out


def _rec_items(want: dict[str, Any], decision: dict[str, Any], negate: bool) -> list[Item]:
    # a study merged into a more capable one answers a wanted request, but is not a separate study a case forbids
    urg = _urgencies(decision, covering=not negate)
    recs = decision.get("recommendations", [])
    prefix = "no " if negate else ""
    action, urgency = want.get("action"), want.get("urgency")
    items: list[Item] = []
    if action is None:
        hit = any(r.get("urgency") == urgency for r in recs)
        got = ", ".join(f"{r['action']}:{r.get('urgency')}" for r in recs) or "none"
        return [Item("urgency", f"{prefix}recommendation with urgency {urgency}", hit != negate, got)]
    present = action in urg
    if urgency is None or not negate:
        items.append(
            Item("recommendations", f"{prefix}{action}", present != negate, "present" if present else "absent")
        )
    if urgency is not None:
        hit = present and urg[action] == urgency
        items.append(Item("urgency", f"{prefix}{action} {urgency}", hit != negate, str(urg.get(action, "absent"))))
    for key, value in want.items():
        if key in ("action", "urgency"):
            continue
        values = [r.get(key) for r in recs if r["action"] == action]
        hit = value in values
        items.append(Item("recommendations", f"{prefix}{action} {key}={value}", hit != negate, str(values or "absent")))
    return items


def score_case(case: ClinicalCase, decision: dict[str, Any]) -> CaseScore:
    """Score one decision record against one case's expectations (rules in the module docstring)."""
    codes = {f["code"] for f in decision.get("findings", [])}
    statuses = _statuses(decision)
    items: list[Item] = []
    safety: list[str] = []
    for code in case.want.get("findings") or ():
        items.append(Item("findings", code, code in codes, "present" if code in codes else "absent"))
    for code in case.want_not.get("findings") or ():
        items.append(Item("findings", f"no {code}", code not in codes, "present" if code in codes else "absent"))
    for rec in case.want.get("recommendations") or ():
        items += _rec_items(rec, decision, negate=False)
    for rec in case.want_not.get("recommendations") or ():
        items += _rec_items(rec, decision, negate=True)
    for drug, status in (case.want.get("treatments") or {}).items():
        got = statuses.get(drug, "not listed")
        items.append(Item("treatment statuses", f"{drug}: {status}", got == status, got))
    for drug, status in (case.want_not.get("treatments") or {}).items():
        got = statuses.get(drug, "not listed")
        if status == "option":
            ok = got not in OFFERED
            items.append(Item("treatment statuses", f"{drug} not offered", ok, got))
            if not ok:
                safety.append(f"{drug} offered as {got} (must not be offered)")
        else:
            items.append(Item("treatment statuses", f"{drug} not {status}", got != status, got))
    items += _pathway_items(case, decision)
    actions = {m["drug"]: m["action"] for m in decision.get("current_medications", [])}
    for drug, action in (case.want.get("medications") or {}).items():
        got = actions.get(drug, "no row")
        items.append(Item("current medications", f"{drug}: {action}", got == action, got))
    for drug, action in (case.want_not.get("medications") or {}).items():
        got = actions.get(drug, "no row")
        items.append(Item("current medications", f"{drug} not {action}", got != action, got))
    for drug in case.safety_contraindicated:
        got = statuses.get(drug, "not listed")
        if got != "contraindicated":
            safety.append(f"{drug} must be stated contraindicated, got {got}")
    return CaseScore(case.name, tuple(items), tuple(safety))


def _pathway_items(case: ClinicalCase, decision: dict[str, Any]) -> list[Item]:
    """``want.pathway {action, urgency}``: what to do first (decision.conclusion); ``want.conditional``."""
    conclusion = decision.get("conclusion") or {}
    items = []
    pathway = case.want.get("pathway")
    if pathway:
        got = conclusion.get("action", "none")
        covered = [
            got,
            *next(
                (r.get("consolidated_from", []) for r in decision.get("recommendations", []) if r["action"] == got), []
            ),
        ]
        items.append(Item("pathway", f"first step {pathway['action']}", pathway["action"] in covered, got))
        if pathway.get("urgency"):
            got_u = conclusion.get("urgency", "none")
            items.append(Item("urgency", f"first step {pathway['urgency']}", got_u == pathway["urgency"], got_u))
    if "conditional" in case.want:
        got_c = bool(conclusion.get("conditional"))
        items.append(
            Item("pathway", f"conditional={case.want['conditional']}", got_c == case.want["conditional"], str(got_c))
        )
    return items


def check_decision_spec(decision: dict[str, Any]) -> tuple[str, ...]:
    """decision-v1 breaches visible without expectations: seed drugs all listed when drug treatment is discussed
    (a treatment rule considered some drug; a bare safety restriction is not a discussion); rules named."""
    notes = []
    treatments = decision.get("treatments", [])
    listed = {t["drug"] for t in treatments}
    discussed = {t["drug"] for t in treatments if t.get("discussed", True)}
    missing = [d for d in SEED_DRUGS if d not in listed]
    if discussed and missing:
        notes.append(f"drugs discussed ({', '.join(sorted(discussed))}) but seed drugs missing: {', '.join(missing)}")
    for rec in decision.get("recommendations", []):
        if not rec.get("rules"):
            notes.append(f"recommendation {rec['action']} names no rule")
    for t in decision.get("treatments", []):
        if not t.get("rules"):
            notes.append(f"treatment {t['drug']} ({t['status']}) names no rule")
    return tuple(notes)


def score_cases(scores: Iterable[CaseScore]) -> BenchmarkScore:
    """Sum case scores into per-category right/total."""
    scores = tuple(scores)
    right = dict.fromkeys(CATEGORIES, 0)
    total = dict.fromkeys(CATEGORIES, 0)
    for score in scores:
        for item in score.items:
            total[item.category] += 1
            right[item.category] += item.ok
    return BenchmarkScore(scores, right, total)


def decide_case(case: ClinicalCase, rulebase: Any) -> Decision:
    """Run one case through the real engine and return its Decision (``to_record()``: the cds.decision/v1
    record the scorer reads, as it reads hand-made records)."""
    from cds.decision import decide
    from cds.facts.patient import parse_patient

    patient = parse_patient(case.patient, path=f"{case.name}.yaml", knowledge=rulebase.kb)
    return decide(rulebase, patient, patient_sha256=case.patient_sha256)


def run_benchmark(
    cases_dir: str | Path, *, rules_dir: str | Path | None = None, knowledge_dir: str | Path | None = None
) -> tuple[BenchmarkScore, list[float]]:
    """Load the rule base once, decide and score every case; return the score and seconds per decision."""
    from cds.rules.engine import load_rulebase

    rulebase = load_rulebase(rules_dir, knowledge_dir)
    scores, decision_s = [], []
    for case in load_cases(cases_dir):
        start = time.perf_counter()
        decision = decide_case(case, rulebase).to_record()
        decision_s.append(time.perf_counter() - start)
        score = score_case(case, decision)
        scores.append(CaseScore(score.name, score.items, score.safety_failures, check_decision_spec(decision)))
    return score_cases(scores), decision_s


def format_report(score: BenchmarkScore, decision_s: Sequence[float]) -> str:
    """The benchmark report as text: categories, overall, misses per case, safety failures, timing."""
    lines = [f"clinical cases: {len(score.cases)}", ""]
    for cat in CATEGORIES:
        pct = 100 * score.right[cat] / score.total[cat] if score.total[cat] else 0.0
        lines.append(f"  {cat:<20} {score.right[cat]:>4} / {score.total[cat]:<4} {pct:6.1f} %")
    right, total = sum(score.right.values()), sum(score.total.values())
    lines += [f"  {'overall':<20} {right:>4} / {total:<4} {100 * score.overall:6.1f} %", "", "misses:"]
    for case in score.cases:
        for item in case.misses:
            lines.append(f"  {case.name}: [{item.category}] want {item.text}; got {item.got}")
    failures = score.safety_failures
    lines += ["", f"safety failures: {len(failures)}"]
    lines += [f"  {name}: {text}" for name, text in failures]
    notes = [(c.name, n) for c in score.cases for n in c.spec_notes]
    lines += ["", f"decision-v1 notes (not scored): {len(notes)}"]
    lines += [f"  {name}: {text}" for name, text in notes]
    if decision_s:
        mean_s, median_s = statistics.mean(decision_s), statistics.median(decision_s)
        lines += [
            "",
            f"time per decision: mean {mean_s:.3f} s, median {median_s:.3f} s, max {max(decision_s):.3f} s"
            f" over {len(decision_s)} decisions",
        ]
    return "\n".join(lines)

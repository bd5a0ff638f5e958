"""Rule and condition coverage of the test cases (``cds rules test``; design notes, section 6.4).

A rule is covered when some case makes it fire and some case blocks it; a condition (an atom of ``when``) is
covered when some case makes it true and some case makes it false. Stricter, and what issue 11 asks: an atom
**flips an outcome** in a case when negating that atom alone, the others kept as the case has them, changes
whether the rule fires (unique-cause MC/DC); ``cds rules coverage`` lists the atoms that flip no outcome in any
case: a test that would catch a slip in them (an indentation that moves an atom into another branch, a ``gt``
written for ``gte``) is missing. Cases are the rules' inline ``tests:``
(each exercises only its own rule) and the whole-patient ``*.scenario.yaml`` cases (each exercises every active
rule: the engine runs on the patient, and every atom is evaluated on the resulting facts). Percentages use
integer arithmetic (``covered * 100 // total``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds.authoring.intervals import atoms_of
from cds.errors import InputError

__all__ = ["ConditionCoverage", "CoverageReport", "compute_coverage", "flipping_atoms", "scenario_views"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConditionCoverage:
    """One atom of one rule: where it is and how many cases made it true and false."""

    rule_id: str
    location: str
    text: str
    seen_true: int
    seen_false: int
    flips_true: int = 0  # cases where the atom holds and negating it alone changes whether the rule fires
    flips_false: int = 0  # cases where it does not hold and making it hold alone changes the outcome

    @property
    def covered(self) -> bool:
        return self.seen_true > 0 and self.seen_false > 0

    @property
    def flipped(self) -> bool:
        """The atom flips the rule's outcome in at least one case (issue 11): a slip that turns it into its
        negation fails a test."""
        return self.flips_true + self.flips_false > 0

    @property
    def flipped_both_ways(self) -> bool:
        """Stricter (unique-cause MC/DC): it decides the outcome in a case where it holds and in one where it does
        not, so a slip that makes it always true and one that makes it always false both fail a test."""
        return self.flips_true > 0 and self.flips_false > 0


@dataclass(frozen=True)
class CoverageReport:
    """Active rules never fired / never blocked, and every atom's coverage."""

    cases: int
    active_rules: tuple[str, ...]
    never_fired: tuple[str, ...]
    never_blocked: tuple[str, ...]
    conditions: tuple[ConditionCoverage, ...]

    @property
    def uncovered_conditions(self) -> tuple[ConditionCoverage, ...]:
        return tuple(c for c in self.conditions if not c.covered)

    @property
    def rule_pct(self) -> int:
        """Share of (rule, outcome) pairs seen: each active rule counts twice (fired, blocked)."""
        total = 2 * len(self.active_rules)
        missed = len(self.never_fired) + len(self.never_blocked)
        return 100 if total == 0 else (total - missed) * 100 // total

    @property
    def condition_pct(self) -> int:
        total = len(self.conditions)
        return 100 if total == 0 else (total - len(self.uncovered_conditions)) * 100 // total

    @property
    def unflipped_conditions(self) -> tuple[ConditionCoverage, ...]:
        """Atoms that change no rule's outcome in any case (issue 11: every atom must flip one)."""
        return tuple(c for c in self.conditions if not c.flipped)

    @property
    def flip_pct(self) -> int:
        total = len(self.conditions)
        return 100 if total == 0 else (total - len(self.unflipped_conditions)) * 100 // total

    @property
    def mcdc_pct(self) -> int:
        total = len(self.conditions)
        both = sum(1 for c in self.conditions if c.flipped_both_ways)
        return 100 if total == 0 else both * 100 // total


def _atom_text(node: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in node.items()) + "}"


def _derived(firings: list[dict[str, Any]]) -> dict[str, set[str]]:
    derived: dict[str, set[str]] = {"evidence": set(), "findings": set(), "recommendations": set()}
    for firing in firings:
        for item in firing.get("asserted") or []:
            if item.get("type") == "evidence":
                derived["evidence"].add(item["code"])
            elif item.get("type") == "finding":
                derived["findings"].add(item["code"])
            elif item.get("type") == "recommendation":
                derived["recommendations"].add(item["action"])
    return derived


def scenario_views(rulebase: Any, rules_dir: Path) -> Iterator[tuple[str, Any, set[str]]]:
    """(case label, fact view, rules fired) of every scenario case that runs (broken cases are the harness's)."""
    from cds.authoring.scenarios import scenario_files
    from cds.facts.build import build_patient_facts
    from cds.facts.patient import parse_patient, read_patient
    from cds.facts.types import DatumRecord
    from cds.rules.evaluate import FactView
    from cds.yamlfile import load_yaml

    kb = rulebase.kb
    for path in scenario_files(rules_dir):
        try:
            root = load_yaml(path, error_cls=InputError)
        except InputError:
            continue
        for i, case in enumerate(root.get("cases") or [] if isinstance(root, Mapping) else []):
            if not isinstance(case, Mapping):
                continue
            label = f"{path.name}: {case.get('name', f'case {i + 1}')}"
            try:
                patient_ref = case.get("patient", case.get("file"))
                if isinstance(patient_ref, str):
                    patient = read_patient(path.parent / patient_ref, knowledge=kb)
                else:
                    patient = parse_patient(patient_ref, path=path, knowledge=kb)
            except InputError:
                continue
            records = build_patient_facts(patient, kb) + [
                DatumRecord(str(k), v, v is not None, "recording", None, "scenario measurement")
                for k, v in (case.get("measurements") or {}).items()
            ]
            firings = rulebase.run_facts(records)
            yield label, FactView.from_records(records, **_derived(firings)), {f["rule"] for f in firings}


def _inline_views(rulebase: Any) -> Iterator[tuple[Any, Any]]:
    from cds.authoring.scenarios import given_facts
    from cds.rules.evaluate import FactView

    for spec in rulebase.rules.rules:
        for case in spec.tests:
            records, derived = given_facts(case["given"], rulebase.kb)
            yield spec, FactView.from_records(records, **derived)


def _outcome(node: Any, values: list[bool], flip: int, at: list[int]) -> bool:
    """The condition tree evaluated on its atoms' truth ``values`` (in :func:`atoms_of` order), atom ``flip``
    negated (-1: none). Every child is evaluated, so the atom index advances as ``atoms_of`` numbers them."""
    if isinstance(node, Mapping) and isinstance(node.get("all"), list):
        return all([_outcome(child, values, flip, at) for child in node["all"]])
    if isinstance(node, Mapping) and isinstance(node.get("any"), list):
        return any([_outcome(child, values, flip, at) for child in node["any"]])
    if isinstance(node, Mapping) and "not" in node:
        return not _outcome(node["not"], values, flip, at)
    index = at[0]
    at[0] += 1
    return values[index] != (index == flip)


def flipping_atoms(when: Any, values: list[bool]) -> list[int]:
    """Indexes of the atoms whose negation alone changes the outcome of ``when`` under ``values``."""
    base = _outcome(when, values, -1, [0])
    return [i for i in range(len(values)) if _outcome(when, values, i, [0]) != base]


def compute_coverage(rulebase: Any, rules_dir: Path, *, inline: bool = True) -> CoverageReport:
    """Coverage of the active rules of ``rulebase`` by their inline tests (unless ``inline`` is false) and the
    scenarios under ``rules_dir``."""
    from cds.rules.evaluate import evaluate

    thresholds = rulebase.kb.thresholds
    active = {r.id: r for r in rulebase.rules.active()}
    atoms = {rid: [a for a, _ in atoms_of(spec.root["when"])] for rid, spec in active.items()}
    counts = {(rid, i): [0, 0, 0, 0] for rid, found in atoms.items() for i in range(len(found))}
    fired: set[str] = set()
    blocked: set[str] = set()
    cases = 0

    def _count(rule_id: str, view: Any) -> None:
        values = [bool(evaluate(dict(atom.node), view, thresholds)[0]) for atom in atoms[rule_id]]
        for i, holds in enumerate(values):
            counts[(rule_id, i)][0 if holds else 1] += 1
        for i in flipping_atoms(active[rule_id].root["when"], values):
            counts[(rule_id, i)][2 if values[i] else 3] += 1

    for spec, view in _inline_views(rulebase) if inline else ():
        cases += 1
        if spec.id in active:
            (fired if evaluate(spec.when, view, thresholds)[0] else blocked).add(spec.id)
            _count(spec.id, view)
    for _label, view, fired_here in scenario_views(rulebase, rules_dir):
        cases += 1
        fired |= fired_here & set(active)
        blocked |= set(active) - fired_here
        for rule_id in active:
            _count(rule_id, view)
    conditions = []
    for rule_id, found in atoms.items():
        for i, atom in enumerate(found):
            where = f"rules/{active[rule_id].path}:{atom.location[0]}:{atom.location[1]}" if atom.location else ""
            t, f, flip_t, flip_f = counts[(rule_id, i)]
            conditions.append(ConditionCoverage(rule_id, where, _atom_text(atom.node), t, f, flip_t, flip_f))
    ids = tuple(sorted(active))
    return CoverageReport(
        cases=cases,
        active_rules=ids,
        never_fired=tuple(r for r in ids if r not in fired),
        never_blocked=tuple(r for r in ids if r not in blocked),
        conditions=tuple(conditions),
    )

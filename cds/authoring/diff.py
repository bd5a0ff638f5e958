"""``cds rules diff OLD NEW [--cases DIR]`` and ``cds audit replay``: what changes between two rule-set versions.

Rule level: rules added, removed and changed (version, status, conditions and conclusions in plain language),
plus knowledge changes that move decisions (threshold values: "plms_index_adult_per_h 15 -> 10 per_h").
Decision level: every patient file of a case folder is decided by both rule sets and the outcomes compared
(findings, recommendations with urgency, treatment statuses, asks), so the impact of a change is named case by
case (design notes, section 6.6 "impact / replay").

A rule-set version is a folder (holding ``rules/`` and ``knowledge/``, or a ``rules/`` folder with
``knowledge/`` beside it) or a git revision of the repository holding the installed rule base.
"""

from __future__ import annotations

import io
import logging
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds.authoring.book import RuleInfo, describe_rules
from cds.errors import InputError, PatientFileError
from cds.kb import read_thresholds
from cds.paths import rules_dir

__all__ = [
    "CaseChange",
    "CaseReplay",
    "RuleChange",
    "RuleSetDiff",
    "decision_outcomes",
    "diff_cases",
    "diff_fired_rules",
    "diff_outcomes",
    "diff_rulesets",
    "fired_rules",
    "materialise",
    "replay_case",
    "replay_decision",
]

log = logging.getLogger(__name__)

_PATIENT_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class RuleChange:
    """One rule added, removed or changed; ``details`` are ``- old`` / ``+ new`` lines in plain language."""

    rule_id: str
    kind: str  # added | removed | changed
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuleSetDiff:
    rules: tuple[RuleChange, ...]
    thresholds: tuple[str, ...]


@dataclass(frozen=True)
class CaseChange:
    """How one case's decision changes: ``changes`` like ``recommendation polysomnography: routine -> none``;
    ``rules`` the rules whose firing changed (``+RULE`` fires only with the new rule set, ``-RULE`` only before)."""

    case: str
    changes: tuple[str, ...]
    rules: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaseReplay:
    """One case decided twice: what changes and through which rules, or why it could not be decided."""

    changes: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    error: str | None = None


@contextmanager
def materialise(spec: str | Path) -> Iterator[tuple[Path, Path]]:
    """Yield (rules/, knowledge/) of a folder, or of a git revision extracted to a temporary folder."""
    path = Path(spec)
    if path.is_dir():
        rules = path / "rules" if (path / "rules").is_dir() else path
        yield rules, rules.parent / "knowledge"
        return
    repo = rules_dir().parent
    try:
        tar = subprocess.run(
            ["git", "-C", str(repo), "archive", "--format=tar", str(spec), "rules", "knowledge"],
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        stderr = getattr(exc, "stderr", b"") or b""
        problem = f"not a folder or a git revision: {stderr.decode(errors='replace').strip() or exc}"
        raise InputError(problem, path=str(spec)) from exc
    with tempfile.TemporaryDirectory(prefix="cds-ruleset-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
            archive.extractall(tmp, filter="data")
        yield Path(tmp) / "rules", Path(tmp) / "knowledge"


def _thresholds(knowledge: Path) -> Mapping[str, Any]:
    return read_thresholds(knowledge)  # an older release need not validate under today's loader


def _threshold_changes(old: Path, new: Path) -> list[str]:
    before, after = _thresholds(old), _thresholds(new)
    out = []
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name), after.get(name)
        value_a = a.get("value") if isinstance(a, Mapping) else None
        value_b = b.get("value") if isinstance(b, Mapping) else None
        unit = (b if isinstance(b, Mapping) else a or {}).get("unit", "")
        if a is None:
            out.append(f"threshold {name} added: {value_b} {unit}".rstrip())
        elif b is None:
            out.append(f"threshold {name} removed (was {value_a} {unit})".rstrip())
        elif value_a != value_b:
            out.append(f"threshold {name}: {value_a} -> {value_b} {unit}".rstrip())
    return out


def _lines(info: RuleInfo) -> list[str]:
    head = [f"version {info.version}", f"status {info.status}", f"layer {info.layer}"]
    when = [f"when {'  ' * c.depth}{c.text}" for c in info.conditions]
    return head + when + [f"then {c}" for c in info.conclusions]


def _rule_details(old: RuleInfo, new: RuleInfo) -> tuple[str, ...]:
    import difflib

    diff = difflib.unified_diff(_lines(old), _lines(new), lineterm="", n=0)
    return tuple(line for line in diff if line[:1] in "+-" and not line.startswith(("+++", "---")))


def diff_rulesets(old: tuple[Path, Path], new: tuple[Path, Path]) -> RuleSetDiff:
    """Rules added, removed and changed (by content hash) between two (rules/, knowledge/) pairs."""
    before = {i.id: i for i in describe_rules(*old)}
    after = {i.id: i for i in describe_rules(*new)}
    changes = []
    for rule_id in sorted(set(before) | set(after)):
        a, b = before.get(rule_id), after.get(rule_id)
        if a is None and b is not None:
            changes.append(RuleChange(rule_id, "added", (f"+ {b.title}",)))
        elif b is None and a is not None:
            changes.append(RuleChange(rule_id, "removed", (f"- {a.title}",)))
        elif a is not None and b is not None and a.sha256 != b.sha256:
            details = _rule_details(a, b) or ("(wording, tests or provenance only)",)
            changes.append(RuleChange(rule_id, "changed", details))
    return RuleSetDiff(tuple(changes), tuple(_threshold_changes(old[1], new[1])))


def decision_outcomes(decision: Mapping[str, Any]) -> dict[str, str]:
    """What a decision concludes, one entry per item: ``recommendation X`` -> urgency, ``treatment D`` -> status."""
    out: dict[str, str] = {}
    for item in decision.get("findings") or []:
        out[f"finding {item.get('code')}"] = "present"
    for item in decision.get("recommendations") or []:
        extra = " +extended_eeg" if item.get("extended_eeg") else ""
        out[f"recommendation {item.get('action')}"] = f"{item.get('urgency')}{extra}"
    for item in decision.get("treatments") or []:
        out[f"treatment {item.get('drug')}"] = str(item.get("status"))
    for item in decision.get("asks") or []:
        out[f"ask {item.get('field')}"] = "asked"
    return out


def diff_outcomes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    """``item: old -> new`` for every outcome that differs (``none`` where one side has no such item)."""
    a, b = decision_outcomes(old), decision_outcomes(new)
    return tuple(
        f"{k}: {a.get(k, 'none')} -> {b.get(k, 'none')}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)
    )


def fired_rules(decision: Mapping[str, Any]) -> set[str]:
    """The ids of the rules that fired in a decision (its ``trace``)."""
    return {str(step.get("rule")) for step in decision.get("trace") or [] if isinstance(step, Mapping)}


def diff_fired_rules(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    """The rules whose firing changed: ``+RULE`` fires only in ``new``, ``-RULE`` only in ``old``."""
    a, b = fired_rules(old), fired_rules(new)
    return tuple(sorted([f"-{r}" for r in a - b] + [f"+{r}" for r in b - a], key=lambda s: (s[1:], s[0])))


def _patient_files(cases: Path) -> list[Path]:
    if not cases.is_dir():
        raise InputError("cases folder not found", path=cases)
    return sorted(p for p in cases.rglob("*") if p.suffix in _PATIENT_SUFFIXES and not p.name.startswith("."))


def diff_cases(old: tuple[Path, Path], new: tuple[Path, Path], cases: Path) -> list[CaseChange]:
    """Decide every patient file under ``cases`` with both rule sets; return the cases whose outcome changes.
    (``cds rules diff --cases`` runs the same ``replay_case`` on the batch backend: cds.batch.replay.)"""
    from cds.rules.engine import load_rulebase

    before, after = load_rulebase(*old), load_rulebase(*new)
    changed = []
    paths = _patient_files(Path(cases))
    for path in paths:
        name = path.relative_to(cases).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            changed.append(CaseChange(name, (f"cannot read the file: {exc}",)))
            continue
        result = replay_case(text, after, before=before)
        if result.error is not None:  # never silent: a case that cannot be decided is listed with the reason
            changed.append(CaseChange(name, (result.error,)))
        elif result.changes:
            changed.append(CaseChange(name, result.changes, result.rules))
    log.info("rules diff: %d of %d cases change", len(changed), len(paths))
    return changed


def replay_case(
    patient_text: str, after: Any, *, before: Any = None, stored: Mapping[str, Any] | None = None
) -> CaseReplay:
    """Decide a case with ``after`` and compare with ``before``'s decision, or with the ``stored`` decision when no
    ``before`` is given (a logged record: its stored recording facts are re-used on both sides)."""
    base = dict(stored or {})
    sides: list[dict[str, Any] | str] = [] if before is not None else [base]
    for rulebase in ([before] if before is not None else []) + [after]:
        try:
            sides.append(replay_decision(base, patient_text, rulebase))
        except InputError as exc:
            sides.append(exc.problem)
    a, b = sides
    if isinstance(a, str) or isinstance(b, str):
        if a == b:
            return CaseReplay(error=f"not decided by either rule set: {a}")
        return CaseReplay(
            error=f"patient file: {a if isinstance(a, str) else 'ok'} -> {b if isinstance(b, str) else 'ok'}"
        )
    return CaseReplay(diff_outcomes(a, b), diff_fired_rules(a, b))


def replay_decision(decision: Mapping[str, Any], patient_text: str, rulebase: Any) -> dict[str, Any]:
    """Re-run a logged decision on ``rulebase``: the stored patient file plus the stored recording facts.

    The recording itself is not stored (only its sha256 and name); its measured values are re-used from the
    decision's ``facts`` (source ``recording``), so the replay exercises the rules, not the signal pipeline.
    """
    from cds.facts.build import build_patient_facts
    from cds.facts.patient import parse_patient
    from cds.facts.types import DatumRecord
    from cds.rules.engine import RunResult
    from cds.yamlfile import load_yaml

    patient_name = f"logged patient {decision.get('patient_id')}" if decision else "patient file"
    data = load_yaml(patient_name, text=patient_text, error_cls=PatientFileError)
    if isinstance(data, dict) and "schema" not in data and isinstance(data.get("patient"), dict):
        data = data["patient"]  # a case or scenario file
    patient = parse_patient(data, path=patient_name, knowledge=rulebase.kb)
    measured = [
        DatumRecord(
            f["field"], f.get("value"), bool(f.get("known")), "recording", f.get("recording_sha256"), f.get("method")
        )
        for f in decision.get("facts") or []
        if isinstance(f, Mapping) and f.get("source") == "recording"
    ]
    records = build_patient_facts(patient, rulebase.kb) + measured
    governance = ((decision.get("inputs") or {}).get("ruleset") or {}).get("governance") or {}
    if governance.get("as_of"):  # judged on the logged decision's date: the same rules in force (rules/README.md)
        import datetime as dt

        from cds.rules.governance import governed_rulebase

        rulebase, _ = governed_rulebase(rulebase, dt.date.fromisoformat(str(governance["as_of"])))
    result = RunResult(tuple(records), tuple(rulebase.run_facts(records)), tuple(patient.caveats))
    from cds.decision.record import build_decision_record

    inputs = decision.get("inputs") or {}
    replayed = build_decision_record(
        rulebase,
        patient,
        result,
        analysis=None,
        patient_sha256=(inputs.get("patient") or {}).get("sha256", ""),
        recording_name=None,
    )
    if "recording" in inputs:
        replayed["inputs"]["recording"] = inputs["recording"]
    return replayed

"""Rule-change impact at scale: decisions of a decision log, a ``cds batch`` cohort or a folder of patient files,
re-decided on the batch backend, with what changed and through which rules.

Two questions use it. ``cds audit replay --all``: would today's (or a given) rule set decide the logged patients
the same? Each stored decision is compared with its replay. ``cds rules diff OLD NEW --cases SOURCE``: how would
a rule change move these decisions? Each case is decided by both rule sets. A case that cannot be re-decided
(no stored patient file, a patient file today's loader refuses) is reported as such, never dropped.

Work is sent in chunks (one task decides many records on one worker, which loads each rule set once).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cds.batch.backend import Backend
from cds.errors import InputError

__all__ = ["ReplayCase", "ReplayOutcome", "ReplayReport", "load_replay_cases", "replay_cases"]

RuleSet = tuple[str, str] | None  # (rules/, knowledge/) folders, or None for the installed rule base


@dataclass(frozen=True)
class ReplayCase:
    """One decision to re-make: its name (log seq, night id or file), the stored decision (None: decide with the
    old rule set too) and the patient file's text (None: it cannot be replayed)."""

    name: str
    patient_text: str | None
    decision: Mapping[str, Any] | None = None
    reason: str = ""  # why it cannot be replayed


@dataclass(frozen=True)
class ReplayOutcome:
    name: str
    changes: tuple[str, ...] = ()  # "recommendation polysomnography: routine -> urgent"
    rules: tuple[str, ...] = ()  # "+RULE" fires only after, "-RULE" only before
    error: str | None = None  # cannot be reproduced, and why

    def to_dict(self) -> dict[str, Any]:
        return {"case": self.name, "changes": list(self.changes), "rules": list(self.rules), "error": self.error}


@dataclass(frozen=True)
class ReplayReport:
    total: int
    outcomes: list[ReplayOutcome] = field(default_factory=list)  # changed or not reproducible, sorted by name

    @property
    def changed(self) -> list[ReplayOutcome]:
        return [o for o in self.outcomes if o.error is None]

    @property
    def failed(self) -> list[ReplayOutcome]:
        return [o for o in self.outcomes if o.error is not None]


def load_replay_cases(source: str | Path, *, patients: str | Path | None = None) -> list[ReplayCase]:
    """The cases of a decision log (``.sqlite``), a cohort table of ``cds batch`` (``cohort.csv``/``.parquet``:
    the night folders beside it) or a folder of patient / case files. ``patients``: a folder of patient files
    for a log that keeps only their hashes (each record finds its file by the sha256 of its text)."""
    path = Path(source)
    if patients is not None:
        if not path.is_file() or path.suffix.lower() in (".csv", ".parquet"):
            raise InputError("--patients applies to a decision log only", path=patients)
        return _log_cases(path, _patient_index(Path(patients)))
    if path.is_dir():
        return _folder_cases(path)
    if not path.is_file():
        raise InputError("not found (a decision log, a cohort table or a folder of patient files)", path=path)
    if path.suffix.lower() in (".csv", ".parquet"):
        return _cohort_cases(path)
    with path.open("rb") as handle:
        if handle.read(16) == b"SQLite format 3\x00":
            return _log_cases(path)
    raise InputError("not a decision log (SQLite), a cohort table (.csv, .parquet) or a folder", path=path)


def _patient_index(folder: Path) -> dict[str, str]:
    """sha256 of the text -> text, for every patient file under ``folder``."""
    from cds.audit.log import sha256_hex

    if not folder.is_dir():
        raise InputError("not a folder of patient files", path=folder)
    index = {}
    for item in _folder_cases(folder):
        if item.patient_text is not None:
            index[sha256_hex(item.patient_text)] = item.patient_text
    return index


def _log_cases(path: Path, patients: Mapping[str, str] | None = None) -> list[ReplayCase]:
    from cds.audit.log import DecisionLog

    cases = []
    for entry in DecisionLog(path).entries():
        if entry.delivery_failure is not None:
            continue  # a note about another record, not a decision
        text = entry.patient_text
        if text is None and patients is not None and entry.patient_text_sha256:
            text = patients.get(entry.patient_text_sha256)
        if text is not None:
            reason = ""
        elif patients is not None:
            reason = "no file with the record's patient-file sha256 among --patients"
        else:
            reason = "the log keeps only the patient file's hash (give --patients DIR, or log with --log-full)"
        cases.append(ReplayCase(f"record {entry.seq}", text, entry.decision, reason))
    return cases


def _cohort_rows(table: Path) -> list[dict[str, Any]]:
    if table.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.read_table(table).to_pylist())
        except Exception as exc:  # pyarrow raises its own error types for a broken file
            raise InputError(f"cannot read the cohort table: {exc}", path=table) from exc
    import csv

    try:
        with table.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"cannot read the cohort table: {exc}", path=table) from exc


def _cohort_cases(table: Path) -> list[ReplayCase]:
    rows = _cohort_rows(table)
    if rows and "night_id" not in rows[0]:
        raise InputError("not a cohort table of cds batch (no night_id column)", path=table)
    cases = []
    for row in rows:
        if not row.get("patient") or row.get("status") != "ok":
            continue  # scored without a patient file, or failed in the batch: no decision was made
        night = table.parent / str(row["night_id"])
        name = f"night {row['night_id']}"
        try:
            decision = json.loads((night / "decision.json").read_text(encoding="utf-8"))
            patient = next(iter(sorted(night.glob("patient.*"))), None)
            text = patient.read_text(encoding="utf-8") if patient is not None else None
        except (OSError, ValueError) as exc:
            cases.append(ReplayCase(name, None, None, f"cannot read the night's decision: {exc}"))
            continue
        cases.append(ReplayCase(name, text, decision, "" if text else "no patient file in the night folder"))
    return cases


def _folder_cases(folder: Path) -> list[ReplayCase]:
    files = sorted(
        p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml", ".json") and not p.name.startswith(".")
    )
    cases = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            cases.append(ReplayCase(path.relative_to(folder).as_posix(), None, None, f"cannot read: {exc}"))
            continue
        cases.append(ReplayCase(path.relative_to(folder).as_posix(), text, None))
    return cases


def _chunks(items: Sequence[ReplayCase], size: int) -> Iterator[list[ReplayCase]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def replay_cases(
    cases: Sequence[ReplayCase],
    new: RuleSet,
    backend: Backend,
    *,
    old: RuleSet = None,
    compare_stored: bool = True,
    chunk_size: int | None = None,
    progress: Any | None = None,
) -> ReplayReport:
    """Re-decide every case with ``new`` and compare with the stored decision (``compare_stored``) or with the
    decision of ``old``; return the cases that change and those that cannot be reproduced."""
    size = chunk_size or max(1, min(250, len(cases) // 16 or 1))
    outcomes: list[ReplayOutcome] = []
    done = 0
    for chunk, result in backend.map_unordered(_replay_chunk, list(_chunks(cases, size)), new, old, compare_stored):
        if isinstance(result, BaseException):
            result = [ReplayOutcome(c.name, error=f"internal error: worker failed: {result}") for c in chunk]
        outcomes.extend(o for o in result if o.changes or o.rules or o.error)
        done += len(chunk)
        if progress:
            progress(done, len(cases))
    return ReplayReport(len(cases), sorted(outcomes, key=lambda o: _natural(o.name)))


def _natural(name: str) -> tuple[Any, ...]:
    head, _, tail = name.rpartition(" ")
    return (head, int(tail), "") if tail.isdigit() else (head, 0, tail)


def _rulebase(rules: RuleSet) -> Any:
    from cds.rules.engine import load_rulebase

    return load_rulebase(*rules) if rules is not None else load_rulebase()


def _replay_chunk(chunk: list[ReplayCase], new: RuleSet, old: RuleSet, compare_stored: bool) -> list[ReplayOutcome]:
    """On a worker: replay each case of the chunk (the rule bases load once per worker process)."""
    from cds.authoring.diff import replay_case

    after = _rulebase(new)
    before = None if compare_stored else _rulebase(old)
    out = []
    for case in chunk:
        if case.patient_text is None:
            out.append(ReplayOutcome(case.name, error=f"cannot reproduce: {case.reason}"))
            continue
        result = replay_case(case.patient_text, after, before=before, stored=case.decision)
        error = None if result.error is None else f"cannot reproduce: {result.error}"
        out.append(ReplayOutcome(case.name, result.changes, result.rules, error))
    return out

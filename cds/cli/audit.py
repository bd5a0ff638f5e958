"""``cds audit verify|list|show|replay``: read and check the hash-chained decision log."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer

from cds.audit.log import DecisionLog, LogEntry, default_log_path
from cds.cli._exit import ProblemsFoundError
from cds.cli._replay import SCHEDULER_OPTION, WORKERS_OPTION, echo_replay, replay_backend, replay_progress

__all__ = ["app"]

app = typer.Typer(name="audit", help="Verify, list, show and replay the decision log.", no_args_is_help=True)


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


_LOG_OPTION = typer.Option(
    None, "--log", envvar="CDS_DECISION_LOG", help=f"Decision log (default {default_log_path()})."
)
_FORMAT_OPTION = typer.Option(OutputFormat.TEXT, "--format", help="text or json.")
_RULES_OPTION = typer.Option(None, "--rules", help="rules/ folder (default: the installed rule base).")
_KNOWLEDGE_OPTION = typer.Option(None, "--knowledge", help="knowledge/ folder (default: the installed one).")


def _summary(entry: LogEntry, marked_by: LogEntry | None = None) -> str:
    """One line per record; a decision whose outputs were not delivered says so, and so does the note."""
    note = entry.delivery_failure
    if note is not None:
        return (
            f"{entry.seq:>5}  {entry.created_at}  {entry.record_hash[:12]}  patient {entry.patient_id or '-'}  "
            f"DELIVERY FAILED for record {note.get('record')}: {note.get('reason')}"
        )
    inputs = entry.inputs
    recording = inputs.get("recording") or {}
    name = recording.get("name", "-") if isinstance(recording, dict) else "-"
    line = (
        f"{entry.seq:>5}  {entry.created_at}  {entry.record_hash[:12]}  patient {entry.patient_id or '-'}  "
        f"rules {entry.ruleset_version or '-'}  engine {entry.engine_version}  recording {name}"
    )
    return line + (f"  NOT DELIVERED (see record {marked_by.seq})" if marked_by is not None else "")


def _delivery(entry: LogEntry, marked_by: LogEntry | None) -> dict:
    """``delivered`` (bool) and the seq of the record saying it was not, for --format json."""
    if entry.delivery_failure is not None:
        return {"kind": "delivery_failure"}
    return {"kind": "decision", "delivered": marked_by is None,
            "delivery_failure_record": None if marked_by is None else marked_by.seq}  # fmt: skip


def _stamp_text(stamp: dict) -> str:
    """``version (sha256 prefix)`` of a rule-set stamp (decision record ``inputs.ruleset``)."""
    return f"{stamp.get('version') or 'unversioned'} ({str(stamp.get('sha256') or '?')[:12]})"


@app.command("verify")
def verify(
    log_path: Path | None = _LOG_OPTION,
    anchor: str | None = typer.Option(None, "--anchor", help="A head hash noted earlier: must still be in the log."),
    fmt: OutputFormat = _FORMAT_OPTION,
) -> None:
    """Check the whole hash chain; exit 1 naming the first edited, removed or reordered record."""
    result = DecisionLog(log_path).verify(anchor=anchor)
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps(result.__dict__, sort_keys=True, indent=2))
    elif result.ok:
        typer.echo(f"ok: {result.records} records, chain intact, head {result.head_hash}")
    if not result.ok:
        raise ProblemsFoundError(f"decision log tampered: {result.problem}")


@app.command("list")
def list_records(log_path: Path | None = _LOG_OPTION, fmt: OutputFormat = _FORMAT_OPTION) -> None:
    """One line per logged decision, oldest first; a decision whose letter was not delivered is marked."""
    from cds.audit.log import DecisionLogError

    decision_log = DecisionLog(log_path)
    if not decision_log.path.exists():  # a mistyped --log must not look like an empty log
        raise DecisionLogError("no decision log here", path=decision_log.path, hint="run `cds triage` first")
    entries = list(decision_log.entries())
    marks = {e.delivery_failure["record"]: e for e in entries if e.delivery_failure is not None}
    if fmt is OutputFormat.JSON:
        rows = [{**e.to_dict(), **_delivery(e, marks.get(e.seq))} for e in entries]
        typer.echo(json.dumps(rows, sort_keys=True, indent=2))
        return
    for entry in entries:
        typer.echo(_summary(entry, marks.get(entry.seq)))


@app.command("show")
def show(
    record: str = typer.Argument(..., help="Seq number or record-hash prefix (8+ hex digits)."),
    log_path: Path | None = _LOG_OPTION,
    fmt: OutputFormat = _FORMAT_OPTION,
) -> None:
    """Print one record: its hashes, versions, the stored decision and the patient file's text (and whether its
    letter was delivered)."""
    decision_log = DecisionLog(log_path)
    entry = decision_log.get(record)
    marked_by = decision_log.undelivered().get(entry.seq)
    if fmt is OutputFormat.JSON:
        shown = {**entry.to_dict(with_content=True), **_delivery(entry, marked_by)}
        typer.echo(json.dumps(shown, sort_keys=True, indent=2, ensure_ascii=False))
        return
    for key, value in entry.to_dict().items():
        typer.echo(f"{key}: {json.dumps(value, sort_keys=True) if isinstance(value, dict) else value}")
    note = entry.delivery_failure
    if note is not None:
        typer.echo(f"DELIVERY FAILED: the outputs of record {note.get('record')} were not delivered: "
                   f"{note.get('reason')} (files: {', '.join(map(str, note.get('files') or []))})")  # fmt: skip
        return
    if marked_by is not None:
        failure = marked_by.delivery_failure or {}
        typer.echo(f"NOT DELIVERED: record {marked_by.seq} says this decision's letter was never written out: "
                   f"{failure.get('reason')}")  # fmt: skip
    typer.echo("decision:")
    typer.echo(json.dumps(entry.decision, sort_keys=True, indent=2, ensure_ascii=False))
    if entry.patient_text is not None:
        typer.echo("patient file:")
        typer.echo(entry.patient_text.rstrip("\n"))


_RECORD_ARGUMENT = typer.Argument(None, help="Seq number or record-hash prefix (8+ hex digits).")
_ALL_OPTION = typer.Option(False, "--all", help="Replay every record of the log (or of --cohort).")
_COHORT_OPTION = typer.Option(None, "--cohort", help="With --all: a cds batch cohort table (cohort.csv/.parquet).")


@app.command("replay")
def replay(
    record: str | None = _RECORD_ARGUMENT,
    all_records: bool = _ALL_OPTION,
    cohort: Path | None = _COHORT_OPTION,
    log_path: Path | None = _LOG_OPTION,
    rules: Path | None = _RULES_OPTION,
    knowledge: Path | None = _KNOWLEDGE_OPTION,
    workers: int | None = WORKERS_OPTION,
    scheduler: str | None = SCHEDULER_OPTION,
    fmt: OutputFormat = _FORMAT_OPTION,
) -> None:
    """Re-run a logged decision (stored patient file + stored recording facts) on the current rule set; with
    --all, every record (on Dask for large logs), naming the decisions that change and through which rules."""
    from cds.audit.log import DecisionLogError
    from cds.authoring.diff import diff_outcomes, replay_decision
    from cds.errors import UsageError
    from cds.rules.engine import load_rulebase

    if all_records == (record is not None):
        raise UsageError("give one RECORD or --all", option="--all")
    if cohort is not None and not all_records:
        raise UsageError("--cohort needs --all", option="--cohort")
    if not all_records and (workers is not None or scheduler is not None):
        raise UsageError("--workers and --scheduler need --all", option="--workers")
    if all_records:
        _replay_all(cohort, log_path, rules, knowledge, workers, scheduler, fmt)
        return
    assert record is not None
    entry = DecisionLog(log_path).get(record)
    if entry.delivery_failure is not None:
        raise DecisionLogError(
            f"record {entry.seq} is a delivery-failure note for record {entry.delivery_failure.get('record')}, "
            "not a decision: cannot replay",
            path=log_path,
        )
    if entry.patient_text is None:
        raise DecisionLogError(f"record {entry.seq} has no stored patient file: cannot replay", path=log_path)
    rulebase = load_rulebase(rules, knowledge)
    replayed = replay_decision(entry.decision, entry.patient_text, rulebase)
    changes = diff_outcomes(entry.decision, replayed)
    logged = _stamp_text(entry.inputs.get("ruleset") or {})
    now = _stamp_text(getattr(rulebase, "stamp", None) or {"sha256": rulebase.sha256})
    if fmt is OutputFormat.JSON:
        report = {"seq": entry.seq, "ruleset": {"logged": logged, "now": now}, "changes": changes}
        typer.echo(json.dumps(report, indent=2, sort_keys=True))
        return
    typer.echo(f"record {entry.seq} ({entry.patient_id}): rule set {logged} -> {now}")
    typer.echo(
        "\n".join(f"  {c}" for c in changes)
        if changes
        else "  same decision (findings, recommendations, treatments, asks)"
    )


def _replay_all(
    cohort: Path | None,
    log_path: Path | None,
    rules: Path | None,
    knowledge: Path | None,
    workers: int | None,
    scheduler: str | None,
    fmt: OutputFormat,
) -> None:
    """``--all``: every decision of the log (or cohort table) against its replay; exit 1 when any cannot be
    reproduced (an auditor must see it)."""
    from cds.audit.log import DecisionLogError
    from cds.batch.replay import load_replay_cases, replay_cases
    from cds.paths import knowledge_dir, rules_dir

    source = cohort if cohort is not None else DecisionLog(log_path).path
    if cohort is None and not source.exists():
        raise DecisionLogError("no decision log here", path=source, hint="run `cds triage` first")
    cases = load_replay_cases(source)
    new = (str(rules or rules_dir()), str(knowledge or knowledge_dir())) if rules or knowledge else None
    with replay_backend(len(cases), workers, scheduler) as backend:
        report = replay_cases(cases, new, backend, progress=replay_progress())
    echo_replay(report, json_out=fmt is OutputFormat.JSON, header={"source": source.name})
    if report.failed:
        raise ProblemsFoundError(f"{len(report.failed)} of {report.total} decisions cannot be reproduced")

"""``cds audit verify|list|show|replay``: read and check the hash-chained decision log."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer

from cds.audit.log import DecisionLog, LogEntry, default_log_path
from cds.cli._exit import ProblemsFoundError

__all__ = ["app"]

app = typer.Typer(name="audit", help="Verify, list, show and replay the decision log.", no_args_is_help=True)


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


_LOG_OPTION = typer.Option(
    None, "--log", envvar="CDS_DECISION_LOG", help=f"Decision log (default {default_log_path()})."
)
_FORMAT_OPTION = typer.Option(OutputFormat.TEXT, "--format", help="text or json.")


def _summary(entry: LogEntry) -> str:
    inputs = entry.inputs
    recording = inputs.get("recording") or {}
    name = recording.get("name", "-") if isinstance(recording, dict) else "-"
    return (
        f"{entry.seq:>5}  {entry.created_at}  {entry.record_hash[:12]}  patient {entry.patient_id or '-'}  "
        f"rules {entry.ruleset_version or '-'}  engine {entry.engine_version}  recording {name}"
    )


@app.command("verify")
def verify(log_path: Path | None = _LOG_OPTION, fmt: OutputFormat = _FORMAT_OPTION) -> None:
    """Check the whole hash chain; exit 1 naming the first edited, removed or reordered record."""
    result = DecisionLog(log_path).verify()
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps(result.__dict__, sort_keys=True, indent=2))
    elif result.ok:
        typer.echo(f"ok: {result.records} records, chain intact, head {result.head_hash}")
    if not result.ok:
        raise ProblemsFoundError(f"decision log tampered: {result.problem}")


@app.command("list")
def list_records(log_path: Path | None = _LOG_OPTION, fmt: OutputFormat = _FORMAT_OPTION) -> None:
    """One line per logged decision, oldest first."""
    entries = list(DecisionLog(log_path).entries())
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps([e.to_dict() for e in entries], sort_keys=True, indent=2))
        return
    for entry in entries:
        typer.echo(_summary(entry))


@app.command("show")
def show(
    record: str = typer.Argument(..., help="Seq number or record-hash prefix (8+ hex digits)."),
    log_path: Path | None = _LOG_OPTION,
    fmt: OutputFormat = _FORMAT_OPTION,
) -> None:
    """Print one record: its hashes, versions, the stored decision and the patient file's text."""
    entry = DecisionLog(log_path).get(record)
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps(entry.to_dict(with_content=True), sort_keys=True, indent=2, ensure_ascii=False))
        return
    for key, value in entry.to_dict().items():
        typer.echo(f"{key}: {json.dumps(value, sort_keys=True) if isinstance(value, dict) else value}")
    typer.echo("decision:")
    typer.echo(json.dumps(entry.decision, sort_keys=True, indent=2, ensure_ascii=False))
    if entry.patient_text is not None:
        typer.echo("patient file:")
        typer.echo(entry.patient_text.rstrip("\n"))

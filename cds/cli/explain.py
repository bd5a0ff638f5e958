"""``cds explain``: the rules and facts behind a decision, read from its decision.json or from its record in the
decision log (no engine run). A decision.json that names a log record is checked against it first."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from cds.cli._exit import ProblemsFoundError

app = typer.Typer()


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"


def _checked_against_log(record: dict[str, Any], log: Path | None, key: Path | None) -> str:
    """One line saying whether the file is what the log holds; ProblemsFoundError (exit 1) when it is not."""
    from cds.audit.keys import KeyRingError
    from cds.audit.log import DecisionLog, DecisionLogError

    ref = record.get("record")
    if not isinstance(ref, dict) or not ref.get("id"):
        return "not verified against the decision log: this decision.json names no log record (cds demo, or older)"
    decision_log = DecisionLog(log, key_path=key)
    try:
        entry, problems = decision_log.compare(record)
    except (DecisionLogError, KeyRingError) as exc:
        return f"not verified against the decision log (record {ref['id']}): {exc.problem}"
    if problems:
        raise ProblemsFoundError(
            f"decision.json is not what log record {entry.record_id} holds: {'; '.join(problems)} "
            f"(`cds explain --record {entry.record_id}` explains the logged decision)"
        )
    return f"verified: decision.json is log record {entry.record_id} ({entry.record_hash[:12]}) as logged"


@app.command("explain")
def explain(
    decision: Annotated[Path | None, typer.Argument(help="A decision.json written by cds triage.")] = None,
    record_id: Annotated[
        str | None, typer.Option("--record", help="Explain a logged decision: record id as the letter prints it.")
    ] = None,
    log: Annotated[
        Path | None, typer.Option("--log", envvar="CDS_DECISION_LOG", help="Decision log (default: user data folder).")
    ] = None,
    key: Annotated[Path | None, typer.Option("--key", envvar="CDS_AUDIT_KEY", help="The log's key ring.")] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="Explain one rule (also one that did not fire).")] = None,
    format: Annotated[Format, typer.Option("--format", help="text or json.")] = Format.TEXT,
) -> None:
    """Show the chain of rules and facts behind each recommendation and treatment status."""
    from cds.audit.log import DecisionLog, DecisionLogError
    from cds.decision import Decision
    from cds.errors import UsageError
    from cds.rules.explain import check_decision, explain_decision, explain_rule, format_explanation, read_decision

    if (decision is None) == (record_id is None):
        raise UsageError("give a decision.json or --record ID (one of them)")
    if record_id is not None:
        entry = DecisionLog(log, key_path=key).get(record_id)
        if entry.delivery_failure is not None:
            raise DecisionLogError(f"record {entry.record_id} is a delivery-failure note, not a decision")
        record = check_decision(entry.decision, f"log record {entry.record_id}")
        Decision.from_record(record, source=f"log record {entry.record_id}")  # exit 3 naming what is wrong
        note = f"read from log record {entry.record_id} ({entry.record_hash[:12]}); `cds audit verify` checks the log"
    else:
        assert decision is not None
        record = read_decision(decision)
        Decision.from_record(record, source=decision)  # an edited file: exit 3 naming the file and the part
        note = _checked_against_log(record, log, key)
    report = explain_rule(record, rule) if rule else explain_decision(record)
    if format is Format.JSON:
        typer.echo(json.dumps(report, sort_keys=True, indent=2, ensure_ascii=False))
    else:
        typer.echo(format_explanation(report), nl=False)
    typer.echo(f"cds: {note}", err=True)
    for warning in report.get("warnings") or []:
        typer.echo(f"cds: warning: {warning}", err=True)

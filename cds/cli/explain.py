"""``cds explain``: the rules and facts behind a decision, read from its decision.json (no engine run)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer()


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"


@app.command("explain")
def explain(
    decision: Annotated[Path, typer.Argument(help="A decision.json written by cds triage.")],
    rule: Annotated[str | None, typer.Option("--rule", help="Explain one rule (also one that did not fire).")] = None,
    format: Annotated[Format, typer.Option("--format", help="text or json.")] = Format.TEXT,
) -> None:
    """Show the chain of rules and facts behind each recommendation and treatment status."""
    from cds.rules.explain import explain_decision, explain_rule, format_explanation, read_decision

    record = read_decision(decision)
    report = explain_rule(record, rule) if rule else explain_decision(record)
    if format is Format.JSON:
        typer.echo(json.dumps(report, sort_keys=True, indent=2, ensure_ascii=False))
    else:
        typer.echo(format_explanation(report), nl=False)
    for warning in report.get("warnings") or []:
        typer.echo(f"cds: warning: {warning}", err=True)

"""``cds demo``: a synthetic night with periodic leg movements and a made-up patient, triaged end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cds.cli._console import stderr_progress

app = typer.Typer()


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("cds-demo"),
    hours: Annotated[
        float | None, typer.Option("--hours", min=0.05, max=12.0, help="Length of the synthetic night (h).")
    ] = None,
    date: Annotated[str | None, typer.Option("--date", help="Print this date (YYYY-MM-DD) on the letter.")] = None,
) -> None:
    """Write demo-night.edf and demo-patient.yaml to --out, run triage on them and say where the letter is."""
    from cds.pipeline import check_letter_date, run_demo

    written = run_demo(out, hours=hours, letter_date=check_letter_date(date), progress=stderr_progress())
    typer.echo(f"demo recording: {written['recording']}")
    typer.echo(f"demo patient:   {written['patient']}")
    typer.echo(f"letter:         {written['letter.html']} (also {written['letter.md'].name})")
    typer.echo(f"decision:       {written['decision.json']} (cds explain {written['decision.json']})")

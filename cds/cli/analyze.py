"""``cds analyze RECORDING``: score leg movements, sleep-onset jerks and fragmentary myoclonus in one night."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cds.cli._console import stderr_progress, write_atomic
from cds.standards import Standard

__all__ = ["app"]

app = typer.Typer()


@app.command("analyze")
def analyze(
    recording: Annotated[Path, typer.Argument(help="EDF/EDF+ recording.")],
    hypnogram: Annotated[Path | None, typer.Option("--hypnogram", help="Hypnogram file (EDF+ or CSV).")] = None,
    events: Annotated[Path | None, typer.Option("--events", help="Scored events (respiratory, arousals).")] = None,
    standard: Annotated[Standard, typer.Option("--standard", help="Scoring standard.")] = Standard.AASM,
    channel: Annotated[list[str] | None, typer.Option("--channel", help="ROLE=LABEL, e.g. left_leg='EMG L'.")] = None,
    json_out: Annotated[
        str | None, typer.Option("--json", help="Write the JSON report to PATH, or - for stdout.")
    ] = None,
    export_events: Annotated[Path | None, typer.Option("--export-events", help="Write events (.edf or .csv).")] = None,
) -> None:
    """Print a readable summary of the night and optionally write the cds.analysis/v1 JSON and an event file."""
    from cds.analysis import analyze_recording, render_summary
    from cds.analysis import export_events as write_events

    report = analyze_recording(recording, hypnogram_path=hypnogram, events_path=events, standard=standard,
                               channel_overrides=channel or None, progress=stderr_progress())  # fmt: skip
    if json_out == "-":
        typer.echo(report.to_json(), nl=False)
    else:
        typer.echo(render_summary(report))
        if json_out:
            write_atomic(json_out, report.to_json())
    if export_events:
        write_events(report, export_events)

"""``cds analyze RECORDING``: score leg movements, sleep-onset jerks and fragmentary myoclonus in one night."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cds.cli._console import stderr_progress
from cds.cli._options import channel_overrides, check_export_path
from cds.standard_names import Standard

__all__ = ["app"]

app = typer.Typer()


@app.command("analyze")
def analyze(
    recording: Annotated[Path, typer.Argument(help="EDF/EDF+ recording.")],
    hypnogram: Annotated[Path | None, typer.Option("--hypnogram", help="Hypnogram file (EDF+ or CSV).")] = None,
    events: Annotated[Path | None, typer.Option("--events", help="Scored events (respiratory, arousals).")] = None,
    standard: Annotated[Standard, typer.Option("--standard", help="Scoring standard.")] = Standard.AASM,
    channel: Annotated[list[str] | None, typer.Option("--channel", help="ROLE=LABEL, e.g. left_leg='EMG L'.")] = None,
    stage_labels: Annotated[
        Path | None,
        typer.Option("--stage-labels", help="Extra hypnogram/event label vocabulary (env CDS_STAGE_LABELS)."),
    ] = None,
    json_out: Annotated[
        str | None, typer.Option("--json", help="Write the JSON report to PATH, or - for stdout.")
    ] = None,
    export_events: Annotated[Path | None, typer.Option("--export-events", help="Write events (.edf or .csv).")] = None,
) -> None:
    """Print a readable summary of the night and optionally write the cds.analysis/v1 JSON and an event file."""
    from cds.analysis import analyze_recording, render_summary
    from cds.analysis import export_events as write_events
    from cds.errors import InputError
    from cds.files import write_atomic
    from cds.outputs import check_not_inputs, check_output_file

    overrides = channel_overrides(channel)
    check_export_path(export_events)
    outputs = {}
    if json_out not in (None, "-"):
        outputs["--json"] = check_output_file(Path(json_out), "JSON report")
    if export_events is not None:
        outputs["--export-events"] = check_output_file(export_events, "event export")
    check_not_inputs(
        outputs, {"recording": recording, "--hypnogram": hypnogram, "--events": events, "--stage-labels": stage_labels}
    )
    report = analyze_recording(
        recording,
        hypnogram_path=hypnogram,
        events_path=events,
        standard=standard,
        channel_overrides=overrides or None,
        stage_labels=stage_labels,
        progress=stderr_progress(),
    )
    if json_out == "-":
        typer.echo(report.to_json(), nl=False)
    else:
        typer.echo(render_summary(report))
    writers = {
        "--json": lambda path: write_atomic(path, report.to_json()),
        "--export-events": lambda path: write_events(report, path),
    }
    for option, path in outputs.items():
        try:
            writers[option](path)
        except OSError as exc:
            raise InputError(f"cannot write the {option[2:]} output: {exc.strerror or exc}", path=path) from exc

"""``cds validate RECORDING... --scored FILE...``: cds's leg movements against a sleep lab's own scoring."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cds.cli._console import stderr_progress
from cds.cli._options import channel_overrides
from cds.standard_names import Standard

__all__ = ["app"]

app = typer.Typer()


@app.command("validate")
def validate(
    recordings: Annotated[list[Path], typer.Argument(help="EDF/EDF+ recordings (one or more).")],
    scored: Annotated[
        list[Path] | None,
        typer.Option(
            "--scored",
            help="The site's scored leg movements for each recording, in the same order "
            "(EDF+ annotations or CSV/TSV/Noxturnal export); default: each recording's own annotations.",
        ),
    ] = None,
    scored_left: Annotated[
        list[Path] | None,
        typer.Option(
            "--scored-left",
            help="A site that exports each leg in its own file: the left-leg events for each recording, in order "
            "(with --scored-right; merged by the standard's bilateral rule).",
        ),
    ] = None,
    scored_right: Annotated[
        list[Path] | None,
        typer.Option("--scored-right", help="The right-leg events for each recording, in order (with --scored-left)."),
    ] = None,
    standard: Annotated[Standard, typer.Option("--standard", help="Scoring standard.")] = Standard.AASM,
    tolerance_s: Annotated[
        float, typer.Option("--tolerance-s", min=0.001, help="Onset tolerance for a match (s).")
    ] = 0.5,
    channel: Annotated[list[str] | None, typer.Option("--channel", help="ROLE=LABEL, e.g. left_leg='EMG L'.")] = None,
    json_out: Annotated[
        str | None, typer.Option("--json", help="Write the JSON report to PATH, or - for stdout.")
    ] = None,
    figure: Annotated[Path | None, typer.Option("--figure", help="Write the agreement figure (.svg).")] = None,
) -> None:
    """Event sensitivity, PPV and F1, PLMS-index agreement (Bland-Altman, ICC) and a per-recording table."""
    from cds.errors import InputError, UsageError
    from cds.files import write_atomic
    from cds.outputs import check_not_inputs, check_output_file
    from cds.validation import render_validation_text, validate_recordings

    if scored and len(scored) != len(recordings):
        raise UsageError(f"{len(recordings)} recordings but {len(scored)} --scored files: give one per recording")
    per_leg: list[tuple[Path, Path]] = []
    if scored_left or scored_right:
        if scored:
            raise UsageError("give --scored, or --scored-left with --scored-right, not both")
        n_left, n_right = len(scored_left or []), len(scored_right or [])
        if n_left != len(recordings) or n_right != len(recordings):
            raise UsageError(
                f"{len(recordings)} recordings but {n_left} --scored-left and {n_right} --scored-right files: "
                "give one of each per recording"
            )
        per_leg = list(zip(scored_left or [], scored_right or [], strict=True))
    if figure is not None and figure.suffix.lower() != ".svg":
        raise UsageError(f"--figure must end in .svg (got: {figure.name})")
    overrides = channel_overrides(channel)
    outputs = {"--figure": check_output_file(figure, "figure")} if figure is not None else {}
    if json_out not in (None, "-"):
        outputs["--json"] = check_output_file(Path(json_out), "JSON report")
    inputs = [*recordings, *(scored or []), *(scored_left or []), *(scored_right or [])]
    check_not_inputs(outputs, {f"input {i + 1}": p for i, p in enumerate(inputs)})
    report = validate_recordings(
        recordings,
        per_leg or scored,
        standard=standard,
        tolerance_s=tolerance_s,
        channel_overrides=[f"{k}={v}" for k, v in overrides.items()] or None,
        progress=stderr_progress(),
    )
    typer.echo(report.to_json() if json_out == "-" else render_validation_text(report), nl=json_out != "-")
    for option, path in outputs.items():
        try:
            if option == "--figure":
                from cds.validation.figure import render_validation_figure

                write_atomic(path, render_validation_figure(report))
            else:
                write_atomic(path, report.to_json())
        except OSError as exc:
            raise InputError(f"cannot write the {option[2:]} output: {exc.strerror or exc}", path=path) from exc

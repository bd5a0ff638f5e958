"""``cds triage``: patient file (and optionally a recording) in, decision record and letter out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cds.cli._console import stderr_progress
from cds.cli._options import channel_overrides, require_recording
from cds.standard_names import Standard

app = typer.Typer()


@app.command("triage")
def triage(
    patient: Annotated[Path, typer.Option("--patient", help="Patient context file (cds.patient/v1, YAML or JSON).")],
    recording: Annotated[Path | None, typer.Option("--recording", help="EDF/EDF+ polysomnogram to score.")] = None,
    hypnogram: Annotated[Path | None, typer.Option("--hypnogram", help="Sleep stages for the recording.")] = None,
    events: Annotated[
        Path | None, typer.Option("--events", help="Scored events (e.g. respiratory) for the recording.")
    ] = None,
    standard: Annotated[
        Standard | None, typer.Option("--standard", help="Leg-movement scoring standard (default aasm).")
    ] = None,
    channel: Annotated[
        list[str] | None, typer.Option("--channel", help="ROLE=LABEL channel assignment (repeatable).")
    ] = None,
    stage_labels: Annotated[
        Path | None,
        typer.Option("--stage-labels", help="Extra hypnogram/event label vocabulary (env CDS_STAGE_LABELS)."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("cds-triage"),
    pdf: Annotated[bool, typer.Option("--pdf", help='Also write letter.pdf (needs: pip install -e ".[pdf]").')] = False,
    date: Annotated[str | None, typer.Option("--date", help="Print this date (YYYY-MM-DD) on the letter.")] = None,
    log: Annotated[
        Path | None, typer.Option("--log", envvar="CDS_DECISION_LOG", help="Decision log (default: user data folder).")
    ] = None,
    require_release: Annotated[
        bool, typer.Option("--require-release", help="Refuse a rule set that is not a release (files changed).")
    ] = False,
    log_full: Annotated[
        bool,
        typer.Option(
            "--log-full",
            help="Keep the patient id and the patient file's text in the log (default: "
            "a pseudonym and the file's hash).",
        ),
    ] = False,
) -> None:
    """Run the whole pipeline, append the decision to the decision log, and write decision.json, letter.html,
    letter.md (+ analysis.json, letter.pdf)."""
    from cds.pipeline import TriageRequest, check_letter_date, check_triage_paths, deliver_triage, run_triage

    overrides = channel_overrides(channel)
    require_recording(
        recording,
        {
            "--hypnogram": hypnogram,
            "--events": events,
            "--standard": standard,
            "--channel": channel,
            "--stage-labels": stage_labels,
        },
    )
    request = TriageRequest(
        patient_path=patient,
        recording_path=recording,
        hypnogram_path=hypnogram,
        events_path=events,
        standard=(standard or Standard.AASM).value,
        channel_overrides=overrides,
        stage_labels_path=stage_labels,
        letter_date=check_letter_date(date),
        pdf=pdf,
        require_release=require_release,
    )
    check_triage_paths(request, out, log)
    result = run_triage(request, progress=stderr_progress(), render=False)  # rendered once, with the record id
    written, _ = deliver_triage(
        result, out, log, patient_path=patient, full_log=log_full
    )  # staged, logged, then moved into place
    for name in sorted(written):
        typer.echo(str(written[name]))

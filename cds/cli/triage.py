"""``cds triage``: patient file (and optionally a recording) in, decision record and letter out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cds.cli._console import stderr_progress
from cds.standards import Standard

app = typer.Typer()


def parse_channel_overrides(items: list[str]) -> dict[str, str]:
    """``["left_leg=LAT", ...]`` -> ``{"left_leg": "LAT"}``; a malformed item is a usage error (exit 2)."""
    from cds.io.channels import ChannelRole

    roles = [r.value for r in ChannelRole]
    overrides: dict[str, str] = {}
    for item in items:
        role, sep, label = item.partition("=")
        if not sep or not role.strip() or not label.strip():
            raise typer.BadParameter(f"expected ROLE=LABEL, got {item!r}", param_hint="--channel")
        if role.strip() not in roles:
            raise typer.BadParameter(
                f"unknown role {role.strip()!r} (allowed: {', '.join(roles)})", param_hint="--channel"
            )
        overrides[role.strip()] = label.strip()
    return overrides


@app.command("triage")
def triage(
    patient: Annotated[Path, typer.Option("--patient", help="Patient context file (cds.patient/v1, YAML or JSON).")],
    recording: Annotated[Path | None, typer.Option("--recording", help="EDF/EDF+ polysomnogram to score.")] = None,
    hypnogram: Annotated[Path | None, typer.Option("--hypnogram", help="Sleep stages for the recording.")] = None,
    events: Annotated[
        Path | None, typer.Option("--events", help="Scored events (e.g. respiratory) for the recording.")
    ] = None,
    standard: Annotated[Standard, typer.Option("--standard", help="Leg-movement scoring standard.")] = Standard.AASM,
    channel: Annotated[
        list[str] | None, typer.Option("--channel", help="ROLE=LABEL channel assignment (repeatable).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("cds-triage"),
    pdf: Annotated[bool, typer.Option("--pdf", help='Also write letter.pdf (needs: pip install -e ".[pdf]").')] = False,
    date: Annotated[str | None, typer.Option("--date", help="Print this date (YYYY-MM-DD) on the letter.")] = None,
    log: Annotated[
        Path | None, typer.Option("--log", envvar="CDS_DECISION_LOG", help="Decision log (default: user data folder).")
    ] = None,
) -> None:
    """Run the whole pipeline, append the decision to the decision log, and write decision.json, letter.html,
    letter.md (+ analysis.json, letter.pdf)."""
    from cds.pipeline import TriageRequest, log_decision, run_triage, write_triage

    request = TriageRequest(
        patient_path=patient,
        recording_path=recording,
        hypnogram_path=hypnogram,
        events_path=events,
        standard=standard.value,
        channel_overrides=parse_channel_overrides(channel or []),
        letter_date=date,
        pdf=pdf,
    )
    result = run_triage(request, progress=stderr_progress())
    log_decision(result, patient, log)  # logged first: no letter goes out that the audit log does not hold
    written = write_triage(result, out)
    for name in sorted(written):
        typer.echo(str(written[name]))

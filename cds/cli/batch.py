"""``cds batch SOURCE --out DIR``: score a cohort of nights on Dask, one result folder per night and a table."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cds.batch.run import BatchProgress
from cds.cli._options import channel_overrides
from cds.standard_names import Standard

__all__ = ["app"]

app = typer.Typer()


def _progress_line() -> BatchProgress:
    """``  12/50 nights  (1 error)`` redrawn on a terminal; a line every 10 % otherwise (logs of long runs)."""
    tty = sys.stderr.isatty()
    last = {"tenth": -1}

    def _progress(done: int, total: int, errors: int) -> None:
        text = f"  batch: {done}/{total} nights" + (f"  ({errors} error{'s' if errors != 1 else ''})" if errors else "")
        if tty:
            sys.stderr.write("\r" + text + ("\n" if done == total else ""))
        else:
            tenth = done * 10 // max(total, 1)
            if tenth == last["tenth"]:
                return
            last["tenth"] = tenth
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    return _progress


@app.command("batch")
def batch(
    source: Annotated[
        str,
        typer.Argument(
            help="Folder of *.edf, a glob ('nights/*.edf') or a manifest CSV (recording, id, "
            "hypnogram, events, patient)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Result folder: one folder per night, cohort.csv/.parquet.")],
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Local Dask worker processes (default: one per CPU; 0: in this process)."),
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="An existing Dask scheduler, e.g. tcp://10.0.0.5:8786.")
    ] = None,
    memory_limit: Annotated[
        str, typer.Option("--memory-limit", help="Per local worker, e.g. 2GB (default: RAM / workers).")
    ] = "auto",
    standard: Annotated[Standard, typer.Option("--standard", help="Leg-movement scoring standard.")] = Standard.AASM,
    channel: Annotated[
        list[str] | None, typer.Option("--channel", help="ROLE=LABEL for every night (repeatable).")
    ] = None,
    stage_labels: Annotated[
        Path | None,
        typer.Option("--stage-labels", help="Extra hypnogram/event label vocabulary (env CDS_STAGE_LABELS)."),
    ] = None,
    date: Annotated[str | None, typer.Option("--date", help="Print this date (YYYY-MM-DD) on the letters.")] = None,
    log: Annotated[
        Path | None, typer.Option("--log", envvar="CDS_DECISION_LOG", help="Decision log (default: user data folder).")
    ] = None,
    log_full: Annotated[
        bool,
        typer.Option("--log-full", help="Keep the decisions and patient files in full in the log (not only hashes)."),
    ] = False,
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Do not log the decisions (research scoring; overrides --log).")
    ] = False,
) -> None:
    """Score every night (with a patient file: triage it) on a local Dask cluster or an existing scheduler.

    Resumable: a night already done with the same inputs, rule set and cds version is skipped. A night that
    fails is a row with its error and never stops the batch (exit 1 at the end when any failed)."""
    from cds.batch.backend import open_backend
    from cds.batch.cohort import discover_nights
    from cds.batch.night import BatchSettings
    from cds.batch.run import run_batch
    from cds.cli._exit import ProblemsFoundError
    from cds.pipeline import check_letter_date

    overrides = channel_overrides(channel)
    settings = BatchSettings(
        standard=standard.value,
        channel_overrides=tuple(sorted(overrides.items())),
        stage_labels=stage_labels,
        letter_date=check_letter_date(date),
    )
    nights = discover_nights(source)
    with open_backend(workers, scheduler, memory_limit) as backend:
        typer.echo(f"{len(nights)} nights on {backend.description}", err=True)
        summary = run_batch(
            nights,
            out,
            backend,
            settings=settings,
            log_path=log,
            log_decisions=not no_log,
            log_full=log_full,
            progress=_progress_line(),
        )
    typer.echo(
        f"{summary.scored} scored, {summary.resumed} already done, {summary.errors} failed"
        f"{f', {summary.logged} decisions logged' if summary.logged else ''} in {summary.seconds:.1f} s"
    )
    for path in summary.tables.values():
        typer.echo(str(path))
    if summary.errors:
        failed = [r for r in summary.rows if r.get("status") != "ok"]
        for row in sorted(failed, key=lambda r: str(r["night_id"])):
            typer.echo(f"  {row['night_id']}: {row['error']}", err=True)
        raise ProblemsFoundError(f"{summary.errors} of {len(nights)} nights failed (see the error column)")

"""Options and output shared by ``cds audit replay --all`` and ``cds rules diff --cases``: the batch backend
(``--workers``, ``--scheduler``) and the report of which decisions change, how, and through which rules."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import typer

__all__ = ["SCHEDULER_OPTION", "WORKERS_OPTION", "echo_replay", "replay_backend", "replay_progress"]

WORKERS_OPTION = typer.Option(
    None, "--workers", help="Local Dask worker processes (0: in this process; default: 0 below 200 cases, else 1/CPU)."
)
SCHEDULER_OPTION = typer.Option(None, "--scheduler", help="Replay on an existing Dask scheduler (tcp://host:port).")


def replay_backend(cases: int, workers: int | None, scheduler: str | None) -> Any:
    """The backend context: in this process for small jobs (a cluster's start-up would dominate), else Dask."""
    from cds.batch.backend import open_backend

    if workers is None and scheduler is None and cases < 200:
        workers = 0
    return open_backend(workers, scheduler)


def replay_progress() -> Callable[[int, int], None] | None:
    if not sys.stderr.isatty():
        return None

    def _progress(done: int, total: int) -> None:
        sys.stderr.write(f"\r  replay: {done}/{total}" + ("\n" if done == total else ""))
        sys.stderr.flush()

    return _progress


def echo_replay(report: Any, *, json_out: bool, header: dict[str, Any]) -> None:
    """Print the replay report: a summary line, then each changed case with its changes and rules, then the
    cases that could not be reproduced (flagged, with the reason)."""
    if json_out:
        body = {
            **header,
            "total": report.total,
            "changed": [o.to_dict() for o in report.changed],
            "not_reproduced": [o.to_dict() for o in report.failed],
        }
        typer.echo(json.dumps(body, indent=2, sort_keys=True))
        return
    typer.echo(
        f"{len(report.changed)} of {report.total} decisions change"
        + (f"; {len(report.failed)} cannot be reproduced" if report.failed else "")
    )
    for outcome in report.changed:
        typer.echo(f"  {outcome.name}")
        for line in outcome.changes:
            typer.echo(f"    {line}")
        if outcome.rules:
            typer.echo(f"    through rules: {' '.join(outcome.rules)}")
    for outcome in report.failed:
        typer.echo(f"  NOT REPRODUCED {outcome.name}: {outcome.error}")

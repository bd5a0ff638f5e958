"""``cds batch``: score every night of a cohort on a backend, resumably, and write the cohort table.

Order of a night's delivery (so a killed batch leaves nothing half-done that a rerun would skip): the worker
writes the night's files all or nothing, this process appends its decision (if any) to the decision log, then
marks the night done (``batch.json``). A rerun skips the nights marked done with the same input key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds.batch.backend import Backend
from cds.batch.cohort import NightSpec
from cds.batch.night import BatchSettings, NightResult, error_row, mark_done, score_night
from cds.batch.table import write_cohort_table
from cds.errors import CdsError, InputError

__all__ = ["BatchSummary", "run_batch"]

log = logging.getLogger(__name__)

BatchProgress = Callable[[int, int, int], None]  # nights finished, nights in all, errors so far


@dataclass(frozen=True)
class BatchSummary:
    rows: list[dict[str, Any]]
    tables: dict[str, Path]
    scored: int
    resumed: int
    errors: int
    logged: int
    seconds: float


def run_batch(
    nights: Sequence[NightSpec],
    out_dir: str | Path,
    backend: Backend,
    *,
    settings: BatchSettings | None = None,
    log_path: str | Path | None = None,
    log_decisions: bool = True,
    progress: BatchProgress | None = None,
) -> BatchSummary:
    """Score ``nights`` into ``out_dir/<night id>/``, log their decisions, write ``out_dir/cohort.csv|parquet``."""
    from cds.batch.backend import require_extra
    from cds.outputs import check_output_dir

    require_extra("pyarrow", "the cohort table (Parquet)")  # before any night is scored, not after
    out = check_output_dir(out_dir, "batch output folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder: {exc.strerror or exc}", path=out) from exc
    settings = settings or BatchSettings()
    if backend.client is not None:
        settings = BatchSettings(**{**settings.__dict__, "threads_per_night": 1})
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    scored = resumed = errors = logged = 0
    if progress:
        progress(0, len(nights), 0)
    for spec, outcome in backend.map_unordered(score_night, list(nights), settings, str(out)):
        if isinstance(outcome, BaseException):
            result = NightResult(row=error_row(spec, f"internal error: worker failed: {outcome}"))
        else:
            result = outcome
        if result.row.get("status") == "ok" and not result.resumed:
            result, logged_one = _deliver(result, spec, out, log_path if log_decisions else None, log_decisions)
            logged += logged_one
        rows.append(result.row)
        if result.row.get("status") != "ok":
            errors += 1
            log.warning("night %s: %s", spec.night_id, result.row.get("error"))
        elif result.resumed:
            resumed += 1
        else:
            scored += 1
        if progress:
            progress(len(rows), len(nights), errors)
    tables = write_cohort_table(rows, out)
    return BatchSummary(rows, tables, scored, resumed, errors, logged, time.perf_counter() - started)


def _deliver(
    result: NightResult, spec: NightSpec, out: Path, log_path: str | Path | None, log_decisions: bool
) -> tuple[NightResult, int]:
    """Log the night's decision, then mark it done; a failure turns the row into an error (not marked done)."""
    logged = 0
    try:
        if log_decisions and result.decision is not None:
            from cds.audit.log import DecisionLog

            DecisionLog(log_path).append(dict(result.decision), patient_text=result.patient_text)
            logged = 1
        mark_done(out, result)
    except (OSError, CdsError) as exc:
        message = f"scored but not delivered: {getattr(exc, 'strerror', None) or exc}"
        return NightResult(row=error_row(spec, message)), logged
    return result, logged

"""``cds batch``: score every night of a cohort on a backend, resumably, and write the cohort table.

Order of a night's delivery (so a killed batch leaves nothing half-done that a rerun would skip): the worker
writes the night's files all or nothing, this process appends its decision (if any) to the decision log, then
marks the night done (``batch.json``). A rerun skips the nights marked done with the same input key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
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
    log_full: bool = False,
    progress: BatchProgress | None = None,
) -> BatchSummary:
    """Score ``nights`` into ``out_dir/<night id>/``, log their decisions, write ``out_dir/cohort.csv|parquet``."""
    from cds.batch.backend import require_extra
    from cds.outputs import check_output_dir

    require_extra("pyarrow", "the cohort table (Parquet)")  # before any night is scored, not after
    out = check_output_dir(out_dir, "batch output folder")
    if log_decisions and any(n.patient is not None for n in nights):
        from cds.audit.log import default_log_path
        from cds.outputs import check_output_file

        check_output_file(Path(log_path) if log_path is not None else default_log_path(), "decision log")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder: {exc.strerror or exc}", path=out) from exc
    settings = replace(settings or BatchSettings(), deliver_on_client=log_decisions)
    if backend.client is not None:
        settings = replace(settings, threads_per_night=1)
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
            result, logged_one = _deliver(result, spec, out, log_path, log_full)
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
    result: NightResult, spec: NightSpec, out: Path, log_path: str | Path | None, log_full: bool
) -> tuple[NightResult, int]:
    """A triage: log the decision and write the night's files with the record id in them (one transaction,
    cds.pipeline.deliver_triage), then the patient file's copy; then mark the night done. A failure turns the
    row into an error (and the night is not marked done)."""
    logged = 0
    try:
        row = result.row
        if result.triage is not None:
            from cds.batch.night import patient_copy_name
            from cds.files import write_atomic
            from cds.pipeline import deliver_triage

            assert spec.patient is not None
            _, entry = deliver_triage(
                result.triage, out / spec.night_id, log_path, patient_path=spec.patient, full_log=log_full
            )
            logged = 1
            write_atomic(out / spec.night_id / patient_copy_name(spec.patient), result.triage.patient_text or "")
            row = {**row, "log_record": entry.record_id}
        result = NightResult(row=row, key=result.key, seconds=result.seconds)
        mark_done(out, result)
    except (OSError, CdsError) as exc:
        message = f"scored but not delivered: {getattr(exc, 'strerror', None) or exc}"
        return NightResult(row=error_row(spec, message)), logged
    return result, logged

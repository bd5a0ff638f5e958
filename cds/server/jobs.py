"""Triage jobs run one at a time in a background thread, with their progress for the polling page.

A job's folder under ``<data dir>/results/<job id>/`` holds its outputs; a refusal (an input the pipeline cannot
use) is kept as its one readable message, an internal error as its type only (no patient data in server logs).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from cds.errors import CdsError, InputError

log = logging.getLogger(__name__)

__all__ = ["Job", "JobRunner"]


@dataclass
class Job:
    """State of one triage: ``state`` queued | running | done | refused | failed."""

    id: str
    state: str = "queued"
    stage: str = "waiting"
    fraction: float = 0.0
    message: str = ""
    record: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def to_dict(self) -> dict[str, object]:
        with self.lock:
            return {
                "id": self.id,
                "state": self.state,
                "stage": self.stage,
                "fraction": round(self.fraction, 3),
                "message": self.message,
                "record": self.record,
            }


class JobRunner:
    """One worker thread (the machine has two cores; triage of a night is CPU-bound)."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cds-triage")
        self._jobs: dict[str, Job] = {}

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def reserve(self) -> Job:
        """A new job (its id names its upload and result folders), not yet started."""
        job = Job(secrets.token_hex(8))
        self._jobs[job.id] = job
        return job

    def start(self, job: Job, work: Callable[[Job], int | None]) -> Job:
        """Run ``work(job)`` (returns the decision-log record number) in the background."""
        self._pool.submit(self._run, job, work)
        return job

    def _run(self, job: Job, work: Callable[[Job], int | None]) -> None:
        with job.lock:
            job.state = "running"
        try:
            record = work(job)
        except (InputError, CdsError) as exc:
            with job.lock:
                job.state, job.message = "refused", str(exc)
            log.warning("job %s refused (%s)", job.id, type(exc).__name__)
            return
        except Exception as exc:  # a bug: its type in the log, never its message (it may quote patient data)
            with job.lock:
                job.state, job.message = "failed", f"internal error ({type(exc).__name__}); nothing was logged"
            log.error("job %s failed: internal error %s", job.id, type(exc).__name__)
            return
        with job.lock:
            job.state, job.stage, job.fraction, job.record = "done", "done", 1.0, record

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

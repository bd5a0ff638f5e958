"""Where a batch runs: in this process (``--workers 0``), on a local Dask cluster of worker processes (the
default; one thread each, so a worker holds one night at a time), or on an existing Dask scheduler
(``--scheduler tcp://host:port``, workers started with ``dask worker``: they need cds installed and the cohort's
files at the same paths).

Every backend yields results as they complete; a task whose worker died becomes an error row, not a crash.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from cds.errors import InputError, UsageError

__all__ = ["Backend", "default_workers", "open_backend", "require_extra"]

_EXTRA_HINT = 'pip install -e ".[batch]"'


def require_extra(module: str, what: str) -> None:
    """CdsError with the install command when an optional package of the ``batch`` extra is missing."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        from cds.errors import CdsError

        raise CdsError(f"{what} needs {module}, which is not installed: {_EXTRA_HINT}")


T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)


def default_workers() -> int:
    """One worker per CPU (``CDS_BATCH_WORKERS`` overrides)."""
    value = os.environ.get("CDS_BATCH_WORKERS", "").strip()
    if value.isdigit():
        return int(value)
    return os.cpu_count() or 1


@dataclass
class Backend:
    """Runs ``fn(item, *args)`` for every item and yields ``(item, result or exception)`` as each completes."""

    client: Any | None  # a distributed.Client, or None for in-process
    description: str

    def map_unordered(
        self, fn: Callable[..., R], items: Sequence[T], *args: Any
    ) -> Iterator[tuple[T, R | BaseException]]:
        if self.client is None:
            for item in items:
                yield item, fn(item, *args)
            return
        from distributed import as_completed

        futures = {}
        for index, item in enumerate(items):
            future = self.client.submit(fn, item, *args, pure=False, key=f"cds-{index}-{os.getpid()}-{id(items)}")
            futures[future.key] = (future, item)
        for future in as_completed([f for f, _ in futures.values()], loop=self.client.loop):
            item = futures.pop(future.key)[1]
            try:
                yield item, future.result()
            except Exception as exc:  # the worker died (KilledWorker) or the task could not be sent
                yield item, exc
            finally:
                future.release()


@contextmanager
def open_backend(
    workers: int | None = None, scheduler: str | None = None, memory_limit: str = "auto"
) -> Iterator[Backend]:
    """The backend for ``--workers N`` (0: in this process) or ``--scheduler ADDRESS``."""
    if scheduler is not None and workers is not None:
        raise UsageError("give --workers or --scheduler, not both (the scheduler's workers do the work)")
    if scheduler is None and workers == 0:
        yield Backend(None, "sequential (in this process)")
        return
    # no cluster chatter on the user's terminal (the variable reaches the worker processes too)
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
    require_extra("distributed", "running on Dask (--workers N or --scheduler; --workers 0 runs in this process)")
    from distributed import Client, LocalCluster

    for name in ("distributed", "tornado"):
        logging.getLogger(name).setLevel(logging.ERROR)

    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"cannot reach the Dask scheduler: {exc}", path=scheduler) from exc
        try:
            count = len(client.scheduler_info().get("workers", {}))
            yield Backend(client, f"Dask scheduler {scheduler} ({count} workers)")
        finally:
            client.close()
        return
    n = workers if workers is not None else default_workers()
    if n < 0:
        raise UsageError(f"must be 0 or more, got {n}", option="--workers")
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",  # loopback: nothing outside this machine can submit work
        dashboard_address=None,
        memory_limit=memory_limit,
    )
    try:
        client = Client(cluster, set_as_default=False)
        try:
            yield Backend(client, f"local Dask cluster ({n} worker processes)")
        finally:
            client.close()
    finally:
        cluster.close()

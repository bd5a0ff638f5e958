"""Independent pieces of signal work in parallel threads (two leg channels, the pieces of one chin channel, the
windows around sleep onsets): numpy and scipy release the GIL, so two legs are band-passed in about the time of one
on two cores; passes bound by memory bandwidth gain less. Results come back in input order; the first error is
raised.
``CDS_THREADS`` caps the threads (``CDS_THREADS=1``: everything serial, e.g. on a shared machine)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["map_parallel", "max_threads"]

T = TypeVar("T")
R = TypeVar("R")


def max_threads() -> int:
    """``CDS_THREADS`` when set to a positive integer, else the number of CPUs."""
    value = os.environ.get("CDS_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return os.cpu_count() or 1


def map_parallel(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(x) for x in items]``, computed in up to ``max_threads()`` threads (serially for one item or one
    thread). Each call must be independent of the others (the outputs are then identical to the serial ones)."""
    workers = min(len(items), max_threads())
    if workers < 2:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))

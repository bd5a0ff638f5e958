"""Shared pieces of the fuzz tests (imported as ``tests.fuzz.fuzzkit`` by the tests and by conftest.py, so the
count of inputs tried is one counter)."""

from __future__ import annotations

import contextlib
import io
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, settings

TRIED: Counter[str] = Counter()  # inputs tried, by kind
OUTCOMES: Counter[str] = Counter()  # exit codes (and library refusals) over all of them


SCALE = float(os.environ.get("CDS_FUZZ_SCALE", "1"))  # e.g. 10 for a deeper local run
RANDOM = os.environ.get("CDS_FUZZ_RANDOM") == "1"  # new examples each run instead of the derandomized CI ones


def fuzz(examples: int) -> settings:
    """Hypothesis settings of one fuzz test: ``examples`` inputs (times CDS_FUZZ_SCALE), derandomized and without
    an example database unless CDS_FUZZ_RANDOM=1, so CI tries the same inputs every run; no deadline."""
    return settings(
        max_examples=max(1, round(examples * SCALE)),
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    )


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


def run_cds(argv: Sequence[str]) -> Ran:
    """``cds ARGV`` in-process with its stdout and stderr captured."""
    from cds.cli import run

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run([str(a) for a in argv])
    return Ran(code, out.getvalue(), err.getvalue())


def assert_clean_exit(ran: Ran, allowed: Sequence[int] = (0, 2, 3)) -> None:
    """No internal error; a refusal is one line on stderr starting with ``cds:``; no Python warning text."""
    OUTCOMES[f"exit {ran.code}"] += 1
    assert ran.code in allowed, f"exit {ran.code}: {ran.err}"
    assert "Traceback" not in ran.err and "Warning" not in ran.err, ran.err
    if ran.code != 0:
        lines = ran.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("cds: "), lines


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name -> bytes); empty when it does not exist."""
    if not folder.exists():
        return {}
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

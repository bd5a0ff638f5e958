"""Shared fixtures. Real recordings come from ../shared/data/real through the ``real_data_dir`` fixture:
skipped with a reason when absent locally, a failure under CI=true where they must be present."""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_REAL = REPO.parent / "shared" / "data" / "real"


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    if SHARED_REAL.is_dir():
        return SHARED_REAL
    if os.environ.get("CI") == "true":
        pytest.fail(f"real test data missing under CI: expected {SHARED_REAL.name} in ../shared/data")
    pytest.skip("real recordings (../shared/data/real) not present on this machine")


@pytest.fixture(scope="session")
def synth_night(tmp_path_factory) -> Callable[..., tuple[Path, object]]:
    """Synthetic nights with planted truth (cds.synth), generated once per session into a temporary folder."""
    from cds.synth.config import SynthConfig
    from cds.synth.generate import write_synthetic_psg

    cache: dict[tuple, tuple[Path, object]] = {}
    folder = tmp_path_factory.mktemp("synth")

    def make(preset: str, seed: int = 0, **changes) -> tuple[Path, object]:
        key = (preset, seed, tuple(sorted(changes.items())))
        if key not in cache:
            path = folder / f"{preset}-{seed}-{len(cache)}.edf"
            config = SynthConfig.preset(preset).replace(**changes)
            cache[key] = (path, write_synthetic_psg(path, config, seed=seed))
        return cache[key]

    return make


@pytest.fixture(scope="session", autouse=True)
def _private_cache_and_log(tmp_path_factory):
    """Keep the test run out of the user's folders: the rule-set cache and the decision log go to temp dirs
    and so does the log's key ring (the cache is still exercised: the first load fills it, later loads read it back)."""
    saved = {k: os.environ.get(k) for k in ("CDS_CACHE_DIR", "CDS_DECISION_LOG", "CDS_AUDIT_KEY")}
    os.environ["CDS_CACHE_DIR"] = str(tmp_path_factory.mktemp("cds-cache"))
    os.environ["CDS_DECISION_LOG"] = str(tmp_path_factory.mktemp("cds-log") / "decisions.sqlite")
    os.environ["CDS_AUDIT_KEY"] = str(tmp_path_factory.mktemp("cds-key") / "audit-key.json")
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _counts() -> dict[str, dict[str, int]]:
    """Inputs the property-based sweeps tried in this process: the safety sweep's patients, the fuzzers' inputs
    and outcomes."""
    import sys

    sweep = sys.modules.get("test_safety_sweep") or sys.modules.get("tests.test_safety_sweep")
    fuzz = sys.modules.get("tests.fuzz.fuzzkit")
    return {
        "sweep": dict(getattr(sweep, "TRIED", None) or {}),
        "fuzz_tried": dict(getattr(fuzz, "TRIED", None) or {}),
        "fuzz_outcomes": dict(getattr(fuzz, "OUTCOMES", None) or {}),
    }


_FROM_WORKERS: dict[str, Counter[str]] = defaultdict(Counter)  # counts sent by parallel workers (pytest -n)


def pytest_sessionfinish(session, exitstatus):
    """On a pytest-xdist worker: send this process's counts to the controller, which prints the totals."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["cds_counts"] = _counts()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """On the pytest-xdist controller: add up the counts a worker sent."""
    for kind, counts in (getattr(node, "workeroutput", {}) or {}).get("cds_counts", {}).items():
        _FROM_WORKERS[kind].update(counts)


def tried_counts() -> dict[str, Counter[str]]:
    """This process's counts plus those of every parallel worker."""
    total: dict[str, Counter[str]] = defaultdict(Counter)
    for source in (_counts(), _FROM_WORKERS):
        for kind, counts in source.items():
            total[kind].update(counts)
    return total


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say how many generated inputs the property-based sweeps tried (issue 10: print how many patients; issue
    16: the fuzzers' inputs and outcomes), added up over parallel workers."""
    counts = tried_counts()
    tried = counts["sweep"]
    if tried.get("patients"):
        terminalreporter.write_line(
            f"safety sweep: {tried['patients']} generated patients tried "
            f"({tried['full decisions']} full decisions with branches, each rerun byte-identical)"
        )
    fuzz, outcomes = counts["fuzz_tried"], counts["fuzz_outcomes"]
    if fuzz:
        parts = ", ".join(f"{kind}: {n}" for kind, n in sorted(fuzz.items()))
        shown = ", ".join(f"{kind}: {n}" for kind, n in sorted(outcomes.items()))
        terminalreporter.write_line(f"fuzz: {sum(fuzz.values())} inputs tried ({parts}); outcomes: {shown}")

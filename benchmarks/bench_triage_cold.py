"""Whole-process wall time and peak memory of a cold ``cds triage`` on the patient's history alone (no recording),
as a physician runs it: a fresh process each time, the shipped rules and knowledge, the bundled example patient,
a decision log in a temporary folder.

    python benchmarks/bench_triage_cold.py [--repeat 7]

Three situations are measured, each in a fresh process started with ``subprocess`` (interpreter start, imports,
rule base, decision, letter, signed log entry, files written), from outside (wall time around the child, peak RSS
from the kernel's ``wait4`` accounting of that child):

- ``cds --version``: the floor, Python and the command-line framework starting and stopping;
- ``cds triage``, first run after the rules changed: no compiled bundle yet (an empty cache folder), so the rule
  and knowledge files are validated, stamped, compiled and stored as the bundle;
- ``cds triage``, every later run: the compiled bundle (cds.rules.bundle) is read back.

The floor and the bundled triage alternate, so a busy spell on a shared machine hits both; the first runs are
measured after them (each is a 9-s build that would otherwise slow the light run after it). Best and median are
printed, and the in-process split of one bundled triage (imports, bundle read, Rete network build if it were not
stored).
Target (issue 11): a cold ``cds triage`` (history only) <= 1.0 s whole process on this machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_commands import _machine

ROOT = Path(__file__).resolve().parents[1]
PATIENT = ROOT / "examples" / "demo-patient.yaml"
TARGET_S = 1.0

_SPLIT = """
import json, pickle, time
t0 = time.perf_counter()
import cds.cli, cds.pipeline, cds.rules.engine, cds.letter.render, cds.audit.log
t1 = time.perf_counter()
from cds.paths import knowledge_dir, rules_dir
from cds.rules.bundle import bundle_key, load_bundle
from cds.rules.engine import RuleBase, network_of
key = bundle_key(rules_dir(), knowledge_dir())
t2 = time.perf_counter()
bundle = load_bundle(rules_dir(), knowledge_dir(), network_of, key=key)
t3 = time.perf_counter()
RuleBase(bundle.rules, bundle.kb, stamp=bundle.stamp).new_engine()
t4 = time.perf_counter()
print(json.dumps({"imports_s": t1 - t0, "bundle_key_s": t2 - t1, "bundle_read_s": t3 - t2, "network_build_s": t4 - t3}))
"""


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall time (s), peak RSS (MB) and stdout of one child process, reaped with ``wait4`` for its own usage."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if code != 0:
            raise SystemExit(f"{' '.join(argv[:3])} ... failed ({code}):\n{err.read()[-2000:]}")
        return wall, usage.ru_maxrss * 1024 / 1e6, out.read()


def _bytecode() -> str:
    """Whether the cds modules start from cached bytecode: with PYTHONDONTWRITEBYTECODE set and no __pycache__
    (an editable install on such a machine) every start compiles them from source."""
    import cds

    package = Path(cds.__file__).parent
    cached = sum(1 for _ in package.rglob("__pycache__/*.pyc"))
    flag = os.environ.get("PYTHONDONTWRITEBYTECODE")
    where = "an installed copy" if package.parent.name == "site-packages" else "the source tree (editable install)"
    state = f"{cached} cached .pyc files of cds in {where}"
    return state + (" (PYTHONDONTWRITEBYTECODE is set: none are written)" if flag else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cds-bench-triage-"))
    cds = str(Path(sys.executable).with_name("cds"))
    env = {k: v for k, v in os.environ.items() if k not in ("CDS_NO_CACHE", "CDS_DECISION_LOG")}
    env["CDS_AUDIT_KEY"] = str(work / "audit-key.json")  # the log's key ring, created by the first triage

    def triage(n: int) -> list[str]:
        return [cds, "triage", "--patient", str(PATIENT), "--out", str(work / f"out{n}"), "--log", str(work / "log")]

    print(f"machine: {_machine()}")
    print(f"patient: {PATIENT.relative_to(ROOT)} (history only); best / median of {args.repeat} fresh processes")
    print(f"bytecode: {_bytecode()}")
    print()
    rows: dict[str, list[tuple[float, float]]] = {"version": [], "first": [], "later": []}
    warm = work / "cache-warm"
    _run(triage(0), {**env, "CDS_CACHE_DIR": str(warm)})  # builds the bundle the later runs read
    # the floor and the everyday triage alternate; the first runs (a 9-s build each, a heavy perturbation of the
    # machine) are measured apart, after them, so that they do not slow the light runs that follow each of them
    for n in range(args.repeat):
        rows["version"].append(_run([cds, "--version"], env)[:2])
        rows["later"].append(_run(triage(n), {**env, "CDS_CACHE_DIR": str(warm)})[:2])
    for n in range(args.repeat):
        cold = work / f"cache-cold-{n}"
        rows["first"].append(_run(triage(args.repeat + n), {**env, "CDS_CACHE_DIR": str(cold)})[:2])
        shutil.rmtree(cold, ignore_errors=True)
    names = {
        "version": "cds --version (start-up floor)",
        "first": "cds triage, first run (no bundle yet)",
        "later": "cds triage, bundle read back",
    }
    print(f"{'command':<40} {'best s':>7} {'median s':>9} {'peak MB':>8}")
    for key, label in names.items():
        walls = [w for w, _ in rows[key]]
        print(f"{label:<40} {min(walls):7.2f} {statistics.median(walls):9.2f} {max(r for _, r in rows[key]):8.0f}")
    split = _run([sys.executable, "-c", _SPLIT], {**env, "CDS_CACHE_DIR": str(warm)})[2]
    print()
    print(f"in one process, bundled: {split.strip()}")
    later = statistics.median(w for w, _ in rows["later"])
    verdict = "met" if later <= TARGET_S else "NOT met"
    print(f"target: cold cds triage (history only) <= {TARGET_S:.1f} s whole process: median {later:.2f} s, {verdict}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Whole-process wall time and peak memory of ``cds analyze`` and ``cds triage --recording``, as a user runs them,
beside a plain pyedflib read of the same file (and psgscoring's PLM function when it is installed).

    python benchmarks/bench_commands.py [--hours 2 8 24] [--repeat 3] [--keep DIR]

Every figure is one fresh process started with ``subprocess`` (interpreter start, imports, reading, scoring,
writing), measured from outside: wall time around the child, peak resident memory from the kernel's
``wait4`` accounting of that child (``ru_maxrss``). Runs alternate between the commands, so a busy spell on a
shared machine hits all of them; best and median of ``--repeat`` runs are printed. The in-process figures
(``analyze_recording`` alone vs ``pyedflib`` reading the channels, both timed inside one process after the
imports) come from ``bench_analyze.py`` and are repeated here for the 8-h night.

Targets (issue 13), on the 8-h night: whole process <= 2.5 x the read, in process <= 1.2 x, triage with a
recording <= 1.2 x analyze, peak memory <= 300 MB; time linear in the night's length.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATIENT = ROOT / "examples" / "demo-patient.yaml"

_READ = """
import sys, pyedflib
r = pyedflib.EdfReader(sys.argv[1])
data = [r.readSignal(i) for i in range(r.signals_in_file)]
r.close()
"""

_PSGSCORING = """
import sys, pyedflib
from psgscoring.plm import analyze_plm
r = pyedflib.EdfReader(sys.argv[1])
labels = r.getSignalLabels()
left, right = r.readSignal(labels.index("Leg L")), r.readSignal(labels.index("Leg R"))
sf = r.getSampleFrequency(labels.index("Leg L"))
r.close()
stages = [s for s in open(sys.argv[2]).read().split()]
analyze_plm(left, right, sf, stages, leg_unit="uV", bilateral_window_s=5.0)
"""

_IN_PROCESS = """
import json, sys, time
import pyedflib
from cds.analysis import analyze_recording
t = time.perf_counter()
r = pyedflib.EdfReader(sys.argv[1])
data = [r.readSignal(i) for i in range(r.signals_in_file)]
r.close()
read_s = time.perf_counter() - t
del data
t = time.perf_counter()
analyze_recording(sys.argv[1])
print(json.dumps({"read_s": read_s, "analyze_s": time.perf_counter() - t}))
"""


def _run(argv: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall time (s) and peak RSS (MB, 10^6 bytes) of one child process, and its stdout. The child is reaped with
    ``wait4`` (not Popen.wait), which returns that child's own resource usage."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv[:4])} ... failed ({proc.returncode}):\n{err.read()[-2000:]}")
        return wall, usage.ru_maxrss * 1024 / 1e6, out.read()  # ru_maxrss is in KiB on Linux; MB = 10^6 bytes


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    system = f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    return f"{os.cpu_count()} cores ({cpu}){mem}, {system}"


def _has_psgscoring() -> bool:
    code = "import importlib.util, sys; sys.exit(importlib.util.find_spec('psgscoring') is None)"
    return subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def _night(folder: Path, hours: float) -> tuple[Path, Path]:
    """The generated night and its stages (for psgscoring), written by a separate process: this one stays small,
    because a child started from it inherits its peak memory in the kernel's accounting."""
    path = folder / f"night-{hours:g}h.edf"
    stages = folder / f"night-{hours:g}h.stages.txt"
    if not path.exists() or not stages.exists():
        truth = folder / f"night-{hours:g}h.truth.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "cds.synth",
                str(path),
                "--preset",
                "periodic",
                "--hours",
                f"{hours:g}",
                "--seed",
                "1",
                "--truth",
                str(truth),
            ],
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
        stages.write_text(" ".join(json.loads(truth.read_text())["hypnogram"]["stages"]) + "\n")
    return path, stages


def _stats(rows: list[tuple[float, float]]) -> tuple[float, float, float]:
    walls = [r[0] for r in rows]
    return min(walls), statistics.median(walls), max(r[1] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, nargs="+", default=[2.0, 8.0, 24.0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="folder to keep the generated nights in")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="cds-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    cds = str(Path(sys.executable).with_name("cds"))
    psg = _has_psgscoring()
    print(f"machine: {_machine()}")
    print(
        f"nights: 3 channels (2 legs, chin) at 256 Hz, 'periodic' preset; best / median of {args.repeat} runs; "
        "wall time and peak RSS of the whole process"
    )
    print(f"psgscoring: {'installed' if psg else 'not installed (pip install psgscoring to compare)'}")
    print()
    header = f"{'hours':>5}  {'command':<34} {'best s':>7} {'median s':>8} {'x read':>7} {'peak MB':>8}"
    print(header)
    results: dict[float, dict[str, tuple[float, float, float]]] = {}
    for hours in args.hours:
        path, stages = _night(folder, hours)
        commands = {
            "pyedflib read (all 3 channels)": [sys.executable, "-c", _READ, str(path)],
            "cds analyze night.edf": [cds, "analyze", str(path), "--json", str(folder / "analysis.json")],
            "cds triage --recording night.edf": [
                cds,
                "triage",
                "--patient",
                str(PATIENT),
                "--recording",
                str(path),
                "--out",
                str(folder / "triage"),
                "--log",
                str(folder / "decisions.sqlite"),
            ],
        }
        if psg:
            commands["psgscoring analyze_plm"] = [sys.executable, "-c", _PSGSCORING, str(path), str(stages)]
        rows: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, argv in commands.items():
                shutil.rmtree(folder / "triage", ignore_errors=True)
                wall, rss, _ = _run(argv, ROOT)
                rows[name].append((wall, rss))
        results[hours] = {name: _stats(r) for name, r in rows.items()}
        read_best = results[hours]["pyedflib read (all 3 channels)"][0]
        for name, (best, median, peak) in results[hours].items():
            print(f"{hours:>5g}  {name:<34} {best:7.2f} {median:8.2f} {best / read_best:6.2f}x {peak:8.0f}")
    print()
    eight = results.get(8.0)
    if eight:
        read = eight["pyedflib read (all 3 channels)"]
        analyze, triage = eight["cds analyze night.edf"], eight["cds triage --recording night.edf"]
        inproc = [
            json.loads(_run([sys.executable, "-c", _IN_PROCESS, str(_night(folder, 8.0)[0])], ROOT)[2])
            for _ in range(args.repeat)
        ]
        in_best = min(r["analyze_s"] for r in inproc) / min(r["read_s"] for r in inproc)
        in_median = statistics.median(r["analyze_s"] for r in inproc) / statistics.median(r["read_s"] for r in inproc)
        checks = [  # (target, on the best runs, on the medians, limit); a peak is the largest of the runs
            ("whole process: analyze <= 2.5 x read", analyze[0] / read[0], analyze[1] / read[1], 2.5),
            ("in process: analyze_recording <= 1.2 x read", in_best, in_median, 1.2),
            ("triage with recording <= 1.2 x analyze", triage[0] / analyze[0], triage[1] / analyze[1], 1.2),
            ("peak memory of analyze <= 300 MB", analyze[2], analyze[2], 300.0),
            ("peak memory of triage <= 300 MB", triage[2], triage[2], 300.0),
        ]
        print(f"targets on the 8-h night: {'best runs':>10} {'medians':>8}  (met on the best runs?)")
        for text, best, median, limit in checks:
            print(f"  {text:<46} {best:8.2f} {median:8.2f}  {'met' if best <= limit else 'NOT met'}")
    if len(results) > 1:  # linearity: the added cost of each added hour, between consecutive night lengths
        hours = sorted(results)
        for name in ("pyedflib read (all 3 channels)", "cds analyze night.edf"):
            steps = [
                f"{a:g}->{b:g} h: {(results[b][name][0] - results[a][name][0]) / (b - a):.3f} s/h"
                for a, b in itertools.pairwise(hours)
            ]
            print(f"{name}: added seconds per recorded hour, {', '.join(steps)}")


if __name__ == "__main__":
    main()

"""Wall time and peak memory of ``analyze_recording`` on an 8-hour, 3-channel, 256-Hz night, beside the time to
merely read the same channels with pyedflib. Target (issue 13): analyze <= 1.2x the read in process; peak <= 300 MB.

    python benchmarks/bench_analyze.py [--hours 8] [--ecg UV] [--keep DIR]

``--ecg 150`` plants ECG of that amplitude (PQRST beats, 60-86 bpm) in the EMG, so the night is measured with the
ECG cancellation at work; the default 0 measures an ECG-free night.

Each measurement runs in a fresh subprocess; peak memory is its VmHWM (Linux), which exec resets. Read and analyze
runs alternate, so load from other processes on a shared machine weighs on both alike; the ratio is given on the best
and on the median wall time, with CPU time beside it (less sensitive to that load).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_READ = """
import json, sys, time
import pyedflib
def _hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
t, c = time.perf_counter(), time.process_time()
r = pyedflib.EdfReader(sys.argv[1])
data = [r.readSignal(i) for i in range(r.signals_in_file)]
r.close()
print(json.dumps({"s": time.perf_counter() - t, "cpu_s": time.process_time() - c, "rss_mb": _hwm()}))
"""

_ANALYZE = """
import json, sys, time
from cds.analysis import analyze_recording
def _hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
t, c = time.perf_counter(), time.process_time()
report = analyze_recording(sys.argv[1])
s, cpu_s = time.perf_counter() - t, time.process_time() - c
lm = report.to_dict()["leg_movements"]
print(json.dumps({"s": s, "cpu_s": cpu_s, "rss_mb": _hwm(),
                  "plms_index": lm["plms_index"], "count": lm["count"]}))
"""

_BASELINE = """
import json
import numpy, scipy.signal, pyedflib, cds.analysis
def _hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
print(json.dumps({"rss_mb": _hwm()}))
"""


def _run(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ecg", type=float, default=0.0, metavar="UV", help="ECG amplitude in the EMG (0: none)")
    parser.add_argument("--keep", type=Path, default=None, help="folder to keep the generated night in")
    args = parser.parse_args()
    from cds.synth import SynthConfig, write_synthetic_psg

    folder = args.keep or Path(tempfile.mkdtemp(prefix="cds-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (f"night-{args.hours:g}h.edf" if not args.ecg else f"night-{args.hours:g}h-ecg{args.ecg:g}uv.edf")
    config = SynthConfig.preset("periodic").replace(hours=args.hours, sfreq_hz=256)
    if args.ecg:
        config = config.replace(ecg_uv=args.ecg, ecg_shape="pqrst")
    truth = write_synthetic_psg(path, config, seed=1)
    reads, runs = [], []
    for _ in range(args.repeat):  # alternate, so a busy spell on the machine hits both sides
        reads.append(_run(_READ, str(path)))
        runs.append(_run(_ANALYZE, str(path)))
    base = _run(_BASELINE)

    def best_median(rows: list[dict], key: str) -> tuple[float, float]:
        values = [r[key] for r in rows]
        return min(values), statistics.median(values)

    read_s, read_med = best_median(reads, "s")
    analyze_s, analyze_med = best_median(runs, "s")
    read_cpu, analyze_cpu = best_median(reads, "cpu_s")[0], best_median(runs, "cpu_s")[0]
    peak = max(r["rss_mb"] for r in runs)
    size_mb = path.stat().st_size / 1e6
    case = f"ECG {args.ecg:g} uV in the EMG (pqrst)" if args.ecg else "no ECG"
    print(
        f"night: {args.hours:g} h, 3 channels at 256 Hz, {case}, {size_mb:.1f} MB; best / median of {args.repeat} runs"
    )
    print(
        f"read with pyedflib:  {read_s:6.2f} s / {read_med:5.2f} s  (CPU {read_cpu:5.2f} s)   "
        f"peak RSS {max(r['rss_mb'] for r in reads):6.0f} MB"
    )
    print(
        f"analyze_recording:   {analyze_s:6.2f} s / {analyze_med:5.2f} s  (CPU {analyze_cpu:5.2f} s)   "
        f"peak RSS {peak:6.0f} MB (imports alone {base['rss_mb']:.0f} MB)"
    )
    print(
        f"ratio analyze/read:  {analyze_s / read_s:6.2f}x / {analyze_med / read_med:5.2f}x  "
        f"(CPU {analyze_cpu / read_cpu:5.2f}x)  target <= 1.2x"
    )
    print(
        f"PLMS index: {runs[0]['plms_index']}/h detected vs {truth.plms_index['aasm']}/h planted; "
        f"{runs[0]['count']} LMs"
    )


if __name__ == "__main__":
    main()

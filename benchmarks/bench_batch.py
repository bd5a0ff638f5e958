"""Cohort benchmark (issue 14): ``cds batch`` nights per minute sequentially and on 1 and 2 local Dask workers,
and ``cds audit replay --all`` of a large decision log under a changed rule set. Whole process, as a user runs
it (each figure is the wall time of a ``cds`` subprocess, start-up and cluster start included).

Usage: ``python benchmarks/bench_batch.py [--nights 24] [--hours 1] [--records 10000] [--skip-nights]
[--skip-replay]``. The nights are generated (cds.synth.cohort, patient files beside every other night); the log
holds the patients of the clinical case library (tests/cases) in turn under new pseudonymous ids, decided by the
installed rule set; the changed rule set lowers the adult PLMS threshold from 15 to 10 /h.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CDS = [sys.executable, "-c", "from cds.cli import main; main()"]


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def _timed(args: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run([*CDS, *args], capture_output=True, text=True, check=False)
    return time.perf_counter() - started, done


def bench_nights(work: Path, nights: int, hours: float) -> None:
    from cds.synth.cohort import write_cohort

    source = work / "nights"
    write_cohort(source, nights, hours=hours)
    print(f"cds batch: {nights} generated nights of {hours:g} h (every other with a patient file: triage)")
    base = None
    for label, option in (("sequential (--workers 0)", "0"), ("1 Dask worker", "1"), ("2 Dask workers", "2")):
        out = work / f"out-{option}"
        seconds, done = _timed(["batch", str(source), "--out", str(out), "--workers", option, "--no-log"])
        if done.returncode != 0:
            raise SystemExit(f"cds batch failed ({done.returncode}): {done.stderr.strip()[-400:]}")
        rate = nights / seconds * 60
        base = base or rate
        print(f"  {label:<26} {seconds:7.1f} s  {rate:6.1f} nights/min  ({rate / base:.2f}x sequential)")
        shutil.rmtree(out)


def _case_patients() -> list[str]:
    from cds.yamlfile import load_yaml

    texts = []
    for path in sorted((ROOT / "tests" / "cases").glob("*.yaml")):
        patient = load_yaml(path).get("patient")
        if isinstance(patient, dict):
            texts.append(json.dumps(patient, sort_keys=True))
    return texts


def _write_log(path: Path, records: int) -> None:
    from cds.audit.log import DecisionLog
    from cds.decision import decide
    from cds.facts.patient import parse_patient
    from cds.rules.engine import load_rulebase

    rulebase = load_rulebase()
    decided = []
    for text in _case_patients():
        data = json.loads(text)
        patient = parse_patient(data, path="case", knowledge=rulebase.kb)
        decided.append((data, json.loads(json.dumps(decide(rulebase, patient, patient_sha256="x")))))
    log = DecisionLog(path, full=True)  # the patient files kept in the log, so every record can be replayed
    for i in range(records):
        data, decision = decided[i % len(decided)]
        pseudonym = f"BENCH-{i:06d}"
        log.append({**decision, "patient_id": pseudonym}, patient_text=json.dumps({**data, "id": pseudonym}))


def bench_replay(work: Path, records: int) -> None:
    log = work / "log.sqlite"
    started = time.perf_counter()
    _write_log(log, records)
    print(
        f"audit replay --all: a log of {records} records ({len(_case_patients())} case-library patients in turn), "
        f"written in {time.perf_counter() - started:.0f} s"
    )
    changed = work / "changed"
    shutil.copytree(ROOT / "rules", changed / "rules")
    shutil.copytree(ROOT / "knowledge", changed / "knowledge")
    thresholds = changed / "knowledge" / "thresholds.yaml"
    text = thresholds.read_text(encoding="utf-8")
    new = re.sub(r"(plms_index_adult_per_h:\n(?:  .*\n)*?  value: )15\b", r"\g<1>10", text, count=1)
    if new == text:
        raise SystemExit("could not lower plms_index_adult_per_h in the copied knowledge/thresholds.yaml")
    thresholds.write_text(new, encoding="utf-8")
    args = [
        "audit",
        "replay",
        "--all",
        "--log",
        str(log),
        "--rules",
        str(changed / "rules"),
        "--knowledge",
        str(changed / "knowledge"),
        "--format",
        "json",
    ]
    for label, option in (("2 Dask workers", "2"),):
        seconds, done = _timed([*args, "--workers", option])
        if done.returncode not in (0, 1):
            raise SystemExit(f"replay failed ({done.returncode}): {done.stderr.strip()[-400:]}")
        report = json.loads(done.stdout)
        rules = sorted({r for c in report["changed"] for r in c["rules"]})
        print(
            f"  {label:<26} {seconds:7.1f} s  {records / seconds * 60:8.0f} records/min  "
            f"{len(report['changed'])} decisions change, {len(report['not_reproduced'])} not reproduced; "
            f"through {', '.join(rules) or 'no rule'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=24)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--records", type=int, default=10000)
    parser.add_argument("--skip-nights", action="store_true")
    parser.add_argument("--skip-replay", action="store_true")
    args = parser.parse_args()
    print(f"machine: {_machine()}")
    with tempfile.TemporaryDirectory(prefix="cds-bench-batch-") as tmp:
        os.environ["CDS_DECISION_LOG"] = str(Path(tmp) / "unused.sqlite")
        if not args.skip_nights:
            bench_nights(Path(tmp), args.nights, args.hours)
        if not args.skip_replay:
            bench_replay(Path(tmp), args.records)


if __name__ == "__main__":
    main()

"""Rule-engine benchmark on the real rules/ folder, in process: load + check time, compile time, the compiled
bundle read back, time per decision; and, whole process as an author runs it, ``cds rules check`` (every check
of every rule and knowledge file, then the bundle compiled from them), three fresh processes.

Usage: ``python benchmarks/bench_rules.py [N_DECISIONS]``. Prints one line per figure. Target: < 50 ms/decision.
The patients are the scenario patients under rules/ (so the numbers follow the rule base as it grows).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cds.authoring.scenarios import scenario_files
from cds.decision import decide
from cds.facts.patient import parse_patient
from cds.kb import load_knowledge
from cds.paths import knowledge_dir, rules_dir
from cds.rules.cache import read_cached
from cds.rules.engine import RuleBase, compile_bundle
from cds.rules.load import load_rules
from cds.yamlfile import load_yaml


def _patients(kb):
    out = []
    for path in scenario_files(rules_dir()):
        for i, case in enumerate(load_yaml(path).get("cases") or []):
            patient = case.get("patient")
            if isinstance(patient, dict):
                patient.setdefault("schema", "cds.patient/v1")
                patient.setdefault("id", f"{path.stem}-{i}")
                out.append(parse_patient(patient, path=path, knowledge=kb))
    return out


def main(n: int = 200) -> None:
    t0 = time.perf_counter()
    kb = load_knowledge()
    t1 = time.perf_counter()
    rules = load_rules(rules_dir(), kb)
    t2 = time.perf_counter()
    rulebase = RuleBase(rules, kb)
    rulebase.run_facts([])  # builds experta's Rete network once
    t3 = time.perf_counter()
    os.environ["CDS_CACHE_DIR"] = tempfile.mkdtemp(prefix="cds-bench-rules-")  # the bundle as a triage reads it
    stored = compile_bundle(rules_dir(), knowledge_dir())
    size_mb = (Path(os.environ["CDS_CACHE_DIR"]) / f"bundle-{stored.key}.pickle").stat().st_size / 1e6
    reads = []
    for _ in range(5):
        start = time.perf_counter()
        bundle = read_cached(stored.key, kind="bundle")
        RuleBase(bundle.rules, bundle.kb, stamp=bundle.stamp, network=bundle.network).run_facts([])
        reads.append(time.perf_counter() - start)
    patients = _patients(kb)
    times = []
    for i in range(n):
        patient = patients[i % len(patients)]
        start = time.perf_counter()
        decide(rulebase, patient, patient_sha256="0" * 64)
        times.append(time.perf_counter() - start)
    print(f"knowledge load: {1000 * (t1 - t0):.0f} ms")
    print(f"rules load + check: {1000 * (t2 - t1):.0f} ms for {len(rules.rules)} files ({len(rules.active())} active)")
    print(f"compile (experta classes + Rete network): {1000 * (t3 - t2):.0f} ms")
    print(
        f"compiled bundle ({size_mb:.1f} MB) read back from the cache folder and its engine ready: "
        f"best {1000 * min(reads):.0f} ms, median {1000 * statistics.median(reads):.0f} ms"
    )
    print(
        f"decide: median {1000 * statistics.median(times):.1f} ms, max {1000 * max(times):.1f} ms "
        f"over {n} decisions on {len(patients)} scenario patients"
    )
    cds = str(Path(sys.executable).with_name("cds"))
    checks = []
    for _ in range(3):
        env = {**os.environ, "CDS_CACHE_DIR": tempfile.mkdtemp(prefix="cds-bench-check-")}
        start = time.perf_counter()
        subprocess.run([cds, "rules", "check"], env=env, check=True, capture_output=True)
        checks.append(time.perf_counter() - start)
    print(
        f"cds rules check, whole process (bundle compiled at the end): best {min(checks):.1f} s, "
        f"median {statistics.median(checks):.1f} s"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)

"""Clinical case library benchmark: agreement by item type, safety failures and time per decision.

Usage: ``python benchmarks/bench_clinical_cases.py [CASES_DIR]`` (default: tests/cases next to this folder); the
same report as ``cds rules cases``. The scoring rules are documented in cds/authoring/casebank.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cds.authoring.casebank import format_report, run_benchmark

DEFAULT_CASES_DIR = Path(__file__).resolve().parents[1] / "tests" / "cases"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    score, decision_s = run_benchmark(Path(args[0]) if args else DEFAULT_CASES_DIR)
    print(format_report(score, decision_s))
    return 1 if score.safety_failures else 0


if __name__ == "__main__":
    sys.exit(main())

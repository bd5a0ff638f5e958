"""House style that ruff alone does not enforce: no file opts out of the formatter (issue 15 removed every
skip/off marker; a new one would let hand-aligned code drift from what ``ruff format`` writes)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_formatter_opt_outs():
    markers = ("fmt: " + "skip", "fmt: " + "off")  # spelled in two parts so this file does not match itself
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("cds", "tests", "benchmarks", "scripts")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if any(marker in line for marker in markers)
    ]
    assert not found, f"formatter opt-outs: {found}"

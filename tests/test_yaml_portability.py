"""Every shipped YAML file (rules, knowledge, examples, the case library) reads the same with libyaml, the C
parser most editors, linters and other languages' tools use, as with cds's own strict YAML 1.2 loader (issue 15:
libyaml rejected three rule files once)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from cds.facts.yamlfile import load_yaml, to_plain

yaml = pytest.importorskip("yaml")  # PyYAML, in the test extra

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(
    p for folder in ("rules", "knowledge", "examples", "tests/cases") for p in (ROOT / folder).rglob("*.yaml")
)


def test_libyaml_is_the_parser_under_test():
    assert yaml.__with_libyaml__, "PyYAML was built without libyaml: the C parser is not tested"
    assert len(SHIPPED) > 400


def _dates_as_text(value):
    """YAML 1.1 reads 2026-12-07 as a date, YAML 1.2 as text: the same value, written the same way."""
    if isinstance(value, dict):
        return {k: _dates_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates_as_text(v) for v in value]
    return value.isoformat() if isinstance(value, datetime.date) else value


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_shipped_yaml_reads_the_same_with_libyaml(path: Path):
    text = path.read_text(encoding="utf-8")
    ours = to_plain(load_yaml(path, text=text))
    theirs = _dates_as_text(yaml.load(text, Loader=yaml.CSafeLoader))
    assert ours == theirs

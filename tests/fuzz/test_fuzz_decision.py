"""Fuzzed decision records through ``cds explain``: a decision.json edited by hand, truncated or replaced by other
bytes is explained or refused with exit 3 and one line, never an internal error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.fuzzkit import TRIED, assert_clean_exit, fuzz, run_cds

pytestmark = [pytest.mark.filterwarnings("error::RuntimeWarning"), pytest.mark.filterwarnings("error::UserWarning")]

REPO = Path(__file__).resolve().parents[2]
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=6)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def decision(tmp_path_factory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("decision")
    assert (
        run_cds(
            ["triage", "--patient", REPO / "examples" / "demo-patient.yaml", "--out", out, "--log", out / "log.sqlite"]
        ).code
        == 0
    )
    return json.loads((out / "decision.json").read_text(encoding="utf-8"))


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node[:4]):
            out += _paths(value, (*prefix, i))
    return out


def _replace(node: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    copy = dict(node) if isinstance(node, dict) else list(node)
    copy[path[0]] = _replace(node[path[0]], path[1:], value)
    return copy


@fuzz(60)
@given(data=st.data())
def test_edited_decision_records_are_explained_or_refused(tmp_path_factory, decision, data):
    TRIED["decision records through cds explain"] += 1
    paths = [p for p in _paths(decision) if p]
    record = decision
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        try:
            record = _replace(record, path, data.draw(JSON_VALUES))
        except (KeyError, IndexError, TypeError):  # an earlier edit removed the place
            continue
    text = json.dumps(record)
    how = data.draw(st.sampled_from(["as is", "as is", "truncated", "bytes"]))
    raw = (
        text.encode()
        if how == "as is"
        else text.encode()[: len(text) // 2]
        if how == "truncated"
        else (data.draw(st.binary(max_size=64)))
    )
    path = tmp_path_factory.mktemp("x") / "decision.json"
    path.write_bytes(raw)
    rule = data.draw(st.sampled_from([None, None, "FND-PLMS", "NOPE", *[t.get("rule") for t in decision["trace"][:3]]]))
    ran = run_cds(
        ["explain", path, *(["--rule", rule] if rule else []), "--format", data.draw(st.sampled_from(["text", "json"]))]
    )
    assert_clean_exit(ran, (0, 3))

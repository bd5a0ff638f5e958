"""The compiled rule bundle (cds.rules.bundle; issue 11, item 6).

What a bundle must never do is decide differently from the rule files it was built from: the shipped rule base
loaded from its bundle (the Rete network read back, not rebuilt) must fire exactly the rules, on exactly the facts,
with exactly the conclusions, of a network built afresh from the files, on every case of the clinical library.
Its key must follow every input: the rule and knowledge bytes, the cds code and the experta version.
"""

from __future__ import annotations

import pickle
import shutil
from collections import OrderedDict
from pathlib import Path

import pytest

from cds.authoring.casebank import load_cases
from cds.facts.build import build_patient_facts
from cds.facts.patient import parse_patient
from cds.paths import knowledge_dir, rules_dir
from cds.rules import bundle as bundle_mod
from cds.rules import cache, engine
from cds.rules.bundle import Bundle, bundle_key, load_bundle
from cds.rules.engine import RuleBase, TypeDispatchBusNode, compile_bundle, network_of
from tests.rulebase.conftest import TINY_KNOWLEDGE, TINY_RULES

REPO = Path(__file__).resolve().parents[2]
CASES = REPO / "tests" / "cases"


@pytest.fixture
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CDS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CDS_NO_CACHE", raising=False)
    monkeypatch.setattr(engine, "_COMPILED", OrderedDict())
    monkeypatch.setattr(engine, "_SEEN", OrderedDict())
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def shipped_bundle() -> Bundle:
    """The shipped rules as a bundle that went through pickle (what a new process reads)."""
    built = compile_bundle(rules_dir(), knowledge_dir(), store=False)
    return pickle.loads(pickle.dumps(built, protocol=pickle.HIGHEST_PROTOCOL))


def _firings(rulebase: RuleBase, records) -> list[tuple]:
    return [
        (f["rule"], f["version"], [m["id"] for m in f["facts"]], f["asserted"], f["because"])
        for f in rulebase.run_facts(records)
    ]


def test_a_stored_network_fires_exactly_what_a_fresh_one_fires_on_the_case_library(shipped_bundle):
    """Every case of the library, through the network read back from a pickle and through one built from the
    files: the same rules, in the same order, on the same facts, asserting the same conclusions."""
    stored = RuleBase(
        shipped_bundle.rules, shipped_bundle.kb, stamp=shipped_bundle.stamp, network=shipped_bundle.network
    )
    fresh = RuleBase(shipped_bundle.rules, shipped_bundle.kb, stamp=shipped_bundle.stamp)
    assert isinstance(stored.new_engine().matcher.root_node, TypeDispatchBusNode)
    cases = load_cases(CASES)
    assert len(cases) >= 190
    differences = []
    fired = 0
    for case in cases:
        patient = parse_patient(case.patient, path=f"{case.name}.yaml", knowledge=shipped_bundle.kb)
        records = build_patient_facts(patient, shipped_bundle.kb)
        ours, theirs = _firings(stored, records), _firings(fresh, records)
        fired += len(ours)
        if ours != theirs:
            differences.append(case.name)
    assert fired > 1000  # the comparison is over real firings, not empty runs
    assert not differences, f"a stored network decided differently on: {differences}"


def test_the_first_engine_takes_the_stored_network_and_later_ones_build_their_own(shipped_bundle):
    rulebase = RuleBase(shipped_bundle.rules, shipped_bundle.kb, network=shipped_bundle.network)
    first, second = rulebase.new_engine(), rulebase.new_engine()
    assert first.matcher.root_node is shipped_bundle.network
    assert second.matcher.root_node is not shipped_bundle.network  # two engines never share working memory


def test_the_stored_network_carries_its_walks_over_its_own_nodes(shipped_bundle):
    """network_of walks the network once (every node, the conflict-set nodes in experta's order) and the bundle
    keeps the walks: the engine that takes the network uses them, and they are the network's own nodes after the
    pickle, in the order experta's own walk gives."""
    rulebase = RuleBase(shipped_bundle.rules, shipped_bundle.kb, network=shipped_bundle.network)
    matcher = rulebase.new_engine().matcher
    nodes, conflict_set = shipped_bundle.network.cds_walks
    assert matcher._nodes is nodes and matcher._conflict_set_nodes is conflict_set
    walked = {id(n) for n in nodes}
    assert len(walked) == len(nodes) > 1000 and all(id(c) in walked for c in conflict_set)
    fresh = RuleBase(shipped_bundle.rules, shipped_bundle.kb).new_engine().matcher
    assert [type(c).__name__ for c in conflict_set] == [type(c).__name__ for c in fresh._get_conflict_set_nodes()]
    assert len(conflict_set) == len(fresh._get_conflict_set_nodes())
    assert matcher._get_conflict_set_nodes() == conflict_set  # experta's own walk on the stored network


def test_the_bundle_keeps_the_stamp_and_rules_of_its_files(shipped_bundle):
    from cds.rules.manifest import ruleset_stamp

    assert shipped_bundle.stamp == ruleset_stamp(rules_dir(), knowledge_dir())
    assert {r.id for r in shipped_bundle.rules.active()} == {r.id for r in engine.load_rulebase().rules.active()}
    # the authoring tools still get each rule's ruamel document (line:col), read back on demand
    spec = shipped_bundle.rules.rules[0]
    assert spec.root["id"] == spec.id and spec.root.lc.line >= 0


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    shutil.copytree(TINY_RULES, tmp_path / "rules")
    shutil.copytree(TINY_KNOWLEDGE, tmp_path / "knowledge")
    for sub in ("schema", "standards"):
        shutil.copytree(REPO / "knowledge" / sub, tmp_path / "knowledge" / sub)
    return tmp_path / "rules", tmp_path / "knowledge"


def test_the_key_follows_rules_knowledge_code_and_experta(tmp_path, monkeypatch):
    rules, knowledge = _copy(tmp_path)
    key = bundle_key(rules, knowledge)
    thresholds = knowledge / "thresholds.yaml"
    thresholds.write_text(thresholds.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert bundle_key(rules, knowledge) != key
    edited = bundle_key(rules, knowledge)
    monkeypatch.setattr(cache, "_CODE_DIGEST", "0" * 64)  # as if one module of cds had changed
    assert bundle_key(rules, knowledge) != edited
    monkeypatch.setattr(bundle_mod.experta, "__version__", "1.9.5")
    assert "-e1.9.5-" in bundle_key(rules, knowledge)


def test_a_damaged_or_foreign_bundle_is_rebuilt_never_trusted(tmp_path, private_cache):
    rules, knowledge = _copy(tmp_path)
    built = load_bundle(rules, knowledge, network_of)
    stored = next(private_cache.glob("bundle-*.pickle"))
    stored.write_bytes(b"not a pickle")
    again = load_bundle(rules, knowledge, network_of)
    assert again.stamp == built.stamp and pickle.loads(stored.read_bytes()).key == built.key
    # a bundle stored under this key but holding another key's content is not used either
    other = Bundle("another-key", built.kb, built.rules, {"version": "9.9.9", "sha256": "x"}, built.network)
    stored.write_bytes(pickle.dumps(other))
    assert load_bundle(rules, knowledge, network_of).stamp == built.stamp


def test_rules_check_builds_the_bundle_a_triage_then_reads(tmp_path, private_cache, monkeypatch):
    from cds.cli import run

    assert run(["rules", "check"]) == 0
    key = bundle_key(rules_dir(), knowledge_dir())
    assert (private_cache / f"bundle-{key}.pickle").is_file()
    built = []
    monkeypatch.setattr(bundle_mod, "build_bundle", lambda *a, **k: built.append(a))
    rulebase = engine.load_rulebase()
    assert not built and rulebase.stamp["sha256"]

"""The one in-process rule-base cache (cds.rules.engine.load_rulebase) and the compiled bundle under it.

Mutation tests work on a copy of the tiny rules/ and knowledge/ plus the shipped knowledge/schema and
knowledge/standards (files the rule-set stamp of every decision covers), with modification times an hour old.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import OrderedDict
from pathlib import Path

import pytest

from cds import pipeline
from cds.rules import bundle, cache, engine
from cds.rules.engine import load_rulebase
from tests.rulebase.conftest import TINY_KNOWLEDGE, TINY_RULES

REPO = Path(__file__).resolve().parents[2]
HOUR_NS = 3600 * 10**9


@pytest.fixture
def base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path/{rules,knowledge} with old mtimes, a private disk cache and an empty in-process cache."""
    shutil.copytree(TINY_RULES, tmp_path / "rules")
    shutil.copytree(TINY_KNOWLEDGE, tmp_path / "knowledge")
    for sub in ("schema", "standards"):
        shutil.copytree(REPO / "knowledge" / sub, tmp_path / "knowledge" / sub)
    old_ns = time.time_ns() - HOUR_NS
    for path in (tmp_path / "rules", tmp_path / "knowledge"):
        for file in path.rglob("*"):
            os.utime(file, ns=(old_ns, old_ns))
    monkeypatch.setenv("CDS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CDS_NO_CACHE", raising=False)
    monkeypatch.setattr(engine, "_COMPILED", OrderedDict())
    monkeypatch.setattr(engine, "_SEEN", OrderedDict())
    return tmp_path


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts of content hashing (every file read) and of knowledge parsing (a load not served by a cache)."""
    counts = {"content": 0, "parse": 0}

    def counted(name: str, fn):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(bundle, "content_key", counted("content", bundle.content_key))
    monkeypatch.setattr(bundle, "load_knowledge", counted("parse", bundle.load_knowledge))
    return counts


def _load(base: Path) -> engine.RuleBase:
    return load_rulebase(base / "rules", base / "knowledge")


def test_second_load_returns_the_same_rulebase_without_reading_files(base, reads):
    first = _load(base)
    assert reads == {"content": 1, "parse": 1}
    assert _load(base) is first
    assert reads == {"content": 1, "parse": 1}


def test_pipeline_and_cli_share_the_engine_cache(base, reads, monkeypatch):
    monkeypatch.setenv("CDS_HOME", str(base))
    first = pipeline.cached_rulebase()
    assert _load(base) is first  # what `cds rules test --rules ... --knowledge ...` calls
    assert pipeline.cached_rulebase() is first
    assert reads == {"content": 1, "parse": 1}


def _bump_mtime(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


EDITS = {
    "rule": ("rules/5-safety/SAF-PREGNANCY.yaml", "status: active", "status: draft"),
    "knowledge": ("knowledge/thresholds.yaml", "{value: 75,", "{value: 50,"),
    "schema": ("knowledge/schema/rule.schema.json", "\n}", "\n\n}"),
    "standard": ("knowledge/standards/aasm.yaml", "id: aasm", "id: aasm  # edited"),
}


@pytest.mark.parametrize("which", sorted(EDITS))
def test_touching_a_file_makes_the_next_load_read_the_files_again(base, reads, which):
    first = _load(base)
    _bump_mtime(base / EDITS[which][0])
    again = _load(base)
    assert reads["content"] == 2  # stamps changed: the content was hashed again
    assert again is first and reads["parse"] == 1  # identical bytes: the compiled rule base stands
    assert _load(base) is first and reads["content"] == 2


@pytest.mark.parametrize("which", sorted(EDITS))
def test_changing_a_file_gives_a_new_rulebase(base, reads, which):
    relative, old, new = EDITS[which]
    first = _load(base)
    path = base / relative
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    changed = _load(base)
    assert changed is not first and reads["parse"] == 2
    assert changed.stamp["sha256"] != first.stamp["sha256"]  # the decision's inputs.ruleset follows the files
    if which == "rule":
        assert "SAF-PREGNANCY" in {r.id for r in first.rules.active()}
        assert "SAF-PREGNANCY" not in {r.id for r in changed.rules.active()}
    if which == "knowledge":  # same rules, new knowledge: not the rule base compiled against the old one
        assert (first.kb.threshold("ferritin_low_ng_ml"), changed.kb.threshold("ferritin_low_ng_ml")) == (75, 50)


def test_a_new_file_gives_a_new_rulebase(base, reads):
    first = _load(base)
    (base / "knowledge" / "standards" / "extra.yaml").write_text("id: extra\n", encoding="utf-8")
    changed = _load(base)
    assert changed is not first and changed.stamp["sha256"] != first.stamp["sha256"]


def test_change_that_keeps_every_stamp_is_seen_while_the_file_is_recent(base, reads, monkeypatch):
    path = base / "knowledge" / "thresholds.yaml"
    path.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")  # modified just now
    frozen = cache.file_stamps(base / "rules", base / "knowledge")
    monkeypatch.setattr(engine, "file_stamps", lambda *folders: frozen)  # a rewrite within one timestamp tick
    first = _load(base)
    path.write_text(path.read_text(encoding="utf-8").replace("{value: 75,", "{value: 50,"), encoding="utf-8")
    changed = _load(base)
    assert changed.kb.threshold("ferritin_low_ng_ml") == 50 and first.kb.threshold("ferritin_low_ng_ml") == 75


def test_is_racy_only_for_files_modified_just_before_the_check():
    now_ns = time.time_ns()
    old = ("root", ("a.yaml", 10, now_ns - HOUR_NS, now_ns))
    assert not cache.is_racy(old, now_ns)
    assert cache.is_racy((*old, ("b.yaml", 10, now_ns - 1, now_ns)), now_ns)


def test_disk_cache_serves_a_new_process_and_no_cache_turns_it_off(base, reads, monkeypatch):
    first = _load(base)
    assert len(list((base / "cache").glob("bundle-*.pickle"))) == 1
    monkeypatch.setattr(engine, "_COMPILED", OrderedDict())  # as in a new process
    monkeypatch.setattr(engine, "_SEEN", OrderedDict())
    second = _load(base)
    assert second is not first and reads["parse"] == 1  # the compiled bundle read back from disk
    assert (second.sha256, second.stamp, second.kb) == (first.sha256, first.stamp, first.kb)

    shutil.rmtree(base / "cache")
    monkeypatch.setenv("CDS_NO_CACHE", "1")
    monkeypatch.setattr(engine, "_COMPILED", OrderedDict())
    monkeypatch.setattr(engine, "_SEEN", OrderedDict())
    third = _load(base)
    assert reads["parse"] == 2 and not (base / "cache").exists()
    assert (third.sha256, third.stamp) == (first.sha256, first.stamp)
    assert _load(base) is third and reads["parse"] == 2  # still compiled once per process


def test_a_new_process_finds_the_key_by_the_files_stamps_without_hashing_them(base, reads, monkeypatch):
    first = _load(base)
    assert reads["content"] == 1
    monkeypatch.setattr(engine, "_COMPILED", OrderedDict())  # as in a new process
    monkeypatch.setattr(engine, "_SEEN", OrderedDict())
    second = _load(base)
    assert reads == {"content": 1, "parse": 1}  # neither hashed nor parsed: stamps -> key -> bundle
    assert second.stamp == first.stamp
    # an edit moves the stamps: the files are hashed again and the new content gets its own bundle
    path = base / "knowledge" / "thresholds.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("{value: 75,", "{value: 50,"), encoding="utf-8")
    monkeypatch.setattr(engine, "_COMPILED", OrderedDict())
    monkeypatch.setattr(engine, "_SEEN", OrderedDict())
    third = _load(base)
    assert reads["content"] == 2 and third.kb.threshold("ferritin_low_ng_ml") == 50


def test_stamps_of_a_file_changed_just_now_are_not_remembered(base, reads, monkeypatch):
    path = base / "knowledge" / "thresholds.yaml"
    path.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")  # modified just now: racy
    _load(base)
    assert not list((base / "cache").glob("stamps-*.pickle"))
    monkeypatch.setattr(engine, "_COMPILED", OrderedDict())
    monkeypatch.setattr(engine, "_SEEN", OrderedDict())
    _load(base)
    assert reads["content"] == 2  # hashed again, never trusted by stamps alone


@pytest.mark.parametrize(("argv", "frozen"), [(["triage", "--patient", "p.yaml"], True), (["serve"], False)])
def test_a_one_shot_command_freezes_what_it_reads_back_a_server_does_not(argv, frozen, monkeypatch, tmp_path):
    """`cds triage` (console entry point) moves the rule base it reads out of the cycle collector's reach; `cds
    serve`, a long-running process, does not (frozen cyclic garbage would never be freed)."""
    import gc
    import sys

    import cds.cli
    from cds.rules import cache

    monkeypatch.setenv("CDS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cache, "_FREEZE_AFTER_READ", False)
    monkeypatch.setattr(sys, "argv", ["cds", *argv])
    monkeypatch.setattr(cds.cli, "run", lambda args: 0)
    with pytest.raises(SystemExit):
        cds.cli.main()
    cache.write_cached("k", {"rule": ["base"]}, kind="probe")
    gc.unfreeze()
    try:
        assert cache.read_cached("k", kind="probe") == {"rule": ["base"]}
        assert (gc.get_freeze_count() > 0) is frozen
    finally:
        gc.unfreeze()

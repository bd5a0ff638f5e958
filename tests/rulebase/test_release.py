"""Issue 11, item 4 (governance): `cds rules release` writes a signed release record (rule-set hash, approver,
date, changes since the last release); `--verify` catches an edited record and files changed since."""

from __future__ import annotations

import json
import re

from minibase import write_minibase

from cds.cli import run


def test_release_records_changes_and_verifies(tmp_path, capsys):
    root = write_minibase(tmp_path / "mb")
    key = ["--key", str(tmp_path / "keys" / "ring.json")]
    assert run(["audit", "init", "--log", str(tmp_path / "l.sqlite"), *key]) == 0
    rules = ["rules", "release", str(root / "rules"), "--knowledge", str(root / "knowledge"), *key]
    assert run([*rules, "--verify"]) == 1
    assert "unreleased" in capsys.readouterr().err
    assert run([*rules]) == 2  # no approver
    assert run([*rules, "--approver", "Dr A. Reviewer, clinical safety officer", "--date", "2026-12-01"]) == 0
    first = json.loads((root / "releases" / "0.1.0.json").read_text())
    assert first["approver"] == "Dr A. Reviewer, clinical safety officer" and first["date"] == "2026-12-01"
    assert first["previous"] is None and len(first["changes"]["added"]) == 4
    assert run([*rules, "--verify"]) == 0
    assert "release 0.1.0 approved by Dr A. Reviewer" in capsys.readouterr().out
    assert run([*rules, "--approver", "Dr A"]) == 3  # the same version twice
    # a rule changes (version bumped, manifest updated): the next release lists it
    path = root / "rules" / "3-triage" / "TRI-PSG.yaml"
    path.write_text(re.sub(r"(?m)^version: 1$", "version: 2", path.read_text()).replace('"PLMD"', '"PLMD seen"'))
    assert run([*rules, "--verify"]) == 1
    assert "the files have changed since" in capsys.readouterr().err
    assert run(["rules", "manifest", str(root / "rules"), "--knowledge", str(root / "knowledge"), "--update"]) == 0
    assert run([*rules, "--approver", "Dr B", "--date", "2026-12-07"]) == 0
    second = json.loads((root / "releases" / "0.1.1.json").read_text())
    assert second["previous"]["version"] == "0.1.0"
    assert second["changes"] == {"added": [], "removed": [], "changed": [{"rule": "TRI-PSG", "from": 1, "to": 2}]}
    assert run([*rules, "--verify"]) == 0
    edited = {**second, "approver": "someone else"}
    (root / "releases" / "0.1.1.json").write_text(json.dumps(edited))
    capsys.readouterr()
    assert run([*rules, "--verify"]) == 1
    assert "its signature is invalid (the record was edited)" in capsys.readouterr().err


def test_the_rule_book_opens_with_hash_release_summary_thresholds_legend_changes_and_sign_off(tmp_path, capsys):
    root = write_minibase(tmp_path / "mb")
    key = ["--key", str(tmp_path / "keys" / "ring.json")]
    base = [str(root / "rules"), "--knowledge", str(root / "knowledge")]
    book = ["rules", "book", *base, "--no-scenarios", "--out"]
    assert run([*book, str(tmp_path / "before")]) == 0
    text = (tmp_path / "before" / "rulebook.md").read_text()
    assert "release: unreleased (manifest version 0.1.0; no signed release record)" in text
    assert "| plms_index_adult_per_h | 15 | per_h | ICSD-3 |" in text
    assert "- **C**: confirmed in stored primary" in text and "- **M**:" in text
    assert "| findings | 1 | 0 | 0 |" in text and "Approved by: (name, role)" in text
    assert run(["audit", "init", "--log", str(tmp_path / "l.sqlite"), *key]) == 0
    assert run(["rules", "release", *base, *key, "--approver", "Dr A, CSO", "--date", "2026-12-01"]) == 0
    assert run([*book, str(tmp_path / "after")]) == 0
    text = (tmp_path / "after" / "rulebook.md").read_text()
    sha = json.loads((root / "releases" / "0.1.0.json").read_text())["sha256"]
    assert f"rule-set sha256: `{sha}`" in text
    assert "release: release 0.1.0, approved by Dr A, CSO on 2026-12-01" in text
    assert "release 0.1.0 against the first release: added: EVD-ADULT, FND-PLMD, TRI-PSG, TRI-REASSURE" in text
    assert "Approved by: Dr A, CSO" in text and "Date: 2026-12-01" in text and "(signed release record, key " in text
    html = (tmp_path / "after" / "rulebook.html").read_text()
    assert "<h2>Sign-off</h2>" in html and "<h2>Grading legend</h2>" in html

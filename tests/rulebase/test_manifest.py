"""Rule-set manifest (issue 5, item 6): file hashes, the rule-set hash, versions, reading and writing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cds.authoring.release import build_manifest, bump_version, render_manifest, write_manifest
from cds.errors import RuleFileError
from cds.rules.manifest import (
    MANIFEST_NAME,
    compute_ruleset_sha256,
    hash_file,
    read_manifest,
    ruleset_stamp,
    scan_ruleset,
)

RULE_A = "id: FND-A\nversion: 1\nstatus: active\n"
RULE_B = "id: TRI-B\nversion: 3\nstatus: draft\n"


def _tree(tmp_path: Path) -> tuple[Path, Path]:
    rules, knowledge = tmp_path / "rules", tmp_path / "knowledge"
    (rules / "2-findings").mkdir(parents=True)
    (rules / "3-triage").mkdir()
    (knowledge / "standards").mkdir(parents=True)
    (rules / "2-findings" / "FND-A.yaml").write_text(RULE_A)
    (rules / "3-triage" / "TRI-B.yaml").write_text(RULE_B)
    (rules / "3-triage" / "triage.scenario.yaml").write_text("cases: []\n")
    (rules / "README.md").write_text("# not data\n")
    (knowledge / "thresholds.yaml").write_text("x: {value: 1}\n")
    (knowledge / "standards" / "aasm.yaml").write_text("name: aasm\n")
    return rules, knowledge


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_hash_file_is_sha256_of_bytes(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_bytes(b"a: 1\r\n")
    assert hash_file(path) == hashlib.sha256(b"a: 1\r\n").hexdigest()


def test_scan_lists_rule_and_knowledge_files_but_not_scenarios_or_docs(tmp_path):
    rules, knowledge = _tree(tmp_path)
    files = scan_ruleset(rules, knowledge)
    assert files == {
        "knowledge/standards/aasm.yaml": _sha("name: aasm\n"),
        "knowledge/thresholds.yaml": _sha("x: {value: 1}\n"),
        "rules/2-findings/FND-A.yaml": _sha(RULE_A),
        "rules/3-triage/TRI-B.yaml": _sha(RULE_B),
    }


def test_scan_of_missing_folders_is_empty(tmp_path):
    assert scan_ruleset(tmp_path / "no-rules", tmp_path / "no-knowledge") == {}
    assert compute_ruleset_sha256({}) == hashlib.sha256(b"").hexdigest()


def test_ruleset_sha256_is_the_sha256sum_listing(tmp_path):
    rules, knowledge = _tree(tmp_path)
    files = scan_ruleset(rules, knowledge)
    listing = "".join(f"{files[name]}  {name}\n" for name in sorted(files))
    assert compute_ruleset_sha256(files) == _sha(listing)


def test_build_records_each_rule_version_and_hash(tmp_path):
    rules, knowledge = _tree(tmp_path)
    manifest = build_manifest(rules, knowledge)
    assert manifest.version == "0.1.0"
    assert sorted(manifest.rules) == ["FND-A", "TRI-B"]
    stamp = manifest.rules["TRI-B"]
    assert (stamp.version, stamp.sha256, stamp.path) == (3, _sha(RULE_B), "rules/3-triage/TRI-B.yaml")


def test_version_is_kept_when_nothing_changed_and_bumped_when_something_did(tmp_path):
    rules, knowledge = _tree(tmp_path)
    first = build_manifest(rules, knowledge, version="0.3.9")
    assert build_manifest(rules, knowledge, previous=first).version == "0.3.9"
    (knowledge / "thresholds.yaml").write_text("x: {value: 2}\n")
    second = build_manifest(rules, knowledge, previous=first)
    assert second.version == "0.3.10"
    assert second.sha256 != first.sha256
    assert build_manifest(rules, knowledge, previous=first, version="1.0").version == "1.0"


def test_bad_version_raises(tmp_path):
    rules, knowledge = _tree(tmp_path)
    with pytest.raises(RuleFileError, match="bad rule-set version 'v1'"):
        build_manifest(rules, knowledge, version="v1")
    assert bump_version("2") == "3"


def test_write_then_read_round_trips(tmp_path):
    rules, knowledge = _tree(tmp_path)
    manifest = build_manifest(rules, knowledge, version="0.2.0")
    path = write_manifest(manifest, rules / MANIFEST_NAME)
    assert read_manifest(path) == manifest
    assert "  rules/2-findings/FND-A.yaml: " in path.read_text()
    # the manifest itself is not part of the rule set
    assert scan_ruleset(rules, knowledge) == dict(manifest.files)


def test_read_rejects_missing_and_edited_manifests(tmp_path):
    rules, knowledge = _tree(tmp_path)
    with pytest.raises(RuleFileError, match="no rule-set manifest"):
        read_manifest(rules / MANIFEST_NAME)
    text = render_manifest(build_manifest(rules, knowledge))
    digest = scan_ruleset(rules, knowledge)["rules/2-findings/FND-A.yaml"]
    (rules / MANIFEST_NAME).write_text(text.replace(digest, "0" * 64, 1))
    with pytest.raises(RuleFileError, match="sha256 does not match its files"):
        read_manifest(rules / MANIFEST_NAME)
    (rules / MANIFEST_NAME).write_text("schema: something/else\n")
    with pytest.raises(RuleFileError, match=r"not a cds\.ruleset-manifest/v1 file"):
        read_manifest(rules / MANIFEST_NAME)


def test_ruleset_stamp_marks_modified_files(tmp_path):
    rules, knowledge = _tree(tmp_path)
    assert ruleset_stamp(rules, knowledge)["version"] is None
    manifest = build_manifest(rules, knowledge, version="0.4.0")
    write_manifest(manifest, rules / MANIFEST_NAME)
    assert ruleset_stamp(rules, knowledge) == {"version": "0.4.0", "sha256": manifest.sha256}
    (rules / "2-findings" / "FND-A.yaml").write_text(RULE_A + "# edited\n")
    stamp = ruleset_stamp(rules, knowledge)
    assert stamp["version"] == "0.4.0+modified"
    assert stamp["sha256"] != manifest.sha256

"""Rule-change impact at scale: ``cds audit replay --all`` and ``cds rules diff --cases`` on a decision log or a
cohort table, in this process and on a local Dask cluster. The minibase (tests/rulebase/minibase.py) has one
threshold, PLMS 15 /h; lowered to 10 it turns exactly the 12 /h patients (P1) from reassurance to a PSG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cds.audit.log import DecisionLog
from cds.cli import run
from cds.decision import decide
from tests.batch.conftest import minibase

PLMS_BY_CASE = {"P1": 12, "P2": 30, "P3": 5}


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("bases")
    module = minibase()
    return module.write_minibase(root / "old"), module.write_minibase(root / "new", adult_threshold=10)


def _log(path: Path, old: Path, copies: int, *, full: bool = True, patients: Path | None = None) -> list[str]:
    """``copies`` records per case (ids P1-0001, ...), decided by the old rule set, plus one record without a
    patient file; returns the case of every record in order. ``full``: the log keeps the patient files' text
    (else only their hashes; ``patients``: write the files there)."""
    from cds.facts.patient import parse_patient
    from cds.rules.engine import load_rulebase
    from cds.yamlfile import load_yaml

    rulebase = load_rulebase(old / "rules", old / "knowledge")
    log = DecisionLog(path, full=full)
    order = []
    for i in range(copies):
        for case in PLMS_BY_CASE:
            text = (old / "cases" / f"{case}.yaml").read_text().replace(f"id: {case}", f"id: {case}-{i:04d}")
            patient = parse_patient(load_yaml("p", text=text), path="p", knowledge=rulebase.kb)
            decision = json.loads(decide(rulebase, patient, patient_sha256="x").to_json())
            log.append(decision, patient_text=text)
            if patients is not None:
                (patients / f"{case}-{i:04d}.yaml").write_text(text)
            order.append(case)
    log.append(json.loads(json.dumps(decision)))  # no patient text: cannot be replayed
    order.append("no-text")
    return order


def test_replay_all_names_the_changed_records_their_rules_and_the_unreproducible(bases, tmp_path, capsys):
    old, new = bases
    path = tmp_path / "log.sqlite"
    order = _log(path, old, copies=2)
    args = [
        "audit",
        "replay",
        "--all",
        "--log",
        str(path),
        "--rules",
        str(new / "rules"),
        "--knowledge",
        str(new / "knowledge"),
    ]
    assert run(args) == 1  # a record that cannot be reproduced: the auditor must see it
    out = capsys.readouterr().out.splitlines()
    changed = [i + 1 for i, case in enumerate(order) if case == "P1"]
    assert out[0] == f"{len(changed)} of {len(order)} decisions change; 1 cannot be reproduced"
    assert [line.strip() for line in out if line.startswith("  record")] == [f"record {n}" for n in changed]
    assert out.count("    through rules: +FND-PLMD +TRI-PSG -TRI-REASSURE") == len(changed)
    assert out[-1].startswith(f"  NOT REPRODUCED record {len(order)}: cannot reproduce: the log keeps only")
    # the old rule set reproduces every decision it made
    same = [
        "audit",
        "replay",
        "--all",
        "--log",
        str(path),
        "--rules",
        str(old / "rules"),
        "--knowledge",
        str(old / "knowledge"),
        "--format",
        "json",
    ]
    assert run(same) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["total"], report["changed"], len(report["not_reproduced"])) == (len(order), [], 1)


def test_a_log_of_hashes_replays_with_the_patient_files_found_by_their_hash(bases, tmp_path, capsys):
    """The default log keeps a pseudonym and the patient file's sha256, not its text: --patients DIR brings the
    files back, each matched to its record by the hash (a file for no record is ignored, a record without its
    file is flagged)."""
    old, new = bases
    path, folder = tmp_path / "log.sqlite", tmp_path / "patients"
    folder.mkdir()
    order = _log(path, old, copies=2, full=False, patients=folder)
    (folder / "P1-0001.yaml").unlink()  # the file of record 4 is missing
    (folder / "unrelated.yaml").write_text("schema: cds.patient/v1\nid: X\nage_years: 30\n")
    args = [
        "audit",
        "replay",
        "--all",
        "--log",
        str(path),
        "--patients",
        str(folder),
        "--rules",
        str(new / "rules"),
        "--knowledge",
        str(new / "knowledge"),
        "--format",
        "json",
    ]
    assert run(args) == 1
    report = json.loads(capsys.readouterr().out)
    assert [c["case"] for c in report["changed"]] == ["record 1"]  # record 4 (P1, copy 1) has no file
    missing = {c["case"]: c["error"] for c in report["not_reproduced"]}
    assert sorted(missing) == ["record 4", f"record {len(order)}"]
    assert "no file with the record's patient-file sha256" in missing["record 4"]


def test_rules_diff_takes_a_log_as_cases(bases, tmp_path, capsys):
    old, new = bases
    path = tmp_path / "log.sqlite"
    order = _log(path, old, copies=1)
    assert run(["rules", "diff", str(old), str(new), "--cases", str(path), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cases_total"] == len(order)
    cases = {c["case"]: c for c in report["cases"]}
    assert cases["record 1"]["rules"] == ["+FND-PLMD", "+TRI-PSG", "-TRI-REASSURE"]
    assert "recommendation polysomnography: none -> routine" in cases["record 1"]["changes"]
    assert sorted(cases) == ["record 1", f"record {len(order)}"]  # P1 changes; the text-less record is listed


@pytest.mark.slow
def test_a_large_log_on_a_local_cluster_names_exactly_the_changed_decisions(bases, tmp_path, capsys):
    old, new = bases
    path = tmp_path / "log.sqlite"
    order = _log(path, old, copies=100)  # 301 records: above the size that goes to Dask by default
    args = [
        "audit",
        "replay",
        "--all",
        "--log",
        str(path),
        "--rules",
        str(new / "rules"),
        "--knowledge",
        str(new / "knowledge"),
        "--format",
        "json",
        "--workers",
        "2",
    ]
    assert run(args) == 1
    report = json.loads(capsys.readouterr().out)
    expected = [f"record {i + 1}" for i, case in enumerate(order) if case == "P1"]
    assert [c["case"] for c in report["changed"]] == expected
    assert report["total"] == 301


def test_a_cohort_table_replays_to_the_same_decisions(sequential, capsys):
    assert run(["audit", "replay", "--all", "--cohort", str(sequential / "cohort.csv")]) == 0
    assert capsys.readouterr().out.splitlines() == ["0 of 2 decisions change"]
    assert run(["audit", "replay", "--all", "--cohort", str(sequential / "cohort.parquet")]) == 0


def test_replay_options_are_checked(tmp_path, capsys):
    assert run(["audit", "replay", "--log", str(tmp_path / "l.sqlite")]) == 2
    assert run(["audit", "replay", "1", "--all"]) == 2
    assert run(["audit", "replay", "1", "--workers", "2"]) == 2
    assert run(["audit", "replay", "--all", "--cohort", str(tmp_path / "none.csv")]) == 3
    assert "not found" in capsys.readouterr().err

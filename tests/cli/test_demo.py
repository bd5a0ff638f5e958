"""``cds demo``: writes a synthetic night and the bundled patient, triages them, says where the letter is."""

from __future__ import annotations

import json

import pytest

from cds.cli import run


@pytest.fixture(scope="module", autouse=True)
def _decision_log(tmp_path_factory: pytest.TempPathFactory):
    """Every triage appends to the decision log: keep these tests' records out of the user's log."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("log") / "decisions.sqlite"
        patch.setenv("CDS_DECISION_LOG", str(path))
        yield path


def test_demo_writes_night_patient_and_letter(tmp_path, capsys, _decision_log):
    out = tmp_path / "demo"
    assert run(["demo", "--out", str(out), "--hours", "0.2"]) == 0
    printed = capsys.readouterr().out
    assert f"letter:         {out / 'letter.html'}" in printed
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "analysis.json",
        "decision.json",
        "demo-night.edf",
        "demo-patient.yaml",
        "letter.html",
        "letter.md",
    ]
    decision = json.loads((out / "decision.json").read_text(encoding="utf-8"))
    analysis = json.loads((out / "analysis.json").read_text(encoding="utf-8"))
    assert decision["patient_id"] == "DEMO-0001"
    assert decision["inputs"]["recording"]["name"] == "demo-night.edf"
    # the demo preset plants periodic series: the detector must find leg movements in them
    assert analysis["leg_movements"]["count"] > 0
    html = (out / "letter.html").read_text(encoding="utf-8")
    assert "<svg" in html and "DEMO-0001" in html and "Hypnogram" in html
    # the patient file and the recording reach the letter: measured PLMS, the figure; a 12-minute night is an
    # inconclusive study (clinical review 2, A5): its values are provisional and the decision is to repeat it
    assert decision["measurements"]["plms_index"]["source"] == "recording"
    assert decision["measurements"]["plms_index"]["provisional"] is True
    assert any(c["code"] == "study_inconclusive" for c in decision["caveat_details"])
    assert "polysomnography" in {r["action"] for r in decision["recommendations"]} | {
        a for r in decision["recommendations"] for a in r.get("consolidated_from", [])
    }
    assert "(provisional)" in (out / "letter.md").read_text(encoding="utf-8")
    for caveat in decision["caveats"]:
        assert caveat.split(":")[0] in html
    assert not _decision_log.exists()  # a synthetic demo does not enter the clinical decision log


def test_demo_twice_gives_byte_identical_files(tmp_path):
    for run_name in ("a", "b"):
        assert run(["demo", "--out", str(tmp_path / run_name), "--hours", "0.2"]) == 0
    for name in ("demo-night.edf", "demo-patient.yaml", "analysis.json", "decision.json", "letter.md", "letter.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_demo_into_a_file_exits_3_with_one_line(tmp_path, capsys):
    """Found in the hostile sweep (issue 16): ``cds demo --out FILE`` ended in FileExistsError (exit 4)."""
    target = tmp_path / "p.yaml"
    target.write_text("mine\n", encoding="utf-8")
    assert run(["demo", "--out", str(target)]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"cds: error: {target}: cannot write the demo folder: this is a file, not a folder"]
    assert target.read_text(encoding="utf-8") == "mine\n"

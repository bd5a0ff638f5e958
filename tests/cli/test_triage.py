"""``cds triage`` end to end through ``cds.cli.run``: files written, the letter's sections and provenance,
byte-identical output across runs, and each bad input as exit code 3 with one stderr line naming the file."""

from __future__ import annotations

import json
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cds.cli import run


@pytest.fixture(scope="module", autouse=True)
def _decision_log(tmp_path_factory: pytest.TempPathFactory):
    """Every triage appends to the decision log: keep these tests' records out of the user's log."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("log") / "decisions.sqlite"
        patch.setenv("CDS_DECISION_LOG", str(path))
        yield path


REPO = Path(__file__).resolve().parents[2]
DEMO_PATIENT = REPO / "examples" / "demo-patient.yaml"


class _Letter(HTMLParser):
    """Section ids; per recommendation <li> and treatment <tr>, the number of rule and reference marks."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.section: str | None = None
        self.items: dict[str, list[dict[str, int]]] = {"recommendations": [], "treatments": []}
        self.scripts = 0
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        self.scripts += tag == "script"
        if tag == "section":
            self.section = a.get("id")
            self.sections.append(a.get("id") or "")
        if self.section == "recommendations" and tag == "li":
            self.items["recommendations"].append({"rule": 0, "ref": 0})
        if self.section == "treatments" and tag == "tr" and any(c.startswith("status-") for c in classes):
            self.items["treatments"].append({"rule": 0, "ref": 0})
        bucket = self.items.get(self.section or "")
        if bucket and tag == "span" and "rule" in classes:
            bucket[-1]["rule"] += 1
        if bucket and tag == "a" and "ref" in classes:
            bucket[-1]["ref"] += 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture(scope="module")
def short_night(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six minutes of the synthetic demo night (periodic leg movements planted by cds.synth)."""
    from cds.synth import SynthConfig, write_synthetic_psg

    path = tmp_path_factory.mktemp("night") / "short-night.edf"
    write_synthetic_psg(path, SynthConfig.preset("demo").replace(hours=0.1, initial_wake_min=1.0), seed=1)
    return path


@pytest.fixture(scope="module")
def triaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo patient triaged without a recording (run once for the module: rule loading takes seconds)."""
    out = tmp_path_factory.mktemp("triaged") / "out"
    assert run(["triage", "--patient", str(DEMO_PATIENT), "--out", str(out)]) == 0
    return out


def _letter(path: Path) -> _Letter:
    parser = _Letter()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def _stderr_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("cds:")]
    assert len(lines) == 1, lines
    return lines[0]


def test_patient_without_recording_writes_record_and_letters(triaged):
    out = triaged
    assert sorted(p.name for p in out.iterdir()) == ["decision.json", "letter.html", "letter.md"]
    decision = json.loads((out / "decision.json").read_text(encoding="utf-8"))
    assert decision["schema"] == "cds.decision/v1" and decision["patient_id"] == "DEMO-0001"
    assert decision["inputs"]["recording"] is None  # named by decision-v1, null without a recording
    letter = _letter(out / "letter.html")
    assert letter.sections[:6] == ["decision", "findings", "recommendations", "medications", "treatments", "unknowns"]
    assert letter.sections[-2:] == ["references", "sign-off"] and "figure" not in letter.sections
    assert "No recording was analysed by cds" in "".join(letter.text)


def test_every_recommendation_and_treatment_in_the_letter_names_a_rule_and_a_reference(triaged):
    out = triaged
    decision = json.loads((out / "decision.json").read_text(encoding="utf-8"))
    letter = _letter(out / "letter.html")
    assert len(letter.items["recommendations"]) == len(decision["recommendations"]) >= 1
    assert len(letter.items["treatments"]) == len(decision["treatments"]) >= 1
    for item in letter.items["recommendations"] + letter.items["treatments"]:
        assert item["rule"] >= 1 and item["ref"] >= 1, item
    # the patient asked about clonazepam: the letter must say what the rules decided about it
    assert any(t["drug"] == "clonazepam" for t in decision["treatments"])
    text = "".join(letter.text)
    for rec in decision["recommendations"]:
        for rule in rec["rules"]:
            assert rule in text


def test_output_files_are_byte_identical_across_runs(triaged, tmp_path):
    assert run(["triage", "--patient", str(DEMO_PATIENT), "--out", str(tmp_path / "again")]) == 0
    for name in ("decision.json", "letter.md", "letter.html"):
        assert _record_free(triaged, name) == _record_free(tmp_path / "again", name), name
        text = (tmp_path / "again" / name).read_text(encoding="utf-8")
        assert str(tmp_path) not in text and str(REPO) not in text


def test_date_only_when_asked(tmp_path):
    assert run(["triage", "--patient", str(DEMO_PATIENT), "--out", str(tmp_path), "--date", "2026-11-23"]) == 0
    assert "- Date: 2026-11-23" in (tmp_path / "letter.md").read_text(encoding="utf-8")


def test_patient_text_comes_out_literally_and_escaped(tmp_path):
    patient = tmp_path / "evil.yaml"
    patient.write_text(
        'schema: cds.patient/v1\nid: "{{ 7*7 }} <script>alert(1)</script>"\nage_years: 40\n', encoding="utf-8"
    )
    assert run(["triage", "--patient", str(patient), "--out", str(tmp_path / "out")]) == 0
    html = (tmp_path / "out" / "letter.html").read_text(encoding="utf-8")
    assert "{{ 7*7 }} &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert _letter(tmp_path / "out" / "letter.html").scripts == 0
    markdown = (tmp_path / "out" / "letter.md").read_text(encoding="utf-8")
    assert r"\{\{ 7\*7 \}\} \<script\>" in markdown


def test_patient_with_recording_scores_it_and_draws_the_night(tmp_path, short_night):
    out = tmp_path / "out"
    code = run(["triage", "--patient", str(DEMO_PATIENT), "--recording", str(short_night), "--out", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["analysis.json", "decision.json", "letter.html", "letter.md"]
    decision = json.loads((out / "decision.json").read_text(encoding="utf-8"))
    analysis = json.loads((out / "analysis.json").read_text(encoding="utf-8"))
    assert decision["inputs"]["recording"]["name"] == short_night.name
    assert decision["inputs"]["recording"]["sha256"] == analysis["recording"]["sha256"]
    assert "plms_index" in decision["measurements"]
    assert decision["measurements"]["plms_index"]["source"] == "recording"
    letter = _letter(out / "letter.html")
    assert "figure" in letter.sections
    html = (out / "letter.html").read_text(encoding="utf-8")
    assert "<svg" in html and "Leg movements in PLM series" in html
    assert "no respiratory channels" in html
    assert str(tmp_path) not in (out / "analysis.json").read_text(encoding="utf-8")
    again = tmp_path / "again"
    assert run(["triage", "--patient", str(DEMO_PATIENT), "--recording", str(short_night), "--out", str(again)]) == 0
    for name in ("analysis.json", "decision.json", "letter.md", "letter.html"):
        assert _record_free(out, name) == _record_free(again, name), name


def test_missing_patient_file_is_exit_3_naming_it(tmp_path, capsys):
    missing = tmp_path / "nobody.yaml"
    assert run(["triage", "--patient", str(missing), "--out", str(tmp_path / "out")]) == 3
    line = _stderr_line(capsys)
    assert line.startswith("cds: error: ") and "nobody.yaml" in line
    assert not (tmp_path / "out").exists()


def test_malformed_patient_file_is_exit_3_with_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema: cds.patient/v1\nid: P-1\nage_years: [40\n", encoding="utf-8")
    assert run(["triage", "--patient", str(bad), "--out", str(tmp_path / "out")]) == 3
    line = _stderr_line(capsys)
    assert "bad.yaml:" in line


def test_bad_patient_value_is_exit_3_naming_field(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema: cds.patient/v1\nid: P-1\nage_years: -3\n", encoding="utf-8")
    assert run(["triage", "--patient", str(bad), "--out", str(tmp_path / "out")]) == 3
    assert "age_years" in _stderr_line(capsys)


@pytest.mark.parametrize("text", ["23/11/2026", "notadate", "20261123", "2026-02-30"])
def test_bad_date_is_a_usage_error(tmp_path, capsys, text):
    """Regression (issue 16): ``--date notadate`` exited 3 (input error) instead of 2 (usage error)."""
    args = ["triage", "--patient", str(DEMO_PATIENT), "--out", str(tmp_path / "out"), "--date", text]
    assert run(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cds: usage error: --date:") and "YYYY-MM-DD" in err[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("item", ["left_leg", "knee=LAT", "=LAT", "chin="])
def test_bad_channel_assignment_is_a_usage_error(tmp_path, capsys, item):
    args = ["triage", "--patient", str(DEMO_PATIENT), "--out", str(tmp_path), "--channel", item]
    assert run(args) == 2
    assert "--channel" in capsys.readouterr().err


def test_channel_label_not_in_the_recording_is_exit_3_naming_it(tmp_path, capsys, short_night):
    args = [
        "triage",
        "--patient",
        str(DEMO_PATIENT),
        "--recording",
        str(short_night),
        "--out",
        str(tmp_path / "o"),
        "--channel",
        "left_leg=NOPE",
    ]
    assert run(args) == 3
    line = _stderr_line(capsys)
    assert short_night.name in line and "NOPE" in line


def test_missing_template_is_exit_3_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("cds.letter.render.templates_dir", lambda: tmp_path / "templates")
    (tmp_path / "templates").mkdir()
    assert run(["triage", "--patient", str(DEMO_PATIENT), "--out", str(tmp_path / "out")]) == 3
    assert "templates/letter.html.j2: letter template not found" in _stderr_line(capsys)
    assert not (tmp_path / "out").exists()


def test_pdf_without_weasyprint_says_how_to_install_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # as if the pdf extra were not installed
    assert run(["triage", "--patient", str(DEMO_PATIENT), "--out", str(tmp_path / "out"), "--pdf"]) == 3
    assert 'pip install -e ".[pdf]"' in _stderr_line(capsys)
    assert not (tmp_path / "out").exists()


def test_pdf_is_written_when_asked(triaged, tmp_path):
    pytest.importorskip("weasyprint", reason="the optional pdf extra is not installed")
    assert run(["triage", "--patient", str(DEMO_PATIENT), "--out", str(tmp_path), "--pdf"]) == 0
    assert (tmp_path / "letter.pdf").read_bytes().startswith(b"%PDF-")
    assert _record_free(tmp_path, "letter.html") == _record_free(triaged, "letter.html")


def test_unreadable_recording_is_exit_3_naming_it(tmp_path, capsys):
    junk = tmp_path / "junk.edf"
    junk.write_bytes(b"0       this is not an EDF header" + bytes(200))
    args = ["triage", "--patient", str(DEMO_PATIENT), "--recording", str(junk), "--out", str(tmp_path / "out")]
    assert run(args) == 3
    assert "junk.edf" in _stderr_line(capsys)
    assert not (tmp_path / "out").exists()


def test_recording_without_leg_channel_is_exit_3_naming_it(tmp_path, capsys):
    from cds.synth import SynthConfig, write_synthetic_psg

    night = tmp_path / "chin-only.edf"
    write_synthetic_psg(night, SynthConfig.preset("demo").replace(hours=0.1, labels=(None, None, "Chin")), seed=1)
    args = ["triage", "--patient", str(DEMO_PATIENT), "--recording", str(night), "--out", str(tmp_path / "out")]
    assert run(args) == 3
    line = _stderr_line(capsys)
    assert "chin-only.edf" in line and "no leg EMG channel" in line
    assert not (tmp_path / "out").exists()


def test_infant_with_adult_scoring_gets_an_explicit_limit(tmp_path, short_night):
    infant = REPO / "examples" / "infant-bsmi.yaml"
    out = tmp_path / "out"
    assert run(["triage", "--patient", str(infant), "--recording", str(short_night), "--out", str(out)]) == 0
    html = (out / "letter.html").read_text(encoding="utf-8")
    assert "The patient is an infant" in html and "no reference norm" in html
    decision = json.loads((out / "decision.json").read_text(encoding="utf-8"))
    for caveat in decision["caveats"]:
        assert caveat.split(":")[0].replace("'", "&#39;") in html


def test_separate_hypnogram_file_is_scored_and_drawn(tmp_path):
    from cds.synth import SynthConfig, write_synthetic_psg

    night = tmp_path / "night.edf"
    truth = write_synthetic_psg(night, SynthConfig.preset("demo").replace(hours=0.2, hypnogram_in_edf=False), seed=2)
    out = tmp_path / "out"
    args = [
        "triage",
        "--patient",
        str(DEMO_PATIENT),
        "--recording",
        str(night),
        "--hypnogram",
        str(truth.hypnogram_path),
        "--standard",
        "wasm2016",
        "--out",
        str(out),
    ]
    assert run(args) == 0
    analysis = json.loads((out / "analysis.json").read_text(encoding="utf-8"))
    assert analysis["hypnogram"]["source"] == truth.hypnogram_path.name
    assert analysis["parameters"]["standard"] == "wasm2016"
    html = (out / "letter.html").read_text(encoding="utf-8")
    assert "Hypnogram" in html and "hypnogram given" in html and "WASM" in html
    for name in ("analysis.json", "decision.json", "letter.md", "letter.html"):
        assert str(tmp_path) not in (out / name).read_text(encoding="utf-8"), name


def test_reported_and_measured_values_both_in_the_letter_when_they_differ(tmp_path, short_night):
    patient = tmp_path / "reported.yaml"
    text = (
        DEMO_PATIENT.read_text(encoding="utf-8") + "polysomnography:\n  respiratory_channels: true\n  plms_index: 3\n"
    )
    patient.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    assert run(["triage", "--patient", str(patient), "--recording", str(short_night), "--out", str(out)]) == 0
    decision = json.loads((out / "decision.json").read_text(encoding="utf-8"))
    plms = decision["measurements"]["plms_index"]
    assert plms["source"] == "recording" and plms["value"] != 3
    assert [(o["value"], o["source"]) for o in plms["other_sources"]] == [(3, "reported")]
    html = (out / "letter.html").read_text(encoding="utf-8")
    assert "3 /h (reported in the referral" in html and "<em>differs</em>" in html


def test_each_triage_appends_the_decision_to_the_log_minimised_unless_asked(tmp_path, capsys):
    from cds.audit.log import DecisionLog, sha256_hex

    log = tmp_path / "audit.sqlite"
    for name, extra in (("a", []), ("b", ["--log-full"])):
        args = ["triage", "--patient", str(DEMO_PATIENT), "--out", str(tmp_path / name), "--log", str(log), *extra]
        assert run(args) == 0
    book = DecisionLog(log)
    entries = list(book.entries())
    assert [e.seq for e in entries] == [1, 2]
    a, b = (json.loads((tmp_path / n / "decision.json").read_text(encoding="utf-8")) for n in ("a", "b"))
    assert (a["record"]["seq"], b["record"]["seq"]) == (1, 2)
    pseudonym = book.pseudonym(a["patient_id"])
    assert entries[0].decision == {**a, "patient_id": pseudonym} and entries[1].decision == b  # --log-full: as is
    assert entries[0].patient_id == entries[1].patient_id == pseudonym
    text = DEMO_PATIENT.read_text(encoding="utf-8")
    assert entries[0].patient_text is None and entries[0].patient_text_sha256 == sha256_hex(text)
    assert entries[1].patient_text == text
    capsys.readouterr()
    assert run(["audit", "verify", "--log", str(log)]) == 0
    assert "2 records, chain intact" in capsys.readouterr().out


# --- issue 16: every option used or refused, nothing logged that did not happen --------------------------------


def _records(log_path: Path) -> list:
    from cds.audit.log import DecisionLog

    return list(DecisionLog(log_path).entries()) if log_path.exists() else []


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--channel", "left_leg=LAT"], "--channel needs a recording"),
        (["--hypnogram", "stages.csv"], "--hypnogram needs a recording"),
        (["--events", "resp.csv"], "--events needs a recording"),
        (["--standard", "wasm2016"], "--standard needs a recording"),
        (["--stage-labels", "labels.yaml"], "--stage-labels needs a recording"),
        (["--hypnogram", "h.csv", "--events", "e.csv"], "--hypnogram, --events need a recording"),
    ],
)
def test_recording_options_without_a_recording_are_usage_errors(tmp_path, capsys, _decision_log, args, named):
    """Regression (issue 16): --channel, --hypnogram, --events without --recording were silently ignored."""
    before = len(_records(_decision_log))
    assert run(["triage", "--patient", str(DEMO_PATIENT), "--out", str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cds: usage error:") and named in err[0]
    assert not (tmp_path / "out").exists() and len(_records(_decision_log)) == before


def test_same_signal_for_both_legs_is_a_usage_error(tmp_path, capsys, short_night):
    args = [
        "triage",
        "--patient",
        str(DEMO_PATIENT),
        "--recording",
        str(short_night),
        "--out",
        str(tmp_path / "o"),
        "--channel",
        "left_leg=Leg L",
        "--channel",
        "right_leg=Leg L",
    ]
    assert run(args) == 2
    assert "label 'Leg L' given for both left_leg and right_leg" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("field", "value"), [("age_years: 58", "age_years: .nan"), ("weight_kg: 81", "weight_kg: .inf")]
)
def test_nan_in_the_patient_file_exits_3_naming_the_field_and_logs_nothing(
    tmp_path, capsys, _decision_log, field, value
):
    """Regression (issue 16): NaN in age_years passed the range check, then crashed (exit 4) writing the log."""
    patient = tmp_path / "p.yaml"
    patient.write_text(DEMO_PATIENT.read_text(encoding="utf-8").replace(field, value), encoding="utf-8")
    before = len(_records(_decision_log))
    assert run(["triage", "--patient", str(patient), "--out", str(tmp_path / "out")]) == 3
    line = _stderr_line(capsys)
    assert f"p.yaml:{'4' if 'age' in field else '6'}:" in line and "expected a finite number" in line
    assert len(_records(_decision_log)) == before and not (tmp_path / "out").exists()


def test_output_folder_inside_a_file_exits_3_before_any_work_and_logs_nothing(tmp_path, capsys, _decision_log):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    before = len(_records(_decision_log))
    assert run(["triage", "--patient", str(DEMO_PATIENT), "--out", str(blocker / "out")]) == 3
    assert "'file' on its path is a file, not a folder" in _stderr_line(capsys)
    assert len(_records(_decision_log)) == before


def test_outputs_that_would_overwrite_an_input_are_usage_errors(tmp_path, capsys, _decision_log):
    out = tmp_path / "out"
    out.mkdir()
    patient = out / "letter.md"
    patient.write_text(DEMO_PATIENT.read_text(encoding="utf-8"), encoding="utf-8")
    assert run(["triage", "--patient", str(patient), "--out", str(out)]) == 2
    assert "--out (letter.md): would overwrite the --patient file 'letter.md'" in capsys.readouterr().err
    args = ["triage", "--patient", str(DEMO_PATIENT), "--out", str(tmp_path / "o2"), "--log", str(DEMO_PATIENT)]
    assert run(args) == 2
    assert "--log: would overwrite the --patient file 'demo-patient.yaml'" in capsys.readouterr().err
    assert patient.read_text(encoding="utf-8") == DEMO_PATIENT.read_text(encoding="utf-8")


def test_a_letter_that_cannot_be_written_leaves_no_decision_in_the_log(tmp_path, capsys, _decision_log, monkeypatch):
    """Regression (issue 16): a triage that could not write its letter still appended its decision to the log."""
    import cds.outputs

    out = tmp_path / "out"
    assert run(["triage", "--patient", str(DEMO_PATIENT), "--out", str(out)]) == 0
    capsys.readouterr()
    earlier = {p.name: p.read_bytes() for p in out.iterdir()}
    before = len(_records(_decision_log))
    real = cds.outputs.write_atomic

    def no_space_for_the_letter(path, data):
        if Path(path).name == "letter.html":
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(cds.outputs, "write_atomic", no_space_for_the_letter)
    assert run(["triage", "--patient", str(DEMO_PATIENT), "--out", str(out), "--date", "2026-01-02"]) == 3
    assert "out: cannot write the output: No space left on device" in _stderr_line(capsys)
    assert len(_records(_decision_log)) == before
    assert {p.name: p.read_bytes() for p in out.iterdir()} == earlier  # no staging left behind, nothing replaced


def test_outputs_that_cannot_be_moved_into_place_are_logged_as_not_delivered(
    tmp_path, capsys, _decision_log, monkeypatch
):
    import os

    import cds.outputs

    out = tmp_path / "out"
    assert run(["triage", "--patient", str(DEMO_PATIENT), "--out", str(out)]) == 0
    capsys.readouterr()
    earlier = {p.name: p.read_bytes() for p in out.iterdir()}
    before = len(_records(_decision_log))
    real, failed = os.replace, []

    def fail_on_the_letter(src, dst):  # the new letter.md cannot be moved in (once: the old one can be restored)
        if Path(dst) == out / "letter.md" and ".previous" not in str(src) and not failed:
            failed.append(dst)
            raise OSError(5, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(cds.outputs.os, "replace", fail_on_the_letter)
    assert run(["triage", "--patient", str(DEMO_PATIENT), "--out", str(out), "--date", "2026-01-02"]) == 3
    line = _stderr_line(capsys)
    records = _records(_decision_log)
    decision, note = records[-2], records[-1]
    assert len(records) == before + 2 and note.delivery_failure["record"] == decision.seq
    assert f"the decision log holds it (record {note.seq} marks record {decision.seq} as not delivered)" in line
    assert {p.name: p.read_bytes() for p in out.iterdir()} == earlier  # the earlier outputs are back in place
    monkeypatch.undo()
    assert run(["audit", "list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert f"NOT DELIVERED (see record {note.seq})" in listing[-2] and "DELIVERY FAILED" in listing[-1]


def test_a_partial_answer_names_what_was_left_out_in_analysis_decision_and_letter(tmp_path, short_night):
    events = tmp_path / "resp.csv"
    events.write_text("onset_s,duration_s,type\n100,10,Obstructive apnea\n9000,10,Hypopnea\n", encoding="utf-8")
    out = tmp_path / "out"
    args = [
        "triage",
        "--patient",
        str(DEMO_PATIENT),
        "--recording",
        str(short_night),
        "--events",
        str(events),
        "--out",
        str(out),
    ]
    assert run(args) == 0
    text = "resp.csv: 1 of 2 scored events lie outside the recording (0-360 s) and were not used"
    analysis = json.loads((out / "analysis.json").read_text(encoding="utf-8"))
    assert any(c["code"] == "events_outside_recording" and c["text"].startswith(text) for c in analysis["caveats"])
    decision = json.loads((out / "decision.json").read_text(encoding="utf-8"))
    assert any(c.startswith(text) for c in decision["caveats"])
    assert text in (out / "letter.md").read_text(encoding="utf-8")


def _record_free(folder: Path, name: str) -> bytes:
    """An output with its decision-log record id masked: the same inputs give the same bytes apart from the id
    of the log record each run was given (issue 11: decision.json and the letter name their record)."""
    record = json.loads((folder / "decision.json").read_text(encoding="utf-8")).get("record")
    data = (folder / name).read_bytes()
    if record is None or name == "analysis.json":
        return data
    text = data.decode("utf-8")
    text = text.replace(json.dumps(record, indent=2, sort_keys=True).replace("\n", "\n  "), "RECORD")
    return text.replace(record["id"], "RECORD-ID").encode("utf-8")


def test_a_safety_invariant_violation_exits_4_naming_rule_and_drug(tmp_path, capsys, monkeypatch):
    """Issue 11, item 7: should resolution ever offer a drug a safety rule contraindicated (a policy or engine
    bug, simulated here), triage stops with exit 4 and one line naming the drug and the safety rule; nothing is
    written or logged."""
    import cds.decision.record as record

    original = record.resolve_treatments

    def broken(firings, policy, overrides=None):
        out = original(firings, policy, overrides)
        status, behind = out["sodium_valproate"]
        assert status == "contraindicated"
        return {**out, "sodium_valproate": ("option", behind)}

    monkeypatch.setattr(record, "resolve_treatments", broken)
    log = tmp_path / "log.sqlite"
    args = ["triage", "--patient", str(REPO / "examples" / "pregnant-rls.yaml"), "--out", str(tmp_path / "out")]
    assert run([*args, "--log", str(log)]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "traceback" not in err[0].lower()
    assert err[0].startswith("cds: error: safety invariant violated: sodium_valproate is contraindicated by ")
    assert "SAF-PREGNANCY-VALPROATE" in err[0] and "resolved to 'option'" in err[0]
    assert not (tmp_path / "out").exists() and not log.exists()


def test_an_unreleased_rule_set_is_named_in_the_letter_and_refused_on_request(tmp_path, capsys, monkeypatch):
    """Issue 11, item 4 (governance): rules edited since the manifest are not a release."""
    import shutil

    from cds.rules import engine

    rules, knowledge = tmp_path / "rules", tmp_path / "knowledge"
    shutil.copytree(REPO / "rules", rules)
    shutil.copytree(REPO / "knowledge", knowledge)
    path = rules / "3-triage" / "TRI-IRON-STUDIES.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "# edited after the release\n", encoding="utf-8")
    monkeypatch.setattr("cds.paths.rules_dir", lambda: rules)
    monkeypatch.setattr("cds.paths.knowledge_dir", lambda: knowledge)
    original = engine.load_rulebase
    monkeypatch.setattr(engine, "load_rulebase", lambda r=None, k=None: original(r or rules, k or knowledge))
    out, log = tmp_path / "out", tmp_path / "log.sqlite"
    args = ["triage", "--patient", str(DEMO_PATIENT), "--out", str(out), "--log", str(log)]
    assert run([*args, "--require-release"]) == 3
    err = capsys.readouterr().err
    assert "the rule set is not a signed release in force: UNRELEASED rule set (changed since release " in err
    assert not out.exists() and not log.exists()
    assert run(args) == 0
    decision = json.loads((out / "decision.json").read_text(encoding="utf-8"))
    assert decision["inputs"]["ruleset"]["version"].endswith("+modified")
    assert "UNRELEASED rule set (changed since release" in (out / "letter.md").read_text(encoding="utf-8")


def test_the_shipped_rule_set_is_refused_with_require_release_until_signed(tmp_path, capsys):
    """The shipped rule set matches its manifest but nobody signed a release of it: without the flag the letter
    and decision.json say so; with --require-release triage refuses (tests/rulebase/test_governance.py signs one)."""
    args = ["triage", "--patient", str(DEMO_PATIENT), "--out", str(tmp_path / "o"), "--log", str(tmp_path / "l")]
    if (REPO / "releases").is_dir():
        pytest.skip("a signed release is shipped: tests/rulebase/test_governance.py covers it")
    assert run([*args, "--require-release"]) == 3
    assert "has no signed release" in capsys.readouterr().err
    assert run(args) == 0
    decision = json.loads((tmp_path / "o" / "decision.json").read_text(encoding="utf-8"))
    version = decision["inputs"]["ruleset"]["version"]
    assert decision["inputs"]["ruleset"]["release"] is None
    assert [c["code"] for c in decision["caveat_details"]][:1] == ["ruleset_unreleased"]
    letter = (tmp_path / "o" / "letter.md").read_text()
    assert f"UNRELEASED rule set (version {version} has no signed release)" in letter.split("- To:")[0]


def test_a_threshold_change_shows_in_the_letter_text(tmp_path, capsys, monkeypatch):
    """Issue 11, done-when: rule prose quotes thresholds through {threshold:NAME}, so changing the value in
    knowledge/thresholds.yaml changes the number the letter states (never a stale literal)."""
    import shutil

    from cds.rules import engine

    patient = tmp_path / "p.yaml"
    patient.write_text(
        "schema: cds.patient/v1\nid: T-1\nage_years: 50\nsymptoms: {insomnia: true}\n"
        "polysomnography: {plms_index: 18}\n",
        encoding="utf-8",
    )

    def letter_with(value: int) -> tuple[str, str]:
        knowledge = tmp_path / f"knowledge-{value}"
        shutil.copytree(REPO / "knowledge", knowledge)
        path = knowledge / "thresholds.yaml"
        text = path.read_text(encoding="utf-8")
        start = text.index("plms_index_variability_band_per_h:\n  value: 5\n")
        path.write_text(text[:start] + text[start:].replace("value: 5", f"value: {value}", 1), encoding="utf-8")
        original = engine.load_rulebase
        with monkeypatch.context() as m:
            m.setattr("cds.paths.knowledge_dir", lambda: knowledge)
            m.setattr(engine, "load_rulebase", lambda r=None, k=None: original(r, k or knowledge))
            out = tmp_path / f"out-{value}"
            assert run(["triage", "--patient", str(patient), "--out", str(out), "--log", str(tmp_path / "l")]) == 0
        return (out / "letter.md").read_text(encoding="utf-8"), (out / "letter.html").read_text(encoding="utf-8")

    assert all("The PLMS index is within 5/h of the threshold for age" in t for t in letter_with(5))
    changed = letter_with(4)
    assert all("The PLMS index is within 4/h of the threshold for age" in t for t in changed)
    assert not any("within 5/h" in t for t in changed)

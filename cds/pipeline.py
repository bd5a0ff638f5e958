"""The whole triage pipeline: recording (optional) -> analysis -> patient facts -> rules -> decision -> letter.

One call, ``run_triage``, computes everything in memory; ``write_triage`` writes the results atomically to an
output folder. The same inputs and rule set give byte-identical decision.json, letter.md and letter.html: no
wall-clock time (unless a letter date is asked for) and no absolute paths are written.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cds.errors import CdsError, InputError, PatientFileError
from cds.files import sha256_of
from cds.letter.render import RenderedLetter, check_templates, render_letter

if TYPE_CHECKING:
    from cds.rulebase.engine import RuleBase

log = logging.getLogger(__name__)

__all__ = [
    "DEMO_PATIENT",
    "OUTPUT_NAMES",
    "TriageRequest",
    "TriageResult",
    "cached_rulebase",
    "check_pdf_available",
    "log_decision",
    "run_demo",
    "run_triage",
    "write_triage",
]

ProgressFn = Callable[[str, float], None]
DEMO_PATIENT = "demo-patient.yaml"
DEMO_RECORDING = "demo-night.edf"
OUTPUT_NAMES = ("decision.json", "letter.html", "letter.md", "analysis.json", "letter.pdf")


@dataclass(frozen=True)
class TriageRequest:
    """What ``cds triage`` was asked to do. Paths as given; only their file names reach the outputs."""

    patient_path: Path
    recording_path: Path | None = None
    hypnogram_path: Path | None = None
    events_path: Path | None = None
    standard: str = "aasm"
    channel_overrides: Mapping[str, str] = field(default_factory=dict)
    letter_date: str | None = None
    pdf: bool = False
    sign_off: Mapping[str, str] | None = None  # name, role, date of the physician who signs the letter


@dataclass(frozen=True)
class TriageResult:
    """Everything triage produced, in memory: the records as dicts and the serialised files."""

    decision: Mapping[str, Any]
    analysis: Mapping[str, Any] | None
    letter: RenderedLetter
    files: Mapping[str, str | bytes]


def check_pdf_available() -> None:
    """Raise CdsError with the install command when WeasyPrint (the optional ``pdf`` extra) is missing."""
    try:
        import weasyprint  # noqa: F401
    except ImportError as exc:
        raise CdsError('PDF output needs WeasyPrint, which is not installed: pip install -e ".[pdf]"') from exc
    except OSError as exc:  # WeasyPrint installed but its system libraries (Pango) missing
        raise CdsError(f"PDF output needs WeasyPrint's system libraries (Pango): {exc}") from exc


def run_triage(request: TriageRequest, *, progress: ProgressFn | None = None) -> TriageResult:
    """Run the pipeline for one patient and return the decision, analysis, letter and the files' contents.

    Raises InputError subclasses naming the file and the problem (patient, recording, hypnogram, events,
    rule or template file); a problem that only weakens a number travels as a caveat into the letter.
    """
    letter_date = _check_date(request.letter_date)
    check_templates()  # a missing or broken template fails now, not after a long analysis
    if request.pdf:
        check_pdf_available()
    from cds.facts.patient import read_patient
    from cds.rulebase.engine import dump_decision

    rulebase = cached_rulebase()  # compiled once per process; validated files come from the content cache
    patient = read_patient(request.patient_path, knowledge=rulebase.kb)
    patient_sha256 = _sha256_file(request.patient_path, PatientFileError)
    analysis, stages = _analyse(request, progress) if request.recording_path is not None else (None, None)
    if progress:
        progress("rules", 0.0)
    decision = rulebase.decide(
        patient,
        analysis=analysis,
        patient_sha256=patient_sha256,
        recording_name=request.recording_path.name if request.recording_path is not None else None,
    )
    decision_json = dump_decision(decision)
    decision = json.loads(decision_json)  # the letter shows exactly what the record says
    if progress:
        progress("rules", 1.0)
        progress("letter", 0.0)
    letter = render_letter(
        decision, analysis=analysis, letter_date=letter_date, hypnogram=stages, sign_off=request.sign_off
    )
    files: dict[str, str | bytes] = {
        "decision.json": decision_json if decision_json.endswith("\n") else decision_json + "\n",
        "letter.html": letter.html,
        "letter.md": letter.markdown,
    }
    if analysis is not None:
        files["analysis.json"] = json.dumps(analysis, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    if request.pdf:
        from cds.letter.pdf import render_pdf

        files["letter.pdf"] = render_pdf(letter.html)
    if progress:
        progress("letter", 1.0)
    log.info("triage of %s: %d recommendations, %d treatments", decision.get("patient_id"),
             len(decision.get("recommendations") or []), len(decision.get("treatments") or []))  # fmt: skip
    return TriageResult(decision=decision, analysis=analysis, letter=letter, files=files)


def write_triage(result: TriageResult, out_dir: str | Path) -> dict[str, Path]:
    """Write the result's files atomically into ``out_dir``; remove outputs of an earlier run this one lacks
    (a stale analysis.json beside a letter without a recording would mislead). Returns name -> path."""
    from cds.files import write_atomic

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("output folder is a file", path=out)
    written: dict[str, Path] = {}
    try:
        for name, data in result.files.items():
            write_atomic(out / name, data)
            written[name] = out / name
        for name in OUTPUT_NAMES:
            if name not in result.files:
                (out / name).unlink(missing_ok=True)
    except OSError as exc:
        raise InputError(f"cannot write the output: {exc.strerror or exc}", path=out) from exc
    return written


def log_decision(result: TriageResult, patient_path: str | Path, log_path: str | Path | None = None) -> Any:
    """Append the decision and the patient file's text to the hash-chained decision log (cds.audit.log;
    ``log_path`` default: ``$CDS_DECISION_LOG`` or the user's data folder). Returns the log entry."""
    from cds.audit.log import DecisionLog

    try:
        patient_text = Path(patient_path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PatientFileError(f"cannot read the patient file for the decision log: {exc}", path=patient_path) from exc
    decision_log = DecisionLog(log_path)
    try:
        return decision_log.append(dict(result.decision), patient_text=patient_text)
    except OSError as exc:  # the folder of the log cannot be created or written
        raise InputError(f"cannot write the decision log: {exc.strerror or exc}", path=decision_log.path) from exc


def _analyse(request: TriageRequest, progress: ProgressFn | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The analysis record (plain JSON types, as analysis.json will hold) and the stages per epoch for the night
    figure, taken from the hypnogram the analysis scored against (the record only summarises it)."""
    from cds.analysis import analyze_recording

    report = analyze_recording(
        request.recording_path,
        hypnogram_path=request.hypnogram_path,
        events_path=request.events_path,
        standard=request.standard,
        channel_overrides=dict(request.channel_overrides) or None,
        progress=progress,
    )
    hyp = report.hypnogram
    stages = None if hyp is None else {"stages": list(hyp.stages), "epoch_s": hyp.epoch_s, "start_s": hyp.start_s}
    return json.loads(report.to_json()), stages


def cached_rulebase() -> RuleBase:
    """``load_rulebase()`` of the current rules/ and knowledge/: compiled once per process while no file under
    them changed (the engine's in-process cache; parsing every rule file takes seconds, and batch callers and
    tests triage many patients)."""
    from cds.rulebase.engine import load_rulebase

    return load_rulebase()


def _sha256_file(path: Path, error_cls: type[InputError]) -> str:
    try:
        return sha256_of(path)
    except OSError as exc:
        raise error_cls(f"cannot read file: {exc.strerror or exc}", path=path) from exc


def _check_date(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise InputError(f"letter date is not a date (allowed: YYYY-MM-DD, got: {text!r})") from exc


def run_demo(
    out_dir: str | Path,
    *,
    hours: float | None = None,
    letter_date: str | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Path]:
    """Write a synthetic night with periodic leg movements (cds.synth ``demo`` preset, seed 1) and the bundled
    demo patient file into ``out_dir``, run triage on them, and return the written files by name."""
    from cds.files import write_atomic
    from cds.paths import data_dir
    from cds.synth import SynthConfig, write_synthetic_psg

    out = Path(out_dir)
    source = data_dir("examples") / DEMO_PATIENT
    try:
        patient_bytes = source.read_bytes()
    except OSError as exc:
        raise InputError(f"bundled demo patient file missing: {exc.strerror or exc}", path=DEMO_PATIENT) from exc
    config = SynthConfig.preset("demo")
    if hours is not None:
        config = config.replace(hours=hours)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / DEMO_PATIENT, patient_bytes)
    recording = out / DEMO_RECORDING
    if progress:
        progress("synthetic night", 0.0)
    write_synthetic_psg(recording, config, seed=1)
    if progress:
        progress("synthetic night", 1.0)
    request = TriageRequest(patient_path=out / DEMO_PATIENT, recording_path=recording, letter_date=letter_date)
    written = write_triage(run_triage(request, progress=progress), out)
    return {"recording": recording, "patient": out / DEMO_PATIENT, **written}

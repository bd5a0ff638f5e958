"""The whole triage pipeline: recording (optional) -> analysis -> patient facts -> rules -> decision -> letter.

One call, ``run_triage``, computes everything in memory; ``deliver_triage`` writes the results to an output
folder and logs the decision as one transaction (staged files, log, move into place: a decision is in the log
only with the letter it produced); ``write_triage`` writes without logging (``cds demo``). The same inputs and
rule set give byte-identical decision.json, letter.md and letter.html: no wall-clock time (unless a letter
date is asked for) and no absolute paths are written.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cds.errors import CdsError, InputError, UsageError

if TYPE_CHECKING:
    from cds.decision import Decision
    from cds.letter.render import RenderedLetter
    from cds.rules.engine import RuleBase

log = logging.getLogger(__name__)

__all__ = [
    "DEMO_PATIENT",
    "OUTPUT_NAMES",
    "TriageRequest",
    "TriageResult",
    "cached_rulebase",
    "check_letter_date",
    "check_pdf_available",
    "check_released",
    "check_triage_paths",
    "deliver_triage",
    "governed",
    "log_decision",
    "run_demo",
    "run_triage",
    "signed_release",
    "stamp_record",
    "with_ruleset_status",
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
    stage_labels_path: Path | None = None  # additions to knowledge/labels.yaml (default $CDS_STAGE_LABELS)
    letter_date: str | None = None
    pdf: bool = False
    sign_off: Mapping[str, str] | None = None  # name, role, date of the physician who signs the letter
    require_release: bool = False  # refuse a rule set whose files are not those of its manifest (a release)


@dataclass(frozen=True)
class TriageResult:
    """Everything triage produced, in memory: the records as dicts and the serialised files."""

    decision: Mapping[str, Any]
    analysis: Mapping[str, Any] | None
    letter: RenderedLetter | None  # None: not rendered yet (run_triage(render=False); deliver_triage renders it)
    files: Mapping[str, str | bytes]
    patient_text: str | None = None  # the patient file's text as it was read and parsed (for the decision log)
    # what rendering the letter again needs (the night's stages, the date, the signer, PDF or not): the decision
    # log's record id goes into decision.json and the letter once the log has given it (stamp_record)
    render_context: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)


def check_pdf_available() -> None:
    """Raise CdsError with the install command when WeasyPrint (the optional ``pdf`` extra) is missing."""
    try:
        import weasyprint  # noqa: F401
    except ImportError as exc:
        raise CdsError('PDF output needs WeasyPrint, which is not installed: pip install -e ".[pdf]"') from exc
    except OSError as exc:  # WeasyPrint installed but its system libraries (Pango) missing
        raise CdsError(f"PDF output needs WeasyPrint's system libraries (Pango): {exc}") from exc


def run_triage(request: TriageRequest, *, progress: ProgressFn | None = None, render: bool = True) -> TriageResult:
    """Run the pipeline for one patient and return the decision, analysis, letter and the files' contents.

    ``render=False`` leaves the letter and the files out (``letter`` None, ``files`` empty): for a caller that
    hands the result to ``deliver_triage``, which renders them once, with the log's record id in them.

    Raises InputError subclasses naming the file and the problem (patient, recording, hypnogram, events,
    rule or template file); a problem that only weakens a number travels as a caveat into the letter.
    """
    from cds.audit.log import sha256_hex
    from cds.decision import decide
    from cds.facts.patient import read_patient, read_patient_text
    from cds.letter.knowledge import letter_knowledge_of
    from cds.letter.render import check_templates

    letter_date = check_letter_date(request.letter_date)
    # read once (parsed, hashed and logged text are one), and first: a file over the limits is refused in
    # milliseconds, before the rule base is loaded
    patient_text = read_patient_text(request.patient_path)
    check_templates()  # a missing or broken template fails now, not after a long analysis
    if request.pdf:
        check_pdf_available()

    rulebase, ruleset = governed(cached_rulebase(), letter_date)
    if request.require_release:
        check_released(ruleset)
    patient = read_patient(request.patient_path, knowledge=rulebase.kb, text=patient_text)
    patient_sha256 = sha256_hex(patient_text)
    # scored last, so that a broken template, rule or patient file fails before a long scoring (scoring the
    # night in a thread beside this reading was measured: no faster on the 2-core machine, since the reading holds
    # the interpreter lock most of the time, and the scoring threads already use both cores)
    analysis, stages = _analyse(request, progress) if request.recording_path is not None else (None, None)
    if progress:
        progress("rules", 0.0)
    decision = with_ruleset_status(
        decide(
            rulebase,
            patient,
            analysis=analysis,
            patient_sha256=patient_sha256,
            recording_name=request.recording_path.name if request.recording_path is not None else None,
        ),
        ruleset,
    )
    if progress:
        progress("rules", 1.0)
        progress("letter", 0.0)
    context = {
        "knowledge": letter_knowledge_of(rulebase.kb),  # the letter words the knowledge the rules ran on
        "analysis": analysis,
        "stages": stages,
        "letter_date": letter_date,
        "sign_off": request.sign_off,
        "pdf": request.pdf,
        "patient_text": patient_text,
    }
    result = _package(decision, context) if render else _unrendered(decision, context)
    if progress:
        progress("letter", 1.0)
    log.info(
        "triage of %s: %d recommendations, %d treatments",
        decision.patient_id,
        len(decision.recommendations),
        len(decision.treatments),
    )
    return result


def _unrendered(decision: Decision, context: Mapping[str, Any]) -> TriageResult:
    """The decision as its record says it (JSON read back: the values a reader of decision.json gets), without the
    letter and the files yet (the layout of the text does not change what is read back: no indent here)."""
    record = json.loads(json.dumps(decision.to_record(), sort_keys=True, ensure_ascii=False))
    return TriageResult(
        decision=record,
        analysis=context["analysis"],
        letter=None,
        files={},
        patient_text=context["patient_text"],
        render_context=context,
    )


def _package(decision: Decision | Mapping[str, Any], context: Mapping[str, Any]) -> TriageResult:
    """decision.json, the letter (HTML, Markdown, PDF) and analysis.json of one decision (typed, or the record of
    one that :func:`stamp_record` gave its log record)."""
    from cds.decision import dump_decision
    from cds.letter.render import render_letter

    decision_json = dump_decision(decision)
    record = json.loads(decision_json)  # the letter shows exactly what the record says
    analysis = context["analysis"]
    letter = render_letter(
        record,
        analysis=analysis,
        knowledge=context.get("knowledge"),
        letter_date=context["letter_date"],
        hypnogram=context["stages"],
        sign_off=context["sign_off"],
    )
    files: dict[str, str | bytes] = {
        "decision.json": decision_json if decision_json.endswith("\n") else decision_json + "\n",
        "letter.html": letter.html,
        "letter.md": letter.markdown,
    }
    if analysis is not None:
        files["analysis.json"] = json.dumps(analysis, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    if context["pdf"]:
        from cds.letter.pdf import render_pdf

        files["letter.pdf"] = render_pdf(letter.html)
    return TriageResult(
        decision=record,
        analysis=analysis,
        letter=letter,
        files=files,
        patient_text=context["patient_text"],
        render_context=context,
    )


def stamp_record(result: TriageResult, record: Mapping[str, Any]) -> TriageResult:
    """The result with its decision-log record (``{"id", "log", "seq"}``) in decision.json and the letter."""
    decision = {**result.decision, "record": dict(record)}
    if result.render_context is None:  # built by hand (tests): only the decision can carry it
        return TriageResult(
            decision=decision,
            analysis=result.analysis,
            letter=result.letter,
            files=result.files,
            patient_text=result.patient_text,
        )
    return _package(decision, result.render_context)


def check_triage_paths(request: TriageRequest, out_dir: str | Path, log_path: str | Path | None = None) -> None:
    """Before any work: the output folder and the log can be written (InputError, exit 3), and no output or the
    log is one of the inputs (UsageError, exit 2: ``--out`` holding the patient file as ``letter.md``)."""
    from cds.audit.log import default_log_path
    from cds.outputs import check_not_inputs, check_output_dir, check_output_file

    out = check_output_dir(out_dir)
    log_file = check_output_file(Path(log_path) if log_path is not None else default_log_path(), "decision log")
    inputs = {
        "--patient": request.patient_path,
        "--recording": request.recording_path,
        "--hypnogram": request.hypnogram_path,
        "--events": request.events_path,
        "--stage-labels": request.stage_labels_path,
    }
    outputs = {f"--out ({name})": out / name for name in OUTPUT_NAMES}
    check_not_inputs({**outputs, "--log": log_file}, inputs)


def write_triage(result: TriageResult, out_dir: str | Path) -> dict[str, Path]:
    """Write the result's files into ``out_dir`` all or nothing (cds.outputs.StagedOutputs) without logging
    (``cds demo``); outputs of an earlier run this one lacks are removed (a stale analysis.json beside a letter
    without a recording would mislead). Returns name -> path."""
    from cds.outputs import StagedOutputs

    with StagedOutputs(out_dir, result.files, stale=OUTPUT_NAMES) as staged:
        try:
            return staged.commit()
        except OSError as exc:
            raise InputError(f"cannot write the output: {exc.strerror or exc}", path=staged.out) from exc


def deliver_triage(
    result: TriageResult,
    out_dir: str | Path,
    log_path: str | Path | None = None,
    *,
    patient_path: str | Path,
    full_log: bool = False,
) -> tuple[dict[str, Path], Any]:
    """Write the outputs and log the decision as one transaction; returns (name -> path, the log entry).

    1. inside the log's write transaction, once the log has given the record its id, the id is written into
       decision.json and the letter and every file is written to a staging folder inside ``out_dir`` (a failure:
       the record is rolled back, nothing logged, exit 3);
    2. the record is committed (a failure: the staged files are dropped, nothing delivered);
    3. the files are moved into place together. Should that fail after the decision was logged, a
       "delivery failed" record naming the decision's record is appended, which ``cds audit list/show`` display
       as such, and InputError says so: the log never holds a decision as delivered whose letter does not exist.
    """
    from cds.outputs import StagedOutputs

    staging: list[StagedOutputs] = []

    def stage(final: TriageResult) -> None:
        staging.append(StagedOutputs(out_dir, final.files, stale=OUTPUT_NAMES))

    try:
        entry = log_decision(result, patient_path, log_path, full=full_log, on_record=stage)
    except BaseException:
        for staged in staging:
            staged.discard()
        raise
    with staging[0] as staged:
        try:
            written = staged.commit()
        except OSError as exc:
            reason = f"cannot move the outputs into {staged.out.name!r}: {exc.strerror or exc}"
            note = _log_delivery_failure(entry, reason, sorted(result.files), log_path)
            marked = f"record {note.seq} marks record {entry.seq} as not delivered" if note else "not marked"
            raise InputError(f"{reason}; the decision log holds it ({marked})", path=staged.out) from exc
    return written, entry


def _log_delivery_failure(entry: Any, reason: str, files: list[str], log_path: str | Path | None) -> Any:
    from cds.audit.log import DecisionLog

    try:
        return DecisionLog(log_path).append_delivery_failure(entry, reason=reason, files=files)
    except (OSError, CdsError) as exc:  # the log went away between the two appends: say so, keep the first error
        log.error("cannot record the failed delivery of record %s: %s", entry.seq, exc)
        return None


def log_decision(
    result: TriageResult,
    patient_path: str | Path,
    log_path: str | Path | None = None,
    *,
    full: bool = False,
    on_record: Callable[[TriageResult], None] | None = None,
) -> Any:
    """Append the decision, stamped with its record id, to the signed decision log (cds.audit.log; ``log_path``
    default: ``$CDS_DECISION_LOG`` or the user's data folder). The log keeps a pseudonym and the patient file's
    hash; ``full``: the delivered decision and the patient file's text. ``on_record`` gets the stamped result
    inside the log's transaction (an exception rolls the record back). Returns the entry."""
    from cds.audit.log import DecisionLog
    from cds.facts.patient import read_patient_text

    patient_text = result.patient_text if result.patient_text is not None else read_patient_text(patient_path)
    decision_log = DecisionLog(log_path, full=full)

    def stamp(record: dict[str, Any]) -> dict[str, Any]:
        final = stamp_record(result, record)
        if on_record is not None:
            on_record(final)
        return dict(final.decision)

    try:
        return decision_log.append(dict(result.decision), patient_text=patient_text, stamp=stamp)
    except OSError as exc:  # the folder of the log cannot be created or written
        raise InputError(f"cannot write the decision log: {exc.strerror or exc}", path=decision_log.path) from exc


def _analyse(request: TriageRequest, progress: ProgressFn | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The analysis record (plain JSON types, as analysis.json will hold) and the stages per epoch for the night
    figure, taken from the hypnogram the analysis scored against (the record only summarises it)."""
    from cds.analysis import analyze_recording

    assert request.recording_path is not None  # called only when a recording was given
    report = analyze_recording(
        request.recording_path,
        hypnogram_path=request.hypnogram_path,
        events_path=request.events_path,
        standard=request.standard,
        channel_overrides=dict(request.channel_overrides) or None,
        stage_labels=request.stage_labels_path,
        progress=progress,
    )
    hyp = report.hypnogram
    stages = None if hyp is None else {"stages": list(hyp.stages), "epoch_s": hyp.epoch_s, "start_s": hyp.start_s}
    # the record as analysis.json will read back (plain JSON types); compact text: the indented form is written once,
    # with the other files, and the values read back are the same either way
    return json.loads(json.dumps(report.data, ensure_ascii=False)), stages


def cached_rulebase() -> RuleBase:
    """``load_rulebase()`` of the current rules/ and knowledge/: compiled once per process while no file under
    them changed (the engine's in-process cache; parsing every rule file takes seconds, and batch callers and
    tests triage many patients)."""
    from cds.rules.engine import load_rulebase

    return load_rulebase()


def governed(rulebase: RuleBase, letter_date: str | None) -> tuple[RuleBase, dict[str, Any]]:
    """The rule base a decision uses and its ``inputs.ruleset``: the manifest stamp, the signed release matching
    the files (``release``, null when none does) and, when some rule carries ``effective``/``expires`` dates or
    the deprecated status, the rules not yet effective (left out), expired (applied, named) and deprecated on the
    decision's date (``governance``): the letter date when given, else today (UTC)."""
    from cds.paths import rules_dir
    from cds.rules.governance import governed_rulebase

    as_of = dt.date.fromisoformat(letter_date) if letter_date else dt.datetime.now(dt.UTC).date()
    used, state = governed_rulebase(rulebase, as_of)
    ruleset: dict[str, Any] = {**rulebase.stamp, "release": signed_release(rules_dir(), rulebase.stamp.get("sha256"))}
    if state.dated:
        ruleset["governance"] = state.to_dict()
    return used, ruleset


def signed_release(rules: Path, sha256: Any) -> dict[str, Any] | None:
    """The newest release record in ``releases/`` beside ``rules`` whose hash is the rule set's and whose
    signature verifies: its version, approver, date and key id; None when no such record exists (the rule set is
    not a signed release). An unreadable record is an InputError naming it."""
    from cds.audit.log import signed_record_problem
    from cds.rules.manifest import release_records

    for record, path in reversed(release_records(rules)):
        if record.get("sha256") != sha256:
            continue
        problem = signed_record_problem(record)
        if problem is not None:
            log.warning("release record %s ignored: %s", path.name, problem)
            continue
        return {k: record.get(k) for k in ("version", "approver", "date", "key_id")}
    return None


def with_ruleset_status(decision: Decision, ruleset: Mapping[str, Any]) -> Decision:
    """The decision with its full ``inputs.ruleset`` (release, governance) and the caveats it calls for: a rule
    set that is not exactly a signed release, or holds expired rules, is never silent (decision and letter)."""
    from cds.rules.governance import ruleset_notices

    return decision.with_ruleset(ruleset, [{**n, "source": "rule set"} for n in ruleset_notices(ruleset)])


def check_released(ruleset: Mapping[str, Any]) -> None:
    """InputError (exit 3) unless the rule set is exactly a signed release (a release record in ``releases/``
    whose hash is the files' and whose signature verifies) and holds no expired rule: ``cds triage
    --require-release``. Without it, decision.json and the letter say so (caveats, banner)."""
    from cds.rules.governance import release_text, ruleset_notices

    notices = ruleset_notices(ruleset)
    if notices:
        problem = "; ".join(n["text"].split(":")[0] for n in notices)
        raise InputError(
            f"the rule set is not a signed release in force: {problem}",
            hint="review the changes, `cds rules manifest --update`, `cds rules release`; or triage without "
            "--require-release",
        )
    log.info("rule set %s", release_text(ruleset.get("version"), ruleset.get("release"), known=True))


def check_letter_date(text: str | None) -> str | None:
    """The letter date as YYYY-MM-DD; UsageError (exit 2) for anything else (``--date notadate``)."""
    if text is None:
        return None
    try:
        if len(text) != 10:
            raise ValueError(text)
        return dt.date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise UsageError(f"not a date (allowed: YYYY-MM-DD, got: {text!r})", option="--date") from exc


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
    from cds.outputs import check_output_dir
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
    letter_date = check_letter_date(letter_date)  # before anything is written
    check_output_dir(out, "demo folder")
    recording = out / DEMO_RECORDING
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(out / DEMO_PATIENT, patient_bytes)
        if progress:
            progress("synthetic night", 0.0)
        write_synthetic_psg(recording, config, seed=1)
    except OSError as exc:
        raise InputError(f"cannot write the demo folder: {exc.strerror or exc}", path=out) from exc
    if progress:
        progress("synthetic night", 1.0)
    request = TriageRequest(patient_path=out / DEMO_PATIENT, recording_path=recording, letter_date=letter_date)
    written = write_triage(run_triage(request, progress=progress), out)
    return {"recording": recording, "patient": out / DEMO_PATIENT, **written}

"""``cds audit init|verify|anchor|rotate-key|list|show|replay``: set up, check and read the signed decision log."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer

from cds.audit.keys import default_key_path
from cds.audit.log import DecisionLog, LogEntry, default_log_path
from cds.cli._exit import ProblemsFoundError
from cds.cli._replay import SCHEDULER_OPTION, WORKERS_OPTION, echo_replay, replay_backend, replay_progress

__all__ = ["app"]

app = typer.Typer(
    name="audit", help="Set up, verify, anchor, list, show and replay the decision log.", no_args_is_help=True
)


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


_LOG_OPTION = typer.Option(
    None, "--log", envvar="CDS_DECISION_LOG", help=f"Decision log (default {default_log_path()})."
)
_KEY_OPTION = typer.Option(
    None, "--key", envvar="CDS_AUDIT_KEY", help=f"The log's key ring (default {default_key_path()})."
)
_FORMAT_OPTION = typer.Option(OutputFormat.TEXT, "--format", help="text or json.")
_ANCHOR_OUT_OPTION = typer.Option(None, "--out", help="Write the anchor here (default: print it).")
_REPLAY_PATIENT_OPTION = typer.Option(
    None, "--patient", help="The patient file, when the log kept only its hash (checked against it)."
)
_RULES_OPTION = typer.Option(None, "--rules", help="rules/ folder (default: the installed rule base).")
_KNOWLEDGE_OPTION = typer.Option(None, "--knowledge", help="knowledge/ folder (default: the installed one).")


def _summary(entry: LogEntry, marked_by: LogEntry | None = None) -> str:
    """One line per record; a decision whose outputs were not delivered says so, and so does the note."""
    note = entry.delivery_failure
    if note is not None:
        return (
            f"{entry.seq:>5}  {entry.created_at}  {entry.record_hash[:12]}  patient {entry.patient_id or '-'}  "
            f"DELIVERY FAILED for record {note.get('record')}: {note.get('reason')}"
        )
    inputs = entry.inputs
    recording = inputs.get("recording") or {}
    name = recording.get("name", "-") if isinstance(recording, dict) else "-"
    line = (
        f"{entry.seq:>5}  {entry.created_at}  {entry.record_id}  {entry.record_hash[:12]}  "
        f"patient {entry.patient_id or '-'}  rules {entry.ruleset_version or '-'}  engine {entry.engine_version}  "
        f"recording {name}"
    )
    return line + (f"  NOT DELIVERED (see record {marked_by.seq})" if marked_by is not None else "")


def _delivery(entry: LogEntry, marked_by: LogEntry | None) -> dict:
    """``delivered`` (bool) and the seq of the record saying it was not, for --format json."""
    if entry.delivery_failure is not None:
        return {"kind": "delivery_failure"}
    return {
        "kind": "decision",
        "delivered": marked_by is None,
        "delivery_failure_record": None if marked_by is None else marked_by.seq,
    }


def _stamp_text(stamp: dict) -> str:
    """``version (sha256 prefix)`` of a rule-set stamp (decision record ``inputs.ruleset``)."""
    return f"{stamp.get('version') or 'unversioned'} ({str(stamp.get('sha256') or '?')[:12]})"


def _read_anchor(text: str) -> str | dict:
    """An anchor file written by ``cds audit anchor``, or (as before) a record hash noted by hand."""
    from cds.audit.log import DecisionLogError

    path = Path(text)
    if not path.is_file():
        return text
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DecisionLogError(f"cannot read the anchor: {exc}", path=path) from exc
    if not isinstance(data, dict):
        raise DecisionLogError("not a cds audit anchor (not a JSON object)", path=path)
    return data


@app.command("init")
def init(
    log_path: Path | None = _LOG_OPTION,
    key: Path | None = _KEY_OPTION,
    new_log: bool = typer.Option(
        False, "--new-log", help="Start a new log where one this key ring saw is missing (the new log names it)."
    ),
) -> None:
    """Create the key ring (if missing, file 0600 in a 0700 folder) and an empty signed log (if missing)."""
    decision_log = DecisionLog(log_path, key_path=key)
    log_id = decision_log.init(new_log=new_log)
    ring = decision_log.ring()
    typer.echo(f"log {decision_log.path}: id {log_id}")
    typer.echo(f"key ring {ring.path}: active key {ring.active} (public {ring.public_of(ring.active)})")


@app.command("rotate-key")
def rotate_key(key: Path | None = _KEY_OPTION) -> None:
    """Make a new signing key; the old key's private half is destroyed, its public half kept for verifying."""
    from cds.audit.keys import KeyRing

    ring = KeyRing.load(key)
    old = ring.active
    new = ring.rotate()
    typer.echo(f"key ring {ring.path}: key {old} retired, new active key {new.key_id} (public {new.public})")
    typer.echo("take a new anchor now (`cds audit anchor --out FILE`) and give it to the auditor")


@app.command("anchor")
def anchor(
    log_path: Path | None = _LOG_OPTION,
    key: Path | None = _KEY_OPTION,
    out: Path | None = _ANCHOR_OUT_OPTION,
    record: int | None = typer.Option(None, "--record", help="Anchor this record (default: the last one)."),
) -> None:
    """A signed head of the log for the auditor to keep elsewhere: `verify --anchor FILE` then fails for a
    history rewritten up to it, even by someone holding the key."""
    from cds.files import write_atomic

    data = DecisionLog(log_path, key_path=key).anchor(record)
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    write_atomic(out, text)
    typer.echo(f"anchor of record {data['seq']} ({data['record_hash'][:12]}) written to {out}")


@app.command("verify")
def verify(
    log_path: Path | None = _LOG_OPTION,
    key: Path | None = _KEY_OPTION,
    anchor: str | None = typer.Option(
        None, "--anchor", help="An anchor file from `cds audit anchor` (or a head hash noted earlier)."
    ),
    fmt: OutputFormat = _FORMAT_OPTION,
) -> None:
    """Check the whole signed chain, the times, the witness and an anchor; exit 1 naming the first edited,
    removed, reordered or back-dated record, or a truncated, missing or replaced log."""
    decision_log = DecisionLog(log_path, key_path=key)
    result = decision_log.verify(anchor=None if anchor is None else _read_anchor(anchor))
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps(result.__dict__, sort_keys=True, indent=2))
    elif result.ok:
        against = " and the anchor" if anchor is not None else ""
        typer.echo(
            f"ok: {result.records} records, chain intact and signed{against}, log {result.log_id}, "
            f"head {result.head_hash}"
        )
    if not result.ok:
        raise ProblemsFoundError(f"decision log tampered: {result.problem}")


@app.command("list")
def list_records(
    log_path: Path | None = _LOG_OPTION,
    key: Path | None = _KEY_OPTION,
    patient: str | None = typer.Option(None, "--patient", help="Only this patient's records (found by pseudonym)."),
    fmt: OutputFormat = _FORMAT_OPTION,
) -> None:
    """One line per logged decision, oldest first; a decision whose letter was not delivered is marked."""
    from cds.audit.log import DecisionLogError

    decision_log = DecisionLog(log_path, key_path=key)
    if not decision_log.path.exists():  # a mistyped --log must not look like an empty log
        raise DecisionLogError("no decision log here", path=decision_log.path, hint="run `cds triage` first")
    entries = list(decision_log.entries())
    marks = {e.delivery_failure["record"]: e for e in entries if e.delivery_failure is not None}
    if patient is not None:
        pseudonym = decision_log.pseudonym(patient)
        entries = [e for e in entries if e.patient_id == pseudonym]
    if fmt is OutputFormat.JSON:
        rows = [{**e.to_dict(), **_delivery(e, marks.get(e.seq))} for e in entries]
        typer.echo(json.dumps(rows, sort_keys=True, indent=2))
        return
    for entry in entries:
        typer.echo(_summary(entry, marks.get(entry.seq)))


@app.command("show")
def show(
    record: str = typer.Argument(..., help="Record id (as the letter prints it), seq number or hash prefix."),
    log_path: Path | None = _LOG_OPTION,
    fmt: OutputFormat = _FORMAT_OPTION,
) -> None:
    """Print one record: its hashes, versions, the stored decision and the patient file's text (and whether its
    letter was delivered)."""
    decision_log = DecisionLog(log_path)
    entry = decision_log.get(record)
    marked_by = decision_log.undelivered().get(entry.seq)
    if fmt is OutputFormat.JSON:
        shown = {**entry.to_dict(with_content=True), **_delivery(entry, marked_by)}
        typer.echo(json.dumps(shown, sort_keys=True, indent=2, ensure_ascii=False))
        return
    for key, value in entry.to_dict().items():
        typer.echo(f"{key}: {json.dumps(value, sort_keys=True) if isinstance(value, dict) else value}")
    note = entry.delivery_failure
    if note is not None:
        typer.echo(
            f"DELIVERY FAILED: the outputs of record {note.get('record')} were not delivered: "
            f"{note.get('reason')} (files: {', '.join(map(str, note.get('files') or []))})"
        )
        return
    if marked_by is not None:
        failure = marked_by.delivery_failure or {}
        typer.echo(
            f"NOT DELIVERED: record {marked_by.seq} says this decision's letter was never written out: "
            f"{failure.get('reason')}"
        )
    typer.echo("decision:")
    typer.echo(json.dumps(entry.decision, sort_keys=True, indent=2, ensure_ascii=False))
    if entry.patient_text is not None:
        typer.echo("patient file:")
        typer.echo(entry.patient_text.rstrip("\n"))


_RECORD_ARGUMENT = typer.Argument(None, help="Record id (as the letter prints it), seq number or hash prefix.")
_ALL_OPTION = typer.Option(False, "--all", help="Replay every record of the log (or of --cohort).")
_COHORT_OPTION = typer.Option(None, "--cohort", help="With --all: a cds batch cohort table (cohort.csv/.parquet).")
_PATIENTS_OPTION = typer.Option(
    None, "--patients", help="With --all: a folder of patient files, matched to records by their sha256."
)


@app.command("replay")
def replay(
    record: str | None = _RECORD_ARGUMENT,
    all_records: bool = _ALL_OPTION,
    cohort: Path | None = _COHORT_OPTION,
    log_path: Path | None = _LOG_OPTION,
    rules: Path | None = _RULES_OPTION,
    knowledge: Path | None = _KNOWLEDGE_OPTION,
    patient: Path | None = _REPLAY_PATIENT_OPTION,
    patients: Path | None = _PATIENTS_OPTION,
    workers: int | None = WORKERS_OPTION,
    scheduler: str | None = SCHEDULER_OPTION,
    fmt: OutputFormat = _FORMAT_OPTION,
) -> None:
    """Re-run a logged decision (patient file + stored recording facts) on the current rule set; name the rules
    whose firing changed; exit 1 when the same rule set no longer gives the logged decision (not reproducible).
    With --all, every record of the log or of a cohort table (on Dask for large ones)."""
    from cds.audit.log import DecisionLogError, sha256_hex
    from cds.authoring.diff import diff_outcomes, fired_rules, replay_decision
    from cds.errors import UsageError
    from cds.rules.engine import load_rulebase

    if all_records == (record is not None):
        raise UsageError("give one RECORD or --all", option="--all")
    if not all_records:
        given = {"--cohort": cohort, "--patients": patients, "--workers": workers, "--scheduler": scheduler}
        for option, value in given.items():
            if value is not None:
                raise UsageError(f"{option} needs --all (one record: --patient FILE)", option=option)
    elif patient is not None:
        raise UsageError("--patient is for one record; with --all give --patients DIR", option="--patient")
    if all_records:
        _replay_all(cohort, log_path, rules, knowledge, patients, workers, scheduler, fmt)
        return
    assert record is not None
    entry = DecisionLog(log_path).get(record)
    if entry.delivery_failure is not None:
        raise DecisionLogError(
            f"record {entry.seq} is a delivery-failure note for record {entry.delivery_failure.get('record')}, "
            "not a decision: cannot replay",
            path=log_path,
        )
    patient_text = entry.patient_text
    if patient_text is None and patient is not None:
        from cds.facts.patient import read_patient_text

        patient_text = read_patient_text(patient)
        if sha256_hex(patient_text) != entry.patient_text_sha256:
            raise DecisionLogError(
                f"this is not the patient file of record {entry.seq} (its sha256 differs)", path=patient
            )
    if patient_text is None:
        raise DecisionLogError(
            f"record {entry.seq} has no stored patient file: cannot replay",
            path=log_path,
            hint="the log keeps only its hash: pass the file with --patient",
        )
    rulebase = load_rulebase(rules, knowledge)
    logged_decision = entry.decision
    replayed = replay_decision(logged_decision, patient_text, rulebase)
    changes = diff_outcomes(logged_decision, replayed)
    fired, fires = fired_rules(logged_decision), fired_rules(replayed)
    rules_changed = {"no longer fire": sorted(fired - fires), "now fire": sorted(fires - fired)}
    logged_stamp = entry.inputs.get("ruleset") or {}
    current_stamp = getattr(rulebase, "stamp", None) or {"sha256": rulebase.sha256}
    same_rules = logged_stamp.get("sha256") == current_stamp.get("sha256")
    reproducible = not same_rules or not (changes or rules_changed["no longer fire"] or rules_changed["now fire"])
    logged = _stamp_text(logged_stamp)
    now = _stamp_text(current_stamp)
    if fmt is OutputFormat.JSON:
        report = {
            "seq": entry.seq,
            "record_id": entry.record_id,
            "ruleset": {"logged": logged, "now": now},
            "same_ruleset": same_rules,
            "changes": changes,
            "rules": rules_changed,
            "reproducible": reproducible,
        }
        typer.echo(json.dumps(report, indent=2, sort_keys=True))
    else:
        typer.echo(f"record {entry.seq} ({entry.record_id}, patient {entry.patient_id}): rule set {logged} -> {now}")
        typer.echo(
            "\n".join(f"  {c}" for c in changes)
            if changes
            else "  same decision (findings, recommendations, treatments, asks)"
        )
        for what, names in rules_changed.items():
            if names:
                typer.echo(f"  rules that {what}: {', '.join(names)}")
    if not reproducible:
        raise ProblemsFoundError(
            f"record {entry.seq} cannot be reproduced: the same rule set ({logged}) now gives another decision"
        )


def _replay_all(
    cohort: Path | None,
    log_path: Path | None,
    rules: Path | None,
    knowledge: Path | None,
    patients: Path | None,
    workers: int | None,
    scheduler: str | None,
    fmt: OutputFormat,
) -> None:
    """``--all``: every decision of the log (or cohort table) against its replay; exit 1 when any cannot be
    reproduced (an auditor must see it)."""
    from cds.audit.log import DecisionLogError
    from cds.batch.replay import load_replay_cases, replay_cases
    from cds.paths import knowledge_dir, rules_dir

    source = cohort if cohort is not None else DecisionLog(log_path).path
    if cohort is None and not source.exists():
        raise DecisionLogError("no decision log here", path=source, hint="run `cds triage` first")
    cases = load_replay_cases(source, patients=patients)
    new = (str(rules or rules_dir()), str(knowledge or knowledge_dir())) if rules or knowledge else None
    with replay_backend(len(cases), workers, scheduler) as backend:
        report = replay_cases(cases, new, backend, progress=replay_progress())
    echo_replay(report, json_out=fmt is OutputFormat.JSON, header={"source": source.name})
    if report.failed:
        raise ProblemsFoundError(f"{len(report.failed)} of {report.total} decisions cannot be reproduced")

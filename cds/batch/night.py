"""One night of a batch, as a Dask worker runs it: the same files as ``cds analyze`` (analysis.json, summary.txt)
or, with a patient file, as ``cds triage`` (decision.json, letter.html, letter.md, analysis.json), written all
or nothing into ``<out>/<night id>/``, and the night's row of the cohort table.

A night is done when its folder holds ``batch.json`` whose input key matches: the sha256 of every input file,
the scoring settings, the cds version and (for triage) the rule set and knowledge hashes. A rerun skips such a
night; a changed input, setting, rule set or version scores it again. A night that fails becomes a row with the
error (file and problem); it never stops the batch and is tried again on the next run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cds import __version__
from cds.batch.cohort import NightSpec
from cds.errors import CdsError
from cds.files import sha256_of, write_atomic

__all__ = ["MARKER", "NIGHT_FILES", "BatchSettings", "NightResult", "mark_done", "patient_copy_name", "score_night"]

log = logging.getLogger(__name__)

MARKER = "batch.json"
PATIENT_COPIES = ("patient.yaml", "patient.yml", "patient.json")
NIGHT_FILES = ("decision.json", "letter.html", "letter.md", "analysis.json", "summary.txt", *PATIENT_COPIES)


@dataclass(frozen=True)
class BatchSettings:
    """What is the same for every night of a batch."""

    standard: str = "aasm"
    channel_overrides: tuple[tuple[str, str], ...] = ()
    stage_labels: Path | None = None
    letter_date: str | None = None
    threads_per_night: int | None = None  # CDS_THREADS in the worker (1 on a Dask worker: one core per night)
    # a logged triage is delivered by the batch process (log record id stamped into decision.json and the letter,
    # then the files written: cds.pipeline.deliver_triage); otherwise the worker writes the night's files
    deliver_on_client: bool = False


@dataclass(frozen=True)
class NightResult:
    """What a worker sends back: the row, and for a new triage the decision and patient text to log."""

    row: dict[str, Any]
    key: str = ""
    resumed: bool = False
    decision: Mapping[str, Any] | None = None
    patient_text: str | None = None
    triage: Any = None  # the undelivered TriageResult (deliver_on_client)
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _file_digest(path: Path | None) -> str | None:
    return None if path is None else sha256_of(path)


def input_key(spec: NightSpec, settings: BatchSettings, rules_stamp: Mapping[str, str] | None) -> str:
    """sha256 over everything the night's outputs depend on (never over paths: a moved cohort still resumes)."""
    payload = {
        "cds": __version__,
        "recording": _file_digest(spec.recording),
        "hypnogram": _file_digest(spec.hypnogram),
        "events": _file_digest(spec.events),
        "patient": _file_digest(spec.patient),
        "stage_labels": _file_digest(settings.stage_labels),
        "standard": settings.standard,
        "channels": [list(pair) for pair in settings.channel_overrides],
        "letter_date": settings.letter_date,
        "rules": dict(rules_stamp) if rules_stamp is not None else None,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _read_marker(night_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((night_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def mark_done(out_root: Path, result: NightResult) -> None:
    """Write the night's ``batch.json`` (its input key and row): from now on a rerun skips it. Written last,
    after the outputs are in place and the decision is logged."""
    night_dir = out_root / str(result.row["night_id"])
    marker = {"schema": "cds.batch-night/v1", "key": result.key, "row": result.row}
    write_atomic(night_dir / MARKER, json.dumps(marker, sort_keys=True, indent=2, ensure_ascii=False) + "\n")


def _rules_stamp() -> dict[str, str]:
    from cds.pipeline import cached_rulebase

    rulebase = cached_rulebase()
    return {"ruleset": rulebase.sha256, "knowledge": rulebase.kb.sha256}


def score_night(spec: NightSpec, settings: BatchSettings, out_root: str | Path) -> NightResult:
    """Score one night into ``out_root/<id>/`` (or find it done); never raises for a problem of the night's own
    files: the row then carries ``status: error`` and the one-line reason."""
    if settings.threads_per_night:
        os.environ["CDS_THREADS"] = str(settings.threads_per_night)
    started = time.perf_counter()
    out = Path(out_root)
    try:
        stamp = _rules_stamp() if spec.patient is not None else None
        key = input_key(spec, settings, stamp)
        done = _read_marker(out / spec.night_id)
        if done is not None and done.get("key") == key and isinstance(done.get("row"), dict):
            return NightResult(row=done["row"], key=key, resumed=True)
        result = _score(spec, settings, out, key)
    except CdsError as exc:
        result = NightResult(row=error_row(spec, _message(exc)))
    except MemoryError:
        result = NightResult(row=error_row(spec, "internal error: out of memory (lower --workers)"))
    except Exception as exc:  # one night's internal error must not stop a cohort; the row says what happened
        log.exception("night %s failed", spec.night_id)
        result = NightResult(row=error_row(spec, f"internal error: {type(exc).__name__}: {exc}"))
    return NightResult(
        row=result.row,
        key=result.key,
        decision=result.decision,
        patient_text=result.patient_text,
        triage=result.triage,
        seconds=time.perf_counter() - started,
    )


def _score(spec: NightSpec, settings: BatchSettings, out: Path, key: str) -> NightResult:
    from cds.outputs import StagedOutputs

    decision: dict[str, Any] | None = None
    patient_text = None
    triage = None
    if spec.patient is not None:
        from cds.pipeline import TriageRequest, run_triage

        request = TriageRequest(
            patient_path=spec.patient,
            recording_path=spec.recording,
            hypnogram_path=spec.hypnogram,
            events_path=spec.events,
            standard=settings.standard,
            channel_overrides=dict(settings.channel_overrides),
            stage_labels_path=settings.stage_labels,
            letter_date=settings.letter_date,
        )
        triage = run_triage(request)
        files = dict(triage.files)
        analysis = dict(triage.analysis or {})
        decision, patient_text = dict(triage.decision), triage.patient_text
        if patient_text is not None:  # the night folder is self-contained: a rule change can be replayed on it
            files[patient_copy_name(spec.patient)] = patient_text
    else:
        from cds.analysis import analyze_recording, render_summary

        report = analyze_recording(
            spec.recording,
            hypnogram_path=spec.hypnogram,
            events_path=spec.events,
            standard=settings.standard,
            channel_overrides=dict(settings.channel_overrides) or None,
            stage_labels=settings.stage_labels,
        )
        files = {"analysis.json": report.to_json(), "summary.txt": render_summary(report) + "\n"}
        analysis = json.loads(report.to_json())
    if triage is None or not settings.deliver_on_client:  # else: the batch process writes them once logged
        with StagedOutputs(out / spec.night_id, files, stale=(*NIGHT_FILES, MARKER)) as staged:
            staged.commit()
    from cds.batch.table import night_row

    offered: tuple[str, ...] = ()
    if decision is not None:
        from cds.pipeline import cached_rulebase
        from cds.policy import policy_of

        offered = policy_of(cached_rulebase().kb).offered_statuses
    row = night_row(spec, analysis, decision, offered_statuses=offered)
    undelivered = triage if settings.deliver_on_client else None
    return NightResult(row=row, key=key, decision=decision, patient_text=patient_text, triage=undelivered)


def patient_copy_name(patient: Path) -> str:
    """``patient.yaml`` (or .yml, .json as the original) in the night folder."""
    name = f"patient{patient.suffix.lower()}"
    return name if name in PATIENT_COPIES else "patient.yaml"


def _message(exc: CdsError) -> str:
    """The one-line reason with the file named by its name, not its path (the table must not depend on where
    the cohort lies, and writes no absolute path)."""
    from cds.errors import InputError

    text = str(exc)
    if isinstance(exc, InputError) and exc.path:
        text = text.replace(exc.path, Path(exc.path).name, 1)
    return text


def error_row(spec: NightSpec, message: str) -> dict[str, Any]:
    from cds.batch.table import night_row

    return night_row(spec, None, None, error=" ".join(message.split()))

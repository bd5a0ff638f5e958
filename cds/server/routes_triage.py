"""Pages of a triage: the patient form (check, download, load a file), the recording upload, the job's progress,
and the result (decision, letter in HTML/Markdown/PDF, why and why-not, sign-off).

Uploads are stored under ``<data dir>/uploads/<job>/`` with names cds chooses, read by the same pipeline as
``cds triage`` (nothing in them is executed), and refused past the size limits; outputs go to
``<data dir>/results/<job>/``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.datastructures import UploadFile

from cds.errors import CdsError, InputError
from cds.server.config import ServerConfig
from cds.server.form import document_to_form, document_yaml, form_sections, form_to_document, kept_names
from cds.server.jobs import Job
from cds.server.pages import LETTER_CSP, page

router = APIRouter()

_JOB_ID = re.compile(r"^[0-9a-f]{16}$")
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")
_FILES = {
    "letter.html": "text/html; charset=utf-8",
    "letter.md": "text/markdown; charset=utf-8",
    "decision.json": "application/json",
    "patient.yaml": "application/yaml",
    "analysis.json": "application/json",
}


def _kb() -> Any:
    from cds.pipeline import cached_rulebase

    return cached_rulebase().kb


def _form_page(
    request: Request,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    problems: list[str] | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    kb = _kb()
    config: ServerConfig = request.app.state.config
    return page(
        request,
        "form.html",
        status_code=status,
        values=values,
        errors=errors or {},
        problems=problems or [],
        notice=notice,
        sections=form_sections(kb),
        kept=kept_names(values),
        conditions=list(kb.vocab["conditions"].items()),
        max_recording_mb=config.max_recording_bytes // 1024**2,
    )


@router.get("/triage/new")
def new_triage(request: Request) -> Response:
    return _form_page(request, {})


@router.post("/triage/patient-file")
async def load_patient_file(request: Request) -> Response:
    config: ServerConfig = request.app.state.config
    form = await request.form()
    upload = form.get("patient_file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _form_page(request, {}, problems=["choose a patient file to load"], status=400)
    data = await upload.read(config.max_patient_bytes + 1)
    name = Path(upload.filename).name
    if len(data) > config.max_patient_bytes:
        return _form_page(
            request, {}, problems=[f"{name}: larger than {config.max_patient_bytes // 1024} KiB"], status=413
        )
    try:
        values = document_to_form(data.decode("utf-8"), name, _kb())
    except UnicodeDecodeError:
        return _form_page(request, {}, problems=[f"{name}: not UTF-8 text"], status=400)
    except InputError as exc:
        return _form_page(request, {}, problems=[str(exc)], status=400)
    return _form_page(request, values, notice=f"Filled from {name}. Check the answers before running the triage.")


@router.post("/triage/form")
async def submit_form(request: Request) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    result = form_to_document(values, _kb())
    if not result.ok:
        return _form_page(request, values, errors=result.errors, problems=result.problems, status=400)
    action = values.get("action", "check")
    text = document_yaml(result.document)
    if action == "download":
        name = re.sub(r"[^A-Za-z0-9._-]", "_", result.document["id"]) or "patient"
        return Response(
            text, media_type="application/yaml", headers={"Content-Disposition": f'attachment; filename="{name}.yaml"'}
        )
    if action != "run":
        return _form_page(request, values, notice="The answers are valid.")
    try:
        job = await _start(request, text, form)
    except InputError as exc:
        return _form_page(request, values, problems=[str(exc)], status=413 if "larger" in str(exc) else 400)
    return page(request, "job.html", status_code=202, job_id=job.id)


async def _save(upload: Any, folder: Path, stem: str, limit: int) -> Path | None:
    """Stream one uploaded file to ``folder/<stem><suffix>`` (our name; only a plain suffix is kept)."""
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    suffix = Path(upload.filename).suffix.lower()
    path = folder / f"{stem}{suffix if _SUFFIX.match(suffix) else ''}"
    size = 0
    with path.open("wb") as fh:
        while chunk := await upload.read(1024 * 1024):
            size += len(chunk)
            if size > limit:
                fh.close()
                path.unlink()
                raise InputError(f"larger than the limit of {limit // 1024**2} MB", path=Path(upload.filename).name)
            fh.write(chunk)
    return path


async def _start(request: Request, patient_text: str, form: Any) -> Job:
    config: ServerConfig = request.app.state.config
    job = request.app.state.jobs.reserve()
    folder = config.data_dir / "uploads" / job.id
    folder.mkdir(mode=0o700)
    (folder / "patient.yaml").write_text(patient_text, encoding="utf-8")
    inputs = {"patient": str(folder / "patient.yaml"), "standard": str(form.get("standard") or "aasm")}
    for key, limit in (
        ("recording", config.max_recording_bytes),
        ("hypnogram", config.max_table_bytes),
        ("events", config.max_table_bytes),
    ):
        saved = await _save(form.get(key), folder, key, limit)
        if saved is not None:
            inputs[key] = str(saved)
    if inputs["standard"] not in ("aasm", "wasm2016"):
        raise InputError("scoring standard must be aasm or wasm2016")
    (folder / "inputs.json").write_text(json.dumps(inputs, sort_keys=True), encoding="utf-8")
    return request.app.state.jobs.start(job, lambda j: _work(config, j, inputs, None))


def _work(config: ServerConfig, job: Job, inputs: dict[str, str], sign_off: dict[str, str] | None) -> int:
    """One triage as ``cds triage`` runs it: run, then log and write the outputs as one transaction
    (cds.pipeline.deliver_triage) into the job's result folder."""
    from cds.pipeline import TriageRequest, deliver_triage, run_triage

    def progress(stage: str, fraction: float) -> None:
        with job.lock:
            job.stage, job.fraction = stage, max(0.0, min(1.0, fraction))

    request = TriageRequest(
        patient_path=Path(inputs["patient"]),
        recording_path=Path(inputs["recording"]) if "recording" in inputs else None,
        hypnogram_path=Path(inputs["hypnogram"]) if "hypnogram" in inputs else None,
        events_path=Path(inputs["events"]) if "events" in inputs else None,
        standard=inputs["standard"],
        sign_off=sign_off,
    )
    folder = config.data_dir / "uploads" / job.id
    try:
        result = run_triage(request, progress=progress)
        out = config.data_dir / "results" / job.id
        # full log: the server shows letters again from the log (/records/N/letter); its data folder is 0700
        _, entry = deliver_triage(result, out, config.log_path, patient_path=request.patient_path, full_log=True)
    except CdsError as exc:  # readable, without the server's folders
        raise type(exc)(str(exc).replace(f"{folder}/", "").replace(str(config.data_dir), "")) from exc
    (out / "patient.yaml").write_bytes(request.patient_path.read_bytes())
    meta = {"record": entry.seq, "inputs": inputs, "sign_off": sign_off}
    (out / "meta.json").write_text(json.dumps(meta, sort_keys=True), encoding="utf-8")
    return int(entry.seq)


def _job_dir(request: Request, job_id: str) -> Path | None:
    config: ServerConfig = request.app.state.config
    if not _JOB_ID.match(job_id):
        return None
    path = config.data_dir / "results" / job_id
    return path if (path / "meta.json").is_file() else None


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: str) -> Response:
    if request.app.state.jobs.get(job_id) is None:
        return page(
            request,
            "message.html",
            status_code=404,
            title="No such job",
            kind="error",
            text="This triage job is not known to the running server.",
            back="/triage/new",
        )
    return page(request, "job.html", job_id=job_id)


@router.get("/jobs/{job_id}/status")
def job_status(request: Request, job_id: str) -> Response:
    job = request.app.state.jobs.get(job_id)
    if job is None:
        return JSONResponse({"detail": "no such job"}, status_code=404)
    return JSONResponse(job.to_dict())


def _missing(request: Request) -> Response:
    return page(
        request,
        "message.html",
        status_code=404,
        title="No such result",
        kind="error",
        text="There is no finished triage with this id.",
        back="/triage/new",
    )


@router.get("/results/{job_id}")
def result_page(request: Request, job_id: str, why_not: dict[str, str] | None = None) -> Response:
    from cds.rules.explain import explain_decision

    folder = _job_dir(request, job_id)
    if folder is None:
        return _missing(request)
    decision = json.loads((folder / "decision.json").read_text(encoding="utf-8"))
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    summary = _summary(decision)
    return page(
        request,
        "result.html",
        job_id=job_id,
        patient_id=decision.get("patient_id") or "unknown",
        summary=summary,
        record=meta.get("record"),
        signed=meta.get("sign_off"),
        conclusions=explain_decision(decision)["conclusions"],
        why_not=why_not,
    )


def _summary(decision: dict[str, Any]) -> list[str]:
    from cds.letter.render import render_letter

    return list(render_letter(decision).view["summary"])


@router.get("/results/{job_id}/why-not")
def why_not(request: Request, job_id: str, rule: str = "") -> Response:
    from cds.rules.explain import explain_rule

    folder = _job_dir(request, job_id)
    if folder is None:
        return _missing(request)
    decision = json.loads((folder / "decision.json").read_text(encoding="utf-8"))
    rule = rule.strip()[:80]
    try:
        report = explain_rule(decision, rule)
    except InputError as exc:
        text = str(exc)
    else:
        if report["fired"]:
            text = f"fired {len(report['firings'])} time(s); it supports " + (
                ", ".join(f"{s['kind']} {s['name']}" for s in report.get("supported") or []) or "nothing shown"
            )
        else:
            text = (
                f"did not fire: the first condition that failed is {report.get('first_failing')} "
                f"(actual value: {report.get('actual')})"
            )
    return result_page(request, job_id, why_not={"rule": rule, "text": text})


@router.get("/results/{job_id}/letter.pdf")
def letter_pdf(request: Request, job_id: str) -> Response:
    from cds.letter.pdf import render_pdf
    from cds.pipeline import check_pdf_available

    folder = _job_dir(request, job_id)
    if folder is None:
        return _missing(request)
    try:
        check_pdf_available()
    except CdsError as exc:
        return page(
            request,
            "message.html",
            status_code=503,
            title="PDF not available",
            kind="error",
            text=str(exc),
            back=f"/results/{job_id}",
        )
    pdf = folder / "letter.pdf"
    if not pdf.is_file():
        pdf.write_bytes(render_pdf((folder / "letter.html").read_text(encoding="utf-8")))
    return FileResponse(pdf, media_type="application/pdf", filename=f"letter-{job_id}.pdf")


@router.get("/results/{job_id}/{name}")
def result_file(request: Request, job_id: str, name: str) -> Response:
    folder = _job_dir(request, job_id)
    if folder is None or name not in _FILES or not (folder / name).is_file():
        return _missing(request)
    headers = {"Content-Security-Policy": LETTER_CSP} if name == "letter.html" else {}
    return FileResponse(folder / name, media_type=_FILES[name], headers=headers)


@router.post("/results/{job_id}/sign")
async def sign(request: Request, job_id: str) -> Response:
    """Sign the letter: the same inputs run again with the signer in the letter (a new logged decision)."""
    folder = _job_dir(request, job_id)
    if folder is None:
        return _missing(request)
    form = await request.form()
    sign_off = {k: " ".join(str(form.get(k) or "").split())[:120] for k in ("name", "role", "date")}
    if not all(sign_off.values()):
        text = "Name, role and date are all needed to sign the letter."
        return page(
            request,
            "message.html",
            status_code=400,
            title="Sign-off incomplete",
            kind="error",
            text=text,
            back=f"/results/{job_id}",
        )
    inputs = json.loads((folder / "meta.json").read_text(encoding="utf-8"))["inputs"]
    config: ServerConfig = request.app.state.config
    job = request.app.state.jobs.reserve()
    (config.data_dir / "uploads" / job.id).mkdir(mode=0o700)
    request.app.state.jobs.start(job, lambda j: _work(config, j, inputs, sign_off))
    return page(request, "job.html", status_code=202, job_id=job.id)

"""Render the triage letter (HTML and Markdown) from a cds.decision/v1 record and the optional analysis.

Jinja2 with StrictUndefined; the HTML environment autoescapes and the Markdown one escapes every value.
Text from a patient file only ever reaches the templates as data, never as template source. The templates
(``templates/letter.html.j2``, ``letter.md.j2``, ``partials/``) only lay out the view built here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from cds.errors import TemplateError
from cds.letter import view_sections as sections
from cds.letter.knowledge import LetterKnowledge, load_letter_knowledge
from cds.paths import templates_dir

log = logging.getLogger(__name__)

__all__ = ["LETTER_TEMPLATES", "RenderedLetter", "build_letter_view", "check_templates", "render_letter"]

LETTER_TEMPLATES = ("letter.html.j2", "letter.md.j2")

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#<>{}])")


@dataclass(frozen=True)
class RenderedLetter:
    """The letter in both formats (text, ready to write) and the view they were rendered from."""

    html: str
    markdown: str
    view: Mapping[str, Any]


def render_letter(
    decision: Mapping[str, Any],
    *,
    analysis: Mapping[str, Any] | None = None,
    knowledge: LetterKnowledge | None = None,
    letter_date: str | None = None,
    template_dir: Path | None = None,
    hypnogram: Mapping[str, Any] | None = None,
    sign_off: Mapping[str, str] | None = None,
) -> RenderedLetter:
    """Render ``decision`` (and ``analysis`` when a recording was scored) as HTML and Markdown letters.

    ``letter_date`` (YYYY-MM-DD) is printed only when given: without it the output has no wall-clock content.
    ``hypnogram`` (stages per epoch) draws the hypnogram in the night figure. ``sign_off`` (``name``, ``role``,
    ``date``) fills the sign-off block; without it the block has empty lines to sign on paper.
    Raises TemplateError naming the template when one is missing or broken.
    """
    from cds.letter.plot import render_night_figure

    knowledge = knowledge or load_letter_knowledge()
    view = build_letter_view(decision, analysis=analysis, knowledge=knowledge, letter_date=letter_date)
    view["sign_off"] = sections.sign_off_view(sign_off)
    figure_svg = render_night_figure(analysis, hypnogram=hypnogram) if analysis else None
    folder = template_dir or templates_dir()
    html = _render(folder, "letter.html.j2", {**view, "figure_svg": figure_svg}, autoescape=True)
    markdown = _render(folder, "letter.md.j2", view, autoescape=False)
    return RenderedLetter(html=html, markdown=markdown, view=view)


def check_templates(template_dir: Path | None = None) -> None:
    """Load (and so compile) both letter templates and their partials: a missing or broken one raises
    TemplateError now, before a long analysis, not after it."""
    folder = template_dir or templates_dir()
    for name in LETTER_TEMPLATES:
        _load(_environment(folder, autoescape=name.endswith(".html.j2")), folder, name)


_ENVIRONMENTS: dict[tuple[str, bool], jinja2.Environment] = {}


def _environment(folder: Path, *, autoescape: bool) -> jinja2.Environment:
    """One Jinja environment per template folder and escaping mode, kept for the process: compiled templates are
    reused, and Jinja's auto_reload still recompiles a template whose file changed."""
    key = (str(Path(folder).resolve()), autoescape)
    env = _ENVIRONMENTS.get(key)
    if env is None:
        env = _ENVIRONMENTS[key] = _new_environment(folder, autoescape=autoescape)
    return env


def _bytecode_cache(*, autoescape: bool) -> jinja2.BytecodeCache | None:
    """Jinja's compiled templates kept in the cache folder (cds.rules.cache.cache_dir), so a triage does not
    compile the letter templates again: Jinja keys each entry by the template's name and the checksum of its source,
    so an edited template is compiled afresh. One folder per escaping mode: the compiled code depends on it."""
    from cds.rules.cache import cache_dir

    base = cache_dir()
    if base is None:
        return None
    folder = base / ("jinja-html" if autoescape else "jinja-md")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:  # a cache that cannot be written is only slower, never an error
        log.info("template cache not used: %s", exc)
        return None
    return jinja2.FileSystemBytecodeCache(str(folder))


def _new_environment(folder: Path, *, autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        bytecode_cache=_bytecode_cache(autoescape=autoescape),
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        finalize=None if autoescape else _md_escape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=True,
    )
    env.filters["md"] = _md_escape
    env.filters["css_string"] = _css_string
    return env


def _load(env: jinja2.Environment, folder: Path, name: str) -> jinja2.Template:
    try:
        template = env.get_template(name)
        for partial in env.list_templates(
            filter_func=lambda n: n.startswith("partials/") and n.endswith((".j2", ".css"))
        ):
            env.get_template(partial)
        return template
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"letter template not found: {exc.name}", path=folder.name + "/" + str(exc.name)) from exc
    except jinja2.TemplateSyntaxError as exc:
        where = f"{exc.lineno}" if exc.lineno else None
        raise TemplateError(f"template syntax error: {exc.message}", path=exc.name or name, location=where) from exc


def _render(folder: Path, name: str, view: Mapping[str, Any], *, autoescape: bool) -> str:
    template = _load(_environment(folder, autoescape=autoescape), folder, name)
    try:
        text = template.render(**view)
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"letter template not found: {exc.name}", path=folder.name + "/" + name) from exc
    except jinja2.TemplateSyntaxError as exc:
        where = f"{exc.lineno}" if exc.lineno else None
        raise TemplateError(f"template syntax error: {exc.message}", path=exc.name or name, location=where) from exc
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"template uses an undefined value: {exc.message}", path=name) from exc
    return text.rstrip("\n") + "\n"


def _css_string(value: Any) -> Markup:
    """``value`` as a quoted CSS string in which every character but letters, digits, space and ``-_.`` is a hex
    escape: safe inside a ``<style>`` element (no quote, backslash, ``<`` or ``&`` survives as itself)."""
    out = []
    for ch in str(value):
        out.append(ch if ch.isascii() and (ch.isalnum() or ch in " -_.") else f"\\{ord(ch):06x}")
    return Markup('"' + "".join(out) + '"')


def _md_escape(value: Any) -> str:
    """Escape Markdown and HTML syntax in a value so it is shown literally by any Markdown viewer."""
    if isinstance(value, jinja2.runtime.Undefined):
        return str(value)
    text = "" if value is None else str(value)
    return _MD_SPECIAL.sub(r"\\\1", text).replace("\n", " ")


class _Provenance:
    """Rule ids with the versions that fired (from the trace) and the reference keys in order of first use."""

    def __init__(self, decision: Mapping[str, Any]) -> None:
        self.versions = {str(t.get("rule")): t.get("version") for t in decision.get("trace") or []}
        self.used_refs: list[str] = []

    def rules(self, ids: Any) -> list[dict[str, Any]]:
        return [{"id": str(r), "version": self.versions.get(str(r))} for r in ids or []]

    def refs(self, keys: Any) -> list[str]:
        for key in keys or []:
            if str(key) not in self.used_refs:
                self.used_refs.append(str(key))
        return [str(k) for k in keys or []]


def build_letter_view(
    decision: Mapping[str, Any],
    *,
    analysis: Mapping[str, Any] | None,
    knowledge: LetterKnowledge,
    letter_date: str | None = None,
) -> dict[str, Any]:
    """Turn the decision into plain data for the templates: labels resolved, rules with versions, citations."""
    prov = _Provenance(decision)
    recommendations = _recommendation_views(decision, knowledge, prov)
    medications = _medication_views(decision, knowledge, prov)
    conclusion = _conclusion_view(decision, knowledge)
    findings = [
        {
            "code": f["code"],
            "label": knowledge.label("findings", f["code"]),
            "because": list(f.get("because") or []),
            "rules": prov.rules(f.get("rules") or ([f["rule"]] if f.get("rule") else [])),
            "references": prov.refs(f.get("references")),
        }
        for f in decision.get("findings") or []
    ]
    treatments = _treatment_views(decision, knowledge, prov)
    for entry in decision.get("trace") or []:
        prov.refs([r.get("key") if isinstance(r, Mapping) else r for r in entry.get("references") or []])
    inputs = decision.get("inputs") or {}
    main = [t for t in treatments if _matters(t)]
    background = [str(k) for k in decision.get("background_references") or [] if str(k) not in prov.used_refs]
    return {
        "patient_id": str(decision.get("patient_id") or "unknown"),
        "patient_line": _patient_line(decision, knowledge),
        "patient_age": sections.age_text(sections.fact_value(decision, "age_years"), knowledge),
        "patient_sex": str(sections.fact_value(decision, "sex") or "not given"),
        "letter_date": letter_date,
        "summary": sections.summary_sentences(
            recommendations, findings, treatments, conclusion=conclusion, medications=medications
        ),
        "conclusion": conclusion,
        "branches": _branch_views(decision, knowledge),
        "medications": medications,
        "findings": findings,
        "measurements": sections.measurement_rows(decision.get("measurements") or {}, knowledge),
        "recording": sections.recording_view(analysis, inputs.get("recording")),
        "caveats": sections.caveat_texts(decision, analysis),
        "recommendations": recommendations,
        # The treatment table holds the rows that matter to this patient (options, cautions, specialist decisions,
        # the drug asked about, current drugs, contraindicated drugs a prescriber might reach for); the rest goes
        # to a compact appendix (clinical review 2: a letter a physician can act on).
        "treatments": main,
        "restrictions": [t for t in treatments if t not in main],
        "asks": [_ask_view(a, knowledge, prov.rules) for a in decision.get("asks") or []],
        "limits": sections.limit_texts(analysis, decision),
        "references": [{"key": k, "citation": knowledge.citation(k)} for k in prov.used_refs],
        "background": [{"key": k, "citation": knowledge.citation(k)} for k in background],
        "footer": sections.footer_view(inputs, decision.get("record")),
    }


def _recommendation_views(
    decision: Mapping[str, Any], knowledge: LetterKnowledge, prov: _Provenance
) -> list[dict[str, Any]]:
    """Recommendations, most urgent first, each with its reasons, the input facts of its chain, rules, refs."""
    basis = _basis_finder(decision, knowledge)
    views = []
    for r in decision.get("recommendations") or []:
        urgency = r.get("urgency") or "routine"
        views.append(
            {
                "action": r["action"],
                "label": knowledge.label("actions", r["action"]),
                "urgency": urgency,
                "urgency_label": knowledge.label("urgencies", urgency),
                "interval": knowledge.interval(urgency),
                "consolidated_from": [knowledge.label("actions", a) for a in r.get("consolidated_from") or []],
                "extended_eeg": bool(r.get("extended_eeg")),
                "because": list(r.get("because") or []),
                "basis": basis("recommendation", r["action"]),
                "rules": prov.rules(r.get("rules")),
                "references": prov.refs(r.get("references")),
            }
        )
    return sorted(views, key=lambda v: _first_step_key(v, knowledge))


def _treatment_views(decision: Mapping[str, Any], knowledge: LetterKnowledge, prov: _Provenance) -> list[dict]:
    """Every drug the record discusses: status, reasons, dose (knowledge), notes, rules, refs; ordered for reading."""
    views = [
        {
            "drug": t["drug"],
            "label": str(t.get("name") or knowledge.drug_label(t["drug"])),
            "status": t["status"],
            "status_label": knowledge.label("treatment_statuses", t["status"]),
            "reasons": [knowledge.label("reasons", str(x)) for x in t.get("reasons") or []],
            "notes": [str(n) for n in t.get("notes") or []],
            "because": [str(b) for b in t.get("because") or []],
            "dose": t.get("dose") if "current" in t else (t.get("dose") or knowledge.drug_dose(t["drug"])),
            "rules": prov.rules(t.get("rules")),
            "references": prov.refs(t.get("references")),
            # decision-v1 addition: False when only a safety rule restricts a drug nobody proposed
            "discussed": bool(t.get("discussed", True)),
            "current": bool(t.get("current", False)),
            "seed": bool((knowledge.drugs.get(t["drug"]) or {}).get("seed")),
            "strength": [knowledge.label("strengths", str(x)) for x in t.get("strength") or []],
        }
        for t in decision.get("treatments") or []
    ]
    return sections.order_treatments(views, sections.fact_value(decision, "requested_treatment"))


def _first_step_key(view: Mapping[str, Any], knowledge: LetterKnowledge) -> tuple[int, int]:
    """Most urgent first, ties in the policy's action order (the same order the decision's conclusion uses)."""
    policy = knowledge.policy
    if policy is None:
        order = ("emergency", "urgent", "soon", "routine")
        return (order.index(view["urgency"]) if view["urgency"] in order else 9, 0)
    return policy.first_step_key(view["action"], view["urgency"])


def _matters(t: Mapping[str, Any]) -> bool:
    """A treatment row for the main table: may be given or needs a specialist, asked about, already taken, or
    contraindicated for a drug a prescriber might reach for (proposed for the indication, or a seed drug)."""
    if t["requested"] or t["current"]:
        return True
    if t["status"] in ("option", "caution", "specialist_only"):
        return t["discussed"]  # a bare safety restriction of a drug nobody proposed belongs to the appendix
    return t["status"] == "contraindicated" and (t["discussed"] or t["seed"])


def _patient_line(decision: Mapping[str, Any], knowledge: LetterKnowledge) -> str:
    """``P-0042 (pseudonym), 46 years, male``: the letter's header line for the patient."""
    parts = [f"{decision.get('patient_id') or 'unknown'} (pseudonym)"]
    age = sections.fact_value(decision, "age_years")
    if age is not None:
        parts.append(sections.age_text(age, knowledge))
    sex = sections.fact_value(decision, "sex")
    if sex:
        parts.append(str(sex))
    return ", ".join(parts)


def _conclusion_view(decision: Mapping[str, Any], knowledge: LetterKnowledge) -> dict[str, Any] | None:
    c = decision.get("conclusion")
    if not c:
        return None
    view = dict(c)
    view["label"] = knowledge.label("actions", str(c["action"]))
    view["pathway_label"] = knowledge.label("pathways", str(c.get("pathway") or ""), fallback=str(c.get("pathway")))
    if c.get("otherwise"):
        o = c["otherwise"]
        view["otherwise"] = {**o, "label": knowledge.label("actions", str(o["action"]))}
    return view


def _branch_views(decision: Mapping[str, Any], knowledge: LetterKnowledge) -> list[dict[str, Any]]:
    """Each open question whose answer would change what to do first, with what it would change to."""
    return [
        {
            "question": str(b.get("question") or b.get("field")),
            "answer": "yes" if b.get("if", True) else "no",
            "label": knowledge.label("actions", str(b["action"])),
            "interval": str(b.get("interval") or knowledge.interval(str(b["urgency"]))),
        }
        for b in decision.get("branches") or []
    ]


def _medication_views(decision: Mapping[str, Any], knowledge: LetterKnowledge, prov: _Provenance) -> list[dict]:
    """What to do with each drug the patient already takes: the action, why, how, and its provenance."""
    views = []
    for m in decision.get("current_medications") or []:
        details = m.get("details") or {}
        views.append(
            {
                "drug": m["drug"],
                "label": str(m.get("name") or knowledge.drug_label(m["drug"])),
                "action": m["action"],
                "action_label": knowledge.label("medication_actions", m["action"]),
                "reasons": [knowledge.label("reasons", str(x)) for x in m.get("reasons") or []],
                "how": [str(h) for h in m.get("how") or []],
                "notes": [str(n) for n in m.get("notes") or []],
                "likely_cause": bool(m.get("likely_cause")),
                "recently_started": bool(m.get("recently_started")),
                "dose": f"{details['dose_mg_per_day']} mg/day" if details.get("dose_mg_per_day") is not None else "",
                "rules": prov.rules(m.get("rules")),
                "references": prov.refs(m.get("references")),
            }
        )
    return views


def _basis_finder(decision: Mapping[str, Any], knowledge: LetterKnowledge) -> Any:
    """A function (kind, name) -> the input facts behind that conclusion, following its chain in the trace."""
    from cds.rules.explain import explain_decision

    chains = {(c["kind"], c["name"]): c["chain"] for c in explain_decision(decision)["conclusions"]}

    def basis(kind: str, name: str) -> list[str]:
        out: list[str] = []
        for step in chains.get((kind, name), []):
            for fact in step.get("facts") or []:
                if fact.get("type") != "datum" or not fact.get("field"):
                    continue
                text = sections.fact_text(fact, knowledge)
                if text not in out:
                    out.append(text)
        return out

    return basis


def _ask_view(ask: Mapping[str, Any], knowledge: LetterKnowledge, rules: Any) -> dict[str, Any]:
    field = str(ask.get("field") or "")
    label = knowledge.label("fields", field)
    if len(label) > 60 or ":" in label:  # a long description is no heading: use the field's name
        label = knowledge.label("none", field.rsplit(".", 1)[-1])
    return {"field": field, "label": label, "text": ask.get("text") or "", "rules": rules(ask.get("rules"))}

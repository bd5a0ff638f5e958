"""Rule provenance (``cds rules list|show``) and the rule book (``cds rules book``): design notes, section 7.

Each rule is described from its file: id, version, status, authors, last review, references with their full
citation from knowledge/references.yaml and evidence grade, file and line, content hash, and its conditions
in plain language. The book renders every rule, grouped by layer, as HTML (Jinja, autoescaped) and Markdown,
with the scenarios and inline tests that cover it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined

from cds.authoring.check import LAYER_FOLDERS, read_rule_docs
from cds.errors import RuleFileError
from cds.files import write_atomic
from cds.kb import fill_thresholds, read_raw, read_thresholds, read_vocab
from cds.paths import knowledge_dir, rules_dir

__all__ = [
    "Citation",
    "ConditionLine",
    "RuleInfo",
    "condition_lines",
    "describe_rules",
    "find_rule",
    "render_book",
    "scenario_cover",
]

log = logging.getLogger(__name__)

_OPS = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}
_SOURCES = {"patient": "from the patient file", "reported": "as reported", "recording": "measured from the recording"}


@dataclass(frozen=True)
class Citation:
    """A reference of a rule: key, section and grade from the rule; citation, year, DOI, URL from knowledge/."""

    key: str
    section: str | None
    grade: str | None
    citation: str | None
    year: int | None = None
    doi: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class ConditionLine:
    """One line of a rule's conditions in plain language, indented by ``depth``."""

    depth: int
    text: str


@dataclass(frozen=True)
class RuleInfo:
    """Provenance and content of one rule file."""

    id: str
    title: str
    version: int | None
    status: str | None
    layer: str | None
    authors: tuple[str, ...]
    reviewed: str | None
    references: tuple[Citation, ...]
    path: str
    line: int
    sha256: str
    rationale: str | None = None
    because: str | None = None
    conditions: tuple[ConditionLine, ...] = ()
    conclusions: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    effective: str | None = None
    expires: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "data"}
        out["references"] = [c.__dict__ for c in self.references]
        out["conditions"] = [f"{'  ' * c.depth}{c.text}" for c in self.conditions]
        return out


_INTERVAL = re.compile(r"\{interval:([a-z_]+)\}")


class _Vocabulary:
    """What the plain-language renderer needs from knowledge/: field descriptions and units, labels, thresholds."""

    def __init__(self, knowledge: Path) -> None:
        self.fields = read_raw(knowledge, "fields.yaml")
        self.vocab = read_vocab(knowledge)
        self.thresholds = read_thresholds(knowledge)
        self.references = read_raw(knowledge, "references.yaml")
        try:
            from cds.policy import Policy

            policy = Policy.from_data(read_raw(knowledge, "policy.yaml"))
            self.intervals = {tier.code: tier.interval for tier in policy.urgencies}
        except (KeyError, TypeError, ValueError, AttributeError):  # the knowledge loader reports a bad policy
            self.intervals = {}

    def fill(self, text: str) -> str:
        """Prose as people read it: ``{threshold:NAME}`` -> the threshold's value (cds.kb.fill_thresholds, as the
        letter writes it) and ``{interval:URGENCY}`` -> the policy's time frame for that urgency."""
        text = fill_thresholds(text, self.thresholds)
        return _INTERVAL.sub(lambda m: self.intervals.get(m.group(1), m.group(0)), text) if "{" in text else text

    def field_text(self, name: str) -> tuple[str, str]:
        spec = self.fields.get(name)
        if isinstance(spec, Mapping):
            return str(spec.get("description") or name), str(spec.get("unit") or "")
        return name.replace("_", " ").replace(".", ": "), ""

    def label(self, section: str, code: str) -> str:
        entries = self.vocab.get(section)
        label = entries.get(code) if isinstance(entries, Mapping) else None
        return f"{label} ({code})" if isinstance(label, str) else code

    def operand(self, value: Any, unit: str) -> str:
        suffix = f" {unit}" if unit else ""
        if isinstance(value, Mapping) and "threshold" in value:
            name = value["threshold"]
            entry = self.thresholds.get(name)
            number = entry.get("value") if isinstance(entry, Mapping) else "?"
            return f"{number}{suffix} (threshold {name})"
        return f"{value}{suffix}"


def _atom_text(node: Mapping[str, Any], words: _Vocabulary) -> str:
    for kind, section in (("evidence", "evidence"), ("finding", "findings"), ("recommendation", "actions")):
        if kind in node:
            return f"{kind}: {words.label(section, str(node[kind]))}"
    name = str(node.get("field"))
    text, unit = words.field_text(name)
    source = f" ({_SOURCES.get(str(node['source']), node['source'])})" if node.get("source") else ""
    for op, sign in _OPS.items():
        if op in node:
            return f"{text} {sign} {words.operand(node[op], unit)}{source}"
    if "between" in node and isinstance(node["between"], list) and len(node["between"]) == 2:
        low, high = (words.operand(v, unit) for v in node["between"])
        return f"{text} from {low} to below {high}{source}"
    if "eq" in node:
        return f"{text} is {node['eq']}{source}"
    if "in" in node:
        return f"{text} is one of {', '.join(map(str, node['in']))}{source}"
    state = node.get("is")
    phrase = {True: "yes", False: "no (asked and absent)", "unknown": "not known", "known": "known"}.get(state, state)
    return f"{text}: {phrase}{source}"


def condition_lines(node: Any, words: _Vocabulary, depth: int = 0) -> list[ConditionLine]:
    """A ``when`` tree as indented plain-language lines (``all of`` / ``any of`` / ``none of``)."""
    if not isinstance(node, Mapping):
        return [ConditionLine(depth, str(node))]
    for key, head in (("all", "all of:"), ("any", "any of:")):
        if isinstance(node.get(key), list):
            lines = [ConditionLine(depth, head)]
            for child in node[key]:
                lines += condition_lines(child, words, depth + 1)
            return lines
    if "not" in node:
        inner = condition_lines(node["not"], words, depth + 1)
        if len(inner) == 1:
            return [ConditionLine(depth, f"NOT {inner[0].text}")]
        return [ConditionLine(depth, "NOT:"), *inner]
    return [ConditionLine(depth, _atom_text(node, words))]


def _conclusion_text(action: Mapping[str, Any], words: _Vocabulary) -> str:
    if "recommend" in action:
        extra = ", extended EEG" if action.get("extended_eeg") else ""
        return f"recommend {words.label('actions', str(action['recommend']))}: {action.get('urgency')}{extra}"
    for kind in ("evidence", "finding", "caveat", "ask"):
        if kind in action:
            text = f": {action['text']}" if action.get("text") else ""
            return f"{kind} {action[kind]}{text}"
    drugs = action.get("treatments", action.get("treatment"))
    if isinstance(drugs, Mapping):
        drugs = f"group {drugs.get('group')}"
    elif isinstance(drugs, list):
        drugs = ", ".join(map(str, drugs))
    reason = f" (reason: {words.label('reasons', str(action['reason']))})" if action.get("reason") else ""
    note = f"; {action['note']}" if action.get("note") else ""
    return f"treatment {drugs}: {action.get('status')}{reason}{note}"


def _citations(refs: Any, words: _Vocabulary) -> tuple[Citation, ...]:
    out = []
    for ref in refs if isinstance(refs, list) else []:
        if not isinstance(ref, Mapping):
            continue
        key = str(ref.get("key"))
        entry = words.references.get(key)
        entry = entry if isinstance(entry, Mapping) else {}
        out.append(
            Citation(
                key,
                ref.get("section"),
                _text(ref.get("grade")),
                entry.get("citation") or None,
                entry.get("year"),
                entry.get("doi"),
                entry.get("url"),
            )
        )
    return tuple(out)


def _test_text(case: Mapping[str, Any]) -> str:
    fires = (case.get("expect") or {}).get("fires")
    return f"{case.get('name')}: {'fires' if fires else 'does not fire'}{' (todo)' if case.get('todo') else ''}"


def _derivation(derived: Mapping[str, Any]) -> str:
    """``plms_index_adult_per_h minus plms_index_variability_band_per_h``: how a derived threshold is computed."""
    op = next((k for k in derived if k != "from"), "")
    return f"{derived.get('from')} {op.replace('_', ' ')} {derived.get(op)}"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _filled(value: Any, words: _Vocabulary) -> str | None:
    """A title or rationale as people read it (``_Vocabulary.fill``), so the book follows knowledge/."""
    text = _text(value)
    return None if text is None else words.fill(text)


def describe_rules(rules: Path | None = None, knowledge: Path | None = None) -> list[RuleInfo]:
    """Every readable rule file, sorted by layer then id (unreadable files are left to ``rules check``)."""
    rules, knowledge = Path(rules or rules_dir()), Path(knowledge or knowledge_dir())
    words = _Vocabulary(knowledge)
    infos = []
    for doc in read_rule_docs(rules, []):
        data = doc.data
        then = data.get("then")
        actions = [then] if isinstance(then, Mapping) else [a for a in then or [] if isinstance(a, Mapping)]
        tests = data.get("tests") if isinstance(data.get("tests"), list) else []
        authors = data.get("authors") if isinstance(data.get("authors"), list) else []
        infos.append(
            RuleInfo(
                id=str(data.get("id", doc.path.stem)),
                title=words.fill(str(data.get("title", ""))),
                version=data.get("version") if isinstance(data.get("version"), int) else None,
                status=_text(data.get("status")),
                layer=_text(data.get("layer")),
                authors=tuple(str(a) for a in authors),
                reviewed=_text(data.get("reviewed")),
                references=_citations(data.get("references"), words),
                path=doc.shown,
                line=doc.where("id")[0] or 1,
                sha256=hashlib.sha256(doc.path.read_bytes()).hexdigest(),
                rationale=_filled(data.get("rationale"), words),
                because=_text(data.get("because")),
                conditions=tuple(condition_lines(data.get("when"), words)),
                conclusions=tuple(words.fill(_conclusion_text(a, words)) for a in actions),
                tests=tuple(_test_text(t) for t in tests if isinstance(t, Mapping)),
                effective=_text(data.get("effective")),
                expires=_text(data.get("expires")),
                data=data,
            )
        )
    order = {layer: i for i, layer in enumerate(LAYER_FOLDERS.values())}
    return sorted(infos, key=lambda r: (order.get(r.layer or "", 99), r.id))


def find_rule(rule_id: str, rules: Path | None = None, knowledge: Path | None = None) -> RuleInfo:
    """The rule with this id; RuleFileError with the closest ids when there is none."""
    infos = describe_rules(rules, knowledge)
    for info in infos:
        if info.id == rule_id:
            return info
    close = sorted((i.id for i in infos if rule_id.upper().split("-")[0] in i.id), key=len)[:5]
    hint = f"did you mean {', '.join(close)}?" if close else "see `cds rules list`"
    raise RuleFileError(f"no rule with id {rule_id!r}", path=rules or rules_dir(), hint=hint)


def scenario_cover(rules: Path | None = None, knowledge: Path | None = None) -> dict[str, list[str]]:
    """Rule id -> the scenario cases in which it fires (empty when the rule base does not load)."""
    from cds.authoring.coverage import scenario_views
    from cds.rules.engine import load_rulebase

    rules = Path(rules or rules_dir())
    try:
        rulebase = load_rulebase(rules, knowledge or knowledge_dir())
    except RuleFileError as exc:
        log.warning("rule book without scenario coverage: the rule base does not load (%s)", exc)
        return {}
    covered: dict[str, list[str]] = {}
    for label, _view, fired in scenario_views(rulebase, rules):
        for rule_id in fired:
            covered.setdefault(rule_id, []).append(label)
    return covered


_MD = """\
# Rule book{% if version %} — rule set {{ version }}{% endif %}

{{ rules|length }} rules. Generated by `cds rules book`; do not edit.
{% if front %}
- rule-set sha256: `{{ front.sha256 or 'unknown' }}`
- release: {{ front.release_text }}

## Summary

| layer | active | deprecated | draft | retired |
|---|---|---|---|---|
{% for row in front.summary %}| {{ row.layer }} | {{ row.active }} | {{ row.deprecated }} | {{ row.draft }} | {{ row.retired }} |
{% endfor %}
## Thresholds

| name | value | unit | references |
|---|---|---|---|---|
{% for t in front.thresholds %}| {{ t.name }} | {{ t.value }} | {{ t.unit }} | {{ t.references }} |
{% endfor %}
## Grading legend

{% for g in front.grades %}- **{{ g.code }}**: {{ g.text }}
{% endfor %}
## Changes since the last release

{{ front.changes_text }}

## Sign-off

- Approved by: {{ front.approver or '(name, role)' }}
- Date: {{ front.date or '(date)' }}
- Signature: {{ '(signed release record, key ' ~ front.key_id ~ ')' if front.key_id else '(signature)' }}
{% endif %}{% for layer, members in layers %}
## Layer: {{ layer }} ({{ members|length }})
{% for r in members %}
### {{ r.id }} — {{ r.title }}

- version {{ r.version }}, {{ r.status }}; authors: {{ r.authors|join(', ') or 'none' }}; reviewed {{ r.reviewed or 'never' }}{% if r.effective %}; effective {{ r.effective }}{% endif %}{% if r.expires %}; expires {{ r.expires }}{% endif %}
- file `{{ r.path }}:{{ r.line }}`, sha256 `{{ r.sha256[:16] }}…`

**When**

{% for c in r.conditions %}{{ '  ' * c.depth }}- {{ c.text }}
{% endfor %}
**Then**

{% for c in r.conclusions %}- {{ c }}
{% endfor %}{% if r.rationale %}
**Rationale.** {{ r.rationale }}
{% endif %}
**References**

{% for c in r.references %}- {{ c.key }}{% if c.section %}, {{ c.section }}{% endif %} (grade {{ c.grade or '?' }}): {{ c.citation or 'unknown reference' }}{% if c.doi %} doi:{{ c.doi }}{% endif %}
{% endfor %}
**Covered by:** {{ covered.get(r.id) or 'no scenario' }}. Inline tests: {{ r.tests|length }}.
{% endfor %}{% endfor %}"""  # noqa: E501

_HTML = """\
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Rule book{% if version %} {{ version }}{% endif %}</title>
<style>body{font-family:sans-serif;max-width:60em;margin:auto}section.rule{border-top:1px solid #ccc}
code{font-size:90%}.status-draft{color:#a60}.status-retired{color:#888}.status-deprecated{color:#a60}</style></head><body>
<h1>Rule book{% if version %} — rule set {{ version }}{% endif %}</h1>
<p>{{ rules|length }} rules.</p>
{% if front %}<p>rule-set sha256 <code>{{ front.sha256 or 'unknown' }}</code>; {{ front.release_text }}</p>
<h2>Summary</h2><table><tr><th>layer</th><th>active</th><th>deprecated</th><th>draft</th><th>retired</th></tr>
{% for row in front.summary %}<tr><td>{{ row.layer }}</td><td>{{ row.active }}</td><td>{{ row.deprecated }}</td><td>{{ row.draft }}</td><td>{{ row.retired }}</td></tr>{% endfor %}</table>
<h2>Thresholds</h2><table><tr><th>name</th><th>value</th><th>unit</th><th>references</th></tr>
{% for t in front.thresholds %}<tr><td>{{ t.name }}</td><td>{{ t.value }}</td><td>{{ t.unit }}</td><td>{{ t.references }}</td></tr>{% endfor %}</table>
<h2>Grading legend</h2><ul>{% for g in front.grades %}<li><b>{{ g.code }}</b>: {{ g.text }}</li>{% endfor %}</ul>
<h2>Changes since the last release</h2><p>{{ front.changes_text }}</p>
<h2>Sign-off</h2><p>Approved by: {{ front.approver or '(name, role)' }}<br>Date: {{ front.date or '(date)' }}<br>
Signature: {{ '(signed release record, key ' ~ front.key_id ~ ')' if front.key_id else '(signature)' }}</p>{% endif %}
<nav><ul>{% for layer, members in layers %}<li><a href="#layer-{{ layer }}">{{ layer }}</a> ({{ members|length }})</li>{% endfor %}</ul></nav>
{% for layer, members in layers %}<h2 id="layer-{{ layer }}">Layer: {{ layer }}</h2>
{% for r in members %}<section class="rule status-{{ r.status }}" id="{{ r.id }}">
<h3>{{ r.id }} — {{ r.title }}</h3>
<p>version {{ r.version }}, {{ r.status }}; authors: {{ r.authors|join(', ') or 'none' }}; reviewed {{ r.reviewed or 'never' }}{% if r.effective %}; effective {{ r.effective }}{% endif %}{% if r.expires %}; expires {{ r.expires }}{% endif %}<br>
file <code>{{ r.path }}:{{ r.line }}</code>, sha256 <code>{{ r.sha256 }}</code></p>
<h4>When</h4><ul>{% for c in r.conditions %}<li style="margin-left:{{ c.depth * 1.5 }}em">{{ c.text }}</li>{% endfor %}</ul>
<h4>Then</h4><ul>{% for c in r.conclusions %}<li>{{ c }}</li>{% endfor %}</ul>
{% if r.rationale %}<p><b>Rationale.</b> {{ r.rationale }}</p>{% endif %}
<h4>References</h4><ul>{% for c in r.references %}<li>{{ c.key }}{% if c.section %}, {{ c.section }}{% endif %} (grade {{ c.grade or '?' }}): {{ c.citation or 'unknown reference' }}{% if c.doi %} <a href="https://doi.org/{{ c.doi }}">doi:{{ c.doi }}</a>{% endif %}</li>{% endfor %}</ul>
<p><b>Covered by:</b> {{ covered.get(r.id) or 'no scenario' }}. Inline tests: {{ r.tests|length }}.</p>
</section>
{% endfor %}{% endfor %}</body></html>
"""  # noqa: E501


def _shorten(labels: list[str], keep: int = 8) -> str:
    """At most ``keep`` scenario cases by name, then how many more."""
    more = f"; and {len(labels) - keep} more" if len(labels) > keep else ""
    return "; ".join(labels[:keep]) + more


GRADES = {
    "C": "confirmed in stored primary or authoritative material (guideline, label text, primary study)",
    "S": "seen only in secondary material; plausible, to be verified against the primary text",
    "M": "from the authors' knowledge of the literature, not found in stored material; to be verified",
    "D": "a design choice of this tool, not a claim from a source",
}


def front_matter(rules: Path, knowledge: Path) -> dict[str, Any]:
    """The book's first pages for a review board (issue 11): rule-set hash and release, rules per layer and
    status, every threshold, the grading legend, the changes since the last release and the sign-off block."""
    from cds.authoring.release import latest_release
    from cds.rules.manifest import ruleset_stamp

    stamp = ruleset_stamp(rules, knowledge)
    found = latest_release(rules)
    release = found[0] if found is not None else None
    current = release is not None and release.get("sha256") == stamp.get("sha256")
    if release is None:
        release_text = f"unreleased (manifest version {stamp.get('version') or 'none'}; no signed release record)"
    elif current:
        release_text = f"release {release['version']}, approved by {release['approver']} on {release['date']}"
    else:
        release_text = f"UNRELEASED: the files differ from release {release['version']} ({release['date']})"
    counts: dict[str, dict[str, int]] = {}
    for doc in read_rule_docs(rules, []):
        layer = str(doc.data.get("layer") or "unknown")
        status = str(doc.data.get("status") or "active")
        counts.setdefault(layer, {"active": 0, "deprecated": 0, "draft": 0, "retired": 0})
        counts[layer][status] = counts[layer].get(status, 0) + 1
    order = list(LAYER_FOLDERS.values())
    summary = [{"layer": k, **v} for k, v in sorted(counts.items(), key=lambda kv: ([*order, kv[0]]).index(kv[0]))]
    thresholds = [
        {
            "name": name,
            "value": entry.get("value")
            if not isinstance(entry.get("derived"), Mapping)
            else f"{entry.get('value')} (= {_derivation(entry['derived'])})",
            "unit": entry.get("unit") or "",
            "references": ", ".join(entry.get("references") or []),
        }
        for name, entry in sorted(read_thresholds(knowledge).items())
        if isinstance(entry, Mapping)
    ]
    if release is None:
        changes_text = "no earlier release"
    else:
        c = release.get("changes") or {}
        parts = [
            f"added: {', '.join(c.get('added') or []) or 'none'}",
            "changed: "
            + (", ".join(f"{x['rule']} v{x['from']}->v{x['to']}" for x in c.get("changed") or []) or "none"),
            f"removed: {', '.join(c.get('removed') or []) or 'none'}",
        ]
        since = (release.get("previous") or {}).get("version") or "the first release"
        changes_text = f"release {release['version']} against {since}: " + "; ".join(parts)
        if not current:
            changes_text += " (and the files have changed since that release)"
    return {
        "sha256": stamp.get("sha256"),
        "release_text": release_text,
        "summary": summary,
        "thresholds": thresholds,
        "grades": [{"code": k, "text": v} for k, v in GRADES.items()],
        "changes_text": changes_text,
        "approver": release.get("approver") if current and release else None,
        "date": release.get("date") if current and release else None,
        "key_id": release.get("key_id") if current and release else None,
    }


def render_book(
    infos: Sequence[RuleInfo],
    out_dir: Path,
    *,
    covered: Mapping[str, Sequence[str]] | None = None,
    version: str | None = None,
    front: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write ``rulebook.html`` (autoescaped) and ``rulebook.md`` into ``out_dir``; return their paths."""
    layers: dict[str, list[RuleInfo]] = {}
    for info in infos:
        layers.setdefault(info.layer or "unknown", []).append(info)
    cover_text = {rid: _shorten(list(labels)) for rid, labels in (covered or {}).items()}
    context = {
        "rules": infos,
        "layers": list(layers.items()),
        "covered": cover_text,
        "version": version,
        "front": front,
    }
    written = []
    for name, source, autoescape in (("rulebook.html", _HTML, True), ("rulebook.md", _MD, False)):
        env = Environment(autoescape=autoescape, undefined=StrictUndefined, keep_trailing_newline=True)
        text = env.from_string(source).render(**context)
        path = Path(out_dir) / name
        write_atomic(path, text)
        written.append(path)
    log.info("rule book: %d rules written to %s", len(infos), out_dir)
    return written

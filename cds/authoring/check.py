"""``cds rules check``: every problem of the rule base, each with file, line and column (design notes, section 6.1).

On top of what the loader validates (schema, fields, vocabularies, types, reference keys), this module finds:
rules that can never fire (contradictory conditions by interval arithmetic, derived facts no rule asserts),
conflicting conclusions with no precedence between them, active rules without tests, a missing review date or
author, a rule file whose ``layer:`` is not its folder, duplicate ids, and a rule changed without a version
bump (its file hash differs from the manifest's hash for the same version). All problems are collected.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from cds.authoring.intervals import atoms_of, can_hold_together, find_dead_branches
from cds.errors import RuleFileError
from cds.kb import expand_groups, read_raw, read_thresholds
from cds.paths import knowledge_dir, rules_dir
from cds.rules.governance import date_problems
from cds.rules.load import rule_files
from cds.rules.manifest import MANIFEST_NAME, read_manifest, rule_stamp_of, scan_ruleset
from cds.rules.schema import IN_FORCE
from cds.yamlfile import bad_date, load_yaml, locate

__all__ = ["CheckReport", "Problem", "RuleDoc", "check_ruleset", "find_version_problems", "read_rule_docs"]

log = logging.getLogger(__name__)

LAYER_FOLDERS = {
    "1-evidence": "evidence",
    "2-findings": "findings",
    "3-triage": "triage",
    "4-treatment": "treatment",
    "5-safety": "safety",
}
_ASSERTS = {"evidence": "evidence", "finding": "finding", "recommend": "recommendation"}


@dataclass(frozen=True)
class Problem:
    """One finding of ``rules check``: ``file:line:col: CODE message``. Errors fail the check, warnings do not."""

    path: str
    line: int | None
    col: int | None
    code: str
    message: str

    @property
    def is_error(self) -> bool:
        return self.code.startswith("E")

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.path, self.line, self.col) if p is not None)
        return f"{where}: {self.code} {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class CheckReport:
    """Every problem found, sorted by file and position, and how many rule files were checked."""

    problems: tuple[Problem, ...]
    rules_checked: int
    # (Knowledge, RuleSet) as the engine's loader read them when it found no problem: `rules check` compiles its
    # bundle from these instead of validating the same files a second time (cds.rules.bundle.build_bundle)
    validated: tuple[Any, Any] | None = field(default=None, compare=False, repr=False)
    # pairs of rule files whose conditions were too complex to tell whether they can fire together: their
    # conclusions were not compared for conflicts (E401, E404, W402); `rules check` names them
    uncompared: tuple[tuple[str, ...], ...] = ()

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.is_error)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class RuleDoc:
    """A rule file as read (ruamel round-trip data keeps line/column), with its path relative to the base."""

    path: Path
    shown: str
    data: Any

    def where(self, *keys: str | int) -> tuple[int | None, int | None]:
        """1-based line and column of the key path ``keys`` (or of the nearest parent found)."""
        node, found = self.data, (1, 1)
        for key in keys:
            lc = getattr(node, "lc", None)
            if lc is None:
                break
            try:
                if isinstance(key, int):
                    line, col = lc.item(key)
                else:
                    line, col = lc.key(key)
                node = node[key]
            except (KeyError, IndexError, TypeError, AttributeError):
                break
            found = (line + 1, col + 1)
        return found


def _problem(doc: RuleDoc, where: tuple[int | None, int | None], code: str, message: str) -> Problem:
    return Problem(doc.shown, where[0], where[1], code, message)


def read_rule_docs(rules: Path, problems: list[Problem], parsed: Mapping[Path, Any] | None = None) -> list[RuleDoc]:
    """Read every rule file strictly (duplicate keys are errors); unreadable files become E100 problems.
    ``parsed`` maps paths to ruamel documents the loader already read (they are not read twice)."""
    parsed = parsed or {}
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    docs = []
    for path in rule_files(rules) if rules.is_dir() else []:  # the loader's own discovery (misplaced: its errors)
        shown = f"rules/{path.relative_to(rules).as_posix()}"
        if path in parsed:
            docs.append(RuleDoc(path, shown, parsed[path]))
            continue
        try:
            data = yaml.load(path.read_text(encoding="utf-8"))
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            text = " ".join(str(p) for p in (exc.context, exc.problem) if p).replace("\n", " ")
            problems.append(Problem(shown, mark.line + 1, mark.column + 1, "E100", f"invalid YAML: {text}"))
            continue
        except ValueError as exc:  # a date-shaped value that is no date (reviewed: 2026-13-45)
            found = bad_date(path.read_text(encoding="utf-8"))
            line, col, text = found if found is not None else (None, None, f"invalid value: {exc}")
            problems.append(Problem(shown, line, col, "E100", text))
            continue
        except (OSError, UnicodeDecodeError, YAMLError) as exc:
            problems.append(Problem(shown, None, None, "E100", f"unreadable: {exc}".replace("\n", " ")))
            continue
        if not isinstance(data, Mapping):
            problems.append(Problem(shown, 1, 1, "E101", "a rule file must be a mapping"))
            continue
        docs.append(RuleDoc(path, shown, data))
    return docs


@dataclass(frozen=True)
class _Knowledge:
    thresholds: Mapping[str, float]
    ranges: Mapping[str, tuple[float | None, float | None]]
    sources: Mapping[str, tuple[str, ...]]
    groups: Mapping[str, Any]

    def resolve(self, value: Any) -> float | None:
        if isinstance(value, Mapping) and "threshold" in value:
            return self.thresholds.get(value["threshold"])
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    def single_source(self, field: str) -> str | None:
        sources = self.sources.get(field, ("patient",))
        return sources[0] if len(sources) == 1 else None


def _read_knowledge(knowledge: Path) -> _Knowledge:
    def _load(name: str) -> Mapping[str, Any]:
        return read_raw(knowledge, name)  # problems in it are reported by the loader's checks (E100)

    thresholds = {
        k: float(v["value"])
        for k, v in read_thresholds(knowledge).items()
        if isinstance(v, Mapping) and isinstance(v.get("value"), int | float)
    }
    fields = {k: v for k, v in _load("fields.yaml").items() if isinstance(v, Mapping)}
    ranges = {k: (v.get("min"), v.get("max")) for k, v in fields.items() if v.get("type") == "number"}
    sources = {k: tuple(v.get("sources") or ("patient",)) for k, v in fields.items()}
    drugs = _load("drugs.yaml")
    try:
        groups = expand_groups(dict(drugs))
    except (AttributeError, TypeError):  # a malformed drugs.yaml is reported by the knowledge loader
        groups = {}
    return _Knowledge(thresholds, ranges, sources, groups)


def _check_identity(docs: list[RuleDoc]) -> Iterable[Problem]:
    seen: dict[str, RuleDoc] = {}
    for doc in docs:
        rule_id = doc.data.get("id")
        if isinstance(rule_id, str) and rule_id in seen:
            yield _problem(doc, doc.where("id"), "E102", f"duplicate rule id {rule_id} (also in {seen[rule_id].shown})")
        elif isinstance(rule_id, str):
            seen[rule_id] = doc
        folder = doc.path.parent.name
        layer = doc.data.get("layer")
        if folder in LAYER_FOLDERS and layer is not None and layer != LAYER_FOLDERS[folder]:
            yield _problem(
                doc,
                doc.where("layer"),
                "E103",
                f"layer '{layer}' is not its folder's ({folder}: {LAYER_FOLDERS[folder]})",
            )


def _check_provenance(docs: list[RuleDoc]) -> Iterable[Problem]:
    for doc in docs:
        reviewed = doc.data.get("reviewed")
        if reviewed is None:
            yield _problem(doc, doc.where("id"), "E410", "missing review date (reviewed: YYYY-MM-DD)")
        elif not isinstance(reviewed, dt.date):
            yield _problem(doc, doc.where("reviewed"), "E410", f"review date is not an ISO date (got {reviewed!r})")
        authors = doc.data.get("authors")
        if not authors or not isinstance(authors, list) or not all(authors):
            yield _problem(
                doc,
                doc.where("authors") if authors is not None else doc.where("id"),
                "E411",
                "missing author (authors: [name, ...])",
            )


def _check_governance(docs: list[RuleDoc], today: dt.date) -> Iterable[Problem]:
    """W601 an expired rule in force, W602 a deprecated rule, W603 a rule not yet in force (rules/README.md,
    "Governance"): none fails the check, each is named; `rules release` and `triage` say the same."""
    for doc in docs:
        for key, code, text in date_problems(doc.data, today):
            yield _problem(doc, doc.where(key), code, text)


def _check_literal_thresholds(docs: list[RuleDoc], knowledge: Path) -> Iterable[Problem]:
    """E430: letter prose that writes a threshold's number instead of ``{threshold:NAME}`` (cds.authoring.literals
    states the matching rule: same value and unit, a threshold the rule depends on)."""
    from cds.authoring.literals import find_literal_thresholds, prose_fields, threshold_dependencies

    thresholds = read_thresholds(knowledge)
    depends = threshold_dependencies([doc.data for doc in docs])
    for doc in docs:
        mine = {k: v for k, v in thresholds.items() if k in depends.get(str(doc.data.get("id")), set())}
        if not mine:
            continue
        lines = doc.path.read_text(encoding="utf-8").splitlines()
        for keys, text in prose_fields(doc.data):
            for hit in find_literal_thresholds(text, mine):
                line, col = doc.where(*keys)
                number = text[hit.column :].split()[0]
                for i in range((line or 1) - 1, len(lines)):  # the number in the file (line:col of the number)
                    if (at := lines[i].find(hit.literal if i > (line or 1) - 1 else number)) >= 0:
                        line, col = i + 1, at + 1
                        break
                names = " or ".join(f"{{threshold:{n}}}" for n in hit.names)
                yield _problem(
                    doc,
                    (line, col),
                    "E430",
                    f"{keys[-1]}: '{hit.literal}' writes the value of {', '.join(hit.names)} ({hit.value:g} "
                    f"{hit.unit}) as a number; write {names} so that the text follows the threshold",
                )


def _check_literal_labels(docs: list[RuleDoc], knowledge: Path) -> Iterable[Problem]:
    """E430 for knowledge/vocab.yaml: a label the letter prints for a rule's conclusion (evidence, finding, caveat,
    reason, action) may not write the number of a threshold those rules depend on either."""
    from cds.authoring.literals import find_literal_thresholds, label_dependencies, threshold_dependencies

    path = knowledge / "vocab.yaml"
    vocab = read_raw(knowledge, "vocab.yaml")
    thresholds = read_thresholds(knowledge)
    labels = label_dependencies([d.data for d in docs], threshold_dependencies([d.data for d in docs]))
    try:
        root = load_yaml(path, error_cls=RuleFileError)
        lines = path.read_text(encoding="utf-8").splitlines()
    except RuleFileError:
        return  # the knowledge loader reports an unreadable vocab.yaml
    for (section, code), names in sorted(labels.items()):
        label = (vocab.get(section) or {}).get(code) if isinstance(vocab.get(section), Mapping) else None
        if not isinstance(label, str):
            continue
        for hit in find_literal_thresholds(label, {k: v for k, v in thresholds.items() if k in names}):
            key_line = int(str(locate(root, [section, code]) or "0:0").split(":")[0])
            line_text = lines[key_line - 1] if 0 < key_line <= len(lines) else ""
            where = (key_line or None, line_text.find(hit.literal) + 1 if hit.literal in line_text else None)
            yield Problem(
                "knowledge/vocab.yaml",
                where[0],
                where[1],
                "E430",
                f"{section}.{code}: '{hit.literal}' writes the value of {', '.join(hit.names)} ({hit.value:g} "
                f"{hit.unit}) as a number; write " + " or ".join(f"{{threshold:{n}}}" for n in hit.names),
            )


def _check_literal_renal_texts(knowledge: Path) -> Iterable[Problem]:
    """E430 for the renal dose tables of knowledge/drugs.yaml: a band's ``text`` is letter prose (``{renal_dose}``)
    and may not write the number of a threshold its own limits name (``{threshold:NAME}`` instead)."""
    from cds.authoring.literals import find_literal_thresholds

    path = knowledge / "drugs.yaml"
    thresholds = read_thresholds(knowledge)
    try:
        root = load_yaml(path, error_cls=RuleFileError)
        lines = path.read_text(encoding="utf-8").splitlines()
    except RuleFileError:
        return  # the knowledge loader reports an unreadable drugs.yaml
    drugs = root.get("drugs") if isinstance(root, Mapping) else None
    for code, entry in (drugs or {}).items() if isinstance(drugs, Mapping) else ():
        bands = entry.get("renal") if isinstance(entry, Mapping) else None
        for i, band in enumerate(bands if isinstance(bands, list) else []):
            if not isinstance(band, Mapping) or not isinstance(band.get("text"), str):
                continue
            names = {str(ref["threshold"]) for ref in band.values() if isinstance(ref, Mapping) and "threshold" in ref}
            for hit in find_literal_thresholds(band["text"], {k: v for k, v in thresholds.items() if k in names}):
                line = int(str(locate(root, ["drugs", code, "renal", i, "text"]) or "0:0").split(":")[0])
                text = lines[line - 1] if 0 < line <= len(lines) else ""
                yield Problem(
                    "knowledge/drugs.yaml",
                    line or None,
                    text.find(hit.literal) + 1 if hit.literal in text else None,
                    "E430",
                    f"drugs.{code}.renal[{i}].text: '{hit.literal}' writes the value of {', '.join(hit.names)} "
                    f"({hit.value:g} {hit.unit}) as a number; write "
                    + " or ".join(f"{{threshold:{n}}}" for n in hit.names),
                )


def _check_tests(docs: list[RuleDoc]) -> Iterable[Problem]:
    for doc in docs:
        if doc.data.get("status") not in IN_FORCE:
            continue
        tests = doc.data.get("tests")
        if not isinstance(tests, list) or not tests:
            yield _problem(doc, doc.where("id"), "E402", "active rule without tests")
            continue
        outcomes = {(t.get("expect") or {}).get("fires") for t in tests if isinstance(t, Mapping)}
        for wanted, text in ((True, "fires"), (False, "does not fire")):
            if wanted not in outcomes:
                yield _problem(doc, doc.where("tests"), "E403", f"active rule has no test case where it {text}")


def _asserted(docs: list[RuleDoc], statuses: set[str]) -> set[tuple[str, str]]:
    found = set()
    for doc in docs:
        if doc.data.get("status") not in statuses:
            continue
        for action in _actions(doc):
            for key, kind in _ASSERTS.items():
                if isinstance(action.get(key), str):
                    found.add((kind, action[key]))
    return found


def _actions(doc: RuleDoc) -> list[Mapping[str, Any]]:
    then = doc.data.get("then")
    then = [then] if isinstance(then, Mapping) else then
    return [a for a in then or [] if isinstance(a, Mapping)]


def _check_never_fire(docs: list[RuleDoc], kb: _Knowledge, search: _Search) -> Iterable[Problem]:
    by_active = _asserted(docs, set(IN_FORCE))
    by_any = _asserted(docs, {*IN_FORCE, "draft"})
    for doc in docs:
        status = doc.data.get("status")
        if status == "retired" or "when" not in doc.data:
            continue
        asserted = by_active if status in IN_FORCE else by_any
        for atom, negated in atoms_of(doc.data["when"]):
            if atom.kind == "field" or (atom.kind, atom.name) in asserted:
                continue
            where = atom.location or doc.where("when")
            scope = "no active rule" if status in IN_FORCE else "no rule"
            if negated:
                yield _problem(
                    doc, where, "W303", f"{scope} asserts {atom.kind} '{atom.name}': this 'not' always holds"
                )
            else:
                yield _problem(
                    doc, where, "E302", f"{scope} asserts {atom.kind} '{atom.name}': this condition never holds"
                )
        direct = list(_dead_branches(doc, kb))
        yield from direct
        checked = status in IN_FORCE and not any(p.code == "E301" for p in direct)
        if checked and search.satisfiable([doc.data["when"]]) is False:
            text = "rule can never fire: its conditions contradict those of the rules asserting the facts it needs"
            yield _problem(doc, doc.where("when"), "E304", text)


def _dead_branches(doc: RuleDoc, kb: _Knowledge) -> Iterable[Problem]:
    dead = find_dead_branches(
        doc.data["when"], resolve=kb.resolve, field_range=kb.ranges.get, single_source=kb.single_source
    )
    for branch in dead:
        first = branch.atoms[-1]
        where = first.location or doc.where("when")
        lines = ", ".join(f"line {a.location[0]}" for a in branch.atoms if a.location)
        multi = branch.source is None and len(branch.atoms) > 1 and kb.single_source(branch.field) is None
        if multi:
            code, what = "W304", f"conditions on {branch.field} ({lines}) can only all hold if its sources disagree"
        elif branch.all_branches_dead:
            code, what = "E301", f"rule can never fire: the conditions on {branch.field} ({lines}) contradict"
        else:
            code, what = (
                "W305",
                f"a branch of this rule can never hold: the conditions on {branch.field} ({lines}) contradict",
            )
        if len(branch.atoms) == 1:
            what = (
                f"{'rule can never fire' if branch.all_branches_dead else 'never holds'}: the condition on "
                f"{branch.field} admits no valid value (outside its range?)"
            )
        yield _problem(doc, where, code, what)


_URGENT = ("urgent", "emergency")
_OFFERS = ("option", "caution")


def _conclusions(doc: RuleDoc, groups: Mapping[str, Any]) -> Iterable[tuple[str, int, str, str]]:
    """(kind, index of the action, code, status) of the conclusions the conflict check compares."""
    for index, action in enumerate(_actions(doc)):
        if action.get("recommend") == "reassurance":
            yield "reassure", index, "reassurance", str(action.get("urgency"))
        elif (
            isinstance(action.get("recommend"), str)
            and action.get("urgency") in _URGENT
            and doc.data.get("scope", "complaint") == "complaint"
        ):
            yield "urgent", index, action["recommend"], action["urgency"]
        target = action.get("treatments", action.get("treatment"))
        if isinstance(target, Mapping):
            target = groups.get(str(target.get("group")), [])
        for drug in [target] if isinstance(target, str) else target or []:
            if doc.data.get("layer") == "treatment" and isinstance(drug, str):
                yield "treat", index, drug, str(action.get("status"))


_BUDGET = 50_000  # steps of the satisfiability search for one pair of rules (enough for all but one shipped pair)
_DEEP_BUDGET = 4_000_000  # the second try for a pair the first one could not decide


def _check_conflicts(docs: list[RuleDoc], kb: _Knowledge, search: _Search) -> Iterable[Problem]:
    """Conclusions that can be drawn together and that the resolution policy (rules/README.md, "How conclusions
    are resolved") does not reconcile: reassurance beside an urgent or emergency action (different actions are
    never ranked against each other: E401), and a contraindication proposed in the treatment layer beside an
    offer of the same drug (the most favourable proposal stands, so the veto is lost: W402, vetoes belong in
    5-safety)."""
    items = [(doc, *c) for doc in docs if doc.data.get("status") != "retired" for c in _conclusions(doc, kb.groups)]
    exclusive = _exclusive(docs)
    declared = {str(d.data.get("id")): set(_overrides(d)) for d in docs}
    seen_pairs: set[tuple[str, str, str]] = set()
    for doc, kind, index, code, status in items:
        for other, other_kind, _, other_code, other_status in items:
            if other is doc:
                continue
            doc_id, other_id = str(doc.data.get("id")), str(other.data.get("id"))
            if (
                kind == "treat" == other_kind
                and code == other_code
                and status != other_status
                and other_id not in declared.get(doc_id, set())
                and doc_id not in declared.get(other_id, set())
                and (min(doc_id, other_id), max(doc_id, other_id), code) not in seen_pairs
            ) and search.can_fire_together(doc, other, exclusive):
                seen_pairs.add((min(doc_id, other_id), max(doc_id, other_id), code))
                yield _problem(
                    doc,
                    doc.where("then", index),
                    "E404",
                    f"conflicting treatment statuses: {code} is {status} here but {other_status} in {other_id} "
                    f"({other.shown}) when both fire; declare which one stands (overrides: [{other_id}] here, or "
                    f"overrides: [{doc_id}] there)",
                )
            if kind == "reassure" and other_kind == "urgent":
                code_text, text = (
                    "E401",
                    (
                        f"conflicting conclusions: reassurance here but {other_code} ({other_status}) in "
                        f"{other.data.get('id')} ({other.shown}) when both fire; no precedence between them"
                    ),
                )
            elif (
                kind == "treat" == other_kind
                and code == other_code
                and status == "contraindicated"
                and (other_status in _OFFERS)
            ):
                code_text, text = (
                    "W402",
                    (
                        f"treatment {code} contraindicated in the treatment layer is overridden by {other_status} in "
                        f"{other.data.get('id')} ({other.shown}) when both fire; put vetoes in 5-safety"
                    ),
                )
            else:
                continue
            if search.can_fire_together(doc, other, exclusive):
                yield _problem(doc, doc.where("then", index), code_text, text)


def _overrides(doc: RuleDoc) -> list[str]:
    value = doc.data.get("overrides")
    return [str(v) for v in value] if isinstance(value, list) else []


def _check_overrides(docs: list[RuleDoc], groups: Mapping[str, Any]) -> Iterable[Problem]:
    """E405: ``overrides:`` naming a rule that does not exist, that rates none of this rule's drugs, or that
    overrides this rule in turn (no precedence at all)."""
    by_id = {str(d.data.get("id")): d for d in docs}
    drugs = {i: {c[2] for c in _conclusions(d, groups) if c[0] == "treat"} for i, d in by_id.items()}
    for doc in docs:
        doc_id = str(doc.data.get("id"))
        for index, other_id in enumerate(_overrides(doc)):
            where = doc.where("overrides", index)
            other = by_id.get(other_id)
            if other is None:
                yield _problem(doc, where, "E405", f"overrides unknown rule {other_id}")
            elif not drugs.get(doc_id, set()) & drugs.get(other_id, set()):
                yield _problem(doc, where, "E405", f"overrides {other_id}, which rates none of this rule's drugs")
            elif doc_id in _overrides(other):
                yield _problem(doc, where, "E405", f"{other_id} overrides this rule in turn: no precedence declared")


def _top_atoms(when: Any) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """Derived-fact atoms a condition requires (direct members of its top-level ``all``, or itself) and those it
    forbids (``not`` of such an atom at the same level)."""
    members = when.get("all") if isinstance(when, Mapping) and "all" in when else [when]
    need: set[tuple[str, str]] = set()
    forbid: set[tuple[str, str]] = set()
    for node in members or []:
        if not isinstance(node, Mapping):
            continue
        target, bucket = (node["not"], forbid) if "not" in node else (node, need)
        if isinstance(target, Mapping):
            for key, kind in (("evidence", "evidence"), ("finding", "finding"), ("recommendation", "recommendation")):
                if isinstance(target.get(key), str):
                    bucket.add((kind, target[key]))
    return need, forbid


def _exclusive(docs: list[RuleDoc]) -> Callable[[Any, Any], bool]:
    """A fast, exact test that two conditions cannot hold together: one requires a derived fact every active
    producer of which also asserts a fact the other forbids (e.g. a red-flag finding always comes with
    ``red_flag``, which reassurance rules forbid). Falls back to the full search when it does not apply."""
    co: dict[tuple[str, str], set[tuple[str, str]] | None] = {}
    for doc in docs:
        if doc.data.get("status") not in IN_FORCE:
            continue
        asserted = {
            (kind, a[key]) for a in _actions(doc) for key, kind in _ASSERTS.items() if isinstance(a.get(key), str)
        }
        for fact in asserted:
            co[fact] = asserted if co.get(fact) is None else co[fact] & asserted  # type: ignore[operator]

    def exclusive(a: Any, b: Any) -> bool:
        need_a, forbid_a = _top_atoms(a)
        need_b, forbid_b = _top_atoms(b)
        for need, forbid in ((need_a, forbid_b), (need_b, forbid_a)):
            if any((co.get(fact) or set()) & forbid for fact in need):
                return True
        return False

    return exclusive


def _expander(docs: list[RuleDoc]) -> Callable[[Any], Any]:
    """A derived-fact atom -> ``{any: [when, ...]}`` of the active rules asserting it (None when none do)."""
    assert_map: dict[tuple[str, str], list[Any]] = {}
    for doc in docs:
        if doc.data.get("status") in IN_FORCE and "when" in doc.data:
            for action in _actions(doc):
                for key, kind in _ASSERTS.items():
                    if isinstance(action.get(key), str):
                        assert_map.setdefault((kind, action[key]), []).append(doc.data["when"])

    def expand(atom: Any) -> Any:
        whens = assert_map.get((atom.kind, atom.name))
        return {"any": whens} if whens else None

    return expand


@dataclass
class _Search:
    """Whether rule conditions can hold together (cds.authoring.intervals), for one check of one rule set: derived
    facts seen through ``expand``; parsed condition nodes (``memo``; the documents outlive the check) and each
    set's answer kept, so a pair asked both ways is searched once; the rule pairs too complex to decide kept in
    ``uncompared`` (``rules check`` names them)."""

    kb: _Knowledge
    expand: Callable[[Any], Any]
    memo: dict[int, Any] = field(default_factory=dict)
    answers: dict[tuple[int, ...], bool | None] = field(default_factory=dict)
    uncompared: set[tuple[str, ...]] = field(default_factory=set)

    def satisfiable(self, whens: list[Any]) -> bool | None:
        """Whether all ``whens`` can hold for one patient (None: too complex). A search that runs out of its steps
        is tried once more with ``_DEEP_BUDGET`` (a few seconds at most) before it gives up."""
        key = tuple(sorted(id(w) for w in whens))
        if key not in self.answers:
            answer = None
            for budget in (_BUDGET, _DEEP_BUDGET):
                answer = can_hold_together(
                    whens,
                    resolve=self.kb.resolve,
                    field_range=self.kb.ranges.get,
                    single_source=self.kb.single_source,
                    expand=self.expand,
                    memo=self.memo,
                    budget=budget,
                )
                if answer is not None:
                    break
            self.answers[key] = answer
        return self.answers[key]

    def can_fire_together(self, doc: RuleDoc, other: RuleDoc, exclusive: Callable[[Any, Any], bool]) -> bool:
        """Whether both rules can fire for one patient; a pair too complex to tell is named in ``uncompared``."""
        if exclusive(doc.data.get("when"), other.data.get("when")):
            return False  # one needs a fact whose every producer also asserts what the other forbids
        together = self.satisfiable([doc.data.get("when") or {}, other.data.get("when") or {}])
        if together is None:
            self.uncompared.add(tuple(sorted((doc.shown, other.shown))))
        return bool(together)


def _uncompared_problems(pairs: set[tuple[str, ...]]) -> list[Problem]:
    """W406 for each pair of rule files the conflict search could not settle: named, in the text and the JSON
    report alike, so the author checks that pair by hand (a warning: nothing was found wrong)."""
    return [
        Problem(
            first,
            None,
            None,
            "W406",
            f"not compared for conflicts with {second}: their conditions are too complex for the search "
            "(E401, E404 and W402 were not checked for this pair; check it by hand)",
        )
        for first, second in sorted(pairs)
    ]


def find_version_problems(docs: list[RuleDoc], rules: Path, manifest_path: Path) -> list[Problem]:
    """E501 a rule changed without a version bump, E502 a version went down (against the manifest)."""
    manifest = read_manifest(manifest_path)
    problems = []
    for doc in docs:
        stamp = rule_stamp_of(doc.data, doc.path, doc.shown)
        recorded = manifest.rules.get(stamp.rule_id) if stamp else None
        if stamp is None or recorded is None:
            continue
        where = doc.where("version")
        if stamp.version == recorded.version and stamp.sha256 != recorded.sha256:
            text = f"rule changed without a version bump (version {stamp.version} has another hash in {MANIFEST_NAME})"
            problems.append(_problem(doc, where, "E501", text))
        elif stamp.version < recorded.version:
            problems.append(
                _problem(doc, where, "E502", f"version {stamp.version} is lower than the recorded {recorded.version}")
            )
    return problems


def _check_manifest(docs: list[RuleDoc], rules: Path, knowledge: Path) -> list[Problem]:
    path = rules / MANIFEST_NAME
    shown = f"rules/{MANIFEST_NAME}"
    try:
        problems = find_version_problems(docs, rules, path)
        manifest = read_manifest(path)
    except RuleFileError as exc:
        return [Problem(shown, None, None, "E500", exc.problem + (f" ({exc.hint})" if exc.hint else ""))]
    current = scan_ruleset(rules, knowledge)
    stale = sorted(n for n in set(current) | set(manifest.files) if current.get(n) != manifest.files.get(n))
    for name in stale:
        state = "added" if name not in manifest.files else "removed" if name not in current else "changed"
        problems.append(Problem(name, None, None, "E503", f"{state} since {shown} (run `cds rules manifest --update`)"))
    return problems


def _loader_problems(
    rules: Path, knowledge: Path
) -> tuple[list[Problem], dict[Path, Any], tuple[Any, Any] | None] | None:
    """Schema, field, vocabulary, type and reference problems as the engine's loader reports them (E100), the
    documents it read, and (when it found no problem) the validated knowledge and rule set; None when the loader
    is not installed."""
    try:
        from cds.kb import load_knowledge
        from cds.rules.load import check_rules
    except ImportError as exc:
        log.warning("rules check: the rule loader is not available (%s); schema checks skipped", exc)
        return None
    try:
        kb = load_knowledge(knowledge)
    except RuleFileError as exc:
        lines = getattr(exc, "problems", None) or [str(exc)]
        return [_parse_problem_line(line, rules.parent) for line in lines], {}, None
    ruleset, lines = check_rules(rules, kb)
    roots = {rules / spec.path: spec.root for spec in ruleset.rules if getattr(spec, "root", None) is not None}
    return [_parse_problem_line(line, rules.parent) for line in lines], roots, None if lines else (kb, ruleset)


def _parse_problem_line(line: str, base: Path) -> Problem:
    """``file:line:col: text`` (line and column optional) back into a Problem with code E100."""
    head, _, text = line.partition(": ")
    parts = head.split(":")
    numbers: list[int | None] = [int(p) for p in parts[1:3] if p.isdigit()]
    line_no, col = [*numbers, None, None][:2]
    path = Path(parts[0])
    shown = path.relative_to(base).as_posix() if path.is_absolute() and path.is_relative_to(base) else parts[0]
    return Problem(shown, line_no, col, "E100", text or line)


def _check_template_time_frames(folder: Path) -> list[Problem]:
    """E420: a letter template words no time frame of its own; it prints the urgency's interval from
    knowledge/policy.yaml, so the letter never states another time frame than the urgency it sits under."""
    from cds.rules.timeframes import stated_frames

    if not folder.is_dir():
        return []
    problems = []
    for path in sorted(folder.rglob("*.j2")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for frame in stated_frames(line):
                shown = f"templates/{path.relative_to(folder).as_posix()}"
                text = f"template states a time frame ('{frame.phrase}'): print the urgency's interval instead"
                problems.append(Problem(shown, number, None, "E420", text))
    return problems


def check_ruleset(
    rules: Path | None = None, knowledge: Path | None = None, *, today: dt.date | None = None
) -> CheckReport:
    """Run every check over ``rules/`` and ``knowledge/`` (defaults: the installed rule base); expiry is judged
    as of ``today`` (default: today's date, UTC)."""
    rules, knowledge = Path(rules or rules_dir()), Path(knowledge or knowledge_dir())
    problems: list[Problem] = []
    loaded = _loader_problems(rules, knowledge)
    docs = read_rule_docs(rules, problems, loaded[1] if loaded else None)
    kb = _read_knowledge(knowledge)
    # the loader checks ids, layers and test cases itself; without it, these fallbacks do
    problems += [*_check_identity(docs), *_check_tests(docs)] if loaded is None else loaded[0]
    problems += _check_provenance(docs)
    problems += _check_governance(docs, today or dt.datetime.now(dt.UTC).date())
    problems += _check_literal_thresholds(docs, knowledge)
    problems += _check_literal_labels(docs, knowledge)
    problems += _check_literal_renal_texts(knowledge)
    search = _Search(kb, _expander(docs))
    problems += _check_never_fire(docs, kb, search)
    problems += _check_conflicts(docs, kb, search)
    problems += _check_overrides(docs, kb.groups)
    problems += _check_manifest(docs, rules, knowledge)
    problems += _check_template_time_frames(rules.parent / "templates")
    problems += _uncompared_problems(search.uncompared)
    unique = {(p.path, p.line or 0, p.col or 0, p.code, p.message): p for p in problems}
    return CheckReport(
        tuple(unique[k] for k in sorted(unique)),
        len(docs),
        loaded[2] if loaded else None,
        tuple(sorted(search.uncompared)),
    )

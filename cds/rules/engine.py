"""The rule base at run time: load + compile once per process per content, then ``decide`` per patient.

Each firing is recorded with the facts its activation matched (the run loop is overridden to keep the current
activation), what it asserted and its rendered ``because``. The decision record is built by cds.decision.record.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds.facts.build import build_patient_facts, build_recording_facts
from cds.facts.patient import PatientContext
from cds.facts.types import DatumRecord
from cds.formatting import format_age as _format_age
from cds.formatting import format_value
from cds.kb import Knowledge
from cds.paths import knowledge_dir as _default_knowledge_dir
from cds.paths import rules_dir as _default_rules_dir
from cds.rules._experta import (
    BusNode,
    ConflictSetNode,
    InitialFact,
    KnowledgeEngine,
    Matcher,
    ReteMatcher,
    Token,
    TypeCheck,
)
from cds.rules.bundle import Bundle, build_bundle, load_bundle, remembered_bundle_key
from cds.rules.cache import file_stamps, is_racy
from cds.rules.compile import compile_engine_class
from cds.rules.facts import (
    Ask,
    CaveatFact,
    Evidence,
    Finding,
    MedicationRow,
    Recommendation,
    Treatment,
    fact_to_dict,
    to_fact,
)
from cds.rules.load import RuleSet, RuleSpec
from cds.rules.strategy import RuleIdStrategy

__all__ = [
    "RuleBase",
    "compile_bundle",
    "current_drugs",
    "expand_current",
    "format_age",
    "format_field",
    "format_value",
    "load_rulebase",
    "network_of",
    "render_because",
    "render_text",
]

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_SOURCE_PREF = {"recording": 0, "reported": 1, "patient": 2}


def format_field(name: str, value: Any, kb: Knowledge) -> str:
    """A field's value as the letter shows it; ages under the policy's limit in weeks or months (patient v1.1:
    ages under 2 years are never shown as fractions of a year)."""
    spec = kb.fields.get(name)
    if spec is not None and spec.display == "age" and isinstance(value, int | float) and not isinstance(value, bool):
        return format_age(float(value), kb)
    if spec is not None and spec.integer and isinstance(value, float) and value.is_integer():
        return str(int(value))
    return format_value(value)


def format_age(age_years: float, kb: Knowledge) -> str:
    """An age as the policy words it (weeks or months under 2 years; policy.yaml ``age_display``)."""
    policy = kb.policy_obj
    return _format_age(age_years, years_from=policy.age_in_years_from, weeks_below=policy.age_in_weeks_below_weeks)


def current_drugs(known: dict[str, Any], *, family: str = "medications") -> list[str]:
    """Names of the drugs whose ``<family>.<name>`` fact is known true (the patient's current drugs)."""
    prefix = family + "."
    return sorted(f[len(prefix) :] for f, v in known.items() if f.startswith(prefix) and v is True)


def drugs_of_class(cls: str, known: dict[str, Any], kb: Knowledge) -> list[str]:
    """The patient's current drugs of class ``cls``, by name."""
    return [d for d in current_drugs(known) if cls in (kb.medication_classes(d) or ())]


def renal_dose(drug: str, known: dict[str, Any], kb: Knowledge) -> str:
    """The drug's renal dose band (drugs.yaml ``renal``) for the patient's creatinine clearance; the lowest band on
    dialysis or with end-stage renal disease when no clearance is given; a request to measure it otherwise."""
    bands = list((kb.drugs.get(drug) or {}).get("renal") or [])
    crcl = known.get("renal.crcl_ml_min")
    if not bands:
        return "no renal dose table for this drug in the knowledge base"
    if not isinstance(crcl, int | float):
        if known.get("conditions.dialysis") is True or known.get("conditions.end_stage_renal_disease") is True:
            low = [b for b in bands if b.get("crcl_from_ml_min") is None]
            return str(low[0]["text"]) if low else "see the label for end-stage renal disease"
        return "creatinine clearance unknown: measure it before choosing the dose"
    for band in bands:
        lo, hi = band.get("crcl_from_ml_min"), band.get("crcl_to_ml_min")
        if (lo is None or crcl >= lo) and (hi is None or crcl < hi):
            return f"CrCl {format_value(float(crcl))} mL/min: {band['text']}"
    return f"CrCl {format_value(float(crcl))} mL/min: usual dose"


def render_text(template: str, values: dict[str, Any], known: dict[str, Any], kb: Knowledge, drug: str = "") -> str:
    """Fill the placeholders of a rule's text (rules/README.md): ``{FIELD}`` the matched (else best known) value,
    ``{threshold:NAME}`` a threshold, ``{class:NAME}`` the patient's current drugs of that class, ``{drug}`` the
    drug of a current-medication row, ``{interval:URGENCY}`` the time frame of an urgency tier (policy.yaml)."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("threshold:"):
            entry = kb.thresholds.get(name[10:])
            return format_value(entry["value"]) if entry else match.group(0)
        if name.startswith("class:"):
            names = [kb.drug_name_label(d) for d in drugs_of_class(name[6:], known, kb)]
            return ", ".join(names) if names else "none"
        if name.startswith("interval:"):
            return kb.policy_obj.interval(name[9:])
        if name == "drug":
            return kb.drug_name_label(drug) if drug else match.group(0)
        if name == "renal_dose":
            return renal_dose(drug, known, kb) if drug else match.group(0)
        return format_field(name, values.get(name, known.get(name)), kb)

    return _PLACEHOLDER.sub(sub, template)


def render_because(template: str, matched: Iterable[dict[str, Any]], known: dict[str, Any], kb: Knowledge) -> str:
    """Replace ``{FIELD}`` by the matched value (else the best known value), and the other placeholders."""
    values: dict[str, Any] = {}
    for fact in sorted(matched, key=lambda f: _SOURCE_PREF.get(f.get("source", ""), 3)):
        if fact.get("type") == "datum" and fact.get("known"):
            values.setdefault(fact["field"], fact["value"])
    return render_text(template, values, known, kb)


class TypeDispatchBusNode(BusNode):
    """A Rete root that sends each fact only to the children whose TypeCheck accepts its type.

    experta's root node passes every fact to every child; the first check of every pattern is an exact type test
    (``type(fact) == T``), so sending a fact only to the children testing its own type gives the same matches
    while skipping hundreds of failing tests per fact (with one Datum subclass per field). The index is built
    on first use, after the network is complete.
    """

    _by_type: dict[Any, tuple[Any, ...]] | None = None
    _other: tuple[Any, ...] = ()

    def _children_of(self, fact: Any) -> tuple[Any, ...]:
        if self._by_type is None:
            by_type: dict[Any, list[Any]] = defaultdict(list)
            other = []
            for child in self.children:
                matcher = getattr(child.node, "matcher", None)
                if isinstance(matcher, TypeCheck):
                    by_type[matcher.fact_type].append(child)
                else:
                    other.append(child)
            self._by_type = {t: tuple(children) for t, children in by_type.items()}
            self._other = tuple(other)
        return (*self._by_type.get(type(fact), ()), *self._other)

    def add(self, fact: Any) -> None:
        token = Token.valid(fact)
        for child in self._children_of(fact):
            child.callback(token)

    def remove(self, fact: Any) -> None:
        token = Token.invalid(fact)
        for child in self._children_of(fact):
            child.callback(token)


class TracingMatcher(ReteMatcher):
    """experta's Rete matcher with a type-dispatching root and a reset that visits each node once; it takes a
    network built earlier (a compiled bundle, cds.rules.bundle) instead of building it again when given one.

    experta's ``Node.reset`` resets a node and then, recursively, all its children; in a network where nodes are
    shared by many rules (one alpha node per field test, beta nodes shared by the branches of an ``any``) that
    visits the same node many times (13,205 visits for 3,991 nodes with the shipped rules). Every ``_reset`` only
    wipes that node's own memory, so calling it once per unique node gives the same state.
    """

    def __init__(self, engine: Any) -> None:
        Matcher.__init__(self, engine)
        prebuilt = getattr(engine, "prebuilt_network", None)
        if prebuilt is not None:
            self.root_node = prebuilt
        else:
            self.root_node = TypeDispatchBusNode()
            self.build_network()
        # the network's walks, when ``prime`` stored them with it (a compiled bundle): not walked again
        walks = getattr(self.root_node, "cds_walks", None)
        self._nodes: tuple[Any, ...] | None = walks[0] if walks else None
        self._conflict_set_nodes: tuple[ConflictSetNode, ...] | None = walks[1] if walks else None

    def prime(self) -> None:
        """Walk the network now and keep the walks with its root node: every node once, the conflict-set nodes
        in experta's order and the root's dispatch by fact type. A bundle pickles them with the network, so the
        first decision of a process does not walk the ~4,000 nodes again."""
        self._conflict_set_nodes = self._get_conflict_set_nodes()
        self.root_node.cds_walks = (self._unique_nodes(), self._conflict_set_nodes)
        if isinstance(self.root_node, TypeDispatchBusNode):
            self.root_node._children_of(None)  # builds the dispatch table (None matches no type)

    def _unique_nodes(self) -> tuple[Any, ...]:
        """Every node of the network once (experta's own walks visit shared nodes once per path)."""
        if self._nodes is None:
            nodes: dict[int, Any] = {}
            stack = [self.root_node]
            while stack:
                node = stack.pop()
                if id(node) not in nodes:
                    nodes[id(node)] = node
                    stack.extend(child.node for child in node.children)
            self._nodes = tuple(nodes.values())
        return self._nodes

    def reset(self) -> None:
        for node in self._unique_nodes():
            node._reset()

    def changes(self, adding: Any = None, deleting: Any = None) -> tuple[list[Any], list[Any]]:
        """experta's ``ReteMatcher.changes`` that asks only the conflict-set nodes holding a change.

        experta calls ``get_activations`` on every one of the network's conflict-set nodes (one per rule branch,
        about 700 for the shipped rules) after each fired rule, although ``get_activations`` only hands over and
        clears the node's ``added``/``removed`` sets: a node with both empty contributes nothing. Skipping those
        nodes gives the same activations in the same order (the nodes are asked in experta's order). Guarded by
        tests/rulebase/test_experta_contract.py.
        """
        if deleting is not None:
            for fact in deleting:
                self.root_node.remove(fact)
        if adding is not None:
            for fact in adding:
                self.root_node.add(fact)
        if self._conflict_set_nodes is None:
            self._conflict_set_nodes = self._get_conflict_set_nodes()
        added: list[Any] = []
        removed: list[Any] = []
        for csn in self._conflict_set_nodes:
            if csn.added or csn.removed:
                c_added, c_removed = csn.get_activations()
                added.extend(c_added)
                removed.extend(c_removed)
        return added, removed


class TracingEngine(KnowledgeEngine):
    """KnowledgeEngine with the deterministic strategy, the tracing matcher and a run loop that records each
    fired activation. ``prebuilt_network``: a Rete network built earlier for the same rules (or None)."""

    __strategy__ = RuleIdStrategy
    __matcher__ = TracingMatcher

    def __init__(self, prebuilt_network: Any = None) -> None:
        self.prebuilt_network = prebuilt_network
        super().__init__()
        self.prebuilt_network = None
        self.firings: list[dict[str, Any]] = []
        self.current: Any = None
        self.kb: Knowledge | None = None
        self.known: dict[str, Any] = {}

    def run(self, steps: float = float("inf")) -> None:
        """experta's run loop, keeping the activation being fired in ``self.current``."""
        self.running = True
        while steps > 0 and self.running:
            added, removed = self.get_activations()
            self.strategy.update_agenda(self.agenda, added, removed)
            activation = self.agenda.get_next()
            if activation is None:
                break
            steps -= 1
            self.current = activation
            activation.rule(self, **{k: v for k, v in activation.context.items() if not k.startswith("__")})
        self.running = False


def _expand_drugs(action: dict[str, Any], kb: Knowledge, known: dict[str, Any]) -> list[str]:
    """The treatment codes a treatment action names: one, a list, a group, the drug asked about, or the
    candidates whose ``<family>.<drug>`` fact is true (``{family: past_failed}``: tried before and failed)."""
    target = action.get("treatment", action.get("treatments"))
    if isinstance(target, dict):
        if "group" in target:
            members = list(kb.groups[target["group"]])
            if target.get("not_current"):  # a drug already taken gets its current-medication row instead
                taken = set(current_drugs(known))
                members = [d for d in members if d not in taken]
            return members
        if target.get("requested"):
            requested = known.get("requested_treatment")
            return [requested] if isinstance(requested, str) and requested in kb.drugs else []
        return [d for d in current_drugs(known, family=target["family"]) if d in kb.drugs]
    return [target] if isinstance(target, str) else list(target or [])


def expand_current(target: dict[str, Any], kb: Knowledge, known: dict[str, Any]) -> list[str]:
    """The patient's current drugs a ``medication:`` action names: of a class (or classes), in a group, listed
    by name, or all; ``recent: true`` keeps those started or increased shortly before the jerks."""
    drugs = current_drugs(known)
    if target.get("recent"):
        recent = set(current_drugs(known, family="recent_medications"))
        drugs = [d for d in drugs if d in recent]
    if "class" in target or "classes" in target:
        wanted = {target["class"]} if "class" in target else set(target["classes"])
        drugs = [d for d in drugs if wanted & set(kb.medication_classes(d) or ())]
    if "group" in target:
        members = set(kb.groups[target["group"]])
        drugs = [d for d in drugs if d in members]
    if "drugs" in target:
        drugs = [d for d in drugs if d in set(target["drugs"])]
    return drugs


def _assert_action(
    engine: TracingEngine, spec: RuleSpec, action: dict[str, Any], kb: Knowledge
) -> list[dict[str, Any]]:
    """Declare the facts of one ``then`` item; return them as dicts for the trace."""
    if "evidence" in action:
        engine.declare(Evidence(code=action["evidence"]))
        return [{"type": "evidence", "code": action["evidence"]}]
    if "finding" in action:
        engine.declare(Finding(code=action["finding"]))
        return [{"type": "finding", "code": action["finding"]}]
    if "recommend" in action:
        eeg = bool(action.get("extended_eeg", False))
        engine.declare(Recommendation(action=action["recommend"], urgency=action["urgency"], extended_eeg=eeg))
        return [
            {"type": "recommendation", "action": action["recommend"], "urgency": action["urgency"], "extended_eeg": eeg}
        ]
    if "caveat" in action:
        engine.declare(CaveatFact(code=action["caveat"]))
        text = render_text(action["text"], {}, engine.known, kb)
        return [{"type": "caveat", "code": action["caveat"], "text": text}]
    if "ask" in action:
        engine.declare(Ask(field=action["ask"]))
        return [{"type": "ask", "field": action["ask"], "text": action.get("text", "")}]
    if "medication" in action:
        return _assert_medication(engine, action, kb)
    out = []
    for drug in _expand_drugs(action, kb, engine.known):
        engine.declare(Treatment(drug=drug, status=action["status"], reason=action["reason"], layer=spec.layer))
        item = {
            "type": "treatment",
            "drug": drug,
            "status": action["status"],
            "reason": action["reason"],
            "layer": spec.layer,
        }
        if action.get("note"):
            item["note"] = render_text(action["note"], {}, engine.known, kb, drug)
        if action.get("strength"):
            item["strength"] = action["strength"]
        out.append(item)
    return out


def _assert_medication(engine: TracingEngine, action: dict[str, Any], kb: Knowledge) -> list[dict[str, Any]]:
    """Current-medication rows: one per current drug the action names (none when the patient takes none)."""
    out = []
    for drug in expand_current(action["medication"], kb, engine.known):
        engine.declare(MedicationRow(drug=drug, action=action["action"], reason=action["reason"]))
        item: dict[str, Any] = {
            "type": "medication",
            "drug": drug,
            "action": action["action"],
            "reason": action["reason"],
            "likely_cause": bool(action.get("likely_cause", False)),
        }
        for key in ("how", "note"):
            if action.get(key):
                item[key] = render_text(action[key], {}, engine.known, kb, drug)
        out.append(item)
    return out


def _fire(engine: TracingEngine, spec: RuleSpec) -> None:
    """The action every compiled rule calls: assert its conclusions and record the firing."""
    assert engine.kb is not None
    facts = sorted((f for f in engine.current.facts if not isinstance(f, InitialFact)), key=lambda f: f["__factid__"])
    matched = [{"id": f["__factid__"], **fact_to_dict(f)} for f in facts]
    ids = [m["id"] for m in matched]
    if any(f["rule"] == spec.id and [m["id"] for m in f["facts"]] == ids for f in engine.firings):
        return  # two branches of an `any` matched the same facts: one firing, not two
    asserted = [item for action in spec.then for item in _assert_action(engine, spec, action, engine.kb)]
    engine.firings.append(
        {
            "rule": spec.id,
            "version": spec.version,
            "sha256": spec.sha256,
            "layer": spec.layer,
            "salience": spec.salience,
            "facts": matched,
            "asserted": asserted,
            "because": render_because(spec.because, matched, engine.known, engine.kb),
        }
    )


def _fields_of(node: Any) -> Iterable[str]:
    """Every field a condition AST tests."""
    if isinstance(node, dict):
        if "field" in node:
            yield node["field"]
        for key in ("all", "any", "not"):
            if key in node:
                yield from _fields_of(node[key])
    elif isinstance(node, list):
        for child in node:
            yield from _fields_of(child)


@dataclass(frozen=True)
class RunResult:
    """Input facts, firings in order and the caveats that came with the inputs, as (caveat, source) pairs
    with source ``patient`` or ``recording``."""

    facts: tuple[DatumRecord, ...]
    firings: tuple[dict[str, Any], ...]
    input_caveats: tuple[Any, ...]


class RuleBase:
    """Compiled rules plus the knowledge they were checked against."""

    def __init__(
        self,
        rules: RuleSet,
        kb: Knowledge,
        *,
        rules_path: Path | None = None,
        knowledge_path: Path | None = None,
        stamp: dict[str, str | None] | None = None,
        network: Any = None,
    ) -> None:
        """``stamp``: the decision's ``inputs.ruleset`` (else read from ``rules_path``'s manifest); ``network``: a
        Rete network built earlier from these rules (a bundle, cds.rules.bundle) for the first engine."""
        self.rules = rules
        self.kb = kb
        self.stamp: dict[str, str | None] = {"version": None, "sha256": rules.sha256}  # inputs.ruleset
        if stamp is not None:
            self.stamp = dict(stamp)
        elif rules_path is not None:
            from cds.rules.manifest import ruleset_stamp

            self.stamp = ruleset_stamp(rules_path, knowledge_path)
        self._network = network
        self._engine_class: type | None = None
        self.by_id = rules.by_id()
        self.fields_used = frozenset(f for spec in rules.active() for f in _fields_of(spec.when))
        self._engine: TracingEngine | None = None  # built lazily: experta builds its Rete network per instance
        self._lock = threading.Lock()

    @property
    def engine_class(self) -> type:
        """A TracingEngine subclass holding one experta rule per active rule (compiled on first use)."""
        if self._engine_class is None:
            self._engine_class = compile_engine_class(self.rules, self.kb, TracingEngine, _fire)
        return self._engine_class

    def new_engine(self) -> TracingEngine:
        """An engine for these rules: the first one takes the prebuilt network when there is one (no rebuild)."""
        network, self._network = self._network, None
        if network is not None:
            return TracingEngine(prebuilt_network=network)
        engine: TracingEngine = self.engine_class()
        return engine

    @property
    def sha256(self) -> str:
        return self.rules.sha256

    def run_facts(self, records: Iterable[DatumRecord], derived: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Run the engine on input records (plus optional derived facts for inline tests); return firings."""
        with self._lock:
            if self._engine is None:
                self._engine = self.new_engine()
            return self._run_on(self._engine, records, derived)

    def _run_on(
        self, engine: TracingEngine, records: Iterable[DatumRecord], derived: Iterable[Any]
    ) -> list[dict[str, Any]]:
        engine.kb = self.kb
        engine.firings = []
        # a total, deterministic order of the known records (unknown ones never enter working memory)
        records = sorted((r for r in records if r.known), key=lambda d: (d.field, d.source, repr(d.value)))
        engine.known = {}
        for rec in sorted(records, key=lambda d: _SOURCE_PREF[d.source]):
            engine.known.setdefault(rec.field, rec.value)
        engine.reset()
        # Unknown values are never matched by a pattern (every Datum pattern requires known=True, and
        # ``is: unknown`` is NOT of a known Datum), so only known values enter working memory.
        # Fields no rule tests are left out too: experta tests every fact against every field literal.
        facts: list[Any] = [to_fact(rec) for rec in records if rec.known and rec.field in self.fields_used]
        facts.extend(derived)
        if facts:
            engine.declare(*facts)
        engine.run()
        return engine.firings

    def run(self, patient: PatientContext | None, analysis: dict[str, Any] | None = None) -> RunResult:
        records: list[DatumRecord] = build_patient_facts(patient, self.kb) if patient is not None else []
        caveats: list[Any] = [(c, "patient") for c in patient.caveats] if patient is not None else []
        if analysis is not None:
            measured, recording_caveats = build_recording_facts(analysis, self.kb)
            records += measured
            caveats += [(c, "recording") for c in recording_caveats]
        firings = self.run_facts(records)
        return RunResult(tuple(records), tuple(firings), tuple(caveats))


@dataclass(frozen=True)
class _Seen:
    """What one pair of folders held when last checked: file stamps, content key, and whether to re-read."""

    stamps: tuple[Any, ...]
    key: str
    racy: bool


_MAX_KEPT = 8  # rule bases (and folder pairs) kept per process; tests load many small copies
_COMPILED: OrderedDict[str, RuleBase] = OrderedDict()  # content key -> compiled rule base
_SEEN: OrderedDict[tuple[str, str], _Seen] = OrderedDict()  # resolved (rules, knowledge) -> last check
_LOAD_LOCK = threading.Lock()


def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    """Store ``value`` as the most recent entry, dropping the oldest beyond ``_MAX_KEPT``."""
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _MAX_KEPT:
        cache.popitem(last=False)


def load_rulebase(rules_dir: str | Path | None = None, knowledge_dir: str | Path | None = None) -> RuleBase:
    """Load knowledge and rules (RuleFileError on any bad file) and compile them, once per process per content.

    The one in-process cache of the rule base (the pipeline and the CLI use it). It covers every file under
    rules/ and knowledge/ (rules, knowledge YAML, schema JSON, standards, the manifest: all that the load and the
    decision's ``inputs.ruleset`` stamp read). While no file's stamp (size, mtime, ctime) changed and none was
    changed just before the last check (cache.is_racy) the files are not even read: the rule base of the previous
    call is returned. Otherwise their content key is computed again: identical bytes give the same compiled rule
    base, any change gives a new one, from the disk cache (cache.py; ``CDS_NO_CACHE``) or validated afresh.
    """
    rules_path = Path(rules_dir) if rules_dir is not None else _default_rules_dir()
    knowledge_path = Path(knowledge_dir) if knowledge_dir is not None else _default_knowledge_dir()
    folders = (str(rules_path.resolve()), str(knowledge_path.resolve()))
    with _LOAD_LOCK:
        stamps = file_stamps(rules_path, knowledge_path)
        seen = _SEEN.get(folders)
        if seen is not None and seen.stamps == stamps and not seen.racy and seen.key in _COMPILED:
            _COMPILED.move_to_end(seen.key)
            return _COMPILED[seen.key]
        checked_ns = time.time_ns()
        key = remembered_bundle_key(rules_path, knowledge_path, stamps, checked_ns)
        rulebase = _COMPILED.get(key)
        if rulebase is None:
            rulebase = _compile(key, rules_path, knowledge_path)
        _remember(_COMPILED, key, rulebase)
        _remember(_SEEN, folders, _Seen(stamps, key, is_racy(stamps, checked_ns)))
        return rulebase


def network_of(rules: RuleSet, kb: Knowledge) -> Any:
    """The Rete network experta builds for the active rules, before any fact entered it (for a bundle)."""
    matcher = RuleBase(rules, kb).new_engine().matcher
    matcher.prime()
    return matcher.root_node


def compile_bundle(
    rules_path: Path,
    knowledge_path: Path,
    *,
    store: bool = True,
    key: str | None = None,
    validated: tuple[Knowledge, RuleSet] | None = None,
) -> Bundle:
    """Validate, stamp and compile these rule and knowledge folders into their bundle (``cds rules check``,
    ``cds rules release``); ``store``: write it to the cache folder for the next triage to read. ``validated``
    and ``key``: what a clean check loaded, and the files' content key before it read them (see build_bundle)."""
    return build_bundle(rules_path, knowledge_path, network_of, store=store, key=key, validated=validated)


def _compile(key: str, rules_path: Path, knowledge_path: Path) -> RuleBase:
    """The rule base of the files with content ``key``, from their compiled bundle (built when there is none)."""
    bundle = load_bundle(rules_path, knowledge_path, network_of, key=key)
    rulebase = RuleBase(bundle.rules, bundle.kb, stamp=bundle.stamp, network=bundle.network)
    log.info("loaded %d active rules (rule set %s)", len(bundle.rules.active()), bundle.rules.sha256[:12])
    return rulebase

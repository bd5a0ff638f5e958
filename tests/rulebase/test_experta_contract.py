"""What cds relies on in experta 1.9.4, each tested so that an experta upgrade that changes it fails here first.

docs/design/experta.md says why each adaptation exists. The behavioural tests run the real rule base on the
case library twice, once through cds's engine (adapted) and once through an engine with experta's own root
dispatch, reset and run loop, and require identical firings.
"""

from __future__ import annotations

import hashlib
import inspect
from pathlib import Path

import pytest

from cds.authoring.casebank import load_cases
from cds.facts.build import build_patient_facts
from cds.facts.patient import parse_patient
from cds.rules._experta import InitialFact, KnowledgeEngine, ReteMatcher, Rule, experta
from cds.rules.compile import compile_engine_class
from cds.rules.engine import TracingEngine, _fire, load_rulebase
from cds.rules.strategy import RuleIdStrategy

CASES = Path(__file__).resolve().parents[1] / "cases"

# The source of experta's KnowledgeEngine.run that TracingEngine.run reproduces (keeping the activation being
# fired, without the per-firing watcher log lines that format every matched fact). If experta changes its run
# loop, this digest changes: re-read it, port the change to TracingEngine.run, and update the digest.
RUN_LOOP_SHA256 = "39279e7bc3bcee3959e191e4a459c5dede123d8738c7d87c2dc008d2b9d4748c"
# experta's ReteMatcher.changes and ConflictSetNode.get_activations, as TracingMatcher.changes was written against
CHANGES_SHA256 = "ef610eaeb40ca76ce963cb3ec471ff4f9e3bce72715eb65f95fa7f1c719fa906"
GET_ACTIVATIONS_SHA256 = "1e7d5d99859b04d007cf721139bf980638688321d3bf10c1637028bbc68b4330"


class ExpertaDefaults(TracingEngine):
    """cds's strategy and tracing, but experta's own matcher (root dispatch, reset) and (below) run loop."""

    __matcher__ = ReteMatcher

    def __init__(self) -> None:
        KnowledgeEngine.__init__(self)  # experta's ReteMatcher: no type dispatch at the root, recursive reset
        self.firings = []
        self.current = None
        self.kb = None
        self.known = {}

    def run(self, steps: float = float("inf")) -> None:
        """experta's run loop, with the activation recorded through a wrapper around each rule call."""
        original = self.agenda.get_next

        def get_next():
            self.current = original()
            return self.current

        self.agenda.get_next = get_next
        try:
            KnowledgeEngine.run(self, steps)
        finally:
            del self.agenda.get_next


@pytest.fixture(scope="module")
def shipped():
    return load_rulebase()


@pytest.fixture(scope="module")
def case_records(shipped):
    records = []
    for case in load_cases(CASES):
        patient = parse_patient(case.patient, path=f"{case.name}.yaml", knowledge=shipped.kb)
        records.append((case.name, build_patient_facts(patient, shipped.kb)))
    return records


def test_experta_is_the_version_the_adaptations_were_written_for():
    assert experta.__version__ == "1.9.4"


def test_run_loop_matches_experta_source():
    """TracingEngine.run is experta's loop plus one line; an upstream change to the loop must be ported."""
    source = inspect.getsource(KnowledgeEngine.run)
    digest = hashlib.sha256(source.encode()).hexdigest()
    needles = ("get_activations()", "update_agenda(", "agenda.get_next()", "activation.rule(", "activation.context")
    for needle in needles:
        assert needle in source, f"experta's run loop no longer calls {needle}: port the change to TracingEngine.run"
    assert digest == RUN_LOOP_SHA256, f"experta's run loop changed (sha256 {digest}): re-read it, port, update"


def test_changes_relies_on_experta_source():
    """TracingMatcher.changes skips the conflict-set nodes with nothing added or removed: right only while
    experta's get_activations just hands over and clears those two sets, and changes does nothing else."""
    from cds.rules._experta import ConflictSetNode, ReteMatcher

    for method, expected in (
        (ReteMatcher.changes, CHANGES_SHA256),
        (ConflictSetNode.get_activations, GET_ACTIVATIONS_SHA256),
    ):
        digest = hashlib.sha256(inspect.getsource(method).encode()).hexdigest()
        assert digest == expected, f"experta's {method.__qualname__} changed: re-read it, port TracingMatcher.changes"


def test_rule_keeps_the_wrapped_function():
    """RuleIdStrategy orders activations by the rule id stored on the function a Rule wraps (``_wrapped``)."""

    def fire(self):
        pass

    fire.rule_id = "X-1"
    rule = Rule(InitialFact())(fire)
    assert rule._wrapped is fire
    assert getattr(rule._wrapped, "rule_id", None) == "X-1"


def test_adapted_engine_fires_exactly_what_experta_fires(shipped, case_records):
    """Root dispatch by fact type, the flat reset and the run loop change speed, never the firings; the same
    engine instance is reused across all cases, as in production, so the reset is exercised between patients."""
    adapted = shipped.engine_class()
    plain = compile_engine_class(shipped.rules, shipped.kb, ExpertaDefaults, _fire)()
    assert isinstance(plain.strategy, RuleIdStrategy)
    differences = []
    for name, records in case_records[::5]:  # 32 cases spread over the library (experta's own dispatch is slow)
        ours = shipped._run_on(adapted, records, ())
        theirs = shipped._run_on(plain, records, ())
        strip = [(f["rule"], [m["id"] for m in f["facts"]], f["asserted"]) for f in ours]
        reference = [(f["rule"], [m["id"] for m in f["facts"]], f["asserted"]) for f in theirs]
        if strip != reference:
            differences.append(name)
    assert len(case_records[::5]) >= 30
    assert not differences, f"adapted engine differs from experta's defaults on: {differences}"


def test_reset_leaves_no_memory_between_patients(shipped, case_records):
    """A reused engine gives the same firings as a fresh one for every case (the flat reset wipes every node)."""
    reused = shipped.engine_class()
    for name, records in case_records[::16]:
        again = shipped._run_on(reused, records, ())
        fresh = shipped._run_on(shipped.engine_class(), records, ())
        assert [f["rule"] for f in again] == [f["rule"] for f in fresh], name

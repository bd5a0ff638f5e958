"""Static analysis of rule conditions by interval arithmetic (rule-engine design notes, section 6.1).

Each condition of a rule's ``when`` tree (rules/README.md) is turned into the set of values it admits for one
field: a union of intervals for numbers, a (co)finite set for booleans and codes, and whether an *unknown*
value satisfies it (``not`` holds for unknown values: "unknown is not false"). The tree is expanded into
disjunctive normal form; a branch whose admitted set for some field is empty can never hold, and a rule whose
branches are all empty can never fire (``x > 15 and x < 10``, ``between: [20, 10]``, ``is: unknown`` together
with a comparison, a value outside the field's range).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Atom", "DeadBranch", "Domain", "NumSet", "ValueSet", "atoms_of", "can_hold_together", "find_dead_branches"]

_INF = math.inf
_MAX_TERMS = 512
_COMPARISONS = ("gt", "gte", "lt", "lte", "between")
_DERIVED = ("evidence", "finding", "recommendation")

Interval = tuple[float, bool, float, bool]  # low, low closed, high, high closed


@dataclass(frozen=True)
class NumSet:
    """A union of disjoint intervals, sorted."""

    intervals: tuple[Interval, ...]

    @classmethod
    def everything(cls) -> NumSet:
        return cls(((-_INF, False, _INF, False),))

    @classmethod
    def of(cls, low: float, low_closed: bool, high: float, high_closed: bool) -> NumSet:
        empty = low > high or (low == high and not (low_closed and high_closed))
        return cls(() if empty else ((low, low_closed, high, high_closed),))

    def is_empty(self) -> bool:
        return not self.intervals

    def intersect(self, other: NumSet) -> NumSet:
        out: list[Interval] = []
        for a in self.intervals:
            for b in other.intervals:
                low, low_closed = max((a[0], not a[1]), (b[0], not b[1]))
                high, high_closed = min((a[2], a[3]), (b[2], b[3]))
                out += NumSet.of(low, not low_closed, high, high_closed).intervals
        return NumSet(tuple(sorted(out)))

    def complement(self) -> NumSet:
        out: list[Interval] = []
        low, low_closed = -_INF, False
        for a in self.intervals:
            out += NumSet.of(low, low_closed, a[0], not a[1]).intervals
            low, low_closed = a[2], not a[3]
        out += NumSet.of(low, low_closed, _INF, False).intervals
        return NumSet(tuple(i for i in out if not (math.isinf(i[0]) and i[0] == i[2])))

    def __str__(self) -> str:
        parts = [f"{'[' if lc else '('}{lo:g}, {hi:g}{']' if hc else ')'}" for lo, lc, hi, hc in self.intervals]
        return " or ".join(parts) or "nothing"


@dataclass(frozen=True)
class ValueSet:
    """A finite set of values, or (``cofinite``) every value except those."""

    values: frozenset[Any]
    cofinite: bool = False

    @classmethod
    def everything(cls) -> ValueSet:
        return cls(frozenset(), cofinite=True)

    def is_empty(self) -> bool:
        return not self.cofinite and not self.values

    def intersect(self, other: ValueSet) -> ValueSet:
        if self.cofinite and other.cofinite:
            return ValueSet(self.values | other.values, cofinite=True)
        if self.cofinite:
            return ValueSet(other.values - self.values)
        if other.cofinite:
            return ValueSet(self.values - other.values)
        return ValueSet(self.values & other.values)

    def complement(self) -> ValueSet:
        return ValueSet(self.values, cofinite=not self.cofinite)

    def __str__(self) -> str:
        listed = ", ".join(sorted(map(_show, self.values)))
        return f"anything but {listed}" if self.cofinite else (listed or "nothing")


def _show(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class Domain:
    """Values of one field a condition admits: a set of known values, and whether an unknown value does."""

    known: NumSet | ValueSet
    unknown: bool

    def is_empty(self) -> bool:
        return self.known.is_empty() and not self.unknown

    def intersect(self, other: Domain) -> Domain:
        mine, theirs = _same_kind(self.known, other.known), _same_kind(other.known, self.known)
        if isinstance(mine, NumSet) and isinstance(theirs, NumSet):
            return Domain(mine.intersect(theirs), self.unknown and other.unknown)
        if isinstance(mine, ValueSet) and isinstance(theirs, ValueSet):
            return Domain(mine.intersect(theirs), self.unknown and other.unknown)
        return self  # a type mismatch: reported by the loader, not here

    def negate(self) -> Domain:
        return Domain(self.known.complement(), not self.unknown)


def _same_kind(known: NumSet | ValueSet, like: NumSet | ValueSet) -> NumSet | ValueSet:
    """``is: known`` / ``is: unknown`` admit every / no known value of any type: express them in ``like``'s kind."""
    if isinstance(known, ValueSet) and isinstance(like, NumSet) and not known.values:
        return NumSet.everything() if known.cofinite else NumSet(())
    return known


@dataclass(frozen=True)
class Atom:
    """One leaf condition: its key (``field``, ``finding``, ...), code or field name, source, node and location."""

    kind: str
    name: str
    source: str | None
    node: Mapping[str, Any] = field(compare=False, repr=False)
    location: tuple[int, int] | None = None


@dataclass(frozen=True)
class DeadBranch:
    """A DNF branch that can never hold: the field, the atoms that contradict, and what each admits."""

    field: str
    source: str | None
    atoms: tuple[Atom, ...]
    all_branches_dead: bool


def _location(node: Any) -> tuple[int, int] | None:
    lc = getattr(node, "lc", None)
    return (lc.line + 1, lc.col + 1) if lc is not None and lc.line is not None else None


def _atom(node: Mapping[str, Any]) -> Atom | None:
    for kind in ("field", *_DERIVED):
        if kind in node and isinstance(node[kind], str):
            return Atom(kind, node[kind], node.get("source"), node, _location(node))
    return None


def atoms_of(when: Any, negated: bool = False) -> Iterator[tuple[Atom, bool]]:
    """Every leaf condition of a ``when`` tree with whether it sits under an odd number of ``not``."""
    if not isinstance(when, Mapping):
        return
    for key in ("all", "any"):
        if isinstance(when.get(key), list):
            for child in when[key]:
                yield from atoms_of(child, negated)
            return
    if "not" in when:
        yield from atoms_of(when["not"], not negated)
        return
    atom = _atom(when)
    if atom is not None:
        yield atom, negated


Resolve = Callable[[Any], float | None]  # a constant or {threshold: NAME} -> number (None when unknown)


def domain_of(atom: Atom, resolve: Resolve, field_range: tuple[float | None, float | None] | None) -> Domain | None:
    """The values an atom admits, or None when it cannot be analysed (bad shape: the loader reports it)."""
    node = atom.node
    if atom.kind != "field":
        return Domain(ValueSet(frozenset({True})), unknown=False)
    if "is" in node:
        state = node["is"]
        if state == "unknown":
            return Domain(ValueSet(frozenset()), unknown=True)
        if state == "known":
            return Domain(ValueSet.everything(), unknown=False)
        return Domain(ValueSet(frozenset({state})), unknown=False) if isinstance(state, bool) else None
    if "eq" in node:
        return Domain(ValueSet(frozenset({_hashable(node["eq"])})), unknown=False)
    if "in" in node and isinstance(node["in"], list):
        return Domain(ValueSet(frozenset(_hashable(v) for v in node["in"])), unknown=False)
    return _numeric_domain(node, resolve, field_range)


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) else repr(value)


def _numeric_domain(node: Mapping[str, Any], resolve: Resolve, field_range: tuple[Any, ...] | None) -> Domain | None:
    known, seen = NumSet.everything(), False
    for op in _COMPARISONS:
        if op not in node:
            continue
        seen = True
        if op == "between":
            pair = node[op] if isinstance(node[op], list) and len(node[op]) == 2 else None
            low, high = (resolve(pair[0]), resolve(pair[1])) if pair else (None, None)
            if low is None or high is None:
                return None
            part = NumSet.of(low, True, high, False)
        else:
            value = resolve(node[op])
            if value is None:
                return None
            part = {
                "gt": NumSet.of(value, False, _INF, False),
                "gte": NumSet.of(value, True, _INF, False),
                "lt": NumSet.of(-_INF, False, value, False),
                "lte": NumSet.of(-_INF, False, value, True),
            }[op]
        known = known.intersect(part)
    if not seen:
        return None
    if field_range is not None:
        low, high = field_range
        known = known.intersect(NumSet.of(-_INF if low is None else low, True, _INF if high is None else high, True))
    return Domain(known, unknown=False)


Term = tuple[tuple[Atom, bool], ...]


def _dnf(when: Any, negated: bool = False) -> list[Term]:
    """Disjunctive normal form of a when tree, leaves tagged with their polarity (De Morgan through ``not``)."""
    if not isinstance(when, Mapping):
        return [()]
    for key in ("all", "any"):
        if isinstance(when.get(key), list):
            conjunctive = (key == "all") != negated
            parts = [_dnf(child, negated) for child in when[key]]
            if not conjunctive:
                return [term for part in parts for term in part][:_MAX_TERMS]
            terms: list[Term] = [()]
            for part in parts:
                terms = [a + b for a in terms for b in part][:_MAX_TERMS]
            return terms
    if "not" in when:
        return _dnf(when["not"], not negated)
    atom = _atom(when)
    return [((atom, negated),)] if atom is not None else [()]


def find_dead_branches(
    when: Any,
    *,
    resolve: Resolve,
    field_range: Callable[[str], tuple[float | None, float | None] | None],
    single_source: Callable[[str], str | None],
) -> list[DeadBranch]:
    """Branches of ``when`` that can never hold, one per branch (the first contradicting field of each)."""
    terms = _dnf(when)
    dead: list[tuple[str, str | None, tuple[Atom, ...]]] = []
    for term in terms:
        found = _first_contradiction(term, resolve, field_range, single_source)
        if found is not None:
            dead.append(found)
    all_dead = bool(terms) and len(dead) == len(terms)
    unique = {(f, s, a): None for f, s, a in dead}
    return [DeadBranch(f, s, a, all_dead) for f, s, a in unique]


def _first_contradiction(
    term: Term, resolve: Resolve, field_range: Callable[..., Any], single_source: Callable[..., Any]
) -> tuple[str, str | None, tuple[Atom, ...]] | None:
    domains: dict[tuple[str, str, str | None], tuple[Domain, tuple[Atom, ...]]] = {}
    for atom, negated in term:
        domain = domain_of(atom, resolve, field_range(atom.name) if atom.kind == "field" else None)
        if domain is None:
            continue
        if negated:
            domain = domain.negate()
        source = atom.source or (single_source(atom.name) if atom.kind == "field" else None)
        key = (atom.kind, atom.name, source)
        previous, atoms = domains.get(key, (None, ()))
        combined = domain if previous is None else previous.intersect(domain)
        domains[key] = (combined, (*atoms, atom))
        if combined.is_empty():
            return f"{atom.kind} {atom.name}" if atom.kind != "field" else atom.name, source, domains[key][1]
    return None


def _constrain(domains: dict[Any, Any], atom: Atom, domain: Domain, negated: bool, source: str | None) -> bool:
    """Add one atom's admitted values to the search state; False when some fact can then have no value.

    One fact per slot (a derived fact, a single-source field, or a field restricted to one source): its
    constraints intersect. A field with several sources and no ``source:``: a positive atom needs *some* fact
    in its set, a negated one forbids its set for *every* fact, so each positive set must meet the forbidden
    sets' complement (and so must every single-source slot of that field).
    """
    if atom.kind != "field" or source is not None:
        slot = ("slot", atom.kind, atom.name, source)
        combined = domain if slot not in domains else domains[slot].intersect(domain)
        every = domains.get(("every", atom.name))
        domains[slot] = combined
        return not combined.is_empty() and (every is None or not combined.intersect(every).is_empty())
    every = domains.get(("every", atom.name))
    some = domains.get(("some", atom.name), ())
    if negated:
        every = domain if every is None else every.intersect(domain)
        domains[("every", atom.name)] = every
        others = [d for k, d in domains.items() if k[0] == "slot" and k[1:3] == ("field", atom.name)]
        return all(not d.intersect(every).is_empty() for d in (*some, *others))
    domains[("some", atom.name)] = (*some, domain)
    return not domain.is_empty() and (every is None or not domain.intersect(every).is_empty())


class _OverBudgetError(Exception):
    """The satisfiability search took more steps than allowed."""


Expand = Callable[[Atom], Any]  # a derived-fact atom -> the `when` trees that assert it (an `any` node) or None


def can_hold_together(
    nodes: list[Any],
    *,
    resolve: Resolve,
    field_range: Callable[[str], tuple[float | None, float | None] | None],
    single_source: Callable[[str], str | None],
    expand: Expand,
    max_depth: int = 8,
    budget: int = 50_000,
    memo: dict[int, Any] | None = None,
) -> bool | None:
    """Whether every ``when`` tree in ``nodes`` can hold at once (None when the search exceeds ``budget`` steps).

    Derived facts (``{finding: X}``, ...) are replaced by the conditions of the rules that assert them
    (``expand``), so two rules exclusive through their findings are seen as exclusive. Every conjunctive part is
    applied before any choice is made (propagation first), then the search branches on the open disjunction with
    the fewest alternatives, pruned as soon as some field admits no value. The order changes the steps taken, not
    the answer. ``memo`` (id of a node -> its parsed shape) may be shared by calls over trees that stay alive.
    """
    steps = [0]
    shapes: dict[int, Any] = {} if memo is None else memo

    def shape(node: Any) -> tuple[Any, ...]:
        """A node parsed once: ("and"|"or", children), ("not", child), ("atom", Atom, domain, source), ("skip",)."""
        found = shapes.get(id(node))
        if found is not None and found[0] is node:
            return found[1]  # type: ignore[no-any-return]
        parsed: tuple[Any, ...] = ("skip",)
        if isinstance(node, Mapping):
            key = next((k for k in ("all", "any") if isinstance(node.get(k), list)), None)
            if key is not None:
                parsed = ("and" if key == "all" else "or", list(node[key]))
            elif "not" in node:
                parsed = ("not", node["not"])
            elif (atom := _atom(node)) is not None:
                domain = domain_of(atom, resolve, field_range(atom.name) if atom.kind == "field" else None)
                source = atom.source or (single_source(atom.name) if atom.kind == "field" else None)
                parsed = ("atom", atom, domain, source)
        shapes[id(node)] = (node, parsed)
        return parsed

    def step() -> None:
        steps[0] += 1
        if steps[0] > budget:
            raise _OverBudgetError

    def expansion(atom: Atom, depth: int) -> Any:
        """The conditions of the rules asserting a derived fact, while the depth allows (else None: a plain atom)."""
        return expand(atom) if atom.kind != "field" and depth < max_depth else None

    def admit(domains: Any, atom: Atom, domain: Domain, negated: bool, source: str | None) -> bool:
        return _constrain(domains, atom, domain.negate() if negated else domain, negated, source)

    def search(stack: list[tuple[Any, bool, int]], choices: list[tuple[list[Any], bool, int]], domains: Any) -> bool:
        while stack:
            node, negated, depth = stack.pop()
            step()
            parsed = shape(node)
            kind = parsed[0]
            if kind in ("and", "or"):
                if (kind == "and") != negated:
                    stack.extend((child, negated, depth) for child in parsed[1])
                else:
                    choices.append((parsed[1], negated, depth))
                continue
            if kind == "not":
                stack.append((parsed[1], not negated, depth))
                continue
            if kind != "atom":
                continue
            _, atom, domain, source = parsed
            replacement = expansion(atom, depth)
            if replacement is not None:
                stack.append((replacement, negated, depth + 1))
            elif domain is not None and not admit(domains, atom, domain, negated, source):
                return False
        if not choices:
            return True
        best: tuple[int, list[Any], bool, int] | None = None
        for index, (children, negated, depth) in enumerate(choices):
            alive = [child for child in children if viable(child, negated, depth, domains)]
            if not alive:
                return False  # every alternative of this choice contradicts what already holds
            if best is None or len(alive) < len(best[1]):
                best = (index, alive, negated, depth)
        assert best is not None
        pick, alive, negated, depth = best
        rest = choices[:pick] + choices[pick + 1 :]
        return any(search([(child, negated, depth)], list(rest), dict(domains)) for child in alive)

    def viable(node: Any, negated: bool, depth: int, domains: Any) -> bool:
        """Look-ahead: False when the plain conditions at the top of this alternative contradict what holds."""
        parsed = shape(node)
        if parsed[0] == "not":
            parsed, negated = shape(parsed[1]), not negated
        if parsed[0] == "atom":
            tops = [parsed]
        elif parsed[0] in ("and", "or") and (parsed[0] == "and") != negated:
            tops = [p for p in map(shape, parsed[1]) if p[0] == "atom"]
        else:
            return True
        trial = None
        for _, atom, domain, source in tops:
            step()
            if domain is None or expansion(atom, depth) is not None:
                continue
            trial = dict(domains) if trial is None else trial
            if not admit(trial, atom, domain, negated, source):
                return False
        return True

    try:
        return search([(node, False, 0) for node in nodes], [], {})
    except _OverBudgetError:
        return None

"""The one place that makes experta importable on Python >= 3.10.

experta 1.9.4 (its last release) pins ``frozendict==1.2``, which does ``from collections import Mapping``; the
ABC aliases were removed from ``collections`` in Python 3.10. We alias them back from ``collections.abc`` before
experta is imported. Every other cds module imports experta only through this module.
"""

from __future__ import annotations

import collections
import collections.abc

for _name in (
    "Callable",
    "Hashable",
    "Iterable",
    "Iterator",
    "Mapping",
    "MutableMapping",
    "MutableSequence",
    "MutableSet",
    "Sequence",
    "Set",
):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))

import experta  # noqa: E402
from experta import AND, NOT, OR, Fact, Field, InitialFact, KnowledgeEngine, P, Rule  # noqa: E402
from experta.abstract import Matcher, Strategy  # noqa: E402
from experta.conditionalelement import ConditionalElement  # noqa: E402
from experta.matchers import ReteMatcher  # noqa: E402
from experta.matchers.rete.check import FeatureCheck, TypeCheck  # noqa: E402
from experta.matchers.rete.nodes import BusNode, ConflictSetNode  # noqa: E402
from experta.matchers.rete.token import Token  # noqa: E402

__all__ = [
    "AND",
    "NOT",
    "OR",
    "BusNode",
    "ConditionalElement",
    "ConflictSetNode",
    "Fact",
    "FeatureCheck",
    "Field",
    "InitialFact",
    "KnowledgeEngine",
    "Matcher",
    "P",
    "ReteMatcher",
    "Rule",
    "Strategy",
    "Token",
    "TypeCheck",
    "experta",
]

"""The compiled rule bundle: everything a triage needs from rules/ and knowledge/, built once, loaded in
milliseconds (issue 11, item 6).

A bundle holds the validated rule set, the knowledge it was checked against, the decision's ``inputs.ruleset``
stamp (the manifest's version and the files' sha256) and the Rete network experta builds from the compiled
rules, taken before any fact entered it. It is addressed by content: the key (cds.rules.cache.content_key) covers
the bytes of every file under rules/ and knowledge/, the bytes of every module of the cds package, and the cds,
Python and experta versions, so an edited rule, threshold or engine module can never be served a stale bundle.

``cds rules check`` and ``cds rules release`` build it; a triage that finds none builds and stores it itself.
It lives in the cache folder (cds.rules.cache.cache_dir; ``CDS_NO_CACHE=1`` turns it off) and is a pickle, as
Python's own bytecode cache is: written only by cds into the user's own folder. Rule, patient and template files
are still never executed; nothing in a bundle comes from them but data (cds.rules.evaluate.AtomTest,
cds.rules.compile.RuleAction: value objects, no closures).
"""

from __future__ import annotations

import copyreg
import hashlib
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds import __version__
from cds.kb import Knowledge, load_knowledge
from cds.rules._experta import ConditionalElement, FeatureCheck, experta
from cds.rules.cache import code_stamps, content_key, is_racy, read_cached, write_cached
from cds.rules.load import RuleSet, load_rules

__all__ = [
    "BUNDLE_FORMAT",
    "Bundle",
    "NetworkBuilder",
    "build_bundle",
    "bundle_key",
    "load_bundle",
    "remembered_bundle_key",
]

log = logging.getLogger(__name__)

BUNDLE_FORMAT = 1  # bump when the layout of Bundle changes


def _reduce_feature_check(check: Any) -> tuple[Any, tuple[Any, Any]]:
    """experta interns FeatureCheck by (what, how) and derives its check function from them: store only those."""
    return FeatureCheck, (check.what, check.how)


def _rebuild_element(cls: type, items: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """A conditional element (a tuple subclass) with exactly the items and attributes it was stored with."""
    element: Any = tuple.__new__(cls, items)
    element.__dict__.update(state)
    return element


def _reduce_element(element: Any) -> tuple[Any, tuple[type, tuple[Any, ...], dict[str, Any]]]:
    """experta's conditional elements (AND, NOT, Rule, P, ...) are tuples whose ``__new__`` takes the items as
    separate arguments (and P, L, W a binding name); pickle's default for a tuple subclass would pass them as one
    tuple, so each is stored as (class, items, attributes) and rebuilt as such."""
    return _rebuild_element, (type(element), tuple(element), dict(element.__dict__))


def _subclasses(cls: type) -> list[type]:
    found = [cls]
    sub: type
    for sub in cls.__subclasses__():
        found.extend(_subclasses(sub))
    return found


copyreg.pickle(FeatureCheck, _reduce_feature_check)
for _element_class in _subclasses(ConditionalElement):
    copyreg.pickle(_element_class, _reduce_element)


@dataclass(frozen=True)
class Bundle:
    """The compiled rule base of one content key."""

    key: str
    kb: Knowledge
    rules: RuleSet
    stamp: dict[str, str | None]
    network: Any  # the root of the Rete network of the active rules, as built (no fact has entered it)


def bundle_key(rules_path: Path, knowledge_path: Path) -> str:
    """The content key of a bundle: rules/, knowledge/, the cds code and the cds, Python and experta versions."""
    return f"{content_key(rules_path, knowledge_path)[:48]}-e{experta.__version__}-b{BUNDLE_FORMAT}"


NetworkBuilder = Callable[[RuleSet, Knowledge], Any]  # the Rete network of the active rules (cds.rules.engine)


def remembered_bundle_key(rules_path: Path, knowledge_path: Path, stamps: tuple[Any, ...], checked_ns: int) -> str:
    """``bundle_key``, remembered across processes by the files' stamps, as git's index remembers file hashes.

    ``stamps`` are the rules' and knowledge's (cds.rules.cache.file_stamps, taken before ``checked_ns``); the cds
    modules' stamps and the versions join them. Equal stamps mean the same bytes (a write moves ctime), so a
    process finding its stamps in the index skips hashing every file. Stamps of a file changed less than
    ``cache.RACY_NS`` before the check are never remembered (a second write in the same timestamp tick could
    keep them), exactly as the in-process cache (cds.rules.engine.load_rulebase) does.
    """
    code = code_stamps()
    versions = (__version__, sys.version_info[:2], experta.__version__, BUNDLE_FORMAT)
    index = hashlib.sha256(repr((stamps, code, versions)).encode()).hexdigest()
    known = read_cached(index, kind="stamps")
    if isinstance(known, str):
        return known
    key = bundle_key(rules_path, knowledge_path)
    if not is_racy(stamps, checked_ns) and not is_racy(code, checked_ns):
        write_cached(index, key, kind="stamps")
    return key


def build_bundle(
    rules_path: Path,
    knowledge_path: Path,
    network_of: NetworkBuilder,
    *,
    key: str | None = None,
    store: bool = True,
    validated: tuple[Knowledge, RuleSet] | None = None,
) -> Bundle:
    """Validate the files, stamp them, build their Rete network with ``network_of`` and (``store``) write the
    bundle. Raises RuleFileError on any bad file, exactly as loading them does. ``validated``: the knowledge and
    rules a clean ``rules check`` already loaded from files whose content key was ``key`` before it read them;
    used only while the files still have that key, else they are validated again.
    """
    from cds.rules.manifest import ruleset_stamp

    # the files' key now: taken from the caller unless it vouches for files it read earlier (``validated``)
    current = key if key is not None and validated is None else bundle_key(rules_path, knowledge_path)
    if validated is not None and key == current:
        kb, rules = validated
    else:
        kb = load_knowledge(knowledge_path)
        rules = load_rules(rules_path, kb)
    key = current
    stamp = ruleset_stamp(rules_path, knowledge_path)
    network = network_of(rules, kb)
    bundle = Bundle(key, kb, rules, stamp, network)
    if store:
        write_cached(key, bundle, kind="bundle")
    log.info("built rule bundle %s (%d active rules)", key[:12], len(rules.active()))
    return bundle


def load_bundle(
    rules_path: Path, knowledge_path: Path, network_of: NetworkBuilder, *, key: str | None = None
) -> Bundle:
    """The bundle of these files: read back when one with their content key exists, else built and stored."""
    key = key or bundle_key(rules_path, knowledge_path)
    stored = read_cached(key, kind="bundle")
    if isinstance(stored, Bundle) and stored.key == key:
        return stored
    return build_bundle(rules_path, knowledge_path, network_of, key=key)

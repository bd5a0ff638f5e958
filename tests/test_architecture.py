"""The documented layering (docs/architecture.md) holds in the code: every cds package imports only what the
table there allows (no upward imports), and no module imports itself through others (no cycles), counting
imports inside functions too."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cds"

LEAVES = {
    "cds",  # the version
    "cds.errors",
    "cds.caveats",
    "cds.files",
    "cds.paths",
    "cds.units",
    "cds.parallel",
    "cds.formatting",
    "cds.limits",
    "cds.yamlfile",
    "cds.outputs",
    "cds.stages",
    "cds.standard_names",
}
KNOWLEDGE = {"cds.policy", "cds.standards", "cds.fieldspec", "cds.kb", "cds.knowledge_schema"}
SIGNAL = {"cds.io", "cds.detect", "cds.stats", "cds.analysis"}

# package -> the cds packages it may import (besides itself and the leaves); keep in step with the table in
# docs/architecture.md ("Packages: what each does, and what it may import").
ALLOWED: dict[str, set[str]] = {
    **{leaf: set() for leaf in LEAVES},
    "cds.policy": set(),
    "cds.standards": set(),
    "cds.fieldspec": set(),
    "cds.kb": {"cds.policy", "cds.fieldspec"},
    "cds.knowledge_schema": {"cds.kb", "cds.fieldspec"},
    "cds.io": set(),
    "cds.detect": {"cds.standards"},
    "cds.stats": {"cds.standards", "cds.detect"},
    "cds.analysis": {"cds.standards", "cds.io", "cds.detect", "cds.stats"},
    "cds.synth": {"cds.standards", "cds.io", "cds.detect", "cds.stats"},
    "cds.validation": {"cds.standards", "cds.io", "cds.detect", "cds.stats", "cds.analysis"},
    "cds.facts": KNOWLEDGE,
    "cds.rules": KNOWLEDGE | {"cds.facts"},
    "cds.decision": KNOWLEDGE | {"cds.facts", "cds.rules"},
    "cds.audit": set(),
    "cds.letter": KNOWLEDGE | {"cds.rules"},
    "cds.authoring": KNOWLEDGE | {"cds.facts", "cds.rules", "cds.decision", "cds.letter"},
    "cds.fhir": KNOWLEDGE | {"cds.facts"},
    "cds.pipeline": KNOWLEDGE
    | SIGNAL
    | {"cds.synth", "cds.facts", "cds.rules", "cds.decision", "cds.audit", "cds.letter"},
}
# cohorts: the pipeline per night, the rule sets and the authoring tools' replay per case, the log
ALLOWED["cds.batch"] = KNOWLEDGE | SIGNAL | {"cds.rules", "cds.pipeline", "cds.authoring", "cds.audit"}
# the entry points may import everything below them
ALLOWED["cds.server"] = set(ALLOWED) - {"cds.server"}
ALLOWED["cds.cli"] = set(ALLOWED) - {"cds.cli"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(module: str) -> str:
    parts = module.split(".")
    if len(parts) >= 2 and (PACKAGE / parts[1]).is_dir():
        return ".".join(parts[:2])
    return ".".join(parts[:2]) if len(parts) >= 2 else module


def _imports(path: Path) -> set[str]:
    """Every cds module ``path`` imports, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "cds":
            for alias in node.names:  # "from cds.x import y" may name a module y
                candidate = f"{node.module}.{alias.name}"
                is_module = (ROOT / Path(*candidate.split("."))).with_suffix(".py").is_file()
                found.add(candidate if is_module or (ROOT / Path(*candidate.split("."))).is_dir() else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "cds"}
    return found


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def test_every_package_is_in_the_documented_table():
    packages = {_package(name) for name in MODULES}
    missing = sorted(packages - set(ALLOWED))
    assert not missing, f"packages missing from the layering table (and docs/architecture.md): {missing}"
    documented = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for package in packages - {"cds"}:
        assert re.search(rf"`{re.escape(package)}[`.]", documented), f"{package} is not in docs/architecture.md"


def test_no_upward_imports():
    wrong = []
    for module, targets in GRAPH.items():
        source = _package(module)
        for target in targets:
            goal = _package(target)
            if goal != source and goal not in LEAVES and goal not in ALLOWED[source]:
                wrong.append(f"{module} imports {target} ({source} may not import {goal})")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycles_between_modules():
    graph = defaultdict(set)
    for module, targets in GRAPH.items():
        graph[module] |= {t for t in targets if t in MODULES and t != module}
    # a package's __init__ importing its own modules (re-exports) is not a cycle of meaning: leave those edges out
    for module in list(graph):
        if (ROOT / Path(*module.split("."))).is_dir():
            graph[module] = {t for t in graph[module] if not t.startswith(module + ".")}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_real_edges():
    """Guards the test itself: known imports are found, so an empty graph cannot pass silently."""
    assert "cds.rules.engine" in GRAPH["cds.decision"] or any(
        t.startswith("cds.decision.record") for t in GRAPH["cds.decision"]
    )
    assert any(t.startswith("cds.rules") for t in GRAPH["cds.authoring.check"])
    assert "cds.kb" in GRAPH["cds.rules.engine"]

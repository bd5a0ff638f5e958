"""``python -m cds.rulebase.selfcheck [RULES_DIR]``: check every knowledge and rule file, run every inline rule
test and every scenario, print failures readably and exit 1 on any failure (0 when all is well).

Meant for rule authors while they write rules: it never stops at the first problem.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cds.errors import RuleFileError
from cds.kb import load_knowledge
from cds.paths import knowledge_dir, rules_dir
from cds.rulebase.load import check_rules
from cds.rulebase.scenarios import Coverage, run_inline_tests, run_scenarios

__all__ = ["main", "selfcheck"]


def selfcheck(rules: Path, knowledge: Path, out: list[str]) -> int:
    """Run every check, append readable lines to ``out`` and return the number of failures."""
    try:
        kb = load_knowledge(knowledge)
    except RuleFileError as exc:
        out += ["KNOWLEDGE FILES", *(f"  {line}" for line in getattr(exc, "problems", [str(exc)]))]
        return len(getattr(exc, "problems", [1]))
    ruleset, problems = check_rules(rules, kb)
    failures = len(problems)
    out.append(f"rule files: {len(ruleset.rules)} valid ({len(ruleset.active())} active), {len(problems)} problem(s)")
    out += [f"  {line}" for line in problems]
    coverage = Coverage()
    inline = run_inline_tests(ruleset, kb, coverage)
    bad = [r for r in inline if r.failed]
    out.append(f"inline tests: {len(inline)} case(s), {len(bad)} failed")
    for r in bad:
        out += [f"  {r.where}: {r.name}", *(f"      {p}" for p in r.problems)]
    failures += len(bad)
    try:
        from cds.rulebase.engine import RuleBase

        rulebase = RuleBase(ruleset, kb)
    except Exception as exc:  # a compile failure is a bug, but authors need to see it here
        out.append(f"compile: FAILED: {type(exc).__name__}: {exc}")
        return failures + 1
    scenarios = run_scenarios(rulebase, rules, coverage)
    bad = [r for r in scenarios if r.failed]
    todo = [r for r in scenarios if r.todo]
    out.append(
        f"scenarios: {len(scenarios)} case(s), {len(bad)} failed, {len(todo)} todo"
        + (" (rule set incomplete: fix the rule-file problems first)" if problems else "")
    )
    for r in bad:
        out += [f"  {r.where}: {r.name}", *(f"      {p}" for p in r.problems)]
    for r in todo:
        state = "now passes: remove todo" if r.passed else "todo, still failing"
        out.append(f"  {r.where}: {r.name} [{state}]")
    failures += len(bad)
    never_fired = coverage.never_fired(ruleset)
    never_blocked = coverage.never_blocked(ruleset)
    out.append(
        f"coverage: {len(ruleset.active()) - len(never_fired)}/{len(ruleset.active())} active rules fired "
        f"in some case; never fired: {', '.join(never_fired) or 'none'}; "
        f"never blocked: {', '.join(never_blocked) or 'none'}"
    )
    return failures


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    rules = Path(args[0]) if args else rules_dir()
    knowledge = Path(args[1]) if len(args) > 1 else knowledge_dir()
    out: list[str] = []
    failures = selfcheck(rules, knowledge, out)
    out.append("OK" if failures == 0 else f"FAILED: {failures} problem(s)")
    sys.stdout.write("\n".join(out) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

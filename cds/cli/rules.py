"""``cds rules check|test|list|show|book|diff|manifest``: the rule base's own tooling (issue 5)."""

from __future__ import annotations

import json
import re
from contextlib import nullcontext
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cds.cli._exit import ProblemsFoundError
from cds.cli._replay import SCHEDULER_OPTION, WORKERS_OPTION, echo_replay, replay_backend, replay_progress
from cds.paths import knowledge_dir, rules_dir

__all__ = ["app"]

if TYPE_CHECKING:
    from cds.authoring.coverage import CoverageReport

app = typer.Typer(name="rules", help="Check, test, list, show, book and diff the rule base.", no_args_is_help=True)


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


_PATH = Annotated[Path | None, typer.Argument(help="rules/ folder (default: the installed rule base).")]
_FORMAT = typer.Option(OutputFormat.TEXT, "--format", help="text or json.")
_KNOWLEDGE = typer.Option(None, "--knowledge", help="knowledge/ folder (default: the one beside PATH, else installed).")


def _folders(path: Path | None, knowledge: Path | None) -> tuple[Path, Path]:
    """``PATH`` is a rules/ folder (or a folder holding rules/ and knowledge/); knowledge defaults beside it."""
    rules = Path(path) if path is not None else rules_dir()
    if (rules / "rules").is_dir():
        rules = rules / "rules"
    if knowledge is None:
        knowledge = rules.parent / "knowledge" if (rules.parent / "knowledge").is_dir() else knowledge_dir()
    return rules, Path(knowledge)


@app.command("cases")
def cases(
    cases_dir: Annotated[Path, typer.Argument(help="Folder of case files (tests/cases in the repository).")],
    path: Annotated[Path | None, typer.Option("--rules", help="rules/ folder (default: installed).")] = None,
    knowledge: Path | None = _KNOWLEDGE,
) -> None:
    """Run the clinical case library through the rule base and print the agreement by item type (pathway,
    urgency, recommendations, findings, treatment statuses, current medications); exit 1 on a safety failure."""
    from cds.authoring.casebank import format_report, run_benchmark
    from cds.errors import InputError

    if not Path(cases_dir).is_dir():
        raise InputError("not a folder of case files", path=cases_dir)
    rules, know = _folders(path, knowledge)
    try:
        score, decision_s = run_benchmark(cases_dir, rules_dir=rules, knowledge_dir=know)
    except ValueError as exc:
        raise InputError(str(exc), path=cases_dir) from exc
    typer.echo(format_report(score, decision_s))
    if score.safety_failures:
        raise ProblemsFoundError(f"{len(score.safety_failures)} safety failure(s)")


@app.command("check")
def check(
    path: _PATH = None,
    knowledge: Path | None = _KNOWLEDGE,
    fmt: OutputFormat = _FORMAT,
) -> None:
    """Validate every rule and knowledge file; exit 1 when any error is found (warnings do not fail)."""
    from cds.authoring.check import check_ruleset
    from cds.rules.bundle import bundle_key

    folders = _folders(path, knowledge)
    key = bundle_key(*folders)  # before the files are read: the bundle is built from what the check loaded
    report = check_ruleset(*folders)
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps([p.to_dict() for p in report.problems], indent=2, sort_keys=True))
    else:
        for problem in report.problems:
            typer.echo(str(problem))
    errors, warnings = len(report.errors), len(report.problems) - len(report.errors)
    summary = f"{report.rules_checked} rule files: {errors} errors, {warnings} warnings"
    if errors:
        raise ProblemsFoundError(summary)
    typer.echo(summary, err=True)
    _build_bundle(*folders, key=key, validated=report.validated)


def _build_bundle(rules: Path, knowledge: Path, *, key: str | None = None, validated: Any = None) -> None:
    """Compile the checked files into the bundle a triage loads (cds.rules.bundle) and say where it went."""
    from cds.rules.cache import cache_dir
    from cds.rules.engine import compile_bundle

    built = compile_bundle(rules, knowledge, key=key, validated=validated)
    where = cache_dir()
    if where is None:
        typer.echo("compiled rule bundle not stored (CDS_NO_CACHE is set)", err=True)
    else:
        typer.echo(f"compiled rule bundle {built.key} in {where}", err=True)


@app.command("manifest")
def manifest(
    path: _PATH = None,
    knowledge: Path | None = _KNOWLEDGE,
    update: bool = typer.Option(False, "--update", help="Rewrite rules/MANIFEST.yaml from the files as they are."),
    rev: str | None = typer.Option(None, "--rev", help="With --update: hash the files of this git revision."),
    version: str | None = typer.Option(None, "--version", help="Rule-set version to record (default: bump patch)."),
    force: bool = typer.Option(False, "--force", help="Update even if a rule changed without a version bump."),
) -> None:
    """Show the rule-set version and hash, or (``--update``) rewrite the manifest."""
    from cds.authoring.diff import materialise
    from cds.authoring.release import update_manifest
    from cds.rules.manifest import MANIFEST_NAME, read_manifest

    rules, knowledge = _folders(path, knowledge)
    target = rules / MANIFEST_NAME
    if not update:
        current = read_manifest(target)
        typer.echo(f"rule set {current.version} sha256 {current.sha256} ({len(current.files)} files)")
        return
    with materialise(rev) if rev else nullcontext((rules, knowledge)) as (source_rules, source_knowledge):
        written, problems = update_manifest(source_rules, source_knowledge, target=target, version=version, force=force)
    for problem in problems:
        typer.echo(str(problem))
    if written is None:
        raise ProblemsFoundError("manifest not updated: bump those rules' versions first (or --force)")
    typer.echo(f"rule set {written.version} sha256 {written.sha256} ({len(written.files)} files)")


_APPROVER_OPTION = typer.Option(None, "--approver", help="Who approves this release (name, role).")
_RELEASE_KEY_OPTION = typer.Option(
    None, "--key", envvar="CDS_RELEASE_KEY", help="Key ring that signs releases (default: the audit key ring)."
)


@app.command("release")
def release(
    path: _PATH = None,
    knowledge: Path | None = _KNOWLEDGE,
    approver: str | None = _APPROVER_OPTION,
    date: str | None = typer.Option(None, "--date", help="Release date, YYYY-MM-DD (default: today, UTC)."),
    key: Path | None = _RELEASE_KEY_OPTION,
    verify: bool = typer.Option(False, "--verify", help="Check the latest release record and the files against it."),
) -> None:
    """Write a signed release record (releases/VERSION.json beside rules/): rule-set version and hash, approver,
    date, every rule's version and the changes since the last release; `--verify` checks it against the files."""
    import datetime as dt

    from cds.audit.keys import KeyRing
    from cds.audit.log import canonical_json, signed_record_problem
    from cds.authoring.release import RELEASES_DIR, build_release, latest_release
    from cds.errors import UsageError
    from cds.files import write_atomic
    from cds.rules.manifest import ruleset_stamp

    rules, knowledge = _folders(path, knowledge)
    if verify:
        found = latest_release(rules)
        if found is None:
            raise ProblemsFoundError(f"no release record in {RELEASES_DIR}/ beside {rules.name}/: unreleased")
        record, where = found
        problems = [p for p in [signed_record_problem(record)] if p]
        current = ruleset_stamp(rules, knowledge).get("sha256")
        if current != record.get("sha256"):
            released = str(record.get("sha256"))[:12]
            problems.append(f"the files have changed since (sha256 {str(current)[:12]}, released {released})")
        if problems:
            raise ProblemsFoundError(f"release {record.get('version')} ({where.name}): " + "; ".join(problems))
        typer.echo(
            f"release {record['version']} approved by {record['approver']} on {record['date']}, signed by key "
            f"{record['key_id']}: matches the files (sha256 {record['sha256'][:12]})"
        )
        return
    if not approver or not approver.strip():
        raise UsageError("a release needs an approver", option="--approver")
    day = date or dt.datetime.now(dt.UTC).date().isoformat()
    try:
        dt.date.fromisoformat(day)
    except ValueError as exc:
        raise UsageError(f"not a date (allowed: YYYY-MM-DD, got: {day!r})", option="--date") from exc
    record = build_release(rules, knowledge, approver=" ".join(approver.split()), date=day)
    ring = KeyRing.load(key)
    record |= {"key_id": ring.active, "public_key": ring.public_of(ring.active)}
    record["signature"] = ring.sign(canonical_json(record).encode("utf-8"))[1]
    target = rules.parent / RELEASES_DIR / f"{record['version']}.json"
    write_atomic(target, json.dumps(record, indent=2, sort_keys=True) + "\n")
    changes = record["changes"]
    typer.echo(
        f"release {record['version']} (sha256 {record['sha256'][:12]}) approved by {record['approver']} on "
        f"{day}: {len(changes['added'])} rules added, {len(changes['changed'])} changed, "
        f"{len(changes['removed'])} removed; written to {target}"
    )
    _build_bundle(rules, knowledge)


@app.command("list")
def list_rules(path: _PATH = None, knowledge: Path | None = _KNOWLEDGE, fmt: OutputFormat = _FORMAT) -> None:
    """One line per rule: id, version, status, layer, last review, file:line, content hash."""
    from cds.authoring.book import describe_rules

    infos = describe_rules(*_folders(path, knowledge))
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps([i.to_dict() for i in infos], indent=2, sort_keys=True, ensure_ascii=False))
        return
    for i in infos:
        typer.echo(
            f"{i.id:<36} v{i.version}  {i.status:<7}  {i.layer:<9}  reviewed {i.reviewed or 'never':<10}  "
            f"{i.path}:{i.line}  {i.sha256[:12]}"
        )


@app.command("show")
def show(
    rule_id: Annotated[str, typer.Argument(help="Rule id, e.g. FND-PLMD-ADULT.")],
    path: Annotated[Path | None, typer.Option("--rules", help="rules/ folder.")] = None,
    knowledge: Path | None = _KNOWLEDGE,
    fmt: OutputFormat = _FORMAT,
) -> None:
    """A rule's provenance (authors, review, references with full citations and grades, file, hash) and content."""
    from cds.authoring.book import find_rule

    info = find_rule(rule_id, *_folders(path, knowledge))
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps(info.to_dict(), indent=2, sort_keys=True, ensure_ascii=False))
        return
    typer.echo(f"{info.id} (version {info.version}, {info.status}, layer {info.layer}): {info.title}")
    typer.echo(f"  authors: {', '.join(info.authors) or 'none'}; last review: {info.reviewed or 'never'}")
    typer.echo(f"  file: {info.path}:{info.line}  sha256: {info.sha256}")
    typer.echo("  references:")
    for c in info.references:
        doi = f" doi:{c.doi}" if c.doi else ""
        typer.echo(f"    {c.key} [{c.section or '-'}] grade {c.grade or '?'}: {c.citation or 'UNKNOWN KEY'}{doi}")
    typer.echo("  when:")
    for line in info.conditions:
        typer.echo(f"    {'  ' * line.depth}{line.text}")
    typer.echo("  then:")
    for text in info.conclusions:
        typer.echo(f"    {text}")
    if info.rationale:
        typer.echo(f"  rationale: {info.rationale}")
    typer.echo(f"  tests: {'; '.join(info.tests) or 'none'}")


_RULE_ID = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
_RULE_OPTION = typer.Option(None, "--rule", help="Run only this rule's tests (repeatable).")


@app.command("test")
def test(
    path: _PATH = None,
    knowledge: Path | None = _KNOWLEDGE,
    rule: list[str] | None = _RULE_OPTION,
    min_coverage: int = typer.Option(0, "--min-coverage", help="Fail below this condition coverage (percent)."),
    scenarios_only: bool = typer.Option(False, "--scenarios-only", help="Coverage by scenario cases alone."),
    fmt: OutputFormat = _FORMAT,
) -> None:
    """Run every rule's inline tests and the scenario files; print failures and coverage; exit 1 on failure.
    ``cds rules test RULE_ID`` (or ``--rule RULE_ID``) runs one rule's inline tests only."""
    from cds.authoring.coverage import compute_coverage
    from cds.authoring.scenarios import run_inline_tests, run_scenarios
    from cds.errors import UsageError
    from cds.rules.engine import load_rulebase

    wanted = list(rule or [])
    if path is not None and not path.exists() and _RULE_ID.match(str(path)):
        wanted, path = [*wanted, str(path)], None  # `cds rules test RULE_ID`
    rules, knowledge = _folders(path, knowledge)
    rulebase = load_rulebase(rules, knowledge)
    if wanted:
        by_id = {spec.id: spec for spec in rulebase.rules.rules}
        unknown = [r for r in wanted if r not in by_id]
        if unknown:
            raise UsageError(f"no such rule: {', '.join(unknown)} (see `cds rules list`)", option="--rule")
        subset = replace(rulebase.rules, rules=tuple(by_id[r] for r in dict.fromkeys(wanted)))
        results = run_inline_tests(subset, rulebase.kb)
        failed = [r for r in results if r.failed]
        if fmt is OutputFormat.JSON:
            typer.echo(json.dumps({"results": [r.__dict__ for r in results]}, indent=2, sort_keys=True, default=list))
        else:
            for result in results:
                typer.echo(
                    f"{'ok  ' if result.passed else 'TODO' if result.todo else 'FAIL'} {result.where}: {result.name}"
                )
                for problem in result.problems:
                    typer.echo("\n".join(_as_diff(problem)))
        summary = f"{', '.join(dict.fromkeys(wanted))}: {len(results)} cases, {len(failed)} failed"
        if failed:
            raise ProblemsFoundError(summary)
        typer.echo(summary, err=True)
        return
    results = run_inline_tests(rulebase.rules, rulebase.kb) + run_scenarios(rulebase, rules)
    coverage = compute_coverage(rulebase, rules, inline=not scenarios_only)
    failed = [r for r in results if r.failed]
    if fmt is OutputFormat.JSON:
        report = {"results": [r.__dict__ for r in results], "coverage": _coverage_dict(coverage)}
        typer.echo(json.dumps(report, indent=2, sort_keys=True, default=list))
    else:
        _print_test_report(results, coverage)
    summary = (
        f"{len(results)} cases: {len(failed)} failed, {sum(r.todo and not r.passed for r in results)} todo; "
        f"coverage: rules {coverage.rule_pct}%, conditions {coverage.condition_pct}%, atoms flipping an outcome "
        f"{coverage.flip_pct}% (`cds rules coverage` lists the others)"
    )
    if failed or coverage.condition_pct < min_coverage:
        raise ProblemsFoundError(summary)
    typer.echo(summary, err=True)


def _coverage_dict(coverage: CoverageReport) -> dict:
    out = {k: v for k, v in coverage.__dict__.items() if k != "conditions"}
    out["uncovered_conditions"] = [c.__dict__ for c in coverage.uncovered_conditions]
    out["unflipped_conditions"] = [c.__dict__ for c in coverage.unflipped_conditions]
    out |= {
        "rule_pct": coverage.rule_pct,
        "condition_pct": coverage.condition_pct,
        "flip_pct": coverage.flip_pct,
        "mcdc_pct": coverage.mcdc_pct,
    }
    out["atoms"] = len(coverage.conditions)
    return out


@app.command("coverage")
def coverage(
    path: _PATH = None,
    knowledge: Path | None = _KNOWLEDGE,
    min_flip: int = typer.Option(
        0, "--min-flip", help="Fail when fewer atoms than this percentage flip an outcome in some case."
    ),
    fmt: OutputFormat = _FORMAT,
) -> None:
    """Condition coverage of the inline tests and scenarios: every atom of every condition should flip the
    rule's outcome (fires / does not fire) in at least one case when negated alone; list those that do not."""
    from cds.authoring.coverage import compute_coverage
    from cds.rules.engine import load_rulebase

    rules, knowledge = _folders(path, knowledge)
    report = compute_coverage(load_rulebase(rules, knowledge), rules)
    missing = report.unflipped_conditions
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps(_coverage_dict(report), indent=2, sort_keys=True, default=list))
    else:
        typer.echo(f"atoms that flip no outcome in any case ({len(missing)} of {len(report.conditions)}):")
        for c in missing:
            typer.echo(
                f"    {c.location}: {c.rule_id} {c.text} (true {c.seen_true}x, false {c.seen_false}x; decides the "
                f"outcome when true {c.flips_true}x, when false {c.flips_false}x)"
            )
    summary = (
        f"{report.cases} cases; coverage: rules {report.rule_pct}%, conditions true and false "
        f"{report.condition_pct}%, atoms flipping an outcome {report.flip_pct}% "
        f"({len(report.conditions) - len(missing)} of {len(report.conditions)}), both ways (MC/DC) {report.mcdc_pct}%"
    )
    if report.flip_pct < min_flip:
        raise ProblemsFoundError(summary)
    typer.echo(summary, err=True)


_WANT_GOT = re.compile(r"^(want(?:_not)?) ([^:]+): (?:got )?(.+)$")


def _as_diff(problem: str) -> list[str]:
    """``want X: got Y`` as a two-line diff (``-`` expected, ``+`` actual); other problems as they are."""
    match = _WANT_GOT.match(problem)
    if match is None:
        return [f"    {problem}"]
    label, expected, actual = match.groups()  # e.g. want treatment x caution: got not shown
    return [f"    - {label} {expected}", f"    + got {actual}"]


def _print_test_report(results: list, coverage: CoverageReport) -> None:
    for result in results:
        if result.passed:
            continue
        typer.echo(f"{'TODO' if result.todo else 'FAIL'} {result.where}: {result.name}")
        for problem in result.problems:
            typer.echo("\n".join(_as_diff(problem)))
    typer.echo(f"rules never fired ({len(coverage.never_fired)}): {', '.join(coverage.never_fired) or '-'}")
    typer.echo(f"rules never blocked ({len(coverage.never_blocked)}): {', '.join(coverage.never_blocked) or '-'}")
    typer.echo(f"conditions not both true and false ({len(coverage.uncovered_conditions)}):")
    for c in coverage.uncovered_conditions:
        typer.echo(f"    {c.location}: {c.rule_id} {c.text} (true {c.seen_true}x, false {c.seen_false}x)")


@app.command("book")
def book(
    path: _PATH = None,
    knowledge: Path | None = _KNOWLEDGE,
    out: Annotated[Path, typer.Option("--out", help="Output folder for rulebook.html and rulebook.md.")] = Path(
        "rulebook"
    ),
    no_scenarios: bool = typer.Option(False, "--no-scenarios", help="Skip running scenarios for coverage."),
) -> None:
    """Write the whole rule base as browsable HTML and Markdown, grouped by layer."""
    from cds.authoring.book import describe_rules, front_matter, render_book, scenario_cover
    from cds.errors import InputError
    from cds.outputs import check_output_dir

    check_output_dir(out, "rule book folder")  # before the scenarios run, not after
    rules, knowledge = _folders(path, knowledge)
    covered = {} if no_scenarios else scenario_cover(rules, knowledge)
    version = _manifest_version(rules)
    try:
        infos = describe_rules(rules, knowledge)
        front = front_matter(rules, knowledge)
        written_files = list(render_book(infos, out, covered=covered, version=version, front=front))
    except OSError as exc:
        raise InputError(f"cannot write the rule book: {exc.strerror or exc}", path=out) from exc
    for written in written_files:
        typer.echo(str(written))


def _manifest_version(rules: Path) -> str | None:
    from cds.errors import RuleFileError
    from cds.rules.manifest import MANIFEST_NAME, read_manifest

    try:
        return read_manifest(rules / MANIFEST_NAME).version
    except RuleFileError:
        return None


@app.command("diff")
def diff(
    old: Annotated[str, typer.Argument(help="Old rule set: a folder or a git revision.")],
    new: Annotated[str, typer.Argument(help="New rule set: a folder or a git revision.")],
    cases: Annotated[
        Path | None,
        typer.Option(
            "--cases",
            help="Decide these with both: a folder of patient files, a decision log or a cds batch cohort table.",
        ),
    ] = None,
    workers: int | None = WORKERS_OPTION,
    scheduler: str | None = SCHEDULER_OPTION,
    fmt: OutputFormat = _FORMAT,
) -> None:
    """Rules added, removed and changed between two rule sets; with --cases, which decisions change, how, and
    through which rules (on Dask for large case sets)."""
    from cds.authoring.diff import diff_rulesets, materialise
    from cds.batch.replay import load_replay_cases, replay_cases
    from cds.errors import UsageError

    if cases is None and (workers is not None or scheduler is not None):
        raise UsageError("--workers and --scheduler need --cases", option="--workers")
    with materialise(old) as before, materialise(new) as after:
        changes = diff_rulesets(before, after)
        report = None
        if cases is not None:
            loaded = load_replay_cases(cases)
            with replay_backend(len(loaded), workers, scheduler) as backend:
                report = replay_cases(
                    loaded,
                    (str(after[0]), str(after[1])),
                    backend,
                    old=(str(before[0]), str(before[1])),
                    compare_stored=False,
                    progress=replay_progress(),
                )
    if fmt is OutputFormat.JSON:
        body = {
            "rules": [c.__dict__ for c in changes.rules],
            "thresholds": changes.thresholds,
            "cases": [
                {"case": o.name, "changes": list(o.changes) or [o.error or ""], "rules": list(o.rules)}
                for o in (report.outcomes if report else [])
            ],
            "cases_total": report.total if report else 0,
        }
        typer.echo(json.dumps(body, indent=2, sort_keys=True, default=list))
        return
    for text in changes.thresholds:
        typer.echo(text)
    for change in changes.rules:
        typer.echo(f"{change.kind} {change.rule_id}")
        for line in change.details:
            typer.echo(f"    {line}")
    if report is not None:
        echo_replay(report, json_out=False, header={})

"""``cds rules check|test|list|show|book|diff|manifest``: the rule base's own tooling (issue 5)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cds.cli._exit import ProblemsFoundError
from cds.paths import knowledge_dir, rules_dir

__all__ = ["app"]

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


@app.command("check")
def check(
    path: _PATH = None,
    knowledge: Path | None = _KNOWLEDGE,
    fmt: OutputFormat = _FORMAT,
) -> None:
    """Validate every rule and knowledge file; exit 1 when any error is found (warnings do not fail)."""
    from cds.rulebase.check import check_ruleset

    report = check_ruleset(*_folders(path, knowledge))
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


@app.command("manifest")
def manifest(
    path: _PATH = None,
    knowledge: Path | None = _KNOWLEDGE,
    update: bool = typer.Option(False, "--update", help="Rewrite rules/MANIFEST.yaml from the files as they are."),
    version: str | None = typer.Option(None, "--version", help="Rule-set version to record (default: bump patch)."),
    force: bool = typer.Option(False, "--force", help="Update even if a rule changed without a version bump."),
) -> None:
    """Show the rule-set version and hash, or (``--update``) rewrite the manifest."""
    from cds.rulebase.check import find_version_problems, read_rule_docs
    from cds.rulebase.manifest import MANIFEST_NAME, build_manifest, read_manifest, write_manifest

    rules, knowledge = _folders(path, knowledge)
    target = rules / MANIFEST_NAME
    if not update:
        current = read_manifest(target)
        typer.echo(f"rule set {current.version} sha256 {current.sha256} ({len(current.files)} files)")
        return
    problems = [] if force or not target.is_file() else find_version_problems(read_rule_docs(rules, []), rules, target)
    if problems:
        for problem in problems:
            typer.echo(str(problem))
        raise ProblemsFoundError("manifest not updated: bump those rules' versions first (or --force)")
    previous = read_manifest(target) if target.is_file() else None
    written = build_manifest(rules, knowledge, previous=previous, version=version)
    write_manifest(written, target)
    typer.echo(f"rule set {written.version} sha256 {written.sha256} ({len(written.files)} files)")

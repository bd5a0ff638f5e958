"""The ``cds`` command: builds the Typer app, handles the global flags and exit codes.

Each verb lives in its own module owning a ``typer.Typer()``; this module only attaches them.
"""

from __future__ import annotations

import logging
import sys

import typer

from cds import __version__
from cds.cli._exit import run_guarded

__all__ = ["app", "main", "run"]

app = typer.Typer(
    name="cds",
    help="Sleep-myoclonus clinical decision support: score a PSG, triage a patient, explain the decision.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

_STATE = {"debug": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cds {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="-v for INFO, -vv for DEBUG logs."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Errors only."),
    debug: bool = typer.Option(False, "--debug", help="Print tracebacks of internal errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show version."),
) -> None:
    """Configure logging once for the whole command (experta calls basicConfig on import: force=True)."""
    level = logging.ERROR if quiet else {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s", force=True
    )
    logging.getLogger("cds").setLevel(level)
    _STATE["debug"] = debug


_VERBS = ("analyze", "triage", "batch", "explain", "demo", "rules", "audit", "serve", "validate")
_ATTACHED: dict[str, typer.Typer] = {}


def _attach_verbs(argv: list[str] | None = None) -> None:
    """Attach the verb modules a command line needs (each owns a Typer with its command), in the order above.

    Only the verb named first on the command line is imported when it is one of ours: a triage does not pay for
    importing the server, the batch runner or the audit tools. Any other command line (``--help``, no verb, a
    mistyped verb) attaches them all, so help and "no such command" list every verb.
    """
    import importlib

    first = next((a for a in argv or () if not a.startswith("-")), None)
    wanted = (first,) if first in _VERBS else _VERBS
    for name in wanted:
        if name in _ATTACHED:
            continue
        try:
            module = importlib.import_module(f"cds.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"cds.cli.{name}":
                continue
            raise
        _ATTACHED[name] = module.app
        app.add_typer(module.app)
    order = {id(sub): i for i, sub in enumerate(_ATTACHED[n] for n in _VERBS if n in _ATTACHED)}
    app.registered_groups.sort(key=lambda info: order.get(id(info.typer_instance), len(order)))


def main() -> None:
    """Console-script entry point: run the app and map usage errors (2) and our exceptions to exit codes."""
    verb = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    if verb in _VERBS and verb != "serve":  # a one-shot command: what it reads from the cache stays until exit
        from cds.rules.cache import freeze_after_read

        freeze_after_read()
    raise SystemExit(run(sys.argv[1:]))


def run(argv: list[str]) -> int:
    """Run ``cds ARGV...`` in-process and return its exit code (what tests use instead of a subprocess).

    Click runs without its standalone mode, so its usage errors reach ``run_guarded`` and are printed as one
    line like every other error."""
    _attach_verbs(list(argv))
    try:
        return run_guarded(
            lambda: app(args=list(argv), prog_name="cds", standalone_mode=False), debug="--debug" in argv
        )
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)

"""The one place that maps exceptions to exit codes and prints the one-line reason on stderr.

| code | meaning |
|---|---|
| 0 | done (caveats are not failures) |
| 1 | the verb ran and found problems (rule-check errors, failing scenarios, tampered log) |
| 2 | command-line usage error (Click's own, and ``cds.errors.UsageError``) |
| 3 | an input cannot be used (recording, hypnogram, events, patient, rule or template file, output path) |
| 4 | internal error: one line plus where the traceback was saved; ``--debug`` prints it; a failed safety check
      of cds itself (``cds.errors.SafetyError``: one line naming the rule and the drug) |

Python warnings raised while cds works on a user's file never reach stderr as such (they would be noise the user
cannot act on): they go to the ``cds`` log at INFO (``-v`` shows them). Inputs that would cause one are refused or
named by a caveat before the code that warns is reached.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable

from cds.errors import CdsError, InputError, SafetyError, UsageError

__all__ = [
    "EXIT_FOUND_PROBLEMS",
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_USAGE",
    "ProblemsFoundError",
    "run_guarded",
]

EXIT_OK = 0
EXIT_FOUND_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_INTERNAL = 4

log = logging.getLogger("cds.warnings")


class ProblemsFoundError(CdsError):
    """Raised by a verb that ran to the end and found problems its user must see (exit code 1)."""


def _warning_to_log(message, category, filename, lineno, file=None, line=None) -> None:
    log.info("%s: %s (%s:%s)", category.__name__, message, filename, lineno)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _usage_line(exc: Exception) -> str:
    """``cds VERB: problem (see cds VERB --help)`` for a Click usage error."""
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "cds"
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    return f"cds: usage error: {command}: {_one_line(message)} (see '{command} --help')"


def _is_click_error(exc: Exception) -> bool:
    """A Click (or Typer's vendored Click) exception: it knows its exit code and how to show itself."""
    return all(hasattr(exc, name) for name in ("exit_code", "format_message", "show"))


def _click_exit(exc) -> int:
    """Help for a bare group (``cds``, ``cds rules``), one line for a usage error, the Click exit code."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        exc.show()
        return EXIT_USAGE
    if exc.exit_code == EXIT_USAGE:
        print(_usage_line(exc), file=sys.stderr)
    else:
        print(f"cds: error: {_one_line(exc.format_message())}", file=sys.stderr)
    return int(exc.exit_code)


def run_guarded(fn: Callable[[], object], *, debug: bool = False) -> int:
    """Run ``fn`` (a Click/Typer app called with ``standalone_mode=False``, or any callable) and turn what it
    raises into an exit code and one stderr line. A returned int is the exit code (``typer.Exit``)."""
    from typer import Abort

    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_to_log
            result = fn()
    except ProblemsFoundError as exc:
        if str(exc):
            print(f"cds: {exc}", file=sys.stderr)
        return EXIT_FOUND_PROBLEMS
    except UsageError as exc:
        print(f"cds: usage error: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except InputError as exc:
        print(f"cds: error: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_INPUT
    except SafetyError as exc:  # a safety check of cds failed: internal, but named, not a traceback
        print(f"cds: error: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_INTERNAL
    except CdsError as exc:
        print(f"cds: error: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_INPUT
    except (KeyboardInterrupt, Abort):
        print("cds: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if _is_click_error(exc):
            return _click_exit(exc)
        if debug:
            traceback.print_exc()
            return EXIT_INTERNAL
        with tempfile.NamedTemporaryFile("w", prefix="cds-traceback-", suffix=".txt", delete=False) as fh:
            traceback.print_exc(file=fh)
        print(
            f"cds: internal error: {type(exc).__name__}: {_one_line(str(exc))} "
            f"(traceback saved to {fh.name}; --debug prints it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return result if isinstance(result, int) and not isinstance(result, bool) else EXIT_OK

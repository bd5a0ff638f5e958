"""The one place that maps exceptions to exit codes and prints the one-line reason on stderr.

| code | meaning |
|---|---|
| 0 | done (caveats are not failures) |
| 1 | the verb ran and found problems (rule-check errors, failing scenarios, tampered log) |
| 2 | command-line usage error (Click's own) |
| 3 | an input cannot be used (recording, hypnogram, patient, rule or template file) |
| 4 | internal error: one line plus where the traceback was saved; ``--debug`` prints it |
"""

from __future__ import annotations

import sys
import tempfile
import traceback
from collections.abc import Callable

from cds.errors import CdsError, InputError

__all__ = ["EXIT_FOUND_PROBLEMS", "EXIT_INPUT", "EXIT_INTERNAL", "EXIT_OK", "ProblemsFoundError", "run_guarded"]

EXIT_OK = 0
EXIT_FOUND_PROBLEMS = 1
EXIT_INPUT = 3
EXIT_INTERNAL = 4


class ProblemsFoundError(CdsError):
    """Raised by a verb that ran to the end and found problems its user must see (exit code 1)."""


def run_guarded(fn: Callable[[], object], *, debug: bool = False) -> int:
    """Run ``fn`` and turn what it raises into an exit code and one stderr line."""
    try:
        fn()
    except ProblemsFoundError as exc:
        if str(exc):
            print(f"cds: {exc}", file=sys.stderr)
        return EXIT_FOUND_PROBLEMS
    except InputError as exc:
        print(f"cds: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except CdsError as exc:
        print(f"cds: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("cds: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            traceback.print_exc()
            return EXIT_INTERNAL
        with tempfile.NamedTemporaryFile("w", prefix="cds-traceback-", suffix=".txt", delete=False) as fh:
            traceback.print_exc(file=fh)
        print(
            f"cds: internal error: {type(exc).__name__}: {exc} (traceback saved to {fh.name}; --debug prints it)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL
    return EXIT_OK

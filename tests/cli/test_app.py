from cds import __version__
from cds.cli import run


def test_version_prints_and_exits_zero(capsys):
    assert run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"cds {__version__}"


def test_unknown_verb_is_a_usage_error():
    assert run(["no-such-verb"]) == 2


def test_usage_errors_are_one_line_on_stderr_with_exit_2(capsys):
    assert run(["triage", "--patient", "p.yaml", "--standard", "rk1968"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("cds: usage error: cds triage: Invalid value for '--standard'")
    assert err[0].endswith("(see 'cds triage --help')")
    assert run(["analyze"]) == 2
    assert capsys.readouterr().err.strip() == (
        "cds: usage error: cds analyze: Missing argument 'recording'. (see 'cds analyze --help')"
    )


def test_bare_command_prints_its_help_and_exits_2(capsys):
    assert run([]) == 2
    assert "Usage: cds" in capsys.readouterr().out


def test_python_warnings_go_to_the_log_not_to_stderr():
    """A warning raised while cds works (numpy, pyedflib) is not printed on stderr; run in a fresh interpreter,
    since pytest itself records warnings."""
    import subprocess
    import sys

    code = (
        "import warnings\n"
        "from cds.cli._exit import run_guarded\n"
        "def warns():\n"
        "    warnings.warn('overflow encountered in cast', RuntimeWarning, stacklevel=1)\n"
        "raise SystemExit(run_guarded(warns))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stderr) == (0, "")

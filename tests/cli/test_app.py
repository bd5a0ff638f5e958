from cds import __version__
from cds.cli import run


def test_version_prints_and_exits_zero(capsys):
    assert run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"cds {__version__}"


def test_unknown_verb_is_a_usage_error():
    assert run(["no-such-verb"]) == 2

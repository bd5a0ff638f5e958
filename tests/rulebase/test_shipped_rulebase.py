"""The rule base shipped in rules/ and knowledge/ passes `cds rules check`: well-formed, tested, and every change
recorded in rules/MANIFEST.yaml with its version bumped (a guideline author's edit fails here until it is)."""

from cds.cli import run


def test_shipped_rule_base_passes_rules_check(capsys):
    code = run(["rules", "check"])
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert "0 errors" in out.out + out.err

"""The published JSON Schemas of the knowledge files (knowledge/schema/) are current, accept every shipped file and
reject what the loader rejects."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from cds.errors import RuleFileError
from cds.kb import load_knowledge
from cds.knowledge_schema import knowledge_schemas
from cds.paths import knowledge_dir
from cds.yamlfile import load_yaml, to_plain

SCHEMAS = knowledge_schemas()


@pytest.mark.parametrize("stem", sorted(SCHEMAS))
def test_published_schema_is_current(stem: str) -> None:
    on_disk = json.loads((knowledge_dir() / "schema" / f"{stem}.schema.json").read_text(encoding="utf-8"))
    assert on_disk == SCHEMAS[stem], f"regenerate with: python -m cds.knowledge_schema ({stem})"


@pytest.mark.parametrize("stem", sorted(SCHEMAS))
def test_shipped_file_is_valid_under_its_schema(stem: str) -> None:
    Draft202012Validator.check_schema(SCHEMAS[stem])
    data = to_plain(load_yaml(knowledge_dir() / f"{stem}.yaml"))
    errors = sorted(Draft202012Validator(SCHEMAS[stem]).iter_errors(data), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]


def test_schema_and_loader_reject_the_same_slip(tmp_path: Path) -> None:
    """A misspelt key in a drug entry: the loader names file:line, the schema names the key."""
    folder = tmp_path / "knowledge"
    shutil.copytree(knowledge_dir(), folder)
    path = folder / "drugs.yaml"
    text = path.read_text(encoding="utf-8")
    assert "    seed: true\n" in text
    path.write_text(text.replace("    seed: true\n", "    sead: true\n", 1), encoding="utf-8")
    with pytest.raises(RuleFileError, match=r"drugs.yaml:\d+:\d+: unknown key 'sead'"):
        load_knowledge(folder)
    errors = list(Draft202012Validator(SCHEMAS["drugs"]).iter_errors(to_plain(load_yaml(path))))
    assert any("sead" in e.message for e in errors)

"""ScoringStandard: every number from knowledge/standards/*.yaml, strictly validated."""

from __future__ import annotations

import pytest

from cds.errors import RuleFileError
from cds.paths import knowledge_dir
from cds.standards import Standard, load_standard, load_standard_file


def test_both_standards_load_with_their_distinguishing_rules():
    aasm, wasm = load_standard(Standard.AASM), load_standard("wasm2016")
    assert (aasm.plm_series.imi_min_s, wasm.plm_series.imi_min_s) == (5.0, 10.0)
    assert aasm.bilateral.rule == "onset_lag" and aasm.bilateral.max_onset_lag_s == 5.0
    assert wasm.bilateral.rule == "gap_overlap" and wasm.bilateral.max_components == 4
    assert (wasm.respiratory.anchor, wasm.respiratory.before_s, wasm.respiratory.after_s) == ("end", 2.0, 10.25)
    assert aasm.leg_movement.onset_above_rest_uv == 8.0 and aasm.leg_movement.offset_above_rest_uv == 2.0
    with pytest.raises(AttributeError):
        aasm.plm_series.min_count = 3  # frozen


def test_unknown_standard_is_refused():
    with pytest.raises(RuleFileError, match="unknown scoring standard"):
        load_standard("rk1968")


def _copy(tmp_path, old: str, new: str):
    text = (knowledge_dir() / "standards" / "aasm.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "aasm.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_missing_key_is_an_error(tmp_path):
    with pytest.raises(RuleFileError, match=r"missing: \['min_count'\]"):
        load_standard_file(_copy(tmp_path, "  min_count: 4\n", ""))


def test_unknown_key_is_an_error(tmp_path):
    with pytest.raises(RuleFileError, match=r"unknown: \['min_cuont'\]"):
        load_standard_file(_copy(tmp_path, "  min_count: 4\n", "  min_count: 4\n  min_cuont: 4\n"))


def test_unknown_bilateral_rule_is_an_error(tmp_path):
    with pytest.raises(RuleFileError, match="unknown bilateral rule"):
        load_standard_file(_copy(tmp_path, "rule: onset_lag", "rule: nearest"))

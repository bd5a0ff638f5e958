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


def test_detector_heuristics_are_knowledge_strictly_read_and_echoed(tmp_path, monkeypatch, synth_night):
    """Issue 15: the signal core's own heuristics live in knowledge/standards/detectors.yaml (strict keys) and are
    echoed in analysis.json; the modules use them (no copy of the numbers in code)."""
    from cds.analysis import analyze_recording
    from cds.detect import bursts, ecg, fragmentary
    from cds.standards import load_detector_heuristics, load_detector_heuristics_file

    h = load_detector_heuristics()
    assert (
        h.ecg.min_rr_s,
        tuple(h.ecg.scale_bounds),
        h.bursts.hold_s,
    ) == (ecg.MIN_RR_S, ecg.SCALE_BOUNDS, bursts.HOLD_S)
    assert h.ecg.fragmentary_exclusion_s == fragmentary.ECG_EXCLUSION_S
    text = (knowledge_dir() / "standards" / "detectors.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "detectors.yaml"
    broken.write_text(text.replace("  hold_s: 0.02", "  hold: 0.02"), encoding="utf-8")
    with pytest.raises(RuleFileError, match=r"bursts.*missing: \['hold_s'\], unknown: \['hold'\]"):
        load_detector_heuristics_file(broken)
    path, _ = synth_night("periodic", seed=31, hours=0.5)
    assert analyze_recording(path).to_dict()["parameters"]["detectors"] == h.to_dict()


def test_a_changed_standards_file_is_parsed_again_not_read_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CDS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CDS_NO_CACHE", raising=False)
    text = (knowledge_dir() / "standards" / "aasm.yaml").read_text(encoding="utf-8")
    copy = tmp_path / "aasm.yaml"
    copy.write_text(text, encoding="utf-8")
    assert load_standard_file(copy).leg_movement.onset_above_rest_uv == 8.0
    assert list((tmp_path / "cache" / "standards").glob("*.json"))  # the parsed form was kept
    assert load_standard_file(copy).leg_movement.onset_above_rest_uv == 8.0  # read back from the cache
    copy.write_text(
        text.replace("onset_above_rest_uv: 8.0     # onset", "onset_above_rest_uv: 9.0     # onset"), encoding="utf-8"
    )
    assert load_standard_file(copy).leg_movement.onset_above_rest_uv == 9.0

"""The letter rendered from a hand-made decision record: sections, provenance, escaping, determinism."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from cds.errors import TemplateError
from cds.letter.knowledge import load_letter_knowledge
from cds.letter.render import render_letter


class _Sections(HTMLParser):
    """Collects section ids, and for each <li>/<tr> inside #recommendations/#treatments its classes of spans."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[str] = []
        self.current: str | None = None
        self.items: dict[str, list[dict[str, int]]] = {"recommendations": [], "treatments": []}
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "section":
            self.current = a.get("id")
            self.sections.append(a.get("id") or "")
        if self.current == "recommendations" and tag == "li":
            self.items["recommendations"].append({"rule": 0, "ref": 0})
        if self.current == "treatments" and tag == "tr" and "status-" in (a.get("class") or ""):
            self.items["treatments"].append({"rule": 0, "ref": 0})
        classes = (a.get("class") or "").split()
        bucket = self.items.get(self.current or "")
        if bucket:
            if tag == "span" and "rule" in classes:
                bucket[-1]["rule"] += 1
            if tag == "a" and "ref" in classes:
                bucket[-1]["ref"] += 1


def _parse(html: str) -> _Sections:
    parser = _Sections()
    parser.feed(html)
    return parser


def test_html_letter_has_every_section_in_order(decision, analysis):
    html = render_letter(decision, analysis=analysis).html
    assert _parse(html).sections == [
        "decision",
        "findings",
        "recommendations",
        "treatments",
        "unknowns",
        "limits",
        "figure",
        "references",
        "sign-off",
    ]


def test_every_recommendation_and_treatment_carries_rule_and_reference(decision, analysis):
    parsed = _parse(render_letter(decision, analysis=analysis).html)
    assert len(parsed.items["recommendations"]) == 2
    assert len(parsed.items["treatments"]) == 3
    for item in parsed.items["recommendations"] + parsed.items["treatments"]:
        assert item["rule"] >= 1 and item["ref"] >= 1, item


def test_rule_versions_come_from_the_trace(decision, analysis):
    html = render_letter(decision, analysis=analysis).html
    assert "FND-PLMD-ADULT v2" in html  # version 2 in the trace
    assert "TRI-PLMD-REFER v1" in html
    assert "TRI-SSRI-REVIEW</span>" in html  # not in the trace: no invented version


def test_decision_sentence_leads_with_the_most_urgent_action(decision, analysis):
    view = render_letter(decision, analysis=analysis).view
    assert view["summary"][0] == (
        "What to do first: sleep medicine referral, within 6 weeks; also recommended: medication review "
        "(routine, weeks to months)."
    )
    label = load_letter_knowledge().label("findings", "plmd")
    assert view["summary"][1] == f"Findings: {label[0].lower()}{label[1:]}."
    assert len(view["summary"]) == 3


def test_reported_and_measured_values_both_shown_when_they_differ(decision, analysis):
    letter = render_letter(decision, analysis=analysis)
    row = next(r for r in letter.view["measurements"] if r["name"] == "plms_index")
    assert (row["value"], row["source"], row["differs"]) == ("31.5", "measured by cds", True)
    assert row["others"] == [{"value": "34", "source": "reported in the referral", "method": "external PSG report"}]
    assert "34 /h (reported in the referral)" in letter.markdown and "31.5 /h" in letter.markdown
    same = next(r for r in letter.view["measurements"] if r["name"] == "ahi")
    assert (same["others"], same["differs"]) == ([], False)


def test_references_are_full_citations_of_every_key_used(decision, analysis):
    kb = load_letter_knowledge()
    view = render_letter(decision, analysis=analysis, knowledge=kb).view
    keys = [r["key"] for r in view["references"]]
    assert keys == ["ICSD-3", "AASM-RLS-2025", "Drakatos-2021", "Label-Gabapentin"]
    html = render_letter(decision, analysis=analysis, knowledge=kb).html
    for key in keys:
        assert kb.citation(key), key
        assert kb.citation(key).split(".")[0] in html


def test_unknown_reference_key_is_flagged_not_dropped(decision):
    decision["recommendations"][0]["references"] = ["No-Such-Ref-1999"]
    html = render_letter(decision).html
    assert 'id="ref-No-Such-Ref-1999"' in html
    assert "citation missing from knowledge/references.yaml" in html


def test_patient_text_is_data_never_template_or_markup(decision):
    decision["patient_id"] = "{{ 7*7 }}<script>alert(1)</script>"
    decision["asks"][0]["text"] = "{% include 'letter.md.j2' %}"
    letter = render_letter(decision)
    assert "{{ 7*7 }}&lt;script&gt;alert(1)&lt;/script&gt;" in letter.html
    assert _parse(letter.html).scripts == 0
    assert "{% include &#39;letter.md.j2&#39; %}" in letter.html
    assert r"\{\{ 7\*7 \}\}\<script\>alert(1)\</script\>" in letter.markdown
    assert "Patient: 49" not in letter.markdown and "49<" not in letter.html


def test_letter_is_deterministic_and_dated_only_on_request(decision, analysis):
    first = render_letter(decision, analysis=analysis)
    second = render_letter(decision, analysis=analysis)
    assert (first.html, first.markdown) == (second.html, second.markdown)
    assert "Date" not in first.html and "Date" not in first.markdown
    dated = render_letter(decision, analysis=analysis, letter_date="2026-11-23")
    assert "2026-11-23" in dated.html and "- Date: 2026-11-23" in dated.markdown


def test_limits_name_single_night_respiration_and_validation(decision, analysis):
    limits = " ".join(render_letter(decision, analysis=analysis).view["limits"])
    assert "One night only" in limits
    assert "no respiratory channels" in limits
    assert "no published validation" in limits
    without = " ".join(render_letter(decision).view["limits"])
    assert "No recording was analysed" in without and "no published validation" not in without


def test_caveats_from_decision_and_analysis_all_reach_the_letter_once(decision, analysis):
    letter = render_letter(decision, analysis=analysis)
    texts = [c["text"] for c in letter.view["caveats"]]
    assert texts == [
        "No respiratory channels: respiratory-related leg movements cannot be excluded.",
        "Recording shorter than 4 h: indices unreliable.",
    ]
    assert letter.html.count("Recording shorter than 4 h") == 1


def test_without_analysis_there_is_no_figure(decision):
    html = render_letter(decision).html
    assert 'id="figure"' not in html and "<svg" not in html


def test_treatment_table_shows_dose_only_for_drugs_that_may_be_given(decision):
    html = render_letter(decision).html
    assert "300 mg 1-2 h before bed" in html  # gabapentin, caution
    assert "0.25-1 mg at bedtime" not in html  # clonazepam, not recommended: no dose offered
    assert "Reduce the dose: creatinine clearance 38 ml/min." in html


def test_missing_template_is_a_template_error_naming_it(decision, tmp_path):
    with pytest.raises(TemplateError, match=r"letter\.html\.j2: letter template not found"):
        render_letter(decision, template_dir=tmp_path)


def test_broken_template_is_a_template_error_with_line(decision, tmp_path):
    (tmp_path / "letter.html.j2").write_text("ok\n{% for x in %}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"letter\.html\.j2:2: template syntax error"):
        render_letter(decision, template_dir=tmp_path)


def test_treatments_asked_about_first_then_least_restrictive(decision):
    decision["facts"].append(
        {"field": "requested_treatment", "value": "sodium_valproate", "known": True, "source": "patient"}
    )
    view = render_letter(decision).view
    assert [(t["drug"], t["requested"]) for t in view["treatments"]] == [
        ("sodium_valproate", True),
        ("gabapentin", False),
    ]
    # a drug advised against that nobody asked about goes to the compact appendix
    assert [t["drug"] for t in view["restrictions"]] == ["clonazepam"]
    assert "asked about in the referral" in render_letter(decision).html


def test_every_drug_of_the_record_is_in_the_table_once(decision):
    html = render_letter(decision).html
    for treatment in decision["treatments"]:
        assert html.count(f'<tr class="status-{treatment["status"]}">') >= 1
    assert html.count('<tr class="status-') == len(decision["treatments"])


def test_each_recommendation_cites_the_input_facts_of_its_whole_chain(decision):
    kb = load_letter_knowledge()
    recs = {r["action"]: r for r in render_letter(decision, knowledge=kb).view["recommendations"]}
    basis = recs["sleep_medicine_referral"]["basis"]
    # TRI-PLMD-REFER matched the finding plmd <- FND-PLMD-ADULT (PLMS index, insomnia) <- EVD-ADULT (age)
    assert len(basis) == 3
    assert basis[0].endswith(": 46 years (patient file)")
    assert basis[1].endswith(f": 31.5 {kb.units['psg.plms_index']} (measured by cds)")
    assert basis[2].endswith(": yes (patient file)")
    assert recs["medication_review"]["basis"] == []  # TRI-SSRI-REVIEW is not in the trace: nothing invented


def test_header_states_age_and_sex_and_says_when_they_are_unknown(decision):
    decision["facts"].append({"field": "sex", "value": "female", "known": True, "source": "patient"})
    letter = render_letter(decision)
    assert '<span class="patient-age">46 years</span>' in letter.html
    assert '<span class="patient-sex">female</span>' in letter.html
    assert "- Age: 46 years\n- Sex: female\n" in letter.markdown
    decision["facts"] = [f for f in decision["facts"] if f["field"] not in ("age_years", "sex")]
    letter = render_letter(decision)
    assert '<span class="patient-age">age unknown</span>' in letter.html
    assert '<span class="patient-sex">not given</span>' in letter.html


def test_sign_off_block_is_blank_to_sign_on_paper_or_names_the_signer(decision):
    blank = render_letter(decision)
    assert 'id="sign-off"' in blank.html and "Signature</span>" in blank.html
    assert "- Reviewed and signed by: (name)" in blank.markdown
    signer = {"name": "Dr A. Example", "role": "sleep physician", "date": "2026-03-01"}
    signed = render_letter(decision, sign_off=signer)
    assert '<span class="line signer">Dr A. Example</span>' in signed.html
    assert "Signature</span>" not in signed.html  # signed in the app: no empty signature line left
    lines = "- Reviewed and signed by: Dr A. Example\n- Role: sleep physician\n- Signed on: 2026-03-01"
    assert lines in signed.markdown
    again = render_letter(decision, sign_off=dict(signer))
    assert again.html == signed.html


def test_page_footer_names_the_patient_safely_inside_the_style_sheet(decision):
    decision["patient_id"] = 'P-1"; } body { display: none } </style><script>x</script>'
    html = render_letter(decision).html
    style = html.split("<style>", 1)[1].split("</style>", 1)[0]
    assert "<script>" not in style and "display: none" not in style  # the id stays inside one CSS string
    line = next(x for x in style.splitlines() if "@bottom-left" in x)
    assert line.count('"') == 4  # "Patient " and the escaped id: no quote of the id survives
    assert "\\000022" in line and "\\00003c" in line  # the quote and '<' as CSS hex escapes
    assert 'counter(page) " of " counter(pages)' in style
    assert "<strong>P-1&#34;; } body { display: none } &lt;/style&gt;&lt;script&gt;x&lt;/script&gt;</strong>" in html

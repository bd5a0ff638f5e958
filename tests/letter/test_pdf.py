"""PDF output through WeasyPrint (the optional ``pdf`` extra), and the error when the extra is missing."""

from __future__ import annotations

import sys

import pytest

from cds.errors import CdsError
from cds.letter.pdf import render_pdf
from cds.letter.render import render_letter


def test_missing_weasyprint_names_the_install_command(decision, monkeypatch):
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # import now raises ImportError
    with pytest.raises(CdsError, match=r'pip install -e "\.\[pdf\]"'):
        render_pdf(render_letter(decision).html)


def test_pdf_is_deterministic_and_laid_out_on_a4_pages(decision, analysis):
    weasyprint = pytest.importorskip("weasyprint", reason="the optional pdf extra is not installed")
    html = render_letter(decision, analysis=analysis).html
    first, second = render_pdf(html), render_pdf(html)
    assert first.startswith(b"%PDF-")
    assert first == second
    pages = weasyprint.HTML(string=html).render().pages
    assert len(pages) >= 2  # the letter with its figure and references does not fit one A4 page
    assert (round(pages[0].width * 25.4 / 96), round(pages[0].height * 25.4 / 96)) == (210, 297)  # @page A4

    def boxes(box):
        yield box
        for child in getattr(box, "children", None) or []:
            yield from boxes(child)

    images = [
        b
        for page in pages
        for b in boxes(page._page_box)
        if type(getattr(b, "replacement", None)).__name__ == "SVGImage"
    ]
    assert len(images) == 1  # the night figure is laid out in the PDF, not dropped


def test_svg_presentation_properties_do_not_flood_the_log(analysis, decision, caplog):
    pytest.importorskip("weasyprint", reason="the optional pdf extra is not installed")
    with caplog.at_level("WARNING"):
        render_pdf(render_letter(decision, analysis=analysis).html)
    assert not [r for r in caplog.records if "unknown property" in r.getMessage()]


@pytest.mark.parametrize("padding", [0, 12, 18])  # 12 and 18 caveat lines pushed the closing alone onto a page
def test_pdf_pages_carry_patient_and_page_number_and_the_last_page_is_not_the_footer_alone(decision, analysis, padding):
    pytest.importorskip("weasyprint", reason="the optional pdf extra is not installed")
    pypdf = pytest.importorskip("pypdf", reason="pypdf (test extra) reads the PDF text back")
    import io

    decision["caveats"] = [f"caveat line number {i} with some text to fill the page" for i in range(padding)]
    pdf = render_pdf(render_letter(decision, analysis=analysis).html)
    pages = [p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages]
    assert len(pages) >= 2
    for number, text in enumerate(pages, start=1):
        assert "Patient P-0042" in text
        assert f"page {number} of {len(pages)}" in text
    last = pages[-1]
    assert "Sign-off" in last and "Rule set release 2026.11.0" in last
    before_closing = last.split("Sign-off", 1)[0]
    assert before_closing.strip(), "the sign-off and footer stand alone on the last page"

"""PDF output of the letter through WeasyPrint (the optional ``pdf`` extra: ``pip install -e ".[pdf]"``).

The HTML letter is print-ready (``@page`` rules, inline SVG figure), so the PDF is that HTML laid out on A4.
"""

from __future__ import annotations

import logging

from cds.errors import CdsError

log = logging.getLogger(__name__)

__all__ = ["render_pdf"]


class _SvgStyleNoise(logging.Filter):
    """Drop WeasyPrint's "Ignored `stroke: …`, unknown property" warnings: its HTML cascade does not know the
    SVG presentation properties of the inline figure, which its SVG renderer then applies anyway."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Ignored `") and message.endswith("unknown property."))


def render_pdf(html: str) -> bytes:
    """Lay out the HTML letter as PDF bytes; raise CdsError with the install command when WeasyPrint is absent.

    No base URL is given: the letter references no external file, so nothing outside it is fetched.
    """
    try:
        from weasyprint import HTML
    except ImportError as exc:
        raise CdsError('PDF output needs WeasyPrint, which is not installed: pip install -e ".[pdf]"') from exc
    except OSError as exc:
        raise CdsError(f"PDF output needs WeasyPrint's system libraries (Pango): {exc}") from exc
    log.info("rendering the letter as PDF with WeasyPrint")
    noise = _SvgStyleNoise()
    weasy_log = logging.getLogger("weasyprint")
    weasy_log.addFilter(noise)
    try:
        return HTML(string=html).write_pdf()
    finally:
        weasy_log.removeFilter(noise)

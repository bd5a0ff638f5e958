"""Stage 6: the letter to the referring physician (HTML, Markdown, optional PDF) and its night figure."""

from cds.letter.render import RenderedLetter, build_letter_view, render_letter

__all__ = ["RenderedLetter", "build_letter_view", "render_letter"]

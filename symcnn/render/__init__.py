"""Presentation: the text report, JSON, and the LaTeX/Markdown documents from Jinja2
templates (with their PDF).  Nothing here computes a figure; everything reads a
:class:`~symcnn.report.Report`."""

from symcnn import report as _report
from symcnn.render.documents import notebook_markdown, render, render_string, summary_math
from symcnn.render.jsonreport import to_json
from symcnn.render.textreport import render_text

__all__ = ["render", "render_string", "render_text", "to_json"]

_report.NOTEBOOK_DISPLAY.update(markdown=notebook_markdown,
                               latex=summary_math)

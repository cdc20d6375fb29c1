"""``symcnn render``: the report as slides, a worksheet, an exercise or Markdown, written to
a folder (``render.documents.render``: as one transaction) and optionally compiled."""

from __future__ import annotations

from symcnn.cli.groups import title_options, titles
from symcnn.cli.report import make_report


def add_parser(sub, network) -> None:
    """``render``: the network options (``network``), the title page and the document's own."""
    d = sub.add_parser("render", parents=[network, title_options()],
                       help="write slides, a worksheet, an exercise or Markdown",
                       description="Write the derivations as a LaTeX beamer deck, a LaTeX "
                       "worksheet, a student exercise or Markdown, through a Jinja2 template; "
                       "optionally compile.")
    d.add_argument("--template", "-t", default="slides", metavar="NAME",
                   help="slides, worksheet, exercise (the questions, with space to work them "
                   "out), markdown, or a path to your own .tex.j2/.md.j2 (default: slides)")
    d.add_argument("--solutions", action="store_true",
                   help="with --template exercise: the same exercise with every step worked "
                   "and answered (<network>-exercise-solutions.tex)")
    d.add_argument("--out", "-o", default="output", metavar="DIR",
                   help="output folder (default: output)")
    d.add_argument("--pdf", action="store_true",
                   help="also compile the .tex with latexmk (pdflatex, no shell escape)")


def run(args) -> str:
    report = make_report(args)
    from symcnn.render.documents import render
    paths = render(report, args.template, args.out, pdf=args.pdf, titles=titles(args),
                   solutions=args.solutions)
    return "".join(f"wrote {p}\n" for p in paths)

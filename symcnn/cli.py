"""The ``symcnn`` command line."""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__
from .errors import SymcnnError
from .memory import CONVENTIONS, DTYPE_BYTES, OPTIMIZER_STATES


def _network_options() -> argparse.ArgumentParser:
    """Options shared by ``report`` and ``render``: which network, and the memory question."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("spec", nargs="?", metavar="SPEC",
                   help="spec file (.toml); the lecture's 3-D CNN when left out")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="substitute a symbol, e.g. --set C=30 (repeatable)")
    p.add_argument("--batch-size", "-b", default="1", metavar="B",
                   help="batch size for the memory figures (default 1; may be a symbol)")
    p.add_argument("--memory", "-m", action="append", metavar="SIZE",
                   help="memory budget for the largest batch: 12GB (10^9 B), 11GiB (2^30 B) or "
                   "bytes; repeatable (default: 8, 12, 16, 24, 40 and 80 GB)")
    p.add_argument("--dtype", choices=list(DTYPE_BYTES), help="element type (default: the spec's)")
    p.add_argument("--optimizer", choices=list(OPTIMIZER_STATES),
                   help="optimizer state to add (momentum 1x, adam/adamw 2x the parameters; "
                   "default: the convention's)")
    p.add_argument("--convention", choices=list(CONVENTIONS), default="lecture",
                   help="what the memory figure counts: lecture (default), torchinfo, "
                   "torchsummary or cs231n (see README)")
    p.add_argument("--units", choices=["MB", "MiB", "GB", "GiB"],
                   help="units for printed sizes (MB = 10^6 B, MiB = 2^20 B; default: the "
                   "convention's)")
    p.add_argument("--sizes", action="append", default=[], metavar="NAME=START:STOP[:STEP]",
                   help="list the values of a size symbol (e.g. H=1:512) for which every layer "
                   "size is positive and all branches meet (repeatable)")
    return p


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="symcnn", description="Closed-form parameter counts and "
                                "memory of convolutional networks.")
    p.add_argument("--version", action="version", version=f"symcnn {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    shared = _network_options()
    r = sub.add_parser("report", parents=[shared],
                       help="per-layer shapes, parameters, memory and largest batch",
                       description="Derive parameters and memory of a network described in a "
                       "TOML spec (the lecture's 3-D CNN when no SPEC is given).")
    r.add_argument("--json", action="store_true", help="print one JSON document")
    d = sub.add_parser("render", parents=[shared], help="write slides, a worksheet or Markdown",
                       description="Write the derivations as a LaTeX beamer deck, a LaTeX "
                       "worksheet or Markdown, through a Jinja2 template; optionally compile.")
    d.add_argument("--template", "-t", default="slides", metavar="NAME",
                   help="slides, worksheet, markdown, or a path to your own .tex.j2/.md.j2 "
                   "(default: slides)")
    d.add_argument("--out", "-o", default="output", metavar="DIR",
                   help="output folder (default: output)")
    d.add_argument("--pdf", action="store_true",
                   help="also compile the .tex with latexmk (pdflatex, no shell escape)")
    return p


def _make_report(args):
    from .builtin import example_spec
    from .report import make_report
    from .spec import load_spec, parse_assignments, parse_size_range

    overrides = parse_assignments(args.set)
    sizes = dict(parse_size_range(item) for item in args.sizes)
    spec = load_spec(args.spec, overrides) if args.spec else example_spec(overrides=overrides)
    return make_report(spec, batch_size=args.batch_size, memory=args.memory, dtype=args.dtype,
                       optimizer=args.optimizer, units=args.units, sizes=sizes,
                       convention=args.convention)


def _run(args) -> str:
    report = _make_report(args)
    if args.command == "render":
        from .render import render
        paths = render(report, args.template, args.out, pdf=args.pdf)
        return "".join(f"wrote {p}\n" for p in paths)
    if args.json:
        from .jsonreport import to_json
        return json.dumps(to_json(report), indent=2) + "\n"
    from .textreport import render_text
    return render_text(report)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        text = _run(args)
    except SymcnnError as err:
        print(f"symcnn: error: {err}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

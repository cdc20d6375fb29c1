"""``symcnn report``: the per-layer table and the memory figures, as text or one JSON document.
:func:`make_report` is also what ``render`` documents."""

from __future__ import annotations

import json

from symcnn.cli.loading import load
from symcnn.errors import SymcnnError


def add_parser(sub, network) -> None:
    """``report``: the network options (``network``, a parent parser) and ``--json``."""
    r = sub.add_parser("report", parents=[network],
                       help="per-layer shapes, parameters, memory and largest batch",
                       description="Derive parameters and memory of a network described in a "
                       "TOML spec (the lecture's 3-D CNN when no SPEC is given).")
    r.add_argument("--json", action="store_true", help="print one JSON document")


def make_report(args):
    """The ``Report`` the network options ask for; the budgets are checked before the spec is
    read, so that a mistyped ``--memory`` is named as such."""
    from symcnn.report import make_report as report_of
    from symcnn.spec.parse import parse_size_range
    from symcnn.units import parse_size
    for budget in args.memory or ():
        try:
            parse_size(budget)
        except SymcnnError as err:
            raise SymcnnError(err.message, argument="memory") from None
    sizes = dict(parse_size_range(item) for item in args.sizes)
    spec, options = load(args)
    return report_of(spec, options, batch_size=args.batch_size, memory=args.memory,
                     units=args.units, sizes=sizes, macs_convention=args.macs_convention)


def run(args) -> str:
    report = make_report(args)
    if args.json:
        from symcnn.render.jsonreport import to_json
        return json.dumps(to_json(report), indent=2) + "\n"
    from symcnn.render.textreport import render_text
    return render_text(report)

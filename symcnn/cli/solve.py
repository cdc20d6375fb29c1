"""``symcnn solve``: the largest whole value of one symbol that fits the budget
(``explore.solve_for``), as text or JSON."""

from __future__ import annotations

import json

from symcnn.cli.loading import load, single_budget
from symcnn.errors import SymcnnError


def add_parser(sub, network) -> None:
    """``solve``: the network options (``network``), the symbol and ``--json``."""
    s = sub.add_parser("solve", parents=[network],
                       help="the largest value of a symbol (a width, an input size) that fits",
                       description="The largest whole value of one symbol for which training "
                       "memory at the batch size fits the budget (--memory), from the closed "
                       "form; every other symbol needs a value (--set; --set H=D ties two).")
    s.add_argument("--for", dest="symbol", required=True, metavar="NAME",
                   help="the symbol to solve for, e.g. C or D")
    s.add_argument("--json", action="store_true", help="print one JSON document")


def run(args) -> str:
    from symcnn.explore import solve_for
    from symcnn.render.explore import solve_json, solve_text
    from symcnn.units import canonical_unit

    budget = single_budget(args, required=True)
    spec, options = load(args)
    try:
        solution = solve_for(spec, args.symbol, budget, options, args.batch_size)
    except SymcnnError as err:
        raise err.within(source=spec.source) from None
    if args.json:
        return json.dumps(solve_json(solution), indent=2) + "\n"
    from symcnn.memory.estimate import CONVENTIONS
    unit = canonical_unit(args.units or CONVENTIONS[options.convention].units, allow_auto=True)
    return solve_text(solution, unit, budget)

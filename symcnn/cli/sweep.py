"""``symcnn sweep``: the closed forms on a grid of symbol values (``explore.sweep``), one row
per point, written atomically as CSV or JSON."""

from __future__ import annotations

import sys

from symcnn.cli.loading import load, single_budget
from symcnn.errors import SymcnnError


def add_parser(sub, network) -> None:
    """``sweep``: the network options (``network``), the grid, the table and the progress."""
    s = sub.add_parser("sweep", parents=[network],
                       help="parameters, memory and largest batch on a grid of symbol values",
                       description="Evaluate the closed forms at every point of a grid of "
                       "values of the symbols (--vary) and write one row per point: the "
                       "symbols, total_params, training_bytes, inference_bytes and, with "
                       "--memory, max_batch.")
    s.add_argument("--vary", action="append", default=[], required=True,
                   metavar="NAME=START:STOP[:STEP]",
                   help="a symbol and its values, ends included (repeatable: a grid)")
    s.add_argument("--out", "-o", required=True, metavar="FILE",
                   help="the table: FILE.csv, or FILE.json")
    s.add_argument("--progress", action="store_true",
                   help="show progress on stderr (by default only when it is a terminal)")


def _grid(items: list[str]) -> dict:
    """Each ``--vary NAME=START:STOP[:STEP]``'s symbol and values; a symbol given twice refused."""
    from symcnn.spec.parse import parse_size_range

    vary = {}
    for item in items:
        try:
            name, values = parse_size_range(item)
        except SymcnnError as err:
            raise SymcnnError(err.message, argument="vary") from None
        if name in vary:
            raise SymcnnError(f"{name} is given twice", argument="vary")
        vary[name] = values
    return vary


def run(args) -> str:
    from pathlib import Path

    from symcnn.explore import sweep
    from symcnn.files import write_atomic
    from symcnn.render.explore import sweep_csv, sweep_json

    budget = single_budget(args, required=False)
    if args.units:
        raise SymcnnError("the sweep writes bytes", argument="units")
    out = Path(args.out)
    if out.suffix.lower() not in (".csv", ".json"):
        raise SymcnnError(f"{args.out}: name a .csv or a .json file", argument="out")
    vary = _grid(args.vary)
    spec, options = load(args)
    show = args.progress or sys.stderr.isatty()
    try:
        columns = sweep(spec, vary, options, args.batch_size, budget,
                        progress=_progress_bar if show else None)
    except SymcnnError as err:
        raise err.within(source=spec.source) from None
    if show:
        print(file=sys.stderr)
    from symcnn.expressions import read_expression
    about = {"network": spec.network.name, "convention": str(options.convention),
             "batch_size": int(read_expression(args.batch_size)), "budget": budget}
    text = sweep_csv(columns) if out.suffix.lower() == ".csv" else sweep_json(columns, about)
    write_atomic(out, text)
    return _written(out, len(next(iter(columns.values()))), vary)


def _written(out, points: int, vary: dict) -> str:
    """What the sweep wrote, with the points of the grid where the network does not build."""
    grid = 1
    for values in vary.values():
        grid *= len(values)
    left = f" ({grid - points:,} of {grid:,} left out: the network does not build there)" \
        if points < grid else ""
    return f"wrote {points:,} points to {out}{left}\n"


def _progress_bar(done: int, total: int) -> None:
    """The sweep's progress on stderr, redrawn in place."""
    width = 30
    filled = width * done // max(total, 1)
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} points",
          end="", file=sys.stderr, flush=True)

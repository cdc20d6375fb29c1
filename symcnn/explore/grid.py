"""A network's figures on a grid of values of its symbols, from closed forms built once.

The network is analysed once with the varied symbols left free; each column is a closed form
in them (:data:`COLUMNS`: a name and how to get the form from the analysis), evaluated at
every point at once, exactly (:func:`symcnn.analysis.sweep.evaluate_grid`), not a report per
point.  The largest batch (with a budget) is ``min_t floor((M - F_t) / A_t)`` over the
memory's moments (one for the summed conventions), each ``F_t`` and ``A_t`` a closed form
evaluated the same way, then taken in Python integers point by point.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sympy

from symcnn.analysis.macs import total_macs
from symcnn.analysis.sweep import evaluate_grid, hold_grid
from symcnn.errors import SymcnnError
from symcnn.explore.problem import Problem, prepare
from symcnn.limits import MAX_SIZES_VALUES
from symcnn.solve import largest_batch, largest_rounded_batch
from symcnn.units import parse_size

#: Points evaluated together between two calls of ``progress``.
STEP = 4096


@dataclass(frozen=True)
class Column:
    """A column of a sweep: its name and its closed form, read from the problem."""

    name: str
    form: Callable[[Problem], sympy.Expr]


#: The columns every sweep has, after the varied symbols (``max_batch`` follows with a budget).
COLUMNS: tuple[Column, ...] = (
    Column("total_params", lambda p: p.analysis.total_params),
    # MACs per sample as fvcore counts them (symcnn.analysis.macs)
    Column("total_macs", lambda p: total_macs(p.analysis)),
    Column("training_bytes", lambda p: p.training),
    Column("inference_bytes", lambda p: p.inference),
)


def sweep(spec, vary: Mapping[str, object], options=None, batch_size=1, memory=None,
          progress: Callable[[int, int], None] | None = None) -> dict[str, list[int]]:
    """The network's figures at every point of the grid ``vary`` (a symbol's name to its
    values, e.g. ``{"C": range(16, 65, 16)}``; the first symbol varies slowest), as columns:
    the varied symbols, then ``total_params``, ``total_macs`` (per sample, as fvcore counts
    them), ``training_bytes`` and ``inference_bytes`` at
    ``batch_size``, counted as ``options`` say, and ``max_batch`` (0 when no sample fits)
    with a ``memory`` budget.  Every other symbol must have a value.  Points where the
    network does not build (a size below 1, branches that do not meet) are left out.
    ``progress(done, total)`` is called as the points are evaluated.

    >>> from symcnn.spec.builtin import example_spec
    >>> from symcnn.spec.parse import parse_assignments
    >>> spec = example_spec("lecture_symbolic", parse_assignments(["D=193", "H=229", "W=193"]))
    >>> table = sweep(spec, {"C": [15, 30]}, memory="12GB")
    >>> table["C"], table["total_params"], table["training_bytes"], table["max_batch"]
    ([15, 30], [879301, 3301651], [1479544820, 2937313940], [8, 4])
    """
    names = list(vary)
    if not names:
        raise SymcnnError("give at least one symbol to vary", argument="vary")
    problem = prepare(spec, names, options, batch_size, argument="vary")
    if not problem.closed_form:
        raise SymcnnError("the simulated step on the CPU has no closed form in the sizes "
                          "(the buffers of oneDNN follow the numbers): sweep another device, "
                          "or report each point", argument="device")
    budget = None
    if memory is not None:
        try:
            budget = int(parse_size(memory))
        except SymcnnError as err:
            raise SymcnnError(err.message, argument="memory") from None
    grid = _grid(names, vary)
    symbols = problem.symbols
    sizes, relations = problem.conditions
    ok = hold_grid(sizes, relations, dict(zip(symbols, grid)))
    grid = [[v for v, o in zip(values, ok) if o] for values in grid]
    forms = [c.form(problem) for c in COLUMNS]
    limit = _BatchLimit(problem, budget) if budget is not None else None
    out: dict[str, list[int]] = {name: values for name, values in zip(names, grid)}
    for c in COLUMNS:
        out[c.name] = []
    if limit:
        out["max_batch"] = []
    total = len(grid[0])
    for start in range(0, total, STEP):
        point = {s: values[start:start + STEP] for s, values in zip(symbols, grid)}
        values = evaluate_grid([*forms, *(limit.forms if limit else ())], point)
        for c, column in zip(COLUMNS, values):
            out[c.name] += [_whole(v) for v in column]
        if limit:
            out["max_batch"] += limit.values(values[len(forms):])
        if progress:
            progress(min(start + STEP, total), total)
    return out


def _grid(names: list[str], vary: Mapping[str, object]) -> list[list[int]]:
    """The grid's points as one list of values per symbol (the first varies slowest)."""
    ranges = []
    for name in names:
        try:
            values = [int(v) for v in vary[name]]
        except (TypeError, ValueError):
            raise SymcnnError(f"{name}: give whole numbers", argument="vary") from None
        if not values or min(values) < 1:
            raise SymcnnError(f"{name}: give at least one value, each at least 1",
                              argument="vary")
        ranges.append(values)
    count = math.prod(len(r) for r in ranges)
    if count > MAX_SIZES_VALUES:
        raise SymcnnError(f"{count:,} points, at most {MAX_SIZES_VALUES:,}", argument="vary")
    return [list(column) for column in zip(*itertools.product(*ranges))] or [[] for _ in names]


def _whole(value) -> int:
    if isinstance(value, int):
        return value
    if value.denominator != 1:
        raise SymcnnError(f"a figure is not a whole number ({value}): the spec's sizes divide "
                          "unevenly")
    return int(value)


class _BatchLimit:
    """The largest batch in ``budget`` bytes at each point: the moments' ``F_t`` and ``A_t``
    (and, with ``allocator_block``, each allocation) as closed forms, then integers."""

    def __init__(self, problem: Problem, budget: int) -> None:
        self.budget = budget
        sim = problem.memory.simulation
        if sim is None:
            self.moments = [(problem.memory.fixed, problem.memory.per_sample)]
            self.block, self.parts = 0, []
        else:
            self.moments = [(m.fixed, m.per_sample) for m in sim.moments]
            self.block = sim.allocator_block
            self.parts = [[pair for group in m.parts for pair in group] for m in sim.moments] \
                if self.block else []
        self.forms = [sympy.sympify(e) for pair in self.moments for e in pair] + \
            [sympy.sympify(e) for parts in self.parts for pair in parts for e in pair]

    def values(self, columns: list[list]) -> list[int]:
        """The largest batch at each point, from the forms' values (``columns``, in the
        order of :attr:`forms`)."""
        n = 2 * len(self.moments)
        ends = list(itertools.accumulate((2 * len(parts) for parts in self.parts), initial=n))
        out = []
        for row in zip(*columns):
            pairs = [(int(f), int(p)) for f, p in zip(row[0:n:2], row[1:n:2])]
            if not any(p > 0 for _, p in pairs):
                raise SymcnnError("memory does not grow with the batch size: no largest batch")
            value = largest_batch(pairs, self.budget)
            if self.block and value > 0:
                numbers = [(f, p, list(zip(row[a:b:2], row[a + 1:b:2])))
                           for (f, p), a, b in zip(pairs, ends, ends[1:])]
                value = largest_rounded_batch(numbers, self.budget, self.block, value)
            out.append(max(value, 0))
        return out

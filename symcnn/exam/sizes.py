"""Output sizes as formulas of a layer's input sizes, for exams.

A layer's output shape is derived once with symbols for its input's spatial sizes
(``floor((n - 3)/2) + 1``).  From that formula come the worked steps of an output shape,
the check that every floor division of a drawn network is exact, and the sizes a student
gets with a typical mistake (the ``+1`` forgotten, the floor forgotten and the quotient
rounded up, the stride forgotten).

>>> from symcnn.layers import Conv2d
>>> conv = Conv2d(out_channels=8, kernel_size=3, stride=2)
>>> output_formula(conv, 1, 2)
(8, floor((n_1 - 3)/2) + 1, floor((n_2 - 3)/2) + 1)
>>> sizes_after(conv, (1, 12, 13)), sizes_after(conv, (1, 12, 13), "plus_one")
((8, 5, 6), (8, 4, 5))
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache

import sympy

from symcnn.analysis.rows import Analysis, LayerRow
from symcnn.errors import SymcnnError
from symcnn.intdiv import FloorDiv
from symcnn.layers import Layer, Shape, numel
from symcnn.network import INPUT
from symcnn.symbols import size

#: The symbol a size formula is written in (``n``), and the per-axis ones it is derived with.
N = size("n")
_AXES = tuple(size(f"n_{i}") for i in range(1, 9))

#: Typical mistakes in an output size, as rewrites of each floor division ``floor(p/q)``.
SIZE_MISTAKES = {
    "plus_one": ("the +1 forgotten in the output size", lambda p, q: FloorDiv(p, q) - 1),
    "ceil": ("the floor forgotten (rounded up) in the output size",
             lambda p, q: FloorDiv(p + q - 1, q)),
    "stride": ("the stride forgotten in the output size", lambda p, q: p),
    "ceil_no_plus_one": ("the floor and the +1 forgotten in the output size",
                         lambda p, q: FloorDiv(p + q - 1, q) - 1),
}


@lru_cache(maxsize=4096)
def output_formula(layer: Layer, channels, spatial: int) -> tuple[sympy.Expr, ...] | None:
    """The output shape of ``layer`` on a ``(channels, n_1, ..., n_spatial)`` input, or None
    when the layer needs numbers to say it."""
    if spatial > len(_AXES):
        return None
    try:
        return tuple(sympy.sympify(v) for v in layer.output_shape((channels, *_AXES[:spatial])))
    except SymcnnError:
        return None


def _formula(row_layer: Layer, in_shape: Shape):
    return output_formula(row_layer, in_shape[0], len(in_shape) - 1)


@lru_cache(maxsize=4096)
def _mistaken_formula(layer: Layer, channels, spatial: int, mistake: str | None):
    formula = output_formula(layer, channels, spatial)
    if formula is None or mistake is None:
        return formula
    rewrite = SIZE_MISTAKES[mistake][1]
    return tuple(e.replace(FloorDiv, rewrite) for e in formula)


def sizes_after(layer: Layer, in_shape: Shape, mistake: str | None = None) -> Shape:
    """The output shape of ``layer`` on ``in_shape``, computed right or with a mistake."""
    formula = _mistaken_formula(layer, in_shape[0], len(in_shape) - 1, mistake)
    if formula is None:
        return tuple(layer.output_shape(in_shape))
    values = dict(zip(_AXES, in_shape[1:]))
    return tuple(sympy.sympify(e).xreplace(values) for e in formula)


def inexact_division(analysis: Analysis) -> str | None:
    """Where a size of a numeric network is a floor division with a remainder, if anywhere.

    >>> from symcnn import Network, analyze
    >>> from symcnn.layers import Conv2d
    >>> net = Network.sequential("n", (1, 12, 12), [Conv2d(out_channels=2, kernel_size=3, stride=2)])
    >>> inexact_division(analyze(net))
    "layer 1 (Conv2d 'conv2d_1'): 9/2 leaves a remainder (exact_division = true)"
    """
    for row in analysis.rows:
        if len(row.input_shapes) != 1:
            continue
        in_shape = row.input_shapes[0]
        formula = _formula(row.layer, in_shape)
        if formula is None:
            continue
        values = dict(zip(_AXES, in_shape[1:]))
        for expr in formula:
            for div in sorted(expr.atoms(FloorDiv), key=sympy.default_sort_key):
                p, q = (a.xreplace(values) for a in div.args)
                if p.is_Integer and q.is_Integer and int(p) % int(q):
                    return (f"layer {row.index} ({row.type_name} '{row.name}'): {p}/{q} leaves a "
                            "remainder (exact_division = true)")
    return None


def mistaken_analysis(analysis: Analysis, mistake: str) -> Analysis | None:
    """``analysis`` redone with a size mistake in every layer (None when the wrong sizes make
    no network: a size below 1).  Parameters follow the wrong sizes (a Linear layer after a
    Flatten); nothing else changes."""
    shapes: dict[str, Shape] = {INPUT: analysis.input_shape}
    rows = []
    for row in analysis.rows:
        ins = tuple(shapes[i] for i in (row.inputs or (rows[-1].name if rows else INPUT,)))
        try:
            out = sizes_after(row.layer, ins[0], mistake) if len(ins) == 1 \
                else tuple(row.layer.output_shape(*ins))
            if not all(v.is_Integer and v >= 1 for v in map(sympy.sympify, out)
                       if v.is_number):
                return None
            rows.append(dataclasses.replace(
                row, input_shapes=ins, output_shape=out, params=row.layer.params(ins[0]),
                buffers=row.layer.buffers(ins[0]), params_derivation=None, activation=numel(out)))
        except SymcnnError:
            return None
        shapes[row.name] = out
    return dataclasses.replace(analysis, rows=tuple(rows))


@dataclass(frozen=True)
class SizeStep:
    """One distinct size formula of a layer, and the input sizes it was applied to."""

    formula: sympy.Expr
    applied: tuple[tuple[sympy.Expr, sympy.Expr], ...]  # (formula with the number in, value)


@dataclass(frozen=True)
class ShapeStep:
    """How one layer changes the shape: its rows's shapes and the size formulas it used."""

    row: LayerRow
    sizes: tuple[SizeStep, ...]

    @property
    def input_shape(self) -> Shape:
        return self.row.input_shapes[0]


def _put_in(expr: sympy.Expr, symbol: sympy.Symbol, value) -> sympy.Expr:
    """``expr`` with ``value`` for ``symbol``, left unevaluated and in the written order
    (``191 - 3``, not ``-3 + 191``): in a sum, the terms holding the symbol come first."""
    if expr == symbol:
        return sympy.sympify(value)
    if not expr.args:
        return expr
    args = [_put_in(a, symbol, value) for a in expr.args]
    if expr.is_Add:
        args = [a for a, e in zip(args, expr.args) if e.has(symbol)] + \
               [a for a, e in zip(args, expr.args) if not e.has(symbol)]
    return expr.func(*args, evaluate=False)


def leading_to(analysis: Analysis, row: LayerRow) -> set[str]:
    """The names of the layers whose outputs ``row`` reads, directly or not, and its own."""
    by_name = {r.name: r for r in analysis.rows}
    needed, todo = set(), [row.name]
    while todo:
        name = todo.pop()
        if name in by_name and name not in needed:
            needed.add(name)
            todo += list(by_name[name].inputs)
    return needed


def shape_steps(analysis: Analysis, row: LayerRow) -> tuple[ShapeStep, ...]:
    """The layers that lead to ``row`` (itself included) with their size formulas."""
    needed = leading_to(analysis, row)
    steps = []
    for r in analysis.rows:
        if r.name not in needed:
            continue
        sizes: dict[sympy.Expr, list] = {}
        formula = _formula(r.layer, r.input_shapes[0]) if len(r.input_shapes) == 1 else None
        if formula is not None and len(formula) == len(r.input_shapes[0]):
            for axis, (expr, n) in enumerate(zip(formula[1:], r.input_shapes[0][1:])):
                if expr == _AXES[axis]:
                    continue  # this axis is kept as it is
                general = expr.xreplace({_AXES[axis]: N})
                put_in = _put_in(expr, _AXES[axis], n)
                sizes.setdefault(general, []).append((put_in, r.output_shape[axis + 1]))
        steps.append(ShapeStep(r, tuple(SizeStep(f, tuple(a)) for f, a in sizes.items())))
    return tuple(steps)

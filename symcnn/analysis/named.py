"""Symbolic sizes named one layer at a time, so that a derivation can be followed.

In closed form a deep layer's size is a wall of floors (``floor((D - 61)/16) + 1``).  A
student derives it one layer at a time: ``D_1 = D - 2``, ``D_2 = floor((D_1 - 3)/2) + 1``,
...  :func:`name_sizes` gives every size that a layer computes (one that is not a number
or a product of the network's symbols) a name, defined from the names of its input, and
writes every node's shape, parameter count and activation in those names;
:meth:`NamedSizes.closed` turns an expression in names back into the closed form.

The names never clash with the network's own symbols: an axis letter is used only if no
symbol of the network is written like it with an index (``D_3``).

>>> from symcnn.spec.builtin import example_spec
>>> from symcnn.analysis.rows import analyze
>>> named = name_sizes(analyze(example_spec("lecture_symbolic").network))
>>> [(str(n.symbol), str(n.definition)) for n in named.names[3:6]]
[('D_2', 'floor((D_1 - 3)/2) + 1'), ('H_2', 'floor((H_1 - 3)/2) + 1'), ('W_2', 'floor((W_1 - 3)/2) + 1')]
>>> named.shapes["L2"], named.closed(named.names[3].symbol)
((C, D_2, H_2, W_2), floor((D - 5)/2) + 1)
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass

import sympy

from symcnn.errors import SymcnnError
from symcnn.intdiv import FloorDiv
from symcnn.layers import Derivation, numel
from symcnn.network import INPUT
from symcnn.symbols import size

#: Axis letters by rank (channels first), and the letters tried when the first are taken.
#: A 1-d length is ``T``, not ``L``: ``L_i`` is layer ``i``'s parameter count.
_LETTERS = {1: (("n",), ("m",)), 2: (("C", "T"), ("K", "X")), 3: (("C", "H", "W"), ("K", "Y", "X")),
            4: (("C", "D", "H", "W"), ("K", "Z", "Y", "X"))}
_COMPOUND = (sympy.Add, FloorDiv, sympy.Max, sympy.Min, sympy.Piecewise)


@dataclass(frozen=True)
class SizeName:
    """A size a layer computes, named: ``D_2 = floor((D_1 - 3)/2) + 1``."""

    symbol: sympy.Symbol
    #: in the names before it (and the network's symbols)
    definition: sympy.Expr
    #: in the network's symbols: the closed form
    value: sympy.Expr
    node: str
    axis: int


@dataclass(frozen=True)
class SizeStep:
    """The names one node introduces; ``alike``: every axis follows the first's rule, with
    its own letters (``H_2`` and ``W_2`` as ``D_2``), so that one line can say it."""

    node: str
    names: tuple[SizeName, ...]
    alike: bool


@dataclass(frozen=True)
class NamedSizes:
    """The named sizes of a network, and every node's shape (``"input"`` too) in names."""

    names: tuple[SizeName, ...]
    shapes: Mapping[str, tuple[sympy.Expr, ...]]
    #: node -> its parameter derivation with its input in names (None: no parameters)
    params: Mapping[str, Derivation | None]

    @property
    def steps(self) -> tuple[SizeStep, ...]:
        """The names grouped by the node that introduces them, in order."""
        out: list[SizeStep] = []
        for n in self.names:
            if out and out[-1].node == n.node:
                out[-1] = SizeStep(n.node, (*out[-1].names, n), False)
            else:
                out.append(SizeStep(n.node, (n,), False))
        return tuple(SizeStep(s.node, s.names, _alike(s.names)) for s in out)

    def closed(self, expr) -> sympy.Expr:
        """``expr`` (in names) in the network's symbols."""
        return sympy.sympify(expr).xreplace(self._values)

    @functools.cached_property
    def _values(self) -> dict[sympy.Symbol, sympy.Expr]:
        return {n.symbol: n.value for n in self.names}

    def elements(self, node: str) -> sympy.Expr:
        """Elements of ``node``'s output (``"input"``: the network input), in names."""
        return numel(self.shapes[node])

    @property
    def total_params(self) -> sympy.Expr:
        """``N``, the parameter count, in names (a polynomial, expanded)."""
        return sympy.expand(sympy.Add(*(d.value for d in self.params.values() if d)))


def _alike(names: tuple[SizeName, ...]) -> bool:
    """Whether each name's definition is the first's with that axis's own earlier names."""
    if len(names) < 2:
        return False
    first = names[0]
    own = _letter_map(first, names)
    return all(first.definition.xreplace(own[i]) == n.definition for i, n in enumerate(names))


def _letter_map(first: SizeName, names) -> list[dict]:
    """For each name: the first name's symbols renamed to that axis's letters."""
    letter = str(first.symbol).split("_")[0]
    out = []
    for n in names:
        other = str(n.symbol).split("_")[0]
        out.append({s: size(re.sub(rf"^{re.escape(letter)}(?=_|$)", other, str(s)))
                    for s in first.definition.free_symbols if str(s).split("_")[0] == letter})
    return out


def is_plain(expr: sympy.Expr) -> bool:
    """A number or a product of symbols and numbers (``8 C D_1``): nothing to name."""
    return not any(isinstance(e, _COMPOUND) for e in sympy.preorder_traversal(expr))


def _letters(rank: int, taken: set[str], input_shape) -> tuple[str, ...]:
    """The axis letters for shapes of ``rank``: the input's own single-letter symbols where
    it has that rank, else the usual ones; a letter is not used when a symbol of the network
    is written like one of its names (``D_3``)."""
    def usable(letter: str) -> bool:
        return not any(re.fullmatch(rf"{re.escape(letter)}_\d+", t) for t in taken)

    options = list(_LETTERS.get(rank, ()))
    if len(input_shape) == rank:
        own = tuple(str(d) if d.is_Symbol and len(str(d)) == 1 else None for d in input_shape)
        options.insert(0, tuple(o or u for o, u in zip(own, options[0] if options else own)))
    for letters in options:
        if all(usable(x) for x in letters):
            return letters
    return tuple(f"n{i}" for i in range(rank))  # no set free: plain per-axis names


def name_sizes(analysis) -> NamedSizes | None:
    """The sizes of ``analysis`` named one layer at a time (see the module); None when a
    layer cannot compute its shape in names (it needs the sizes' values)."""
    taken = {str(s) for s in analysis.network.free_symbols}
    shapes: dict[str, tuple] = {INPUT: tuple(analysis.input_shape)}
    by_value: dict[sympy.Expr, sympy.Expr] = {}
    names: list[SizeName] = []
    params: dict[str, Derivation | None] = {}
    step = 0
    computed: dict = {}  # (layer, input shapes in names) -> output shape, parameter derivation
    letters_of: dict[int, tuple[str, ...]] = {}
    for row in analysis.rows:
        ins = tuple(shapes[i] for i in row.inputs)
        try:
            out, params[row.name] = _in_names(row, ins, computed)
        except SymcnnError:
            return None
        if len(out) not in letters_of:
            letters_of[len(out)] = _letters(len(out), taken, analysis.input_shape)
        letters = letters_of[len(out)]
        named, new = [], []
        for axis, (mine, value) in enumerate(zip(out, row.output_shape)):
            if value in by_value:
                named.append(by_value[value])
            elif is_plain(mine) or is_plain(value):
                named.append(mine if is_plain(mine) else value)
            else:
                new.append((axis, mine, value))
                named.append(None)
        if new:
            step += 1
            for axis, mine, value in new:
                symbol = size(f"{letters[axis]}_{step}")
                names.append(SizeName(symbol, mine, value, row.name, axis))
                by_value[value] = symbol
                named[axis] = symbol
        shapes[row.name] = tuple(named)
    return NamedSizes(tuple(names), shapes, params)


def _in_names(row, ins: tuple, computed: dict):
    """``row``'s output shape and parameter derivation from its inputs in names, computed once
    per equal layer on equal inputs (a deep network repeats both many times)."""
    key = (row.layer, ins, row.params != 0)
    try:
        return computed[key]
    except KeyError:
        pass
    except TypeError:  # a layer that cannot be hashed: computed every time
        key = None
    out = tuple(sympy.sympify(v) for v in row.layer.output_shape(*ins))
    params = row.layer.params_derivation(ins[0]) if row.params != 0 else None
    if key is not None:
        computed[key] = out, params
    return out, params


def live_elements(analysis, named: NamedSizes) -> list[tuple[str, sympy.Expr]]:
    """Elements alive, without gradients, while each node that allocates runs, in names:
    ``(node, elements)``, as :func:`symcnn.memory.estimate.live_elements` counts them."""
    live = analysis.liveness
    elements = {INPUT: named.elements(INPUT),
                **{r.name: named.elements(r.name) for r in analysis.rows if live.born_here(r)}}
    steps = [(r.index, r.name) for r in analysis.rows if live.born_here(r)] or [(0, INPUT)]
    return [(node, sympy.Add(*(elements[s] for s in live.alive[i]))) for i, node in steps]

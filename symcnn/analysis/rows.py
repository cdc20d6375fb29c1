"""Per-layer shapes, parameter counts and activation sizes of a network."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy

from symcnn.analysis.liveness import Liveness, lifetimes
from symcnn.analysis.sweep import all_hold
from symcnn.errors import SymcnnError
from symcnn.expressions import degree, expanded_terms
from symcnn.intdiv import FloorDiv
from symcnn.limits import MAX_DEGREE, MAX_TERMS
from symcnn.layers import Derivation, Layer, Shape, numel
from symcnn.network import INPUT, Network


@dataclass(frozen=True)
class LayerRow:
    """What one node of a network computes, for one sample."""

    index: int
    name: str
    layer: Layer
    input_shapes: tuple[Shape, ...]
    output_shape: Shape
    params: sympy.Expr
    buffers: sympy.Expr
    params_derivation: Derivation | None
    activation: sympy.Expr
    allocates: bool
    inputs: tuple[str, ...] = ()
    block: str = ""
    block_type: str = ""
    block_args: tuple[tuple[str, sympy.Expr], ...] = ()

    @property
    def type_name(self) -> str:
        return self.layer.type_name


@dataclass(frozen=True)
class Condition:
    """A relation between symbolic sizes that must hold where branches merge."""

    node: str
    relation: sympy.Basic


@dataclass(frozen=True)
class Analysis:
    """Shapes and counts of every node, and the network's totals."""

    network: Network
    rows: tuple[LayerRow, ...]
    conditions: tuple[Condition, ...] = ()

    @property
    def input_shape(self) -> Shape:
        return self.network.input_shape

    @property
    def output_shape(self) -> Shape:
        return self.rows[-1].output_shape if self.rows else self.network.input_shape

    @property
    def total_params(self) -> sympy.Expr:
        return sympy.Add(*(r.params for r in self.rows))

    @property
    def total_buffers(self) -> sympy.Expr:
        return sympy.Add(*(r.buffers for r in self.rows))

    @functools.cached_property
    def liveness(self) -> Liveness:
        """Every tensor's storage and lifetime (:mod:`symcnn.analysis.liveness`), computed
        once and read by every memory figure."""
        return lifetimes(self)


def analyze(network: Network) -> Analysis:
    """Propagate shapes through ``network`` and count parameters and activations.

    >>> from symcnn.spec.builtin import lecture_network
    >>> a = analyze(lecture_network())
    >>> a.total_params, a.output_shape
    (3301651, (1,))
    """
    shapes: dict[str, Shape] = {INPUT: network.input_shape}
    try:
        _check_terms(network.input_shape, "shape")
    except SymcnnError as err:
        raise err.within(layer="input") from None
    rows, conditions = [], []
    for index, node in enumerate(network.nodes, start=1):
        layer = node.layer
        ins = tuple(shapes[i] for i in node.inputs)
        try:
            out = tuple(sympy.sympify(v) for v in layer.output_shape(*ins))
            for c in layer.conditions(*ins):
                if all(c != k.relation for k in conditions):
                    conditions.append(Condition(node.name, c))
            # parameters follow the first input: merging layers (Add, Concat) have none
            params, buffers = layer.params(ins[0]), layer.buffers(ins[0])
            derivation = layer.params_derivation(ins[0])
            _check_terms(out, "output shape")
        except SymcnnError as err:
            raise err.within(layer=f"layer {index} ({node.label})") from None
        shapes[node.name] = out
        # a learned tensor (Parameter) is the same for every sample: no per-sample tensor
        activation = numel(out) if layer.reads_inputs else sympy.Integer(0)
        rows.append(LayerRow(index, node.name, layer, ins, out, params, buffers, derivation,
                             activation, layer.allocates_output, node.inputs, node.block,
                             node.block_type, node.block_args))
    return Analysis(network, tuple(rows), tuple(conditions))


def _check_terms(shape: Shape, what: str) -> None:
    """Refuse a tensor that no memory figure can be derived for in reasonable time: a size of
    degree more than :data:`symcnn.limits.MAX_DEGREE` (``--set C=D**64 --set D=H**64`` makes
    ``H**4096`` of sizes each within the limit), or an element count of more than
    :data:`symcnn.limits.MAX_TERMS` terms once multiplied out (``(C + D)**32 x (H + W)**32``):
    every memory figure expands them, which kept sympy busy for minutes."""
    if any(degree(sympy.sympify(v)) > MAX_DEGREE for v in shape):
        raise SymcnnError(f"a size of degree more than {MAX_DEGREE}: "
                          f"{' x '.join(map(str, shape))}", field=what)
    if expanded_terms(numel(shape)) > MAX_TERMS:
        raise SymcnnError(f"its {len(shape)} sizes multiply out to more than {MAX_TERMS:,} "
                          "terms; give some of their symbols values (--set)", field=what)


def valid_sizes(analysis: Analysis, symbol: sympy.Symbol, values, fixed=None) -> list[int]:
    """The values of ``symbol`` (say the input height) for which every size is positive and
    every merge condition holds; ``fixed`` gives other symbols numbers.  Conditions that
    still depend on other symbols are not decided here.

    >>> from symcnn import Network
    >>> from symcnn.layers import Add, Conv2d, ConvTranspose2d, MaxPool2d
    >>> from symcnn.network import Node
    >>> from symcnn.symbols import size
    >>> H = size("H")
    >>> pool, up = MaxPool2d(kernel_size=2), ConvTranspose2d(out_channels=4, kernel_size=2, stride=2)
    >>> net = Network("skip", (4, H, H), (Node("p", pool, ("input",)), Node("u", up, ("p",)),
    ...                                   Node("sum", Add(), ("input", "u"))))
    >>> [str(c.relation) for c in analyze(net).conditions]
    ['Eq(H, 2*floor(H/2))']
    >>> valid_sizes(analyze(net), H, range(1, 11))
    [2, 4, 6, 8, 10]
    """
    base = dict(fixed or {})
    sizes, relations = size_conditions(analysis, set(base) | {symbol})
    return all_hold(sizes, relations, symbol, values, base)  # every value at once


def size_conditions(analysis: Analysis, known: set) -> tuple[list, list]:
    """What makes the network valid, in the symbols ``known`` only: its sizes that are not
    numbers (each must be at least 1) and its merge conditions (each must hold)."""
    sizes = [s for r in analysis.rows for s in r.output_shape] + list(analysis.input_shape)
    sizes = [s for s in dict.fromkeys(sizes) if not s.is_number and s.free_symbols <= known]
    relations = [c.relation for c in analysis.conditions if c.relation.free_symbols <= known]
    return sizes, relations


def compact(expr: sympy.Expr, max_ops: int = 80) -> sympy.Expr:
    """A short closed form of a total.

    A polynomial is expanded, then factored when that reads shorter.  A sum with floor
    divisions keeps each product whole (``C*(D - 2)*(H - 2)``, not its eight expanded
    terms) and only has common factors taken out.  Never ``simplify()``: it is very
    slow on long sums of floors.

    >>> from symcnn.symbols import size
    >>> C, D, H = size("C"), size("D"), size("H")
    >>> compact(2*C*(27*C + 1) + 4*C*(54*C + 1))
    270*C**2 + 6*C
    >>> compact(4*C*D + 4*C*H)
    4*C*(D + H)
    """
    if expr.is_number or isinstance(expr, (sympy.Max, sympy.Min)):
        return expr
    if expr.has(FloorDiv, sympy.Piecewise, sympy.Max, sympy.Min):
        return sympy.factor_terms(expr)
    expr = sympy.expand(expr)
    if sympy.count_ops(expr) > max_ops:
        return expr
    factored = sympy.factor(expr)
    return factored if sympy.count_ops(factored) < sympy.count_ops(expr) else expr

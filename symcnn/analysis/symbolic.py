"""A symbolic network's memory derived in named sizes, and letters that never clash.

:func:`derive` writes what the documents derive for a network with symbols in the names of
:mod:`symcnn.analysis.named`: each stored activation ``I_i``, the fixed bytes ``c`` and the
bytes per sample ``a`` of ``M(b) = c + a b``, the inference maximum cut to the arguments
that can be the largest (:mod:`symcnn.analysis.dominance`), and the largest batch for each
budget.  It reads a :class:`symcnn.memory.estimate.Memory` (passed in, not imported: the
memory package imports this one's siblings).  The letters of the documents' formulas are
:mod:`symcnn.analysis.letters`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy

from symcnn.analysis.dominance import Parameters, undominated
from symcnn.analysis.macs import Macs, MacsConvention, count_macs
from symcnn.analysis.named import NamedSizes, is_plain, live_elements, name_sizes
from symcnn.errors import SymcnnError
from symcnn.intdiv import FloorDiv

#: A budget's largest batch is written out as a function of the symbols when at most this
#: many remain (and it is short); else as ``floor((budget - c)/a)`` with ``c`` and ``a`` above.
FEW_SYMBOLS = 3


@dataclass(frozen=True)
class NamedTerm:
    """A stored activation in names: ``I_3 = D_2 x H_2 x W_2 x C x 4 = 4 C D_2 H_2 W_2``."""

    label: str
    source: str
    #: the product in the written order (spatial axes, channels, bytes), unevaluated
    written: sympy.Expr
    value: sympy.Expr
    times: int


@dataclass(frozen=True)
class LiveSet:
    """One argument of the inference maximum: the elements alive while ``node`` runs."""

    node: str
    elements: sympy.Expr
    closed: sympy.Expr


@dataclass(frozen=True)
class BudgetRow:
    """The largest batch in one budget, ``floor((budget - fixed) / per_sample)``, with ``c``
    and ``a`` in the network's symbols when few remain (both None: too long to write out)."""

    name: str
    budget: sympy.Expr
    fixed: sympy.Expr | None
    per_sample: sympy.Expr | None


@dataclass(frozen=True)
class SymbolicDerivation:
    """What a document derives for a network with symbols, in named sizes."""

    sizes: NamedSizes
    total_params: sympy.Expr
    #: None for a simulated step (its memory is not a sum of activations)
    terms: tuple[NamedTerm, ...] | None
    fixed: sympy.Expr | None
    per_sample: sympy.Expr | None
    #: the arguments of the inference maximum that can be the largest (one: no maximum)
    inference: tuple[LiveSet, ...]
    #: how many arguments the maximum has before the cut
    inference_count: int
    budgets: tuple[BudgetRow, ...] = ()
    #: every node's MACs written in the named sizes (None: a layer needs the sizes' values)
    macs: Macs | None = None
    #: the sizes as polynomials in nonnegative parameters, made once: the inference cut
    #: above and :attr:`symcnn.report.Report.training_bytes`' and ``inference_bytes``' prove in it
    proof: Parameters | None = field(default=None, compare=False, repr=False)

    @property
    def total_macs(self) -> sympy.Expr | None:
        """The MACs per sample in the named sizes, ``sum_i`` of each node's."""
        return None if self.macs is None else self.macs.total

    @property
    def steps(self):
        return self.sizes.steps

    @property
    def size_lines(self) -> tuple[tuple[object, tuple[sympy.Symbol, ...]], ...]:
        """One line per name to write: ``(name, the other axes' names that follow the same
        rule)``; a step whose axes are alike is written once."""
        out = []
        for st in self.sizes.steps:
            if st.alike:
                out.append((st.names[0], tuple(n.symbol for n in st.names[1:])))
            else:
                out += [(n, ()) for n in st.names]
        return tuple(out)


def derive(analysis, memory, limits=(), macs_convention=MacsConvention.FVCORE,
           ) -> SymbolicDerivation | None:
    """The derivation of a network with symbols in named sizes (None without symbols, or
    when a layer cannot compute its shape in names); the MACs as ``macs_convention``
    counts them."""
    if not analysis.network.free_symbols:
        return None
    named = name_sizes(analysis)
    if named is None:
        return None
    proof = Parameters(named, analysis.network.free_symbols)
    live = live_elements(analysis, named)
    kept = undominated([e for _, e in live], proof)
    closed: dict[sympy.Expr, sympy.Expr] = {}  # many layers leave the same set alive
    inference = tuple(LiveSet(live[i][0], live[i][1], closed.get(live[i][1]) or
                              closed.setdefault(live[i][1], named.closed(live[i][1])))
                      for i in kept)
    terms = fixed = per_sample = None
    if memory.simulation is None:
        s = memory.element_bytes
        terms = _terms(memory.activations, _with_blocks(analysis, named), s)
        if terms is not None:
            per_sample = sympy.Add(*(t.times * t.value for t in terms))
        copies = 1 + (memory.grads.bytes != 0) + memory.optimizer.states
        fixed = named.total_params * s * copies + memory.buffers.bytes
    budgets = ()
    if memory.simulation is None:
        budgets = tuple(BudgetRow(name, limit.budget, *_few(limit))
                        for name, limit in limits if not limit.numeric)
    return SymbolicDerivation(named, named.total_params, terms, fixed, per_sample, inference,
                              len(live), budgets, _named_macs(analysis, named, macs_convention),
                              proof)


def _named_macs(analysis, named: NamedSizes, convention) -> Macs | None:
    """Each node's MACs in the named sizes (None where a rule needs the sizes' values)."""
    try:
        return count_macs(analysis, convention, named.shapes)
    except SymcnnError:
        return None


def _terms(activations, named: NamedSizes, s: int) -> tuple[NamedTerm, ...] | None:
    """Each stored activation in names (None when one is not a node's output: a block's)."""
    out = []
    products: dict[tuple, tuple[sympy.Expr, sympy.Expr]] = {}  # by shape: layers repeat them
    for t in activations:
        shape = named.shapes.get(t.source)
        if shape is None:
            return None
        if shape not in products:
            factors = [*shape[1:], shape[0]] if len(shape) > 1 else list(shape)
            products[shape] = (sympy.Mul(*factors, sympy.Integer(s), evaluate=False),
                               sympy.Mul(*factors) * s)
        out.append(NamedTerm(t.label, t.source, *products[shape], t.times))
    return tuple(out)


def _few(limit) -> tuple[sympy.Expr | None, sympy.Expr | None]:
    """A limit's ``c`` and ``a`` when it is a function of few symbols and both are short."""
    c, a = limit.fixed, limit.per_sample
    if len((c + a).free_symbols) > FEW_SYMBOLS or c.has(FloorDiv) or a.has(FloorDiv):
        return None, None
    short = all(is_plain(x) or (x.is_Add and len(x.args) <= 4) for x in (c, a))
    return (c, a) if short else (None, None)


def _with_blocks(analysis, named: NamedSizes) -> NamedSizes:
    """``named`` with each block use's output (its last node's) under the block's name too:
    torchsummary's convention stores a block's container output (``down1``), as a node."""
    shapes = dict(named.shapes)
    for row in analysis.rows:
        if row.block and row.block not in named.shapes:
            shapes[row.block] = named.shapes[row.name]  # the block's last node ends last
    return NamedSizes(named.names, shapes, named.params)

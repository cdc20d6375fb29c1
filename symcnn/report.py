"""Everything a report shows, computed once: analysis, memory, batch limits, checks.

Presentation (the terminal table, JSON, templates) reads a :class:`Report` and
computes nothing itself.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass

import sympy

from symcnn.analysis.dominance import reduce_max
from symcnn.analysis.letters import Notation, notation
from symcnn.analysis.macs import Macs, MacsConvention, as_macs_convention, count_macs
from symcnn.analysis.receptive import AxisField, receptive_fields
from symcnn.analysis.rows import Analysis, LayerRow, analyze, compact, valid_sizes
from symcnn.analysis.symbolic import SymbolicDerivation, derive
from symcnn.errors import SymcnnError
from symcnn.layers.base import check_size, to_expr
from symcnn.memory.estimate import Memory, Term, estimate_memory
from symcnn.network import Network
from symcnn.options import MemoryOptions, options_from
from symcnn.published import PublishedCheck, check_published
from symcnn.solve import BatchLimit, max_batch_size, max_batch_size_moments
from symcnn.spec.parse import Spec
from symcnn.symbols import size
from symcnn.units import canonical_unit, parse_size

#: GPU sizes the report solves for when no budget is given (decimal GB, as sold).
COMMON_GPUS = ("8GB", "12GB", "16GB", "24GB", "40GB", "80GB")


#: How a notebook shows a report, by format (``markdown``, ``latex``): filled in by
#: :mod:`symcnn.render` when it is imported (``import symcnn`` does), so that the report, a
#: computation, never imports its presentation.
NOTEBOOK_DISPLAY: dict[str, Callable[[Report], str]] = {}


@dataclass(frozen=True)
class Group:
    """A use of a repeated block (``layer1.0``, a ``basic`` block with C = 64), or one layer
    outside blocks: what documents summarize a graph network by."""

    name: str
    block_type: str
    args: tuple[tuple[str, sympy.Expr], ...]
    rows: tuple[LayerRow, ...]
    terms: tuple[Term, ...]
    first_of_type: bool

    @property
    def params(self) -> sympy.Expr:
        return sympy.Add(*(r.params for r in self.rows))

    @property
    def activation_bytes(self) -> sympy.Expr:
        """Bytes of the activations its layers store (each counted once)."""
        return sympy.Add(*(t.bytes for t in self.terms))

    @property
    def output_shape(self):
        return self.rows[-1].output_shape


@dataclass(frozen=True)
class Report:
    """A network's derivations, totals, memory at one batch size, and batch limits."""

    analysis: Analysis
    memory: Memory
    batch_size: sympy.Expr
    limits: tuple[tuple[str, BatchLimit], ...]
    budget: str | None
    checks: tuple[PublishedCheck, ...]
    source: str
    published_source: str
    units: str
    #: For each symbol asked about (``sizes={"H": range(1, 513)}``): the range and its valid values.
    valid_sizes: tuple[tuple[str, range, tuple[int, ...]], ...] = ()
    #: Whose count of multiply-accumulates :attr:`macs` reproduces.
    macs_convention: MacsConvention = MacsConvention.FVCORE

    @property
    def network(self) -> Network:
        return self.analysis.network

    @functools.cached_property
    def macs(self) -> Macs:
        """Every node's MACs (one sample, one forward pass) with its derivation, counted as
        :attr:`macs_convention` counts them (:mod:`symcnn.analysis.macs`)."""
        return count_macs(self.analysis, self.macs_convention)

    @functools.cached_property
    def total_macs(self) -> sympy.Expr:
        """The network's MACs per sample; FLOPs are twice as many."""
        return compact(self.macs.total)

    @functools.cached_property
    def total_flops(self) -> sympy.Expr:
        """FLOPs per sample: a multiply-accumulate is two floating-point operations."""
        return 2 * self.total_macs

    @functools.cached_property
    def group_macs(self) -> tuple[sympy.Expr, ...]:
        """The MACs of each of :attr:`groups` (a block use, or one layer outside blocks)."""
        return self._per_group(self.macs)

    @functools.cached_property
    def named_group_macs(self) -> tuple[sympy.Expr, ...] | None:
        """:attr:`group_macs` in the named sizes of :attr:`derivation` (None without)."""
        named = self.derivation.macs if self.derivation is not None else None
        return None if named is None else self._per_group(named)

    @functools.cached_property
    def named_group_activations(self) -> tuple[sympy.Expr, ...] | None:
        """Each group's :attr:`Group.activation_bytes` in the named sizes of
        :attr:`derivation` (None without them)."""
        terms = self.derivation.terms if self.derivation is not None else None
        if terms is None:
            return None
        by_label = {t.label: t.value for t in terms}
        return tuple(sympy.Add(*(by_label[t.label] for t in g.terms)) for g in self.groups)

    def _per_group(self, macs: Macs) -> tuple[sympy.Expr, ...]:
        by_name = {m.name: m.value for m in macs.rows}
        return tuple(sympy.Add(*(by_name[r.name] for r in g.rows)) for g in self.groups)

    @functools.cached_property
    def receptive_fields(self) -> tuple[tuple[AxisField, ...] | None, ...]:
        """Every node's receptive field, one :class:`AxisField` (size, jump, start) per
        spatial axis of the input; None where not known (:mod:`symcnn.analysis.receptive`)."""
        return receptive_fields(self.analysis)

    @property
    def total_params(self) -> sympy.Expr:
        return compact(self.analysis.total_params)

    @functools.cached_property
    def training_bytes(self) -> sympy.Expr:
        """Training memory at the batch size (computed once: the text, the JSON and every
        template read it); the largest of a simulated step's moments is cut as
        :attr:`inference_bytes` is."""
        return compact(self._cut(self.memory.training(self.batch_size)))

    @functools.cached_property
    def inference_bytes(self) -> sympy.Expr:
        """Inference memory at the batch size; a maximum over the layers is cut to the
        arguments that can be the largest for some valid sizes (proved:
        :mod:`symcnn.analysis.dominance`), one left: that one."""
        return self._cut(self.memory.inference(self.batch_size))

    def _cut(self, value: sympy.Expr) -> sympy.Expr:
        if value.has(sympy.Max) and self.derivation is not None:
            value = reduce_max(value, self.derivation.proof)
        return value

    @functools.cached_property
    def derivation(self) -> SymbolicDerivation | None:
        """For a network with symbols: sizes named one layer at a time and the memory
        derived in those names (:mod:`symcnn.analysis.symbolic`); None without symbols."""
        return derive(self.analysis, self.memory, self.limits, self.macs_convention)

    @functools.cached_property
    def notation(self) -> Notation:
        """The letters of the documents' formulas, none written like the network's symbols
        or the sizes named for it (``S_1``)."""
        named = self.derivation.sizes.names if self.derivation else ()
        return notation(self.network.free_symbols | {n.symbol for n in named})

    @property
    def mismatches(self) -> tuple[PublishedCheck, ...]:
        return tuple(c for c in self.checks if not c.agrees)

    @property
    def groups(self) -> tuple[Group, ...]:
        """The nodes grouped by block use, in order; a layer outside blocks is its own group."""
        terms = {t.source: t for t in self.memory.activations}
        groups: list[Group] = []
        seen: set[str] = set()
        for row in self.analysis.rows:
            key = row.block or row.name
            if groups and row.block and groups[-1].name == key:
                last = groups[-1]
                groups[-1] = dataclasses.replace(
                    last, rows=(*last.rows, row),
                    terms=last.terms + ((terms[row.name],) if row.name in terms else ()))
                continue
            first = bool(row.block_type) and row.block_type not in seen
            seen.add(row.block_type)
            groups.append(Group(key, row.block_type, row.block_args, (row,),
                                (terms[row.name],) if row.name in terms else (), first))
        return tuple(groups)

    @property
    def heaviest_layer(self) -> LayerRow | None:
        """The layer with the most parameters (None when counts are symbolic)."""
        rows = [r for r in self.analysis.rows if r.params != 0]
        if not rows or not all(r.params.is_number for r in rows):
            return None
        return max(rows, key=lambda r: int(r.params))

    @property
    def heaviest_share(self) -> float | None:
        """The heaviest layer's share of all parameters, in percent (None when symbolic):
        documents say "most of them in X" only above 50 %."""
        top = self.heaviest_layer
        return None if top is None else 100 * int(top.params) / int(self.total_params)

    @property
    def largest_activation(self) -> Term | None:
        """The largest stored activation (None when sizes are symbolic)."""
        terms = self.memory.activations
        if not all(t.bytes.is_number for t in terms):
            return None
        return max(terms, key=lambda t: int(t.bytes))

    def _repr_markdown_(self) -> str | None:
        """A notebook shows a report as the Markdown worksheet, math included."""
        show = NOTEBOOK_DISPLAY.get("markdown")
        return show(self) if show else None

    def _repr_latex_(self) -> str | None:
        """The totals as one display formula (for LaTeX-only front ends)."""
        show = NOTEBOOK_DISPLAY.get("latex")
        return show(self) if show else None


def _budget_name(budget) -> str:
    """``"12GB"`` as given; a plain byte count as ``"84,366,524,416 B"``."""
    text = str(budget).strip()
    return f"{int(text):,} B" if text.isdigit() else text


def make_report(spec: Spec | Network, options: MemoryOptions | None = None, *, batch_size=1,
                memory=None, units: str | None = None, sizes=None,
                macs_convention: MacsConvention | str = MacsConvention.FVCORE,
                **deprecated) -> Report:
    """Analyse a network (or a loaded spec) and solve its batch limits.

    ``options`` says how memory is counted (:class:`symcnn.options.MemoryOptions`: the
    convention, the dtype, the optimizer, the simulated step's device, precision, ...; the
    lecture convention by default).  The rest is what the report asks: ``batch_size`` (a
    number or a symbol) the figures are given at, ``memory`` a budget (``"12GB"``,
    ``"11GiB"``, bytes) or a list of them (without it the report solves for common GPU
    sizes), ``units`` for printed sizes (the convention's by default), and ``sizes`` maps
    symbol names to ranges of values to check against the network's size conditions
    (``{"H": range(1, 513)}``); ``macs_convention`` whose count of multiply-accumulates
    :attr:`Report.macs` gives (``fvcore``, ``torchinfo`` or ``ptflops``).  The options used to
    be loose keywords
    (``convention="pytorch"``): those still work, with a :class:`DeprecationWarning`.

    >>> from symcnn.spec.builtin import example_spec
    >>> r = make_report(example_spec(), memory="80GB")
    >>> r.total_params, r.training_bytes, r.limits[0][1].value
    (3301651, 2937313940, 27)
    >>> [c.key for c in r.mismatches]
    ['memory.I_5']
    >>> r.total_macs, make_report(example_spec(), macs_convention="torchinfo").total_macs
    (121987539810, 122347137391)
    >>> [f[0].size for f in r.receptive_fields[3:8:4]]  # L4 and L8, on each axis
    [13, 61]
    >>> r = make_report(example_spec(), MemoryOptions("pytorch", device="cpu"), memory="24GB")
    >>> r.memory.convention, r.memory.simulation.device, r.budget
    ('pytorch', <Device.CPU: 'cpu'>, '24GB')
    """
    options = options_from(options, deprecated, "make_report")
    macs = as_macs_convention(macs_convention)
    spec = spec if isinstance(spec, Spec) else Spec(spec)
    try:
        batch = check_size(to_expr(batch_size, "batch_size"), "batch_size")
    except SymcnnError as err:
        raise SymcnnError(err.message, argument="batch_size") from None
    try:
        analysis = analyze(spec.network)
        mem = estimate_memory(analysis, options, batch=int(batch) if batch.is_number else None)
        units = canonical_unit(units or mem.rules.units, allow_auto=True)
        checks = _published_checks(spec, analysis, mem, options)
    except SymcnnError as err:
        raise err.within(source=spec.source) from None
    if memory is None:
        budgets = COMMON_GPUS
    else:
        budgets = tuple(memory) if isinstance(memory, (list, tuple)) else (memory,)
    sim = mem.simulation
    if sim:
        limits = tuple((_budget_name(b), max_batch_size_moments(sim.moments, parse_size(b),
                                                                sim.allocator_block))
                       for b in budgets)
    else:
        limits = tuple((_budget_name(b), max_batch_size(mem.fixed, mem.per_sample,
                                                        parse_size(b)))
                       for b in budgets)
    valid = []
    for name, values in (sizes or {}).items():
        symbol = size(name)
        if symbol not in spec.network.free_symbols:
            raise SymcnnError(f"{name}: no such symbol in the network (its symbols: "
                              f"{', '.join(sorted(map(str, spec.network.free_symbols))) or 'none'})",
                              argument="sizes")
        valid.append((name, values, tuple(valid_sizes(analysis, symbol, values))))
    return Report(analysis, mem, batch, limits, None if memory is None else str(budgets[0]), checks,
                  spec.source, str(spec.published.get("source", "the source")), units,
                  tuple(valid), macs)


def _published_checks(spec: Spec, analysis: Analysis, mem: Memory,
                      options: MemoryOptions) -> tuple[PublishedCheck, ...]:
    """The spec's printed figures against ours, in the source's own convention (the
    lecture's by default): ``mem`` where the options count as the source does."""
    if not spec.published:
        return ()
    theirs = str(spec.published.get("convention", "lecture"))
    same = theirs == options.convention and options.dtype is None \
        and options.optimizer is None and options.precision == "fp32" \
        and not options.checkpoint_segments and not options.allocator_block
    checked = mem if same else estimate_memory(analysis, MemoryOptions(theirs))
    return check_published(spec.published, analysis, checked)

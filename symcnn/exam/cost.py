"""Exam questions on compute cost (``macs``), receptive fields (``receptive_field``) and the
largest value of a symbol under a memory budget (``largest_symbol``): their worked steps and
the typical mistakes behind wrong options.

The right answers come from the analysis: :func:`symcnn.analysis.macs.count_macs` (fvcore's
count, no bias, unless the exam names another tool's), :func:`symcnn.analysis.receptive.receptive_fields` and
:func:`symcnn.explore.solve_for`.  The wrong ones redo the same with a mistake: the bias
counted (or, for a tool that counts it, forgotten), ``C_in`` or a kernel axis forgotten, FLOPs for MACs; the strides (the jump) or the
dilation left out of the field, the jump taken after the layer's own stride, the ``1`` of the
element itself forgotten; the first value that does not fit, activations counted once, GB for
GiB.  Like :mod:`symcnn.exam.mistakes`, each function returns ``(mistake, value)`` pairs.

>>> from symcnn.analysis import analyze
>>> from symcnn.spec.builtin import lecture_network
>>> a = analyze(lecture_network())
>>> field_along(a, a.rows[3], 0), sorted(v for _, v in field_mistakes(a, a.rows[3], 0))
(13, [9, 12, 13, 19])
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import sympy

from symcnn.analysis.macs import MACS_RULES, MacsConvention, count_macs
from symcnn.analysis.receptive import receptive_fields
from symcnn.analysis.rows import Analysis, LayerRow
from symcnn.analysis.sweep import evaluate_many
from symcnn.errors import SymcnnError
from symcnn.exam.mistakes import other_budget
from symcnn.exam.sizes import leading_to, mistaken_analysis
from symcnn.explore import Solution
from symcnn.layers import ConvNd, ConvTransposeNd, Derivation, Linear, numel
from symcnn.limits import MAX_INTEGER
from symcnn.memory.estimate import Memory
from symcnn.units import parse_size

# ---- multiply-accumulates ---------------------------------------------------------------


@dataclass(frozen=True)
class MacsGroup:
    """Layers that count the same: one formula, the same numbers put in, the same value
    (ResNet's repeated blocks), as a key writes them once, with how many."""

    rows: tuple[LayerRow, ...]
    derivation: Derivation

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def value(self) -> int:
        return int(self.derivation.value)

    @property
    def together(self) -> int:
        return self.count * self.value


@dataclass(frozen=True)
class MacsWork:
    """The layers that count (the asked one alone for a layer's question), with their
    derivations, the value asked for, and the tool whose count it is."""

    rows: tuple[tuple[LayerRow, Derivation], ...]
    value: int
    total: bool  # the whole network's count (else one layer's)
    convention: MacsConvention = MacsConvention.FVCORE

    @property
    def groups(self) -> tuple[MacsGroup, ...]:
        """The rows, those with the same formula and numbers together, in the order they
        first count: a whole network's sum written compactly (ResNet-50's 108 layers that
        count are 34 computations)."""
        by_key: dict[tuple[str, str], list] = {}
        for row, d in self.rows:
            by_key.setdefault((str(d.formula), str(d.substituted)), [d]).append(row)
        return tuple(MacsGroup(tuple(rows), d) for d, *rows in by_key.values())

    @property
    def formulas(self) -> tuple[tuple[str, sympy.Expr], ...]:
        """Each layer type's general formula once, ``(type, formula)``, in order."""
        seen: dict[tuple[str, str], tuple[str, sympy.Expr]] = {}
        for row, d in self.rows:
            seen.setdefault((row.type_name, str(d.formula)), (row.type_name, d.formula))
        return tuple(seen.values())


def macs_work(analysis: Analysis, row: LayerRow | None,
              convention: MacsConvention = MacsConvention.FVCORE) -> MacsWork:
    macs = count_macs(analysis, convention)
    if row is not None:
        d = macs.rows[row.index - 1].derivation
        return MacsWork(((row, d),) if d else (), int(macs.rows[row.index - 1].value), False,
                        convention)
    pairs = tuple((r, m.derivation) for r, m in zip(analysis.rows, macs.rows) if m.derivation)
    return MacsWork(pairs, int(macs.total), True, convention)


def _bias_part(row: LayerRow, value: int, convention: MacsConvention) -> int:
    """What the layer's bias adds to its count under ``convention`` (0 for fvcore)."""
    layer = row.layer
    if getattr(layer, "bias", False) is not True:
        return 0
    without = MACS_RULES[convention][layer](dataclasses.replace(layer, bias=False),
                                            row.input_shapes, row.output_shape)
    return value - (int(without.value) if without else 0)


def _layer_macs_mistakes(row: LayerRow, value: int,
                         convention: MacsConvention) -> list[tuple[str, int]]:
    """One layer's MACs with each typical mistake that applies to it: each taken on the
    weights' count (``core``), plus what the bias adds where ``convention`` counts it."""
    layer, ins, out = row.layer, row.input_shapes[0], row.output_shape
    bias = _bias_part(row, value, convention)
    core, mistakes = value - bias, []
    if bias:
        mistakes.append(("bias forgotten", core))
    elif getattr(layer, "bias", False) is True and isinstance(layer, (ConvNd, Linear)):
        mistakes.append(("bias counted", value + int(numel(out))))
    if isinstance(layer, ConvNd) and not isinstance(layer, ConvTransposeNd):
        per_group = int(ins[0]) // int(layer.groups)
        if per_group > 1:
            mistakes.append(("C_in forgotten", core // per_group + bias))
        kernel = tuple(int(k) for k in layer.kernel_size)
        if len(kernel) > 1 and kernel[-1] > 1:
            n = len(kernel)
            smaller = "k" if n == 2 else f"k^{n - 1}"
            mistakes.append((f"kernel volume {smaller} instead of k^{n}",
                             core // kernel[-1] + bias))
        spatial_in, spatial_out = int(numel(ins[1:])), int(numel(out[1:]))
        if spatial_in != spatial_out and spatial_out:
            mistakes.append(("the input's size instead of the output's",
                             value // spatial_out * spatial_in))
    elif isinstance(layer, Linear) and int(ins[-1]) > 1:
        mistakes.append(("n_in forgotten", core // int(ins[-1]) + bias))
    return mistakes


def macs_mistakes(analysis: Analysis, row: LayerRow | None,
                  convention: MacsConvention = MacsConvention.FVCORE) -> list[tuple[str, int]]:
    """Distractors for one layer's MACs (``row``) or the network's (None), as
    ``convention`` counts them."""
    macs = count_macs(analysis, convention)
    values = [int(m.value) for m in macs.rows]
    if row is not None:
        out = _layer_macs_mistakes(row, values[row.index - 1], convention)
    else:
        totals: dict[str, int] = {}
        for r, v in zip(analysis.rows, values):
            for label, wrong in _layer_macs_mistakes(r, v, convention):
                key = label.replace("n_in", "C_in")
                totals[key] = totals.get(key, sum(values)) + wrong - v
        out = [(f"{label} in every layer", v) for label, v in totals.items()]
    right = values[row.index - 1] if row is not None else int(macs.total)
    out.append(("FLOPs (2 x MACs) given", 2 * right))
    for key, label in (("plus_one", "the +1 forgotten in the output size"),
                       ("ceil", "the floor forgotten (rounded up) in the output size")):
        wrong = mistaken_analysis(analysis, key)
        if wrong is not None:
            counts = count_macs(wrong, convention)
            out.append((label, int(counts.rows[row.index - 1].value) if row is not None
                        else int(counts.total)))
    return out


# ---- receptive fields -------------------------------------------------------------------


@dataclass(frozen=True)
class FieldStep:
    """The field along the asked axis after one layer: ``size = size_in + (kernel - 1)
    jump_in`` and ``jump = jump_in * stride``; ``kernel`` (its reach with dilation,
    ``d(k - 1) + 1``) and ``stride`` are None where the layer keeps the field or merges."""

    row: LayerRow
    size: int
    jump: int
    size_in: int | None = None
    jump_in: int | None = None
    kernel: int | None = None
    stride: int | None = None


@dataclass(frozen=True)
class FieldWork:
    steps: tuple[FieldStep, ...]
    axis: int  # from 0
    axes: int  # the input's spatial axes


def _fields(analysis: Analysis):
    fields = receptive_fields(analysis)
    return [None if f is None else [(int(a.size), int(a.jump)) if a.size.is_Integer
                                    and a.jump.is_Integer else None for a in f] for f in fields]


def field_along(analysis: Analysis, row: LayerRow, axis: int) -> int | None:
    """The receptive field of ``row`` along spatial axis ``axis`` (from 0), None where it has
    none to ask about (its axes flattened, a learned tensor, a jump of 0: it sees the whole
    axis)."""
    f = _fields(analysis)[row.index - 1]
    if f is None or axis >= len(f) or f[axis] is None or f[axis][1] == 0:
        return None
    return f[axis][0]


def field_work(analysis: Analysis, row: LayerRow, axis: int) -> FieldWork:
    """The layers leading to ``row`` and the field along ``axis`` after each."""
    fields = _fields(analysis)
    needed = leading_to(analysis, row)
    steps, at = [], {"input": (1, 1)}
    for r in analysis.rows[:row.index]:
        f = fields[r.index - 1]
        if not f or f[axis] is None:  # unknown, or none (a learned tensor)
            continue
        size, jump = f[axis]
        at[r.name] = (size, jump)
        if r.name not in needed:
            continue
        before = at.get(r.inputs[0]) if len(r.inputs) == 1 else None
        if before is None or before == (size, jump) or before[1] == 0 or jump == 0 \
                or (size - before[0]) % before[1] or jump % before[1]:
            steps.append(FieldStep(r, size, jump))
            continue
        steps.append(FieldStep(r, size, jump, before[0], before[1],
                               (size - before[0]) // before[1] + 1, jump // before[1]))
    return FieldWork(tuple(steps), axis, len(analysis.input_shape) - 1)


def _with_layers(analysis: Analysis, change) -> Analysis:
    """``analysis`` with each layer changed by ``change`` (shapes kept as they are)."""
    rows = []
    for r in analysis.rows:
        try:
            layer = change(r.layer)
        except (SymcnnError, TypeError, ValueError):
            layer = r.layer
        rows.append(dataclasses.replace(r, layer=layer))
    return dataclasses.replace(analysis, rows=tuple(rows))


def _ones(layer, name: str):
    return (1,) * len(getattr(layer, name))


def _strides_left_out(layer):
    if hasattr(layer, "stride") and hasattr(layer, "kernel_size"):
        return dataclasses.replace(layer, stride=_ones(layer, "kernel_size"))
    return layer


def _dilation_left_out(layer):
    if hasattr(layer, "dilation"):
        return dataclasses.replace(layer, dilation=_ones(layer, "dilation"))
    return layer


def _jump_after_stride(layer):
    """A window's reach taken with the jump after its own stride: ``d`` becomes ``d S``."""
    if isinstance(layer, ConvTransposeNd) or not hasattr(layer, "stride") \
            or not hasattr(layer, "kernel_size"):
        return layer
    dilation = layer._dilation() if hasattr(layer, "_dilation") else layer.dilation
    scaled = tuple(d * s for d, s in zip(dilation, layer.stride))
    if hasattr(layer, "dilation"):
        return dataclasses.replace(layer, dilation=scaled)
    kernel = tuple((k - 1) * s + 1 for k, s in zip(layer.kernel_size, layer.stride))
    return dataclasses.replace(layer, kernel_size=kernel, stride=layer.stride)


def field_mistakes(analysis: Analysis, row: LayerRow, axis: int) -> list[tuple[str, int]]:
    """Distractors for the receptive field of ``row`` along ``axis``."""
    right = field_along(analysis, row, axis)
    out = []
    for label, change in (("the jump not multiplied (strides left out)", _strides_left_out),
                          ("the dilation forgotten", _dilation_left_out),
                          ("the jump taken after the layer's own stride", _jump_after_stride)):
        wrong = field_along(_with_layers(analysis, change), row, axis)
        if wrong is not None:
            out.append((label, wrong))
    out.append(("the element itself (the 1) forgotten", right - 1))
    return out


# ---- the largest value of a symbol -----------------------------------------------------


@dataclass(frozen=True)
class LargestWork:
    """The training memory as a closed form in the symbol, and the values around the answer."""

    symbol: sympy.Symbol
    memory: sympy.Expr  # M(symbol) at the batch size, in bytes
    batch_size: int
    budget: str
    solution: Solution


def _largest(form: sympy.Expr, symbol: sympy.Symbol, smallest: int, budget: int) -> int | None:
    """The largest value from ``smallest`` up whose ``form`` is within ``budget``, for a form
    that never decreases (None when none fits or none fails)."""
    def fits(v: int) -> bool:
        return int(evaluate_many(form, symbol, [v])[0]) <= budget

    if not fits(smallest):
        return None
    lo, hi = smallest, 2 * smallest
    while fits(hi):
        lo, hi = hi, 2 * hi
        if hi > MAX_INTEGER:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def largest_mistakes(memory: Memory, work: LargestWork) -> list[tuple[str, int]]:
    """Distractors for the largest value of a symbol whose training memory fits a budget."""
    s, b = work.solution, work.batch_size
    budget = int(parse_size(work.budget))
    once = sympy.Add(*(t.bytes for t in memory.activations))
    forms = [("activations counted once instead of twice", memory.fixed + b * once, budget)]
    other = other_budget(work.budget)
    if other is not None:
        forms.append(("decimal and binary units confused (GB, GiB)", work.memory, other))
    forms.append(("gradients of the parameters forgotten", work.memory - memory.grads.bytes,
                  budget))
    forms.append(("parameters and gradients forgotten", b * memory.per_sample, budget))
    if b > 1:
        forms.append(("batch size forgotten", memory.fixed + memory.per_sample, budget))
    out = [] if s.next is None else [("the first value that does not fit", s.next)]
    for label, form, limit in forms:
        value = _largest(sympy.sympify(form), work.symbol, s.smallest, limit)
        if value is not None:
            out.append((label, value))
    return out

"""Receptive fields: for every node and every spatial axis of the network's input, how many
input pixels one output element sees (``size``), how far apart in the input two neighbouring
output elements' fields start (``jump``, the effective stride), and where the field of output
element 0 starts (``start``, an input index: negative where it reaches into the padding).

Closed forms in the network's symbols, by the usual recurrence: a window of ``k`` with
stride ``s``, padding ``p`` and dilation ``d`` gives ``size + d(k - 1) jump``, ``jump s`` and
``start - p jump``.  Output element ``i`` then sees the input pixels ``start + i jump`` to
``start + i jump + size - 1`` (with dilation's gaps inside).  Where branches merge, the field
is the largest over the paths: the union of the inputs' fields.

* Convolutions, max and average pooling: the recurrence (``padding="same"`` pads
  ``floor(d(k - 1)/2)`` in front, as PyTorch does).
* A transposed convolution and upsampling make the jump a fraction: neighbouring outputs
  then see different numbers of pixels (kernel 3, stride 2: one, two, one, ...), and every
  element's field is held exactly, as a pattern that repeats every few elements
  (:mod:`symcnn.analysis.lattice`, :meth:`AxisField.pixels`; ``size`` is then the largest,
  ``jump`` the mean step).  A transposed convolution's output ``o`` reads the inputs ``i``
  with ``i s = o + p - d t``; upsampling reads the pixels with a non-zero weight, one for the
  nearest modes, two (linear modes) or four (bicubic) where the source position falls between
  pixels, as PyTorch's forward computes it (the nearest modes' index in float32; an axis the
  linear modes do not resize is copied).  The layers after them follow each element.  A
  symbolic stride, padding or kernel after a fractional jump is not followed (None).
* The borders: ``pixels(o)`` holds for every output element.  A window that reads past its
  input's ends reads padding: it sees the positions the pattern gives there (outside the
  input: ``start`` is negative), but no pixel of the input (beside a slice, or where a stride
  left the last pixels out, no element reads one there).  An interpolation has no padding:
  PyTorch clamps the source index, and a border element reads the edge element (linear,
  twice the size: element 0 sees pixel 0 alone, ``start`` 0).  Such border elements are
  held one by one (:class:`~symcnn.analysis.lattice.Lattice`'s edges); ``size`` is the
  largest over the elements there are, ``start`` element 0's.  (Not where the axis's size is
  a symbol: the far border is then the pattern's.)
* Adaptive pooling: its bins (``floor(i n/o)`` to ``ceil((i + 1) n/o) - 1``); to size 1 it
  sees the whole axis.
* A linear layer, and a softmax over a spatial axis, see every position of the axes they mix:
  their jump is 0.  Flatten keeps each element's field (the axes are no longer spatial: a
  convolution after it has no field here, None).
* Everything element-wise keeps the field; normalization layers are counted as element-wise
  (their statistics over the batch or the axes are not part of the field).
* Tensor operations follow the axes: a permute moves them (a window sees them again once
  they are back in order: ConvNeXt's channels-last blocks), a view that splits a spatial axis,
  a select of one of its positions and a mean over it take it out of the tensor (the mean, as
  adaptive pooling to 1, sees all of it); a slice moves its first element.  ``Mul`` is a merge,
  as ``Add``: where one input's every element sees all that the others see (a
  squeeze-excitation scale, an attention's output), the union is its field at every position
  (jump 0).  A learned tensor (a class token) sees no pixel: it has no field (no axes, as
  without spatial axes), and adds nothing where it is merged.
  Attention: every output element sees every input element of its sample.

>>> from symcnn.analysis import analyze
>>> from symcnn.spec.builtin import lecture_network
>>> fields = receptive_fields(analyze(lecture_network()))
>>> [f[0].size for f in fields[:8]], fields[7][0].jump
([3, 5, 9, 13, 21, 29, 45, 61], 16)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from math import gcd

import sympy

from symcnn.analysis.lattice import Lattice, SeesNothing, Unknown, interpolation_scale, known
from symcnn.analysis.lattice import MAX_ELEMENTS, decided
from symcnn.analysis.lattice import whole
from symcnn.analysis.lattice import adaptive_window, interpolation_window, nearest_index
from symcnn.analysis.lattice import sliding_window
from symcnn.analysis.lattice import merged as lattice_union
from symcnn.analysis.lattice import transposed_window
from symcnn.analysis.receptive_tensors import TENSOR_RULES
from symcnn.intdiv import FloorDiv
from symcnn.layers import (
    ELU,
    GELU,
    AdaptivePoolNd,
    Add,
    BatchNormNd,
    Concat,
    Contiguous,
    ConvNd,
    ConvTransposeNd,
    DropoutNd,
    GroupNorm,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    Identity,
    Layer,
    LayerNorm,
    LeakyReLU,
    Mish,
    Mul,
    PoolNd,
    PReLU,
    ReLU,
    ReLU6,
    Shape,
    Sigmoid,
    SiLU,
    Softplus,
    StochasticDepth,
    Tanh,
    Upsample,
)
from symcnn.layers.dispatch import RuleTable


@dataclass(frozen=True)
class AxisField:
    """The receptive field of a node's output along one spatial axis of the network's input:
    where the jump is a fraction, ``size`` is the largest over the elements, ``jump`` the mean
    step, and :meth:`pixels` gives each element's own."""

    size: sympy.Expr
    jump: sympy.Expr
    start: sympy.Expr
    phases: Lattice | None = field(default=None, repr=False)

    def pixels(self, element: int) -> tuple[sympy.Expr, sympy.Expr] | None:
        """The first and the last input pixel that output element ``element`` sees (None:
        it sees none, as some outputs of a transposed convolution whose stride exceeds its
        kernel).

        >>> AxisField(5, 2, -1).pixels(3)
        (5, 9)
        """
        if self.phases is not None:
            return self.phases.at(element)
        first = self.start + element * self.jump
        return first, first + self.size - 1


@dataclass(frozen=True)
class _Axis:
    """An axis as the walk tracks it: its field, the number of positions along it in the
    current tensor, and the tensor axis it runs along (PyTorch's number, counting the batch:
    ``2 + i`` for spatial axis ``i`` until a permute moves it; None once flattened into
    another axis, selected or averaged away)."""

    field: AxisField
    positions: sympy.Expr
    axis: int | None
    span: int | None = None  # the network input's pixels along the axis (None: symbolic)

    @property
    def spatial(self) -> bool:
        return self.axis is not None

    def lattice(self) -> Lattice:
        f = self.field
        return self.field.phases or Lattice(((f.start, f.start + f.size - 1),), f.jump)

    def remapped(self, window, step, positions, clamp: bool = False, irregular=None) -> _Axis:
        """The field of a layer whose output ``o`` reads this axis's elements ``window(o)``
        (which moves ``u`` elements every ``v`` outputs, ``step = (u, v)``); past the ends
        of the axis it reads padding, or the edge element where it ``clamp``s; ``irregular``:
        see :meth:`Lattice.remapped`."""
        phases = self.lattice().remapped(window, tuple(map(whole, step)), known(self.positions),
                                         known(positions), self.span, clamp, irregular)
        if len(phases.bounds) == 1 and phases.bounds[0] is not None and not phases.edges:
            (lo, hi), = phases.bounds
            return replace(self, field=AxisField(hi - lo + 1, phases.shift, lo),
                           positions=positions)
        return replace(self, field=AxisField(*phases.field(known(positions)), phases),
                       positions=positions)

    def window(self, kernel, stride, front, positions, dilation=1) -> _Axis:
        """A window of ``kernel`` pixels (dilation included: every ``dilation``-th is read)
        every ``stride``, ``front`` positions of padding before the first."""
        numeric = all(known(x) is not None for x in (kernel, stride, front, dilation))
        if self.field.phases is not None or (numeric and self._ragged()):
            return self.remapped(sliding_window(whole(kernel), whole(stride), whole(front),
                                                whole(dilation)), (stride, 1), positions)
        f = self.field
        return replace(self, field=AxisField(f.size + (kernel - 1) * f.jump, f.jump * stride,
                                             f.start - front * f.jump), positions=positions)

    def _ragged(self) -> bool:
        """Whether the pattern continued past the axis's ends sees pixels of the input (after
        a slice, or a stride that left the last pixels out): a padding there sees none, and
        the border elements are followed one by one (:class:`Lattice`'s edges)."""
        f, m = self.field, known(self.positions)
        if m is None or self.span is None:
            return False
        return any(decided(condition) for condition in (
            f.start - f.jump + f.size - 1 >= 0, f.start + m * f.jump <= self.span - 1))

    def extent(self) -> tuple[sympy.Expr, sympy.Expr]:
        """The first and the last pixel that the axis's elements see together."""
        if self.field.phases is not None:
            return self.field.phases.extent(whole(self.positions))
        f = self.field
        return f.start, f.start + (self.positions - 1) * f.jump + f.size - 1

    def whole(self) -> _Axis:
        """Every output element sees every position of the axis."""
        lo, hi = self.extent()
        return replace(self, field=AxisField(hi - lo + 1, sympy.Integer(0), lo))


#: The state between nodes: one tracked axis per spatial axis of the input (None: unknown;
#: an empty tuple where the input has spatial axes: a learned tensor, which sees no pixel).
State = tuple[_Axis, ...] | None
FieldRule = Callable[[Layer, tuple[tuple[_Axis, ...], ...], tuple[Shape, ...], Shape], State]
FIELD_RULES: RuleTable[FieldRule] = RuleTable("receptive field",
                                              "symcnn/analysis/receptive.py:FIELD_RULES")


def _mapped(state: tuple[_Axis, ...], shape: Shape) -> bool:
    """Whether the tracked axes are the spatial axes of a tensor of ``shape``, in order."""
    return len(shape) - 1 == len(state) and all(a.axis == 2 + i for i, a in enumerate(state))


def _windows(state, shape: Shape, out: Shape, kernels, strides, fronts, dilation) -> State:
    if not _mapped(state, shape):
        return None
    return tuple(a.window(k, s, p, n, d) for a, k, s, p, n, d in zip(state, kernels, strides,
                                                                      fronts, out[1:], dilation))


def _sliding(layer, states, ins, out, dilation) -> State:
    n = len(ins[0]) - 1
    kernels = [d * (k - 1) + 1 for k, d in zip(layer.kernel_size, dilation)]
    if layer.padding == "same":
        fronts = [FloorDiv(k - 1, 2) for k in kernels]
    elif layer.padding == "valid":
        fronts = [sympy.Integer(0)] * n
    else:
        fronts = list(layer.padding)
    return _windows(states[0], ins[0], out, kernels, layer.stride, fronts, dilation)


FIELD_RULES.add(ConvNd, lambda layer, states, ins, out:
                _sliding(layer, states, ins, out, layer.dilation))
FIELD_RULES.add(PoolNd, lambda layer, states, ins, out:
                _sliding(layer, states, ins, out, layer._dilation()))


@FIELD_RULES.entry(ConvTransposeNd)
def _conv_transpose(layer, states, ins, out) -> State:
    """Output ``o`` reads the inputs ``i`` with ``i s = o + p - d t`` for a tap ``t < k``:
    element by element (:func:`symcnn.analysis.lattice.transposed_window`)."""
    state = states[0]
    if not _mapped(state, ins[0]):
        return None
    return tuple(a.remapped(transposed_window(whole(k), whole(s), whole(p), whole(d)), (1, s), n)
                 for a, k, s, p, d, n in zip(state, layer.kernel_size, layer.stride,
                                             layer.padding, layer.dilation, out[1:]))


@FIELD_RULES.entry(AdaptivePoolNd)
def _adaptive(layer, states, ins, out) -> State:
    """Bin ``i`` of ``n`` positions pooled to ``o``: ``floor(i n/o)`` to ``ceil((i + 1) n/o)
    - 1``; a window of ``n/o`` where that divides, the whole axis to 1."""
    state = states[0]
    if not _mapped(state, ins[0]):
        return None
    axes = []
    for a, n, o in zip(state, ins[0][1:], out[1:]):
        if sympy.expand(n - o) == 0:
            axes.append(a)
        elif o == 1:
            axes.append(replace(a.whole(), positions=o))
        elif (n / o).is_integer:
            axes.append(a.window(n / o, n / o, 0, o))
        else:
            n_, o_ = whole(n), whole(o)
            step = gcd(n_, o_)
            axes.append(a.remapped(adaptive_window(n_, o_), (n_ // step, o_ // step), o))
    return tuple(axes)


@FIELD_RULES.entry(Upsample)
def _upsample(layer, states, ins, out) -> State:
    """The input elements with a non-zero weight for each output element
    (:func:`symcnn.analysis.lattice.interpolation_window`): one for the nearest modes, two
    (linear modes) or four (bicubic) where the source position falls between pixels."""
    state = states[0]
    if not _mapped(state, ins[0]):
        return None
    factors = layer.scale_factor if isinstance(layer.scale_factor, (tuple, list)) \
        else (layer.scale_factor,) * len(state)
    axes = []
    for a, x, y, f in zip(state, ins[0][1:], out[1:], factors):
        scale = interpolation_scale(layer, x, y, f)
        if layer.mode in ("linear", "bilinear", "trilinear") and sympy.expand(x - y) == 0:
            scale = Fraction(1)  # PyTorch copies an axis it does not resize (whatever the factor)
        irregular = None
        if layer.mode.startswith("nearest") and known(x) is not None and known(y) is not None:
            if whole(y) > MAX_ELEMENTS:  # float32's index is checked output by output
                raise Unknown(y)
            exact = layer.mode == "nearest-exact"
            index = nearest_index(exact, whole(x), whole(y),
                                  None if layer.recompute_scale_factor else f)
            window = interpolation_window(layer.mode, False, scale)
            irregular = (lambda o, index=index: (index(o),),
                         [o for o in range(whole(y)) if (index(o),) != tuple(window(o))])
        window = interpolation_window(layer.mode, bool(layer.align_corners), scale)
        axes.append(a.remapped(window, (scale.numerator, scale.denominator), y, clamp=True,
                               irregular=irregular))
    return tuple(axes)


def _true(condition) -> bool:
    return bool(sympy.sympify(condition) == sympy.true)


def _covering(axes) -> _Axis | None:
    """The input whose every element sees all that any element of the others sees (a global
    pool's squeeze-excitation scale, an attention's output), if one does: the union is its
    field at every position (jump 0)."""
    for candidate in axes:
        if candidate.field.jump != 0:
            continue
        lo, hi = candidate.extent()
        try:
            if all(_true(lo <= a.extent()[0]) and _true(a.extent()[1] <= hi) for a in axes):
                return candidate
        except Unknown:
            continue
    return None


@FIELD_RULES.entry(Add, Concat, Mul)
def _merge(layer, states, ins, out) -> State:
    """The union of the inputs' fields: the largest over the paths (a learned tensor's input
    sees no pixel: it adds nothing)."""
    seeing = [s for s in states if s]
    if not seeing:
        return states[0]
    if isinstance(layer, Concat):
        rank = len(ins[0]) + 1
        dim = layer.dim + rank if layer.dim < 0 else layer.dim
        if any(a.axis == dim for s in seeing for a in s):
            return None  # joined along a spatial axis: the fields differ by position
    merged = []
    for axes in zip(*seeing):
        if len({a.axis for a in axes}) > 1:
            return None
        covering = _covering(axes)
        if covering is not None:
            merged.append(covering)
            continue
        if any(a.field.phases is not None for a in axes):
            phases = lattice_union([a.lattice() for a in axes])
            if phases is None:
                return None
            positions = out[axes[0].axis - 1] if axes[0].spatial else axes[0].positions
            merged.append(replace(axes[0], field=AxisField(*phases.field(known(positions)),
                                                           phases), positions=positions))
            continue
        first = sympy.Min(*(a.field.start for a in axes))
        last = sympy.Max(*(a.field.start + a.field.size - 1 for a in axes))
        axis = axes[0].axis
        positions = axes[0].positions if axis is None else out[axis - 1]  # broadcast
        merged.append(_Axis(AxisField(last - first + 1, sympy.Max(*(a.field.jump for a in axes)),
                                      first), positions, axis, axes[0].span))
    return tuple(merged)


def _same(layer, states, ins, out) -> State:
    return states[0]


#: element-wise: activations, dropout, identity, and normalization (see the module's docstring)
FIELD_RULES.add((ReLU, LeakyReLU, GELU, SiLU, Sigmoid, Tanh, ReLU6, Hardtanh, Hardswish,
                 Hardsigmoid, ELU, Mish, Softplus, PReLU, DropoutNd, Identity, BatchNormNd,
                 GroupNorm, LayerNorm, Contiguous, StochasticDepth), _same)


def receptive_fields(analysis, shapes=None) -> tuple[tuple[AxisField, ...] | None, ...]:
    """For every node of ``analysis``: its receptive field along each spatial axis of the
    network's input (empty when the input has none, for a learned tensor and where every
    element sees no pixel, such as a layer that reads only a transposed convolution's gaps: no
    field), or None where it is not known (a spatial layer after its axes were flattened, a
    concatenation along a spatial axis, adaptive pooling to a symbolic size that may not
    divide, a symbolic geometry after a fractional jump, a pattern longer than symcnn
    follows).  ``shapes``: each node's output
    shape (``"input"`` too) to count positions in, such as the named sizes (a linear layer's
    field in them: :func:`symcnn.analysis.field_forms.named_fields`).

    >>> import symcnn
    >>> fields = symcnn.receptive_fields(symcnn.analyze(symcnn.example_spec().network))
    >>> [(axis.size, axis.jump, axis.start) for axis in fields[3]]  # L4, per axis
    [(13, 4, 0), (13, 4, 0), (13, 4, 0)]
    """
    shapes = shapes or {"input": analysis.input_shape,
                        **{row.name: row.output_shape for row in analysis.rows}}
    start = tuple(_Axis(AxisField(sympy.Integer(1), sympy.Integer(1), sympy.Integer(0)), n, 2 + i,
                        known(n)) for i, n in enumerate(shapes["input"][1:]))
    states: dict[str, State] = {"input": start}
    out: list[tuple[AxisField, ...] | None] = []
    blind: set[str] = set()  # the nodes whose elements see no pixel: no field, ()
    for row in analysis.rows:
        ins = tuple(states[name] for name in row.inputs)
        state = None
        if all(s is not None for s in ins) or not row.layer.reads_inputs:
            try:
                state = FIELD_RULES[row.layer](row.layer, ins, tuple(shapes[i] for i in row.inputs),
                                               shapes[row.name])
            except Unknown:  # a symbolic geometry where the field differs by element
                state = None
            except SeesNothing:
                state = ()
                blind.add(row.name)
        if state == () and any(name in blind for name in row.inputs):
            blind.add(row.name)  # after a layer that sees nothing (not a learned tensor)
        states[row.name] = state
        out.append(() if row.name in blind else None if state is None
                   else tuple(a.field for a in state))
    return tuple(out)


# the rules of tensor operations (views, token mixing, selections) join the table
for _layer_type, _rule in TENSOR_RULES.items():
    FIELD_RULES.add(_layer_type, _rule)

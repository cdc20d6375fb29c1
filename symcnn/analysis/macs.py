"""Multiply-accumulate operations (MACs) per layer and in total, as closed forms, counted as
fvcore, torchinfo or ptflops count them.

One forward pass of one sample (a batch of ``b`` costs ``b`` times as much); FLOPs are
``2 x MACs``.  Each convention is one :class:`~symcnn.layers.dispatch.RuleTable` keyed by
layer class, whose rules return a :class:`~symcnn.layers.Derivation` (general formula, this
layer's numbers, value) or None for a layer the tool counts as free:

* ``fvcore`` (``FlopCountAnalysis(model.eval(), x).total()``, its default operator handles):
  a convolution ``C_out H_out W_out * k^2 C_in / g``, a transposed one ``C_in H_in W_in * k^2
  C_out / g`` (its kernel slides over the input), a linear layer ``n_in n_out`` (per row of
  its input), no bias; BatchNorm in eval mode ``2`` per element (``1`` without affine;
  ``5``/``4`` without running statistics, which normalizes with the batch's), GroupNorm and
  LayerNorm ``5`` (``4`` without affine), nearest 2-d upsampling ``1`` and bilinear ``4`` per
  output element, ``AdaptiveAvgPool2d`` ``1`` per input element; everything else ``0``.
* ``torchinfo`` (``summary(...).total_mult_adds``): a layer's parameters (weight and bias)
  times its output positions for convolutions, times one for the other layers with
  parameters; ``0`` without parameters.
* ``ptflops`` (``get_model_complexity_info(model, shape, as_strings=False)``, its default
  ``pytorch`` backend, which also counts some ``torch.nn.functional`` calls: a module whose
  ``forward`` calls one of them is counted twice, as the tool does): convolutions as fvcore
  plus one per output element for the bias; linear ``(n_in + 1) n_out`` per row;
  BatchNorm/GroupNorm ``2`` per element (``1`` without affine), LayerNorm ``1``; ReLU, PReLU,
  ELU and GELU ``2`` per element, LeakyReLU, ReLU6, SiLU and Softmax ``1``; every pooling
  ``2`` per input element; upsampling its output elements plus ``F.interpolate``'s count.

The tensor operations (``Mul`` written ``x * y``, ``Mean``, ``Permute``, ``Unflatten``,
``Contiguous``, ``Select``, ``Narrow``), a learned tensor (``Parameter``) and stochastic depth
count ``0`` in all three.  ``MultiheadAttention``: fvcore its projections ``4 L E^2`` (plus
``2 L S E`` for the attention with ``need_weights``), torchinfo ``0`` (a module with a
submodule), ptflops its own hook (see :func:`_ptflops_attention`).

>>> from symcnn.analysis import analyze
>>> from symcnn.spec.builtin import lecture_network
>>> a = analyze(lecture_network())
>>> count_macs(a).total, count_macs(a, "torchinfo").total, count_macs(a, "ptflops").total
(121987539810, 122347137391, 122347137391)
>>> count_macs(a).rows[1].text
'D_out*H_out*W_out*C_out*C_in*k**3 = 95*113*95*30*30*27 = 24781747500'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

import sympy

from symcnn.errors import SymcnnError
from symcnn.intdiv import product
from symcnn.layers import (
    ELU,
    GELU,
    AdaptiveAvgPool2d,
    AdaptivePoolNd,
    Add,
    BatchNormNd,
    Concat,
    Contiguous,
    ConvNd,
    ConvTransposeNd,
    Derivation,
    DropoutNd,
    Flatten,
    GroupNorm,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    Identity,
    Layer,
    LayerNorm,
    LeakyReLU,
    Linear,
    Mean,
    Mish,
    Mul,
    MultiheadAttention,
    Narrow,
    Parameter,
    Permute,
    PoolNd,
    PReLU,
    ReLU,
    ReLU6,
    Select,
    Shape,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    StochasticDepth,
    Tanh,
    Unflatten,
    Upsample,
    numel,
)
from symcnn.layers.base import to_expr, written_add, written_mul
from symcnn.layers.dispatch import RuleTable
from symcnn.symbols import C_in, C_out, axis_symbols, g, size


class MacsConvention(StrEnum):
    """Which tool's count of multiply-accumulates a figure reproduces."""

    FVCORE = "fvcore"
    TORCHINFO = "torchinfo"
    PTFLOPS = "ptflops"

    @property
    def summary(self) -> str:
        """What it counts, in a line (the text report and the documents print it)."""
        return _SUMMARY[self]


_SUMMARY = {
    MacsConvention.FVCORE: "as fvcore's FlopCountAnalysis counts them: the multiplications of "
                           "convolutions and linear layers (no bias), normalization per element",
    MacsConvention.TORCHINFO: "as torchinfo's Mult-Adds counts them: each layer's parameters, "
                              "times the output positions for convolutions",
    MacsConvention.PTFLOPS: "as ptflops counts them: convolutions and linear layers with their "
                            "bias, activations, pooling and normalization per element",
}


#: A rule: the layer, its input shapes and its output shape -> the derivation of its MACs,
#: or None where the tool counts nothing.
MacsRule = Callable[[Layer, tuple[Shape, ...], Shape], Derivation | None]

#: One table per convention.
MACS_RULES: dict[MacsConvention, RuleTable[MacsRule]] = {
    c: RuleTable(f"{c.value} MACs", f"symcnn/analysis/macs.py:MACS_RULES[{c.value!r}]")
    for c in MacsConvention}
FVCORE, TORCHINFO, PTFLOPS = (MACS_RULES[c] for c in MacsConvention)

_LETTERS = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def _letters(n: int, suffix: str = "") -> tuple[sympy.Symbol, ...]:
    """The general names of ``n`` spatial sizes: ``D_out, H_out, W_out``."""
    names = _LETTERS.get(n) or tuple(f"n_{i + 1}" for i in range(n))
    return tuple(size(f"{x}_{suffix}" if suffix else x) for x in names)


def _elements(shape: Shape, suffix: str = "") -> tuple[tuple, tuple]:
    """A tensor's elements written as a product, spatial sizes then channels (as the memory
    terms write them): general letters and values."""
    spatial = tuple(shape[1:])
    channel = size(f"C_{suffix}") if suffix else size("C")
    if not spatial:
        return ((size(f"n_{suffix}") if suffix else size("n")),), tuple(shape)
    return (*_letters(len(spatial), suffix), channel), (*spatial, shape[0])


def _per_element(factor, shape: Shape, suffix: str = "") -> Derivation | None:
    """``factor`` operations per element of ``shape``."""
    factor = sympy.sympify(factor)
    if factor == 0:
        return None
    general, values = _elements(shape, suffix)
    lead = () if factor == 1 else (factor,)
    return Derivation(written_mul(*lead, *general), written_mul(*lead, *values),
                      factor * numel(shape))


def _kernel(kernel: tuple) -> sympy.Expr:
    cubic = all(sympy.expand(x - kernel[0]) == 0 for x in kernel)
    return size("k") ** len(kernel) if cubic else product(axis_symbols("k", len(kernel)))


def _conv_core(layer: ConvNd, x: Shape, out: Shape) -> Derivation:
    """fvcore's count: the kernel's multiplications at every position it visits (the output
    positions; the input positions for a transposed convolution)."""
    grouped = layer.groups != 1
    per_group = (sympy.Pow(g, -1, evaluate=False),) if grouped else ()
    per_group_value = (sympy.Pow(layer.groups, -1, evaluate=False),) if grouped else ()
    k = product(layer.kernel_size)
    if isinstance(layer, ConvTransposeNd):
        general = written_mul(*_letters(len(x) - 1, "in"), C_in, C_out, *per_group,
                              _kernel(layer.kernel_size))
        values = written_mul(*x[1:], x[0], layer.out_channels, *per_group_value, k)
        value = numel(x) * k * layer.out_channels / layer.groups
    else:
        general = written_mul(*_letters(len(out) - 1, "out"), C_out, C_in, *per_group,
                              _kernel(layer.kernel_size))
        values = written_mul(*out[1:], out[0], x[0], *per_group_value, k)
        value = numel(out) * k * x[0] / layer.groups
    return Derivation(general, values, value)


def _with_bias(core: Derivation, layer: Layer, out: Shape) -> Derivation:
    """``core`` plus one addition per output element for the bias, if the layer has one."""
    if not layer.bias:
        return core
    general, values = _elements(out, "out")
    return Derivation(written_add(core.formula, written_mul(*general)),
                      written_add(core.substituted, written_mul(*values)),
                      core.value + numel(out))


def _linear(layer: Linear, x: Shape, out: Shape, bias: bool) -> Derivation:
    """``n_in n_out`` multiplications (``+ n_out`` for the bias) for every row of the input."""
    n_in, n_out = size("n_in"), size("n_out")
    rows = tuple(x[:-1])
    general = written_add(written_mul(n_in, n_out), n_out) if bias else written_mul(n_in, n_out)
    values = written_add(written_mul(x[-1], layer.out_features), layer.out_features) if bias \
        else written_mul(x[-1], layer.out_features)
    value = (x[-1] + (1 if bias else 0)) * layer.out_features * product(rows)
    if rows:
        general, values = written_mul(size("m"), general), written_mul(product(rows), values)
    return Derivation(general, values, value)


def _nothing(layer, ins, out) -> None:
    return None


# ---- fvcore --------------------------------------------------------------------------------

@FVCORE.entry(ConvNd)
def _fvcore_conv(layer: ConvNd, ins, out):
    # padding="same"/"valid" traces as aten::_convolution_mode, which fvcore has no handler
    # for (other padding modes pad first and convolve without padding: aten::_convolution)
    mode = isinstance(layer.padding, str) and layer.padding_mode == "zeros"
    return None if mode else _conv_core(layer, ins[0], out)



FVCORE.add(Linear, lambda layer, ins, out: _linear(layer, ins[0], out, bias=False))


@FVCORE.entry(BatchNormNd)
def _fvcore_batch_norm(layer: BatchNormNd, ins, out):
    # aten::batch_norm: in eval mode 2 per element with affine, 1 without; without running
    # statistics it normalizes with the batch's (training=True): 5 or 4
    if layer.track_running_stats:
        return _per_element(2 if layer.affine else 1, ins[0])
    return _per_element(5 if layer.affine else 4, ins[0])


FVCORE.add(GroupNorm, lambda layer, ins, out: _per_element(5 if layer.affine else 4, ins[0]))
FVCORE.add(LayerNorm, lambda layer, ins, out:
           _per_element(5 if layer.elementwise_affine else 4, ins[0]))
FVCORE.add(AdaptiveAvgPool2d, lambda layer, ins, out: _per_element(1, ins[0]))


@FVCORE.entry(Upsample)
def _fvcore_upsample(layer: Upsample, ins, out):
    # only aten::upsample_nearest2d (1) and aten::upsample_bilinear2d (4) have handlers
    two_d = len(out) == 3
    factor = {"nearest": 1, "bilinear": 4}.get(layer.mode, 0) if two_d else 0
    return _per_element(factor, out, "out")


FVCORE.add((PoolNd, AdaptivePoolNd, ReLU, LeakyReLU, GELU, SiLU, Sigmoid, Tanh, Softmax, ReLU6,
            Hardtanh, Hardswish, Hardsigmoid, ELU, Mish, Softplus, PReLU, DropoutNd, Identity,
            Flatten, Add, Concat), _nothing)


# ---- torchinfo -----------------------------------------------------------------------------

def _params_derivation(layer: Layer, x: Shape) -> Derivation | None:
    params = layer.params(x)
    if params == 0:
        return None
    return layer.params_derivation(x) or Derivation(size("N"), params, params)


@TORCHINFO.entry(ConvNd)
def _torchinfo_conv(layer: ConvNd, ins, out):
    """torchinfo: the parameters (bias included) times the output positions."""
    p = layer.params_derivation(ins[0])
    positions = tuple(out[1:])
    return Derivation(written_mul(*_letters(len(positions), "out"), *sympy.Mul.make_args(p.formula)),
                      written_mul(*positions, *sympy.Mul.make_args(p.substituted)),
                      p.value * product(positions))


TORCHINFO.add(Layer, lambda layer, ins, out: _params_derivation(layer, ins[0]))


# ---- ptflops -------------------------------------------------------------------------------

PTFLOPS.add(ConvNd, lambda layer, ins, out: _with_bias(_conv_core(layer, ins[0], out), layer, out))
PTFLOPS.add(Linear, lambda layer, ins, out: _linear(layer, ins[0], out, bias=layer.bias))
PTFLOPS.add((ReLU, PReLU, ELU, GELU), lambda layer, ins, out: _per_element(2, out))
PTFLOPS.add((LeakyReLU, ReLU6, SiLU, Softmax), lambda layer, ins, out: _per_element(1, out))
PTFLOPS.add((PoolNd, AdaptivePoolNd), lambda layer, ins, out: _per_element(2, ins[0]))
PTFLOPS.add((BatchNormNd, GroupNorm),
            lambda layer, ins, out: _per_element(2 if layer.affine else 1, ins[0]))
PTFLOPS.add(LayerNorm, lambda layer, ins, out: _per_element(1, ins[0]))


@PTFLOPS.entry(Upsample)
def _ptflops_upsample(layer: Upsample, ins, out):
    """The module's hook counts the output elements; the patched ``F.interpolate`` adds the
    output elements again for a given ``size``, and for a ``scale_factor`` the input's times
    the factor to the power of the axes (a tuple: the product of the factors, each truncated
    to an integer, as ``np.prod(..., dtype=np.int64)`` does)."""
    hook = _per_element(1, out, "out")
    if layer.size is not None:
        return Derivation(written_mul(2, *hook.formula.args), written_mul(2, *hook.substituted.args),
                          2 * hook.value)
    x, n = ins[0], len(ins[0]) - 1
    if isinstance(layer.scale_factor, (tuple, list)):
        # np.prod(factors, dtype=np.int64): each factor truncated to an integer first
        factor = product([sympy.floor(to_expr(f, "scale_factor")) for f in layer.scale_factor])
    else:
        factor = to_expr(layer.scale_factor, "scale_factor") ** n
    general, values = _elements(x, "in")
    return Derivation(written_add(hook.formula, written_mul(size("f") ** n, *general)),
                      written_add(hook.substituted, written_mul(factor, *values)),
                      hook.value + factor * numel(x))


PTFLOPS.add((Sigmoid, Tanh, Hardtanh, Hardswish, Hardsigmoid, Mish, Softplus, DropoutNd,
             Identity, Flatten, Add, Concat), _nothing)


# ---- tensor operations, learned tensors and attention ------------------------------------

#: Counted by none of the tools: views and copies; a mean (fvcore has no handler for
#: aten::mean, ptflops patches no Tensor.mean); ``x * y`` (ptflops patches torch.mul and
#: Tensor.mul, not the operator that models write); stochastic depth (the identity in eval
#: mode); a learned tensor (read, not computed).
_UNCOUNTED = (Mul, Mean, Permute, Unflatten, Contiguous, Select, Narrow, Parameter,
              StochasticDepth)
FVCORE.add(_UNCOUNTED, _nothing)
PTFLOPS.add(_UNCOUNTED, _nothing)
# torchinfo sums the modules without submodules: a parameter that a forward uses directly
# belongs to one with submodules (ConvNeXt's block, ViT's encoder), and MultiheadAttention
# has its out_proj (which it never calls as a module)
TORCHINFO.add((Parameter, MultiheadAttention), _nothing)


def _terms(*terms: tuple) -> Derivation:
    """A derivation summing ``(formula, numbers, value)`` terms."""
    return Derivation(written_add(*(t[0] for t in terms)), written_add(*(t[1] for t in terms)),
                      sympy.Add(*(t[2] for t in terms)))


def _squared(x):
    return x ** 2 if isinstance(x, sympy.Symbol) else sympy.Pow(x, 2, evaluate=False)


def _attention_pairs(layer: MultiheadAttention, x: Shape) -> tuple:
    """The (query, key) pairs of one head: ``L^2``, or ``L (L + 1)`` with ``add_bias_kv`` (one
    more with ``add_zero_attn``): general, numbers, value."""
    n, extra = x[0], int(layer.add_bias_kv) + int(layer.add_zero_attn)
    if not extra:
        return _squared(size("L")), _squared(n), n * n
    return (written_mul(size("L"), written_add(size("L"), extra)),
            written_mul(n, written_add(n, extra)), n * (n + extra))


@FVCORE.entry(MultiheadAttention)
def _fvcore_attention(layer: MultiheadAttention, ins, out):
    """aten::linear of the input projection (``L E 3E``) and of the output one (``L E E``);
    with ``need_weights`` the two aten::bmm (``QK^T`` and the weights times ``V``, ``L S E``
    each).  Without, PyTorch calls scaled_dot_product_attention: no handler, 0."""
    n, e = ins[0]
    L, E = size("L"), size("E")
    terms = [(written_mul(4, L, _squared(E)), written_mul(4, n, _squared(e)), 4 * n * e * e)]
    if layer.need_weights:
        pairs, numbers, value = _attention_pairs(layer, ins[0])
        terms.append((written_mul(2, pairs, E), written_mul(2, numbers, e), 2 * value * e))
    return _terms(*terms)


@PTFLOPS.entry(MultiheadAttention)
def _ptflops_attention(layer: MultiheadAttention, ins, out):
    """ptflops' own hook: the query scaling ``L E``, the three projections ``3 L E^2`` (and
    ``3 L E`` with ``bias``), per head ``QK^T``, softmax and ``AV`` (``2 L^2 E + h L^2`` in
    all, over the input's ``L`` keys), the output projection ``L E (E + 1)`` (its bias always);
    with ``need_weights`` the patched ``torch.bmm`` and ``F.softmax`` that PyTorch then calls
    count again, ``2 L S E + h L S``."""
    n, e = ins[0]
    h = layer.num_heads
    L, E, H = size("L"), size("E"), size("h")
    terms = [(written_mul(4, L, _squared(E)), written_mul(4, n, _squared(e)), 4 * n * e * e),
             (written_mul(2, L, E), written_mul(2, n, e), 2 * n * e)]
    if layer.bias:
        terms.append((written_mul(3, L, E), written_mul(3, n, e), 3 * n * e))
    terms += [(written_mul(2, _squared(L), E), written_mul(2, _squared(n), e), 2 * n * n * e),
              (written_mul(H, _squared(L)), written_mul(h, _squared(n)), h * n * n)]
    if layer.need_weights:
        pairs, numbers, value = _attention_pairs(layer, ins[0])
        terms += [(written_mul(2, pairs, E), written_mul(2, numbers, e), 2 * value * e),
                  (written_mul(H, pairs), written_mul(h, numbers), h * value)]
    return _terms(*terms)


# ---- the counts of a network ---------------------------------------------------------------

@dataclass(frozen=True)
class LayerMacs:
    """One node's MACs: its name and the derivation (None: the tool counts none)."""

    name: str
    derivation: Derivation | None

    @property
    def value(self) -> sympy.Expr:
        return self.derivation.value if self.derivation else sympy.Integer(0)

    @property
    def text(self) -> str:
        return self.derivation.text if self.derivation else "0"


@dataclass(frozen=True)
class Macs:
    """The MACs of every node of an analysis under one convention, and their total."""

    convention: MacsConvention
    rows: tuple[LayerMacs, ...]

    @property
    def total(self) -> sympy.Expr:
        """The sum (ptflops: rounded down, as it truncates its float sum)."""
        total = sympy.Add(*(r.value for r in self.rows))
        return sympy.floor(total) if self.convention is MacsConvention.PTFLOPS else total

    @property
    def flops(self) -> sympy.Expr:
        """``2 x`` the total: a multiply and an add each."""
        return 2 * self.total


def as_macs_convention(value) -> MacsConvention:
    """``value`` as a :class:`MacsConvention`; a one-line error naming the argument."""
    try:
        return MacsConvention(value)
    except ValueError:
        raise SymcnnError(f"unknown MACs convention {value!r} (known: "
                          f"{', '.join(c.value for c in MacsConvention)})",
                          argument="macs_convention") from None


def count_macs(analysis, convention: MacsConvention | str = MacsConvention.FVCORE,
               shapes: Mapping[str, Shape] | None = None) -> Macs:
    """The MACs of every node of ``analysis`` (:func:`symcnn.analysis.analyze`), one sample,
    counted as ``convention`` counts them (``"fvcore"``, ``"torchinfo"`` or ``"ptflops"``);
    ``shapes``: every node's output shape (``"input"`` too) to write the derivations in, such
    as the named sizes of :mod:`symcnn.analysis.named` (``D_1 H_1 W_1 C``); by default the
    analysis's own.

    >>> import symcnn
    >>> macs = symcnn.count_macs(symcnn.analyze(symcnn.example_spec().network), "torchinfo")
    >>> macs.total, macs.rows[0].name, macs.rows[0].value  # L1: (27 + 1) 30 weights x 191*227*191
    (122347137391, 'L1', 6956197080)
    >>> symcnn.count_macs(symcnn.analyze(symcnn.example_spec().network), "flops")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    symcnn.errors.SymcnnError: argument 'macs_convention': unknown MACs convention 'flops' ...
    """
    convention = as_macs_convention(convention)
    table = MACS_RULES[convention]
    rows = []
    for row in analysis.rows:
        ins, out = row.input_shapes, row.output_shape
        if shapes is not None:
            ins, out = tuple(shapes[i] for i in row.inputs), shapes[row.name]
        try:
            derivation = table[row.layer](row.layer, ins, out)
        except SymcnnError as err:
            raise err.within(layer=f"layer {row.index} ({row.layer.type_name} '{row.name}')") \
                from None
        rows.append(LayerMacs(row.name, derivation))
    return Macs(convention, tuple(rows))


def total_macs(analysis, convention: MacsConvention | str = MacsConvention.FVCORE) -> sympy.Expr:
    """The network's MACs per sample, a closed form in its symbols (what a sweep evaluates).

    >>> from symcnn.analysis import analyze
    >>> from symcnn.spec.builtin import lecture_symbolic_network
    >>> from symcnn.symbols import size
    >>> macs = total_macs(analyze(lecture_symbolic_network()))
    >>> sorted(map(str, macs.free_symbols))
    ['C', 'D', 'H', 'W']
    >>> macs.subs({size("C"): 30, size("D"): 193, size("H"): 229, size("W"): 193})
    121987539810
    """
    return count_macs(analysis, convention).total

"""What PyTorch's autograd keeps for the backward pass, layer by layer (training mode).

Each layer type saves particular tensors (PyTorch's ``derivatives.yaml``): a convolution
or a linear layer its input, ReLU its output, BatchNorm its input and two per-channel
statistics, max pooling its input and the int64 indices of the maxima, dropout a bool
mask, and views, sums and concatenations nothing.  A tensor several layers save (a
ReLU's output that the next convolution saves as its input) is one storage and is
counted once.  Parameters and buffers are not counted here: they live anyway.

Under mixed precision (``precision="bf16"`` or ``"fp16"``: the forward pass inside
``torch.autocast``) each storage has the dtype autocast gives it, and autocast's cast copies
that a backward reads (of the network input, of the 3-d pools' inputs on the CPU, of the
conv/linear weights) are saved storages as well; see :func:`saved_tensors`.  Measured exact
on the CPU, bf16 and fp16, for every layer type and the validation zoo
(``tests/test_saved.py``); the CUDA op lists are taken from PyTorch's documentation.

>>> from symcnn import analyze
>>> from symcnn.spec.builtin import lecture_network
>>> saved = saved_tensors(analyze(lecture_network()))
>>> [t.node for t in saved][:3], total_saved_bytes(saved, 4) == 4 * (193*229*193
...     + 30*191*227*191 + 30*95*113*95 + 60*93*111*93 + 60*46*55*46 + 120*44*53*44
...     + 120*21*26*21 + 240*19*24*19 + 240*9*11*9)
(['input', 'L1', 'L2'], True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum

import sympy

from symcnn import layers
from symcnn.analysis.rows import Analysis, LayerRow
from symcnn.layers import numel
from symcnn.layers.dispatch import RuleTable

#: Element sizes of what is saved besides activations.
INT64, BOOL, FLOAT32 = 8, 1, 4
LOW = 2  # bytes of a bf16 / fp16 element


@dataclass(frozen=True)
class Saved:
    """One storage kept for backward: whose it is, how many elements per sample (or in all,
    for per-channel statistics), and its element size (None: the activation dtype's)."""

    node: str            # the node whose memory it is ("input" for the network input)
    kind: str            # "activation", "indices", "mask", "statistics", "noise"
    elements: sympy.Expr
    element_bytes: int | None = None
    per_sample: bool = True
    saved_by: str = ""


@dataclass(frozen=True)
class LayerCall:
    """One layer's forward call, as a saved-tensor rule sees it: ``source`` names its input's
    storage, ``own`` its output's.  ``e_in`` and ``e_out`` are the element sizes of the two
    (None: the activation dtype's, in fp32); ``input_cast``, when set, says that autocast hands
    the layer a copy of its input cast to that element size, a new storage, which is what it
    saves instead of the input.  ``input_grad``: its input requires grad."""

    row: LayerRow
    source: str
    own: str
    device: str
    e_in: int | None = None
    e_out: int | None = None
    input_cast: int | None = None
    input_grad: bool = True
    #: Per input: (its storage, its element size or None, whether it requires grad, whether
    #: it is a learned tensor, a Parameter layer's, which is resident and no saved memory).
    operands: tuple[tuple[str, int | None, bool, bool], ...] = ()

    def input(self) -> Saved:
        """The input (or the cast copy of it autocast hands the layer)."""
        row = self.row
        if self.input_cast:
            return Saved(row.name, "cast", numel(row.input_shapes[0]), self.input_cast,
                         saved_by=row.name)
        return Saved(self.source, "activation", numel(row.input_shapes[0]), self.e_in,
                     saved_by=row.name)

    def output(self) -> Saved:
        return Saved(self.own, "activation", numel(self.row.output_shape), self.e_out,
                     saved_by=self.row.name)

    def made(self, kind: str, elements, element_bytes: int | None,
             per_sample: bool = True) -> Saved:
        """A storage the layer makes for its backward (indices, statistics, a mask)."""
        return Saved(self.row.name, kind, elements, element_bytes, per_sample, self.row.name)

    def weight_copy(self) -> list[Saved]:
        """The 2-byte copy of the weight that autocast casts for a layer it runs in 2 bytes
        (none in fp32)."""
        if self.e_out != LOW:
            return []
        weight = self.row.layer.param_tensors(self.row.input_shapes[0])[0]
        return [self.made("weight copy", weight, LOW, per_sample=False)]


#: What each layer type saves for its backward (PyTorch's ``derivatives.yaml``), as a rule
#: ``LayerCall -> [Saved]`` in the order autograd saves them.  Measured for every layer type,
#: fp32, bf16 and fp16, in ``tests/test_saved.py``.
SAVED_RULES: RuleTable[Callable[[LayerCall], list[Saved]]] = RuleTable(
    "saved-tensor", "symcnn.memory.pytorch.saved.SAVED_RULES")


@SAVED_RULES.entry(layers.Flatten, layers.Upsample, layers.Add, layers.Concat,
                   layers.Identity)
def _sizes_only(call: LayerCall) -> list[Saved]:
    """Views, sums, concatenations, interpolation: the backward needs only sizes."""
    return []


@SAVED_RULES.entry(layers.AvgPoolNd, layers.GELU, layers.Softplus, layers.LeakyReLU,
                   layers.ELU)
def _input(call: LayerCall) -> list[Saved]:
    """The input.  LeakyReLU and ELU in place save their (overwritten) result instead: the
    same storage."""
    return [call.input()]


@SAVED_RULES.entry(layers.ConvNd, layers.PReLU)
def _input_and_weight(call: LayerCall) -> list[Saved]:
    """The input, and under autocast the 2-byte weight copy (the input's gradient needs it;
    the transposed convolutions too)."""
    return [call.input(), *call.weight_copy()]


@SAVED_RULES.entry(layers.Linear)
def _linear(call: LayerCall) -> list[Saved]:
    """The input; the 2-byte weight copy only when the input requires grad (``mm``'s backward
    reads the weight only for the input's gradient)."""
    return [call.input(), *(call.weight_copy() if call.input_grad else ())]


@SAVED_RULES.entry(layers.SiLU, layers.ReLU6, layers.Hardtanh, layers.Hardswish,
                   layers.Hardsigmoid, layers.Mish)
def _input_or_copy(call: LayerCall) -> list[Saved]:
    """The input; in place, a copy of it made before overwriting it (``silu_``,
    ``hardtanh_``, ``hardswish_``, ``hardsigmoid_``, ``mish_``: measured)."""
    if call.row.layer.inplace:
        return [call.made("copy", numel(call.row.input_shapes[0]), call.e_in)]
    return [call.input()]


@SAVED_RULES.entry(layers.ReLU, layers.Sigmoid, layers.Tanh, layers.Softmax)
def _output(call: LayerCall) -> list[Saved]:
    return [call.output()]


@SAVED_RULES.entry(layers.MaxPoolNd, layers.AdaptiveMaxPoolNd)
def _max_pool(call: LayerCall) -> list[Saved]:
    """The input and the int64 indices of the maxima."""
    return [call.input(), call.made("indices", numel(call.row.output_shape), INT64)]


@SAVED_RULES.entry(layers.AdaptiveAvgPoolNd)
def _adaptive_avg_pool(call: LayerCall) -> list[Saved]:
    """The input; nothing for an output of one element per channel, a mean, whose backward
    needs only sizes."""
    if all(o == 1 for o in call.row.output_shape[1:]):
        return []
    return [call.input()]


@SAVED_RULES.entry(layers.BatchNormNd)
def _batch_norm(call: LayerCall) -> list[Saved]:
    """The input and the batch's mean and inverse standard deviation per channel (fp32)."""
    c = call.row.input_shapes[0][0]
    return [call.input(), call.made("statistics", 2 * c, FLOAT32, per_sample=False)]


@SAVED_RULES.entry(layers.GroupNorm)
def _group_norm(call: LayerCall) -> list[Saved]:
    """The input and mean and inverse standard deviation per sample and group (fp32)."""
    return [call.input(), call.made("statistics", 2 * call.row.layer.num_groups, FLOAT32)]


@SAVED_RULES.entry(layers.LayerNorm)
def _layer_norm(call: LayerCall) -> list[Saved]:
    """The input and mean and inverse standard deviation per normalised row (fp32)."""
    ins = call.row.input_shapes[0]
    rows = numel(ins) / numel(call.row.layer.normalized_shape)
    return [call.input(), call.made("statistics", 2 * rows, FLOAT32)]


@SAVED_RULES.entry(layers.Dropout)
def _dropout(call: LayerCall) -> list[Saved]:
    """CUDA's fused kernel keeps a bool mask; the CPU multiplies by a noise tensor.  Nothing
    at ``p = 0``."""
    if not call.row.layer.p > 0:
        return []
    return [call.made("mask", numel(call.row.output_shape),
                      BOOL if call.device == "cuda" else call.e_in)]


@SAVED_RULES.entry(layers.FeatureDropoutNd)
def _feature_dropout(call: LayerCall) -> list[Saved]:
    """Feature dropout multiplies by a (C, 1, ..., 1) noise tensor per sample."""
    if not call.row.layer.p > 0:
        return []
    return [call.made("noise", call.row.input_shapes[0][0], call.e_in)]


@SAVED_RULES.entry(layers.Mean, layers.Permute, layers.Unflatten, layers.Contiguous,
                   layers.Select, layers.Narrow, layers.Parameter)
def _shape_only(call: LayerCall) -> list[Saved]:
    """Means, views, copies and learned tensors: the backward needs only sizes (measured:
    ``tests/test_saved_tensor_ops.py``)."""
    return []


@SAVED_RULES.entry(layers.Mul)
def _mul(call: LayerCall) -> list[Saved]:
    """``a * b`` saves ``b`` for ``a``'s gradient and ``a`` for ``b``'s, each only when the
    other requires grad; by a number, nothing.  A learned tensor is saved too, but it is a
    parameter: resident, no memory of the step's."""
    if call.row.layer.other is not None or len(call.operands) != 2:
        return []
    out = []
    for (a, _, grad_a, _), (b, width_b, _, learned_b), shape_b in (
            (call.operands[0], call.operands[1], call.row.input_shapes[1]),
            (call.operands[1], call.operands[0], call.row.input_shapes[0])):
        if grad_a and not learned_b:
            out.append(Saved(b, "activation", numel(shape_b), width_b, saved_by=call.row.name))
    return out


@SAVED_RULES.entry(layers.StochasticDepth)
def _stochastic_depth(call: LayerCall) -> list[Saved]:
    """``input * noise``: the noise, one element per sample (``mode="row"``) or one in all
    (``"batch"``); nothing at ``p = 0`` (it returns its input)."""
    layer = call.row.layer
    if not layer.p > 0:
        return []
    return [call.made("noise", sympy.Integer(1), call.e_in, per_sample=layer.mode == "row")]


@SAVED_RULES.entry(layers.MultiheadAttention)
def _attention(call: LayerCall) -> list[Saved]:
    """Self-attention, measured on the CPU (torch 2.13, fp32; ``tests/test_saved_tensor_ops.py``):
    the input (for the input projection), the projections ``q, k, v`` (one storage, ``3 L E``),
    and then with ``need_weights=False`` (the fused ``scaled_dot_product_attention``) the
    attention's output ``L E`` and its log-sum-exp, ``heads L`` fp32; with ``need_weights``
    (the explicit path) the scaled queries ``L E``, the attention matrix ``heads L^2`` after
    the softmax, and the attention's output ``L E``.  Per sample."""
    layer, (length, e) = call.row.layer, call.row.input_shapes[0]
    width = call.e_out
    saved = [call.input(), call.made("projections", 3 * length * e, width),
             *attention_weight_copies(call)]
    if layer.need_weights:
        return saved + [call.made("scaled queries", length * e, width),
                        call.made("attention matrix", layer.attention_elements((length, e)),
                                  width),
                        call.made("attention output", length * e, width)]
    return saved + [call.made("log-sum-exp", layer.num_heads * length, FLOAT32),
                    call.made("attention output", length * e, width)]


def attention_weight_copies(call: LayerCall) -> list[Saved]:
    """Under autocast, the 2-byte copies of the input projection's weight (``3 E^2``) and of
    the output projection's (``E^2``): each ``linear``'s backward reads its weight for the
    input's gradient (measured: ``validation/fitting/`` fit_mha and fit_sdpa under bf16, a
    fixed 73,728 B and 32,768 B more saved than without them)."""
    if call.e_out != LOW:
        return []
    e = call.row.layer.embed_dim
    return [call.made("weight copy", 3 * e * e, LOW, per_sample=False),
            call.made("output weight copy", e * e, LOW, per_sample=False)]


class Autocast(Enum):
    """What ``torch.autocast`` does with one op, by the policy names of
    ``aten/src/ATen/autocast_mode.cpp``."""

    LOWER = "lower_precision_fp"   # runs in the 2-byte type: floating inputs cast down
    FP32 = "fp32"                  # runs in fp32: a 2-byte input cast up, the copy is saved
    KEEP = "not listed"            # runs in its widest input's dtype (``promote`` too)


@dataclass(frozen=True)
class AutocastOp:
    """An op's autocast policy on each device."""

    cpu: Autocast
    cuda: Autocast


#: How autocast treats each layer's op, per device, from ``aten/src/ATen/autocast_mode.cpp``.
#: Convolutions, transposed convolutions and ``linear``/``addmm``/``matmul`` (and
#: ``prelu``) are ``lower_precision_fp`` on both devices.  CPU (``TORCH_LIBRARY_IMPL(aten,
#: AutocastCPU, m)``, the same lists for bf16 and fp16): ``max_pool3d``, ``avg_pool3d``,
#: ``adaptive_avg_pool3d`` and ``adaptive_max_pool3d`` under the ``fp32`` policy (and
#: ``mse_loss``), ``cat`` under ``promote``; measured with torch 2.13 (``tests/test_saved.py``).
#: CUDA (``TORCH_LIBRARY_IMPL(aten, AutocastCUDA, m)``; the "CUDA ops that can autocast to
#: float32" of the ``torch.amp`` docs' Autocast Op Reference): ``layer_norm``,
#: ``native_layer_norm``, ``group_norm`` (and ``mse_loss``) under ``fp32``, ``softmax`` under
#: ``fp32_set_opt_dtype`` (fp32 output, which is what it saves), no pooling op: read off that
#: list, not measured here.
AUTOCAST: RuleTable[AutocastOp] = RuleTable("autocast", "symcnn.memory.pytorch.saved.AUTOCAST")
KEEP_BOTH = AutocastOp(Autocast.KEEP, Autocast.KEEP)
AUTOCAST.add((layers.ConvNd, layers.Linear, layers.PReLU),
             AutocastOp(Autocast.LOWER, Autocast.LOWER))
AUTOCAST.add((layers.MaxPool3d, layers.AvgPool3d, layers.AdaptiveAvgPool3d,
              layers.AdaptiveMaxPool3d), AutocastOp(cpu=Autocast.FP32, cuda=Autocast.KEEP))
AUTOCAST.add((layers.LayerNorm, layers.GroupNorm, layers.Softmax),
             AutocastOp(cpu=Autocast.KEEP, cuda=Autocast.FP32))
AUTOCAST.add((layers.PoolNd, layers.AdaptivePoolNd, layers.BatchNormNd, layers.DropoutNd),
             KEEP_BOTH)          # the 1-d and 2-d pools: the 3-d ones' entries are above
AUTOCAST.add((layers.ReLU, layers.LeakyReLU, layers.GELU, layers.SiLU, layers.Sigmoid,
              layers.Tanh, layers.ReLU6, layers.Hardtanh, layers.Hardswish, layers.Hardsigmoid,
              layers.ELU, layers.Mish, layers.Softplus), KEEP_BOTH)
AUTOCAST.add((layers.Identity, layers.Flatten, layers.Upsample, layers.Add, layers.Concat),
             KEEP_BOTH)
AUTOCAST.add((layers.Mul, layers.Mean, layers.Permute, layers.Unflatten, layers.Contiguous,
              layers.Select, layers.Narrow, layers.Parameter, layers.StochasticDepth), KEEP_BOTH)
AUTOCAST.add(layers.MultiheadAttention, AutocastOp(Autocast.LOWER, Autocast.LOWER))  # linear


def lower_precision(layer, device: str) -> bool:
    """Whether autocast runs ``layer``'s op in the 2-byte type on ``device`` (and so casts its
    parameters to 2 bytes)."""
    return getattr(AUTOCAST[layer], device) is Autocast.LOWER


def saved_tensors(analysis: Analysis, device: str = "cuda",
                  precision: str = "fp32") -> tuple[Saved, ...]:
    """Every storage autograd keeps for backward, each once (the first layer to save it).

    See :func:`all_saves` for the rules; this keeps the first save of each storage."""
    seen: dict[tuple[str, str], Saved] = {}
    for s in all_saves(analysis, device, precision):
        seen.setdefault((s.node, s.kind), s)
    return tuple(seen.values())


def all_saves(analysis: Analysis, device: str = "cuda",
              precision: str = "fp32") -> tuple[Saved, ...]:
    """Every save autograd makes for backward (see :func:`_saves`); a saved view (a Narrow's
    part of a tensor, a Select's position) keeps its whole storage, which is what it counts."""
    whole = {"input": numel(analysis.input_shape),
             **{r.name: r.activation for r in analysis.rows
                if analysis.liveness.born_here(r)}}
    return tuple(replace(s, elements=whole[s.node])
                 if s.kind == "activation" and s.node in whole else s
                 for s in _saves(analysis, device, precision))


def _saves(analysis: Analysis, device: str = "cuda",
           precision: str = "fp32") -> tuple[Saved, ...]:
    """Every save autograd makes for backward, layer by layer in forward order (a storage
    several layers save appears once per layer; ``saved_by`` names the layer).

    ``device`` matters for dropout: CUDA keeps a 1-byte mask, the CPU a full noise tensor.

    ``precision``: ``fp32``, or ``bf16`` / ``fp16`` for a forward pass under
    ``torch.autocast(device, dtype)``.  Then every item carries its own element size, the
    dtype of the storage as autocast leaves it: the conv/linear layers run in 2 bytes and
    their outputs are 2 bytes; the layers of :data:`AUTOCAST` run in fp32 (4); every other
    layer keeps its input's dtype (Add and Concat the widest of theirs); normalisation
    statistics stay fp32, max-pool indices int64.  Autocast's own copies are saved storages
    too (``validation/measure.py`` counts them in ``saved_dedup``; they are not parameters):

    * ``cast``: a layer whose input is in another dtype than the one it runs in saves the cast
      copy (a conv or linear reading the fp32 network input saves a 2-byte copy of x; a CPU
      3-d pool reading a 2-byte tensor an fp32 copy), one per layer: autocast caches only
      casts of leaf tensors that require grad (the parameters);
    * ``weight copy``: every conv saves the 2-byte copy of its weight; a linear only when its
      input requires grad (not when it reads the network input through parameterless
      layers), since ``mm``'s backward needs the weight only for the input's gradient.  The
      bias copies autocast caches are not saved (no backward reads them): the timeline
      counts them until the autocast context exits (:mod:`symcnn.memory.pytorch.timeline`).
    """
    # storages and the nodes backward runs through: symcnn.analysis.liveness (a dead branch's
    # graph is freed with its output: it keeps nothing for backward)
    storage, trained = analysis.liveness.storage, analysis.liveness.trained
    learned = {r.name for r in analysis.rows if not r.layer.reads_inputs}
    seen: list[Saved] = []
    if precision == "fp32":
        grad = {"input": False}  # autograd records nothing before the first parameter
        for row in analysis.rows:
            source = storage[row.inputs[0]]
            grad[row.name] = any(grad[i] for i in row.inputs) or row.params != 0
            if not grad[row.name] or row.name not in trained:
                continue
            operands = tuple((storage[i], None, grad[i], i in learned) for i in row.inputs)
            seen += SAVED_RULES[row.layer](LayerCall(row, source, storage[row.name], device,
                                                     operands=operands))
        return tuple(seen)
    width = activation_widths(analysis, device, precision)
    grad = {"input": False}                    # whether it requires grad
    for row in analysis.rows:
        source = storage[row.inputs[0]]
        e_in = max(width[i] for i in row.inputs)
        e_out = autocast_width(row, e_in, device)
        grad[row.name] = any(grad[i] for i in row.inputs) or row.params != 0
        if not grad[row.name] or row.name not in trained:
            continue  # autograd records nothing before the first parameter
        cast = e_out if e_in != e_out else None
        operands = tuple((storage[i], width[i], grad[i], i in learned) for i in row.inputs)
        seen += SAVED_RULES[row.layer](LayerCall(row, source, storage[row.name], device, e_in,
                                                 e_out, cast, grad[row.inputs[0]], operands))
    return tuple(seen)


def autocast_width(row: LayerRow, e_in: int, device: str) -> int:
    """The element size ``row``'s layer computes in under autocast, given its input's."""
    policy = getattr(AUTOCAST[row.layer], device)
    return LOW if policy is Autocast.LOWER else FLOAT32 if policy is Autocast.FP32 else e_in


def activation_widths(analysis: Analysis, device: str = "cuda", precision: str = "fp32",
                      element_bytes: int = FLOAT32) -> dict[str, int]:
    """Element size of every node's output (and of its gradient, which autograd makes in the
    same dtype), ``"input"`` included: ``element_bytes`` everywhere in ``fp32``; under
    autocast, 2 bytes from the first conv/linear layer on, 4 again after a layer that runs in
    fp32 (:data:`AUTOCAST`), the widest input for Add/Concat; a view keeps its base's; a
    learned tensor (``Parameter``) the parameters' (fp32: ``x * gamma`` promotes).

    >>> from symcnn import analyze, parse_spec
    >>> net = parse_spec('''
    ... [input]
    ... shape = [3, 8, 8, 8]
    ... [[layers]]
    ... type = "Conv3d"
    ... out_channels = 4
    ... kernel_size = 3
    ... [[layers]]
    ... type = "MaxPool3d"
    ... kernel_size = 2
    ... ''').network
    >>> activation_widths(analyze(net), "cpu", "bf16")
    {'input': 4, 'conv3d_1': 2, 'maxpool3d_2': 4}
    """
    width = {"input": FLOAT32 if precision != "fp32" else element_bytes}
    for row in analysis.rows:
        if not row.layer.reads_inputs:     # a learned tensor: the parameters' dtype, never cast
            width[row.name] = width["input"]
            continue
        e_in = max(width[i] for i in row.inputs)
        e_out = e_in if precision == "fp32" else autocast_width(row, e_in, device)
        width[row.name] = e_out if row.allocates else width[row.inputs[0]]
    return width


def total_saved_bytes(saved, element_bytes: int, batch=1) -> sympy.Expr:
    """Bytes of the saved storages at batch size ``batch`` with activations of
    ``element_bytes`` each."""
    return sympy.Add(*(s.elements * (s.element_bytes or element_bytes)
                       * (batch if s.per_sample else 1) for s in saved))

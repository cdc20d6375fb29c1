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

from dataclasses import dataclass

import sympy

from symcnn.analysis.rows import Analysis, LayerRow
from symcnn.errors import SymcnnError
from symcnn.layers import (
    BATCH_NORMS,
    CONVOLUTIONS,
    ELU,
    GELU,
    TRANSPOSED_CONVOLUTIONS,
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AdaptiveMaxPool3d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    GroupNorm,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LayerNorm,
    LeakyReLU,
    Linear,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
    Mish,
    PReLU,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
    numel,
)
from symcnn.options import PRECISIONS

#: Element sizes of what is saved besides activations.
INT64, BOOL, FLOAT32 = 8, 1, 4


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


#: In place, these keep a copy of their input before overwriting it (``silu_``, ``hardtanh_``,
#: ``hardswish_``, ``hardsigmoid_``, ``mish_``: measured).
_COPY_IN_PLACE = (SiLU, ReLU6, Hardtanh, Hardswish, Hardsigmoid, Mish)
_SAVES_INPUT = (*CONVOLUTIONS, *TRANSPOSED_CONVOLUTIONS, Linear, AvgPool1d, AvgPool2d,
                AvgPool3d, GELU, Softplus, PReLU, *_COPY_IN_PLACE)
_SAVES_OUTPUT = (ReLU, Sigmoid, Tanh, Softmax)
_MAX_POOLS = (MaxPool1d, MaxPool2d, MaxPool3d, AdaptiveMaxPool1d, AdaptiveMaxPool2d,
              AdaptiveMaxPool3d)
_ADAPTIVE_AVG = (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d)
_BATCH_NORMS = BATCH_NORMS


def _layer_saves(row: LayerRow, source: str, own: str, device: str, e_in: int | None = None,
                 e_out: int | None = None, input_cast: int | None = None) -> list[Saved]:
    """The storages ``row``'s layer saves: ``source`` names its input's storage, ``own`` its
    output's.  ``e_in`` and ``e_out`` are the element sizes of the two (None: the activation
    dtype's, in fp32); ``input_cast``, when set, says that autocast hands the layer a copy of its
    input cast to that element size, a new storage, which is what it saves instead of the
    input."""
    layer, ins, out = row.layer, row.input_shapes[0], row.output_shape
    act = lambda node, shape, e: Saved(node, "activation", numel(shape), e,  # noqa: E731
                                       saved_by=row.name)

    def saved_input():
        if input_cast:
            return Saved(row.name, "cast", numel(ins), input_cast, saved_by=row.name)
        return act(source, ins, e_in)

    if isinstance(layer, _COPY_IN_PLACE) and layer.inplace:
        return [Saved(row.name, "copy", numel(ins), e_in, saved_by=row.name)]
    if isinstance(layer, _SAVES_INPUT):
        return [saved_input()]
    if isinstance(layer, _SAVES_OUTPUT):
        return [act(own, out, e_out)]
    if isinstance(layer, (LeakyReLU, ELU)):
        # out of place it saves its input; in place, its (overwritten) result: same storage
        return [saved_input()]
    if isinstance(layer, _MAX_POOLS):
        return [saved_input(), Saved(row.name, "indices", numel(out), INT64, saved_by=row.name)]
    if isinstance(layer, _ADAPTIVE_AVG):
        # an output of one element per channel is a mean, whose backward needs only sizes
        if all(o == 1 for o in out[1:]):
            return []
        return [saved_input()]
    if isinstance(layer, _BATCH_NORMS):
        c = ins[0]
        stats = Saved(row.name, "statistics", 2 * c, FLOAT32, per_sample=False, saved_by=row.name)
        return [saved_input(), stats]
    if isinstance(layer, GroupNorm):
        return [saved_input(), Saved(row.name, "statistics", 2 * layer.num_groups, FLOAT32,
                                     saved_by=row.name)]
    if isinstance(layer, LayerNorm):
        rows = numel(ins) / numel(layer.normalized_shape)
        return [saved_input(), Saved(row.name, "statistics", 2 * rows, FLOAT32,
                                     saved_by=row.name)]
    if isinstance(layer, Dropout) and layer.p > 0:
        # CUDA's fused kernel keeps a bool mask; the CPU multiplies by a noise tensor
        return [Saved(row.name, "mask", numel(out), BOOL if device == "cuda" else e_in,
                      saved_by=row.name)]
    if isinstance(layer, (Dropout1d, Dropout2d, Dropout3d)) and layer.p > 0:
        # feature dropout multiplies by a (C, 1, ..., 1) noise tensor per sample
        return [Saved(row.name, "noise", ins[0], e_in, saved_by=row.name)]
    return []  # views, Add, Concat, Upsample, Identity: sizes only


LOW = 2  # bytes of a bf16 / fp16 element

#: Layers autocast runs in the low precision, on both devices: their floating inputs are cast
#: (``lower_precision_fp`` on the CPU, the "ops that can autocast to float16" on CUDA).
LOW_PRECISION_OPS = (*CONVOLUTIONS, *TRANSPOSED_CONVOLUTIONS, Linear, PReLU)
#: Layers autocast runs in fp32 (a low-precision input is cast up, the copy is what is saved,
#: the output is fp32), per device, from ``aten/src/ATen/autocast_mode.cpp``.  CPU
#: (``TORCH_LIBRARY_IMPL(aten, AutocastCPU, m)``, the same lists for bf16 and fp16):
#: ``max_pool3d``, ``avg_pool3d``, ``adaptive_avg_pool3d`` and ``adaptive_max_pool3d`` under
#: the ``fp32`` policy (and ``mse_loss``), ``cat`` under ``promote``; measured with torch 2.13
#: (``tests/test_saved.py``).  CUDA (``TORCH_LIBRARY_IMPL(aten, AutocastCUDA, m)``; the
#: "CUDA ops that can autocast to float32" of the ``torch.amp`` docs' Autocast Op Reference):
#: ``layer_norm``, ``native_layer_norm``, ``group_norm`` (and ``mse_loss``) under ``fp32``,
#: ``softmax`` under ``fp32_set_opt_dtype`` (fp32 output, which is what it saves), no pooling
#: op: read off that list, not measured here.  Convolutions, transposed convolutions and
#: ``linear``/``addmm``/``matmul`` are ``lower_precision_fp`` on both devices.
_FP32_OPS = {"cpu": (MaxPool3d, AvgPool3d, AdaptiveAvgPool3d, AdaptiveMaxPool3d),
             "cuda": (LayerNorm, GroupNorm, Softmax)}


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
    """Every save autograd makes for backward, layer by layer in forward order (a storage
    several layers save appears once per layer; ``saved_by`` names the layer).

    ``device`` matters for dropout: CUDA keeps a 1-byte mask, the CPU a full noise tensor.

    ``precision``: ``fp32``, or ``bf16`` / ``fp16`` for a forward pass under
    ``torch.autocast(device, dtype)``.  Then every item carries its own element size, the
    dtype of the storage as autocast leaves it: the conv/linear layers run in 2 bytes and
    their outputs are 2 bytes; the layers of :data:`_FP32_OPS` run in fp32 (4); every other
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
    if precision not in PRECISIONS:
        raise SymcnnError(f"unknown precision {precision!r} (known: {', '.join(PRECISIONS)})",
                          field="precision")
    storage = {"input": "input"}
    seen: list[Saved] = []
    if precision == "fp32":
        grad = {"input": False}  # autograd records nothing before the first parameter
        for row in analysis.rows:
            source = storage[row.inputs[0]]
            storage[row.name] = row.name if row.allocates else source
            grad[row.name] = any(grad[i] for i in row.inputs) or row.params != 0
            if not grad[row.name]:
                continue
            seen += _layer_saves(row, source, storage[row.name], device)
        return tuple(seen)
    width = activation_widths(analysis, device, precision)
    grad = {"input": False}                    # whether it requires grad
    for row in analysis.rows:
        source = storage[row.inputs[0]]
        storage[row.name] = row.name if row.allocates else source
        e_in = max(width[i] for i in row.inputs)
        e_out = autocast_width(row, e_in, device)
        grad[row.name] = any(grad[i] for i in row.inputs) or row.params != 0
        cast, extra = (e_out if e_in != e_out else None), []
        if isinstance(row.layer, LOW_PRECISION_OPS) and (
                not isinstance(row.layer, Linear) or grad[row.inputs[0]]):
            weight = row.layer.param_tensors(row.input_shapes[0])[0]
            extra.append(Saved(row.name, "weight copy", weight, LOW, per_sample=False,
                               saved_by=row.name))
        if not grad[row.name]:
            continue  # autograd records nothing before the first parameter
        seen += _layer_saves(row, source, storage[row.name], device, e_in, e_out, cast) + extra
    return tuple(seen)


def autocast_width(row: LayerRow, e_in: int, device: str) -> int:
    """The element size ``row``'s layer computes in under autocast, given its input's."""
    if isinstance(row.layer, LOW_PRECISION_OPS):
        return LOW
    if isinstance(row.layer, _FP32_OPS.get(device, ())):
        return FLOAT32
    return e_in


def activation_widths(analysis: Analysis, device: str = "cuda", precision: str = "fp32",
                      element_bytes: int = FLOAT32) -> dict[str, int]:
    """Element size of every node's output (and of its gradient, which autograd makes in the
    same dtype), ``"input"`` included: ``element_bytes`` everywhere in ``fp32``; under
    autocast, 2 bytes from the first conv/linear layer on, 4 again after a layer that runs in
    fp32 (:data:`_FP32_OPS`), the widest input for Add/Concat; a view keeps its base's.

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
    if precision not in PRECISIONS:
        raise SymcnnError(f"unknown precision {precision!r} (known: {', '.join(PRECISIONS)})",
                          field="precision")
    width = {"input": FLOAT32 if precision != "fp32" else element_bytes}
    for row in analysis.rows:
        e_in = max(width[i] for i in row.inputs)
        e_out = e_in if precision == "fp32" else autocast_width(row, e_in, device)
        width[row.name] = e_out if row.allocates else width[row.inputs[0]]
    return width


def total_saved_bytes(saved, element_bytes: int, batch=1) -> sympy.Expr:
    """Bytes of the saved storages at batch size ``batch`` with activations of
    ``element_bytes`` each."""
    return sympy.Add(*(s.elements * (s.element_bytes or element_bytes)
                       * (batch if s.per_sample else 1) for s in saved))

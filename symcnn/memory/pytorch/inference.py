"""A forward pass in evaluation mode under ``torch.no_grad()``, moment by moment.

Nothing is saved for backward, so a tensor lives from the node that makes it until its last
reader (the network's output until the end); views and in-place layers share their input's
storage, and Dropout in eval mode returns its input itself; max pooling (but MaxPool1d)
computes its int64 indices anyway, for the time of its call; BatchNorm folds its statistics
into a scale and a shift, two fp32 per-channel tensors, for the time of its call (CPU).
Resident throughout: parameters, buffers and the input batch.  Inside a node, the kernel
transients of :mod:`symcnn.memory.pytorch.workspace` are more moments (oneDNN's blocked copies
on the CPU; a convolution reading a channels-last view: :mod:`symcnn.memory.pytorch.layout`),
on the CPU those of :mod:`symcnn.memory.pytorch.evalkernels` where eval mode runs other
kernels (self-attention's fast path, its explicit path without saved tensors).

Under autocast (``precision="bf16"``/``"fp16"``) activations take the dtypes of
:func:`symcnn.memory.pytorch.saved.activation_widths`; a layer reading another dtype than it runs in gets a
cast copy for the time of its call; and autocast caches the 2-byte copy of the parameters of
every layer it runs in 2 bytes (conv, linear, attention: ``lower_precision_fp``; the parameters
require grad, even under ``no_grad``) until the context exits.  A layer that merely reads a
2-byte input (BatchNorm, LayerNorm, GroupNorm) uses its fp32 parameters as they are: nothing
cached (allocator traces on the AVX2 EPYC, torch 2.13.0+cpu: the zoo's U-Net in bf16, whose ten
BatchNorms add no allocation that lives past their call, and the attention networks).

>>> from symcnn import analyze
>>> from symcnn.spec.builtin import lecture_network
>>> moments = inference_moments(analyze(lecture_network()))   # CUDA: no kernel transients
>>> top = max(moments, key=lambda m: int(m.at(1)))
>>> top.node, int(top.at(1)) == 4 * (3301651 + 193*229*193 + 30*191*227*191 + 30*95*113*95)
('L2', True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy

from symcnn import layers
from symcnn.analysis.liveness import lifetimes
from symcnn.analysis.rows import Analysis, LayerRow
from symcnn.layers import numel
from symcnn.layers.dispatch import RuleTable
from symcnn.memory.pytorch import evalkernels
from symcnn.memory.pytorch.backward import profiled
from symcnn.memory.pytorch.layout import channels_last_inputs, layouts
from symcnn.memory.pytorch.moments import Moment, total
from symcnn.memory.pytorch.saved import LOW, activation_widths, autocast_width, lower_precision
from symcnn.memory.pytorch.workspace import RULES_CPU_CAPABILITY, THREADS, transient
from symcnn.spec.profile import Profile


@dataclass(frozen=True)
class EvalMode:
    """What a layer does in ``model.eval()`` under ``torch.no_grad()`` beyond what its row in
    the training analysis says."""

    #: The module hands back its input itself (Dropout in eval mode): no storage of its own.
    returns_input: bool = False
    #: Its kernel computes the int64 indices of the maxima anyway (one per output element),
    #: alive for the time of its call.
    call_indices: bool = False
    #: Bytes (fixed in the batch) its CPU kernel allocates for the time of its call beside its
    #: output, given the row and the parameters' element size (not measured on CUDA: none there).
    call_buffers: Callable[[LayerRow, int], sympy.Expr] | None = None


def scale_and_shift(row: LayerRow, element_bytes: int) -> sympy.Expr:
    """BatchNorm in eval mode: ``batch_norm_cpu_transform_input_template`` (ATen's
    ``Normalization.cpp``) folds the running statistics and the affine parameters into a
    per-channel scale and shift, two ``C``-element tensors of the parameters' dtype (fp32 under
    autocast too), then writes the output: ``2 C 4`` bytes more during the call.  Measured with
    the CPU allocator (AVX2 EPYC, torch 2.13.0+cpu): BatchNorm1d on (b, 256) and (b, 20, 7),
    BatchNorm2d on 16, 13 and 64 channels, BatchNorm3d on 8, with and without affine, fp32 and
    a bf16 input: always ``O`` then ``+4C +4C``."""
    return 2 * sympy.sympify(row.input_shapes[0][0]) * element_bytes


AS_IN_TRAINING = EvalMode()

#: Each layer type's behaviour in evaluation mode under ``no_grad`` (measured:
#: ``tests/test_inference.py``).
EVAL_MODE: RuleTable[EvalMode] = RuleTable("evaluation-mode",
                                           "symcnn.memory.pytorch.inference.EVAL_MODE")
EVAL_MODE.add(layers.DropoutNd, EvalMode(returns_input=True))
EVAL_MODE.add((layers.MaxPoolNd, layers.AdaptiveMaxPoolNd), EvalMode(call_indices=True))
EVAL_MODE.add(layers.MaxPool1d, AS_IN_TRAINING)   # max_pool1d has a kernel without indices
EVAL_MODE.add((layers.ConvNd, layers.Linear, layers.AvgPoolNd, layers.AdaptiveAvgPoolNd,
               layers.GroupNorm, layers.LayerNorm), AS_IN_TRAINING)
EVAL_MODE.add(layers.BatchNormNd, EvalMode(call_buffers=scale_and_shift))
EVAL_MODE.add((layers.ReLU, layers.LeakyReLU, layers.GELU, layers.SiLU, layers.Sigmoid,
               layers.Tanh, layers.Softmax, layers.ReLU6, layers.Hardtanh, layers.Hardswish,
               layers.Hardsigmoid, layers.ELU, layers.Mish, layers.Softplus, layers.PReLU),
              AS_IN_TRAINING)
EVAL_MODE.add((layers.Identity, layers.Flatten, layers.Upsample, layers.Add, layers.Concat),
              AS_IN_TRAINING)
EVAL_MODE.add(layers.StochasticDepth, EvalMode(returns_input=True))
EVAL_MODE.add((layers.Mul, layers.Mean, layers.Permute, layers.Unflatten, layers.Contiguous,
               layers.Select, layers.Narrow, layers.Parameter, layers.MultiheadAttention),
              AS_IN_TRAINING)


def inference_moments(analysis: Analysis, *, element_bytes: int = 4, device: str = "cuda",
                      batch=None, precision: str = "fp32",
                      threads: int = THREADS,
                      cpu: str = RULES_CPU_CAPABILITY,
                      profile: Profile | None = None) -> tuple[Moment, ...]:
    """The moments of ``model.eval()`` and ``torch.no_grad()`` forward pass (see the module);
    ``cpu`` the capability whose kernel rules apply; ``profile`` a calibration profile whose
    measured workspace replaces them where it holds a node's configuration."""
    s, rows = element_bytes, analysis.rows
    width = activation_widths(analysis, device, precision, s)
    params = [t * s for r in rows for t in r.layer.param_tensors(r.input_shapes[0])]
    buffers = [t for r in rows for t in r.layer.buffer_tensors(r.input_shapes[0], s)]
    x = sympy.Mul(*analysis.input_shape) * s
    resident = (tuple((p, 0) for p in params + buffers), ((0, x),))

    # eval mode: Dropout returns its input itself (symcnn.analysis.liveness for the rest)
    live = lifetimes(analysis, lambda r: r.allocates and not EVAL_MODE[r.layer].returns_input,
                     caller_holds=True)
    size = {r.name: _number(r.activation * width[r.name]) for r in rows if live.born_here(r)}

    strided, nhwc = layouts(analysis), channels_last_inputs(analysis)
    cached = ()                                    # autocast's 2-byte parameter copies
    moments, sums = [], {}
    for r in rows:
        e_in = max(width[i] for i in r.inputs)
        runs_in = autocast_width(r, e_in, device) if precision != "fp32" else e_in
        if precision != "fp32" and lower_precision(r.layer, device):
            cached += tuple((t * LOW, 0) for t in r.layer.param_tensors(r.input_shapes[0]))
        cast = ((0, numel(r.input_shapes[0]) * runs_in),) if runs_in != e_in else ()
        mode = EVAL_MODE[r.layer]
        if mode.call_indices:
            cast += ((0, 8 * numel(r.output_shape)),)
        if mode.call_buffers is not None and device == "cpu":
            cast += ((mode.call_buffers(r, s), 0),)
        alive = tuple((0, size[st]) for st in live.alive[r.index] if st != "input")
        parts = resident + (cached, alive, cast)
        moments.append(_moment("inference", r.name, parts, sums))
        found = profiled(profile, r, "inference", e_in, live.reads_input(r), batch)
        for f, p in found if found is not None else _transient(
                r, device, in_bytes=e_in, out_bytes=width[r.name], cast=runs_in != e_in,
                batch=batch, threads=threads, precision=precision, cpu=str(cpu),
                first=live.reads_input(r), strided=strided.get(r.name, (False, False)),
                channels_last=r.name in nhwc):
            moments.append(_moment("inference", r.name, parts + (((f, p),),), sums))
    if not rows:
        moments.append(_moment("inference", "", resident, sums))
    return tuple(moments)


def _transient(row, device: str, *, in_bytes: int, out_bytes: int, cast: bool, **training):
    """The kernel transients of ``row``'s call: on the CPU those of
    :mod:`symcnn.memory.pytorch.evalkernels` (the training forward's where it has no rule of
    its own), elsewhere the training forward's."""
    if device == "cpu":
        return evalkernels.transient(row, in_bytes=in_bytes, out_bytes=out_bytes, cast=cast,
                                     **training)
    return transient(row, "forward", device, out_bytes, **training)


def _moment(phase: str, node: str, parts, sums: dict) -> Moment:
    """A moment of these allocation groups; ``sums`` keeps each group's sums, taken once
    however many moments share the group (the resident tensors)."""
    for group in parts:
        if id(group) not in sums:
            sums[id(group)] = (group, total(f for f, _ in group), total(p for _, p in group))
    return Moment(phase, node, total(sums[id(g)][1] for g in parts),
                  total(sums[id(g)][2] for g in parts), parts)


def _number(x):
    return int(x) if x.is_Integer else x

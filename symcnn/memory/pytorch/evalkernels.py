"""Kernel transients of an eval-mode forward under ``torch.no_grad()`` on the CPU, where they
differ from the training forward's (:mod:`symcnn.memory.pytorch.workspace`): self-attention,
and LayerNorm's statistics (:func:`layer_norm`).

In ``model.eval()`` under ``no_grad`` ``nn.MultiheadAttention`` takes other code than in
training (``torch/nn/modules/activation.py``, torch 2.13):

* **The fast path**, ``torch._native_multi_head_attention`` (ATen's
  ``native_multi_head_attention_cpu``), when the module is batch-first with an even number of
  heads, input-projection biases, no ``add_bias_kv``/``add_zero_attn``, and the query has the
  parameters' dtype (fp32: under CPU autocast a 2-byte query sends it to the explicit path,
  an fp32 one does not, autocast casting its arguments to bf16 instead; the check
  ``torch.is_autocast_enabled()`` there asks about CUDA's autocast only).
* **The explicit path**, ``F.multi_head_attention_forward``, otherwise; with ``need_weights``
  false it calls ``scaled_dot_product_attention`` (the CPU flash kernel).

Nothing is saved for backward, so each buffer is freed as soon as the code drops it: the
stages below, one alternative each (:func:`attention`).  Measured with torch 2.13.0+cpu on an
AMD EPYC (AVX2, 2 threads), allocator traces of ``validation/attention_inference.py`` (its
results in ``validation/results/cpu_avx2_attention_inference.json``) and of
``validation/fitting/`` fit_mha and fit_sdpa.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy

from symcnn import layers
from symcnn.analysis.rows import LayerRow
from symcnn.layers import numel
from symcnn.layers.dispatch import RuleTable
from symcnn.memory.pytorch import workspace
from symcnn.memory.pytorch.tokenops import upcast_mean

Transients = tuple[tuple[sympy.Expr, sympy.Expr], ...]
#: Bytes of the scalar ``div_`` wraps (an 8-byte 0-dim double), beside its cast to the
#: divided tensor's dtype, while the explicit path averages the weights over the heads.
SCALAR = 8
#: The CPU flash kernel's query and key/value blocks (``_scaled_dot_product_flash_attention_
#: for_cpu``): a query block of 256 rows from 768 queries on, 64 from 192, 32 below (at most
#: the queries); a key/value block of at most 512 rows.
FLASH_Q_SPLITS = ((768, 256), (192, 64), (0, 32))
FLASH_KV_SPLIT = 512


@dataclass(frozen=True)
class EvalCall:
    """One node's call in the eval-mode forward, as an inference kernel rule sees it."""

    row: LayerRow
    #: element size of the node's input and of its output (what it computes in)
    in_bytes: int
    out_bytes: int
    batch: object
    threads: int
    #: whether the moment counts a cast copy of the input for the whole call
    #: (:mod:`symcnn.memory.pytorch.inference`: autocast casts an input of another dtype)
    cast: bool
    #: whether the input is a strided view (:mod:`symcnn.memory.pytorch.layout`)
    strided_input: bool = False


def as_in_training(call: EvalCall) -> Transients:
    """Marker: the training forward's transients (:func:`symcnn.memory.pytorch.workspace.
    transient`) hold in inference too."""
    raise NotImplementedError


#: Each layer type's kernel transients in the eval-mode forward on the CPU; the entry on
#: ``Layer``: those of the training forward.
EVAL_KERNELS: RuleTable[Callable[[EvalCall], Transients]] = RuleTable(
    "CPU inference kernel-transient", "symcnn.memory.pytorch.evalkernels.EVAL_KERNELS")
EVAL_KERNELS.add(layers.Layer, as_in_training)


def fast_path(layer, in_bytes: int) -> bool:
    """Whether ``MultiheadAttention.forward`` in eval mode under ``no_grad`` calls
    ``torch._native_multi_head_attention`` (the conditions of ``activation.py``; symcnn's
    attention is batch-first self-attention with ``kdim = vdim = embed_dim``): an even number
    of heads (surely even, when symbolic), biases, no ``add_bias_kv`` or ``add_zero_attn``,
    an fp32 query."""
    even = sympy.sympify(layer.num_heads % 2) == 0
    return bool(even and layer.bias and not layer.add_bias_kv and not layer.add_zero_attn
                and in_bytes == 4)


def attention(call: EvalCall) -> Transients:
    """Self-attention in the eval-mode forward, per sample at ``e`` bytes (the output's: 2
    under autocast), with ``Q = L E`` and ``S = h L S`` (the scores), ``A = L S`` (the
    weights averaged over the heads); each stage less the output ``Q`` the moment counts.

    Fast path: the projection ``3Q`` and its per-head copy ``3Q`` (under autocast three
    projections of three bf16 casts of the input, concatenated: the same ``6Q``, plus the
    casts of key and value, alive for the whole call); then the copy with the scores ``S``;
    then the copy, the heads' outputs ``Q`` and the projected output ``Q`` (the scores still
    alive with ``need_weights``); with ``need_weights`` at the end the copy, ``Q`` and the
    averaged weights ``A`` with the scores ``S`` they are summed from (a ``sum`` in ``e``
    bytes; the scores are freed before its ``div_``).

    Explicit path: the batch-first input copied contiguous (``Q``, at batch 1 a contiguous
    view already) beside the projection ``3Q``; autocast's cast of the input is freed with
    the projection; the projection and its per-head copy ``6Q``.  With ``need_weights``:
    the copy ``3Q`` with the scaled query ``Q`` and the scores ``S``, then the scores and
    their softmax ``2S``, then ``S`` with the heads' outputs and their transposed copy (or
    that copy and the projected output) ``2Q``, at the end ``S``, the output and the mean
    ``A`` (under autocast with its fp32 copies, :func:`~symcnn.memory.pytorch.tokenops.
    upcast_mean`; in fp32 with the scalar of its ``div_``, :data:`SCALAR` and 4 B).  Without:
    ``3Q`` with the flash kernel's output ``Q``, its log-sum-exp (``h L`` fp32) and buffers
    (:func:`flash_buffers`, fixed in the batch), then the kernel's output and the projected
    one.  Under autocast the stages before the output projection lack its 2-byte weights
    (:func:`out_projection_cast`)."""
    layer, (length, embed) = call.row.layer, call.row.input_shapes[0]
    sizes = (numel(call.row.input_shapes[0]), layer.attention_elements((length, embed)))
    if fast_path(layer, call.in_bytes):
        return _fast_stages(call, *sizes)
    return _explicit_stages(call, *sizes)


def _fast_stages(call: EvalCall, q, s) -> Transients:
    """:func:`attention`'s fast path, per sample (``q`` the input's elements, ``s`` the
    scores')."""
    layer, e, zero = call.row.layer, call.out_bytes, sympy.Integer(0)
    casts = 2 * q * e if call.in_bytes != e else 0
    stages = [(zero, 5 * q * e), (zero, (2 * q + s) * e)]
    if layer.need_weights:
        stages += [(zero, (4 * q + s) * e), (zero, (3 * q + s + s / layer.num_heads) * e)]
    else:
        stages.append((zero, 4 * q * e))
    return tuple((f, p + casts) for f, p in stages)


def _explicit_stages(call: EvalCall, q, s) -> Transients:
    """:func:`attention`'s explicit path, per sample."""
    layer, e, zero = call.row.layer, call.out_bytes, sympy.Integer(0)
    a, length = s / layer.num_heads, call.row.input_shapes[0][0]
    cast = q * e if call.cast else 0
    copy = q * e if call.batch != 1 else 0
    early = -out_projection_cast(layer, e)
    stages = [(early, copy + 2 * q * e + cast), (early, 5 * q * e)]
    if layer.need_weights:
        end_fixed = sympy.Integer(SCALAR + 4) if e >= 4 else zero
        stages += [(early, (3 * q + s) * e), (early, (2 * q + 2 * s) * e),
                   (zero, (4 * q + s) * e),
                   (end_fixed, (3 * q + s + a) * e + upcast_mean(s, a, e))]
    else:
        stages += [(early + flash_buffers(layer, length, call.threads, e),
                    3 * q * e + layer.num_heads * length * 4), (zero, q * e)]
    return tuple((f, p - cast) for f, p in stages)


def out_projection_cast(layer, element_bytes: int) -> sympy.Expr:
    """Bytes of autocast's 2-byte copy of the output projection's weight and bias, which the
    explicit path makes only when it projects the heads' outputs (the moment counts it from the
    start of the call, with the other cached parameters); none in fp32."""
    if element_bytes >= 4:
        return sympy.Integer(0)
    e = layer.embed_dim
    return sympy.sympify((e * e + (e if layer.bias else 0)) * element_bytes)


def flash_buffers(layer, length, threads: int, element_bytes: int) -> sympy.Expr:
    """Bytes of the CPU flash attention kernel's buffers (``_scaled_dot_product_flash_
    attention_for_cpu``, ``aten/src/ATen/native/cpu/FlashAttentionKernel.cpp``): per thread,
    fp32 scores of a query block by a key block, the block's running maxima and sums and its
    output (``q k + 2 q + q d``, ``d`` the head's features), and for a 2-byte input the block's
    scores again in its dtype (``q k``).  Measured on 2 threads: 17,408 B for 50 tokens of 16
    features in fp32, 6,400 B more in bf16."""
    head = layer.embed_dim / layer.num_heads
    block_q = sympy.Piecewise(*((sympy.Min(split, length), length >= least)
                                for least, split in FLASH_Q_SPLITS[:-1]),
                              (sympy.Min(FLASH_Q_SPLITS[-1][1], length), True))
    block_kv = sympy.Min(FLASH_KV_SPLIT, length)
    per_thread = (block_q * block_kv + 2 * block_q + block_q * head) * 4
    if element_bytes < 4:
        per_thread += block_q * block_kv * element_bytes
    return _number(threads * per_thread)


EVAL_KERNELS.add(layers.MultiheadAttention, attention)


def layer_norm(call: EvalCall) -> Transients:
    """ATen's LayerNorm forward makes the mean and the reciprocal deviation of every
    normalised row in fp32 (under bf16 autocast too), which training saves for backward and
    inference frees when the call returns: ``2 x rows x 4`` bytes with the output, and the
    contiguous copy of a permuted input (as in training, :func:`symcnn.memory.pytorch.
    tokenops.layer_norm`).  Measured (AVX2, torch 2.13.0): 2 x 2 x 64 x 4 = 1,024 B in fit_mha's
    LayerNorms at batch 2, fp32 and bf16; 1,600 B with fit_patches' 38,400 B copy."""
    ins = call.row.input_shapes[0]
    rows = numel(ins) / numel(call.row.layer.normalized_shape)
    copy = numel(ins) * call.in_bytes if call.strided_input else 0
    return ((sympy.Integer(0), 2 * rows * 4 + copy),)


EVAL_KERNELS.add(layers.LayerNorm, layer_norm)


def transient(row: LayerRow, *, in_bytes: int, out_bytes: int, cast: bool, **training):
    """Extra bytes inside ``row``'s call in the eval-mode forward on the CPU, as alternatives
    ``(fixed, per_sample)`` (see :func:`symcnn.memory.pytorch.workspace.transient`, which
    ``training`` is passed to where :data:`EVAL_KERNELS` has no rule of its own)."""
    rule = EVAL_KERNELS[row.layer]
    if rule is as_in_training:
        return workspace.transient(row, "forward", "cpu", out_bytes, **training)
    return rule(EvalCall(row, in_bytes, out_bytes, training.get("batch"),
                         training.get("threads", workspace.THREADS), cast,
                         bool(training.get("strided", (False, False))[0])))


def _number(x):
    x = sympy.sympify(x)
    return int(x) if x.is_Integer else x

"""The CPU kernel buffers of the token networks' layers (transformers, ViTs): LayerNorm,
``Mean``, self-attention, and the copies kernels make of strided views
(:mod:`symcnn.memory.pytorch.layout`), as rules of :data:`symcnn.memory.pytorch.workspace.
TRANSIENTS` (``call``: its :class:`~symcnn.memory.pytorch.workspace.KernelCall`).

Derived on ``validation/fitting/`` (fit_mha, fit_sdpa, fit_patches: allocator traces of a
training step, torch 2.13.0+cpu on an AVX2 CPU, 2 threads) and PyTorch's source; all of it
ATen's and autograd's code, not oneDNN's.
"""

from __future__ import annotations

import sympy

from symcnn import layers
from symcnn.layers import numel


def upcast_mean(elements_in, elements_out, element_bytes: int) -> sympy.Expr:
    """A mean of a 2-byte tensor on the CPU (``mean_out`` sums in fp32): an fp32 copy of the
    input and an fp32 result, then cast down into the output (measured under bf16 autocast:
    ``validation/fitting/`` fit_mha, ``x.mean(1)`` and attention's averaged weights).  Bytes
    on top of the 2-byte output; none for a 4-byte input."""
    if element_bytes >= 4:
        return sympy.Integer(0)
    return (elements_in + elements_out) * 4


def mean(call) -> tuple:
    """Forward under autocast: :func:`upcast_mean`.  Backward: the expanded gradient divided,
    the input's gradient the timeline counts."""
    if call.phase != "forward" or call.element_bytes >= 4:
        return ()
    extra = upcast_mean(numel(call.row.input_shapes[0]), numel(call.row.output_shape),
                         call.element_bytes)
    return ((sympy.Integer(0), extra),)


def attention(call) -> tuple:
    """Self-attention's forward on PyTorch's explicit path (``need_weights``; from
    ``F.multi_head_attention_forward`` and the allocator trace of fit_mha, fp32 and bf16): the
    scores ``h L S`` before the softmax are alive with its result, before the attention's output
    and its projection (``2 L E``) exist; at the end the weights averaged over the heads
    (``L S``, what the call returns) are made with ``mean``, which under autocast also takes an
    fp32 copy of the ``h L S`` weights (:func:`upcast_mean`).  The fused path (no weights)
    allocates what the timeline counts.  Per sample, at the output's element size ``e``.  The
    training forward's; in eval mode under ``no_grad`` see :mod:`symcnn.memory.pytorch.
    evalkernels`."""
    layer, (length, e) = call.row.layer, call.row.input_shapes[0]
    if call.phase != "forward" or not layer.need_weights:
        return ()
    size = call.element_bytes
    scores = layer.attention_elements((length, e))
    averaged = scores / layer.num_heads
    end = averaged * size + upcast_mean(scores, averaged, size)
    return ((sympy.Integer(0), (scores - 2 * length * e) * size),
            (sympy.Integer(0), end))


def layer_norm(call) -> tuple:
    """ATen's LayerNorm (``aten/src/ATen/native/cpu/layer_norm_kernel.cpp``).  Backward: the
    weight and bias gradients are reduced through a zeroed buffer ``{2, threads, N}`` in the
    input's dtype, ``N`` the normalised elements (the issue's ``2 x threads x N x 4`` bytes in
    fp32; 2-byte elements under bf16 autocast, measured).  A permuted input is copied contiguous in the forward and in
    the backward (``X.expect_contiguous()``): ``+I`` in both."""
    layer, ins = call.row.layer, call.row.input_shapes[0]
    copy = numel(ins) * call.element_bytes if call.strided[0] else 0
    if call.phase == "forward":
        return ((sympy.Integer(0), copy),) if copy else ()
    if not layer.elementwise_affine:
        return ((sympy.Integer(0), copy),) if copy else ()
    reduction = 2 * call.threads * numel(layer.normalized_shape) * call.element_bytes
    return ((sympy.Integer(reduction), sympy.sympify(copy)),)


def gradient_copy(call, alternatives: tuple) -> tuple:
    """A convolution or LayerNorm whose output gradient arrives strided (:mod:`symcnn.memory.
    pytorch.layout`: behind a Permute, or read by a batch-first MultiheadAttention) copies it
    contiguous for its whole backward: ``+O`` on every stage."""
    if call.phase != "backward" or not call.strided[1] \
            or not isinstance(call.row.layer, (layers.ConvNd, layers.LayerNorm)):
        return alternatives
    copy = numel(call.row.output_shape) * call.element_bytes
    return ((sympy.Integer(0), copy),) + tuple((f, p + copy) for f, p in alternatives)


def mul(call) -> tuple:
    """Broadcast backward: ``grad * other`` at the output's size, then summed down (measured:
    fit_sdpa's ``x * gamma``)."""
    out, ins = numel(call.row.output_shape), call.row.input_shapes
    if call.phase != "backward" or len(ins) != 2 or all(numel(s) == out for s in ins):
        return ()
    return ((sympy.Integer(0), out * call.element_bytes),)

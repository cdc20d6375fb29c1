"""Transient memory inside one node's forward call or backward function, per device.

:mod:`symcnn.memory.pytorch.timeline` counts, at each node, what is alive before the node runs plus what the
node leaves behind (its output in the forward pass; the gradient of its input and of its
parameters in the backward pass).  Kernels take more than that while they run: oneDNN reorders
tensors into a blocked layout, ATen copies results back, BatchNorm keeps a second input-sized
buffer.  :func:`transient` gives those extra bytes as *alternatives*, one per stage of the
node's computation, each ``(fixed, per_sample)`` on top of the timeline's moment for the node
(an alternative may be negative in one part: it replaces the node's outputs, which are not all
allocated yet at that stage).  The timeline turns each alternative into one more moment, so
the step's peak stays ``max_t (F_t + A_t b)``.

The rules come from the allocator traces of ``validation/`` (``results/cpu_patterns.md``,
torch 2.13.0 on an AVX-512 CPU); symbols are bytes, per sample unless said otherwise: ``I``,
``O`` the node's input and output, ``Ip``, ``Op`` the same with the channels rounded up to a
multiple of ``channel_block`` (oneDNN's blocked layout: ``nChw16c`` on AVX-512), ``W``, ``B``
the weight and bias (fixed), ``Wp`` the weight with both channel counts rounded up.

CPU, fp32 (``device="cpu"``):

* **Convolution, oneDNN** (every batch >= 2; at batch 1 see im2col below).
  Forward: ``+Ip +Wp +Op``, free ``Wp, Ip``, ``+O`` (ATen's output), free ``Op``: peak
  ``max(Ip + Wp + Op, Op + O)``; the input is reordered only when it has at least
  ``channel_block`` channels (``Ip = 0`` otherwise); where a bias's channels do not fill the
  last block, oneDNN books it padded first (:func:`padded_bias`, 128 to 256 B); on AVX2 a layer
  with fewer than 8 input channels has them unpadded in ``Wp``, and one reading a
  channels-last view runs ``brg_conv_fwd`` (:mod:`symcnn.memory.pytorch.convkinds`).
  Backward, input needing a gradient, stride 1: gradient of the input ``Op + Wp + Ip`` then
  ``I + Ip``; gradient of the weight ``I + Op + Ip + Wp + B`` plus oneDNN's weight-gradient
  scratchpad (reduction buffers of its thread split, barriers: :func:`conv_scratchpads`).
  Backward, stride > 1: the gradient of the input comes in the plain layout, ``O + Wp + I +
  scratch`` (``brgconv_strided``'s scratchpad, :func:`conv_scratchpads`; ``strided_scratch``,
  61,488 B, where :mod:`symcnn.memory.pytorch.onednn.fp32` has no rule), then ATen allocates the result and a
  contiguous copy: **3 I** at once; then the weight stage as for stride 1.
  First layer (its input needs no gradient): only the weight stage, ``Op + Wp + B`` (+ scratch).
  On AVX2 (``jit:avx2``) the weight gradient has a second stage, oneDNN's weight gradient
  beside ATen's, and the source is copied for every channel count but 3
  (:func:`symcnn.memory.pytorch.convkinds.avx2_weight_stages`).
* **Convolution, im2col** (PyTorch's ``use_mkldnn`` in ``aten/src/ATen/native/Convolution.cpp``
  keeps the native ``slow_conv2d``/``slow_conv3d`` at batch 1 when ``groups == 1``, the kernel
  is not larger than 3 in both last axes and ``C * d1 * d2 <= 20480``): forward ``+col +O
  -col`` and backward ``+I +col -col``, ``col = C_in * prod(kernel) * n_spatial(O) * e`` for
  one sample.  This regime exists only at ``batch == 1``, so it is not affine in b: the
  timeline applies it when it is given ``batch=1`` and the oneDNN rules otherwise.
* **ConvTranspose, oneDNN**: forward ``scratch + Ip + Wp + Op`` (``Ip`` from 16 input
  channels on, ``Op`` channel-padded from 16 output channels on, plain ``O`` below;
  ``scratch`` from :func:`transposed_scratch`: 61,616 B for the zoo's), then ``3 O`` (oneDNN's output
  and two ATen copies); backward ``+O`` (a copy of the incoming gradient) and then a stride-1
  convolution's stages.
* **BatchNorm (training)**: backward ``+I +2C*4 +I -I``: ``2 I + 2 C 4``, one ``I`` above
  what the timeline counts.
* **Upsample, nearest/bilinear 2-d**: forward ``+O +I +O -O -I``: ``2 O + I``.
* **Convolution, 2 bytes (autocast)**: the fp32 stages with 2-byte activations, the parameter
  gradients at ``param_bytes``, and oneDNN's bf16 scratchpads from :mod:`symcnn.memory.pytorch.onednn.bf16`
  (:func:`conv_scratchpads`): the weight stage's (``jit_bf16``: transposed source and output
  gradient, fp32 reduction buffers, barriers; exact on a 399-point measured grid) and the
  strided data stage's (``brgconv_strided``), which replaces ``strided_scratch``; for a 1x1
  convolution (``jit_bf16_1x1``) its forward, stride-1 data and weight scratchpads from
  :mod:`symcnn.memory.pytorch.onednn.bf16_1x1` (:func:`forward_scratch`).
* **fp16 (autocast)**: PyTorch's own im2col convolutions, not oneDNN (:func:`_native_half`).
* **Linear, bf16 (autocast)**: forward, when ``m k n > 4096`` (oneDNN's matmul), packed
  weights and accumulators per thread, :func:`_packed_matmul`; fixed in b.
* **LayerNorm, Mean, Mul, MultiheadAttention**, and the copies of strided views:
  :mod:`symcnn.memory.pytorch.tokenops`.
* Every other layer allocates exactly its output (forward) or its input's gradient (backward).

``device="cuda"``: no transient is modelled yet.  cuDNN's workspaces depend on the algorithm
cuDNN picks, on free memory, on TF32 and on the cuDNN version (see ``validation/README.md``:
about 1.2 GB per sample for the lecture network's second convolution on an H100); the function
returns no alternative there, so the CUDA timeline is still a lower bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy

from symcnn import layers
from symcnn.analysis.rows import LayerRow
from symcnn.layers import numel
from symcnn.layers.dispatch import RuleTable
from symcnn.memory.pytorch import convkinds, tokenops
from symcnn.memory.pytorch.convkinds import NO_ONEDNN_BF16, allowance_layers  # noqa: F401
from symcnn.memory.pytorch.scratchpads import (  # noqa: F401  (their home, re-exported)
    CHANNEL_BLOCK, CHANNEL_BLOCKS, RULES_CPU_CAPABILITY, STRIDED_SCRATCH, THREADS,
    TRANSPOSED_SCRATCH, conv_scratchpads, forward_scratch, padded_bias, transposed_scratch)

#: PyTorch hands a 2-byte matmul to oneDNN when ``m * k * n`` exceeds this
#: (``mkldnn_gemm_min_size`` in ``aten/src/ATen/native/mkldnn/Matmul.cpp``).
MKLDNN_GEMM_MIN_SIZE = 16 * 16 * 16
#: PyTorch keeps im2col at batch 1 while ``C * d1 * d2`` is at most this.
IM2COL_LIMIT = 20_480

Alternative = tuple[sympy.Expr, sympy.Expr]


def padded(shape, block: int = CHANNEL_BLOCK) -> sympy.Expr:
    """Elements of ``shape`` (channels first) with the channels rounded up to ``block``."""
    c = sympy.sympify(shape[0])
    return sympy.ceiling(c / block) * block * numel(shape[1:])


def uses_im2col(row: LayerRow, batch, element_bytes: int = 4) -> bool:
    """Whether PyTorch runs ``row``'s convolution (not a transposed one) through im2col rather
    than oneDNN (fp32 only: a 2-byte convolution always goes to oneDNN)."""
    layer, ins = row.layer, row.input_shapes[0]
    if batch != 1 or element_bytes != 4 or layer.groups != 1:
        return False
    kernel = layer.kernel_size
    if len(kernel) >= 2 and kernel[-1] > 3 and kernel[-2] > 3:
        return False
    size = sympy.sympify(ins[0] * numel(ins[1:3]))
    return bool(size.is_number and size <= IM2COL_LIMIT)


def blocked_weight_stage(row: LayerRow, channel_block: int = CHANNEL_BLOCK) -> bool:
    """Whether oneDNN computes ``row``'s weight gradient on blocked (channel-padded) copies:
    seen for every convolution with at least ``channel_block`` input channels and for the 1x1
    one with fewer (unet2d outc, 8 -> 2); the others with fewer channels (unet2d 8 -> 8 and
    8 -> 16, 3x3) copy the input and the output gradient in the plain layout."""
    layer, cin = row.layer, row.input_shapes[0][0]
    if _at_least(cin, channel_block):
        return True
    return all(k == 1 for k in layer.kernel_size)


@dataclass(frozen=True)
class KernelCall:
    """One node's forward call or backward function, as a kernel-transient rule sees it (the
    arguments of :func:`transient`; ``param_bytes`` resolved)."""

    row: LayerRow
    phase: str
    element_bytes: int
    first: bool
    batch: object
    channel_block: int
    strided_scratch: int
    threads: int
    param_bytes: int
    precision: str
    cpu: str = RULES_CPU_CAPABILITY
    #: (input, output gradient) strided views the kernel copies: :mod:`symcnn.memory.pytorch.layout`
    strided: tuple[bool, bool] = (False, False)
    #: The input is a channels-last (NHWC-strided) view
    #: (:func:`symcnn.memory.pytorch.layout.channels_last_inputs`).
    channels_last: bool = False

    @property
    def native_half(self) -> bool:
        """Whether a 2-byte convolution or matmul runs PyTorch's own kernels, not oneDNN's:
        fp16 on every CPU measured, bf16 where oneDNN has no bf16 kernels."""
        return self.precision == "fp16" or (self.precision == "bf16"
                                            and self.cpu in NO_ONEDNN_BF16)


Transients = tuple[Alternative, ...]
#: The kernel transients of each layer type, per device, as rules ``KernelCall ->
#: alternatives`` (see the module).  CUDA: none modelled yet, for every layer (one entry on
#: :class:`~symcnn.layers.base.Layer`); cuDNN's workspaces depend on the algorithm it picks.
TRANSIENTS: dict[str, RuleTable[Callable[[KernelCall], Transients]]] = {
    "cpu": RuleTable("CPU kernel-transient", "symcnn.memory.pytorch.workspace.TRANSIENTS['cpu']"),
    "cuda": RuleTable("CUDA kernel-transient",
                      "symcnn.memory.pytorch.workspace.TRANSIENTS['cuda']"),
}
CPU = TRANSIENTS["cpu"]


@TRANSIENTS["cuda"].entry(layers.Layer)
@CPU.entry(layers.PoolNd, layers.AdaptivePoolNd, layers.GroupNorm,
           layers.DropoutNd, layers.Identity, layers.Flatten, layers.Add, layers.Concat)
@CPU.entry(layers.Permute, layers.Unflatten, layers.Contiguous, layers.Select,
           layers.Narrow, layers.Parameter, layers.StochasticDepth)
@CPU.entry(layers.ReLU, layers.LeakyReLU, layers.GELU, layers.SiLU, layers.Sigmoid,
           layers.Tanh, layers.Softmax, layers.ReLU6, layers.Hardtanh, layers.Hardswish,
           layers.Hardsigmoid, layers.ELU, layers.Mish, layers.Softplus, layers.PReLU)
def _output_only(call: KernelCall) -> Transients:
    """The kernel allocates exactly the node's output (forward) or its input's gradient
    (backward): what the timeline counts already."""
    return ()


CPU.add(layers.Mean, tokenops.mean)
CPU.add(layers.MultiheadAttention, tokenops.attention)
CPU.add(layers.LayerNorm, tokenops.layer_norm)
CPU.add(layers.Mul, tokenops.mul)


def transient(row: LayerRow, phase: str, device: str = "cpu", element_bytes: int = 4, *,
              first: bool = False, batch=None, channel_block: int | None = None,
              strided_scratch: int = STRIDED_SCRATCH,
              threads: int = THREADS, param_bytes: int | None = None,
              precision: str = "fp32", cpu: str = RULES_CPU_CAPABILITY,
              strided: tuple[bool, bool] = (False, False),
              channels_last: bool = False) -> tuple[Alternative, ...]:
    """Extra bytes alive inside ``row``'s ``phase`` ("forward" or "backward") on ``device``,
    as alternatives ``(fixed, per_sample)`` on top of the timeline's moment (see the module);
    the rule of ``row``'s layer type in :data:`TRANSIENTS`.

    ``first``: the node reads the network input, which needs no gradient.  ``batch``: the batch
    size when it is a number (it picks the im2col regime at 1); None means b >= 2.
    ``element_bytes`` is the size of the node's activations, ``param_bytes`` (default the same)
    that of the parameter gradients the moment counts (4 under autocast).  ``cpu``: the
    capability whose rules apply (:class:`symcnn.options.CpuCapability`); ``channel_block``
    (default: the block of ``cpu``) overrides its channel block.  ``strided``: whether the
    node's input and its output's gradient are strided views (:mod:`symcnn.memory.pytorch.
    layout`), which some kernels copy; ``channels_last``: whether its input is a channels-last
    view (a 2-d convolution then runs oneDNN's ``brg_conv_fwd`` on AVX2)."""
    cpu = str(cpu)
    block = CHANNEL_BLOCKS[cpu] if channel_block is None else channel_block
    call = KernelCall(row, phase, element_bytes, first, batch, block, strided_scratch,
                      threads, param_bytes or element_bytes, precision, cpu, tuple(strided),
                      channels_last)
    alternatives = TRANSIENTS[device][row.layer](call)
    return tokenops.gradient_copy(call, alternatives) if device == "cpu" else alternatives


def _conv_sizes(call: KernelCall):
    """Bytes of a (transposed) convolution's tensors: ``i, o, ip, op`` (input and output,
    plain and channel-padded, per sample), ``w, b`` (this node's parameter gradients, not
    made yet in a stage), ``wp`` (the blocked weight) and ``reorder_in`` (the blocked input:
    oneDNN reorders its input from a whole block of channels on)."""
    row, s, block = call.row, call.element_bytes, call.channel_block
    layer, ins, out = row.layer, row.input_shapes[0], row.output_shape
    zero = sympy.Integer(0)
    tensors = layer.param_tensors(ins)
    pb = call.param_bytes
    w, b_ = tensors[0] * pb, (tensors[1] * pb if len(tensors) > 1 else zero)
    cin, cout = ins[0], layer.out_channels
    wp = (sympy.ceiling(sympy.sympify(cin) / block) * block
          * sympy.ceiling(sympy.sympify(cout) / block) * block
          * sympy.Mul(*layer.kernel_size) / layer.groups * s)
    ip = padded(ins, block) * s
    return (numel(ins) * s, numel(out) * s, ip, padded(out, block) * s, w, b_, wp,
            ip if _at_least(cin, block) else zero)


@CPU.entry(layers.ConvNd)
def _convolution(call: KernelCall) -> Transients:
    """oneDNN's stages (im2col at batch 1; PyTorch's own kernels in fp16): see the module;
    depthwise, grouped and dilated layers, and forwards ``jit:avx2`` declines, in
    :mod:`symcnn.memory.pytorch.convkinds` (an allowance where no rule is known to hold)."""
    special = convkinds.kind(call.row, call.cpu, call.native_half)
    if special is None:
        return convkinds.allowance(call, _dense_convolution(call))
    if special.startswith("native_"):
        return convkinds.native_stages(call, special)
    if special != "dense":
        return convkinds.onednn_stages(call, special)
    onednn_fp32_avx2 = call.cpu == convkinds.MEASURED_ON and not call.native_half \
        and call.element_bytes == 4 and not uses_im2col(call.row, call.batch)
    if call.phase == "forward" and onednn_fp32_avx2 and call.channels_last:
        return convkinds.channels_last_forward(call)
    if call.phase == "forward" and onednn_fp32_avx2 and convkinds.avx2_forward_declines(call.row):
        return convkinds.gemm_forward(call)
    if call.phase == "backward" and call.cpu == convkinds.MEASURED_ON and not call.native_half \
            and call.element_bytes == 4 and not uses_im2col(call.row, call.batch) \
            and convkinds.avx2_weights_declines(call.row):
        return convkinds.gemm_weights(call) + _dense_convolution(call)[1:]
    return _dense_convolution(call)


def _dense_convolution(call: KernelCall) -> Transients:
    row, s, first = call.row, call.element_bytes, call.first
    if call.native_half:
        return _native_half(row, call.phase, first, call.param_bytes)
    zero = sympy.Integer(0)
    if uses_im2col(row, call.batch, s):
        layer, ins, out = row.layer, row.input_shapes[0], row.output_shape
        col = ins[0] * sympy.Mul(*layer.kernel_size) * numel(out[1:]) * s
        return ((col, zero),)            # b = 1: a fixed number of bytes
    i, o, ip, op, w, b_, wp, reorder_in = _conv_sizes(call)
    if call.phase == "forward":
        if call.cpu == convkinds.MEASURED_ON:
            wp = convkinds.avx2_forward_weight(call.row, wp, s)
        first_stage = forward_scratch(row, call.batch, call.threads, s) \
            or padded_bias(row, call.channel_block, s)
        return ((wp + first_stage, reorder_in + op - o), (zero, op))
    scratch = conv_scratchpads(row, call.batch, call.threads, s, call.strided_scratch,
                               call.cpu)
    if call.cpu == convkinds.MEASURED_ON and convkinds.avx2_weights_jit(row, call.batch,
                                                                     call.threads):
        weight_stages = convkinds.avx2_weight_stages(call, scratch[0])
    else:
        if blocked_weight_stage(row, call.channel_block):
            weight_stage = (wp - w, op) if first else (wp - w, op + ip)
        else:                             # plain copies of the input and output gradient
            weight_stage = (zero, o) if first else (zero, o + i)
        weight_stages = ((weight_stage[0] + scratch[0], weight_stage[1]),)
    if first:
        return weight_stages
    if all(st == 1 for st in row.layer.stride):
        return weight_stages + ((wp + scratch[1] - w - b_, op + ip - i),)
    if call.cpu == convkinds.MEASURED_ON:
        wp = convkinds.avx2_strided_data_weight(row, wp, s)
    return weight_stages + ((-w - b_, 2 * i), (wp + scratch[1] - w - b_, o))


@CPU.entry(layers.ConvTransposeNd)
def _transposed_convolution(call: KernelCall) -> Transients:
    """oneDNN: scratchpad, blocked input and weight, its output (channel-padded from 16
    channels on); then ATen's result and a contiguous copy: 3 O.  Not modelled where it runs
    PyTorch's own kernels (fp16; bf16 without oneDNN's bf16 kernels)."""
    if call.native_half:
        return ()
    i, o, ip, op, w, b_, wp, reorder_in = _conv_sizes(call)
    if call.phase == "forward":
        zero = sympy.Integer(0)
        dst = op if _at_least(call.row.layer.out_channels, call.channel_block) else o
        scratch = transposed_scratch(call.row, call.batch, call.threads, call.element_bytes)
        return ((wp + scratch, reorder_in + dst - o), (zero, 2 * o))
    return ((wp - w, o + op + ip),)


@CPU.entry(layers.Linear)
def _linear(call: KernelCall) -> Transients:
    """A 2-byte (bf16) forward: oneDNN's packed matmul (:func:`_packed_matmul`); nothing
    more otherwise (fp16, and bf16 without oneDNN's bf16 kernels, run PyTorch's own matmuls)."""
    if call.phase == "forward" and call.element_bytes == 2 and not call.native_half:
        return _packed_matmul(call.row, call.batch, call.threads)
    return ()


@CPU.entry(layers.BatchNormNd)
def _batch_norm(call: KernelCall) -> Transients:
    """Training backward: ``+I +2C*4 +I -I``, one ``I`` above what the timeline counts."""
    if call.phase != "backward":
        return ()
    return ((sympy.Integer(0), numel(call.row.input_shapes[0]) * call.element_bytes),)


@CPU.entry(layers.Upsample)
def _upsample(call: KernelCall) -> Transients:
    """Nearest/bilinear 2-d forward: ``+O +I +O -O -I``, ``2 O + I``."""
    layer, ins = call.row.layer, call.row.input_shapes[0]
    if call.phase != "forward" or layer.mode not in ("nearest", "bilinear") or len(ins) != 3:
        return ()
    s = call.element_bytes
    return ((sympy.Integer(0), numel(call.row.output_shape) * s + numel(ins) * s),)


def _native_half(row: LayerRow, phase: str, first: bool, param_bytes: int):
    """fp16 under CPU autocast: PyTorch 2.13 runs these outside oneDNN on an AVX-512 CPU
    without fp16 units (no oneDNN primitive runs): a convolution as im2col (``_slow_conv2d``,
    ``slow_conv3d``) with a column buffer of the whole batch, ``col = C_in k n(O) 2`` per
    sample (none in the forward of a 1x1 stride-1 layer without padding: the allocator saw only
    its weight copy and output: Conv1d, Conv2d, Conv3d 16->8 1x1, bf16 and fp16, AVX2 EPYC);
    forward ``+col``;
    backward the input's gradient (with ``+col`` in 3-d), then the
    2-byte weight and bias gradients with ``+col`` (an output gradient that is not contiguous,
    as ``y.sum().backward()`` gives, is copied first: ``+O``).  A linear layer's matmuls take
    nothing more; a transposed convolution is not modelled.  Every fp16 peak of the zoo to
    256 B (``tests/test_timeline.py``)."""
    layer, ins, out = row.layer, row.input_shapes[0], row.output_shape
    zero = sympy.Integer(0)
    if layer.groups != 1:
        return ()
    col = ins[0] * sympy.Mul(*layer.kernel_size) * numel(out[1:]) * 2
    if phase == "forward":            # a 1x1 stride-1 layer without padding reads its input
        return ((zero, convkinds.native_columns(row, 2)),)   # as the columns: none made
    tensors = layer.param_tensors(ins)
    w = sympy.Add(*tensors) * param_bytes            # this layer's gradients, not made yet
    weight_stage = (sympy.Add(*tensors) * 2 - w, col)
    if first or len(ins) != 4:
        return (weight_stage,)
    return (weight_stage, (-w, col))                 # 3-d: the input's gradient via columns too


def _at_least(value, bound: int) -> bool:
    """Whether ``value`` (a size, maybe symbolic) is surely at least ``bound``."""
    return sympy.sympify(value >= bound) == sympy.true


def _packed_matmul(row: LayerRow, batch, threads: int) -> tuple[Alternative, ...]:
    """A 2-byte Linear's forward on the CPU: when ``m k n > 4096`` PyTorch calls oneDNN's
    matmul, whose every thread holds a packed block of the weights and an fp32 block of the
    result while it runs:

        threads * (128 min(k32, 1024) + 4 rows min(n, 64) + 640) + 384 bytes,

    ``k32`` is ``k`` rounded up to a multiple of 32, ``m`` the rows of the input (the batch
    times its leading axes), ``rows = min(m, 256, max(16, ceil(m / t_m)))`` the block of rows
    a thread works on, ``t_m = max(1, threads // ceil(n / 64))`` the threads along ``m``.
    Measured with torch 2.13 on 1, 2 and 4 threads (``validation/linear_bf16.py``, 37 shapes,
    with and without grad): exact in 218 of 222 runs; for (m, k, n) = (128, 64, 300) on 2 and
    4 threads oneDNN splits ``m`` further and this is 32 KB and 96 KB high.  Without a batch
    size: the regime of large batches (``rows = 256``)."""
    ins = row.input_shapes[0]
    k, n = sympy.sympify(ins[-1]), sympy.sympify(row.layer.out_features)
    k32 = sympy.Min(sympy.ceiling(k / 32) * 32, 1024)
    if batch is None:
        rows = sympy.Integer(256)
    else:
        m = sympy.sympify(batch) * numel(ins[:-1])
        if sympy.sympify(m * k * n > MKLDNN_GEMM_MIN_SIZE) != sympy.true:
            return ()
        along_m = sympy.Max(1, sympy.floor(threads / sympy.ceiling(n / 64)))
        rows = sympy.Min(m, 256, sympy.Max(16, sympy.ceiling(m / along_m)))
    packed = threads * (128 * k32 + 4 * rows * sympy.Min(n, 64) + 640) + 384
    return ((packed, sympy.Integer(0)),)

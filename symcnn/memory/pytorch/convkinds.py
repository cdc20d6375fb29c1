"""Kernel transients of the convolutions the dense rules of :mod:`symcnn.memory.pytorch.workspace`
do not cover: depthwise, grouped and dilated convolutions, and on an AVX2 CPU the forward of a
layer oneDNN's ``jit:avx2`` kernel declines (a left padding above its register block, a kernel
wider than 7 with padding and a stride).  Each rule returns alternatives ``(fixed,
per_sample)`` on top of the timeline's moment for the node, as :func:`workspace.transient` does.

Measured on an AVX2-only AMD EPYC (torch 2.13.0+cpu, oneDNN v3.12, 2 threads): single layers
(``tests/test_kernels_avx2.py`` runs them live on an AVX2 CPU) and the kernel fitting set
``validation/fitting/`` (``results/cpu_avx2_fitting.json``); judged on the held-out set.

fp32 on AVX2 (oneDNN; ``ONEDNN_VERBOSE``):

* **depthwise** (``groups == C_in == C_out``): ``jit_dw:avx2`` for every pass and stride, with
  the structure of a stride-1 dense layer: forward ``Ip + Wp + Op`` then ``Op + O``; data
  gradient ``Op + Wp + Ip`` then ``I + Ip``; weight gradient ``I + Op + Ip + Wp + B``; no
  scratchpad; ``Wp = rnd(C, 8) k 4``.
* **grouped** with channels per group multiples of 8: ``jit:avx2`` (and ``brgconv_strided:avx2``
  for a strided data gradient), the dense rules with the weight blocked per group and
  oneDNN's reducers over ``groups x`` blocks.
* **``gemm:jit``** (grouped with other channel counts; a dilated layer's weight gradient and a
  strided dilated layer's data gradient; forwards ``jit:avx2`` declines): plain layout, no
  reorders; forward ``cols + O`` then ``2 O``; data gradient ``I + cols`` then ``2 I``; weight
  gradient ``I + W + scratch + B`` then ``I + 2 W + 2 B``; the scratchpads of
  :mod:`symcnn.memory.pytorch.onednn.gemm`.

* **first layer** (fewer than 8 input channels, every dense forward ``jit:avx2`` takes,
  1-d, 2-d and 3-d): the weight is reordered to ``Ohwi8o`` (``Acdb8a``) with the output
  channels padded to 8 and the input channels **not** padded, ``Wp = C_in rnd(C_out, 8) k 4``
  (:func:`avx2_forward_weight`; e.g. a 3->96 16x16 patch embedding: 294,912 B, not the
  786,432 B of a padded ``C_in``).
* **dense weight gradient** (``jit:avx2``, 1-d, 2-d, 3-d): two stages, oneDNN's copies of the
  output gradient and the source with its own weight gradient, then that weight gradient beside
  ATen's (:func:`avx2_weight_stages`: the peak where the weight outweighs the activations, as
  in a patch embedding or on a small map); the source copied into 8-channel blocks but for 3
  input channels; ``gemm:jit`` from a 14-wide kernel in 1-d and 2-d; a strided data gradient's
  blocked weight with ``C_out`` unpadded (:func:`avx2_strided_data_weight`).  Measured on
  single layers, ``validation/conv_backward_avx2.py`` (``results/cpu_avx2_conv_backward.json``).
* **channels-last input** (a 2-d convolution reading ``x.permute(0, 3, 1, 2)`` of a contiguous
  tensor, as ConvNeXt's ``LayerNorm2d`` hands on): PyTorch runs it channels-last
  (``mkldnn_conv_use_channels_last``) and oneDNN takes ``brg_conv_fwd:avx2`` on ``acdb``
  tensors: forward ``Wc + O + scratch + Wp`` (:func:`channels_last_forward`).

2 bytes where PyTorch runs its own kernels (fp16; bf16 without oneDNN's bf16 kernels, AVX2):

* **grouped** (depthwise included): a loop over the groups (``at::_convolution``'s
  ``subtensor`` + ``cat``), each group an im2col convolution of the whole batch: forward, at the
  last group ``O + I/g + col/g`` (a contiguous copy of the group's input, its columns), then
  ``2 O`` (the pieces and their ``cat``); backward, per group a copy of the output gradient's
  and the input's slice, the pieces of the gradients, the columns, and the bias' fp32 sum;
  then the ``cat`` of the input's and the parameters' gradients: ``2 I + 2 W``.
  ``col = C_in k n(O) 2`` per sample (none for a 1x1 stride-1 layer without padding).
* **dilated** (``slow_conv_dilated2d``/``3d``): columns of one sample, ``C_in k n(O) 2`` bytes
  (fixed in the batch), in the forward and in the backward.

Where none of these is known to hold (a grouped or dilated convolution on AVX-512, where
oneDNN's kernels for them were not measured; a dilated grouped layer; depthwise with a channel
multiplier; a grouped or dilated 3-d layer), :func:`allowance` gives every known kernel's
stages at once, an upper bound by construction of the kernels measured, and
:func:`unmodelled` says so, so that the report can name the layer.
"""

from __future__ import annotations

import sympy

from symcnn import layers
from symcnn.analysis.rows import LayerRow
from symcnn.layers import numel
from symcnn.memory.pytorch.onednn import fp32 as onednn_fp32
from symcnn.memory.pytorch.onednn import gemm
from symcnn.memory.pytorch.onednn.common import ALIGN, BARRIER, P4K, rnd_up

#: The CPU capability the rules of this module were measured on.
MEASURED_ON = "AVX2"
#: The capabilities without oneDNN's bf16 kernels (no avx512_bf16 and no AVX-512 to emulate
#: them: PyTorch's ``mkldnn_bf16_device_check``): a bf16 convolution or matmul under autocast
#: runs PyTorch's own kernels, as fp16 does (``workspace._native_half``).
NO_ONEDNN_BF16 = frozenset({"AVX2"})
#: ``jit:avx2``'s forward register block along the width (``ur_w``): a larger left padding
#: makes it decline the layer (``l_pad <= ur_w`` in ``init_conf``).
AVX2_UR_W = 3
#: The narrowest kernel whose dense weight gradient ``jit:avx2`` declines (measured).
AVX2_BWD_WEIGHTS_KW = 14
#: ``jit:avx2``'s channel block (8 fp32 values fill an AVX2 register).
AVX2_BLOCK = 8
#: ``brg_conv_fwd:avx2``'s scratchpad: ``4096 + 4120 threads`` bytes (measured on 1, 2 and 4
#: threads; 4120 is a page of brgemm batch elements, ``onednn.common.BATCH_ELEMENT``).
BRG_FWD_SCRATCH, BRG_FWD_SCRATCH_PER_THREAD = 4096, 4120

ZERO = sympy.Integer(0)


def _ints(row: LayerRow):
    """The layer's sizes as plain integers, or None where one is symbolic or padding is a
    string."""
    layer, ins = row.layer, row.input_shapes[0]
    vals = (ins[0], layer.out_channels, layer.groups, *layer.kernel_size, *layer.stride,
            *layer.dilation, *ins[1:])
    if isinstance(layer.padding, str) or not all(sympy.sympify(v).is_Integer for v in vals):
        return None
    return {"cin": int(ins[0]), "cout": int(layer.out_channels), "g": int(layer.groups),
            "k": [int(v) for v in layer.kernel_size], "s": [int(v) for v in layer.stride],
            "p": [int(v) for v in layer.padding], "d": [int(v) for v in layer.dilation],
            "in": tuple(int(v) for v in ins[1:])}


def is_special(row: LayerRow) -> bool:
    """Whether ``row`` is a grouped or dilated convolution (not a transposed one)."""
    layer = row.layer
    return layer.groups != 1 or any(d != 1 for d in layer.dilation)


def kind(row: LayerRow, cpu: str, native: bool) -> str | None:
    """Which rule of this module covers ``row`` on ``cpu``: ``"jit_dw"``, ``"jit_grouped"``,
    ``"gemm_grouped"``, ``"dilated"`` (oneDNN, fp32), ``"native_grouped"``,
    ``"native_dilated"`` (PyTorch's kernels, 2 bytes), ``"dense"`` (the dense rules hold) or
    None (not modelled: :func:`allowance`)."""
    if not is_special(row):
        return "dense"
    v = _ints(row)
    if v is None or len(v["in"]) == 3:
        return None
    grouped, dilated = v["g"] != 1, any(d != 1 for d in v["d"])
    if grouped and dilated:
        return None
    if native:
        return "native_grouped" if grouped else "native_dilated"
    if cpu != MEASURED_ON:
        # depthwise at stride 1 was measured on AVX-512 too (the zoo's mobile2d): the dense
        # rules hold there; nothing else of this module was
        depthwise = v["g"] == v["cin"] == v["cout"] and not dilated
        return "dense" if depthwise and all(x == 1 for x in v["s"]) else None
    if dilated:
        return "dilated"
    if v["g"] == v["cin"] == v["cout"]:
        return "jit_dw"
    if v["cin"] % v["g"] or v["cout"] % v["g"]:
        return None
    if (v["cin"] // v["g"]) % 8 == 0 and (v["cout"] // v["g"]) % 8 == 0:
        return "jit_grouped"
    return "gemm_grouped"


def unmodelled(row: LayerRow, cpu: str, native: bool) -> str | None:
    """Why ``row``'s buffers are an allowance (an upper bound) on ``cpu``, or None."""
    if kind(row, cpu, native) is not None:
        return None
    what = "grouped" if row.layer.groups != 1 else "dilated"
    if row.layer.groups != 1 and any(d != 1 for d in row.layer.dilation):
        what = "grouped and dilated"
    if not native and cpu != MEASURED_ON:
        return f"{what}: oneDNN's kernels for it not measured on {cpu}"
    return f"{what}: kernel not measured"


def allowance_layers(rows, precision: str, cpu: str,
                     device: str = "cpu") -> tuple[tuple[str, str], ...]:
    """``(node, why)`` for every convolution whose CPU buffers are an allowance, not a rule
    known to hold on ``cpu`` (:func:`unmodelled`): the
    figure is an upper bound there.  None on CUDA, where no kernel buffer is modelled."""
    if device != "cpu":
        return ()
    cpu = str(cpu)
    native = precision == "fp16" or (precision == "bf16" and cpu in NO_ONEDNN_BF16)
    out = []
    for r in rows:
        if isinstance(r.layer, layers.ConvNd):
            why = unmodelled(r, cpu, native)
            if why:
                out.append((r.name, why))
    return tuple(out)


# ------------------------------------------------------------------------ sizes ----------------

def _sizes(call):
    """``i, o`` (per sample), ``w, b`` (this node's parameter gradients, fixed), at the call's
    element and parameter sizes."""
    row, s = call.row, call.element_bytes
    tensors = row.layer.param_tensors(row.input_shapes[0])
    w = tensors[0] * call.param_bytes
    b = tensors[1] * call.param_bytes if len(tensors) > 1 else ZERO
    return numel(row.input_shapes[0]) * s, numel(row.output_shape) * s, w, b


def _args(v, batch, threads):
    return (v["cin"], v["cout"], v["k"], v["s"], v["p"], v["in"],
            int(batch) if batch is not None else 8, threads)


def avx2_forward_declines(row: LayerRow) -> bool:
    """Whether ``jit:avx2`` declines ``row``'s forward (``init_conf``: ``l_pad <= ur_w``, and a
    kernel wider than 7 needs no left/top padding or stride 1), so that oneDNN takes
    ``gemm:jit``."""
    v = _ints(row)
    if v is None:
        return False
    wide = v["k"][-1] > 7 and any(x != 0 for x in v["p"][-2:]) and any(x != 1 for x in v["s"][-2:])
    return v["p"][-1] > AVX2_UR_W or wide


def avx2_weights_declines(row: LayerRow) -> bool:
    """Whether ``jit:avx2`` declines a dense layer's weight gradient, so that oneDNN takes
    ``gemm:jit``: a kernel at least :data:`AVX2_BWD_WEIGHTS_KW` wide (``ONEDNN_VERBOSE``,
    Conv2d on 3 channels with kernel = stride: 8 to 13 ``jit:avx2``, 14, 15, 16 and 20
    ``gemm:jit``; ViT's 16x16 patch embedding; Conv1d on 1 and 3 channels, kernel = stride and
    stride 8 with padding 4: 8, 12, 13 ``jit:avx2``, 14 and 16 ``gemm:jit``,
    ``results/cpu_avx2_conv_backward.json``).  Not measured in 3-d, where the rule is not
    applied."""
    v = _ints(row)
    return v is not None and len(v["in"]) in (1, 2) and v["k"][-1] >= AVX2_BWD_WEIGHTS_KW


def avx2_forward_weight(row: LayerRow, wp, element_bytes: int):
    """The blocked weight of a dense ``jit:avx2`` forward: ``wp`` (both channel counts padded
    to 8), but with fewer than 8 input channels ``Ohwi8o``, which pads only the output channels:
    ``C_in rnd(C_out, 8) k s`` (``ONEDNN_VERBOSE``: ``wei:...:Acdb8a``; the allocator saw
    294,912 B for Conv2d 3->96 16x16, 73,728 B for 3->20 16x16, 30,720 B for 5->20 8x8, and the
    same for Conv1d 1->32 and 3->16, Conv3d 3->16 and 1->8; measured on the AVX2 EPYC, torch
    2.13.0+cpu, 2 threads)."""
    cin = sympy.sympify(row.input_shapes[0][0])
    if sympy.sympify(cin < AVX2_BLOCK) != sympy.true:
        return wp
    cout = sympy.sympify(row.layer.out_channels)
    return (cin * sympy.ceiling(cout / AVX2_BLOCK) * AVX2_BLOCK
            * sympy.Mul(*row.layer.kernel_size) / row.layer.groups * element_bytes)


def avx2_weight_input_channels(cin):
    """The input channels of ``jit:avx2``'s blocked weight gradient and of its copy of the
    source: 3 stay 3 (oneDNN's "flat" case, ``jcp.ic == 3``: the source is read as it is),
    every other count is padded to the 8-channel block (1, 2, 4 to 7 as well: measured)."""
    cin = sympy.sympify(cin)
    return cin if cin == 3 else sympy.ceiling(cin / AVX2_BLOCK) * AVX2_BLOCK


def avx2_weight_stages(call, scratch: int) -> tuple:
    """The weight gradient of a dense fp32 layer in ``jit:avx2`` (1-d, 2-d and 3-d without
    front/back padding), on top of the node's moment (which counts ``I``, ``W``, ``B``)::

        + Op + Ip' + Wp' + scratch + B    oneDNN's copies and gradients (its bias gradient
                                          stands where the moment counts ``B``)
        free Ip', Op, scratch
        + B + W                           ATen's gradients, then free Wp', oneDNN's bias

    so the second stage, ``Wp' + B`` above the moment, outweighs the first where the weight
    outweighs the activations (small maps, large kernels: patch embeddings).  ``Op`` is the
    output gradient with ``rnd(C_out, 8)`` channels; ``Ip'`` the source copied into 8-channel
    blocks (none for 3 input channels, :func:`avx2_weight_input_channels`, which a first layer
    does too: a 1-channel input is copied to 8); ``Wp' = C_in' rnd(C_out, 8) k 4``.
    Measured on the AVX2 EPYC (torch 2.13.0+cpu, oneDNN v3.12, 2 threads), every allocation of
    the backward alone: ``validation/conv_backward_avx2.py``,
    ``results/cpu_avx2_conv_backward.json`` (kernel = stride 2 to 8 on 1, 3, 5, 7 channels,
    3x3 on 1 to 32 channels, 1-d, 2-d, 3-d, batches 2 and 3)."""
    row, s = call.row, call.element_bytes
    ins, out = row.input_shapes[0], row.output_shape
    tensors = row.layer.param_tensors(ins)
    w = tensors[0] * call.param_bytes
    b = tensors[1] * call.param_bytes if len(tensors) > 1 else ZERO
    cin = avx2_weight_input_channels(ins[0])
    cout = sympy.ceiling(sympy.sympify(out[0]) / AVX2_BLOCK) * AVX2_BLOCK
    wp = cin * cout * sympy.Mul(*row.layer.kernel_size) * s
    op = cout * numel(out[1:]) * s
    ip = ZERO if cin == 3 else cin * numel(ins[1:]) * s
    return ((wp - w + scratch, op + ip), (wp + b, ZERO))


def avx2_strided_data_weight(row: LayerRow, wp, element_bytes: int):
    """The blocked weight of a strided data gradient in ``brgconv_strided:avx2``: the input
    channels padded to 8, the output channels (its reduction) not: ``rnd(C_in, 8) C_out k s``
    (measured: 10,240 B for Conv2d 1->20 4x4 stride 4, 40,960 B for 1, 3, 5, 7 -> 20 8x8,
    163,840 B for 1->20 16x16, 1-d and 3-d alike, ``results/cpu_avx2_conv_backward.json``;
    AVX2 EPYC, torch 2.13.0+cpu).  ``wp`` (both padded) where a size is symbolic."""
    cin, cout = sympy.sympify(row.input_shapes[0][0]), sympy.sympify(row.layer.out_channels)
    if not (cin.is_Integer and cout.is_Integer):
        return wp
    return (sympy.ceiling(cin / AVX2_BLOCK) * AVX2_BLOCK * cout
            * sympy.Mul(*row.layer.kernel_size) * element_bytes)


def avx2_weights_jit(row: LayerRow, batch, threads) -> bool:
    """Whether oneDNN takes ``jit:avx2`` for a dense layer's weight gradient on AVX2
    (:func:`symcnn.memory.pytorch.onednn.fp32.implementation`; not ``jit_1x1:avx2``, not
    ``gemm:jit``); False where a size is symbolic."""
    v = _ints(row)
    if v is None or avx2_weights_declines(row):
        return False
    args = _args(v, batch, threads)
    _, wei = onednn_fp32.implementation(*args[:6], threads=threads, batch=args[6],
                                        cpu=MEASURED_ON)
    return wei == "jit:avx2"


def channels_last_forward(call) -> tuple:
    """A dense 2-d forward on a channels-last input (``brg_conv_fwd:avx2``, ``acdb`` source and
    output): PyTorch copies the weight channels-last (``Wc = W``; none for a 1x1 kernel or one
    input channel, which are channels-last already), allocates the output ``O`` (plain,
    channels-last), then oneDNN books its scratchpad, ``4096 + 4120 threads`` B (1, 2 and 4
    threads), and reorders the weight to ``Acdb{8,16,24,32}a``, the output channels padded to its
    block: ``Wp = C_in rnd(C_out, blk) k 4``.  oneDNN picks ``blk`` (8 ``ocb``, ``ocb`` <= 4) by
    an efficiency estimate (``brg_blocking_t::est_eff``) that is not reproduced here: the rule
    takes the largest ``rnd(C_out, blk)`` of the candidates, exact when ``C_out`` is a multiple
    of 96 or at most 8 and an upper bound otherwise (measured: 3->96 16x16, 16->{8..768} 2x2,
    384->768 2x2, 64->64 3x3, 96->96 7x7, 40->100 3x3 and more, peak ``O + Wc + scratch + Wp``
    with the chosen block; AVX2 EPYC, torch 2.13.0+cpu).  The input is not copied.  Not
    measured in 1-d or 3-d, nor in 2 bytes: the dense rules stay there."""
    row, s = call.row, call.element_bytes
    layer, cin = row.layer, sympy.sympify(row.input_shapes[0][0])
    cout, kernel = sympy.sympify(layer.out_channels), sympy.Mul(*layer.kernel_size)
    ocb = sympy.Min(4, sympy.ceiling(cout / AVX2_BLOCK))
    padded = sympy.Max(*(sympy.ceiling(cout / (AVX2_BLOCK * m)) * AVX2_BLOCK * m
                         for m in range(1, 5)))
    if ocb.is_number:                      # only the blocks oneDNN tries
        padded = max(sympy.ceiling(cout / (AVX2_BLOCK * m)) * AVX2_BLOCK * m
                     for m in range(1, int(ocb) + 1))
    copy = ZERO if kernel == 1 or cin == 1 else cin * cout * kernel * s
    scratch = BRG_FWD_SCRATCH + BRG_FWD_SCRATCH_PER_THREAD * int(call.threads)
    return ((copy + scratch + cin * padded * kernel * s, ZERO),)


def gemm_weights(call) -> tuple:
    """A dense layer's weight gradient in ``gemm:jit`` (plain layout, no reorders): ``I + W +
    scratch + B`` then ``I + 2 W + 2 B`` (the weight and bias gradients, ATen's and oneDNN's;
    the input is the timeline's), the scratchpad of
    :func:`symcnn.memory.pytorch.onednn.gemm.weight_scratch`."""
    v = _ints(call.row)
    i, o, w, b = _sizes(call)
    scratch = gemm.weight_scratch(*_args(v, call.batch, call.threads), dilation=v["d"])
    return ((sympy.Integer(scratch), ZERO), (w + b, ZERO))


def gemm_forward(call) -> tuple:
    """A forward in ``gemm:jit``: ``cols + O`` then ``2 O`` (oneDNN's output, ATen's)."""
    v = _ints(call.row)
    i, o, w, b = _sizes(call)
    cols = gemm.forward_scratch(*_args(v, call.batch, call.threads), groups=v["g"],
                                dilation=v["d"])
    return ((sympy.Integer(cols), ZERO), (ZERO, o))


# ------------------------------------------------------------------------ oneDNN fp32 ----------

def onednn_stages(call, what: str) -> tuple:
    """The alternatives of a depthwise, grouped or dilated fp32 convolution on AVX2."""
    v = _ints(call.row)
    i, o, w, b = _sizes(call)
    s, blk, g = call.element_bytes, call.channel_block, v["g"]
    kk = 1
    for k in v["k"]:
        kk *= k
    if what == "jit_dw":
        wp = rnd_up(v["cin"], blk) * kk * s
    else:
        wp = g * rnd_up(v["cin"] // g, blk) * rnd_up(v["cout"] // g, blk) * kk * s
    ins = call.row.input_shapes[0]
    ip = sympy.ceiling(sympy.sympify(ins[0]) / blk) * blk * numel(ins[1:]) * s
    out = call.row.output_shape
    op = sympy.ceiling(sympy.sympify(out[0]) / blk) * blk * numel(out[1:]) * s
    reorder_in = ip if v["cin"] >= blk else ZERO
    blocked = what in ("jit_dw", "jit_grouped") or (what == "dilated"
                                                     and not avx2_forward_declines(call.row))
    if call.phase == "forward":
        if not blocked:
            return gemm_forward(call)
        return ((sympy.Integer(wp), reorder_in + op - o), (ZERO, op))
    args = _args(v, call.batch, call.threads)
    strided = any(x != 1 for x in v["s"])
    if what in ("jit_dw", "jit_grouped"):
        scratch = _grouped_weight_scratch(v, args[6], args[7]) if what == "jit_grouped" else 0
        stage_w = ((wp - w + scratch, op) if call.first else (wp - w + scratch, op + ip),)
    else:                                   # gemm:jit weights (plain)
        scratch = gemm.weight_scratch(*args, groups=g, dilation=v["d"])
        stage_w = ((sympy.Integer(scratch), ZERO), (w + b, ZERO))
    if call.first:
        return stage_w
    if what == "jit_dw" or (not strided and what in ("jit_grouped", "dilated")):
        data = ((wp - w - b, op + ip - i), (-w - b, ip))
    elif what == "jit_grouped":             # brgconv_strided:avx2: 3 I, as a dense layer
        dscratch = onednn_fp32.data_scratch(*args, cpu=MEASURED_ON)
        data = ((-w - b, 2 * i), (wp + dscratch - w - b, o))
    else:                                   # gemm:jit data (plain): I + cols, then 2 I
        cols = gemm.data_scratch(*args, groups=g, dilation=v["d"])
        data = ((cols - w - b, ZERO), (-w - b, i))
    return stage_w + data


def _grouped_weight_scratch(v, batch: int, threads: int) -> int:
    """``jit_avx2_convolution_bwd_weights_t``'s reducers with groups: ``njobs`` counts the
    blocks of every group (``init_balancers``)."""
    g, t = v["g"], int(threads)
    ic, oc = rnd_up(v["cin"] // g, 8), rnd_up(v["cout"] // g, 8)
    kk, od = 1, 1
    for k in v["k"]:
        kk *= k
    total = 4 * g * oc + ALIGN if (v["cout"] // g) % 8 else 0
    for job, njobs, red in ((8, g * oc // 8, batch), (kk * 64, g * (ic // 8) * (oc // 8),
                                                      batch * od)):
        groups_, per_group, ub = onednn_fp32._reduce_balancer(t, job, njobs, red, 1 << 21)
        if per_group > 1:
            total += 4 * groups_ * (per_group - 1) * ub * job + P4K + BARRIER * (groups_ + 1)
    return total


# ------------------------------------------------------------------------ native 2 bytes -------

def native_columns(row: LayerRow, s: int, groups: int = 1):
    """Bytes per sample of a native im2col buffer for one group (0 for a 1x1 stride-1 layer
    without padding, which needs none)."""
    layer, ins, out = row.layer, row.input_shapes[0], row.output_shape
    if all(k == 1 for k in layer.kernel_size) and all(st == 1 for st in layer.stride) \
            and not isinstance(layer.padding, str) and all(p == 0 for p in layer.padding):
        return ZERO
    return ins[0] / groups * sympy.Mul(*layer.kernel_size) * numel(out[1:]) * s


def native_stages(call, what: str) -> tuple:
    """PyTorch's own 2-byte kernels: the group loop or the dilated columns (see the module)."""
    row, s = call.row, call.element_bytes
    i, o, w, b = _sizes(call)
    tensors = row.layer.param_tensors(row.input_shapes[0])
    low = sympy.Add(*tensors) * s
    if what == "native_dilated":
        cols = native_columns(row, s) * 1        # one sample: fixed in the batch
        if call.phase == "forward":
            return ((cols, ZERO),)
        return ((low - w - b + cols, ZERO),)
    g = row.layer.groups
    col = native_columns(row, s, g)
    copy = i / g if call.batch != 1 else ZERO  # a group's input slice (contiguous at b = 1)
    if call.phase == "forward":
        return ((ZERO, copy + col), (ZERO, o))
    gout = o / g
    bias_sum = 2 * gout if len(tensors) > 1 else ZERO     # the bias gradient's fp32 sum
    out = [(low - w - b, gout + copy + col), (low - w - b, gout + copy + bias_sum)]
    out.append((2 * low - w - b, ZERO if call.first else i))   # the cat of the pieces
    return tuple(out)


# ------------------------------------------------------------------------ allowance ------------

def allowance(call, dense) -> tuple:
    """Every known kernel's stages for a layer no rule covers on this CPU: the dense rules'
    (``dense``: the alternatives of :func:`workspace._convolution` for it), oneDNN's ``gemm:jit``
    with every thread's columns, and PyTorch's group loop at the element size; the timeline
    takes the largest.  An upper bound by construction of the kernels measured, not a
    measurement: the report names the layer."""
    row, s = call.row, call.element_bytes
    i, o, w, b = _sizes(call)
    v = _ints(row)
    out = list(dense)
    g = row.layer.groups
    col = native_columns(row, s, g)
    every = sympy.Integer(0)
    if v is not None and len(v["in"]) < 3:
        args = _args(v, call.batch, call.threads)
        every = sympy.Integer(gemm.weight_scratch(*args, groups=g, dilation=v["d"])
                              + gemm.data_scratch(*args, groups=g, dilation=v["d"]))
    if call.phase == "forward":
        out += [(every, o + i / g + col), (ZERO, 2 * o)]
    else:
        out += [(every + sympy.Add(*row.layer.param_tensors(row.input_shapes[0])) * s,
                 o + 2 * i + col)]
    return tuple(out)

"""Scratchpads of oneDNN's bf16 convolution backward on the CPU (``torch.autocast`` bf16).

On an AVX-512-bf16 CPU, torch 2.13.0+cpu (oneDNN v3.12.0) runs the backward of a Conv1d/2d/3d
whose forward ran under ``torch.autocast("cpu", dtype=torch.bfloat16)`` in oneDNN, in the
channel-blocked layout for the weight gradient and channels-last (``acdb``) for the strided
data gradient.  Each primitive takes one *scratchpad* from PyTorch's CPU allocator while it
runs.  Its size is the sum of the buffers the primitive books in ``init_scratchpad``, each
booked entry taking ``size + alignment`` bytes (``registry_t::book`` in
``src/common/memory_tracking.hpp``: the alignment is ``max(data_align, perf_align)``, with
``perf_align`` 128 B by default or 4096 B (``P4K``) where the code says so).

All quantities below are element counts unless marked ``B``; ``t`` is the number of intra-op
threads (``torch.get_num_threads()``, oneDNN's ``dnnl_get_max_threads()``), ``rnd(x, m)`` rounds
``x`` up to a multiple of ``m``, ``ceil`` is integer ceiling division.  ``in``/``out`` spatial
sizes are per axis (``d, h, w``; missing axes are 1), ``pad`` the leading padding and ``r_pad =
max(0, (o - 1) s + k - (i + pad))`` the trailing padding of the last axis.

**Weight gradient**, implementation ``jit_bf16:avx512_core_bf16``
(``jit_avx512_core_bf16_convolution_bwd_weights_t``; ``init_conf``, ``balance`` and
``init_scratchpad`` of ``jit_avx512_core_bf16_conv_bwd_weights_kernel_f32`` in
``src/cpu/x64/jit_avx512_core_bf16_conv_kernel.cpp``).  ``C_i = rnd(C_in, 16)`` and
``ic_block = 16`` (if ``C_in < 16``, a "first convolution": ``C_i = ic_block = C_in`` and the
source is not transposed), ``C_o = rnd(C_out, 16)``, ``nb_ic = C_i / ic_block``, ``nb_oc = C_o /
16``.  oneDNN splits the threads into ``nthr_mb x nthr_oc_b x nthr_ic_b`` (``balance``: the
split with the least per-thread memory traffic, computed in float32, ties going to the later
candidate, over ``nthr_mb <= min(t, W)`` with ``W = b o_d`` in 3-d, ``b o_h`` in 2-d, ``b`` in 1-d
or for the "full spatial" 2-d harness (stride 1, same padding, ``C_i >= 128``, working set <=
48 KiB)).  With ``tr_pad = rnd(max(pad_w, r_pad + 1), 2)``, ``tr_iw = rnd(ceil(i_w / s_w) + tr_pad,
2) s_w`` and ``tr_ow = rnd(o_w, 2)``::

    weight_scratch = [2 (nthr_mb nb_ic tr_iw ic_block i_h i_d + tr_pad) + 128]   transposed src
                                                      (first convolution: 2 tr_pad + 128)
                   + [2 nthr_mb nb_oc tr_ow 16 o_h o_d + 128]                    transposed diff_dst
                   + [4 nthr_mb (C_o C_i k_d k_h k_w + C_o) + 128]               fp32 weight+bias
                                                                                 reduction buffers
                   + 8192                                       one barrier (simple_barrier::ctx_t,
                                                                4096 B, aligned to 4096)
                   + 4096 (t / nthr_oc_b + 1)   if nthr_oc_b > 1   (source-transpose barriers)
                   + 4096 (t / nthr_ic_b + 1)   if nthr_ic_b > 1   (diff_dst-transpose barriers)

(the fp32 reduction buffers are booked for every ``nthr_mb`` because PyTorch asks for bf16
weight and bias gradients).  It does not depend on the batch except through ``W`` (the split).

**Data gradient, stride > 1**, implementation ``brgconv_strided:avx512_core_bf16``
(``brgemm_convolution_bwd_strided_t``; ``init_conf`` and ``init_scratchpad`` in
``src/cpu/x64/jit_brgemm_conv_bwd_utils.cpp``, ``pd_t::init`` in
``src/cpu/x64/jit_brgemm_conv_bwd_strided.cpp``).  Every entry is aligned to 4096 B.  With the
padded diff_dst ``P = prod_axes (o + floor(max(0, k - 1 - pad) / s) + floor(max(0, k - 1 - r_pad)
/ s))`` (``odp ohp owp``), the brgemm blocking ``ic_block`` and ``iw_block`` (``M = iw_block /
s_w`` rows per brgemm call) and ``uneven = i_w mod s_w != 0`` (oneDNN's ``exec_trans`` with an
output buffer)::

    data_scratch = 4096 (4 + uneven)
                 + t [ 4120                            brgemm batch: rnd(40 bs, 4096) B, bs <= 102
                     + 2 rnd(P C_out, 4096)            diff_dst copy with its halo (bf16)
                     + 4096                            mask, rnd(blocks, 4096) B
                     + 4 ic_block M                    fp32 accumulator (LDC x M)
                     + uneven 2 rnd(iw_block s_w C_in, 4096) ]     output buffer (bf16)

``ic_block`` and ``iw_block`` come from oneDNN's blocking search (``brg_blocking_t::est_eff``, a
float cost model of the caches and of the thread balance), which is not reproduced here; the
default is the choice oneDNN makes whenever the threads have enough work: ``ic_block =
min(rnd(C_in, 16), 64)`` and ``iw_block = rnd(i_w, s_w)`` (the whole row).  With few batch
samples and several threads oneDNN may cut ``ic_block`` or ``iw_block`` to feed the threads,
and the formula then over-estimates (also on one thread for some 1x1 strided layers: Conv2d
64 -> 32, 1x1, stride 2 on 15 x 15 is 1,024 B per thread high at every batch,
``validation/results/cpu_conv_bf16_1x1.json``).  Both can be passed explicitly.

**Data gradient, stride 1**, ``jit_bf16:avx512_core_bf16``: no scratchpad (0 B) for every
measured shape.  **1x1 convolutions with stride 1** run both stages in ``jit_bf16_1x1``
(``jit_avx512_core_bf16_1x1_convolution``), whose scratchpads (depending on the batch as well)
are in :mod:`symcnn.memory.pytorch.onednn.bf16_1x1`: the functions here raise ``NotImplementedError`` there
(and ``weight_scratch`` for every 1x1 convolution, whose weight gradient takes
``jit_bf16_1x1`` where its input is exactly the output times the stride).

**Measured against** ``validation/results/cpu_conv_bf16.json`` (``validation/conv_bf16.py``:
38 shapes (1-d, 2-d, 3-d; C_in 1 to 128, C_out 16 to 128; kernels 1, 3, 5; strides 1, 2;
paddings 0 to 2), batches 1, 2, 4, 8, threads 1, 2, 4, plus the lecture's Conv3d 30->30 k3 s2 on
59 x 71 x 59 at batch 1; 459 measured points).
The tallies (rows exact to the byte) and every miss are in ``validation/README.md``
("The CPU kernel rules against their measurements"), recounted by
``tests/test_validation_tallies.py``; ``tests/test_onednn_bf16.py`` checks the rows one by one.

The functions take plain integers (``kernel``, ``stride``, ``padding`` an int or one per spatial
axis; ``in_spatial`` a tuple of 1 to 3 sizes) and return ints; oneDNN's thread split is a
search, so there is no closed form in sympy.  Groups and dilation are not supported.  The
numbers hold for this oneDNN (v3.12.0, PyTorch 2.13.0) on AVX-512 with bf16; other versions
and ISAs (AMX, AVX2) choose other implementations.
"""

from __future__ import annotations

from symcnn.memory.pytorch.onednn.common import ALIGN, BARRIER, BATCH_ELEMENT, P4K, padded_output
from symcnn.memory.pytorch.onednn.common import div_up as _div_up
from symcnn.memory.pytorch.onednn.common import float32 as _f
from symcnn.memory.pytorch.onednn.common import layer_shape as _shape
from symcnn.memory.pytorch.onednn.common import rnd_up as _rnd_up

#: ``full_spat_opt_working_set_size`` of the bf16 backward-weights kernel.
FULL_SPAT_WS = 48 * 1024


def implementation(c_in, c_out, kernel, stride, padding, in_spatial) -> tuple[str, str]:
    """oneDNN's (backward-data, backward-weights) implementations seen for this layer."""
    n, i, o, k, s, p, r = _shape(kernel, stride, padding, in_spatial)
    one_by_one = all(v == 1 for v in k[3 - n:]) and all(v == 0 for v in p[3 - n:])
    strided = any(v > 1 for v in s[3 - n:])
    wei = "jit_bf16_1x1:avx512_core_bf16" if one_by_one else "jit_bf16:avx512_core_bf16"
    if strided:
        dat = "brgconv_strided:avx512_core_bf16"
    else:
        dat = wei
    return dat, wei


def _balance(j: dict, nthr: int) -> tuple[int, int, int]:
    """``jit_avx512_core_bf16_conv_bwd_weights_kernel_f32::balance`` (ngroups = 1)."""
    src_size = j["mb"] * j["ic"] * j["id"] * j["ih"] * j["tr_iw"] * 2
    dst_size = j["mb"] * j["oc"] * j["od"] * j["oh"] * j["tr_ow"] * 2
    wei_size = j["oc"] * j["ic"] * j["kd"] * j["kh"] * j["kw"] * 4
    wcs = _f(_f(0.5 * (dst_size + src_size)) / wei_size)
    ratio = _f(j["nb_oc"] / j["nb_ic"])
    src_coef = max(_f(1.0 / ratio), 1.0)
    if wcs < 1.0:
        src_coef = _f(src_coef * 4.0)
    dst_coef = max(ratio, 1.0)
    wei_coef = max(wcs, 1.0)
    W = j["work"]

    def chain(x, *ops):
        for op, v in ops:
            x = _f(x * v) if op == "*" else _f(x / v)
        return x

    def cost(mbt, oct_, ict):
        src_v = chain(src_coef, ("*", _div_up(W, mbt)), ("*", 1), ("*", _div_up(j["nb_ic"], ict)),
                      ("*", j["mb"]), ("*", j["ic_block"]), ("*", j["id"]), ("*", j["ih"]),
                      ("*", j["tr_iw"]), ("/", W), ("/", j["sd"]), ("/", j["sh"]), ("/", j["sw"]))
        wei_v = chain(wei_coef, ("*", 1), ("*", _div_up(j["nb_oc"], oct_)),
                      ("*", _div_up(j["nb_ic"], ict)), ("*", j["kh"]), ("*", j["kw"]),
                      ("*", j["kd"]), ("*", j["ic_block"]), ("*", 16))
        dst_v = chain(dst_coef, ("*", _div_up(W, mbt)), ("*", 1), ("*", _div_up(j["nb_oc"], oct_)),
                      ("*", j["mb"]), ("*", 16), ("*", j["od"]), ("*", j["oh"]), ("*", j["tr_ow"]),
                      ("/", W))
        return _f(_f(src_v + dst_v) + wei_v)

    best, pick = cost(1, 1, 1), (1, 1, 1)
    for mbt in range(1, min(nthr, W) + 1):
        par = nthr // mbt
        for oct_ in range(1, min(par, j["nb_oc"]) + 1):
            ict = min(par // oct_, j["nb_ic"])
            c = cost(mbt, oct_, ict)
            if c <= best:
                best, pick = c, (mbt, oct_, ict)
    mbt, oct_, ict = pick
    if nthr // 2 < mbt < nthr:
        mbt = min(W, nthr)
    return mbt, oct_, ict


def weight_config(c_in, c_out, kernel, stride, padding, in_spatial, batch, threads) -> dict:
    """The quantities of ``init_conf`` that size the weight-gradient scratchpad."""
    n, i, o, k, s, p, r = _shape(kernel, stride, padding, in_spatial)
    if all(v == 1 for v in k[3 - n:]) and all(v == 0 for v in p[3 - n:]):
        raise NotImplementedError("1x1 convolutions run jit_bf16_1x1: see symcnn.memory.pytorch.onednn.bf16_1x1")
    first = c_in < 16
    ic = c_in if first else _rnd_up(c_in, 16)
    oc = _rnd_up(c_out, 16)
    ic_block = ic if first else 16
    l_pad, t_pad = p[2], p[1]
    r_pad, b_pad = max(0, r[2]), max(0, r[1])
    tr_pad = _rnd_up(max(l_pad, r_pad + 1), 2)
    tr_iw = _rnd_up(_div_up(i[2], s[2]) + tr_pad, 2) * s[2] if not first else i[2]
    tr_ow = _rnd_up(o[2], 2)
    ws = (ic_block * tr_iw * 2 + 16 * tr_ow * 2) * max(1, max(b_pad, t_pad))
    full_spat = (n < 3 and i[1] == o[1] and i[2] == o[2] and 1 not in (k[1], k[2])
                 and s[1] == 1 and s[2] == 1 and l_pad == k[2] // 2 and t_pad == k[1] // 2
                 and not first and ws <= FULL_SPAT_WS and ic >= 128)
    if n == 3:
        work = batch * o[0]
    elif full_spat:
        work = batch
    elif n == 2:
        work = batch * o[1]
    else:
        work = batch
    j = {"mb": batch, "ic": ic, "oc": oc, "ic_block": ic_block, "nb_ic": ic // ic_block,
         "nb_oc": oc // 16, "id": i[0], "ih": i[1], "iw": i[2], "od": o[0], "oh": o[1],
         "ow": o[2], "kd": k[0], "kh": k[1], "kw": k[2], "sd": s[0], "sh": s[1], "sw": s[2],
         "tr_iw": tr_iw, "tr_ow": tr_ow, "tr_pad": tr_pad, "work": work, "first": first}
    j["nthr_mb"], j["nthr_oc_b"], j["nthr_ic_b"] = _balance(j, int(threads))
    j["nthr"] = j["nthr_mb"] * j["nthr_oc_b"] * j["nthr_ic_b"]
    return j


def weight_scratch(c_in, c_out, kernel, stride, padding, in_spatial, batch, threads) -> int:
    """Bytes of the scratchpad of the bf16 weight-gradient primitive (``jit_bf16``)."""
    j = weight_config(c_in, c_out, kernel, stride, padding, in_spatial, batch, threads)
    mb_t, oc_t, ic_t, nthr = j["nthr_mb"], j["nthr_oc_b"], j["nthr_ic_b"], j["nthr"]
    total = 0
    if j["first"]:
        tr_src = j["tr_pad"]
    else:
        tr_src = mb_t * j["nb_ic"] * j["tr_iw"] * j["ic_block"] * j["ih"] * j["id"] + j["tr_pad"]
    total += 2 * tr_src + ALIGN
    if oc_t > 1:
        total += BARRIER * (nthr // oc_t) + BARRIER
    total += 2 * mb_t * j["nb_oc"] * j["tr_ow"] * 16 * j["oh"] * j["od"] + ALIGN
    if ic_t > 1:
        total += BARRIER * (nthr // ic_t) + BARRIER
    wei = j["oc"] * j["ic"] * j["kd"] * j["kh"] * j["kw"]
    total += 4 * mb_t * (wei + j["oc"]) + ALIGN
    total += BARRIER + BARRIER
    return total


def data_scratch(c_in, c_out, kernel, stride, padding, in_spatial, batch, threads,
                 ic_block: int | None = None, iw_block: int | None = None) -> int:
    """Bytes of the scratchpad of the bf16 data-gradient primitive.

    0 for stride 1 (``jit_bf16``); ``brgconv_strided``'s for stride > 1, with oneDNN's brgemm
    blocking ``ic_block`` and ``iw_block`` (default: ``min(rnd(C_in, 16), 64)`` and the whole
    row, ``rnd(i_w, s_w)``).  ``batch`` does not enter the formula (only oneDNN's blocking choice).
    """
    n, i, o, k, s, p, r = _shape(kernel, stride, padding, in_spatial)
    dat, _ = implementation(c_in, c_out, kernel, stride, padding, in_spatial)
    if dat.startswith("jit_bf16_1x1"):
        raise NotImplementedError("1x1 stride-1 convolutions run jit_bf16_1x1: see "
                                  "symcnn.memory.pytorch.onednn.bf16_1x1")
    if not dat.startswith("brgconv_strided"):
        return 0
    t = int(threads)
    padded = padded_output(n, o, k, s, p, r)
    if ic_block is None:
        ic_block = min(_rnd_up(c_in, 16), 64)
    if iw_block is None:
        iw_block = _rnd_up(i[2], s[2])
    m = iw_block // s[2]
    uneven = i[2] % s[2] != 0
    batch_buf = _div_up(_rnd_up(k[0] * k[1] * k[2] * BATCH_ELEMENT, P4K), BATCH_ELEMENT) \
        * BATCH_ELEMENT
    per = batch_buf + 2 * _rnd_up(padded * c_out, P4K) + P4K + 4 * ic_block * m
    if uneven:
        per += 2 * _rnd_up(iw_block * s[2] * c_in, P4K)
    return P4K * (4 + uneven) + t * per

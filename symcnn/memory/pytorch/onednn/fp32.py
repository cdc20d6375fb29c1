"""Scratchpads of oneDNN's fp32 convolution backward and ConvTranspose forward on the CPU.

On an AVX-512 CPU, torch 2.13.0+cpu (oneDNN v3.12.0) runs the backward of an fp32 Conv1d/2d/3d
(no autocast, batch >= 2 or a 3-d layer: see ``uses_im2col`` in :mod:`symcnn.memory.pytorch.workspace`) and the
forward of a ConvTranspose1d/2d/3d in oneDNN.  Each primitive takes one *scratchpad* from
PyTorch's CPU allocator while it runs; its size is the sum of what the primitive books in
``init_scratchpad``, each booking of ``n`` bytes taking ``n + alignment`` (``registry_t::book``
in ``src/common/memory_tracking.hpp``: the alignment is ``max(data_align, perf_align)``,
``perf_align`` 128 B by default, 4096 B (``P4K``/``PAGE_4K``) where the code says so; a
booking of 0 bytes takes nothing).  A barrier (``simple_barrier::ctx_t``) is 4096 B aligned to
4096, so ``n`` barriers take ``4096 (n + 1)``.  A nested primitive's scratchpad is booked as one
entry (``+ 128``).

Symbols: ``t`` the intra-op threads (``torch.set_num_threads``, oneDNN's
``dnnl_get_max_threads()``), ``b`` the batch, ``rnd(x, m)`` ``x`` rounded up to a multiple of
``m``, ``ceil`` integer ceiling division, ``C_o = rnd(C_out, 16)``, ``C_i = rnd(C_in, 16)``,
``nb_oc = C_o / 16``, ``nb_ic = C_i / 16``, ``K = k_d k_h k_w``.  Spatial sizes per axis
(missing axes are 1); ``r = (o - 1) s + k - (i + pad)`` the trailing padding.

**Weight gradient, ``jit:avx512_core``** (``jit_avx512_common_convolution_bwd_weights_t``;
``init_conf``, ``balance`` and ``init_scratchpad`` of ``jit_avx512_common_conv_bwd_weights_kernel_f32``
in ``src/cpu/x64/jit_avx512_common_conv_kernel.cpp``, the bias reducer of
``jit_avx512_common_convolution.hpp`` (``init_balancers``) and ``reduce_balancer_t::balance`` /
``cpu_reducer_t::conf_t::init_scratchpad`` in ``src/cpu/x64/cpu_reducer.cpp``).  Taken for every
layer that ``jit_1x1`` does not take, with ``C_in >= 16`` or ``C_in`` in 1..3 (a "first convolution": ``ic =
ic_block = C_in``).  ``balance`` splits the ``t`` threads into ``nthr_mb x nthr_oc_b x nthr_ic_b``
by an integer memory-cost model (two passes, over ``nthr_mb <= min(t, b o_d n_h)``,
``n_h = max(1, floor(o_h / 9))`` for the 2-d harness (2-d with ``o_h > 9``), else 1; see
:func:`_jit_balance`); then::

    weight_scratch = [4 (nthr_mb - 1)(C_o C_i' K + C_o) + 128 + 8192]  if nthr_mb > 1
                                       (per-thread weight+bias reduction buffers, one barrier)
                   + [4 C_o + 128]                        if C_out mod 16 != 0  (padded bias)
                   + [64 g (p - 1) J + 4096 + 4096 (g + 1)]  if p > 1   (bias reducer)

with ``C_i' = C_i`` (``C_in`` for a first convolution) and ``g`` groups of ``p`` threads, ``J``
jobs per group from ``reduce_balancer_t(nthr, 16, nb_oc, b, nthr 3 5 5 16 16)``.

**Weight gradient, ``jit_1x1:avx512_core``** (``jit_avx512_common_1x1_convolution_bwd_weights_t``;
``init_conf``/``balance``/``init_scratchpad`` in ``src/cpu/x64/jit_avx512_common_1x1_conv_kernel.cpp``,
``rtus_prepare``/``rtus_prepare_space_info`` in ``src/cpu/x64/jit_uni_1x1_conv_utils.hpp``).  1x1
kernels without padding, 1-d and 2-d (strided ones through "reduce to unit stride", rtus), and
3-d with stride 1 (rtus needs ``o s = i`` on every axis; other strided 1x1 layers go to
``jit:avx512_core``).  ``S`` = output spatial size, ``reduce_block = best_divider(S, 7, 16)``
(else a divider of ``o_w``), ``nb_reduce = ceil(S / reduce_block)``; ``balance`` (one pass,
:func:`_onexone_balance`) gives ``nthr_mb x nthr_oc_b x nthr_ic_b``, ``nthr`` their product::

    weight_scratch = [4 C_o + 128]                       if C_out mod 16 != 0  (padded bias)
                   + [4 (nthr_mb - 1) C_o C_i + 128 + 8192]   if nthr_mb > 1
                   + bias reducer (as above, with nthr)
                   + [4 nthr nb_bcast_blk S 16 + 128]    if strided (rtus space)

``nb_bcast_blk = best_divider(nb_ic, 5, nb_ic, false)``.  At 1 thread PyTorch did not call oneDNN
for any 1x1 stride-1 convolution of the grid (batches 2 to 8; no oneDNN verbose line, no
scratchpad): :func:`implementation` says ``None`` there.  That the native path stops at a batch
of 16 is PyTorch's ``use_mkldnn`` condition as recalled, not measured here.

**Data gradient, stride 1**: ``jit:avx512_core`` / ``jit_1x1:avx512_core`` book nothing (0 B;
``jit_avx512_common_conv_bwd_data_kernel_f32::init_scratchpad`` is empty).

**Data gradient, stride > 1, ``brgconv_strided:avx512_core``** (``brgemm_convolution_bwd_strided_t``;
``init_conf`` and ``init_scratchpad`` in ``src/cpu/x64/jit_brgemm_conv_bwd_utils.cpp``).  As in
bf16 (:mod:`symcnn.memory.pytorch.onednn.bf16`) but with 4-byte elements and no accumulator buffer (``use_buffer
= dst_dt != acc_dt``, false in fp32).  Each entry aligned to 4096; with the padded output
gradient ``P = prod_axes (o + floor(max(0, k-1-pad)/s) + floor(max(0, k-1-r)/s))`` (``odp ohp
owp``; ``r`` may be negative) and ``uneven = i_w mod s_w != 0``::

    data_scratch = 4096 (3 + uneven)
                 + t [ rnd(40 K, 4096) rounded up to 40    brgemm batch (4120 for K <= 102)
                     + 4 rnd(P C_out, 4096)                output-gradient copy with its halo
                     + rnd(blocks, 4096)  (= 4096)         per-block mask
                     + uneven 4 rnd(iw_block s_w C_in, 4096) ]   output buffer (exec_trans)

``iw_block`` is oneDNN's brgemm row block, by default the whole row ``rnd(i_w, s_w)``; it only
enters when ``uneven``.  ``ic_block`` does not enter (no accumulator buffer in fp32).  The batch
does not enter.

**ConvTranspose forward** (``brg_deconv:avx512_core+brgconv_strided:avx512_core``,
``brgemm_deconvolution_fwd_t`` in ``src/cpu/x64/jit_brgemm_deconv.cpp``): the strided
backward-data convolution of the transposed problem (``C_in``/``C_out`` swapped, the deconvolution's
output as the convolution's input) as a nested scratchpad: ``data_scratch(conv) + 128``.  When
the deconvolution's output width is not a multiple of the stride (``uneven`` above), oneDNN picks
``conv:any+brgconv_strided:avx512_core`` (the reference deconvolution around the same
convolution), which adds an fp32 output buffer: ``data_scratch(conv) + 128 + 4 b C_out
prod(out) + 128`` (this one does depend on the batch).

**Weight gradient, ``jit:avx2``** (``jit_avx2_convolution_bwd_weights_t``: ``init_balancers`` in
``src/cpu/x64/jit_avx2_convolution.hpp``, ``init_scratchpad`` in ``jit_avx2_conv_kernel_f32.cpp``),
taken for 4 to 15 input channels (oneDNN's AVX-512 kernel only takes 1 to 3 as a "first
convolution"), without front/back padding in 3-d.  8-channel blocks (``C_o8 = rnd(C_out, 8)``,
``C_i8 = rnd(C_in, 8)``) and two ``cpu_reducer_t`` over all ``t`` threads (``max_buffer_size =
2^21``)::

    weight_scratch = [4 C_o8 + 128]  if C_out mod 8 != 0
                   + reducer(job 8,          njobs C_o8/8,             reduction b)
                   + reducer(job 64 K,       njobs C_i8/8 C_o8/8,      reduction b o_d)

each ``reducer = 4 g (p - 1) J job + 4096 + 4096 (g + 1)`` when its ``p > 1`` (0 at 1 thread).
With 3 input channels the kernel reads the source as it is (``ic = ic_block = 3``, unpadded);
the buffers around the primitive (the copies, oneDNN's weight gradient beside ATen's) are
:func:`symcnn.memory.pytorch.convkinds.avx2_weight_stages`.

**Not modelled** (``NotImplementedError``): the weight gradient in ``x64:gemm:jit`` (3-d, 4 to 15
input channels, with depth padding; on the one measured layer, Conv3d 4->16 k3 p1 on 8^3, it is
``t 4 K prod(out) + 256``, 55,552 / 110,848 / 221,440 B at 1 / 2 / 4 threads, independent
of the batch, not derived from the source); transposed convolutions with stride 1; groups;
dilation; PyTorch's own (non-oneDNN) 1x1 path at one thread.

**Measured against** ``validation/results/cpu_conv_fp32.json`` (``validation/conv_fp32.py``:
41 convolution shapes (1-d, 2-d, 3-d; C_in 1 to 128, C_out 2 to 128; kernels 1, 3, 5; strides
1, 2; paddings 0 to 2) x batches 2, 4, 8 x threads 1, 2, 4; 10 ConvTranspose shapes; plus the
lecture's Conv3d 30->30 k3 s2 on 59 x 71 x 59 at batch 1 and 2 threads; plus 40 held-out
random convolutions (C_in 1-128, C_out 2-128, kernels 1/3/5, strides 1/2, batches 2-8, threads
1-4), drawn after the formulas were fitted to the grid; 500 rows).
The tallies (rows exact to the byte) and every miss are in ``validation/README.md``
("The CPU kernel rules against their measurements"), recounted by
``tests/test_validation_tallies.py``; ``tests/test_onednn_fp32.py`` checks the rows one by one.

The functions take plain integers (``kernel``, ``stride``, ``padding`` an int or one per spatial
axis; ``in_spatial`` a tuple of 1 to 3 sizes) and return ints.  The numbers hold for this oneDNN
(v3.12.0, PyTorch 2.13.0) on AVX-512 without AMX; other versions and ISAs choose other
implementations.
"""

from __future__ import annotations

from symcnn.memory.pytorch.onednn.common import ALIGN, BARRIER, BATCH_ELEMENT, P4K, balance_1x1, padded_output
from symcnn.memory.pytorch.onednn.common import axes as _axes
from symcnn.memory.pytorch.onednn.common import div_up as _div_up
from symcnn.memory.pytorch.onednn.common import layer_shape as _shape
from symcnn.memory.pytorch.onednn.common import rnd_up as _rnd_up

#: ``jit_avx512_common_conv_bwd_weights_kernel_f32::min_oh_reduce``.
MIN_OH_REDUCE = 9


def _is_1x1(n, k, p) -> bool:
    return all(v == 1 for v in k[3 - n:]) and all(v == 0 for v in p[3 - n:])


def implementation(c_in, c_out, kernel, stride, padding, in_spatial, threads=2, batch=2,
                   cpu="AVX512"):
    """oneDNN's (backward-data, backward-weights) implementations for this layer, as seen on
    the grid; ``(None, None)`` where PyTorch does not call oneDNN (a 1x1 stride-1 convolution at
    one thread and a batch below 16).  ``cpu="AVX2"``: the AVX2 kernels (``ONEDNN_VERBOSE`` on
    an AVX2-only CPU: ``jit:avx2``, ``jit_1x1:avx2``, ``brgconv_strided:avx2``)."""
    n, i, o, k, s, p, r = _shape(kernel, stride, padding, in_spatial)
    strided = any(v > 1 for v in s[3 - n:])
    one = _is_1x1(n, k, p)
    if one and not strided and int(threads) == 1 and int(batch) < 16:
        return None, None
    if cpu == "AVX2":
        return _avx2_implementation(n, i, o, s, p, r, strided, one)
    if strided:
        dat = "brgconv_strided:avx512_core"
    elif one:
        dat = "jit_1x1:avx512_core"
    else:
        dat = "jit:avx512_core"
    # rtus (reduce to unit stride) needs 1-d/2-d and o * s == i on every axis
    rtus = n < 3 and all(o[a] * s[a] == i[a] for a in range(3))
    if one and (not strided or rtus):
        wei = "jit_1x1:avx512_core"
    elif c_in >= 16 or c_in <= 3:
        wei = "jit:avx512_core"
    elif n == 3 and (p[0] > 0 or r[0] > 0):
        wei = "x64:gemm:jit"     # jit:avx2 takes no front/back padding
    else:
        wei = "jit:avx2"
    return dat, wei


def _avx2_implementation(n, i, o, s, p, r, strided, one):
    """:func:`implementation` on an AVX2 CPU: the same choices with the AVX2 kernels, whose
    plain ``jit:avx2`` weight kernel takes every channel count (no "first convolution" case)."""
    dat = "brgconv_strided:avx2" if strided else "jit_1x1:avx2" if one else "jit:avx2"
    rtus = n < 3 and all(o[a] * s[a] == i[a] for a in range(3))
    if one and (not strided or rtus):
        wei = "jit_1x1:avx2"
    elif n == 3 and (p[0] > 0 or r[0] > 0):
        wei = "x64:gemm:jit"
    else:
        wei = "jit:avx2"
    return dat, wei


# ---------------------------------------------------------------- reducer (bias) ---------------

def _reduce_balancer(nthr: int, job_size: int, njobs: int, reduction_size: int,
                     max_buffer_size: int) -> tuple[int, int, int]:
    """``reduce_balancer_t::balance`` (lock-free): (ngroups, nthr_per_group, njobs_per_group_ub)."""
    min_njobs_per_group = max(1, njobs // nthr)
    max_njobs_per_group = max(1, max_buffer_size // (nthr * job_size))
    ngroups = min(njobs // min_njobs_per_group, nthr)
    nthr_per_group = min(nthr // ngroups, reduction_size)
    njobs_per_group_ub = _div_up(njobs, ngroups)
    thread_complexity_ub = njobs * job_size * reduction_size
    for c_njobs in range(min_njobs_per_group, njobs):
        c_ngroups = min(njobs // c_njobs, nthr)
        c_nthr_per_group = min(nthr // c_ngroups, reduction_size)
        c_ub = _div_up(njobs, c_ngroups)
        if c_nthr_per_group > 1 and c_ub > max_njobs_per_group:
            continue
        c_thread_reduction_ub = _div_up(reduction_size, c_nthr_per_group)
        c_complexity = job_size * c_ub * (c_thread_reduction_ub + (c_nthr_per_group != 1))
        if c_complexity < thread_complexity_ub:
            ngroups, nthr_per_group, njobs_per_group_ub = c_ngroups, c_nthr_per_group, c_ub
            thread_complexity_ub = c_complexity
    return ngroups, nthr_per_group, njobs_per_group_ub


def _bias_reducer(nthr: int, nb_oc: int, mb: int) -> int:
    """Bytes of ``cpu_reducer_t<f32>::conf_t::init_scratchpad`` for the bias gradient."""
    ngroups, per_group, ub = _reduce_balancer(nthr, 16, nb_oc, mb, nthr * 3 * 5 * 5 * 16 * 16)
    if per_group == 1:
        return 0
    space = ngroups * (per_group - 1) * ub * 16 * 4
    return space + P4K + BARRIER * ngroups + BARRIER


# ---------------------------------------------------------------- jit:avx512_core weights --------

def _jit_balance(j: dict, nthreads: int) -> tuple[int, int, int]:
    """``jit_avx512_common_conv_bwd_weights_kernel_f32::balance`` (ngroups = 1, integers)."""
    two_d = j["harness"] == "2d"
    ih_reduce, oh_reduce = (j["ih"], j["oh"]) if two_d else (1, 1)
    ih_no, oh_no = (1, 1) if two_d else (j["ih"], j["oh"])
    nthr_oh_reduce = max(1, oh_reduce // MIN_OH_REDUCE)
    nb_ic, nb_oc, icb = j["nb_ic"], j["nb_oc"], j["ic_block"]

    def mem(mbt, oct_, ict):
        src = _div_up(j["mb"] * ih_reduce, mbt) * 1 * _div_up(nb_ic, ict) * icb * ih_no \
            * j["iw"] * j["id"]
        src = src // j["sd"] // j["sh"] // j["sw"]
        dst = _div_up(j["mb"] * oh_reduce, mbt) * _div_up(nb_oc, oct_) * 16 * oh_no * j["ow"] \
            * j["od"]
        wei = 8 * _div_up(nb_oc, oct_) * _div_up(nb_ic, ict) * j["kh"] * j["kw"] * j["kd"] \
            * icb * 16
        return src + dst + wei

    def comp(mbt, oct_, ict):
        return _div_up(j["mb"] * oh_reduce, mbt) * _div_up(nb_oc, oct_) * _div_up(nb_ic, ict)

    pick = (1, 1, 1)
    best = mem(*pick)
    mb_max = min(nthreads, j["mb"] * j["od"] * nthr_oh_reduce)
    cands = []
    for mbt in range(1, mb_max + 1):
        par = nthreads // mbt
        for oct_ in range(1, min(par, nb_oc) + 1):
            cands.append((mbt, oct_, min(par // oct_, nb_ic)))
    for c in cands:
        m = mem(*c)
        if m <= best:
            best, pick = m, c
    best_comp = comp(*pick)
    for c in cands:
        m, cc = mem(*c), comp(*c)
        opt1 = cc <= best_comp and m < 1.1 * best
        opt2 = 4 * cc <= 3 * best_comp
        if opt1 or opt2:
            best_comp, pick = cc, c
    mbt, oct_, ict = pick
    if nthreads // 2 < mbt < nthreads:
        mbt = min(j["mb"] * j["od"] * nthr_oh_reduce, nthreads)
    return mbt, oct_, ict


def jit_weight_config(c_in, c_out, kernel, stride, padding, in_spatial, batch, threads) -> dict:
    """The quantities of ``jit_avx512_common_conv_bwd_weights_kernel_f32::init_conf``."""
    n, i, o, k, s, p, r = _shape(kernel, stride, padding, in_spatial)
    first = c_in < 16
    ic = c_in if first else _rnd_up(c_in, 16)
    oc = _rnd_up(c_out, 16)
    icb = ic if first else 16
    if n == 3:
        harness = "3d"
    elif n == 2 and o[1] > MIN_OH_REDUCE:
        harness = "2d"
    else:
        harness = "mb"
    j = {"mb": int(batch), "ic": ic, "oc": oc, "ic_block": icb, "nb_ic": ic // icb,
         "nb_oc": oc // 16, "id": i[0], "ih": i[1], "iw": i[2], "od": o[0], "oh": o[1],
         "ow": o[2], "kd": k[0], "kh": k[1], "kw": k[2], "sd": s[0], "sh": s[1], "sw": s[2],
         "harness": harness, "first": first}
    j["nthr_mb"], j["nthr_oc_b"], j["nthr_ic_b"] = _jit_balance(j, int(threads))
    j["nthr"] = j["nthr_mb"] * j["nthr_oc_b"] * j["nthr_ic_b"]
    return j


def _jit_weight_scratch(c_in, c_out, kernel, stride, padding, in_spatial, batch, threads):
    j = jit_weight_config(c_in, c_out, kernel, stride, padding, in_spatial, batch, threads)
    total = 0
    if j["nthr_mb"] > 1:
        wei = j["oc"] * j["ic"] * j["kd"] * j["kh"] * j["kw"]
        total += 4 * (wei + j["oc"]) * (j["nthr_mb"] - 1) + ALIGN + 2 * BARRIER
    if c_out % 16:
        total += 4 * j["oc"] + ALIGN
    total += _bias_reducer(j["nthr"], j["nb_oc"], j["mb"])
    return total


# ---------------------------------------------------------------- jit_1x1 weights ---------------

def _best_divider(value: int, min_divider: int, max_divider: int, find_max: bool) -> int:
    """``best_divider`` of ``jit_uni_1x1_conv_utils.hpp`` (float loss ratios)."""
    import struct

    def f32(x):
        return struct.unpack("f", struct.pack("f", float(x)))[0]

    max_divider = max(1, min(max_divider, value))
    min_divider = max(1, min(min_divider, max_divider))
    min_loss, x = float("inf"), max_divider
    for d in range(max_divider, min_divider - 1, -1):
        ru = _rnd_up(value, d)
        loss = f32(f32(ru - value) / ru)
        if (find_max and loss < min_loss) or (not find_max and loss <= min_loss):
            min_loss, x = loss, d
    return x


def onexone_weight_config(c_in, c_out, kernel, stride, padding, in_spatial, batch,
                          threads) -> dict:
    """The quantities of ``jit_avx512_common_1x1_conv_kernel_t::init_conf`` (backward weights)."""
    n, i, o, k, s, p, r = _shape(kernel, stride, padding, in_spatial)
    strided = any(v > 1 for v in s[3 - n:])
    if strided and n == 3:
        raise ValueError("a strided 3-d 1x1 convolution runs jit:avx512_core")
    ic, oc = _rnd_up(c_in, 16), _rnd_up(c_out, 16)
    S = o[0] * o[1] * o[2]       # with rtus the source is the strided (reduced) image
    iw = o[2]
    rb = _best_divider(S, 7, 16, True)
    if S % rb:
        rb = _best_divider(iw, 4, iw, False)
    if rb > 256:
        rb = 1
    nb_reduce = _div_up(S, rb)
    nb_load, nb_bcast = oc // 16, ic // 16
    mb, nthreads = int(batch), int(threads)

    def mem(mbt, oct_, ict):   # strides are 1 after rtus
        return (_div_up(mb * nb_reduce, mbt) * _div_up(nb_bcast, ict) * 16 * rb
                + _div_up(mb * nb_reduce, mbt) * _div_up(nb_load, oct_) * 16 * rb
                + 12 * _div_up(nb_load, oct_) * _div_up(nb_bcast, ict) * 256)

    mbt, oct_, ict = balance_1x1(mem, nthreads, mb, nb_reduce, nb_load, nb_bcast)
    return {"ic": ic, "oc": oc, "is": S, "reduce_block": rb, "nb_reduce": nb_reduce,
            "nb_load": nb_load, "nb_bcast": nb_bcast, "mb": mb, "strided": strided,
            "nthr_mb": mbt, "nthr_oc_b": oct_, "nthr_ic_b": ict, "nthr": mbt * oct_ * ict,
            "nb_bcast_blocking": _best_divider(nb_bcast, 5, nb_bcast, False)}


def _onexone_weight_scratch(c_in, c_out, kernel, stride, padding, in_spatial, batch, threads):
    j = onexone_weight_config(c_in, c_out, kernel, stride, padding, in_spatial, batch, threads)
    total = 0
    if c_out % 16:
        total += 4 * j["oc"] + ALIGN
    if j["nthr_mb"] > 1:
        total += 4 * j["oc"] * j["ic"] * (j["nthr_mb"] - 1) + ALIGN + 2 * BARRIER
    total += _bias_reducer(j["nthr"], j["nb_load"], j["mb"])
    if j["strided"]:
        total += 4 * j["nthr"] * j["nb_bcast_blocking"] * j["is"] * 16 + ALIGN
    return total


# ---------------------------------------------------------------- jit:avx2 weights --------------

def _avx2_weight_scratch(c_in, c_out, kernel, stride, padding, in_spatial, batch, threads):
    """``jit_avx2_convolution_bwd_weights_t``: padded bias and two ``cpu_reducer_t`` (bias and
    weights, ``max_buffer_size = 1 << 21``), 8-channel blocks (``jit_avx2_convolution.hpp``,
    ``init_balancers``; ``jit_avx2_conv_kernel_f32.cpp``, ``init_scratchpad``)."""
    n, i, o, k, s, p, r = _shape(kernel, stride, padding, in_spatial)
    t, mb = int(threads), int(batch)
    ic = c_in if c_in == 3 else _rnd_up(c_in, 8)
    icb = ic if c_in == 3 else 8
    oc = _rnd_up(c_out, 8)
    nb_ic, nb_oc = ic // icb, oc // 8
    total = 4 * oc + ALIGN if c_out % 8 else 0
    for job, njobs, red in ((8, nb_oc, mb), (k[0] * k[1] * k[2] * icb * 8, nb_ic * nb_oc,
                                             mb * o[0])):
        g, per_group, ub = _reduce_balancer(t, job, njobs, red, 1 << 21)
        if per_group > 1:
            total += 4 * g * (per_group - 1) * ub * job + P4K + BARRIER * (g + 1)
    return total


def weight_scratch(c_in, c_out, kernel, stride, padding, in_spatial, batch, threads,
                   cpu="AVX512") -> int:
    """Bytes of the scratchpad of the fp32 weight-gradient primitive (``jit:avx512_core``,
    ``jit_1x1:avx512_core`` or ``jit:avx2``) on ``cpu``."""
    _, wei = implementation(c_in, c_out, kernel, stride, padding, in_spatial, threads, batch,
                            cpu)
    if wei == "jit:avx2":
        return _avx2_weight_scratch(c_in, c_out, kernel, stride, padding, in_spatial, batch,
                                    threads)
    if wei == "jit:avx512_core":
        return _jit_weight_scratch(c_in, c_out, kernel, stride, padding, in_spatial, batch,
                                   threads)
    if wei in ("jit_1x1:avx512_core", "jit_1x1:avx2"):
        # jit_1x1:avx2 is not derived: the AVX-512 kernel's buffers stand for it, an
        # allowance that was 572 B above the one AVX2 layer measured (the zoo's unet2d outc)
        return _onexone_weight_scratch(c_in, c_out, kernel, stride, padding, in_spatial, batch,
                                       threads)
    raise NotImplementedError(f"weight gradient in {wei} is not modelled")


# ---------------------------------------------------------------- strided data -------------------

def data_scratch(c_in, c_out, kernel, stride, padding, in_spatial, batch, threads,
                 iw_block: int | None = None, cpu="AVX512") -> int:
    """Bytes of the scratchpad of the fp32 data-gradient primitive: 0 for stride 1
    (``jit:avx512_core``, ``jit_1x1:avx512_core``), ``brgconv_strided``'s for stride > 1.
    ``iw_block`` (default the whole row, ``rnd(i_w, s_w)``) only enters when ``i_w`` is not a
    multiple of ``s_w``.  ``batch`` only selects PyTorch's path (see :func:`implementation`)."""
    n, i, o, k, s, p, r = _shape(kernel, stride, padding, in_spatial)
    dat, _ = implementation(c_in, c_out, kernel, stride, padding, in_spatial, threads, batch,
                            cpu)
    if dat is None:
        raise NotImplementedError("PyTorch runs this 1x1 convolution natively (no oneDNN)")
    if not dat.startswith("brgconv_strided"):
        return 0
    t = int(threads)
    padded = padded_output(n, o, k, s, p, r)
    uneven = i[2] % s[2] != 0
    if iw_block is None:
        iw_block = _rnd_up(i[2], s[2])
    kk = k[0] * k[1] * k[2]
    batch_buf = _div_up(_rnd_up(kk * BATCH_ELEMENT, P4K), BATCH_ELEMENT) * BATCH_ELEMENT
    per = batch_buf + 4 * _rnd_up(padded * c_out, P4K) + P4K
    if uneven:
        per += 4 * _rnd_up(iw_block * s[2] * c_in, P4K)
    return P4K * (3 + uneven) + t * per


# ---------------------------------------------------------------- transposed forward -------------

def transposed_implementation(c_in, c_out, kernel, stride, padding, in_spatial) -> str:
    """oneDNN's implementation of a ConvTranspose forward (``c_in``/``c_out`` as in
    ``nn.ConvTranspose*d``)."""
    n, out, k, s, p = _transposed_shape(kernel, stride, padding, in_spatial)
    if all(v == 1 for v in s):
        raise NotImplementedError("stride-1 transposed convolutions are not modelled")
    if out[-1] % s[-1]:
        return "conv:any+brgconv_strided:avx512_core"
    return "brg_deconv:avx512_core+brgconv_strided:avx512_core"


def _transposed_shape(kernel, stride, padding, in_spatial):
    sp = [int(v) for v in in_spatial]
    n = len(sp)
    k, s, p = _axes(kernel, n, "kernel"), _axes(stride, n, "stride"), _axes(padding, n, "padding")
    out = [(sp[a] - 1) * s[a] - 2 * p[a] + k[a] for a in range(n)]
    return n, out, k, s, p


def transposed_forward_scratch(c_in, c_out, kernel, stride, padding, in_spatial, batch,
                               threads) -> int:
    """Bytes of the scratchpad of an fp32 ConvTranspose forward (output_padding 0, groups 1):
    the nested backward-data convolution of the transposed problem, plus (reference
    deconvolution, uneven output width) an fp32 output buffer."""
    impl = transposed_implementation(c_in, c_out, kernel, stride, padding, in_spatial)
    n, out, k, s, p = _transposed_shape(kernel, stride, padding, in_spatial)
    conv = data_scratch(c_out, c_in, k, s, p, out, max(2, int(batch)), threads)
    total = conv + ALIGN
    if impl.startswith("conv:any"):
        vol = 1
        for v in out:
            vol *= v
        total += 4 * int(batch) * c_out * vol + ALIGN
    return total

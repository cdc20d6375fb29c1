"""Scratchpads of oneDNN's bf16 1x1 convolutions on the CPU (``torch.autocast`` bf16).

On an AVX-512-bf16 CPU, torch 2.13.0+cpu (oneDNN v3.12.0) runs a Conv1d/2d/3d with a 1x1 kernel
and no padding, called under ``torch.autocast("cpu", dtype=torch.bfloat16)``, in
``jit_bf16_1x1:avx512_core_bf16`` (``jit_avx512_core_bf16_1x1_convolution_fwd_t`` /
``_bwd_data_t`` / ``_bwd_weights_t``, ``src/cpu/x64/jit_avx512_core_bf16_1x1_convolution.hpp``) for

* the **forward** and the **weight gradient** of every stride-1 layer and of strided 1-d and 2-d
  layers whose input is exactly ``o s`` on every axis ("reduce to unit stride", rtus:
  ``rtus_prepare`` in ``src/cpu/x64/jit_uni_1x1_conv_utils.hpp`` copies the strided pixels into a
  dense per-thread buffer and runs the stride-1 kernel on it);
* the **data gradient** of every stride-1 layer (the strided data gradient takes
  ``brgconv_strided``, :mod:`symcnn.memory.pytorch.onednn.bf16`).

PyTorch (ideep) hands oneDNN the channel-blocked layout (``nCw16c``/``nChw16c``/``nCdhw16c``) for
contiguous inputs, with the channels padded to multiples of 16 (so a layer with fewer than 16
channels runs in the *same* kernel, on zero-padded 16-channel blocks: C_in 1 to 8 and C_out 2
to 8 were measured).  Each primitive takes one *scratchpad* from PyTorch's CPU allocator while
it runs; its size is the sum of the buffers ``init_scratchpad`` of
``jit_avx512_core_bf16_1x1_conv_kernel_t`` (``src/cpu/x64/jit_avx512_core_bf16_1x1_conv_kernel.cpp``)
and ``rtus_prepare_space_info`` book, each booking of ``n`` bytes taking ``n + 128``
(``registry_t::book``, ``src/common/memory_tracking.hpp``; a barrier takes 4096 aligned to
4096, so ``4096 + 4096``).

Symbols: ``t`` the intra-op threads (``torch.set_num_threads``), ``b`` the batch, ``rnd(x, m)``
rounds ``x`` up to a multiple of ``m``, ``ceil`` integer ceiling division, ``C_i = rnd(C_in,
16)``, ``C_o = rnd(C_out, 16)``, ``S`` the *output* spatial size ``o_d o_h o_w`` (with rtus the
kernel sees the strided input as a dense ``S``-pixel image), ``beta = 1`` with a bias, else 0.
oneDNN first picks a register block ``ur`` (``init_conf``: 6 to 9 pixels, 5 to 6 for 128 <
``load`` < 256 channels with 10 < ``o_d o_h`` < 28; a divisor of ``o_d o_h`` (of ``S`` when
``o_d o_h < 14``) where possible, see :func:`_ur`), ``nb_bcast = ceil(S / ur)``, and may lower
the thread count to ``t' = min(t, max(nb_bcast, nb_load))`` when the whole bf16 source is under
8 KiB and ``nb_bcast nb_load < t`` (``is_adjust_thread``).

**Forward** (``load = C_o``, ``reduce = C_i``, ``nb_load = C_o / 16``)::

    forward_scratch = 4 t' rnd(S, ur) L + 128          key_conv_store_wsp: fp32 accumulators
                    + [2 C_o + 128]   if beta and C_out mod 16 != 0   (padded bf16 bias)
                    + [2 t' (C_i / 16) S 16 + 128]   if rtus            (key_conv_rtus_space)

with ``L = rnd(ceil(C_o / g), 16)`` the output channels of one thread group, ``g = ceil(t' /
ceil(t' / load_grp_count))``: ``load_grp_count`` is 1 when ``b >= t`` (``best_divider(t,
ceil(t / (b nb_bcast)), ...)``), otherwise it comes from oneDNN's float cost model over the
``t`` possible group counts (``calc_job_cost``; :func:`_load_grp_count`), which splits the
channels between threads when the batch is small.  With ``b >= t`` (and no thread adjustment)
this is simply ``4 t rnd(S, ur) C_o + 128`` (+ bias, rtus): an fp32 image of the output of ``t``
whole samples, twice the bf16 output of ``t`` samples.  It does not grow with the batch beyond
``t``, but below ``t`` the batch enters through ``load_grp_count`` and ``t'``.

**Data gradient, stride 1** (``load = C_i``, ``reduce = C_o``, ``nb_load = C_i / 16``): the same
store buffer with the roles swapped::

    data_scratch = 4 t' rnd(S, ur) L + 128,   L = rnd(ceil(C_i / g), 16)

(no bias, no rtus).

**Weight gradient** (``init_conf``'s backward-weights branch and ``balance``): the reduction
runs over the ``S`` pixels, in blocks of ``reduce_block`` (``best_divider(S, 8, 16)`` in steps of
2, or of ``o_w``; up to 256 with the "permw" transposition, used when ``o_h > 14`` and ``o_w > 14``,
and in 3-d only for ``C_out <= 64``).  ``balance`` splits the ``t`` threads into ``nthr_mb x nthr_oc_b
x nthr_ic_b`` by an integer memory-cost model (:func:`weight_config`), ``n`` = their product::

    weight_scratch = 4 nthr_mb (C_o C_i + beta C_o) + 128         fp32 weight+bias reduction
                                                                  buffers (bf16 diff_weights:
                                                                  booked for every nthr_mb)
                   + 8192                      if nthr_mb > 1     (reduction barrier)
                   + [2 C_o + 128]             if beta and C_out mod 16 != 0  (padded bias)
                   + [2 n rnd(S, 2) 16 nb_load_blk + 128]   unless permw  (transposed diff_dst)
                   + [2 n rnd(S, 2) 16 nb_bcast_blk + 128]  unless permw  (transposed src)
                   + [2 n nb_bcast_blk S 16 + 128]          if rtus       (strided src copy)

``nb_load_blk = best_divider(C_o / 16, 16, C_o / 16)`` (``C_o / 16`` up to 16 blocks) and
``nb_bcast_blk = best_divider(C_i / 16, 5, C_i / 16)`` (the smallest divisor of ``C_i / 16`` that
is at least 5, else ``C_i / 16``).

**Measured against** ``validation/results/cpu_conv_bf16_1x1.json`` (``validation/conv_bf16_1x1.py``:
31 1x1 layers (1-d, 2-d, 3-d; C_in 1 to 160, C_out 2 to 160; strides 1 and 2; 4 to 100 pixels a
side; with and without bias) x batches 1, 2, 4, 8 x threads 1, 2, 4; 372 rows).
The tallies (rows exact to the byte) and every miss are in ``validation/README.md``
("The CPU kernel rules against their measurements"), recounted by
``tests/test_validation_tallies.py``; ``tests/test_onednn_bf16_1x1.py`` checks the rows one by one.

The other 48 rows (strided 3-d layers, and 1-d/2-d layers with an odd input: Conv2d 64->32 on
15x15, Conv2d 3->16 on 33x31, Conv1d 24->24 on 41) run ``jit_bf16:avx512_core_bf16`` for the
forward and the weight gradient; their forward booked nothing but the padded bf16 bias (``2 C_o
+ 128`` where ``C_out mod 16 != 0``, 192 B for the Conv1d 24->24) in all 48.

Not modelled (``NotImplementedError``): layers that do not run ``jit_bf16_1x1`` (kernels other
than 1, padding, strided 3-d layers and strided layers with ``i != o s``, the strided data
gradient: see :func:`implementation`), channels-last inputs (``nxc`` layouts book other sizes),
groups, dilation.  The numbers hold for this oneDNN (v3.12.0, PyTorch 2.13.0) on AVX-512 with
bf16 and without AMX, and a 1 MiB L2 per core (``L2``: only enters for ``C_in C_out >= 2^19``).
"""

from __future__ import annotations

from symcnn.memory.pytorch.onednn.common import ALIGN, BARRIER, balance_1x1
from symcnn.memory.pytorch.onednn.common import div_up as _div_up
from symcnn.memory.pytorch.onednn.common import float32 as _f
from symcnn.memory.pytorch.onednn.common import layer_shape as _shape
from symcnn.memory.pytorch.onednn.common import rnd_up as _rnd_up

#: per-core L2 of the measured CPU (``platform::get_per_core_cache_size(2)``).
L2 = 1024 * 1024
#: bf16
BF16 = 2
#: oneDNN's name of the bf16 1x1 kernels.
IMPLEMENTATION = _IMPL = "jit_bf16_1x1:avx512_core_bf16"


def _best_divider(value: int, min_divider: int, max_divider: int, find_max: bool,
                  step: int = 1) -> int:
    """``best_divider`` of ``jit_uni_1x1_conv_utils.hpp`` (float loss ratios)."""
    max_divider = max(1, min(max_divider, value))
    min_divider = max(1, min(min_divider, max_divider))
    min_loss, x = float("inf"), max_divider
    d = max_divider
    while d >= min_divider:
        ru = _rnd_up(value, d)
        loss = _f(_f(ru - value) / ru)
        if (find_max and loss < min_loss) or (not find_max and loss <= min_loss):
            min_loss, x = loss, d
        d -= step
    return x


def _geometry(c_in, c_out, kernel, stride, padding, in_spatial):
    n, i, o, k, s, p, r = _shape(kernel, stride, padding, in_spatial)
    if any(v != 1 for v in k) or any(v != 0 for v in p):
        raise NotImplementedError("only 1x1 kernels without padding run jit_bf16_1x1")
    strided = any(v > 1 for v in s)
    rtus = strided and n < 3 and all(o[a] * s[a] == i[a] for a in range(3))
    return n, i, o, s, strided, rtus


def implementation(c_in, c_out, kernel, stride, padding, in_spatial) -> dict:
    """oneDNN's implementations seen for this 1x1 layer: ``{"forward", "backward_data",
    "backward_weights"}``.  Strided 3-d layers and strided layers with ``i != o s`` (no rtus)
    run their forward and weight gradient in ``jit_bf16:avx512_core_bf16`` (not modelled here:
    its forward books no scratchpad on the grid, its weight gradient is
    :func:`symcnn.memory.pytorch.onednn.bf16.weight_scratch`'s kernel)."""
    n, i, o, s, strided, rtus = _geometry(c_in, c_out, kernel, stride, padding, in_spatial)
    one = _IMPL if (not strided or rtus) else "jit_bf16:avx512_core_bf16"
    return {"forward": one,
            "backward_data": "brgconv_strided:avx512_core_bf16" if strided else _IMPL,
            "backward_weights": one}


def _ur(spatial: int, os_: int, load_dim: int, mb: int, nthr: int) -> int:
    """``init_conf``'s register blocking ``jcp.ur`` (forward / backward data; bf16 ISA, blocked
    layout so ``reduce_dim`` has no tail)."""
    if (8 * mb) // nthr >= 1:
        max_regs, min_regs = 9, 6
        if 128 < load_dim < 256 and 10 < spatial < 28:
            max_regs, min_regs = 6, 5
    else:
        max_regs, min_regs = 30, 9
    ur = 1
    for w in range(max_regs, min_regs - 1, -1):
        if (spatial >= 14 and spatial % w == 0) or (spatial < 14 and os_ % w == 0):
            ur = w
            break
    if ur == 1:
        ur = min(max_regs, os_)
        tail = os_ % max_regs
        for w in range(max_regs, min_regs - 1, -1):
            wt = os_ % w
            if wt > tail or wt == 0:
                ur, tail = w, wt
                if wt == 0:
                    break
    return ur


def _load_grp_count(mb, nthr, load_dim, reduce_dim, bcast_dim, ur) -> int:
    """``init_conf``'s ``jcp.load_grp_count`` (forward / backward data, one group)."""
    nb_bcast = _div_up(bcast_dim, ur)
    nb_load = _div_up(load_dim, 16)
    load_size = load_dim * reduce_dim
    bcast_size = mb * bcast_dim * reduce_dim
    if nthr <= 28 and mb < nthr and nb_load * nb_bcast > nthr:
        calc_koef = _f(0.01)
        best_cost = float("inf")
        ratio = _f(_f(load_size) / _f(bcast_size))
        best = nthr if ratio > 1 else 1

        def job_cost(lb, tg, mem_k):
            bb = mb * _div_up(nb_bcast, tg)
            calc = _f(_f(_f(bb * ur) * _f(lb * 16)) * reduce_dim)
            mem = _f(_f(bb * ur + lb * 16) * reduce_dim)
            return _f(_f(calc_koef * calc) + _f(mem_k * mem))

        for ilgc in range(nthr):
            lgc = nthr - ilgc if ratio > 1 else ilgc + 1
            min_lb, max_lb = nb_load // lgc, _div_up(nb_load, lgc)
            min_tg, max_tg = nthr // lgc, _div_up(nthr, lgc)
            mem_k = _f(1.0) if max_tg == 1 else _f(1.3)
            if nthr % lgc < nb_load % lgc:
                cost = job_cost(max_lb, min_tg, mem_k)
            else:
                cost = max(job_cost(max_lb, max_tg, mem_k), job_cost(min_lb, min_tg, mem_k))
            if cost < best_cost:
                best, best_cost = lgc, cost
        lgc = best
    else:
        lgc = _div_up(nthr, mb * nb_bcast)
        lgc = _best_divider(nthr, lgc, 2 * lgc, False)
    expl_bcast = (8 * mb) // nthr >= 1
    if expl_bcast and bcast_dim <= 64 and load_size >= L2 // BF16:
        lgc = max(lgc, 4)
    elif bcast_dim <= 49 and mb <= nthr and load_dim > 512 and load_dim // reduce_dim >= 4:
        lgc = max(lgc, 2)
    return lgc


def _store_config(load_dim, reduce_dim, S, spatial, batch, threads) -> dict:
    """The store buffer's quantities for the forward (load = C_o) or backward data (load = C_i)."""
    mb, t = int(batch), int(threads)
    ur = _ur(spatial, S, load_dim, mb, t)
    lgc = _load_grp_count(mb, t, load_dim, reduce_dim, S, ur)
    nthr = t
    nb_bcast, nb_load = _div_up(S, ur), load_dim // 16
    if BF16 * mb * S * reduce_dim < 8192 and 1 < t and nb_bcast * nb_load < t:
        nthr = min(t, max(nb_bcast, nb_load))
    grp = _div_up(nthr, _div_up(nthr, lgc))
    per_thread = _rnd_up(_div_up(load_dim, grp), 16)
    return {"ur": ur, "load_grp_count": lgc, "nthr": nthr, "grp_count": grp,
            "max_load_per_thread": per_thread,
            "store": 4 * nthr * _rnd_up(S, ur) * per_thread + ALIGN}


def forward_config(c_in, c_out, kernel, stride, padding, in_spatial, batch, threads) -> dict:
    n, i, o, s, strided, rtus = _geometry(c_in, c_out, kernel, stride, padding, in_spatial)
    if strided and not rtus:
        raise NotImplementedError("this strided 1x1 layer does not run jit_bf16_1x1")
    ci, co = _rnd_up(c_in, 16), _rnd_up(c_out, 16)
    S = o[0] * o[1] * o[2]
    j = _store_config(co, ci, S, o[0] * o[1], batch, threads)
    j.update({"ic": ci, "oc": co, "os": S, "rtus": rtus})
    return j


def forward_scratch(c_in, c_out, kernel, stride, padding, in_spatial, batch, threads, *,
                    bias: bool = True) -> int:
    """Bytes of the scratchpad of the bf16 1x1 forward (``jit_bf16_1x1``)."""
    j = forward_config(c_in, c_out, kernel, stride, padding, in_spatial, batch, threads)
    total = j["store"]
    if bias and c_out % 16:
        total += BF16 * j["oc"] + ALIGN
    if j["rtus"]:
        total += BF16 * j["nthr"] * (j["ic"] // 16) * j["os"] * 16 + ALIGN
    return total


def data_scratch(c_in, c_out, kernel, stride, padding, in_spatial, batch, threads) -> int:
    """Bytes of the scratchpad of the bf16 1x1 stride-1 data gradient (``jit_bf16_1x1``); the
    strided data gradient runs ``brgconv_strided`` (:func:`symcnn.memory.pytorch.onednn.bf16.data_scratch`)."""
    n, i, o, s, strided, rtus = _geometry(c_in, c_out, kernel, stride, padding, in_spatial)
    if strided:
        raise NotImplementedError("the strided data gradient runs brgconv_strided "
                                  "(symcnn.memory.pytorch.onednn.bf16.data_scratch)")
    ci, co = _rnd_up(c_in, 16), _rnd_up(c_out, 16)
    S = o[0] * o[1] * o[2]
    return _store_config(ci, co, S, i[0] * i[1], batch, threads)["store"]


def weight_config(c_in, c_out, kernel, stride, padding, in_spatial, batch, threads) -> dict:
    """The quantities of ``init_conf`` (backward weights) and ``balance``."""
    n, i, o, s, strided, rtus = _geometry(c_in, c_out, kernel, stride, padding, in_spatial)
    if strided and not rtus:
        raise NotImplementedError("this strided 1x1 layer does not run jit_bf16_1x1")
    ic, oc = _rnd_up(c_in, 16), _rnd_up(c_out, 16)
    S = o[0] * o[1] * o[2]
    ow, oh = o[2], o[1]
    permw = oh > 14 and ow > 14 and (n < 3 or oc <= 64)
    if permw:
        rb = _best_divider(S, 7, min(256, S), True, 2)
    else:
        rb = _best_divider(S, 8, 16, True, 2)
    if S % rb:
        rb = _best_divider(ow, 4, ow, permw, 2)
    if rb > 256:
        rb = 1
    if not permw:
        rb = _rnd_up(rb, 2)
    nb_reduce = _div_up(S, rb)
    nb_load, nb_bcast = oc // 16, ic // 16
    mb, nthreads = int(batch), int(threads)
    out_k = 4 * max(1, oc // ic)          # strides are 1 after rtus

    def mem(mbt, oct_, ict):
        return (_div_up(mb * nb_reduce, mbt) * _div_up(nb_bcast, ict) * 16 * rb
                + _div_up(mb * nb_reduce, mbt) * _div_up(nb_load, oct_) * 16 * rb
                + out_k * _div_up(nb_load, oct_) * _div_up(nb_bcast, ict) * 256)

    mbt, oct_, ict = balance_1x1(mem, nthreads, mb, nb_reduce, nb_load, nb_bcast)
    nb_load_blk = _best_divider(nb_load, 16, nb_load, False)
    nb_bcast_blk = _best_divider(nb_bcast, 5, nb_bcast, False)
    return {"ic": ic, "oc": oc, "os": S, "permw": permw, "reduce_block": rb,
            "nb_reduce": nb_reduce, "nb_load": nb_load, "nb_bcast": nb_bcast, "rtus": rtus,
            "nthr_mb": mbt, "nthr_oc_b": oct_, "nthr_ic_b": ict, "nthr": mbt * oct_ * ict,
            "nb_load_blocking": nb_load_blk, "nb_bcast_blocking": nb_bcast_blk}


def weight_scratch(c_in, c_out, kernel, stride, padding, in_spatial, batch, threads, *,
                   bias: bool = True) -> int:
    """Bytes of the scratchpad of the bf16 1x1 weight gradient (``jit_bf16_1x1``)."""
    j = weight_config(c_in, c_out, kernel, stride, padding, in_spatial, batch, threads)
    nthr, mbt = j["nthr"], j["nthr_mb"]
    total = 0
    if bias and c_out % 16:
        total += BF16 * j["oc"] + ALIGN
    total += 4 * mbt * (j["oc"] * j["ic"] + (j["oc"] if bias else 0)) + ALIGN
    if mbt > 1:
        total += 2 * BARRIER
    if not j["permw"]:
        rows = _rnd_up(j["os"], 2) * 16
        total += BF16 * nthr * rows * j["nb_load_blocking"] + ALIGN
        total += BF16 * nthr * rows * j["nb_bcast_blocking"] + ALIGN
    if j["rtus"]:
        total += BF16 * nthr * j["nb_bcast_blocking"] * j["os"] * 16 + ALIGN
    return total

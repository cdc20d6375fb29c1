"""Scratchpads of oneDNN's ``gemm:jit`` fp32 convolution (``gemm_convolution_fwd_t``,
``..._bwd_data_t``, ``..._bwd_weights_t``) on the CPU, in PyTorch's plain (``ncsp``) layout.

oneDNN takes this implementation where its direct kernels decline a layer: on an AVX2 CPU
(``ONEDNN_VERBOSE``, torch 2.13.0, oneDNN v3.12) the weight gradient of every dilated
convolution, the data gradient of a strided dilated one, the forward of a dilated one whose
left padding exceeds ``jit:avx2``'s register block (``ur_w = 3``), and every pass of a grouped
convolution whose channels per group are not multiples of 8.  The sizes are those booked in
``init_conf`` of ``src/cpu/gemm_convolution_utils.cpp`` (``key_conv_gemm_col``,
``key_conv_wei_reduction``), each booking taking ``n + 128`` bytes; ``g`` groups, ``ic``/``oc``
channels per group, ``ks`` the kernel volume, ``os``/``is`` the output/input spatial sizes,
``t`` the threads::

    forward          t' * ic_block * ks * os_block * 4       (im2col columns)
    backward data    t' * ic * ks * os * 4                   (columns), + the gradient's copy
    backward weights t' * ic * ks * os * 4 + t' * 4 * W      (columns, per-thread weights)

``t' = t`` where oneDNN threads over the batch and groups ("outer threading"), else 1; ``W``
the weight's bytes (oneDNN books ``nthr * weights_d.size()`` floats: four times the bytes).
The forward's ``os_block``/``ic_block`` come from oneDNN's cache heuristic (``try_cfg``/
``explore_cfg``, float arithmetic, ported in :func:`_forward_blocks`), which reads the CPU's
per-core L2 size (``L2_BYTES``: 512 KiB on the AMD EPYC measured); no columns when the layer
needs no im2col (1x1, stride 1, no padding).

Measured: ``validation/fitting/`` (``results/cpu_avx2_fitting.json``) and single layers
(``tests/test_kernels_avx2.py`` runs them live on an AVX2 CPU).
"""

from __future__ import annotations

import math

from symcnn.memory.pytorch.onednn.common import ALIGN, div_up, float32, rnd_up

#: The per-core L2 cache of the CPU the rules were measured on (bytes): oneDNN's forward
#: blocking heuristic reads it (``platform::get_per_core_cache_size(2)``).
L2_BYTES = 512 * 1024
#: ``gemm_thrld``: oneDNN's per-thread gemm size below which it threads over batch and groups.
GEMM_THRESHOLD = 64 * 1024
#: fp32 values per AVX2 register (``simd_w``).
SIMD_W = 8


def _book(nbytes: int) -> int:
    return nbytes + ALIGN if nbytes > 0 else 0


def _shape(c_in, c_out, groups, kernel, stride, padding, dilation, in_spatial):
    """Per-axis sizes ``(n, ic, oc, ks, is, os, o, s)`` of a (grouped, dilated) convolution."""
    n = len(in_spatial)
    ax = lambda v: [int(x) for x in v] if isinstance(v, (list, tuple)) else [int(v)] * n  # noqa: E731
    k, s, p, d = ax(kernel), ax(stride), ax(padding), ax(dilation)
    i = [int(v) for v in in_spatial]
    o = [(i[a] + 2 * p[a] - d[a] * (k[a] - 1) - 1) // s[a] + 1 for a in range(n)]
    # oneDNN's is/os are the last two axes (ih iw, oh ow); od is apart
    return (n, c_in // groups, c_out // groups, math.prod(k), math.prod(i[-2:]),
            math.prod(o[-2:]), o, s, k, p)


def needs_columns(ks, is_, os, stride) -> bool:
    """oneDNN skips im2col only for a 1x1 stride-1 layer with the input's own size."""
    return not (ks == 1 and is_ == os and all(v == 1 for v in stride))


def forward_scratch(c_in, c_out, kernel, stride, padding, in_spatial, batch, threads,
                    groups=1, dilation=1, l2_bytes=L2_BYTES) -> int:
    """Bytes of ``gemm:jit``'s forward scratchpad (its im2col columns)."""
    n, ic, oc, ks, is_, os, o, s, k, p = _shape(c_in, c_out, groups, kernel, stride, padding,
                                                dilation, in_spatial)
    if not needs_columns(ks, is_, os, s):
        return 0
    od = o[0] if n == 3 else 1
    os2 = os
    mb, t = int(batch), int(threads)
    sh, sw = (s[-2] if n >= 2 else 1), s[-1]
    spatial = mb * groups * od * os2
    K = ic * ks
    applicable = n != 3 and (spatial >= t * SIMD_W or os2 < mb * groups * od
                             or (sw == 1 and K <= 0.05 * oc))
    if not applicable:
        nthr = t if _forward_outer(os2, ic, oc, mb, groups, od, t) else 1
        return _book(4 * nthr * ic * ks * os2)
    osb, icb = _forward_blocks(ic, oc, ks, os2, spatial, sh, sw, t, l2_bytes // 4)
    return _book(4 * t * icb * ks * osb)


def _forward_outer(os, ic, oc, mb, groups, od, t) -> bool:
    outer = groups * mb * od
    outer_eff = float32(outer / rnd_up(outer, t))
    inner = div_up(os, SIMD_W) * div_up(oc, SIMD_W)
    inner_eff = float32(inner / rnd_up(inner, t))
    return (os // t < 512 and (od != 1 or mb != 1 or groups > 2)
            and (outer_eff / inner_eff >= 1.0 or (os * ic * oc) // t < GEMM_THRESHOLD))


def _sat(lo, hi, v):
    return max(lo, min(hi, v))


def _max_icb(c: dict, ocb, osb, oc_per_thr, os_per_thr):
    """``calc_max_icb``: the input-channel block that fits the L2 cache."""
    L2, ks, ic = c["L2"], c["ks"], c["ic"]
    block_out, inp_row, col_row = ocb * osb, c["sh"] * c["sw"] * osb, ks * osb
    if osb >= os_per_thr:
        m = L2 // (inp_row + col_row)
        if ocb < oc_per_thr:
            m = min(m, (L2 - block_out) // (col_row + ks * ocb))
    else:
        m = (L2 - block_out) // (inp_row + col_row + ks * oc_per_thr)
    if m < ic:
        m = (L2 - block_out) // (inp_row + col_row + ks * oc_per_thr)
    return m


def _thread_balance(c: dict, nthr_oc, max_oc, min_oc, max_os):
    """``thr_disb``: the smallest over the largest thread's share of the work."""
    oc, t, spatial = c["oc"], c["t"], c["spatial"]
    min_os = div_up(spatial, div_up(t, nthr_oc))
    if oc % nthr_oc > t % nthr_oc:
        max_thr = max_oc * max_os
    else:
        max_thr = max(max_oc * min_os, min_oc * max_os)
    min_os2 = max(1, spatial // div_up(t, nthr_oc))
    if t % nthr_oc > oc % nthr_oc:
        min_thr = min_oc * min_os2
    else:
        min_thr = min(max_oc * min_os2, min_oc * (spatial // (t // nthr_oc)))
    return float32(min_thr / max_thr)


def _try_cfg(c: dict, best: dict, nthr_oc, ocb, osb) -> None:
    """``try_cfg``: the efficiency estimate of one blocking; keeps the best in ``best``."""
    ic, oc, ks, t, sh, sw = c["ic"], c["oc"], c["ks"], c["t"], c["sh"], c["sw"]
    K = ic * ks
    max_oc, min_oc = div_up(oc, nthr_oc), max(1, oc // nthr_oc)
    max_os = div_up(c["spatial"], t // nthr_oc)
    ocb, osb = _sat(8, max_oc, ocb), _sat(SIMD_W, max_os, osb)
    thr_disb = _thread_balance(c, nthr_oc, max_oc, min_oc, max_os)
    oc_per_thr, os_per_thr = max_oc, max_os
    ocb = min(oc_per_thr, ocb)
    os_max = min(c["os"], os_per_thr)
    osb = min(os_max, osb)
    mic = _max_icb(c, ocb, osb, oc_per_thr, os_per_thr)
    cost = 20 if mic < 1 else 1
    icb = max(1, ic // div_up(ic, max(1, mic)))
    kb = icb * ks
    out_ops = cost * oc_per_thr * rnd_up(os_per_thr, SIMD_W) \
        * (1 if icb == ic else 2 * div_up(ic, icb) - 1)
    osb_al = rnd_up(osb, SIMD_W)
    inp_size = ic * rnd_up(os_per_thr * sh * sw, SIMD_W)
    tail = float32(osb_al / osb)
    col_ops = float32(cost * (ks * inp_size * tail + ks * inp_size * tail))
    if sw != 1:
        col_ops = float32(col_ops * 8)
    wei_ops = cost * oc_per_thr * rnd_up(K, SIMD_W)
    mem_eff = float32(float32(os_per_thr / SIMD_W) * oc_per_thr * K
                      / (cost * ks * inp_size + col_ops + wei_ops + out_ops))
    gemm_eff = float32(osb * ocb * kb / (oc_per_thr * os_per_thr * K))
    calc_eff = float32(float32(osb / SIMD_W) * ocb * kb
                       / (osb_al * kb + ocb * rnd_up(kb, SIMD_W) + ocb * osb_al))
    prod = float32(float32(thr_disb ** 8) * float32(oc_per_thr / rnd_up(oc_per_thr, ocb))
                   * float32(os_max / rnd_up(os_max, osb)) * float32(ic / rnd_up(ic, icb))
                   * float32(osb / rnd_up(osb, 3 * SIMD_W)) * mem_eff
                   * float32(gemm_eff ** 0.5) * calc_eff)
    eff = float32(prod ** (1.0 / (8 + 1 + 1 + 1 + 1 + 1 + 0.5 + 1)))
    if eff > best["eff"]:
        best.update(eff=eff, ocb=ocb, osb=osb, icb=icb)


def _explore(c: dict, best: dict, nthr_oc, ocb, osb) -> None:
    """``explore_cfg``: the blocking and its neighbours at multiples of 8 and 48."""
    _try_cfg(c, best, nthr_oc, ocb, osb)
    for o, s in (((ocb // 8) * 8, (osb // 48) * 48), (rnd_up(ocb, 8), (osb // 48) * 48),
                 (rnd_up(ocb, 8), rnd_up(osb, SIMD_W)), (rnd_up(ocb, 8), rnd_up(osb, 48))):
        _try_cfg(c, best, nthr_oc, o, s)


def _forward_blocks(ic, oc, ks, os, spatial, sh, sw, t, L2):
    """``(os_block, ic_block)`` of oneDNN's forward blocking (the ``nthr_oc`` loop of
    ``init_conf``, "Note 1" to "Note 3")."""
    c = {"ic": ic, "oc": oc, "ks": ks, "os": os, "spatial": spatial, "sh": sh, "sw": sw,
         "t": t, "L2": L2}
    best = {"eff": 0.0, "ocb": 1, "osb": 1, "icb": ic}
    for nthr_oc in range(1, t + 1):
        max_oc_thr, max_os_thr = div_up(oc, nthr_oc), div_up(spatial, t // nthr_oc)
        _try_cfg(c, best, nthr_oc, max_oc_thr, max_os_thr)
        if best["ocb"] == max_oc_thr and best["osb"] == max_os_thr and best["icb"] == ic:
            continue
        a_k, b_k = sh * sw + ks, ks * max_oc_thr
        ocb = _sat(8, max_oc_thr, (L2 - a_k * ic * SIMD_W - b_k * ic) // SIMD_W)
        osb = _sat(SIMD_W, max_os_thr, (L2 - b_k * ic) // (a_k * ic + ocb))
        _explore(c, best, nthr_oc, ocb, osb)
        icb_max = max(1, L2 // (2 * 8 * a_k + 2 * b_k))
        if icb_max < ic:
            icb = ic // max(1, ic // icb_max)
            osb = max(1, (L2 - 2 * b_k * icb) // (2 * icb * a_k))
            ocb = L2 // 2 // osb
            if ocb > max_oc_thr:
                ocb = max_oc_thr
                osb = _sat(SIMD_W, max_os_thr, (L2 - b_k * icb) // (a_k * icb + ocb))
            elif osb > max_os_thr:
                osb = max_os_thr
                ocb = _sat(8, max_oc_thr, (L2 - a_k * icb * osb - b_k * icb) // osb)
            _explore(c, best, nthr_oc, ocb, osb)
        osb = max(SIMD_W, ((L2 - b_k * ic) // (a_k * ic + max_oc_thr)) // SIMD_W * SIMD_W)
        _explore(c, best, nthr_oc, max_oc_thr, osb)
    return best["osb"], best["icb"]


def data_scratch(c_in, c_out, kernel, stride, padding, in_spatial, batch, threads,
                 groups=1, dilation=1) -> int:
    """Bytes of ``gemm:jit``'s backward-data scratchpad (columns; ncsp)."""
    n, ic, oc, ks, is_, os, o, s, k, p = _shape(c_in, c_out, groups, kernel, stride, padding,
                                                dilation, in_spatial)
    if not needs_columns(ks, is_, os, s):
        return 0
    mb, t = int(batch), int(threads)
    outer = groups * mb
    outer_eff = float32(outer / rnd_up(outer, t))
    inner = div_up(is_, SIMD_W) * div_up(ic, SIMD_W)
    inner_eff = float32(inner / rnd_up(inner, t))
    threaded = (os // t < 512 or ks < 64) and (mb != 1 or groups > 2) \
        and (outer_eff / inner_eff >= 1.0 or (is_ * ic * oc) // t < GEMM_THRESHOLD)
    return _book(4 * (t if threaded else 1) * ic * ks * os)


def weight_scratch(c_in, c_out, kernel, stride, padding, in_spatial, batch, threads,
                   groups=1, dilation=1) -> int:
    """Bytes of ``gemm:jit``'s backward-weights scratchpad (per-thread weights, columns)."""
    n, ic, oc, ks, is_, os, o, s, k, p = _shape(c_in, c_out, groups, kernel, stride, padding,
                                                dilation, in_spatial)
    mb, t = int(batch), int(threads)
    threaded = os // t < 256 and (mb != 1 or groups > 2)
    nthr = t if threaded else 1
    weights = 4 * groups * ic * oc * ks
    cols = 4 * nthr * ic * ks * os if needs_columns(ks, is_, os, s) else 0
    return _book(4 * nthr * weights) + _book(cols)

"""What oneDNN's scratchpad bookkeeping has in common for :mod:`symcnn.memory.pytorch.onednn.fp32` and
:mod:`symcnn.memory.pytorch.onednn.bf16`: its alignments (``registry_t::book`` in
``src/common/memory_tracking.hpp``), integer rounding, and a layer's per-axis sizes."""

from __future__ import annotations

import struct
from collections.abc import Sequence

#: oneDNN's simple_barrier::ctx_t on Linux: 4096 B, aligned to 4096 B.
BARRIER = 4096
#: ``registry_t::book``'s default performance alignment.
ALIGN = 128
#: ``P4K``/``PAGE_4K``: the brgemm convolutions' and the reducer's alignment and rounding.
P4K = 4096
#: ``sizeof(brgemm_batch_element_t)`` (inferred from the measurements: 4096 rounds to 4120).
BATCH_ELEMENT = 40


def float32(x: float) -> float:
    """Round to IEEE float32 (oneDNN's ``float`` arithmetic in ``balance``)."""
    return struct.unpack("f", struct.pack("f", float(x)))[0]


def div_up(a: int, b: int) -> int:
    return -(-a // b)


def rnd_up(a: int, b: int) -> int:
    return div_up(a, b) * b


def axes(value, n: int, name: str) -> list[int]:
    if isinstance(value, Sequence):
        vals = [int(v) for v in value]
        if len(vals) != n:
            raise ValueError(f"{name} has {len(vals)} values for {n} spatial axes")
        return vals
    return [int(value)] * n


def layer_shape(kernel, stride, padding, in_spatial):
    """Per-axis (d, h, w) input, output, kernel, stride, padding, end padding; 1 where absent.

    >>> layer_shape(3, 2, 1, (16, 16))[2]     # the output sizes
    [1, 8, 8]
    """
    sp = [int(v) for v in in_spatial]
    n = len(sp)
    if not 1 <= n <= 3:
        raise ValueError("in_spatial must have 1 to 3 sizes")
    k, s, p = axes(kernel, n, "kernel"), axes(stride, n, "stride"), axes(padding, n, "padding")
    o = [(sp[a] + 2 * p[a] - k[a]) // s[a] + 1 for a in range(n)]
    if min(o) < 1:
        raise ValueError("empty output")
    r = [(o[a] - 1) * s[a] + k[a] - (sp[a] + p[a]) for a in range(n)]
    fill = 3 - n
    one, zero = [1] * fill, [0] * fill
    return (n, one + sp, one + o, one + k, one + s, zero + p, zero + r)


def padded_output(n: int, o, k, s, p, r) -> int:
    """The output (gradient) volume with the halo a strided backward-data kernel pads it with
    (``odp ohp owp`` of ``jit_brgemm_conv_bwd_utils.cpp``), from :func:`layer_shape`'s axes."""
    volume = 1
    for a in range(3 - n, 3):
        volume *= o[a] + max(0, k[a] - 1 - p[a]) // s[a] + max(0, k[a] - 1 - r[a]) // s[a]
    return volume


def balance_1x1(mem, nthreads: int, mb: int, nb_reduce: int, nb_load: int,
                nb_bcast: int) -> tuple[int, int, int]:
    """The thread split ``(nthr_mb, nthr_oc_b, nthr_ic_b)`` of a 1x1 weight-gradient kernel's
    ``balance``: the least ``mem(mbt, oct, ict)`` (ties to the later candidate), then the
    minibatch split widened to every thread when it already uses more than half."""
    pick = (1, 1, 1)
    best = mem(*pick)
    for mbt in range(1, min(nthreads, mb * nb_reduce) + 1):
        par = nthreads // mbt
        for oct_ in range(1, min(par, nb_load) + 1):
            candidate = (mbt, oct_, min(par // oct_, nb_bcast))
            m = mem(*candidate)
            if m <= best:
                best, pick = m, candidate
    mbt, oct_, ict = pick
    if nthreads // 2 < mbt < nthreads:
        mbt = min(mb, nthreads)
    return mbt, oct_, ict

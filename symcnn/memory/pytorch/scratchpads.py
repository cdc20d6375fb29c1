"""oneDNN's scratchpads of a convolution on the CPU and the padded bias its blocked forward
books, from the rules derived from oneDNN's source in :mod:`symcnn.memory.pytorch.onednn`
(fp32, bf16, the bf16 1x1 kernels), and the facts of the CPU those rules were measured on
(its capability, channel block, thread count); :mod:`symcnn.memory.pytorch.workspace` puts
them into each kernel's transients."""

from __future__ import annotations

import functools

import sympy

from symcnn.analysis.rows import LayerRow
from symcnn.memory.pytorch.onednn import bf16 as onednn_bf16
from symcnn.memory.pytorch.onednn import bf16_1x1 as onednn_bf16_1x1
from symcnn.memory.pytorch.onednn import fp32 as onednn_fp32
from symcnn.memory.pytorch.onednn.common import ALIGN

#: The CPU the kernel rules of :mod:`symcnn.memory.pytorch.workspace`, of this module and of the
#: ``onednn_*`` modules were measured and
#: derived on, as PyTorch names its dispatch level (``torch.backends.cpu.get_cpu_capability()``):
#: an AVX-512 CPU with avx512_bf16 and no AMX (``validation/results/*.json`` say which).  On
#: another capability oneDNN and ATen pick other kernels (AVX2: 8-channel blocks, no oneDNN
#: bf16 convolutions), so these rules are not exact there.
RULES_CPU_CAPABILITY = "AVX512"
#: Channels per block of oneDNN's blocked layout: 16 fp32 values fill an AVX-512 register.
CHANNEL_BLOCK = 16
#: The block per CPU capability (``nChw16c`` on AVX-512, ``nChw8c`` on AVX2: 8 fp32 values
#: fill an AVX2 register).
CHANNEL_BLOCKS = {"AVX512": CHANNEL_BLOCK, "AVX2": 8}
#: Smallest backward-data scratchpad of a strided oneDNN convolution seen on the CPU (bytes).
STRIDED_SCRATCH = 61_488
#: Scratchpad of a transposed convolution's forward (oneDNN's backward-data kernel), per
#: element size: the same for every ConvTranspose1d/2d/3d of the zoo in fp32; the smallest
#: seen in bf16 (49,840 to 51,376 B).
TRANSPOSED_SCRATCH = {4: 61_616, 2: 49_840}
#: Intra-op threads of the CPU the rules were measured on (``torch.get_num_threads()``);
#: oneDNN's per-thread buffers scale with it.
THREADS = 2


#: Largest channel count or spatial size the oneDNN rules are evaluated at: their blocking
#: searches step through a size (``best_divider`` of a 1x1 convolution's width), which at
#: 10^37 would not end; a layer past this gets no scratchpad, as a layer without a rule.
RULE_SIZE_LIMIT = 2 ** 22


def _conv_arguments(row: LayerRow, batch, threads: int):
    """The plain-integer arguments of :mod:`symcnn.memory.pytorch.onednn.fp32` / :mod:`symcnn.memory.pytorch.onednn.bf16`
    for ``row``'s convolution, or None where they have no rule (symbolic sizes, string
    padding, groups, dilation, output padding, sizes past :data:`RULE_SIZE_LIMIT`)."""
    layer, ins = row.layer, row.input_shapes[0]
    sizes = (ins[0], layer.out_channels, *layer.kernel_size, *layer.stride, *ins[1:])
    if isinstance(layer.padding, str) or not all(sympy.sympify(v).is_Integer for v in sizes) \
            or layer.groups != 1 or any(d != 1 for d in layer.dilation) \
            or any(v != 0 for v in getattr(layer, "output_padding", ())) \
            or any(int(v) > RULE_SIZE_LIMIT for v in (ins[0], layer.out_channels, *ins[1:])):
        return None
    return (int(ins[0]), int(layer.out_channels), [int(k) for k in layer.kernel_size],
            [int(v) for v in layer.stride], [int(v) for v in layer.padding],
            tuple(int(v) for v in ins[1:]), int(batch) if batch is not None else 8, threads)


def conv_scratchpads(row: LayerRow, batch, threads: int = THREADS, element_bytes: int = 4,
                     strided_scratch: int = STRIDED_SCRATCH,
                     cpu: str = RULES_CPU_CAPABILITY) -> tuple[int, int]:
    """oneDNN's scratchpads of a convolution's backward on the CPU, ``(weight stage, strided
    data stage)`` in bytes, derived from oneDNN's source and checked on measured grids:
    :mod:`symcnn.memory.pytorch.onednn.fp32` (4-byte elements) and :mod:`symcnn.memory.pytorch.onednn.bf16` (2).  Where they
    have no rule: no weight scratchpad and ``strided_scratch`` (fp32; 0 in bf16) for the data
    stage.  Without a batch size: a batch of 8 for oneDNN's thread split."""
    rules = onednn_fp32 if element_bytes == 4 else onednn_bf16
    fallback = (0, strided_scratch if element_bytes == 4 else 0)
    args = _conv_arguments(row, batch, threads)
    if args is None:
        return fallback
    weight, data = rules.weight_scratch, rules.data_scratch
    if element_bytes == 4 and cpu != RULES_CPU_CAPABILITY:
        weight = functools.partial(weight, cpu=cpu)
        data = functools.partial(data, cpu=cpu)
    if element_bytes == 2 and args[1] < CHANNEL_BLOCK and not _one_by_one(row):
        return fallback                            # outside the measured grid (C_out >= 16)
    if element_bytes == 2 and _one_by_one(row):
        impl = onednn_bf16_1x1.implementation(*args[:6])
        bias = bool(getattr(row.layer, "bias", False))
        if impl["backward_weights"] == onednn_bf16_1x1.IMPLEMENTATION:
            weight = functools.partial(onednn_bf16_1x1.weight_scratch, bias=bias)
        if impl["backward_data"] == onednn_bf16_1x1.IMPLEMENTATION:
            data = onednn_bf16_1x1.data_scratch
    found = []
    for rule, default in ((weight, fallback[0]), (data, fallback[1])):
        try:
            found.append(rule(*args))
        except (NotImplementedError, ValueError):
            found.append(default)
    return found[0], found[1]


def _one_by_one(row: LayerRow) -> bool:
    layer = row.layer
    return all(k == 1 for k in layer.kernel_size) and not isinstance(layer.padding, str) \
        and all(p == 0 for p in layer.padding)


def forward_scratch(row: LayerRow, batch, threads: int = THREADS,
                    element_bytes: int = 4) -> int:
    """oneDNN's scratchpad of a convolution's forward: a 2-byte 1x1 convolution's
    (``jit_bf16_1x1``: an fp32 buffer of the output per thread,
    :func:`symcnn.memory.pytorch.onednn.bf16_1x1.forward_scratch`); none for the others (the ones measured
    book at most a padded bias)."""
    if element_bytes != 2 or not _one_by_one(row):
        return 0
    args = _conv_arguments(row, batch, threads)
    if args is None:
        return 0
    if onednn_bf16_1x1.implementation(*args[:6])["forward"] != onednn_bf16_1x1.IMPLEMENTATION:
        return 0
    try:
        return onednn_bf16_1x1.forward_scratch(*args, bias=bool(row.layer.bias))
    except (NotImplementedError, ValueError):
        return 0


def padded_bias(row: LayerRow, block: int = CHANNEL_BLOCK, element_bytes: int = 4):
    """The bias oneDNN's blocked forward books, padded to whole channel blocks, where the output
    channels do not fill the last one: ``e rnd(C_out, block) + 128`` bytes
    (``key_conv_padded_bias``, aligned to 128), else 0.  Measured: 224 B for a Conv2d 3->20
    and 160 B for the zoo's Conv3d 16->4 (vol3d) on AVX2, fp32; 256 B (fp32) and 192 B (bf16)
    for the lecture network's L2 (30 channels) on AVX-512; the bf16 1x1 kernels' in
    :mod:`symcnn.memory.pytorch.onednn.bf16_1x1`."""
    layer = row.layer
    if not getattr(layer, "bias", False):
        return 0
    cout = sympy.sympify(layer.out_channels)
    if not cout.is_Integer or int(cout) % block == 0:
        return 0
    return element_bytes * -(-int(cout) // block) * block + ALIGN


def transposed_scratch(row: LayerRow, batch, threads: int = THREADS,
                       element_bytes: int = 4) -> int:
    """oneDNN's scratchpad of a transposed convolution's forward: in fp32 from
    :func:`symcnn.memory.pytorch.onednn.fp32.transposed_forward_scratch`, else (and where it has no rule)
    :data:`TRANSPOSED_SCRATCH`."""
    fallback = TRANSPOSED_SCRATCH.get(element_bytes, TRANSPOSED_SCRATCH[4])
    args = _conv_arguments(row, batch, threads) if element_bytes == 4 else None
    if args is None:
        return fallback
    try:
        return onednn_fp32.transposed_forward_scratch(*args)
    except (NotImplementedError, ValueError):
        return fallback

"""What autograd saves, per layer type: the rules read off the CPU measurements (torch 2.13).

:func:`expected` turns the module calls recorded in one forward pass (shapes, dtypes, which
storages are inputs and outputs) into the tensors each node should save, by the rules below, and
:func:`compare` checks them against the pack-hook measurement, node by node, storage by storage.
``run_cpu.py`` does this for every network and precision of the zoo and stores the differences
(all 0 B in ``results/cpu_zoo.json``), so the rules are measured facts, not guesses.

Notation: ``I`` the input tensor, ``O`` the output, ``n(T)`` its number of elements, ``e`` the
element size of the activations (4 fp32, 2 under bf16 autocast), ``b`` the batch, ``C`` channels.
A saved ``I`` or ``O`` is an existing activation storage: it is counted once however many nodes
save it.  Every other saved tensor is a new storage.  Parameters and buffers that are saved
(conv/linear weights, BatchNorm running stats) are not counted: they are already parameters.

========================  =================================================================
type                      saved (besides parameters and buffers)
========================  =================================================================
Conv*, ConvTranspose*     I   (bf16: I cast to bf16 if I is fp32, a new n(I)*2 storage; and
                          the bf16 copy of the weight, n(W)*2, even for the first layer)
Linear                    I   (bf16: as conv; the bf16 weight copy only when I requires grad)
BatchNorm1d/2d/3d         I + save_mean + save_invstd: 2 * C * 4 bytes (fp32 even under bf16)
GroupNorm                 I + mean + rstd: 2 * b * G * 4 bytes (fp32)
LayerNorm                 I + mean + rstd: 2 * (n(I) / n(normalized_shape)) * 4 bytes (fp32)
ReLU                      O   (in-place: O is I's storage)
LeakyReLU                 I   (in-place: O, which is I's storage)
SiLU, ReLU6, Hardtanh,    I   (in-place: a new copy of I, n(I)*e)
Hardswish, Hardsigmoid,
Mish
ELU                       I   (in-place: O, which is I's storage)
Softplus                  I
PReLU                     I   (bf16: as conv: I cast if fp32, and the weight's bf16 copy)
GELU                      I
Sigmoid, Tanh, Softmax    O
Dropout                   mask n(I)*e (the input dtype, not bool: CPU dropout is x*mask)
Dropout1d/2d/3d           mask b*C*e (shape (b, C, 1, ...))
MaxPool*, AdaptiveMaxPool*  I + int64 indices n(O)*8
AvgPool*                  I
AdaptiveAvgPool*          I; nothing when every output size is 1 (it is a mean)
Upsample (all modes)      nothing
Flatten, Identity         nothing (views)
Add, Concat               nothing
mse_loss                  O of the network (bf16: cast to fp32, a new n*4 storage) + target
========================  =================================================================

Dropout with p = 0 saves nothing (identity); p = 1 saves a 4-byte scalar (not in the zoo).

Under ``torch.autocast("cpu", dtype=torch.bfloat16)``: Conv*, ConvTranspose* and Linear run in
bf16 (an fp32 input is cast, and that bf16 copy is saved), MaxPool3d, AvgPool3d,
AdaptiveAvgPool3d, AdaptiveMaxPool3d and mse_loss run in fp32 (a bf16 input is cast to fp32 and
the fp32 copy is saved; their output is fp32), every other layer runs in its input's dtype.
"""

from __future__ import annotations

import math

ACT_OUT = ("ReLU", "Sigmoid", "Tanh", "Softmax")
ACT_IN = ("GELU", "Softplus")
#: in place, these save a new copy of their input (``silu_``, ``hardtanh_``, ...)
COPY_IN_PLACE = ("SiLU", "ReLU6", "Hardtanh", "Hardswish", "Hardsigmoid", "Mish")
INPUT_ONLY = ("AvgPool1d", "AvgPool2d", "AvgPool3d")
NOTHING = ("Upsample", "Flatten", "Identity", "Add", "Concat")
MAXPOOL = ("MaxPool1d", "MaxPool2d", "MaxPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
           "AdaptiveMaxPool3d")
ADAPTIVE_AVG = ("AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d")
BATCHNORM = ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d")
DROPOUT_ND = ("Dropout1d", "Dropout2d", "Dropout3d")
CONV = ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d")
#: run in fp32 under CPU bf16 autocast (a bf16 input is cast: the fp32 copy is what is saved,
#: and the output is fp32); conv/linear run in bf16; every other layer keeps its input's dtype.
FP32_UNDER_AUTOCAST = ("MaxPool3d", "AvgPool3d", "AdaptiveAvgPool3d", "AdaptiveMaxPool3d")
DTYPE_BYTES = {"torch.float32": 4, "torch.bfloat16": 2, "torch.float16": 2, "torch.float64": 8,
               "torch.int64": 8, "torch.bool": 1}


def _n(shape) -> int:
    return math.prod(shape)


def expected(calls: list[dict], modules: dict, precision: str) -> list[dict]:
    """One item per tensor the rules say each call saves: ``node``, ``key`` (the storage: an
    existing activation's data pointer, or a new storage), ``bytes``, ``what``."""
    out = []
    bf16 = precision in ("bf16", "fp16")  # a 2-byte autocast: the same rules
    for k, call in enumerate(calls):
        node, typ = call["node"], call["type"]
        ins, o = call["inputs"], call["output"]
        mod = modules.get(node)
        i0 = ins[0] if ins else None

        def act(t, what):
            out.append({"node": node, "key": ("ptr", t["ptr"]), "bytes": _n(t["shape"])
                        * DTYPE_BYTES[t["dtype"]], "what": what})

        def new(nbytes, what, j=[0]):
            j[0] += 1
            out.append({"node": node, "key": ("new", k, len(out)), "bytes": nbytes, "what": what})

        def input_fp32(what="I"):  # ops that autocast runs in fp32 (the 3-d pools)
            if bf16 and typ in FP32_UNDER_AUTOCAST and i0["dtype"] != "torch.float32":
                new(_n(i0["shape"]) * 4, what + " cast to fp32")
            else:
                act(i0, what)

        def input_maybe_cast(what="I"):
            if bf16 and i0["dtype"] == "torch.float32":
                new(_n(i0["shape"]) * 2, what + " cast to bf16")
            else:
                act(i0, what)

        if typ in CONV:
            input_maybe_cast()
            if bf16:
                new(mod.weight.numel() * 2, "bf16 weight copy")
        elif typ == "Linear":
            input_maybe_cast()
            if bf16 and i0["requires_grad"]:
                new(mod.weight.numel() * 2, "bf16 weight copy")
        elif typ in BATCHNORM:
            act(i0, "I")
            new(2 * i0["shape"][1] * 4, "save_mean + save_invstd (fp32)")
        elif typ == "GroupNorm":
            act(i0, "I")
            new(2 * i0["shape"][0] * mod.num_groups * 4, "mean + rstd (fp32)")
        elif typ == "LayerNorm":
            act(i0, "I")
            new(2 * (_n(i0["shape"]) // _n(mod.normalized_shape)) * 4, "mean + rstd (fp32)")
        elif typ in ACT_OUT:
            act(o, "O")
        elif typ in ACT_IN:
            act(i0, "I")
        elif typ in ("LeakyReLU", "ELU"):
            act(o if mod.inplace else i0, "O (in-place)" if mod.inplace else "I")
        elif typ in COPY_IN_PLACE:
            if mod.inplace:
                new(_n(i0["shape"]) * DTYPE_BYTES[i0["dtype"]], f"copy of I (in-place {typ})")
            else:
                act(i0, "I")
        elif typ == "PReLU":
            input_maybe_cast()
            if bf16:
                new(mod.weight.numel() * 2, "bf16 weight copy")
        elif typ == "Dropout":
            if 0 < mod.p < 1:
                new(_n(i0["shape"]) * DTYPE_BYTES[i0["dtype"]], "mask, input dtype")
        elif typ in DROPOUT_ND:
            if 0 < mod.p < 1:
                new(i0["shape"][0] * i0["shape"][1] * DTYPE_BYTES[i0["dtype"]],
                    "mask (b, C, 1...), input dtype")
        elif typ in MAXPOOL:
            input_fp32()
            new(_n(o["shape"]) * 8, "int64 indices")
        elif typ in INPUT_ONLY:
            input_fp32()
        elif typ in ADAPTIVE_AVG:
            size = mod.output_size if isinstance(mod.output_size, tuple) else (mod.output_size,)
            if not all(s == 1 for s in size):
                input_fp32()
        elif typ == "mse_loss":
            if bf16 and i0["dtype"] != "torch.float32":
                new(_n(i0["shape"]) * 4, "output cast to fp32")
            else:
                act(i0, "output")
            act(ins[1], "target")
        elif typ in NOTHING:
            pass
        else:
            out.append({"node": node, "key": None, "bytes": 0, "what": f"no rule for {typ}"})
    return out


def totals(items: list[dict]) -> tuple[int, dict[str, int]]:
    """Total bytes with each storage once, and bytes per node (a storage at its first node)."""
    seen, per_node, total = set(), {}, 0
    for it in items:
        per_node.setdefault(it["node"], 0)
        if it["key"] is None or it["key"] in seen:
            continue
        seen.add(it["key"])
        per_node[it["node"]] += it["bytes"]
        total += it["bytes"]
    return total, per_node


def compare(items: list[dict], measured: dict) -> dict:
    """Expected vs measured (``measure_saved``'s summary): total and per-node differences."""
    total, per_node = totals(items)
    diff_nodes = {}
    for name, n in measured["nodes"].items():
        d = n["bytes"] - per_node.get(name, 0)
        if d:
            diff_nodes[name] = d
    return {"expected": total, "measured": measured["total"]["dedup"],
            "difference": measured["total"]["dedup"] - total, "node_differences": diff_nodes,
            "unknown_types": sorted({it["what"] for it in items if it["key"] is None})}

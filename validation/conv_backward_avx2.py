"""A dense convolution's backward alone, as the CPU allocator sees it (fp32, oneDNN).

For each layer of the grid: ``y = conv(x)`` (``x`` needing a gradient or not: a first
layer), then ``y.backward(g)`` under ``torch.profiler`` with ``profile_memory=True``; every
allocation and free inside the backward is recorded in order (bytes), with its peak above
what was alive before (the output gradient ``g``, the input, the weight and the saved
tensors), and oneDNN's implementations of the backward primitives (``ONEDNN_VERBOSE=1``,
read from file descriptor 1).  Written for the patch embeddings (kernel = stride, few input
channels, small output maps) and the small-map 3x3 layers whose weight gradient outweighs
their activations.

    ONEDNN_VERBOSE=1 PYTHONPATH=$PWD python -m validation.conv_backward_avx2 \
        --out validation/results/cpu_avx2_conv_backward.json

Committed: ``results/cpu_avx2_conv_backward.json``, on the AMD EPYC (AVX2 only, torch
2.13.0+cpu, oneDNN v3.12, 2 threads).  :func:`predicted_above_start` gives the timeline's
figure for one row (the node's moment, ``I + W + B`` above what was alive, plus its largest
kernel transient: :func:`symcnn.memory.pytorch.workspace.transient`); needs no torch.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import re
import tempfile

import symcnn

#: (c_in, c_out, kernel, stride, padding, spatial, batch, input_grad, bias[, dims])
GRID = [
    *[(ci, co, k, k, 0, k * o, b, g, True)
      for ci in (1, 3, 5, 7) for co in (20, 32) for k in (4, 8, 16) for o in (3, 6)
      for b in (2, 3) for g in (False, True)],
    *[(ci, co, 3, 1, 1, hw, b, True, True)
      for ci in (8, 16, 32) for co in (20, 32) for hw in (4, 6, 12) for b in (2, 3)],
    (3, 32, 8, 8, 0, 48, 2, False, False),
    (32, 32, 3, 1, 1, 6, 2, True, False),
    (16, 64, 2, 2, 0, 8, 2, True, True),
    *[(ci, co, 3, 1, 1, 6, 2, True, True) for ci in (1, 3, 5) for co in (20, 32)],
    *[(3, co, 16, 16, 0, 16 * o, b, False, True) for co in (96, 192) for o in (5, 14)
      for b in (2, 3)],
    *[(ci, 20, k, k, 0, k * 6, 2, g, True, dims) for dims in (1, 3) for ci in (1, 3, 5)
      for k in (2, 4) for g in (False, True)],
    *[(ci, 20, 3, 1, 1, 6, 2, True, True, dims) for dims in (1, 3) for ci in (3, 8)],
    *[(ci, 32, k, s, p, hw, 2, False, True, 1) for k in (8, 12, 13, 14, 16)
      for s, p, hw in ((8, 4, 2000), (k, 0, k * 6)) for ci in (1, 3)],
]


def _events(prof):
    import torch

    out, stack = [], list(prof.profiler.kineto_results.experimental_event_tree())
    kinds = torch._C._profiler._EventType
    while stack:
        e = stack.pop()
        if e.tag == kinds.Allocation:
            out.append((e.start_time_ns, int(e.extra_fields.alloc_size)))
        stack.extend(e.children)
    return [size for _, size in sorted(out)]


def measure(c_in, c_out, k, s, p, hw, batch, input_grad, bias, dims=2) -> dict:
    import torch
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    conv = getattr(torch.nn, f"Conv{dims}d")(c_in, c_out, k, stride=s, padding=p, bias=bias)
    x = torch.randn(batch, c_in, *(hw,) * dims, requires_grad=input_grad)
    y = conv(x)
    g = torch.randn_like(y)
    log = tempfile.TemporaryFile(mode="w+")
    saved = os.dup(1)
    os.dup2(log.fileno(), 1)
    try:
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            y.backward(g)
    finally:
        ctypes.CDLL(None).fflush(None)     # oneDNN prints with stdio: flush before switching
        os.dup2(saved, 1)
        os.close(saved)
    log.seek(0)
    impls = sorted({m.group(1) for m in re.finditer(
        r"onednn_verbose,.*?,exec,cpu,convolution,([^,]+),backward_(?:weights|data)",
        log.read())})
    events = _events(prof)
    live = top = 0
    for e in events:
        live += e
        top = max(top, live)
    return {"c_in": c_in, "c_out": c_out, "kernel": k, "stride": s, "padding": p,
            "spatial": hw, "dims": dims, "batch": batch, "input_grad": input_grad, "bias": bias,
            "implementations": impls, "events": events, "peak_above_start": top}


def spec_row(row: dict):
    """The analysed layer of one measured row (a one-layer network spec)."""
    dims = row.get("dims", 2)
    shape = ", ".join([str(row["c_in"])] + [str(row["spatial"])] * dims)
    text = (f'name = "one"\ninput = {{shape = [{shape}]}}\nlayers = [{{type = "Conv{dims}d", '
            f'name = "conv", out_channels = {row["c_out"]}, kernel_size = {row["kernel"]}, '
            f'stride = {row["stride"]}, padding = {row["padding"]}, '
            f'bias = {"true" if row["bias"] else "false"}}}]\n')
    return symcnn.analyze(symcnn.parse_spec(text).network).rows[-1]


def predicted_above_start(row: dict, threads: int = 2) -> int:
    """The model's peak of the backward above what was alive before it: the gradients it
    leaves (``I`` where the input needs one, ``W``, ``B``) plus its largest transient."""
    from symcnn.memory.pytorch.workspace import transient

    layer, batch = spec_row(row), row["batch"]
    alternatives = transient(layer, "backward", "cpu", 4, first=not row["input_grad"],
                             batch=batch, threads=threads, cpu="AVX2")
    made = 4 * sum(int(t) for t in layer.layer.param_tensors(layer.input_shapes[0]))
    if row["input_grad"]:
        made += 4 * batch * row["c_in"] * row["spatial"] ** row.get("dims", 2)
    return made + max([0] + [int(f + p * batch) for f, p in alternatives])


def main(argv=None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    rows = [measure(*case) for case in GRID]
    env = {"torch": torch.__version__, "cpu": "AMD EPYC", "machine": platform.machine(),
           "threads": torch.get_num_threads(),
           "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    text = json.dumps({"environment": env, "rows": rows}, indent=0)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Scratchpads of oneDNN's fp32 convolution backward (and ConvTranspose forward) on the CPU.

    python -m validation.conv_fp32          # -> validation/results/cpu_conv_fp32.json
    python -m validation.conv_fp32 --quick  # a few points, printed only

For each (threads, layer, batch) it builds ``nn.Conv{1,2,3}d(c_in, c_out, k, stride, padding)``
(with bias, fp32, no autocast), runs forward and backward twice and profiles the second
backward with ``profile_memory=True``.  From the CPU allocator events (in time order, each
allocation paired with its free by pointer):

* ``weight_scratch``: oneDNN's backward-weights scratchpad: the allocation immediately followed
  by the bias gradient's (``4 * c_out`` bytes) and freed right after it; 0 where the bias
  gradient's allocation directly follows a weight-gradient-sized one (no scratchpad); None if
  neither pattern is found.
* ``data_scratch``: the backward-data scratchpad: allocations made before the weight stage that
  are freed by the very next allocator event (0 where there is none).  ``data_transients``
  lists them all.

Rows of kind ``conv_random`` are 40 held-out convolutions (``random_layers``, fixed seed), each at
one batch and thread count, measured the same way.

For ``nn.ConvTranspose{1,2,3}d`` (``TRANSPOSED``) the *forward* is profiled (the input requires
a gradient, as in training); oneDNN runs it as a deconvolution whose implementation is a
backward-data convolution.  ``transposed_scratch`` is the first allocation of the forward, which
is oneDNN's scratchpad (it is taken before the reorders and the output and freed after them;
``events`` keeps the whole sequence for inspection).

``impl_*`` give oneDNN's implementation names, read from its verbose output
(``torch.backends.mkldnn.verbose``) during the measured call.  ``symcnn/memory/pytorch/onednn/fp32.py`` is
checked against the JSON in ``tests/test_onednn_fp32.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message=".*Memory block of unknown size.*")

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

HERE = Path(__file__).resolve().parent

from validation import measure  # noqa: E402
from validation.onednn_verbose import Capture as _Capture  # noqa: E402
from validation.onednn_verbose import implementations as _impls  # noqa: E402

# (dim, c_in, c_out, kernel, stride, padding, spatial)
LAYERS = [
    # the shapes quoted in the brief
    (2, 16, 16, 3, 1, 1, (32, 32)),
    (2, 8, 2, 1, 1, 0, (32, 32)),
    (1, 16, 16, 3, 1, 1, (64,)),
    (2, 16, 32, 3, 2, 0, (32, 32)),
    (1, 16, 32, 5, 2, 2, (64,)),
    (2, 16, 32, 3, 2, 1, (16, 16)),
    (2, 16, 32, 1, 2, 0, (16, 16)),
    # channels
    (2, 32, 32, 3, 1, 1, (8, 8)),
    (2, 16, 32, 3, 1, 1, (16, 16)),
    (2, 64, 64, 3, 1, 1, (8, 8)),
    (2, 64, 32, 3, 2, 1, (16, 16)),
    (2, 48, 80, 3, 1, 1, (12, 12)),
    (2, 24, 40, 3, 2, 1, (20, 20)),
    (2, 128, 128, 3, 1, 1, (8, 8)),
    (2, 128, 64, 1, 1, 0, (8, 8)),
    (2, 3, 16, 3, 1, 1, (32, 32)),
    (2, 8, 16, 3, 2, 1, (32, 32)),
    (2, 1, 16, 5, 1, 2, (28, 28)),
    (2, 8, 8, 3, 1, 1, (16, 16)),
    (2, 16, 2, 3, 1, 1, (16, 16)),
    (2, 32, 30, 3, 1, 1, (10, 10)),
    # kernel sizes, strides, padding
    (2, 16, 16, 1, 1, 0, (16, 16)),
    (2, 16, 16, 5, 1, 2, (16, 16)),
    (2, 32, 32, 5, 2, 2, (24, 24)),
    (2, 16, 32, 5, 1, 0, (20, 20)),
    (2, 32, 16, 3, 2, 1, (17, 17)),
    (2, 16, 16, 3, 2, 0, (33, 31)),
    (2, 32, 64, 3, 2, 1, (10, 14)),
    (2, 20, 24, 3, 2, 1, (15, 15)),
    # 1-d
    (1, 32, 32, 5, 1, 2, (100,)),
    (1, 32, 64, 1, 1, 0, (50,)),
    (1, 4, 16, 3, 1, 1, (64,)),
    (1, 64, 16, 3, 2, 0, (41,)),
    (1, 16, 32, 1, 2, 0, (64,)),
    # 3-d
    (3, 16, 16, 3, 1, 1, (8, 8, 8)),
    (3, 16, 32, 3, 2, 1, (8, 8, 8)),
    (3, 32, 32, 1, 1, 0, (6, 6, 6)),
    (3, 32, 16, 3, 2, 0, (9, 11, 9)),
    (3, 4, 16, 3, 1, 1, (8, 8, 8)),
    (3, 16, 16, 5, 1, 2, (6, 7, 8)),
    (3, 16, 32, 1, 2, 0, (8, 8, 8)),
]
# ConvTranspose (dim, c_in, c_out, kernel, stride, padding, spatial): forward only
TRANSPOSED = [
    (1, 32, 16, 4, 2, 1, (16,)),
    (2, 32, 16, 2, 2, 0, (8, 8)),
    (2, 16, 8, 2, 2, 0, (16, 16)),
    (3, 16, 8, 2, 2, 0, (4, 4, 4)),
    (2, 64, 32, 4, 2, 1, (8, 8)),
    (2, 16, 16, 3, 2, 1, (15, 15)),
    (1, 8, 4, 2, 2, 0, (32,)),
    (2, 128, 64, 2, 2, 0, (8, 8)),
    (3, 32, 16, 4, 2, 1, (4, 4, 4)),
    (2, 30, 20, 3, 2, 0, (12, 12)),
]


def random_layers(n: int = 40, seed: int = 2026) -> list[tuple]:
    """Held-out shapes (drawn once with a fixed seed, measured at one random batch and thread
    count each): 1-d/2-d/3-d, C_in 1-128, C_out 2-128, kernels 1/3/5, strides 1/2, padding
    0 to k//2, spatial 5-40 (3-d: 4-12)."""
    import random
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        dim = rng.choice((1, 2, 2, 3))
        c_in = rng.choice((1, 2, 3, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128))
        c_out = rng.choice((2, 5, 8, 16, 20, 32, 40, 64, 100, 128))
        k = rng.choice((1, 3, 5))
        stride = rng.choice((1, 2))
        pad = rng.randint(0, k // 2)
        hi = 12 if dim == 3 else 40
        spatial = tuple(rng.randint(max(4, k), hi) for _ in range(dim))
        batch = rng.choice((2, 3, 4, 6, 8))
        threads = rng.choice((1, 2, 3, 4))
        out.append(((dim, c_in, c_out, k, stride, pad, spatial), batch, threads))
    return out


BATCHES = (2, 4, 8)
THREADS = (1, 2, 4)
#: measured only at batch 1 and 2 threads (slow): the lecture's strided 3-d layer
LARGE = [(3, 30, 30, 3, 2, 0, (59, 71, 59))]


def _events(prof) -> list[tuple[int, int]]:
    """(size, ptr) of the CPU allocator's events in time order (``measure.collect``)."""
    return [(a.size, a.ptr) for a in measure.collect(prof)[0]]


def _profiled(fn, verbose: bool):
    cap = _Capture() if verbose else None
    if cap:
        cap.__enter__()
    try:
        with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON if verbose
                                           else torch.backends.mkldnn.VERBOSE_OFF):
            with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
                out = fn()
    finally:
        if cap:
            cap.__exit__(None, None, None)
    return prof, (_impls(cap.text) if cap else {}), out


def measure_one(dim, c_in, c_out, k, stride, pad, spatial, batch, verbose=True) -> dict:
    conv_cls = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dim]
    torch.manual_seed(0)
    m = conv_cls(c_in, c_out, k, stride=stride, padding=pad)
    x = torch.randn(batch, c_in, *spatial, requires_grad=True)
    prof = impl = None
    for it in range(2):  # the second backward is the one measured
        y = m(x)
        g = torch.randn_like(y)
        if it == 1:
            prof, impl, _ = _profiled(lambda y=y, g=g: y.backward(g), verbose)
        else:
            y.backward(g)
        x.grad = None
        m.zero_grad(set_to_none=True)
        del y, g
    ev = _events(prof)
    bias = 4 * c_out
    w_idx, w_zero = None, None
    for i in range(len(ev) - 2):
        if ev[i][0] > 0 and ev[i + 1][0] == bias and ev[i + 2] == (-ev[i][0], ev[i][1]):
            w_idx = i
            break
    if w_idx is None:  # no scratchpad: the bias gradient follows the weight gradient
        for i in range(1, len(ev)):
            if ev[i][0] == bias and ev[i - 1][0] >= 4 * c_in * c_out:
                w_zero = i
                break
    end = w_idx if w_idx is not None else (w_zero if w_zero is not None else len(ev) - 1)
    data = []
    for i in range(end):
        if ev[i][0] > 0 and ev[i + 1] == (-ev[i][0], ev[i][1]):
            data.append(ev[i][0])
    return {"weight_scratch": ev[w_idx][0] if w_idx is not None else (0 if w_zero else None),
            "data_scratch": sum(data), "data_transients": data,
            "impl_backward_data": impl.get("backward_data"),
            "impl_backward_weights": impl.get("backward_weights"),
            "events": [s for s, _ in ev]}


def measure_transposed(dim, c_in, c_out, k, stride, pad, spatial, batch, verbose=True) -> dict:
    conv_cls = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}[dim]
    torch.manual_seed(0)
    m = conv_cls(c_in, c_out, k, stride=stride, padding=pad)
    x = torch.randn(batch, c_in, *spatial, requires_grad=True)
    y = m(x)  # warm-up
    del y
    prof, impl, y = _profiled(lambda: m(x), verbose)
    del y
    ev = _events(prof)
    first = ev[0] if ev else (0, 0)
    freed = any(e == (-first[0], first[1]) for e in ev[1:])
    return {"transposed_scratch": first[0] if freed and first[0] > 0 else None,
            "impl_forward": impl.get("forward_training"),
            "events": [s for s, _ in ev]}


def run(threads_list, layers, transposed, batches, large, keep_events=True) -> list[dict]:
    rows = []
    before = torch.get_num_threads()
    try:
        for t in threads_list:
            torch.set_num_threads(t)
            todo = [("conv", lay, b) for lay in layers for b in batches] \
                + [("transposed", lay, b) for lay in transposed for b in batches] \
                + [("conv", lay, 1) for lay in large]
            for kind, (dim, c_in, c_out, k, stride, pad, spatial), b in todo:
                t0 = time.perf_counter()
                fn = measure_one if kind == "conv" else measure_transposed
                r = fn(dim, c_in, c_out, k, stride, pad, spatial, b)
                row = {"kind": kind, "threads": t, "dim": dim, "c_in": c_in, "c_out": c_out,
                       "kernel": k, "stride": stride, "padding": pad, "spatial": list(spatial),
                       "batch": b}
                row.update(r)
                if not keep_events:
                    row.pop("events")
                row["seconds"] = round(time.perf_counter() - t0, 3)
                rows.append(row)
                if kind == "conv":
                    msg = (f"weight {row['weight_scratch']} data {row['data_scratch']} "
                           f"{row['impl_backward_data']} / {row['impl_backward_weights']}")
                else:
                    msg = f"transposed {row['transposed_scratch']} {row['impl_forward']}"
                print(f"t={t} {kind} {dim}d {c_in}->{c_out} k{k} s{stride} p{pad} {spatial} "
                      f"b={b}: {msg}", file=sys.stderr, flush=True)
    finally:
        torch.set_num_threads(before)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-large", action="store_true")
    args = ap.parse_args()
    t0 = time.time()
    if args.quick:
        rows = run((2,), LAYERS[:7], TRANSPOSED[:4], (2,), [])
        for r in rows:
            print(json.dumps(r))
        return 0
    rows = run(THREADS, LAYERS, TRANSPOSED, BATCHES, [])
    for lay, b, t in random_layers():
        for r in run((t,), [lay], [], (b,), []):
            r["kind"] = "conv_random"
            rows.append(r)
    if not args.no_large:
        rows += run((2,), [], [], (), LARGE)
    env = measure.environment()
    env["onednn"] = next((ln.strip() for ln in torch.__config__.show().splitlines()
                          if "DNN" in ln), None)
    out = {"environment": env,
           "method": "validation/conv_fp32.py: second backward of an fp32 Conv (no autocast) "
                     "under torch.profiler(profile_memory=True); weight_scratch is the "
                     "allocation followed by the bias gradient (4*c_out B) and freed right "
                     "after (0 when the bias gradient follows the weight gradient directly); "
                     "data_scratch the allocations before it freed by the next event; "
                     "transposed_scratch the first allocation of a ConvTranspose forward.",
           "seconds": round(time.time() - t0, 1), "rows": rows}
    path = HERE / "results" / "cpu_conv_fp32.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path} ({len(rows)} rows, {out['seconds']} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

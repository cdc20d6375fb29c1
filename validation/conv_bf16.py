"""Scratchpads of oneDNN's bf16 convolution backward on the CPU (autocast), over a grid of shapes.

    python -m validation.conv_bf16          # -> validation/results/cpu_conv_bf16.json
    python -m validation.conv_bf16 --quick  # a few points, printed only

For each (threads, layer, batch) it builds ``nn.Conv{1,2,3}d(c_in, c_out, k, stride, padding)``
(with bias), runs the forward under ``torch.autocast("cpu", dtype=torch.bfloat16)`` and the
backward, twice, and profiles the second backward with ``profile_memory=True``.  From the
allocator events (in time order, allocations paired with their frees by pointer):

* ``weight_scratch``: oneDNN's backward-weights scratchpad: the allocation that is immediately
  followed by the bias gradient's (``2 * c_out`` bytes, bf16) and freed right after it;
* ``data_scratch``: the backward-data scratchpad: allocations made before the weight stage that
  are freed by the very next allocator event (0 where there is none: the stride-1 ``jit_bf16``
  backward-data kernel books none for these shapes).  ``data_transients`` lists them all.

``impl`` gives oneDNN's implementation names of the backward-data and backward-weights
primitives, read from oneDNN's verbose output (``torch.backends.mkldnn.verbose``) during the
measured backward.  ``symcnn/memory/pytorch/onednn/bf16.py`` is checked against this file in
``tests/test_onednn_bf16.py``.
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
    (2, 16, 16, 3, 1, 1, (16, 16)),
    (2, 32, 32, 3, 1, 1, (8, 8)),
    (2, 32, 32, 3, 1, 1, (16, 16)),
    (2, 16, 32, 3, 1, 1, (16, 16)),
    (2, 16, 16, 3, 1, 1, (32, 32)),
    (2, 16, 32, 3, 1, 0, (32, 32)),
    (2, 16, 32, 3, 2, 0, (32, 32)),
    (2, 16, 32, 3, 1, 0, (16, 16)),
    # channels
    (2, 32, 16, 3, 1, 1, (16, 16)),
    (2, 64, 64, 3, 1, 1, (8, 8)),
    (2, 64, 32, 3, 2, 1, (16, 16)),
    (2, 48, 80, 3, 1, 1, (12, 12)),
    (2, 24, 40, 3, 2, 1, (20, 20)),
    (2, 128, 128, 3, 1, 1, (8, 8)),
    (2, 128, 64, 1, 1, 0, (8, 8)),
    (2, 3, 16, 3, 1, 1, (32, 32)),
    (2, 8, 16, 3, 2, 1, (32, 32)),
    (2, 1, 16, 5, 1, 2, (28, 28)),
    # kernel sizes, strides, padding
    (2, 16, 16, 1, 1, 0, (16, 16)),
    (2, 16, 32, 1, 2, 0, (16, 16)),
    (2, 16, 16, 5, 1, 2, (16, 16)),
    (2, 32, 32, 5, 2, 2, (24, 24)),
    (2, 16, 32, 5, 1, 0, (20, 20)),
    (2, 32, 16, 3, 2, 1, (17, 17)),
    (2, 16, 16, 3, 2, 0, (33, 31)),
    (2, 32, 64, 3, 2, 1, (10, 14)),
    # 1-d
    (1, 16, 16, 3, 1, 1, (64,)),
    (1, 16, 32, 3, 2, 1, (64,)),
    (1, 32, 32, 5, 1, 2, (100,)),
    (1, 32, 64, 1, 1, 0, (50,)),
    (1, 4, 16, 3, 1, 1, (64,)),
    (1, 64, 16, 3, 2, 0, (41,)),
    # 3-d
    (3, 16, 16, 3, 1, 1, (8, 8, 8)),
    (3, 16, 32, 3, 2, 1, (8, 8, 8)),
    (3, 32, 32, 1, 1, 0, (6, 6, 6)),
    (3, 32, 16, 3, 2, 0, (9, 11, 9)),
    (3, 4, 16, 3, 1, 1, (8, 8, 8)),
    (3, 16, 16, 5, 1, 2, (6, 7, 8)),
]
BATCHES = (1, 2, 4, 8)
THREADS = (1, 2, 4)
#: measured only at batch 1 (slow): the lecture's strided 3-d layer
LARGE = [(3, 30, 30, 3, 2, 0, (59, 71, 59))]


def _events(prof) -> list[tuple[int, int]]:
    """(size, ptr) of the CPU allocator's events in time order (``measure.collect``)."""
    return [(a.size, a.ptr) for a in measure.collect(prof)[0]]


def measure_one(dim, c_in, c_out, k, stride, pad, spatial, batch, verbose=True) -> dict:
    conv_cls = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dim]
    torch.manual_seed(0)
    m = conv_cls(c_in, c_out, k, stride=stride, padding=pad)
    x = torch.randn(batch, c_in, *spatial, requires_grad=True)
    for it in range(2):  # the second backward is the one measured
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = m(x)
        g = torch.randn_like(y)
        if it == 1:
            cap = _Capture() if verbose else None
            if cap:
                cap.__enter__()
            try:
                with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON if verbose
                                                   else torch.backends.mkldnn.VERBOSE_OFF):
                    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
                        y.backward(g)
            finally:
                if cap:
                    cap.__exit__(None, None, None)
        else:
            y.backward(g)
        x.grad = None
        m.zero_grad(set_to_none=True)
        del y, g
    ev = _events(prof)
    sizes = [s for s, _ in ev]
    w_idx = None
    for i in range(len(ev) - 2):
        if ev[i][0] > 0 and ev[i + 1][0] == 2 * c_out and ev[i + 2] == (-ev[i][0], ev[i][1]):
            w_idx = i
            break
    data = []
    for i in range(len(ev) - 1 if w_idx is None else w_idx):
        if ev[i][0] > 0 and ev[i + 1] == (-ev[i][0], ev[i][1]):
            data.append(ev[i][0])
    impl = _impls(cap.text) if verbose else {}
    return {"weight_scratch": None if w_idx is None else ev[w_idx][0],
            "data_scratch": sum(data), "data_transients": data,
            "impl_backward_data": impl.get("backward_data"),
            "impl_backward_weights": impl.get("backward_weights"),
            "events": sizes}


def run(threads_list, layers, batches, large, keep_events=False) -> list[dict]:
    rows = []
    before = torch.get_num_threads()
    try:
        for t in threads_list:
            torch.set_num_threads(t)
            todo = [(lay, b) for lay in layers for b in batches] + [(lay, 1) for lay in large]
            for (dim, c_in, c_out, k, stride, pad, spatial), b in todo:
                t0 = time.perf_counter()
                r = measure_one(dim, c_in, c_out, k, stride, pad, spatial, b)
                row = {"threads": t, "dim": dim, "c_in": c_in, "c_out": c_out, "kernel": k,
                       "stride": stride, "padding": pad, "spatial": list(spatial), "batch": b}
                row.update(r)
                if not keep_events:
                    row.pop("events")
                row["seconds"] = round(time.perf_counter() - t0, 3)
                rows.append(row)
                print(f"t={t} {dim}d {c_in}->{c_out} k{k} s{stride} p{pad} {spatial} b={b}: "
                      f"weight {row['weight_scratch']} data {row['data_scratch']} "
                      f"{row['impl_backward_data']} / {row['impl_backward_weights']}",
                      file=sys.stderr, flush=True)
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
        rows = run((2,), LAYERS[:8], (2,), [], keep_events=True)
        for r in rows:
            print(json.dumps(r))
        return 0
    rows = run(THREADS, LAYERS, BATCHES, [] if args.no_large else LARGE)
    env = measure.environment()
    env["onednn"] = next((ln.strip() for ln in torch.__config__.show().splitlines()
                          if "DNN" in ln), None)
    out = {"environment": env,
           "method": "validation/conv_bf16.py: second backward of a bf16-autocast Conv under "
                     "torch.profiler(profile_memory=True); weight_scratch is the allocation "
                     "followed by the bf16 bias gradient (2*c_out B) and freed right after; "
                     "data_scratch the allocations before it freed by the next event.",
           "seconds": round(time.time() - t0, 1), "rows": rows}
    path = HERE / "results" / "cpu_conv_bf16.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path} ({len(rows)} rows, {out['seconds']} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Scratchpads of oneDNN's bf16 1x1 convolutions on the CPU (autocast), forward and backward.

    python -m validation.conv_bf16_1x1          # -> validation/results/cpu_conv_bf16_1x1.json
    python -m validation.conv_bf16_1x1 --quick  # a few points, printed only

For each (threads, layer, batch) it builds ``nn.Conv{1,2,3}d(c_in, c_out, 1, stride)`` (with or
without bias), runs the forward under ``torch.autocast("cpu", dtype=torch.bfloat16)`` and the
backward, twice, and profiles the second forward and the second backward (two profiler sessions,
``profile_memory=True``).  From the allocator events (in time order, allocations paired with their
frees by pointer):

* ``forward_allocs``: the allocations made inside ``aten::mkldnn_convolution`` during the
  forward, in order (sizes in bytes, frees as negative sizes).  PyTorch's ideep takes the
  primitive's scratchpad first, then the channel-blocked copies of the input (``2 b rnd(C_in,
  16) prod(in)`` B, absent where it needs none) and of the weight (``2 rnd(C_in, 16) rnd(C_out,
  16)``, or ``2 rnd(C_in, 2) rnd(C_out, 16)`` for ``jit_bf16``'s "first convolution" with
  ``C_in < 16``) and the blocked output (``2 b rnd(C_out, 16) prod(out)``).  ``forward_scratch`` is what is
  left of the allocations once one of each of these three sizes is taken out (from the end):
  the scratchpad, 0 where the primitive books none.
* ``weight_scratch``: the backward-weights scratchpad: the allocation immediately followed by
  the bias gradient's (``2 * c_out`` bytes, bf16) and freed right after it; without a bias, the
  last allocation made inside ``aten::convolution_backward`` that is freed by the very next
  allocator event;
* ``data_scratch``: the backward-data scratchpad: allocations made before the weight stage that
  are freed by the very next allocator event (``data_transients`` lists them all).

``impl_forward``, ``impl_backward_data`` and ``impl_backward_weights`` are oneDNN's
implementation names, read from oneDNN's verbose output (``torch.backends.mkldnn.verbose``)
during the measured iteration.  ``symcnn/memory/pytorch/onednn/bf16_1x1.py`` is checked against this file in
``tests/test_onednn_bf16_1x1.py``.
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

_EV = torch._C._profiler._EventType

# (dim, c_in, c_out, stride, spatial, bias)
LAYERS = [
    # the shapes quoted in the brief
    (2, 16, 24, 1, (16, 16), True),
    (2, 8, 2, 1, (32, 32), True),
    (2, 16, 32, 2, (16, 16), True),
    (2, 16, 32, 2, (16, 16), False),
    # 2-d, stride 1
    (2, 16, 16, 1, (16, 16), True),
    (2, 128, 64, 1, (8, 8), True),
    (2, 64, 128, 1, (8, 8), True),
    (2, 3, 16, 1, (32, 32), True),
    (2, 1, 2, 1, (20, 20), True),
    (2, 32, 8, 1, (14, 14), True),
    (2, 24, 40, 1, (12, 12), False),
    (2, 96, 96, 1, (7, 7), True),
    (2, 128, 128, 1, (28, 28), True),
    (2, 48, 100, 1, (20, 20), True),
    (2, 16, 32, 1, (10, 14), False),
    (2, 40, 72, 1, (5, 9), True),
    # beyond 128 channels: 10 blocks of 16 (the weight kernel's bcast blocking 5, the forward's
    # and data gradient's smaller register block for 128 < channels < 256)
    (2, 48, 160, 1, (20, 20), True),
    (2, 160, 48, 1, (20, 20), True),
    # 2-d, stride 2 (even sizes: "reduce to unit stride"; odd sizes: another kernel)
    (2, 32, 64, 2, (12, 20), True),
    (2, 8, 4, 2, (32, 32), True),
    (2, 64, 32, 2, (15, 15), True),
    (2, 3, 16, 2, (33, 31), True),
    # 1-d
    (1, 32, 64, 1, (50,), True),
    (1, 4, 6, 1, (100,), True),
    (1, 64, 16, 1, (7,), True),
    (1, 16, 32, 2, (64,), True),
    (1, 24, 24, 2, (41,), True),
    # 3-d
    (3, 32, 32, 1, (6, 6, 6), True),
    (3, 8, 16, 1, (4, 5, 6), True),
    (3, 16, 80, 1, (16, 16, 16), True),
    (3, 16, 32, 2, (8, 8, 8), True),
]
BATCHES = (1, 2, 4, 8)
THREADS = (1, 2, 4)
CONV_OP = "aten::mkldnn_convolution"
BWD_OP = "aten::convolution_backward"


def _events(prof) -> list[tuple[int, int, str | None]]:
    """(size, ptr, innermost aten op) of the CPU allocator events, in time order."""
    roots = prof.profiler.kineto_results.experimental_event_tree()
    evs, stack = [], list(roots)
    while stack:
        e = stack.pop()
        stack.extend(e.children)
        if e.tag == _EV.Allocation and e.extra_fields.device.type == "cpu":
            op, p = None, e.parent
            while p is not None and op is None:
                if p.tag == _EV.TorchOp:
                    op = p.name
                p = p.parent
            evs.append((e.start_time_ns, e.extra_fields.allocation_id, e.extra_fields.alloc_size,
                        e.extra_fields.ptr, op))
    evs.sort()
    return [(s, p, op) for _, _, s, p, op in evs]


def measure_one(dim, c_in, c_out, stride, spatial, batch, bias=True) -> dict:
    conv_cls = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dim]
    torch.manual_seed(0)
    m = conv_cls(c_in, c_out, 1, stride=stride, bias=bias)
    x = torch.randn(batch, c_in, *spatial, requires_grad=True)
    for it in range(2):  # the second iteration is the one measured
        if it == 1:
            cap = _Capture()
            cap.__enter__()
            try:
                with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as pf:
                        with torch.autocast("cpu", dtype=torch.bfloat16):
                            y = m(x)
                    g = torch.randn_like(y)
                    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as pb:
                        y.backward(g)
            finally:
                cap.__exit__(None, None, None)
        else:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                y = m(x)
            g = torch.randn_like(y)
            y.backward(g)
        x.grad = None
        m.zero_grad(set_to_none=True)
        del y, g
    fwd = [(s, op) for s, _, op in _events(pf)]
    fwd_conv = [s for s, op in fwd if op == CONV_OP]
    vol_in = vol_out = 1
    for v in spatial:
        vol_in *= v
        vol_out *= (v - 1) // stride + 1
    ci, co = -(-c_in // 16) * 16, -(-c_out // 16) * 16
    rest = [s for s in fwd_conv if s > 0]
    # the weight of a "first convolution" in jit_bf16 (C_in < 16, not padded to 16) has its
    # input channels rounded up to pairs only
    for known in (2 * batch * ci * vol_in, (2 * ci * co, 2 * (c_in + c_in % 2) * co),
                  2 * batch * co * vol_out):
        for k in known if isinstance(known, tuple) else (known,):
            if k in rest:
                del rest[len(rest) - 1 - rest[::-1].index(k)]
                break
    ev = [(s, p) for s, p, _ in _events(pb)]
    ops = [op for _, _, op in _events(pb)]
    w_idx = None
    if bias:
        for i in range(len(ev) - 2):
            if ev[i][0] > 0 and ev[i + 1][0] == 2 * c_out and ev[i + 2] == (-ev[i][0], ev[i][1]):
                w_idx = i
                break
    else:
        for i in range(len(ev) - 1):
            if ev[i][0] > 0 and ops[i] == BWD_OP and ev[i + 1] == (-ev[i][0], ev[i][1]):
                w_idx = i
    data = []
    for i in range(len(ev) - 1 if w_idx is None else w_idx):
        if ev[i][0] > 0 and ev[i + 1] == (-ev[i][0], ev[i][1]):
            data.append(ev[i][0])
    impl = _impls(cap.text)
    return {"forward_scratch": sum(rest), "forward_unexplained": rest,
            "forward_allocs": fwd_conv,
            "weight_scratch": None if w_idx is None else ev[w_idx][0],
            "data_scratch": sum(data), "data_transients": data,
            "impl_forward": impl.get("forward_training"),
            "impl_backward_data": impl.get("backward_data"),
            "impl_backward_weights": impl.get("backward_weights"),
            "forward_events": [s for s, _ in fwd], "backward_events": [s for s, _ in ev]}


def run(threads_list, layers, batches, keep_events=False) -> list[dict]:
    rows = []
    before = torch.get_num_threads()
    try:
        for t in threads_list:
            torch.set_num_threads(t)
            for (dim, c_in, c_out, stride, spatial, bias) in layers:
                for b in batches:
                    t0 = time.perf_counter()
                    r = measure_one(dim, c_in, c_out, stride, spatial, b, bias)
                    row = {"threads": t, "dim": dim, "c_in": c_in, "c_out": c_out, "kernel": 1,
                           "stride": stride, "padding": 0, "spatial": list(spatial),
                           "batch": b, "bias": bias}
                    row.update(r)
                    if not keep_events:
                        row.pop("forward_events")
                        row.pop("backward_events")
                    row["seconds"] = round(time.perf_counter() - t0, 3)
                    rows.append(row)
                    print(f"t={t} {dim}d {c_in}->{c_out} s{stride} {spatial} b={b} bias={bias}: "
                          f"fwd {row['forward_scratch']} data {row['data_scratch']} "
                          f"weight {row['weight_scratch']}  {row['impl_forward']} / "
                          f"{row['impl_backward_data']} / {row['impl_backward_weights']}",
                          file=sys.stderr, flush=True)
    finally:
        torch.set_num_threads(before)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    t0 = time.time()
    if args.quick:
        rows = run((2,), LAYERS[:4], (2,), keep_events=True)
        for r in rows:
            print(json.dumps(r))
        return 0
    rows = run(THREADS, LAYERS, BATCHES)
    env = measure.environment()
    env["onednn"] = next((ln.strip() for ln in torch.__config__.show().splitlines()
                          if "DNN" in ln), None)
    out = {"environment": env,
           "method": "validation/conv_bf16_1x1.py: second forward and backward of a "
                     "bf16-autocast 1x1 Conv under torch.profiler(profile_memory=True); "
                     "forward_scratch: the allocations inside aten::mkldnn_convolution (forward_allocs, "
                     "in order, frees negative) less the blocked input, weight and output "
                     "copies (2 b C_i16 prod(in), 2 C_i16 C_o16, 2 b C_o16 prod(out)); "
                     "weight_scratch the "
                     "allocation followed by the bf16 bias gradient (2*c_out B) and freed right "
                     "after (without bias: the last convolution_backward allocation freed by the "
                     "next event); data_scratch the allocations before it freed by the next "
                     "event.",
           "seconds": round(time.time() - t0, 1), "rows": rows}
    path = HERE / "results" / "cpu_conv_bf16_1x1.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path} ({len(rows)} rows, {out['seconds']} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

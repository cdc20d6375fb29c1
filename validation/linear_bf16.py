"""Scratch memory of a 2-byte Linear's forward on the CPU (oneDNN's packed matmul).

    python -m validation.linear_bf16        # -> validation/results/cpu_linear_bf16.json

For each (threads, m, k, n) it runs ``nn.Linear(k, n)`` on an ``(m, k)`` fp32 input under
``torch.autocast("cpu", dtype=torch.bfloat16)`` (with grad and under ``no_grad``), profiles a
second call with ``profile_memory=True``, and records every allocation made inside
``aten::addmm`` other than its ``m x n`` result.  ``symcnn.memory.pytorch.workspace._packed_matmul`` is
checked against this file in tests/test_timeline.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

HERE = Path(__file__).resolve().parent

from validation import measure  # noqa: E402

SHAPES = [  # (m, k, n): the zoo's layers, then around the size threshold and the caps
    (2, 2048, 10), (2, 2048, 64), (2, 1152, 32), (2, 64, 256), (2, 256, 256), (2, 256, 10),
    (4, 2048, 10), (16, 2048, 10), (64, 2048, 10), (2, 4096, 10), (2, 512, 10), (2, 128, 10),
    (2, 32, 10), (2, 2048, 128), (2, 128, 20), (2, 192, 10), (2, 160, 10), (2, 32, 64),
    (2, 16, 256), (2, 64, 64), (2, 128, 16), (2, 64, 32), (2, 256, 4), (2, 1024, 1),
    (4, 128, 10), (8, 64, 10), (1, 256, 10), (1, 512, 10), (3, 128, 12), (40, 300, 70),
    (256, 2048, 10), (1024, 2048, 10), (100, 512, 100), (7, 100, 200), (33, 64, 128),
    (128, 64, 300), (2, 3000, 5),
]


def scratch(m: int, k: int, n: int, grad: bool) -> list[int]:
    torch.manual_seed(0)
    lin = nn.Linear(k, n)
    x = torch.randn(m, k)
    mode = torch.enable_grad() if grad else torch.no_grad()
    for _ in range(2):                             # the second call is the one measured
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            with mode, torch.autocast("cpu", dtype=torch.bfloat16):
                y = lin(x)
            del y
    allocs, _, _ = measure.collect(prof)
    return [a.size for a in allocs if a.op == "aten::addmm" and a.size > 0
            and a.size != m * n * 2]


def main() -> int:
    rows = []
    before = torch.get_num_threads()
    for threads in (1, 2, 4):
        torch.set_num_threads(threads)
        for m, k, n in SHAPES:
            for grad in (True, False):
                rows.append({"threads": threads, "m": m, "k": k, "n": n, "grad": grad,
                             "scratch": scratch(m, k, n, grad)})
    torch.set_num_threads(before)
    out = HERE / "results" / "cpu_linear_bf16.json"
    out.write_text(json.dumps({"environment": measure.environment(), "rows": rows}, indent=1)
                   + "\n")
    print(f"{len(rows)} rows -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The allocations of single layers in an eval-mode ``no_grad`` forward on the CPU: the
micro-networks the inference rules of :mod:`symcnn.memory.pytorch.inference`,
:mod:`symcnn.memory.pytorch.workspace` and :mod:`symcnn.memory.pytorch.convkinds` were read off
(first-layer weights, channels-last convolutions, oneDNN's padded bias, BatchNorm's scale and
shift, PyTorch's 1x1 2-byte convolutions, autocast's parameter cache)::

    PYTHONPATH=$PWD python -m validation.inference_kernels   # -> results/cpu_<cap>_inference_kernels.md

Each case runs once to warm up, then once under ``torch.profiler`` with ``profile_memory=True``;
the table lists every allocation (+) and free (-) of the CPU allocator, in order, and the peak
above what was alive before the call (parameters, buffers and the input are not counted).
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from validation.measure import environment

warnings.filterwarnings("ignore")
HERE = Path(__file__).resolve().parent


class Permuted(torch.nn.Module):
    """``layer(x.permute(0, 3, 1, 2))`` (a channels-last view), after an optional LayerNorm
    over the last axis (ConvNeXt's LayerNorm2d)."""

    def __init__(self, layer, norm: int | None = None):
        super().__init__()
        self.norm = torch.nn.LayerNorm(norm) if norm else torch.nn.Identity()
        self.layer = layer

    def forward(self, x):
        return self.layer(self.norm(x).permute(0, 3, 1, 2))


def _seq(*layers):
    return torch.nn.Sequential(*layers)


#: (what, module, input shape, precision)
CASES = [
    ("first layer 3->96 16x16/16", torch.nn.Conv2d(3, 96, 16, 16), (2, 3, 80, 80), "fp32"),
    ("first layer 3->20 16x16/16", torch.nn.Conv2d(3, 20, 16, 16), (2, 3, 80, 80), "fp32"),
    ("first layer 5->20 8x8/8", torch.nn.Conv2d(5, 20, 8, 8), (2, 5, 48, 48), "fp32"),
    ("first layer Conv1d 1->32 16/8", torch.nn.Conv1d(1, 32, 16, 8), (2, 1, 2000), "fp32"),
    ("first layer Conv3d 3->16 3x3x3", torch.nn.Conv3d(3, 16, 3, padding=1), (2, 3, 8, 8, 8),
     "fp32"),
    ("channels-last LN + 384->768 2x2/2", Permuted(torch.nn.Conv2d(384, 768, 2, 2), 384),
     (2, 14, 14, 384), "fp32"),
    ("channels-last 16->25 2x2/2", Permuted(torch.nn.Conv2d(16, 25, 2, 2)), (2, 8, 8, 16), "fp32"),
    ("channels-last 16->64 2x2/2", Permuted(torch.nn.Conv2d(16, 64, 2, 2)), (2, 8, 8, 16), "fp32"),
    ("channels-last 64->64 3x3 pad 1", Permuted(torch.nn.Conv2d(64, 64, 3, padding=1)),
     (2, 16, 16, 64), "fp32"),
    ("channels-last 64->64 1x1", Permuted(torch.nn.Conv2d(64, 64, 1)), (2, 8, 8, 64), "fp32"),
    ("padded bias Conv3d 16->4", torch.nn.Conv3d(16, 4, 3, 2, 1), (2, 16, 8, 8, 8), "fp32"),
    ("BatchNorm1d(256) eval", torch.nn.BatchNorm1d(256), (2, 256), "fp32"),
    ("BatchNorm2d(13) eval", torch.nn.BatchNorm2d(13), (3, 13, 5, 5), "fp32"),
    ("BatchNorm3d(8) eval", torch.nn.BatchNorm3d(8), (2, 8, 4, 4, 4), "fp32"),
    ("conv + BN + 1x1 conv, bf16", _seq(torch.nn.Conv2d(3, 16, 3, padding=1, bias=False),
                                        torch.nn.BatchNorm2d(16),
                                        torch.nn.Conv2d(16, 16, 1, bias=False)),
     (2, 3, 8, 8), "bf16"),
    ("Linear + LayerNorm, bf16", _seq(torch.nn.Linear(64, 96), torch.nn.LayerNorm(96)),
     (2, 10, 64), "bf16"),
    ("Conv3d 16->8 1x1, fp16", torch.nn.Conv3d(16, 8, 1), (2, 16, 4, 4, 4), "fp16"),
]


def _autocast(precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast("cpu", dtype=dtype)


def trace(module, shape, precision: str = "fp32") -> tuple[list[tuple[int, str]], int]:
    """``([(bytes, op)], peak)``: the allocator's events of one eval forward, in order."""
    module.eval()
    x = torch.randn(*shape)
    with torch.no_grad(), _autocast(precision):
        module(x)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        with torch.no_grad(), _autocast(precision):
            out = module(x)
        del out
    events, stack = [], list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        e = stack.pop()
        events.append(e)
        stack.extend(e.children)
    kinds = torch._C._profiler._EventType
    allocs = sorted((e.start_time_ns, e.extra_fields.alloc_size,
                     e.parent.name if e.parent else "-") for e in events
                    if e.tag == kinds.Allocation)
    live = peak = 0
    for _, size, _ in allocs:
        live += size
        peak = max(peak, live)
    return [(size, op) for _, size, op in allocs], peak


def main() -> None:
    env = environment()
    lines = [f"# Single layers in an eval-mode forward ({env['cpu']}, {env['cpu_capability']})", "",
             f"torch {env['torch']}, {env['threads']} threads; written by "
             "`validation/inference_kernels.py`: every allocation (+) and free (-) of the CPU "
             "allocator in one `model.eval()`, `torch.no_grad()` forward, and the peak above "
             "what was alive before it.", "",
             "| case | precision | events (bytes, op) | peak |", "|---|---|---|---|"]
    for what, module, shape, precision in CASES:
        events, peak = trace(module, shape, precision)
        steps = ", ".join(f"{size:+,d} {op.removeprefix('aten::')}" for size, op in events)
        lines.append(f"| {what} | {precision} | {steps} | {peak:,d} |")
        print(f"{what:36s} {precision:5s} peak {peak:>12,d}")
    path = HERE / "results" / f"cpu_{env['cpu_capability'].lower()}_inference_kernels.md"
    path.write_text("\n".join(lines) + "\n")
    print("wrote", path.relative_to(HERE.parent))


if __name__ == "__main__":
    main()

"""Self-attention in an eval-mode ``no_grad`` forward on the CPU: peaks of one-layer networks.

    PYTHONPATH=. python -m validation.attention_inference
        # -> validation/results/cpu_avx2_attention_inference.json

Each case is a network ``[Linear ->] MultiheadAttention`` on a (L, E) input (the spec of
:func:`spec_text`, the module of :func:`build`): ``nn.MultiheadAttention`` takes its fast
path (``torch._native_multi_head_attention``) or its explicit one
(``F.multi_head_attention_forward``, with ``need_weights`` false through the CPU flash
kernel of ``scaled_dot_product_attention``) by its heads, its biases and its query's dtype
(a Linear in front makes it bf16 under autocast), on 2 threads (the flash kernel's cases on 1
and 4 too); :func:`run` measures the forward's peak as
``validation.measure.measure_inference`` does (the allocator's counter, parameters and input
resident).  The fitting set of :mod:`symcnn.memory.pytorch.evalkernels`, checked in
``tests/test_inference.py``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "cpu_avx2_attention_inference.json"

#: (L, E, heads, need_weights, Linear in front, bias): both paths, both outputs, both query
#: dtypes under autocast, the flash kernel's block sizes (32, 64 and 256 query rows, 512
#: key rows)
CASES = [
    (50, 48, 2, True, False, True), (50, 48, 2, False, False, True),
    (81, 64, 4, True, True, True), (81, 64, 4, False, True, True),
    (50, 48, 3, True, False, True), (50, 48, 3, False, False, True),
    (37, 40, 5, True, True, True), (37, 40, 5, False, True, True),
    (64, 32, 2, True, False, False), (64, 32, 2, False, False, False),
    (200, 32, 1, False, False, True), (600, 16, 1, False, False, True),
    (800, 16, 1, False, False, True), (200, 32, 2, True, False, True),
]
BATCHES = (1, 2, 3)
PRECISIONS = ("fp32", "bf16")
#: The flash kernel's buffers are per thread: its cases again on 1 and 4 threads, batch 2
FLASH_CASES = [(50, 48, 3, False, False, True), (200, 32, 1, False, True, True),
               (800, 16, 1, False, False, True)]
MORE_THREADS = (1, 4)


@dataclass(frozen=True)
class Case:
    length: int
    embed: int
    heads: int
    need_weights: bool
    front: bool
    bias: bool

    @property
    def name(self) -> str:
        return (f"attn_L{self.length}_E{self.embed}_h{self.heads}"
                f"{'_w' if self.need_weights else ''}{'_lin' if self.front else ''}"
                f"{'' if self.bias else '_nobias'}")


def spec_text(case: Case) -> str:
    """The symcnn spec of ``case``'s network."""
    front = (f'[[layers]]\ntype = "Linear"\nname = "front"\nout_features = {case.embed}\n'
             if case.front else "")
    return (f'name = "{case.name}"\n[input]\nshape = [{case.length}, {case.embed}]\n{front}'
            f'[[layers]]\ntype = "MultiheadAttention"\nname = "attn"\n'
            f'embed_dim = {case.embed}\nnum_heads = {case.heads}\nbatch_first = true\n'
            f'bias = {str(case.bias).lower()}\nneed_weights = {str(case.need_weights).lower()}\n')


def build(case: Case):
    """``case``'s torch module: its forward returns the attention's output only."""
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.front = nn.Linear(case.embed, case.embed) if case.front else None
            self.attn = nn.MultiheadAttention(case.embed, case.heads, batch_first=True,
                                              bias=case.bias)

        def forward(self, x):
            if self.front is not None:
                x = self.front(x)
            return self.attn(x, x, x, need_weights=case.need_weights)[0]

    return Net()


def run(case: Case, batch: int, precision: str) -> int:
    """The measured peak (bytes, parameters and input included)."""
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    from validation import measure

    torch.manual_seed(0)
    model = build(case).eval()
    x = torch.randn(batch, case.length, case.embed)
    steady = measure.unique_bytes(list(model.parameters()) + [x])
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        with record_function("symcnn::forward"), torch.no_grad(), \
                measure.autocast_ctx(precision):
            out = model(x)
        del out
    return measure.allocator_trace(prof, steady, top=4)["peak"]


def main() -> int:
    import torch

    from validation import measure

    plan = [(c, b, p, 2) for c in CASES for b in BATCHES for p in PRECISIONS]
    plan += [(c, 2, p, t) for t in MORE_THREADS for c in FLASH_CASES for p in PRECISIONS]
    rows = []
    for c, b, p, threads in plan:
        torch.set_num_threads(threads)
        rows.append({"case": list(c), "name": Case(*c).name, "spec": spec_text(Case(*c)),
                     "batch": b, "precision": p, "threads": threads,
                     "peak": run(Case(*c), b, p)})
    torch.set_num_threads(2)
    RESULTS.write_text(json.dumps({"environment": measure.environment(), "results": rows},
                                  indent=1) + "\n")
    print(f"{len(rows)} runs -> {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Measure a training step under ``torch.utils.checkpoint.checkpoint_sequential`` on the CPU.

For a sequential zoo network (``validation/zoo``), a batch size and a number of segments, the
step is ``checkpoint_sequential(model, segments, x, use_reentrant=False)``, ``mse_loss``,
``backward``, ``optimizer.step``, ``zero_grad(set_to_none=True)``, measured as
``validation/measure.py`` measures a plain step (a warm-up step, then a profiled one):

* ``retained``: what the forward pass and the loss leave alive for the backward pass, from the
  CPU allocator's counter: the live bytes after the loss, less the steady state (parameters,
  buffers, optimizer state, x, y), the output and the loss's unreduced buffer (which the loss
  keeps: ``validation/measure.py``).  Non-reentrant checkpointing keeps its segments' saved
  tensors through its own saved-tensor hooks, so an outer ``saved_tensors_hooks`` sees only
  what lies outside them (``hooked``: each segment's input, saved by ``_NoopSaveInputs``, and
  the last segment's saves, each storage once; x counted, parameters not);
* ``step_peak``: the peak of the step from the same counter (``measure.allocator_trace``).

Run::

    python -m validation.checkpoint vgg2d --batch 2 --segments 2
"""

from __future__ import annotations

import argparse
import gc
import json
import warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
warnings.filterwarnings("ignore", message=".*Memory block of unknown size.*")

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402
from torch.utils.checkpoint import checkpoint_sequential  # noqa: E402

from validation import measure, zoo  # noqa: E402


def step(model, opt, x, y, segments: int, marks: bool = False) -> None:
    """The harness's fp32 training step, the forward pass checkpointed in ``segments``."""
    def forward(x):
        return checkpoint_sequential(model, segments, x, use_reentrant=False)
    measure.training_step(model, opt, x, y, "fp32", marks, forward if segments else model)


def hooked_saved(entry, batch: int, segments: int) -> int:
    """Bytes of the distinct storages an outer saved_tensors_hooks sees saved (no parameters)."""
    model, x, y = measure.build(entry, batch)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen = {}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() and s.data_ptr() not in params and s.data_ptr() != y.untyped_storage().data_ptr():
            seen[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = checkpoint_sequential(model, segments, x, use_reentrant=False) if segments \
            else model(x)
    del out
    return sum(seen.values())


def measure_checkpoint(name: str, batch: int, segments: int, optimizer: str = "sgd") -> dict:
    entry = zoo.get(name)
    model, x, y = measure.build(entry, batch)
    opt = measure.make_optimizer(optimizer, model.parameters())
    step(model, opt, x, y, segments)
    gc.collect()
    steady = measure.unique_bytes(list(model.parameters()) + list(model.buffers())
                                  + measure.optimizer_state_tensors(opt) + [x, y])
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step(model, opt, x, y, segments, marks=True)
    trace = measure.allocator_trace(prof, steady)
    loss = trace["phases"]["loss"]
    out_bytes = y.untyped_storage().nbytes()
    return {"network": name, "batch": batch, "segments": segments, "optimizer": optimizer,
            "steady": steady, "retained": loss["peak"] - steady - 2 * out_bytes,
            "after_forward": trace["phases"]["forward"]["end"] - steady - out_bytes,
            "hooked": hooked_saved(entry, batch, segments),
            "step_peak": trace["peak"], "peak_phase": trace["peak_phase"],
            "peak_at": trace["peak_at"],
            "phases": {k: v["peak"] for k, v in trace["phases"].items()},
            "nodes": [(d["phase"], d["node"], d["peak"]) for d in trace["nodes"]]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("network")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--segments", type=int, default=2)
    ap.add_argument("--optimizer", default="sgd")
    args = ap.parse_args(argv)
    print(json.dumps(measure_checkpoint(args.network, args.batch, args.segments,
                                        args.optimizer), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Attribute the measured training-memory peak of the lecture network.

Companion of ``gpu_lecture.py`` (imports it as ``validation.gpu_lecture``).  Usage::

    python3 -m validation.gpu_lecture_diag OUT.json

Writes, for the SGD / no-ReLU network:

* ``trace``: for batch 1 and 4, per-layer phase of one training step (after a
  warm-up step): ``memory_allocated()`` at the start of the phase and the
  ``max_memory_allocated()`` reached inside it (peak stats are reset at every
  phase boundary).  Forward phases are bounded by module forward pre/post
  hooks; backward phases by tensor hooks on each layer output (the hook on
  out_k fires when dL/d out_k is ready, i.e. when layer k's backward starts).
  ``transient`` = phase peak - allocated at phase start: memory the phase
  needed beyond what was already live (its output/gradient plus any cuDNN
  workspace).
* ``variants``: the headline measurement (peak of a full step) at batch 1 and
  4 with ``torch.backends.cudnn.allow_tf32 = False`` and with
  ``torch.backends.cudnn.benchmark = True``.
"""
from __future__ import annotations

import json
import sys
import time

import torch
import torch.nn.functional as F

from validation import gpu_lecture as gl  # noqa: E402


def trace_step(batch: int, device="cuda", input_shape=gl.INPUT_SHAPE):
    cuda = device == "cuda"
    alloc = torch.cuda.memory_allocated if cuda else (lambda: 0)
    peak = torch.cuda.max_memory_allocated if cuda else (lambda: 0)
    reset = torch.cuda.reset_peak_memory_stats if cuda else (lambda: None)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    gl._cleanup()

    model = gl.build_model(False, input_shape).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(batch, *input_shape, device=device)
    y = torch.zeros(batch, 1, device=device)
    gl._train_step(model, opt, x, y)  # warm-up
    sync()

    events: list[dict] = []
    state = {"name": None, "start": 0, "t": 0.0}
    active = {"on": False}

    def boundary(next_name):
        """Close the current phase and open ``next_name``."""
        sync()
        if state["name"] is not None:
            events.append({"phase": state["name"], "allocated_at_start": state["start"],
                           "peak": peak(), "allocated_at_end": alloc(),
                           "transient": peak() - state["start"]})
        state["name"] = next_name
        state["start"] = alloc()
        reset()

    names = [f"{i}:{type(m).__name__}" for i, m in enumerate(model)]
    handles = []
    for i, mod in enumerate(model):
        def pre(_m, _inp, i=i):
            if active["on"]:
                boundary(f"fwd {names[i]}")

        def post(_m, _inp, out, i=i):
            if not active["on"]:
                return
            boundary(f"after fwd {names[i]}")
            if out.requires_grad:
                out.register_hook(lambda g, i=i: boundary(f"bwd {names[i]}") if active["on"] else None)
        handles.append(mod.register_forward_pre_hook(pre))
        handles.append(mod.register_forward_hook(post))

    active["on"] = True
    boundary("start")
    out = model(x)
    boundary("loss")
    loss = F.mse_loss(out, y)
    boundary("backward (loss)")
    loss.backward()
    boundary("optimizer.step")
    opt.step()
    boundary("zero_grad")
    opt.zero_grad(set_to_none=True)
    boundary(None)
    active["on"] = False
    for h in handles:
        h.remove()
    del model, opt, x, y, out, loss
    gl._cleanup()
    return events


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out_path = argv[0]
    t0 = time.perf_counter()
    res = {"environment": gl.environment(), "trace": {}, "variants": []}

    def dump():
        with open(out_path, "w") as fh:
            json.dump(res, fh, indent=1)

    for b in (1, 4):
        try:
            res["trace"][str(b)] = trace_step(b)
        except Exception as exc:  # noqa: BLE001
            res["trace"][str(b)] = {"error": f"{type(exc).__name__}: {str(exc)[:400]}"}
        gl._cleanup()
        dump()
        print(f"trace b={b}", flush=True)
        for e in res["trace"][str(b)] if isinstance(res["trace"][str(b)], list) else []:
            print(f"  {e['phase']:<28} start={e['allocated_at_start']/1e6:10.1f} MB "
                  f"peak={e['peak']/1e6:10.1f} MB transient={e['transient']/1e6:10.1f} MB",
                  flush=True)

    for label, setup, teardown in (
        ("cudnn.allow_tf32=False",
         lambda: setattr(torch.backends.cudnn, "allow_tf32", False),
         lambda: setattr(torch.backends.cudnn, "allow_tf32", True)),
        ("cudnn.benchmark=True",
         lambda: setattr(torch.backends.cudnn, "benchmark", True),
         lambda: setattr(torch.backends.cudnn, "benchmark", False)),
    ):
        setup()
        for b in (1, 4):
            try:
                rec = gl.measure("sgd", False, b)
            except Exception as exc:  # noqa: BLE001
                rec = {"batch": b, "error": f"{type(exc).__name__}: {str(exc)[:400]}"}
            gl._cleanup()
            rec["variant"] = label
            res["variants"].append(rec)
            print(label, json.dumps(rec), flush=True)
            dump()
        teardown()
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    dump()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The peak of live memory inside one node's forward call and backward functions, measured in
PyTorch the way ``validation/measure.py`` measures whole networks (needs torch; imported by
the functions that use it).

A model ``nn.Sequential`` whose node ``name`` is measured runs a warm-up training step
(forward and ``mse_loss`` under the autocast of ``precision``, ``backward``, ``SGD.step``,
``zero_grad(set_to_none=True)``), then the same step again, measured:

* **CPU**: under ``torch.profiler.profile(profile_memory=True)``.  Every ``[memory]`` event
  carries the CPU allocator's counter (``total_allocated``: the bytes it has handed out and
  not taken back), so ``live(t) = steady + total(t) - total(start)``, ``steady`` being the
  bytes alive before the step (parameters, buffers, x and y, each storage once).  The node's
  forward call is a ``record_function`` range (forward hooks); its backward functions are the
  autograd functions whose sequence numbers its forward ops made.  A phase's peak is the
  highest ``live`` inside its ranges (or at their start).
* **CUDA**: ``torch.cuda.max_memory_allocated`` between hooks at the same boundaries (the
  peak statistics reset at each start), net of what was allocated before the model was made.

Then an eval-mode ``no_grad`` forward pass (the ``inference`` phase), measured the same way,
``steady`` being the parameters, buffers and x.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import warnings

from symcnn.errors import SymcnnError

#: The profiler's name for the range of an autograd function's backward.
EVALUATE = "autograd::engine::evaluate_function: "
#: The ``record_function`` range around the measured node's forward call.
MARK = "symcnn::calibrated"


def _torch():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import torch
    except ImportError:
        raise SymcnnError('calibrate measures in PyTorch, which is not installed: '
                          'pip install "symcnn[torch]"') from None
    return torch


def autocast(device: str, precision: str):
    torch = _torch()
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device, dtype=dtype)


def unique_bytes(tensors) -> int:
    """Bytes of the distinct storages behind ``tensors``."""
    seen = {}
    for t in tensors:
        storage = t.untyped_storage()
        if storage.data_ptr():
            seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())


def _step(model, opt, x, y, device: str, precision: str) -> None:
    """One training step, as ``validation/measure.py`` takes it."""
    torch = _torch()
    with autocast(device, precision):
        out = model(x)
        loss = torch.nn.functional.mse_loss(out, y)
        del out
    if opt is None:                       # nothing needs a gradient: no backward
        return
    loss.backward()
    del loss
    opt.step()
    opt.zero_grad(set_to_none=True)


def measure(model, name: str, input_shape, batch: int, device: str = "cpu",
            precision: str = "fp32") -> dict[str, int]:
    """``{"forward": peak, "backward": peak, "inference": peak}``: the live bytes at the
    highest point inside node ``name``'s forward call, its backward functions and its
    eval-mode forward call (see the module), at ``batch``."""
    torch = _torch()
    module = dict(model.named_children())[name]
    if device == "cuda":
        gc.collect()
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated()
    torch.manual_seed(0)
    model = model.to(device)
    x = torch.randn(batch, *input_shape, device=device)
    with torch.no_grad():
        model.eval()
        y = torch.randn_like(model(x))
        model.train()
    trained = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(trained, lr=0.01) if trained else None
    _step(model, opt, x, y, device, precision)                # warm-up
    gc.collect()
    tensors = list(model.parameters()) + list(model.buffers())
    if device == "cuda":
        out = _cuda_step(model, module, opt, x, y, precision, base)
    else:
        steady = unique_bytes(tensors + [x, y])
        out = _cpu_peaks(lambda: _step(model, opt, x, y, device, precision), module, steady)
    model.eval()
    with torch.no_grad():
        forward = lambda: model(x)  # noqa: E731
        if device == "cuda":
            out["inference"] = _cuda_window(forward, module, precision, base)
        else:
            steady = unique_bytes(tensors + [x])
            with autocast(device, precision):
                out["inference"] = _cpu_peaks(forward, module, steady)["forward"]
    return out


class _Marked:
    """Forward hooks that put ``module``'s forward call in the range :data:`MARK`."""

    def __init__(self, module):
        self.module, self.handles, self.open = module, [], []

    def __enter__(self):
        torch = _torch()

        def pre(m, args):
            rf = torch.profiler.record_function(MARK)
            rf.__enter__()
            self.open.append(rf)

        def post(m, args, out):
            self.open.pop().__exit__(None, None, None)

        self.handles = [self.module.register_forward_pre_hook(pre),
                        self.module.register_forward_hook(post)]
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()


@contextlib.contextmanager
def _quiet():
    """The process's standard error (file descriptor 2) sent to the null device: the profiler's
    library prints a line at every start and stop there, which would break the progress bar."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _events(prof) -> list:
    try:
        roots = prof.profiler.kineto_results.experimental_event_tree()
    except AttributeError:
        raise SymcnnError("this PyTorch's profiler has no event tree; calibrate needs "
                          "torch >= 2.1") from None
    events, stack = [], list(roots)
    while stack:
        e = stack.pop()
        events.append(e)
        stack.extend(e.children)
    return events


def _cpu_peaks(run, module, steady: int) -> dict[str, int]:
    """The highest live bytes inside ``module``'s forward call and its backward functions
    while ``run()`` runs under the profiler (see the module)."""
    torch = _torch()
    from torch.profiler import ProfilerActivity, profile

    kinds = torch._C._profiler._EventType
    with _quiet(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof, \
            _Marked(module):
        run()
    events = _events(prof)
    ops = [e for e in events if e.tag == kinds.TorchOp]
    forward = [(e.start_time_ns, e.end_time_ns) for e in ops if e.name == MARK]
    if not forward:
        raise SymcnnError("the profiler saw no forward call of the measured layer")
    inside = lambda t: any(s <= t <= e for s, e in forward)  # noqa: E731
    seqs = {e.extra_fields.sequence_number for e in ops
            if e.extra_fields.sequence_number >= 0 and not e.name.startswith(EVALUATE)
            and inside(e.start_time_ns)}
    backward = [(e.start_time_ns, e.end_time_ns) for e in ops if e.name.startswith(EVALUATE)
                and e.extra_fields.sequence_number in seqs]
    allocs = sorted((e.start_time_ns, e.extra_fields.allocation_id, e.extra_fields.alloc_size,
                      e.extra_fields.total_allocated) for e in events
                     if e.tag == kinds.Allocation and e.extra_fields.device.type == "cpu")
    base = allocs[0][3] - allocs[0][2] if allocs else 0
    live = [(t, steady + total - base) for t, _, _, total in allocs]
    return {"forward": _highest(live, forward, steady),
            "backward": _highest(live, backward, steady)}


def _highest(live: list[tuple[int, int]], ranges, steady: int) -> int:
    """The most ``live`` bytes inside any of ``ranges`` or at its start."""
    best = None
    for start, end in ranges:
        before = [v for t, v in live if t < start]
        level = before[-1] if before else steady
        during = [v for t, v in live if start <= t <= end]
        top = max([level, *during])
        best = top if best is None else max(best, top)
    return steady if best is None else best


def _cuda_window(run, module, precision: str, base: int) -> int:
    """``max_memory_allocated`` (net of ``base``) inside ``module``'s forward call."""
    torch = _torch()
    peaks = []

    def pre(m, args):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()

    def post(m, args, out):
        torch.cuda.synchronize()
        peaks.append(torch.cuda.max_memory_allocated() - base)

    handles = [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    try:
        with autocast("cuda", precision):
            run()
    finally:
        for h in handles:
            h.remove()
    return max(peaks)


def _cuda_step(model, module, opt, x, y, precision: str, base: int) -> dict[str, int]:
    """The forward and backward peaks of ``module`` on CUDA: hooks on its forward call and on
    the autograd functions its forward made (from its output's back to its input's)."""
    torch = _torch()
    peaks = {"forward": [], "backward": []}
    seen = {}

    def reset(*_):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()

    def read(phase):
        def hook(*_):
            torch.cuda.synchronize()
            peaks[phase].append(torch.cuda.max_memory_allocated() - base)
        return hook

    def post(m, args, out):
        read("forward")()
        stop = {a.grad_fn for a in args if getattr(a, "grad_fn", None) is not None}
        todo = [out.grad_fn] if out.grad_fn is not None else []
        while todo:
            fn = todo.pop()
            if fn is None or fn in stop or fn in seen or type(fn).__name__ == "AccumulateGrad":
                continue
            seen[fn] = (fn.register_prehook(reset), fn.register_hook(read("backward")))
            todo += [n for n, _ in fn.next_functions]

    handles = [module.register_forward_pre_hook(lambda m, a: reset()),
               module.register_forward_hook(post)]
    try:
        _step(model, opt, x, y, "cuda", precision)
    finally:
        for h in handles:
            h.remove()
    return {phase: max(values) if values else 0 for phase, values in peaks.items()}

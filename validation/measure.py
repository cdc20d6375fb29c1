"""Measure what PyTorch really keeps for one training step on the CPU.

For one zoo network (``validation/zoo``), batch size, optimizer and precision:

* **Saved tensors** (:func:`measure_saved`): the forward pass and the loss run inside
  ``torch.autograd.graph.saved_tensors_hooks``.  The pack hook records, for every tensor autograd
  saves, its storage (``untyped_storage().data_ptr()``, ``nbytes()``), dtype, shape and the leaf
  module whose forward was running (forward pre-/post-hooks on every leaf module; an op outside
  any leaf module is given to the next leaf module entered; the loss is the node ``loss``).  Each
  saved tensor also gets a *role*: ``input``/``output`` of its node (same storage as an argument
  / the result of that module call), ``param`` (same storage as a parameter; these are excluded
  from the saved totals, they are counted as parameters), ``param_cast`` (a parameter-shaped copy
  in another dtype: the autocast weight copy), ``input_cast`` (an input-shaped copy in another
  dtype), or ``other`` (masks, indices, per-channel statistics, ...).  Totals are given with each
  storage counted once (``dedup``) and with every save counted (``raw``).  The pack hook returns
  the tensor unchanged and keeps no reference to it, so it changes nothing.
* **Peak memory of one training step** (:func:`measure_step`): a warm-up step (forward,
  ``mse_loss``, ``backward``, ``optimizer.step``, ``zero_grad(set_to_none=True)``) creates the
  optimizer state; then an identical step runs under ``torch.profiler.profile(profile_memory=True,
  record_shapes=True, with_stack=True)`` with each phase in a ``record_function`` range.

  The live bytes over time come from the CPU allocator's own counter: every ``[memory]`` event of
  the profiler carries ``total_allocated``, the bytes the c10 CPU allocator has handed out and not
  yet taken back (counted from the moment the profiler started: allocations made before do not
  enter it).  So ``live(t) = steady + total_allocated(t) - total_allocated(start)``, where
  ``steady`` is the bytes alive before the step: parameters, buffers, optimizer state, x and y,
  each storage counted once (they are enumerated in Python).  ``step peak = max live(t)``; the
  same maximum restricted to one phase's time range gives the forward / loss / backward /
  optimizer peaks.  The category breakdown at the peak comes from the profiler's memory timeline
  (``torch.profiler._memory_profiler.MemoryProfileTimeline``, the data behind
  ``prof.export_memory_timeline``; in torch 2.13 it requires ``with_stack=True``), which sorts
  every live tensor into PARAMETER, OPTIMIZER_STATE, INPUT, TEMPORARY, ACTIVATION, GRADIENT,
  AUTOGRAD_DETAIL or UNKNOWN.  Its peak total is reported beside the allocator's peak; the two
  normally agree to a few bytes.
* **Inference peak** (:func:`measure_inference`): ``model.eval()`` and ``torch.no_grad()``
  (and the autocast context for bf16), the same allocator counter, on a fresh model without an
  optimizer; ``steady`` is parameters + buffers + x.

What the allocator counter does not see: memory that oneDNN or OpenMP obtain without going
through the c10 CPU allocator, and the allocator's own overhead (glibc malloc rounding).  Bytes
are the sizes requested from the allocator (the storage sizes).

Run one configuration::

    python -m validation.measure resnet --batch 4 --optimizer adam --precision bf16
"""

from __future__ import annotations

import argparse
import bisect
import collections
import contextlib
import gc
import json
import platform
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
warnings.filterwarnings("ignore", message=".*Memory block of unknown size.*")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.profiler import ProfilerActivity, profile, record_function  # noqa: E402

from symcnn.memory.calibrate import cpu_name  # noqa: E402
from validation import saved_rules, zoo  # noqa: E402

PHASES = ("forward", "loss", "backward", "del_loss", "optimizer", "zero_grad")
CATEGORY_NAMES = ("PARAMETER", "OPTIMIZER_STATE", "INPUT", "TEMPORARY", "ACTIVATION", "GRADIENT",
                  "AUTOGRAD_DETAIL", "UNKNOWN")
OPTIMIZERS = ("sgd", "momentum", "adam")
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Config:
    """One measurement: a zoo network, a batch size, an optimizer and a precision.

    ``optimizer``: ``sgd`` (``SGD(lr=0.01)``, no momentum), ``momentum`` (``SGD(lr=0.01,
    momentum=0.9)``) or ``adam`` (``Adam(lr=1e-3)``).  ``foreach``: the optimizer's ``foreach``
    argument (``None``: PyTorch's default, which on the CPU is the single-tensor for-loop).
    ``precision``: ``fp32``, or ``bf16`` (``torch.autocast("cpu", dtype=torch.bfloat16)`` around the
    forward pass and the loss; parameters, gradients and optimizer state stay fp32).
    """

    network: str
    batch: int
    optimizer: str = "sgd"
    precision: str = "fp32"
    foreach: bool | None = None

    @property
    def label(self) -> str:
        fe = "" if self.foreach is None else f", foreach={self.foreach}"
        return f"{self.optimizer}{fe}, {self.precision}"


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------

def storage_key(t: torch.Tensor) -> tuple[int, int]:
    s = t.untyped_storage()
    return s.data_ptr(), s.nbytes()


def unique_bytes(tensors) -> int:
    """Bytes of the distinct storages behind ``tensors``."""
    seen = {}
    for t in tensors:
        if isinstance(t, torch.Tensor) and t.device.type == "cpu":
            ptr, n = storage_key(t)
            if ptr:
                seen[ptr] = n
    return sum(seen.values())


def dtype_class(dtype: str) -> str:
    if dtype in ("torch.float32", "torch.float64", "torch.float16", "torch.bfloat16"):
        return "float"
    if dtype == "torch.int64":
        return "int64"
    if dtype == "torch.bool":
        return "bool"
    return "other"


def autocast_ctx(precision: str):
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    if precision == "fp16":
        return torch.autocast("cpu", dtype=torch.float16)
    if precision != "fp32":
        raise ValueError(f"unknown precision {precision!r}")
    return contextlib.nullcontext()


def make_optimizer(name: str, params, foreach: bool | None = None):
    params = list(params)
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.01, foreach=foreach)
    if name == "momentum":
        return torch.optim.SGD(params, lr=0.01, momentum=0.9, foreach=foreach)
    if name == "adam":
        return torch.optim.Adam(params, lr=1e-3, foreach=foreach)
    raise ValueError(f"unknown optimizer {name!r}")


def build(entry: zoo.ZooEntry, batch: int, seed: int = 0):
    """A fresh model (train mode), an input x and a target y of the output's shape."""
    torch.manual_seed(seed)
    model = entry.builder()
    model.train()
    x = torch.randn(batch, *entry.input_shape)
    with torch.no_grad():
        model.eval()
        out_shape = tuple(model(x[:1]).shape[1:])
        model.train()
    y = torch.randn(batch, *out_shape)
    return model, x, y


def optimizer_state_tensors(opt) -> list[torch.Tensor]:
    out = []
    for state in opt.state.values():
        out += [v for v in state.values() if isinstance(v, torch.Tensor)]
    return out


def _param_owner(model) -> dict[int, tuple[str, str]]:
    """storage ptr -> (module name, parameter name) for every parameter and buffer."""
    out = {}
    for mname, mod in model.named_modules():
        for pname, p in list(mod.named_parameters(recurse=False)) + \
                list(mod.named_buffers(recurse=False)):
            out[p.untyped_storage().data_ptr()] = (mname, pname)
    return out


# ----------------------------------------------------------------------------------------------
# saved tensors
# ----------------------------------------------------------------------------------------------

class SavedTensorRecorder:
    """Records every tensor autograd saves, the leaf module that saved it, and its role."""

    def __init__(self, model, x: torch.Tensor, y: torch.Tensor):
        self.model = model
        self.leaves = zoo.leaf_modules(model)
        self.owner = _param_owner(model)
        self.param_ptrs = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self.buffer_ptrs = {b.untyped_storage().data_ptr() for b in model.buffers()}
        self.param_shapes = {name: [tuple(p.shape) for p in m.parameters(recurse=False)]
                             for name, m in self.leaves.items()}
        self.x_ptr = x.untyped_storage().data_ptr()
        self.y_ptr = y.untyped_storage().data_ptr()
        self.current: str | None = None
        self.calls: list[dict] = []  # one per leaf-module call: name, type, input/output storages
        self.pending: list[dict] = []
        self.records: list[dict] = []
        self.handles = []

    # module hooks -----------------------------------------------------------------------------
    def _pre(self, name):
        def hook(mod, args):
            ins = [a for a in args if isinstance(a, torch.Tensor)]
            call = {"node": name, "type": type(mod).__name__,
                    "inputs": [{"ptr": storage_key(a)[0], "shape": list(a.shape),
                                "dtype": str(a.dtype), "requires_grad": a.requires_grad}
                               for a in ins],
                    "output": None}
            self.calls.append(call)
            for r in self.pending:  # function-level ops since the last module: this node's
                r["node"], r["between"], r["call"] = name, True, len(self.calls) - 1
            self.pending = []
            self.current = name
        return hook

    def _post(self, name):
        def hook(mod, args, out):
            call = self.calls[-1]
            if isinstance(out, torch.Tensor):
                call["output"] = {"ptr": storage_key(out)[0], "shape": list(out.shape),
                                  "dtype": str(out.dtype)}
            self.current = None
        return hook

    def __enter__(self):
        for name, mod in self.leaves.items():
            self.handles.append(mod.register_forward_pre_hook(self._pre(name)))
            self.handles.append(mod.register_forward_hook(self._post(name)))
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        self.handles = []
        for r in self.pending:
            r["node"], r["between"] = "(after forward)", True

    # pack hook --------------------------------------------------------------------------------
    def pack(self, t: torch.Tensor):
        s = t.untyped_storage()
        rec = {"seq": len(self.records), "node": self.current,
               "call": len(self.calls) - 1 if self.current else None, "between": False,
               "ptr": s.data_ptr(), "storage_nbytes": s.nbytes(), "dtype": str(t.dtype),
               "shape": list(t.shape), "tensor_nbytes": t.numel() * t.element_size(),
               "is_param": s.data_ptr() in self.param_ptrs,
               "is_buffer": s.data_ptr() in self.buffer_ptrs,
               "is_x": s.data_ptr() == self.x_ptr, "is_y": s.data_ptr() == self.y_ptr}
        if rec["is_param"] or s.data_ptr() in self.owner:
            rec["param_name"] = ".".join(p for p in self.owner[s.data_ptr()] if p)
        if self.current is None:
            self.pending.append(rec)
        self.records.append(rec)
        return t

    @staticmethod
    def unpack(t):
        return t

    # roles ------------------------------------------------------------------------------------
    def finish(self) -> None:
        """Give each record its role (input, output, param, param_cast, input_cast, other)."""
        for r in self.records:
            call = self.calls[r["call"]] if r.get("call") is not None else None
            if r["is_param"]:
                r["role"] = "param"
            elif r["is_buffer"]:
                r["role"] = "buffer"
            elif r["is_y"]:
                r["role"] = "target"
            elif call is None:
                r["role"] = "target" if r["is_y"] else "other"
            else:
                in_ptrs = [i["ptr"] for i in call["inputs"]]
                out = call["output"]
                if r["ptr"] in in_ptrs and out is not None and r["ptr"] == out["ptr"]:
                    r["role"] = "input=output (in-place)"
                elif r["ptr"] in in_ptrs:
                    r["role"] = "input"
                elif out is not None and r["ptr"] == out["ptr"]:
                    r["role"] = "output"
                elif r["dtype"] != "torch.float32" and (
                        tuple(r["shape"]) in self.param_shapes.get(r["node"], [])
                        or tuple(reversed(r["shape"])) in self.param_shapes.get(r["node"], [])):
                    r["role"] = "param_cast"
                elif any(tuple(r["shape"]) == tuple(i["shape"]) and r["dtype"] != i["dtype"]
                         for i in call["inputs"]):
                    r["role"] = "input_cast"
                else:
                    r["role"] = "other"


def _saved_summary(rec: SavedTensorRecorder, node_types: dict[str, str]) -> dict:
    """Totals (dedup and raw), per node, per role."""
    records = rec.records
    first_owner: dict[int, str] = {}
    nodes: dict[str, dict] = collections.OrderedDict()
    for name in list(node_types) + ["loss"]:
        nodes[name] = {"type": node_types.get(name, "loss"), "bytes": 0, "raw_bytes": 0,
                       "by_dtype": {}, "tensors": []}
    totals = {"dedup": 0, "raw": 0, "dedup_excl_x": 0, "x_bytes": 0, "y_bytes": 0,
              "params_saved_raw": 0, "params_saved_dedup": 0, "buffers_saved_raw": 0,
              "buffers_saved_dedup": 0, "by_dtype": {}, "by_role": {}}
    seen_params = set()
    for r in records:
        node = nodes.setdefault(r["node"], {"type": "?", "bytes": 0, "raw_bytes": 0,
                                            "by_dtype": {}, "tensors": []})
        item = {k: r[k] for k in ("dtype", "shape", "storage_nbytes", "tensor_nbytes", "role")}
        if r.get("between"):
            item["between_modules"] = True
        if r["is_param"] or r["is_buffer"]:
            kind = "params" if r["is_param"] else "buffers"
            item["param"] = r.get("param_name")
            totals[f"{kind}_saved_raw"] += r["storage_nbytes"]
            if r["ptr"] not in seen_params:
                seen_params.add(r["ptr"])
                totals[f"{kind}_saved_dedup"] += r["storage_nbytes"]
            node["tensors"].append(item)
            continue
        totals["raw"] += r["storage_nbytes"]
        node["raw_bytes"] += r["storage_nbytes"]
        if r["ptr"] in first_owner:
            item["shared_with"] = first_owner[r["ptr"]]
            item["counted"] = False
        else:
            first_owner[r["ptr"]] = r["node"]
            item["counted"] = True
            nb = r["storage_nbytes"]
            node["bytes"] += nb
            cls = dtype_class(r["dtype"])
            node["by_dtype"][cls] = node["by_dtype"].get(cls, 0) + nb
            totals["by_dtype"][cls] = totals["by_dtype"].get(cls, 0) + nb
            role = "x" if r["is_x"] else ("y" if r["is_y"] else r["role"])
            totals["by_role"][role] = totals["by_role"].get(role, 0) + nb
            totals["dedup"] += nb
            if r["is_x"]:
                totals["x_bytes"] += nb
            elif r["is_y"]:
                totals["y_bytes"] += nb
            else:
                totals["dedup_excl_x"] += nb
        node["tensors"].append(item)
    totals["dedup_excl_x_y"] = totals["dedup_excl_x"]
    totals["dedup_excl_x"] += totals["y_bytes"]
    return {"total": totals, "nodes": nodes, "count": len(records)}


def measure_saved(entry: zoo.ZooEntry, batch: int, precision: str = "fp32") -> dict:
    """What autograd saves in the forward pass and the loss of one training step."""
    model, x, y = build(entry, batch)
    node_types = {n: type(m).__name__ for n, m in zoo.leaf_modules(model).items()}
    rec = SavedTensorRecorder(model, x, y)
    with rec, torch.autograd.graph.saved_tensors_hooks(rec.pack, rec.unpack):
        with autocast_ctx(precision):
            out = model(x)
            rec.calls.append({"node": "loss", "type": "mse_loss", "output": None,
                              "inputs": [{"ptr": storage_key(t)[0], "shape": list(t.shape),
                                          "dtype": str(t.dtype), "requires_grad": t.requires_grad}
                                         for t in (out, y)]})
            rec.current = "loss"
            loss = F.mse_loss(out, y)
            rec.current = None
    out_info = {"shape": list(out.shape), "dtype": str(out.dtype),
                "nbytes": out.untyped_storage().nbytes()}
    del out, loss
    rec.finish()
    summary = _saved_summary(rec, node_types)
    summary["output"] = out_info
    items = saved_rules.expected(rec.calls, rec.leaves, precision)
    summary["rules"] = saved_rules.compare(items, summary)
    for it in items:
        node = summary["nodes"].get(it["node"])
        if node is not None:
            node.setdefault("expected", []).append([it["what"], it["bytes"]])
    summary["calls"] = [{"node": c["node"], "type": c["type"],
                         "in": [i["shape"] for i in c["inputs"]],
                         "in_dtype": [i["dtype"] for i in c["inputs"]],
                         "out": c["output"]["shape"] if c["output"] else None,
                         "out_dtype": c["output"]["dtype"] if c["output"] else None,
                         "module": repr(rec.leaves[c["node"]]) if c["node"] in rec.leaves else "",
                         "params": {n: p.numel() for n, p in
                                    rec.leaves[c["node"]].named_parameters(recurse=False)}
                         if c["node"] in rec.leaves else {}}
                        for c in rec.calls]
    return summary


# ----------------------------------------------------------------------------------------------
# peaks
# ----------------------------------------------------------------------------------------------

_EV = torch._C._profiler._EventType
EVAL = "autograd::engine::evaluate_function: "


@dataclass
class Alloc:
    """One ``[memory]`` event of the profiler, with where it happened."""

    t: int
    size: int  # > 0 allocation, < 0 free
    ptr: int
    aid: int
    total: int  # the allocator's counter after this event
    phase: str | None
    node: str | None  # forward: the leaf module running; backward: the node whose grad_fn runs
    op: str | None  # innermost aten op (None: a raw allocation, e.g. oneDNN's, or a free)
    fn: str | None  # autograd function (backward) if any


class NodeMarks:
    """Forward pre-/post-hooks that put every leaf module call in a ``node::NAME`` range."""

    def __init__(self, model):
        self.leaves = zoo.leaf_modules(model)
        self.stack, self.handles = [], []

    def __enter__(self):
        for name, mod in self.leaves.items():
            def pre(m, args, name=name):
                rf = record_function("node::" + name)
                rf.__enter__()
                self.stack.append(rf)

            def post(m, args, out):
                self.stack.pop().__exit__(None, None, None)

            self.handles += [mod.register_forward_pre_hook(pre), mod.register_forward_hook(post)]
        return self

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()


class _Ranges:
    """Non-overlapping named time ranges; which one holds a time stamp."""

    def __init__(self, ranges):
        self.ranges = sorted(ranges)  # (start, end, name)
        self.starts = [r[0] for r in self.ranges]

    def at(self, t):
        i = bisect.bisect_right(self.starts, t) - 1
        if i >= 0 and self.ranges[i][0] <= t <= self.ranges[i][1]:
            return self.ranges[i][2]
        return None


def profiler_events(prof) -> list:
    """Every event of a finished ``torch.profiler.profile`` (with ``profile_memory=True``: its
    allocations too), its event tree walked depth first."""
    events, stack = [], list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        e = stack.pop()
        events.append(e)
        stack.extend(e.children)
    return events


def collect(prof) -> tuple[list[Alloc], dict, dict]:
    """Allocation events with phase and node, the phase ranges, and per-node ranges.

    Phases (``symcnn::*`` ranges) and forward nodes (``node::*`` ranges) are found by time: with
    ``with_stack=True`` the profiler nests a ``record_function`` under the Python call that opened
    it, not around the ops that ran inside.  Ops and autograd functions are found by nesting.
    A backward allocation belongs to the node whose forward op has the autograd function's
    sequence number."""
    events = profiler_events(prof)
    phase_marks, node_marks = {}, []
    for e in events:
        if e.tag == _EV.TorchOp and e.name.startswith("symcnn::"):
            phase_marks[e.name[8:]] = (e.start_time_ns, e.end_time_ns)
        elif e.tag == _EV.TorchOp and e.name.startswith("node::"):
            node_marks.append((e.start_time_ns, e.end_time_ns, e.name[6:]))
    phase_of = _Ranges([(s, e, n) for n, (s, e) in phase_marks.items()])
    node_of = _Ranges(node_marks)
    seq_node: dict[int, str] = {}
    for e in sorted(events, key=lambda e: e.start_time_ns):
        if e.tag == _EV.TorchOp and e.extra_fields.sequence_number >= 0 \
                and not e.name.startswith(EVAL) and phase_of.at(e.start_time_ns) == "forward":
            node = node_of.at(e.start_time_ns)
            if node is not None:  # the op that creates the autograd node is the last to see
                seq_node[e.extra_fields.sequence_number] = node  # its sequence number
    node_ranges: dict[tuple, list] = collections.defaultdict(list)
    for s, e, n in node_marks:
        node_ranges[("forward", n)].append((s, e))
    allocs: list[Alloc] = []
    for e in events:
        if e.tag == _EV.TorchOp and e.name.startswith(EVAL):
            seq = e.extra_fields.sequence_number
            fn = e.name[len(EVAL):]
            node = seq_node.get(seq, "loss" if seq >= 0 else fn.split("::")[-1])
            node_ranges[("backward", node)].append((e.start_time_ns, e.end_time_ns))
        if e.tag != _EV.Allocation or e.extra_fields.device.type != "cpu":
            continue
        op = fn = None
        p = e.parent
        while p is not None:
            if p.tag == _EV.TorchOp:
                if op is None and (p.name.startswith("aten::") or p.name.startswith("Optimizer.")):
                    op = p.name
                if p.name.startswith(EVAL):
                    fn = p.name[len(EVAL):]
                    seq = p.extra_fields.sequence_number
                    break
            p = p.parent
        f = e.extra_fields
        phase = phase_of.at(e.start_time_ns)
        if fn is not None:
            node = seq_node.get(seq, "loss" if seq >= 0 else fn.split("::")[-1])
        else:
            node = node_of.at(e.start_time_ns)
        allocs.append(Alloc(e.start_time_ns, f.alloc_size, f.ptr, f.allocation_id,
                            f.total_allocated, phase, node, op, fn))
    allocs.sort(key=lambda a: (a.t, a.aid, a.size))
    return allocs, phase_marks, node_ranges


def _where(a: Alloc) -> str:
    bits = [a.phase or "-", a.node or "-"]
    if a.fn and a.phase == "backward":
        bits.append(a.fn)
    bits.append(a.op or "raw")
    return " / ".join(bits)


def allocator_trace(prof, steady: int, top: int = 12, events: bool = False) -> dict:
    """Live bytes over time from the allocator counter; the peak, what is alive there, and the
    peak of every phase and every node (forward and backward)."""
    allocs, phases, node_ranges = collect(prof)
    base = allocs[0].total - allocs[0].size if allocs else 0
    live = [steady + a.total - base for a in allocs]
    if allocs:
        k = max(range(len(allocs)), key=live.__getitem__)
        peak, pa = live[k], allocs[k]
    else:
        k, peak, pa = -1, steady, None
    peak = max(peak, steady)

    times = [a.t for a in allocs]

    def window(s, e, ev=True):
        lo, hi = bisect.bisect_left(times, s), bisect.bisect_right(times, e)
        start = live[lo - 1] if lo > 0 else steady
        if lo >= hi:
            return {"start": start, "peak": start, "end": start}
        j = max(range(lo, hi), key=live.__getitem__)
        out = {"start": start, "peak": max(live[j], start), "end": live[hi - 1],
               "peak_at": _where(allocs[j])}
        if events and ev:  # the allocations and frees in the range: [bytes, op] (op "raw": not an op)
            out["events"] = [[a.size, (a.op or "raw").replace("aten::", "")]
                             for a in allocs[lo:hi]]
        return out

    out_phases = {p: window(*phases[p], ev=p not in ("forward", "backward"))
                  for p in PHASES if p in phases}
    per_node = []
    for (phase, node), ranges in node_ranges.items():
        s, e = min(r[0] for r in ranges), max(r[1] for r in ranges)
        w = window(s, e) if len(ranges) == 1 else None
        if w is None:  # several ranges (e.g. AccumulateGrad): the highest of them
            ws = [window(*r) for r in ranges]
            w = max(ws, key=lambda d: d["peak"])
            w["start"], w["end"] = ws[0]["start"], ws[-1]["end"]
            w["calls"] = len(ranges)
        w.update(phase=phase, node=node, t=s)
        per_node.append(w)
    per_node.sort(key=lambda d: d["t"])
    for d in per_node:
        del d["t"]

    # what is alive at the peak: step allocations not yet freed, grouped by where they were made
    alive: dict[int, Alloc] = {}
    for a in allocs[:k + 1]:
        if a.size > 0:
            alive[a.ptr] = a
        else:
            alive.pop(a.ptr, None)
    groups: dict[str, list[int]] = collections.defaultdict(list)
    for a in alive.values():
        groups[_where(a)].append(a.size)
    alive_list = sorted(({"where": w, "bytes": sum(v), "count": len(v), "sizes": sorted(v)[-6:]}
                         for w, v in groups.items()), key=lambda d: -d["bytes"])
    return {"peak": peak, "peak_phase": pa.phase if pa else None,
            "peak_node": pa.node if pa else None, "peak_at": _where(pa) if pa else None,
            "peak_alloc_bytes": pa.size if pa else 0,
            "alive_at_peak": {"steady": steady, "step_allocations": sum(a.size for a in
                                                                        alive.values()),
                              "groups": alive_list[:top],
                              "groups_left_out": max(0, len(alive_list) - top)},
            "phases": out_phases, "nodes": per_node, "marks": phases, "n_events": len(allocs)}


def timeline_breakdown(prof, marks) -> dict:
    """Peak of the profiler's memory timeline and its categories there (and per phase)."""
    from torch.profiler._memory_profiler import _CATEGORY_TO_INDEX, MemoryProfileTimeline

    tl = MemoryProfileTimeline(prof._memory_profile())
    times, sizes = tl._coalesce_timeline("cpu")
    names = [None] * (len(_CATEGORY_TO_INDEX) + 1)
    for cat, idx in _CATEGORY_TO_INDEX.items():
        names[idx + 1] = "UNKNOWN" if cat is None else cat.name
    totals = [sum(s) for s in sizes]

    def at(i):
        return {names[j]: sizes[i][j] for j in range(1, len(names)) if sizes[i][j]}

    if not totals:
        return {"peak": 0, "categories": {}}
    i = max(range(len(totals)), key=totals.__getitem__)
    out = {"peak": totals[i], "categories": at(i), "phases": {}}
    for name, (s, e) in marks.items():  # marks are in ns, timeline times in us
        idx = [k for k, t in enumerate(times) if s // 1000 <= t <= e // 1000]
        if idx:
            k = max(idx, key=totals.__getitem__)
            out["phases"][name] = {"peak": totals[k], "categories": at(k)}
    return out


def training_step(model, opt, x, y, precision: str, marks: bool = False, forward=None) -> None:
    """forward (``forward(x)``, the model by default), mse_loss, backward, optimizer.step,
    zero_grad(set_to_none=True)."""
    rf = record_function if marks else (lambda name: contextlib.nullcontext())
    nodes = NodeMarks(model) if marks and forward is None else contextlib.nullcontext()
    with autocast_ctx(precision):
        with rf("symcnn::forward"), nodes:
            out = (forward or model)(x)
        with rf("symcnn::loss"):
            loss = F.mse_loss(out, y)
            del out
    with rf("symcnn::backward"):
        loss.backward()
    with rf("symcnn::del_loss"):
        del loss
    with rf("symcnn::optimizer"):
        opt.step()
    with rf("symcnn::zero_grad"):
        opt.zero_grad(set_to_none=True)


def measure_step(cfg: Config, timeline: bool = True, events: bool = False) -> dict:
    entry = zoo.get(cfg.network)
    model, x, y = build(entry, cfg.batch)
    opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.foreach)
    training_step(model, opt, x, y, cfg.precision)  # warm-up: creates the optimizer state
    gc.collect()
    params = list(model.parameters())
    buffers = list(model.buffers())
    state = optimizer_state_tensors(opt)
    steady_parts = {"params": unique_bytes(params), "buffers": unique_bytes(buffers),
                    "optimizer_state": unique_bytes(state), "x": unique_bytes([x]),
                    "y": unique_bytes([y])}
    steady = unique_bytes(params + buffers + state + [x, y])
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True,
                 with_stack=timeline) as prof:
        training_step(model, opt, x, y, cfg.precision, marks=True)
    step_s = time.perf_counter() - t0
    trace = allocator_trace(prof, steady, events=events)
    marks = trace.pop("marks")
    result = {"config": asdict(cfg), "steady": steady, "steady_parts": steady_parts,
              "step_peak": trace.pop("peak"), **trace, "grads_bytes": steady_parts["params"],
              "profiled_step_s": round(step_s, 3)}
    if timeline:
        t1 = time.perf_counter()
        tl = timeline_breakdown(prof, marks)
        result["timeline"] = tl
        result["timeline_peak_minus_allocator_peak"] = tl["peak"] - result["step_peak"]
        result["timeline_s"] = round(time.perf_counter() - t1, 3)
    return result


def measure_first_step(cfg: Config) -> dict:
    """The peak of a training loop's *first* step (fresh model and optimizer: no optimizer
    state yet; it is created inside ``opt.step()``)."""
    entry = zoo.get(cfg.network)
    model, x, y = build(entry, cfg.batch)
    opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.foreach)
    steady = unique_bytes(list(model.parameters()) + list(model.buffers()) + [x, y])
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        training_step(model, opt, x, y, cfg.precision, marks=True)
    trace = allocator_trace(prof, steady, top=4)
    return {"steady": steady, "step_peak": trace["peak"], "peak_phase": trace["peak_phase"],
            "peak_node": trace["peak_node"]}


def measure_inference(entry: zoo.ZooEntry, batch: int, precision: str = "fp32") -> dict:
    """Peak of a no_grad forward in eval mode (fresh model, no optimizer)."""
    model, x, _ = build(entry, batch)
    model.eval()
    steady = unique_bytes(list(model.parameters()) + list(model.buffers()) + [x])
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        with record_function("symcnn::forward"), NodeMarks(model), torch.no_grad(), \
                autocast_ctx(precision):
            out = model(x)
        del out
    trace = allocator_trace(prof, steady, top=4)
    return {"steady": steady, "peak": trace["peak"], "transient": trace["peak"] - steady,
            "peak_node": trace["peak_node"], "peak_at": trace["peak_at"],
            "alive_at_peak": trace["alive_at_peak"]}


def measure(cfg: Config, saved: dict | None = None, inference: dict | None = None,
            timeline: bool = True, events: bool = False) -> dict:
    """Everything for one configuration (saved tensors and inference may be passed in when
    they were already measured for the same network, batch and precision)."""
    entry = zoo.get(cfg.network)
    if saved is None:
        saved = measure_saved(entry, cfg.batch, cfg.precision)
    if inference is None:
        inference = measure_inference(entry, cfg.batch, cfg.precision)
    step = measure_step(cfg, timeline=timeline, events=events)
    loss = step["phases"].get("loss", {})
    # After the loss, the step holds: steady + what the graph saved (less x, y and parameters,
    # which are in `steady`) + whatever else is alive (e.g. the loss scalar).
    retained = loss.get("end", 0) - step["steady"]
    step["forward_retained"] = retained
    step["forward_retained_minus_saved"] = retained - saved["total"]["dedup_excl_x_y"]
    return {"network": cfg.network, "config": asdict(cfg), "label": cfg.label,
            "batch": cfg.batch, "saved": saved, "step": step, "inference": inference}


# ----------------------------------------------------------------------------------------------
# reports
# ----------------------------------------------------------------------------------------------

def environment() -> dict:
    return {"torch": torch.__version__, "python": platform.python_version(), "cpu": cpu_name(),
            "platform": platform.platform(), "threads": torch.get_num_threads(),
            "mkldnn": torch.backends.mkldnn.is_available(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def fmt(n) -> str:
    return f"{n:,d}" if isinstance(n, int) else str(n)


CAT_SHORT = {"PARAMETER": "param", "OPTIMIZER_STATE": "opt", "INPUT": "in", "TEMPORARY": "tmp",
             "ACTIVATION": "act", "GRADIENT": "grad", "AUTOGRAD_DETAIL": "autograd",
             "UNKNOWN": "unknown"}


def markdown(results: list[dict], env: dict, elapsed: float | None = None) -> str:
    lines = ["# CPU measurements of the zoo (issue 6)", "",
             f"torch {env['torch']}, Python {env['python']}, {env.get('cpu', '')}, "
             f"{env['threads']} threads, CPU capability {env['cpu_capability']}, "
             f"{env['platform']}."
             + (f" Whole run: {elapsed:.0f} s." if elapsed else ""), "",
             "Written by `validation/run_cpu.py`; the method is in `validation/README.md`. "
             "All numbers are bytes.", "",
             "- `saved`: the distinct storages autograd saved in the forward pass and the loss, "
             "parameters and buffers excluded, the input x and the target y included (they are "
             "saved by the first layer and the loss); `excl. x, y`: without them; `raw`: every "
             "save counted; `rules`: measured minus `saved_rules.py`'s prediction.",
             "- `steady`: alive before the step: parameters, buffers, optimizer state, x, y.",
             "- `step peak`: the CPU allocator's live bytes at the highest point of one training "
             "step (forward, mse_loss, backward, optimizer.step, zero_grad), with `steady`; "
             "`peak at`: phase and node (in the backward: the node whose gradient function ran).",
             "- `fwd / bwd / opt peak`: the same maximum within the forward pass, the backward "
             "pass, `optimizer.step()`.",
             "- `timeline`: the profiler memory timeline's peak (equal to the step peak where "
             "no difference is shown) and its categories there: param(eters), opt(imizer state), "
             "in(puts x, y), act(ivations: saved forward tensors), grad (parameter gradients), "
             "agrad (autograd detail: activation gradients), tmp (temporaries), unknown (buffers "
             "that belong to no tensor, e.g. oneDNN's).",
             "- `inference`: peak of a `no_grad` forward in eval mode: parameters, buffers, x and "
             "the transient activations.", "",
             "| network | config | batch | saved | excl. x, y | rules | raw | steady | step peak "
             "| peak at | fwd peak | bwd peak | opt peak | timeline: categories at its peak "
             "| inference |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---:|"]
    for r in results:
        s, st = r["saved"]["total"], r["step"]
        ph = st["phases"]
        tl = st.get("timeline", {})
        cats = ", ".join(f"{CAT_SHORT.get(k, k)} {fmt(v)}"
                         for k, v in tl.get("categories", {}).items())
        d = st.get("timeline_peak_minus_allocator_peak", 0)
        tl_text = (f"({d:+,d}) " if d else "") + cats
        where = f"{st['peak_phase']}" + (f" {st['peak_node']}" if st.get("peak_node") else "")
        lines.append(
            f"| {r['network']} | {r['label']} | {r['batch']} | {fmt(s['dedup'])} "
            f"| {fmt(s['dedup_excl_x_y'])} | {r['saved']['rules']['difference']:+,d} "
            f"| {fmt(s['raw'])} | {fmt(st['steady'])} | {fmt(st['step_peak'])} | {where} "
            f"| {fmt(ph.get('forward', {}).get('peak', 0))} "
            f"| {fmt(ph.get('backward', {}).get('peak', 0))} "
            f"| {fmt(ph.get('optimizer', {}).get('peak', 0))} "
            f"| {tl_text} | {fmt(r['inference']['peak'])} |")
    # per-node saved bytes, once per (network, batch, precision)
    lines += ["", "## Saved tensors per node", "",
              "Bytes of the storages each node saved (each storage counted at the first node "
              "that saved it; `[shared]` lists saves of a storage already counted). Roles: "
              "`input`/`output` of the node, `in-place` (input = output), `param` "
              "(excluded), `param_cast` (autocast weight copy), `input_cast`, `other`.", ""]
    done = set()
    for r in results:
        key = (r["network"], r["batch"], r["config"]["precision"])
        if key in done:
            continue
        done.add(key)
        sv = r["saved"]
        t = sv["total"]
        lines += [f"### {r['network']}, batch {r['batch']}, {r['config']['precision']}", "",
                  f"total {fmt(t['dedup'])} B dedup ({fmt(t['raw'])} raw; x {fmt(t['x_bytes'])}, "
                  f"y {fmt(t['y_bytes'])}; by dtype "
                  + ", ".join(f"{k} {fmt(v)}" for k, v in t["by_dtype"].items())
                  + f"; parameters saved {fmt(t['params_saved_dedup'])}, not counted)", "",
                  "| node | type | bytes | float | int64 | bool | saved tensors | rule (saved_rules.py) |",
                  "|---|---|---:|---:|---:|---:|---|---|"]
        for name, n in sv["nodes"].items():
            items = []
            for it in n["tensors"]:
                dt = it["dtype"].replace("torch.", "")
                shape = "x".join(map(str, it["shape"])) or "scalar"
                tag = it["role"]
                if it.get("param"):
                    tag = f"{it['role']} {it['param']}"
                if it.get("shared_with"):
                    tag += f" [shared {it['shared_with']}]"
                items.append(f"{tag} {dt}[{shape}]")
            bd = n["by_dtype"]
            lines.append(f"| {name} | {n['type']} | {fmt(n['bytes'])} | {fmt(bd.get('float', 0))} "
                         f"| {fmt(bd.get('int64', 0))} | {fmt(bd.get('bool', 0))} | "
                         + ("; ".join(items) or "-") + " | "
                         + ("; ".join(f"{w} {fmt(b)}" for w, b in n.get("expected", [])) or "-")
                         + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("network", choices=[e.name for e in zoo.ZOO + zoo.HEAVY])
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd")
    ap.add_argument("--precision", choices=PRECISIONS, default="fp32")
    ap.add_argument("--foreach", action="store_true", default=None)
    ap.add_argument("--json", help="write the result here")
    args = ap.parse_args(argv)
    cfg = Config(args.network, args.batch, args.optimizer, args.precision, args.foreach)
    r = measure(cfg)
    text = json.dumps(r, indent=1)
    if args.json:
        Path(args.json).write_text(text)
    print(markdown([r], environment()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Activation checkpointing in the simulated step: the moments of a training step whose
forward pass is ``torch.utils.checkpoint.checkpoint_sequential(model, k, x,
use_reentrant=False)`` (:func:`symcnn.memory.pytorch.timeline.training_moments` with
``checkpoint_segments=k``), measured on the CPU in ``tests/test_checkpoint.py``."""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from symcnn.analysis.rows import Analysis
from symcnn.errors import SymcnnError
from symcnn.layers import numel
from symcnn.memory.pytorch.backward import Step, backward_moments
from symcnn.memory.pytorch.moments import (
    Held,
    Ledger,
    Moment,
    Update,
    held,
    pending_gradients,
    plus,
    total,
)
from symcnn.memory.pytorch.saved import FLOAT32, Saved, activation_widths, all_saves, saved_tensors

#: Bytes of the CPU generator's state, ``torch.get_rng_state()``, which non-reentrant
#: checkpointing keeps for every checkpointed segment (``preserve_rng_state=True``).
CPU_RNG_STATE = 5056


def segments(analysis: Analysis, k: int) -> list[list]:
    """The rows of each segment of ``checkpoint_sequential(model, k, x)``: ``k - 1``
    checkpointed segments of ``n // k`` layers each, then the rest (run normally)."""
    rows = analysis.rows
    if not analysis.network.is_sequential:
        raise SymcnnError("activation checkpointing is modelled for sequential networks only "
                          "(checkpoint_sequential over the layers in order)",
                          argument="checkpoint_segments")
    if k > len(rows):                              # a whole number >= 0: MemoryOptions
        raise SymcnnError(f"must be 0 (off) or 1 to the number of layers ({len(rows)}), "
                          f"not {k!r}", argument="checkpoint_segments")
    if k in (0, 1):
        return [list(rows)]                        # off: one segment, run normally
    size = len(rows) // k
    cut = size * (k - 1)
    return [rows[i:i + size] for i in range(0, cut, size)] + [rows[cut:]]


def kept_tensors(analysis: Analysis, k: int, device: str = "cuda",
                 precision: str = "fp32") -> tuple[Saved, ...]:
    """What a forward pass under ``checkpoint_sequential(model, k, x, use_reentrant=False)``
    leaves for the backward pass, each storage once: the input of every checkpointed segment
    that saves anything (and, on the CPU, a generator state of :data:`CPU_RNG_STATE` bytes per
    such segment), and what the last segment saves (:func:`symcnn.memory.pytorch.saved.all_saves`).

    >>> from symcnn import analyze
    >>> from symcnn.spec.builtin import lecture_network
    >>> [(t.node, t.kind) for t in kept_tensors(analyze(lecture_network()), 3, "cpu")][:4]
    [('input', 'activation'), ('segment 1', 'rng state'), ('L3', 'activation'), ('segment 2', 'rng state')]
    """
    groups = segments(analysis, k)
    if len(groups) < 2:
        return saved_tensors(analysis, device, precision)
    width = activation_widths(analysis, device, precision)
    seg_of = {r.name: j for j, g in enumerate(groups) for r in g}
    saves = all_saves(analysis, device, precision)
    storage = analysis.liveness.storage
    shape = {"input": analysis.input_shape, **{r.name: r.output_shape for r in analysis.rows}}
    kept: dict[tuple[str, str], Saved] = {}
    for j, g in enumerate(groups[:-1]):
        if not any(seg_of[t.saved_by] == j for t in saves):
            continue                               # nothing saved: checkpoint keeps nothing
        src = storage[g[0].inputs[0]]
        e = FLOAT32 if src == "input" and precision != "fp32" else width.get(src)
        kept.setdefault((src, "activation"), Saved(src, "activation", numel(shape[src]),
                                                   None if precision == "fp32" else e,
                                                   saved_by=g[0].name))
        if device == "cpu":
            kept[(f"segment {j + 1}", "rng state")] = Saved(
                f"segment {j + 1}", "rng state", sympy.Integer(CPU_RNG_STATE), 1,
                per_sample=False, saved_by=g[0].name)
    for t in saves:
        if seg_of[t.saved_by] == len(groups) - 1:
            kept.setdefault((t.node, t.kind), t)
    return tuple(kept.values())


@dataclass(frozen=True)
class Kept:
    """What checkpoint keeps for one checkpointed segment that saves anything: its input's
    storage ``source`` and, on the CPU, the generator state (``items``), from the segment's
    first node (``start``) until the backward of its first saving node (``until``)."""

    source: str
    start: int
    until: int
    items: tuple            # (bytes, per sample?) each


@dataclass(frozen=True)
class Plan:
    """The saves of a checkpointed step, by segment."""

    groups: list                    # the rows of each segment (:func:`segments`)
    segment_of: dict                # position -> its segment
    saves_of: dict                  # node -> the saves it makes (:func:`all_saves`)
    savers: dict                    # segment -> positions of its nodes that save anything
    kept: dict                      # checkpointed segment -> :class:`Kept`
    holds: dict                     # segment -> :class:`Ledger` of its saved storages, each
                                    # once, by first saver (a checkpointed segment's own
                                    # input left out: it is in ``kept``)
    first_saved: dict               # segment -> {storage: position of its first saver}


def _plan(analysis: Analysis, k: int, step: Step) -> Plan:
    groups = segments(analysis, k)
    index, storage = step.liveness.index, step.liveness.storage
    segment_of = {r.index: j for j, g in enumerate(groups) for r in g}
    every = all_saves(analysis, step.device, step.precision)
    saves_of, savers = {}, {}
    for t in every:
        saves_of.setdefault(t.saved_by, []).append(t)
        savers.setdefault(segment_of[index[t.saved_by]], []).append(index[t.saved_by])
    kept = {}
    for j, g in enumerate(groups[:-1]):
        if j not in savers:
            continue                               # nothing saved: checkpoint keeps nothing
        src = storage[g[0].inputs[0]]
        items = [(step.sizes[src], True)] if src != "input" else []
        if step.device == "cpu":
            items.append((sympy.Integer(CPU_RNG_STATE), False))
        kept[j] = Kept(src, g[0].index, min(savers[j]), tuple(items))
    holds = {j: Ledger() for j in range(len(groups))}
    first_saved, seen = {j: {} for j in range(len(groups))}, set()
    for t in every:
        if t.kind == "activation" and t.node == "input":
            continue
        i = index[t.saved_by]
        j = segment_of[i]
        key = t.node if t.kind == "activation" else (t.node, t.kind)
        if (j, key) in seen:
            continue
        seen.add((j, key))
        if isinstance(key, str):
            first_saved[j][key] = i
        if j not in kept or key != kept[j].source:
            holds[j].add(i, t.elements * (t.element_bytes or step.s), t.per_sample)
    return Plan(groups, segment_of, saves_of, savers, kept, holds, first_saved)


def checkpoint_moments(analysis: Analysis, k: int, step: Step, update: Update) -> tuple:
    """The moments of a step under ``checkpoint_sequential(model, k, x, use_reentrant=False)``
    (measured on the CPU with torch 2.13, ``validation/checkpoint.py``).

    * Forward: a checkpointed segment saves nothing of its own (checkpoint's hooks keep no
      tensor); its input is saved (``_NoopSaveInputs``) and, on the CPU, the generator's
      state (:data:`CPU_RNG_STATE`) is kept.  The last segment runs normally.
    * Backward: the last segment as in a plain step.  At the backward of the last layer of
      a checkpointed segment that saved anything, the segment is run again from its saved
      input up to that layer's saves (early stop: a layer that saves only its input is not
      run); the tensors saved there live until their first saver's backward, the segment's
      input and generator state until the backward of its first saving layer.
    """
    plan = _plan(analysis, k, step)
    return (_forward(analysis, plan, step) + _backward(analysis, plan, step)
            + (update.moment(step.resident, step.steady, step.base),))


def _in_flight(step: Step, r, lo: int, saved_at: dict) -> Held:
    """Storages made at position ``lo`` or later that ``r`` still reads and that nothing
    has saved yet."""
    live, n = step.liveness, len(step.liveness.alive)
    return held((step.sizes[st], True) for st in live.alive[r.index]
                if st != "input" and live.born[st] >= lo and not saved_at.get(st, n) <= r.index)


def _kept_by(plan: Plan, key: str, fixed=0, per_sample=0) -> Ledger:
    """The kept inputs and generator states, entered at their ``start`` or ``until`` (the
    sums starting from ``fixed`` and ``per_sample``)."""
    ledger = Ledger(fixed, per_sample)
    for kept in sorted(plan.kept.values(), key=lambda c: getattr(c, key)):
        for nbytes, per in kept.items:
            ledger.add(getattr(kept, key), nbytes, per)
    return ledger


def _forward(analysis, plan: Plan, step: Step) -> tuple:
    last = len(plan.groups) - 1
    saved_at = dict(plan.first_saved[last])
    for c in plan.kept.values():
        saved_at.setdefault(c.source, c.start)
    kept, holds = _kept_by(plan, "start", step.resident, step.steady), plan.holds[last]
    moments = []
    for r in analysis.rows:
        moments += _node_moments("forward", r, step, (
            _in_flight(step, r, 0, saved_at), holds.upto(r.index), kept.upto(r.index)))
    mine, theirs = holds.first(len(holds.items)), kept.first(len(kept.items))
    moments.append(Moment("loss", "", plus(theirs.fixed, mine.fixed),
                          total((theirs.per_sample, mine.per_sample, step.loss_buffer)),
                          step.base + (mine.parts, theirs.parts, ((0, step.loss_buffer),))))
    return tuple(moments)


def _node_moments(phase: str, r, step: Step, groups, extra_fixed=(), extra_per=(),
                  tail=()) -> list[Moment]:
    """``r``'s moment with these :class:`Held` groups (one of them with what is resident in
    its sums) and the allocations ``tail``, counted in ``extra_fixed`` and ``extra_per``;
    then one per kernel transient."""
    fixed = total((*(g.fixed for g in groups), *extra_fixed))
    per = total((*(g.per_sample for g in groups), *extra_per))
    parts = step.base + tuple(g.parts for g in groups) + tail
    out = [Moment(phase, r.name, fixed, per, parts)]
    for f, p in step.transients(r):
        out.append(Moment(phase, r.name, plus(fixed, f), plus(per, p), parts + (((f, p),),)))
    return out


def _backward(analysis, plan: Plan, step: Step) -> tuple:
    still_kept, grads = _kept_by(plan, "until", step.resident,
                                 plus(step.steady, step.loss_buffer)), Ledger()
    pending = pending_gradients(analysis.rows, step.width, step.liveness)
    moments = []
    for r in reversed(analysis.rows):
        j = plan.segment_of[r.index]
        still = still_kept.upto(r.index)
        if j in plan.kept and r.index == max(plan.savers[j]):
            moments += _recompute(plan, step, j, r, still, grads.first(len(grads.items)),
                                  r.activation * step.width[r.name] + pending.get(r.index, 0))
        for t in r.layer.param_tensors(r.input_shapes[0]):
            grads.add(0, t * step.s, False)
        if not r.allocates and r.params == 0:
            continue
        holds = plan.holds[j]                      # released after r's backward: holds.at
        moments += backward_moments(r, (still, holds.upto(r.index - 1)), holds.at(r.index),
                                    step, grads=grads.first(len(grads.items)),
                                    pending=pending.get(r.index, 0))
    return tuple(moments)


def _recompute(plan: Plan, step: Step, j: int, r, still: Held, grads: Held,
               grad_out) -> list[Moment]:
    """Segment ``j`` run again from its saved input before ``r``'s backward, up to ``r``'s
    saves (the gradient of ``r``'s output, ``grad_out``, is waiting)."""
    group, out = plan.groups[j], []
    for q in group:
        if q.index > r.index:
            break
        if q is r and not any(t.kind in _AFTER_THE_OP or (t.kind == "activation"
                              and t.node == q.name) for t in plan.saves_of.get(q.name, ())):
            break                                  # early stop before r's op: it saves inputs
        groups = (still, plan.holds[j].upto(q.index),
                  _in_flight(step, q, group[0].index, plan.first_saved[j]), grads)
        out += _node_moments("recompute", q, step, groups, extra_per=(grad_out,),
                             tail=(((0, step.loss_buffer), (0, grad_out)),))
    return out


#: Saves made from an op's results (after it ran); the others (its input, autocast's copies)
#: are made before it runs.
_AFTER_THE_OP = ("indices", "statistics", "mask", "noise")

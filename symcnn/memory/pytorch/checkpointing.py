"""Activation checkpointing in the simulated step: the moments of a training step whose
forward pass is ``torch.utils.checkpoint.checkpoint_sequential(model, k, x,
use_reentrant=False)`` (:func:`symcnn.memory.pytorch.timeline.training_moments` with
``checkpoint_segments=k``), measured on the CPU in ``tests/test_checkpoint.py``."""

from __future__ import annotations

import sympy

from symcnn.analysis.rows import Analysis
from symcnn.errors import SymcnnError
from symcnn.layers import numel
from symcnn.memory.pytorch.backward import Step, backward_moments
from symcnn.memory.pytorch.moments import Moment, optimizer_moment, pending_gradients
from symcnn.memory.pytorch.saved import FLOAT32, Saved, activation_widths, all_saves, saved_tensors
from symcnn.memory.pytorch.workspace import transient

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
    storage = {"input": "input"}
    shape = {"input": analysis.input_shape}
    for r in analysis.rows:
        storage[r.name] = r.name if r.allocates else storage[r.inputs[0]]
        shape[r.name] = r.output_shape
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


def checkpoint_moments(analysis, rows, k, step: Step, *, storage, size, last_use, index,
                       optimizer, foreach, tensors, params, param_parts):
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
    s, device, precision, batch, threads = step.s, step.device, step.precision, step.batch, \
        step.threads
    resident, steady, base, width = step.resident, step.steady, step.base, step.width
    groups = segments(analysis, k)
    seg_of = {r.index: j for j, g in enumerate(groups) for r in g}
    last = len(groups) - 1
    every = all_saves(analysis, device, precision)
    saves = [t for t in every if not (t.kind == "activation" and t.node == "input")]
    savers = {}                                    # segment -> indices of the rows that save
    for t in every:
        savers.setdefault(seg_of[index[t.saved_by]], []).append(index[t.saved_by])
    held = {}      # (segment, storage) -> (segment, first saver, bytes, per sample)
    for t in saves:
        i = index[t.saved_by]
        key = (seg_of[i], t.node if t.kind == "activation" else (t.node, t.kind))
        held.setdefault(key, (seg_of[i], i, t.elements * (t.element_bytes or s), t.per_sample))
    kept = {}      # checkpointed segment -> (input storage, from, until, [(bytes, per)])
    for j, g in enumerate(groups[:-1]):
        if j not in savers:
            continue                               # nothing saved: checkpoint keeps nothing
        src = storage[g[0].inputs[0]]
        items = [(size[src], True)] if src != "input" else []
        if device == "cpu":
            items.append((sympy.Integer(CPU_RNG_STATE), False))
        kept[j] = (src, g[0].index, min(savers[j]), items)

    def saved_from(j):
        """Storage -> the row from which segment ``j``'s saves hold it."""
        return {key[1]: v[1] for key, v in held.items() if v[0] == j and isinstance(key[1], str)}

    fwd_saved = saved_from(last)
    for src, first, _, _ in kept.values():
        fwd_saved.setdefault(src, first)

    def in_flight(r, lo, saved_at):
        """Storages born at ``lo`` or later that ``r`` still reads and nothing saves yet."""
        return [(b, True) for st, b in size.items()
                if lo <= index[st] <= r.index <= last_use.get(st, 0)
                and not saved_at.get(st, n + 1) <= r.index]

    def holding(j, at, saved_at=None):
        """Segment ``j``'s saves held at ``at`` (those whose first saver passes
        ``saved_at``, if given); a checkpointed segment's saves of its own input are that
        input (counted in ``kept``), no new storage."""
        own_input = kept[j][0] if j in kept else None
        return [(v[2], v[3]) for key, v in held.items()
                if v[0] == j and v[1] <= at and key[1] != own_input
                and (saved_at is None or saved_at(v[1]))]

    def split(items):
        fixed = sympy.Add(*(b for b, per in items if not per))
        return fixed, sympy.Add(*(b for b, per in items if per))

    def parts(items):
        return tuple((0, b) if per else (b, 0) for b, per in items)

    n = len(rows)
    moments = []
    for r in rows:                                 # forward
        items = in_flight(r, 0, fwd_saved) + holding(last, r.index)
        items += [it for _, first, _, its in kept.values() if first <= r.index for it in its]
        fixed, per = split(items)
        here = base + (parts(items),)
        moments.append(Moment("forward", r.name, resident + fixed, steady + per, here))
        for f, p in transient(r, "forward", device, width[r.name], batch=batch,
                              threads=threads, precision=precision,
                              first=storage[r.inputs[0]] == "input"):
            moments.append(Moment("forward", r.name, resident + fixed + f, steady + per + p,
                                  here + (((f, p),),)))
    items = holding(last, n) + [it for v in kept.values() for it in v[3]]
    fixed, per = split(items)
    loss_buffer = step.loss_buffer
    moments.append(Moment("loss", "", resident + fixed, steady + per + loss_buffer,
                          base + (parts(items), ((0, loss_buffer),))))

    grads, grad_parts = 0, ()
    pending = pending_gradients(rows, width)
    for r in reversed(rows):                       # backward
        j = seg_of[r.index]
        still = [it for _, _, until, its in kept.values() if until <= r.index for it in its]
        if j in kept and r.index == max(savers[j]):
            # segment j runs again from its saved input before r's backward: up to r's saves
            grad_out = r.activation * width[r.name] + pending.get(r.index, 0)
            rec_saved = saved_from(j)
            for q in groups[j]:
                if q.index > r.index:
                    break
                own = [t for t in every if t.saved_by == q.name]
                if q is r and not any(t.kind in _AFTER_THE_OP or (t.kind == "activation"
                                      and t.node == q.name) for t in own):
                    break                          # early stop before r's op: it saves inputs
                items = still + holding(j, q.index) + in_flight(q, groups[j][0].index, rec_saved)
                fixed, per = split(items)
                fixed, per = resident + fixed + grads, steady + loss_buffer + per + grad_out
                here = base + (parts(items), grad_parts, ((0, loss_buffer), (0, grad_out)))
                moments.append(Moment("recompute", q.name, fixed, per, here))
                for f, p in transient(q, "forward", device, width[q.name], batch=batch,
                                      threads=threads, precision=precision,
                                      first=storage[q.inputs[0]] == "input"):
                    moments.append(Moment("recompute", q.name, fixed + f, per + p,
                                          here + (((f, p),),)))
        grads += r.params * s
        grad_parts += tuple((t * s, 0) for t in r.layer.param_tensors(r.input_shapes[0]))
        if not r.allocates and r.params == 0:
            continue
        own = holding(j, r.index, lambda i: i == r.index)      # released after r's backward
        kept_here = still + holding(j, r.index, lambda i: i < r.index)
        moments += backward_moments(r, kept_here, own, step, grads=grads,
                                    grad_parts=grad_parts, pending=pending.get(r.index, 0),
                                    reads_input=storage[r.inputs[0]] == "input")
    moments.append(optimizer_moment(tensors, optimizer, foreach, s, resident, params, steady,
                                     base, param_parts))
    return tuple(moments)



#: Saves made from an op's results (after it ran); the others (its input, autocast's copies)
#: are made before it runs.
_AFTER_THE_OP = ("indices", "statistics", "mask", "noise")

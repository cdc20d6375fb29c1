"""A training step as PyTorch runs it, moment by moment: what is alive in the forward pass,
at each node's backward, and in the optimizer step (first version; see the caveats).

Every moment holds ``fixed + per_sample * b`` bytes, so the step's peak is
``max_t (F_t + A_t b)`` and the largest batch for a budget ``M`` is
``min_t floor((M - F_t) / A_t)``.  Resident throughout (the steady state of a training loop,
with ``zero_grad(set_to_none=True)``): parameters, buffers, optimizer state, the input batch
and an MSE target of the output's size.

* forward, at each node: what autograd has saved so far (:mod:`symcnn.saved`) and the
  outputs a later node still reads;
* after the loss: everything saved, the output, and the loss's unreduced buffer;
* backward, at each node (last to first): the saved storages whose first saver has not yet
  run backward, the parameter gradients made so far (this node's included), the gradient
  of the node's output and, unless it reads the network input, of its input;
* the optimizer step: every gradient plus the step's temporaries (Adam's single-tensor
  loop: ``max_i(2 P_i + P_{i-1})``; with ``foreach``: all parameters once more).

Inside a node's forward call or backward function kernels take more (oneDNN's layout
conversions, ATen's copies, BatchNorm's second buffer): :func:`symcnn.workspace.transient`
gives them as alternatives, each one more moment of the node.  Where a tensor feeds several
nodes, the gradient parts wait to be summed, and Add/Concat keep their output's gradient
until every branch has read it (:func:`_pending_gradients`).

Mixed precision (``precision="bf16"``/``"fp16"``, a forward pass under ``torch.autocast``):
the saved storages take their autocast dtypes, with autocast's saved copies (the 2-byte copies
of x and of the conv/linear weights, the CPU 3-d pools' fp32 copies):
:func:`symcnn.saved.saved_tensors`, exact on the CPU.  Every other activation, and every
activation gradient (autograd makes it in its tensor's dtype), takes the element size of
:func:`symcnn.saved.activation_widths`; parameters, their gradients and the optimizer state
stay ``element_bytes`` (what autocast leaves them in).  Against the 22 bf16 CPU runs of
``validation/results/cpu_zoo.json`` every node that is not a convolution or a linear layer is
then within a few hundred bytes of its measured peak (the largest misses: a 2-byte Linear's
weight copy that the autocast cache holds until the context exits, 32 KiB in the mlp, and the
fp32 casts of the CPU 3-d pools' backward), and 12 of the 22 step peaks are within 2 %.  The
other 10 peak inside a oneDNN bf16 convolution whose weight-gradient scratchpad the shapes do
not give (19 MB for the lecture's L2 at 61 x 73 x 61): -9 % to +9 %
(``tests/test_timeline.py`` lists them).  The oneDNN transients of :mod:`symcnn.workspace`
are the fp32 rules applied with 2-byte elements, plus a 2-byte Linear's packed weights.

Not modelled yet: cuDNN workspaces on CUDA, oneDNN's weight-gradient scratchpads (not
derivable from the shapes), the extra buffer of the gradient sum itself, oneDNN's bf16
scratchpads (above), the allocator's rounding.  ``validation/`` measures how much these add.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy

from .analysis import Analysis
from .errors import SymcnnError
from .memory import OPTIMIZER_STATES
from .saved import activation_widths, all_saves, saved_tensors
from .workspace import transient

#: Bytes of the CPU generator's state, ``torch.get_rng_state()``, which non-reentrant
#: checkpointing keeps for every checkpointed segment (``preserve_rng_state=True``).
CPU_RNG_STATE = 5056


@dataclass(frozen=True)
class Moment:
    """Bytes alive at one point of the step: ``fixed + per_sample * b``.

    ``parts`` lists the allocations that make it up, in groups (shared between moments):
    ``(fixed_i, per_sample_i)`` each, summing to ``fixed`` and ``per_sample``; a kernel's
    transient stage is one part.  :meth:`at` with ``block`` rounds each part up to a multiple
    of ``block`` bytes, as a caching allocator does (PyTorch's CUDA allocator: 512).

    >>> m = Moment("forward", "a", 1000, 100, parts=(((1000, 0), (0, 100)),))
    >>> m.at(3), m.at(3, block=512)
    (1300, 1536)
    """

    phase: str
    node: str
    fixed: sympy.Expr
    per_sample: sympy.Expr
    parts: tuple = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fixed", sympy.sympify(self.fixed))
        object.__setattr__(self, "per_sample", sympy.sympify(self.per_sample))

    def at(self, batch, block: int = 0) -> sympy.Expr:
        if not block:
            return self.fixed + self.per_sample * batch
        if not self.parts:
            raise SymcnnError(f"the moment {self.phase} {self.node} lists no allocations to "
                              "round", field="allocator_block")
        return sympy.Add(*(round_up(f + p * batch, block) for group in self.parts
                           for f, p in group))


def round_up(nbytes, block: int):
    """``nbytes`` rounded up to a multiple of ``block`` (a positive size; 0 and the negative
    corrections of a transient stay as they are).

    >>> round_up(1, 512), round_up(512, 512), round_up(513, 512), round_up(0, 512)
    (512, 512, 1024, 0)
    """
    value = sympy.sympify(nbytes)
    if value.is_number:
        v = int(value)
        return sympy.Integer(-(-v // block) * block if v > 0 else v)
    return block * sympy.ceiling(value / block)


def _optimizer_transient(tensors: list[sympy.Expr], optimizer: str, foreach: bool, s: int):
    if optimizer in ("adam", "adamw"):
        if foreach:
            return sympy.Add(*tensors) * s + 12
        pairs = [2 * p + (tensors[i - 1] if i else 0) for i, p in enumerate(tensors)]
        return sympy.Max(*pairs) * s + 12 if pairs else sympy.Integer(0)
    return sympy.Integer(12 if optimizer == "momentum" else 0)


def _pending_gradients(rows, width):
    """Per node index: gradient bytes alive while it runs backward that its moment does not
    count otherwise (autograd's accumulation where a tensor feeds several nodes).

    * A tensor read by nodes ``c_1 < ... < c_n``: the gradient part a layer ``c_j`` (j > 1)
      makes is a new buffer of the tensor's size, held from ``c_j``'s backward until ``c_1``'s
      has run and the parts are summed.
    * Add and Concat pass their output's gradient on (Concat as views of it): that storage
      lives from their backward until, for each input, its producer has read it (or, if the
      input also feeds an earlier node, until that node's part is summed with it).  At an
      input's producer it is that node's output gradient, counted already up to its size.
    """
    by_name = {r.name: r for r in rows}
    consumers = {}
    for r in rows:
        for name in dict.fromkeys(r.inputs):
            if name != "input":
                consumers.setdefault(name, []).append(r)
    pending = {}

    def hold(lo, hi, nbytes, counted=()):
        for r in rows[lo - 1:hi - 1]:
            own = r.activation * width[r.name] if r.name in counted else 0
            pending[r.index] = pending.get(r.index, 0) + nbytes - own

    for name, users in consumers.items():
        for c in users[1:]:
            if c.layer.arity == 1:
                hold(users[0].index, c.index, by_name[name].activation * width[name])
    for c in rows:
        if c.layer.arity == 1:
            continue
        ends, direct = [], []
        for x in dict.fromkeys(c.inputs):
            if x == "input":
                continue
            users = consumers[x]
            if users[0] is not c:
                ends.append(users[0].index)
            elif len(users) == 1:
                ends.append(by_name[x].index)
                direct.append(x)
        if ends:
            hold(min(ends), c.index, c.activation * width[c.name], direct)
    return pending


def training_moments(analysis: Analysis, *, element_bytes: int = 4, optimizer: str = "sgd",
                     foreach: bool = False, device: str = "cuda",
                     batch=None, precision: str = "fp32",
                     checkpoint_segments: int = 0) -> tuple[Moment, ...]:
    """The moments of one training step of ``analysis`` (see the module's description).

    ``checkpoint_segments``: 0 (or 1) for a plain step; ``k >= 2`` for a forward pass
    ``torch.utils.checkpoint.checkpoint_sequential(model, k, x, use_reentrant=False)`` over
    the layers in order (a sequential network only; see :func:`_checkpoint_moments`).

    ``precision``: ``fp32``, or ``bf16``/``fp16`` autocast: activations, their gradients and
    the saved storages in autocast's dtypes (the module's description says what that does and
    does not cover).

    ``batch``: the batch size if it is known; kernels that change algorithm with it (PyTorch's
    im2col convolutions at batch 1 on the CPU, :mod:`symcnn.workspace`) then take the right
    regime.  None: the regime of b >= 2."""
    s, rows = element_bytes, analysis.rows
    n = len(rows)
    tensors = [t for r in rows for t in r.layer.param_tensors(r.input_shapes[0])]
    params = sympy.Add(*tensors)
    buffers = sympy.Add(*(r.layer.buffer_bytes(r.input_shapes[0], s) for r in rows))
    resident = params * s + buffers + OPTIMIZER_STATES[optimizer] * params * s
    x = sympy.Mul(*analysis.input_shape) * s
    out = rows[-1].activation * s if rows else x
    steady = x + out                              # the batch and its target
    param_parts = tuple((t * s, 0) for t in tensors)
    base = (param_parts * (1 + OPTIMIZER_STATES[optimizer])
            + tuple((t, 0) for r in rows for t in r.layer.buffer_tensors(r.input_shapes[0], s)),
            ((0, x), (0, out)))                    # resident, then the batch and its target
    width = activation_widths(analysis, device, precision, s)

    index = {"input": 0, **{r.name: r.index for r in rows}}
    storage = {"input": "input"}
    size, last_use = {}, {}
    for r in rows:
        storage[r.name] = r.name if r.allocates else storage[r.inputs[0]]
        if r.allocates:
            size[r.name] = r.activation * width[r.name]
        for i in r.inputs:
            last_use[storage[i]] = r.index
    if rows:
        last_use[storage[rows[-1].name]] = n + 1    # the output lives on into the loss

    if checkpoint_segments not in (0, 1):
        return _checkpoint_moments(analysis, rows, checkpoint_segments, s=s, resident=resident,
                                   steady=steady, out=out, storage=storage, size=size,
                                   last_use=last_use, index=index, device=device, batch=batch,
                                   precision=precision, optimizer=optimizer, foreach=foreach,
                                   tensors=tensors, params=params, width=width, base=base,
                                   param_parts=param_parts)
    saved = [t for t in saved_tensors(analysis, device, precision) if not (t.kind == "activation"
                                                                 and t.node == "input")]
    by_node = {}
    for t in saved:
        nbytes = t.elements * (t.element_bytes or s)
        by_node.setdefault(t.node if t.kind == "activation" else (t.node, t.kind),
                           (index[t.saved_by], nbytes, t.per_sample))
    saved_storages = {k for k in by_node if isinstance(k, str)}

    def split(items):
        fixed = sympy.Add(*(b for _, b, per in items if not per))
        return fixed, sympy.Add(*(b for _, b, per in items if per))

    moments = []
    for r in rows:                                 # forward
        live = [(0, b, True) for st, b in size.items()
                if index[st] <= r.index <= last_use.get(st, 0) and st not in saved_storages]
        # a saved output is alive from the node that makes it, before its saver runs
        held = [v for k, v in by_node.items()
                if (index[k] if isinstance(k, str) else v[0]) <= r.index]
        fixed, per = split(live + held)
        parts = base + (_parts(live + held),)
        moments.append(Moment("forward", r.name, resident + fixed, steady + per, parts))
        for f, p in transient(r, "forward", device, width[r.name], batch=batch,
                              first=storage[r.inputs[0]] == "input"):
            moments.append(Moment("forward", r.name, resident + fixed + f, steady + per + p,
                                  parts + (((f, p),),)))
    fixed, per = split(list(by_node.values()))
    loss_buffer = out                              # mse_loss keeps its unreduced buffer
    moments.append(Moment("loss", "", resident + fixed, steady + per + loss_buffer,
                          base + (_parts(by_node.values()), ((0, loss_buffer),))))

    grads, grad_parts = 0, ()
    pending = _pending_gradients(rows, width)
    for r in reversed(rows):                       # backward
        grads += r.params * s
        grad_parts += tuple((t * s, 0) for t in r.layer.param_tensors(r.input_shapes[0]))
        if not r.allocates and r.params == 0:
            continue
        held = [v for v in by_node.values() if v[0] <= r.index]
        fixed, per = split(held)
        reads_input = storage[r.inputs[0]] == "input"  # x needs no gradient
        grad_in = sympy.Mul(*r.input_shapes[0]) * width[r.inputs[0]] \
            if r.layer.arity == 1 and not reads_input else 0
        fixed, per = resident + fixed + grads, steady + loss_buffer + per \
            + r.activation * width[r.name] + grad_in + pending.get(r.index, 0)
        parts = base + (_parts(held), grad_parts, ((0, loss_buffer), (0, r.activation
                        * width[r.name]), (0, grad_in), (0, pending.get(r.index, 0))))
        moments.append(Moment("backward", r.name, fixed, per, parts))
        for f, p in transient(r, "backward", device, width[r.name], batch=batch, first=reads_input):
            moments.append(Moment("backward", r.name, fixed + f, per + p, parts + (((f, p),),)))
    moments.append(_optimizer_moment(tensors, optimizer, foreach, s, resident, params, steady,
                                     base, param_parts))
    return tuple(moments)


def _parts(items):
    """``(fixed, per_sample)`` of each ``(index, bytes, per_sample?)`` item."""
    return tuple((0, b) if per else (b, 0) for _, b, per in items)


def _optimizer_moment(tensors, optimizer, foreach, s, resident, params, steady, base,
                      param_parts):
    """The optimizer step: every gradient, and the step's own temporaries."""
    extra = _optimizer_transient(tensors, optimizer, foreach, s)
    return Moment("optimizer", "", resident + params * s + extra, steady,
                  base + (param_parts, ((extra, 0),)))


def segments(analysis: Analysis, k: int) -> list[list]:
    """The rows of each segment of ``checkpoint_sequential(model, k, x)``: ``k - 1``
    checkpointed segments of ``n // k`` layers each, then the rest (run normally)."""
    rows = analysis.rows
    if not analysis.network.is_sequential:
        raise SymcnnError("activation checkpointing is modelled for sequential networks only "
                          "(checkpoint_sequential over the layers in order)",
                          field="checkpoint_segments")
    if not isinstance(k, int) or k < 0 or k > len(rows):
        raise SymcnnError(f"checkpoint_segments must be 0 (off) or 1 to the number of layers "
                          f"({len(rows)}), not {k!r}", field="checkpoint_segments")
    size = len(rows) // k
    cut = size * (k - 1)
    return [rows[i:i + size] for i in range(0, cut, size)] + [rows[cut:]]


def _checkpoint_moments(analysis, rows, k, *, s, resident, steady, out, storage, size,
                        last_use, index, device, batch, precision, optimizer, foreach,
                        tensors, params, width, base, param_parts):
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

    def holding(j, at):
        """Segment ``j``'s saves held at ``at``; a checkpointed segment's saves of its own
        input are that input (counted in ``kept``), no new storage."""
        own_input = kept[j][0] if j in kept else None
        return [(v[2], v[3]) for key, v in held.items()
                if v[0] == j and v[1] <= at and key[1] != own_input]

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
                              first=storage[r.inputs[0]] == "input"):
            moments.append(Moment("forward", r.name, resident + fixed + f, steady + per + p,
                                  here + (((f, p),),)))
    items = holding(last, n) + [it for v in kept.values() for it in v[3]]
    fixed, per = split(items)
    loss_buffer = out
    moments.append(Moment("loss", "", resident + fixed, steady + per + loss_buffer,
                          base + (parts(items), ((0, loss_buffer),))))

    grads, grad_parts = 0, ()
    pending = _pending_gradients(rows, width)
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
                                      first=storage[q.inputs[0]] == "input"):
                    moments.append(Moment("recompute", q.name, fixed + f, per + p,
                                          here + (((f, p),),)))
        grads += r.params * s
        grad_parts += tuple((t * s, 0) for t in r.layer.param_tensors(r.input_shapes[0]))
        if not r.allocates and r.params == 0:
            continue
        items = still + holding(j, r.index)
        fixed, per = split(items)
        reads_input = storage[r.inputs[0]] == "input"
        grad_in = sympy.Mul(*r.input_shapes[0]) * width[r.inputs[0]] \
            if r.layer.arity == 1 and not reads_input else 0
        fixed, per = resident + fixed + grads, steady + loss_buffer + per \
            + r.activation * width[r.name] + grad_in + pending.get(r.index, 0)
        here = base + (parts(items), grad_parts, ((0, loss_buffer), (0, r.activation
                       * width[r.name]), (0, grad_in), (0, pending.get(r.index, 0))))
        moments.append(Moment("backward", r.name, fixed, per, here))
        for f, p in transient(r, "backward", device, width[r.name], batch=batch, first=reads_input):
            moments.append(Moment("backward", r.name, fixed + f, per + p, here + (((f, p),),)))
    moments.append(_optimizer_moment(tensors, optimizer, foreach, s, resident, params, steady,
                                     base, param_parts))
    return tuple(moments)



#: Saves made from an op's results (after it ran); the others (its input, autocast's copies)
#: are made before it runs.
_AFTER_THE_OP = ("indices", "statistics", "mask", "noise")


def peak(moments, batch, block: int = 0) -> sympy.Expr:
    """The largest of the moments at batch size ``batch`` (a number, or a Max); with
    ``block``, every allocation rounded up to a multiple of it (:meth:`Moment.at`)."""
    values = [m.at(batch, block) for m in moments]
    if all(v.is_number for v in values):
        return max(values, key=int)
    return sympy.Max(*dict.fromkeys(values), evaluate=False)

"""A training step as PyTorch runs it, moment by moment: what is alive in the forward pass,
at each node's backward, and in the optimizer step (first version; see the caveats).

Every moment holds ``fixed + per_sample * b`` bytes, so the step's peak is
``max_t (F_t + A_t b)`` and the largest batch for a budget ``M`` is
``min_t floor((M - F_t) / A_t)``.  Resident throughout (the steady state of a training loop,
with ``zero_grad(set_to_none=True)``): parameters, buffers, optimizer state, the input batch
and an MSE target of the output's size.

* forward, at each node: what autograd has saved so far (:mod:`symcnn.memory.pytorch.saved`) and the
  outputs a later node still reads;
* after the loss: everything saved, the output, and the loss's unreduced buffer;
* backward, at each node (last to first): the saved storages whose first saver has not yet
  run backward, the parameter gradients made so far (this node's included), the gradient
  of the node's output and, unless it reads the network input, of its input;
* the optimizer step: every gradient plus the step's temporaries (Adam's single-tensor
  loop: ``max_i(2 P_i + P_{i-1})``; with ``foreach``: all parameters once more).

Inside a node's forward call or backward function kernels take more (oneDNN's layout
conversions, ATen's copies, BatchNorm's second buffer): :func:`symcnn.memory.pytorch.workspace.transient`
gives them as alternatives, each one more moment of the node.  Where a tensor feeds several
nodes, the gradient parts wait to be summed, and Add/Concat keep their output's gradient
until every branch has read it (:func:`_pending_gradients`).

Mixed precision (``precision="bf16"``/``"fp16"``, a forward pass under ``torch.autocast``):
the saved storages take their autocast dtypes, with autocast's saved copies (the 2-byte copies
of x and of the conv/linear weights, the CPU 3-d pools' fp32 copies):
:func:`symcnn.memory.pytorch.saved.saved_tensors`, exact on the CPU.  Every other activation, and every
activation gradient (autograd makes it in its tensor's dtype), takes the element size of
:func:`symcnn.memory.pytorch.saved.activation_widths`; parameters, their gradients and the optimizer state
stay ``element_bytes`` (what autocast leaves them in).  Against the 22 bf16 CPU runs of
``validation/results/cpu_zoo.json`` every node that is not a convolution or a linear layer is
then within a few hundred bytes of its measured peak (the largest miss: the fp32 casts of the
CPU 3-d pools' backward).  The autocast cache's 2-byte parameter copies that nothing saves
(biases, a first Linear's weight) count until the loss.  With oneDNN's bf16 kernels
(:mod:`symcnn.memory.pytorch.workspace`: convolution scratchpads from :mod:`symcnn.memory.pytorch.onednn.bf16`, a Linear's
packed weights) and the casts of 2-byte parameter gradients (:func:`symcnn.memory.pytorch.backward.cast_moments`) every one
of the 28 bf16 and 13 fp16 CPU peaks is within 256 B
(``tests/test_timeline.py``).

Not modelled yet: cuDNN workspaces on CUDA, the extra buffer of the gradient sum itself.  The
allocator's rounding is an option of :meth:`Moment.at`.
``validation/`` measures how much these add.
"""

from __future__ import annotations

import sympy

from symcnn.analysis.rows import Analysis
from symcnn.memory.pytorch.backward import Step, backward_moments
from symcnn.memory.pytorch.checkpointing import CPU_RNG_STATE, checkpoint_moments, segments
from symcnn.memory.pytorch.moments import (
    Moment,
    as_parts,
    optimizer_moment,
    peak,
    pending_gradients,
    round_up,
)
from symcnn.memory.pytorch.saved import (
    LOW,
    activation_widths,
    autocast_width,
    lower_precision,
    saved_tensors,
)
from symcnn.memory.pytorch.workspace import THREADS, transient
from symcnn.options import OPTIMIZER_STATES

__all__ = ["CPU_RNG_STATE", "Moment", "peak", "round_up", "segments", "training_moments"]


def training_moments(analysis: Analysis, *, element_bytes: int = 4, optimizer: str = "sgd",
                     foreach: bool = False, device: str = "cuda",
                     batch=None, precision: str = "fp32",
                     checkpoint_segments: int = 0,
                     first_step: bool = False, threads: int = THREADS) -> tuple[Moment, ...]:
    """The moments of one training step of ``analysis`` (see the module's description).

    ``first_step``: the first step of a training loop, before the optimizer has state: the
    state (momentum, Adam's moments) appears in the optimizer step only, so the first step's
    peak is never above a later one's (measured: ``tests/test_timeline.py``).

    ``checkpoint_segments``: 0 (or 1) for a plain step; ``k >= 2`` for a forward pass
    ``torch.utils.checkpoint.checkpoint_sequential(model, k, x, use_reentrant=False)`` over
    the layers in order (a sequential network only; see :func:`symcnn.memory.pytorch.checkpointing.checkpoint_moments`).

    ``precision``: ``fp32``, or ``bf16``/``fp16`` autocast: activations, their gradients and
    the saved storages in autocast's dtypes (the module's description says what that does and
    does not cover).

    ``batch``: the batch size if it is known; kernels that change algorithm with it (PyTorch's
    im2col convolutions at batch 1 on the CPU, :mod:`symcnn.memory.pytorch.workspace`) then take the right
    regime.  None: the regime of b >= 2.

    ``threads``: the CPU's intra-op threads (``torch.get_num_threads()``), which oneDNN's
    per-thread buffers follow (:mod:`symcnn.memory.pytorch.workspace`; measured on 1, 2 and 4)."""
    moments = _step_moments(analysis, element_bytes, optimizer, foreach, device, batch,
                            precision, checkpoint_segments, threads)
    if not first_step or not OPTIMIZER_STATES[optimizer]:
        return moments
    # every moment's first group is what is resident: parameters, then (k times) the state
    # of each parameter tensor, then the buffers
    tensors = [t for r in analysis.rows for t in r.layer.param_tensors(r.input_shapes[0])]
    n, k = len(tensors), OPTIMIZER_STATES[optimizer]
    counters = _step_counters(optimizer, device, n)
    state = k * sympy.Add(*tensors) * element_bytes + STEP_COUNTER * counters
    out = []
    for m in moments:
        if m.phase != "optimizer":
            resident = m.parts[0][:n] + m.parts[0][n * (1 + k) + counters:]
            m = Moment(m.phase, m.node, m.fixed - state, m.per_sample,
                       (resident,) + m.parts[1:])
        out.append(m)
    return tuple(out)


def _step_moments(analysis, element_bytes, optimizer, foreach, device, batch, precision,
                  checkpoint_segments, threads):
    s, rows = element_bytes, analysis.rows
    n = len(rows)
    tensors = [t for r in rows for t in r.layer.param_tensors(r.input_shapes[0])]
    params = sympy.Add(*tensors)
    buffers = sympy.Add(*(r.layer.buffer_bytes(r.input_shapes[0], s) for r in rows))
    counters = _step_counters(optimizer, device, len(tensors))
    resident = params * s + buffers + OPTIMIZER_STATES[optimizer] * params * s \
        + STEP_COUNTER * counters
    x = sympy.Mul(*analysis.input_shape) * s
    out = rows[-1].activation * s if rows else x
    steady = x + out                              # the batch and its target
    param_parts = tuple((t * s, 0) for t in tensors)
    base = (param_parts * (1 + OPTIMIZER_STATES[optimizer])
            + ((STEP_COUNTER, 0),) * counters
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

    ran_in = {r.name: (autocast_width(r, max(width[i] for i in r.inputs), device)
                       if precision != "fp32" else width[r.name]) for r in rows}
    step = Step(resident, steady, base, out, width, ran_in, s, device, precision, batch,
                threads)                           # mse_loss keeps its unreduced buffer (out)
    if checkpoint_segments not in (0, 1):
        return checkpoint_moments(analysis, rows, checkpoint_segments, step, storage=storage,
                                  size=size, last_use=last_use, index=index,
                                  optimizer=optimizer, foreach=foreach, tensors=tensors,
                                  params=params, param_parts=param_parts)
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

    cache = _autocast_cache(rows, by_node, device) if precision != "fp32" else {}
    moments = []
    for r in rows:                                 # forward
        live = [(0, b, True) for st, b in size.items()
                if index[st] <= r.index <= last_use.get(st, 0) and st not in saved_storages]
        # a saved output is alive from the node that makes it, before its saver runs
        held = [v for k, v in by_node.items()
                if (index[k] if isinstance(k, str) else v[0]) <= r.index]
        held += [(i, b, False) for i, b in cache.values() if i <= r.index]
        fixed, per = split(live + held)
        parts = base + (as_parts(live + held),)
        moments.append(Moment("forward", r.name, resident + fixed, steady + per, parts))
        for f, p in transient(r, "forward", device, width[r.name], batch=batch,
                              threads=threads, precision=precision,
                              first=storage[r.inputs[0]] == "input"):
            moments.append(Moment("forward", r.name, resident + fixed + f, steady + per + p,
                                  parts + (((f, p),),)))
    at_loss = list(by_node.values()) + [(i, b, False) for i, b in cache.values()]
    fixed, per = split(at_loss)
    loss_buffer = out                              # mse_loss keeps its unreduced buffer
    moments.append(Moment("loss", "", resident + fixed, steady + per + loss_buffer,
                          base + (as_parts(at_loss), ((0, loss_buffer),))))

    grads, grad_parts = 0, ()
    pending = pending_gradients(rows, width)
    for r in reversed(rows):                       # backward
        grads += r.params * s
        grad_parts += tuple((t * s, 0) for t in r.layer.param_tensors(r.input_shapes[0]))
        if not r.allocates and r.params == 0:
            continue
        kept = [(b, p) for i, b, p in by_node.values() if i < r.index]
        own = [(b, p) for i, b, p in by_node.values() if i == r.index]
        moments += backward_moments(r, kept, own, step, grads=grads, grad_parts=grad_parts,
                                    pending=pending.get(r.index, 0),
                                    reads_input=storage[r.inputs[0]] == "input")
    moments.append(optimizer_moment(tensors, optimizer, foreach, s, resident, params, steady,
                                     base, param_parts))
    return tuple(moments)


def _autocast_cache(rows, by_node, device: str) -> dict:
    """The 2-byte parameter copies autocast caches in the forward pass and that nothing saves
    (saved weight copies are counted as saved): every bias of a layer that runs in 2 bytes, and
    the weight of a Linear whose input needs no gradient.  They live until the autocast context
    exits, after the loss.  ``{(node, name): (index, bytes)}``."""
    out = {}
    for r in rows:
        if not lower_precision(r.layer, device):
            continue
        tensors = r.layer.param_tensors(r.input_shapes[0])
        if tensors and (r.name, "weight copy") not in by_node:
            out[(r.name, "weight")] = (r.index, tensors[0] * LOW)
        if len(tensors) > 1:
            out[(r.name, "bias")] = (r.index, tensors[1] * LOW)
    return out


#: Bytes of an Adam ``step`` counter: a float32 scalar tensor per parameter tensor.
STEP_COUNTER = 4


def _step_counters(optimizer: str, device: str, n_tensors: int) -> int:
    """How many ``step`` counters Adam/AdamW keep on the device: one per parameter tensor on
    the CPU; on CUDA they stay on the CPU (unless ``capturable`` or ``fused``)."""
    return n_tensors if optimizer in ("adam", "adamw") and device == "cpu" else 0

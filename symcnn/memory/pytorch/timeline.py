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

from symcnn import layers
from symcnn.analysis.liveness import lifetimes
from symcnn.analysis.rows import Analysis
from symcnn.memory.pytorch.backward import Step, backward_moments
from symcnn.memory.pytorch.checkpointing import CPU_RNG_STATE, checkpoint_moments, segments
from symcnn.memory.pytorch.layout import channels_last_inputs, layouts
from symcnn.memory.pytorch.moments import (
    Ledger,
    Moment,
    Update,
    held,
    peak,
    pending_gradients,
    plus,
    round_up,
    total,
)
from symcnn.memory.pytorch.saved import (
    LOW,
    activation_widths,
    autocast_width,
    lower_precision,
    saved_tensors,
)
from symcnn.memory.pytorch.workspace import RULES_CPU_CAPABILITY, THREADS
from symcnn.options import OPTIMIZER_STATES
from symcnn.spec.profile import Profile

__all__ = ["CPU_RNG_STATE", "Moment", "peak", "round_up", "segments", "training_moments"]


def training_moments(analysis: Analysis, *, element_bytes: int = 4, optimizer: str = "sgd",
                     foreach: bool = False, device: str = "cuda",
                     batch=None, precision: str = "fp32",
                     checkpoint_segments: int = 0,
                     first_step: bool = False, threads: int = THREADS,
                     cpu: str = RULES_CPU_CAPABILITY,
                     profile: Profile | None = None) -> tuple[Moment, ...]:
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
    per-thread buffers follow (:mod:`symcnn.memory.pytorch.workspace`; measured on 1, 2 and 4).
    ``cpu``: the capability whose kernel rules apply (:class:`symcnn.options.CpuCapability`).
    ``profile``: a calibration profile (:mod:`symcnn.spec.profile`), whose measured workspace
    replaces the kernel rules for every node whose configuration it holds."""
    step, update = _setup(analysis, element_bytes, optimizer, foreach, device, batch,
                          precision, threads, str(cpu), profile)
    if checkpoint_segments not in (0, 1):
        moments = checkpoint_moments(analysis, checkpoint_segments, step, update)
    else:
        by_node = _saved_by_node(analysis, step)
        cache = _autocast_cache(analysis.rows, by_node, device) if precision != "fp32" else {}
        moments = (_forward_moments(analysis, step, by_node, cache)
                   + _backward_pass(analysis, step, by_node, update)
                   + (update.moment(step.resident, step.steady, step.base),))
    if not first_step or not OPTIMIZER_STATES[optimizer]:
        return moments
    return _without_state(analysis, moments, step, update)


def _without_state(analysis, moments, step: Step, update: Update) -> tuple[Moment, ...]:
    """``moments`` as in a loop's first step: no optimizer state but in the optimizer step.
    Every moment's first group is what is resident: parameters, then (k times) the state of
    each parameter tensor that is updated, then the step counters, then the buffers."""
    n = sum(len(r.layer.param_tensors(r.input_shapes[0])) for r in analysis.rows)
    k, updated = OPTIMIZER_STATES[update.optimizer], len(update.tensors)
    counters = _step_counters(update.optimizer, step.device, updated)
    state = k * sympy.Add(*update.tensors) * update.s + STEP_COUNTER * counters
    out = []
    for m in moments:
        if m.phase != "optimizer":
            resident = m.parts[0][:n] + m.parts[0][n + k * updated + counters:]
            m = Moment(m.phase, m.node, m.fixed - state, m.per_sample,
                       (resident,) + m.parts[1:])
        out.append(m)
    return tuple(out)


def _number(x):
    """``x`` as a Python integer when it is one (running sums stay out of sympy)."""
    return int(x) if x.is_Integer else x


def _setup(analysis, s, optimizer, foreach, device, batch, precision, threads, cpu, profile):
    """What every moment of the step shares (:class:`Step`) and its optimizer step.  Resident:
    every parameter, the optimizer's state of those that get a gradient (a dead branch's get
    none: :mod:`symcnn.analysis.liveness`), Adam's step counters on the CPU, the buffers; per
    sample: the batch and its target (an MSE target of the output's size)."""
    rows, live = analysis.rows, lifetimes(analysis, caller_holds=True)
    tensors = [_number(t) for r in rows for t in r.layer.param_tensors(r.input_shapes[0])]
    updated = tuple(_number(t) for r in rows if r.name in live.trained
                    for t in r.layer.param_tensors(r.input_shapes[0]))
    counters = _step_counters(optimizer, device, len(updated))
    buffers = [t for r in rows for t in r.layer.buffer_tensors(r.input_shapes[0], s)]
    k = OPTIMIZER_STATES[optimizer]
    resident_parts = (tuple((t * s, 0) for t in tensors)
                      + tuple((t * s, 0) for t in updated) * k
                      + ((STEP_COUNTER, 0),) * counters + tuple((t, 0) for t in buffers))
    x = _number(sympy.Mul(*analysis.input_shape) * s)
    out = _number(rows[-1].activation * s) if rows else x
    width = activation_widths(analysis, device, precision, s)
    ran_in = {r.name: (autocast_width(r, max(width[i] for i in r.inputs), device)
                       if precision != "fp32" else width[r.name]) for r in rows}
    sizes = {r.name: _number(r.activation * width[r.name]) for r in rows if live.born_here(r)}
    step = Step(total(f for f, _ in resident_parts), plus(x, out),
                (resident_parts, ((0, x), (0, out))), out, width, ran_in, s, device,
                precision, batch, threads, live, sizes, cpu, profile,  # mse_loss: unreduced buffer
                layouts(analysis), channels_last_inputs(analysis))
    return step, Update(optimizer, foreach, updated, s)


def _saved_by_node(analysis, step: Step) -> dict:
    """The storages autograd keeps, each once: ``{storage or (node, kind): (first saver's
    position, bytes, per sample?)}`` in the order of their first savers."""
    index, by_node = step.liveness.index, {}
    for t in saved_tensors(analysis, step.device, step.precision):
        if t.kind == "activation" and t.node == "input":
            continue                               # the batch: resident
        by_node.setdefault(t.node if t.kind == "activation" else (t.node, t.kind),
                           (index[t.saved_by], _number(t.elements * (t.element_bytes or step.s)),
                            t.per_sample))
    return by_node


def _forward_moments(analysis, step: Step, by_node: dict, cache: dict) -> tuple:
    """The forward pass, node by node: the outputs in flight (made, not yet read by their
    last reader, saved by none), the saved storages made so far (a saved output from the node
    that makes it) and autocast's cached copies; then the loss, holding everything saved."""
    live = step.liveness
    saved = Ledger(step.resident, step.steady)     # saved storages, by when they are made
    for position, nbytes, per in sorted(
            [(live.index[k] if isinstance(k, str) else v[0], v[1], v[2])
             for k, v in by_node.items()] + [(i, b, False) for i, b in cache.values()],
            key=lambda item: item[0]):
        saved.add(position, nbytes, per)
    moments = []
    for r in analysis.rows:
        flight = held((step.sizes[st], True) for st in live.alive[r.index]
                      if st != "input" and st not in by_node)
        kept = saved.upto(r.index)                 # its sums include what is resident
        fixed, per = plus(kept.fixed, flight.fixed), plus(kept.per_sample, flight.per_sample)
        parts = step.base + (flight.parts, kept.parts)
        moments.append(Moment("forward", r.name, fixed, per, parts))
        for f, p in step.transients(r):
            moments.append(Moment("forward", r.name, plus(fixed, f), plus(per, p),
                                  parts + (((f, p),),)))
    everything = saved.first(len(saved.items))
    moments.append(Moment("loss", "", everything.fixed,
                          plus(everything.per_sample, step.loss_buffer),
                          step.base + (everything.parts, ((0, step.loss_buffer),))))
    return tuple(moments)


def _backward_pass(analysis, step: Step, by_node: dict, update: Update) -> tuple:
    """Backward, last node first: a saved storage is released after the backward of its
    first saver; the parameter gradients accumulate.  A node whose output does not reach the
    network's output runs no backward."""
    live = step.liveness
    releases = Ledger(step.resident, plus(step.steady, step.loss_buffer))  # by first saver
    for position, nbytes, per in by_node.values():
        releases.add(position, nbytes, per)
    grads = Ledger()                               # parameter gradients, as they are made
    pending = pending_gradients(analysis.rows, step.width, live)
    moments = []
    for r in reversed(analysis.rows):
        if r.name not in live.trained:
            continue
        for t in r.layer.param_tensors(r.input_shapes[0]):
            grads.add(0, _number(t * update.s), False)
        if not r.allocates and r.params == 0:
            continue
        moments += backward_moments(r, (releases.upto(r.index - 1),), releases.at(r.index), step,
                                    grads=grads.first(len(grads.items)),
                                    pending=pending.get(r.index, 0))
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
        if isinstance(r.layer, layers.MultiheadAttention):   # weights saved: the biases only
            for k, t in enumerate(attention_biases(r.layer)):
                out[(r.name, f"bias {k}")] = (r.index, t * LOW)
            continue
        if tensors and (r.name, "weight copy") not in by_node:
            out[(r.name, "weight")] = (r.index, tensors[0] * LOW)
        if len(tensors) > 1:
            out[(r.name, "bias")] = (r.index, tensors[1] * LOW)
    return out


def attention_biases(layer) -> tuple:
    """Elements of a MultiheadAttention's projection biases, which autocast casts and caches
    (its weights' copies are saved: :func:`~symcnn.memory.pytorch.saved.
    attention_weight_copies`)."""
    e = layer.embed_dim
    return (3 * e, e) if layer.bias else ()


#: Bytes of an Adam ``step`` counter: a float32 scalar tensor per parameter tensor.
STEP_COUNTER = 4


def _step_counters(optimizer: str, device: str, n_tensors: int) -> int:
    """How many ``step`` counters Adam/AdamW keep on the device: one per parameter tensor on
    the CPU; on CUDA they stay on the CPU (unless ``capturable`` or ``fused``)."""
    return n_tensors if optimizer in ("adam", "adamw") and device == "cpu" else 0

"""One node's moments in the backward pass, shared by the plain step
(:mod:`symcnn.memory.pytorch.timeline`) and activation checkpointing (:mod:`symcnn.memory.pytorch.checkpointing`).

While a node's backward function runs, the step holds: what is resident, the batch and its
target, the loss's buffer, the saved storages not yet released, the parameter gradients made
so far (this node's included), the gradient of the node's output and of its input, and the
gradient parts waiting to be summed.  Kernels add their transients (:mod:`symcnn.memory.pytorch.workspace`)
and, under autocast, a 2-byte layer's parameter gradients are cast afterwards
(:func:`cast_moments`).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from symcnn import layers
from symcnn.analysis.liveness import INPUT, Liveness
from symcnn.memory.pytorch.moments import Held, Moment, plus, total
from symcnn.memory.pytorch.saved import LOW
from symcnn.memory.pytorch.workspace import RULES_CPU_CAPABILITY, transient
from symcnn.spec.profile import Profile


def profiled(profile: Profile | None, r, phase: str, input_bytes: int, first: bool,
             batch=None):
    """The workspace ``profile`` measured for node ``r``'s configuration in ``phase``
    (``"inference"``: an eval-mode forward call) at ``batch`` (None: any), as one transient
    alternative; None without a profile or where it does not hold the configuration (the
    built-in rules apply)."""
    if profile is None:
        return None
    found = profile.workspace(r.layer, r.input_shapes, input_bytes, first, phase, batch)
    return None if found is None else ((sympy.Integer(found[0]), sympy.Integer(found[1])),)


#: Layers whose op promotes mixed inputs under autocast and makes its inputs' gradients itself
#: (Add and Concat pass theirs on).
PROMOTING = (layers.Mul,)


@dataclass(frozen=True)
class Step:
    """What every moment of one simulated step shares."""

    resident: sympy.Expr          # parameters, buffers, optimizer state (fixed bytes)
    steady: sympy.Expr            # the batch and its target (bytes per sample)
    base: tuple                   # their allocation groups
    loss_buffer: sympy.Expr       # mse_loss's unreduced buffer (per sample)
    width: dict                   # element size of every node's output
    ran_in: dict                  # element size every node computed in
    s: int                        # element size of parameters and their gradients
    device: str
    precision: str
    batch: object
    threads: int
    liveness: Liveness            # the tensors' storages and lifetimes
    sizes: dict                   # bytes per sample of every storage a node allocates
    cpu: str = RULES_CPU_CAPABILITY  # the CPU capability whose kernel rules apply
    profile: Profile | None = None   # measured workspace, in place of the rules where it has it
    #: node -> (strided input, strided output gradient): :mod:`symcnn.memory.pytorch.layout`
    layout: dict | None = None
    #: the nodes whose input is a channels-last view (:mod:`symcnn.memory.pytorch.layout`)
    channels_last: frozenset = frozenset()

    def transients(self, r, phase: str = "forward", **extra):
        """The kernel transients of ``r``'s ``phase`` (:func:`symcnn.memory.pytorch.workspace.transient`),
        or the workspace the calibration ``profile`` measured for ``r``'s configuration."""
        first = self.liveness.reads_input(r)
        found = profiled(self.profile, r, phase, max(self.width[i] for i in r.inputs), first,
                         self.batch)
        if found is not None:
            return found
        strided = (self.layout or {}).get(r.name, (False, False))
        return transient(r, phase, self.device, self.width[r.name], batch=self.batch,
                         threads=self.threads, precision=self.precision, cpu=self.cpu,
                         first=first, strided=strided,
                         channels_last=r.name in self.channels_last, **extra)


def input_gradient(r, step: Step) -> sympy.Expr:
    """Bytes per sample of the gradients of ``r``'s inputs, each made in the dtype the layer
    ran in (an fp32 layer reading a 2-byte tensor under autocast makes it in fp32, then casts
    it); none for the network input, a learned tensor (its gradient is a parameter's) or a
    merge (whose gradient passes through)."""
    live = step.liveness
    if r.layer.passes_gradient or not r.layer.reads_inputs:
        return 0
    return total(sympy.Mul(*shape) * max(step.width[name], step.ran_in[r.name])
                 for name, shape in zip(r.inputs, r.input_shapes)
                 if live.storage[name] != INPUT and name not in live.learned)


def promoted_casts(r, step: Step) -> sympy.Expr:
    """Bytes per sample of the cast copies a promoting op (autocast's ``promote``, no list:
    ``Mul`` of a 2-byte tensor and an fp32 one runs in fp32) makes of its gradients for its
    narrower inputs: each gradient is made wide, then autograd casts it to its input's dtype
    while the wide one is still alive (measured: fit_sdpa under bf16, ``x * gamma``)."""
    live = step.liveness
    if step.precision == "fp32" or r.layer.passes_gradient or not r.layer.reads_inputs \
            or not isinstance(r.layer, PROMOTING):
        return 0
    return total(sympy.Mul(*shape) * step.width[name]
                 for name, shape in zip(r.inputs, r.input_shapes)
                 if step.width[name] < step.ran_in[r.name] and live.storage[name] != INPUT
                 and name not in live.learned)


def backward_moments(r, kept: tuple[Held, ...], own: Held, step: Step, *, grads: Held,
                     pending) -> list[Moment]:
    """The moments of ``r``'s backward: ``kept`` are the saved storages held beyond it,
    ``own`` those only ``r`` (and later-running nodes, none) still needs; ``grads`` the
    parameter gradients made so far (this node's included); ``pending`` the gradient parts
    waiting at ``r`` (bytes per sample).  The sums of ``kept[0]`` include what is resident,
    the batch, its target and the loss's buffer."""
    grad_out = r.activation * step.width[r.name]
    grad_in = input_gradient(r, step)
    fixed = plus(kept[0].fixed, total((*(k.fixed for k in kept[1:]), own.fixed, grads.fixed)))
    per = plus(kept[0].per_sample, total((*(k.per_sample for k in kept[1:]), own.per_sample,
                                          grad_out, grad_in, pending)))
    parts = step.base + tuple(k.parts for k in kept) + (own.parts, grads.parts,
                         ((0, step.loss_buffer), (0, grad_out), (0, grad_in), (0, pending)))
    if step.precision != "fp32" and step.ran_in[r.name] == LOW and r.params != 0:
        out = cast_moments(r, step, own, fixed, per, parts, kept)
    else:
        out = [Moment("backward", r.name, fixed, per, parts)]
    casts = promoted_casts(r, step)      # alive with the kernel's own buffers (measured)
    for f, p in ((0, 0),) * bool(casts) + step.transients(r, "backward", param_bytes=step.s):
        p = plus(p, casts)
        out.append(Moment("backward", r.name, plus(fixed, f), plus(per, p),
                          parts + (((f, p),),)))
    return out


def cast_moments(r, step: Step, own: Held, fixed, per, parts, kept) -> list[Moment]:
    """A layer that ran in 2 bytes under autocast makes its parameter gradients in 2 bytes;
    ``ToCopyBackward0`` then casts them to the parameters' dtype (measured, torch 2.13 CPU):

    * the layer's own step: its 2-byte gradients, not yet the ``s``-byte ones;
    * the weight's cast, after the layer's function has returned: autograd has released what
      only this layer saved (``own``: its input, its weight copy) and the gradient of its
      output; the 2-byte weight gradient and its ``s``-byte copy are both alive, the bias
      gradient is still the 2-byte one (it is cast next).

    ``fixed``/``per`` and ``parts`` are the plain moment (the ``s``-byte gradients counted)."""
    tensors = r.layer.param_tensors(r.input_shapes[0])
    mine = tuple(t * step.s for t in tensors)      # this layer's gradients, s bytes each
    low = tuple(t * LOW for t in tensors)          # ... and their 2-byte originals
    grad_parts = parts[-2]
    rest = grad_parts[:len(grad_parts) - len(mine)]
    first = Moment("backward", r.name, fixed - sympy.Add(*mine) + sympy.Add(*low), per,
                   parts[:-2] + (rest, tuple((b, 0) for b in low)) + parts[-1:])
    gone_per = sympy.Add(own.per_sample, r.activation * step.width[r.name])
    loss_buffer, _, grad_in, pending = parts[-1]
    now = ((mine[0], 0), (low[0], 0)) + tuple((b, 0) for b in low[1:])
    cast = Moment("backward", r.name,
                  fixed - own.fixed + low[0] - sympy.Add(*mine[1:]) + sympy.Add(*low[1:]),
                  per - gone_per, step.base + tuple(k.parts for k in kept)
                  + (rest, now, (loss_buffer, grad_in, pending)))
    return [first, cast]

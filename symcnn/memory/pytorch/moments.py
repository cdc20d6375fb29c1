"""The moments of a simulated step: bytes alive at one point, ``fixed + per_sample * b``,
with the allocations that make them up (for the allocator's rounding), and the pieces the
training and checkpointing simulations share (:mod:`symcnn.memory.pytorch.timeline`,
:mod:`symcnn.memory.pytorch.checkpointing`, :mod:`symcnn.memory.pytorch.inference`)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import sympy

from symcnn.errors import SymcnnError


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
        number = sympy.sympify(batch)
        if number.is_Integer and all(_is_numeric(group) for group in self.parts):
            b = int(number)                        # plain integers: fast for large networks
            total = 0
            for group in self.parts:
                for f, p in integer_parts(group):
                    v = f + p * b
                    total += -(-v // block) * block if v > 0 else v
            return sympy.Integer(total)
        return sympy.Add(*(round_up(f + p * batch, block) for group in self.parts
                           for f, p in group))


@functools.lru_cache(maxsize=8192)
def integer_parts(group: tuple) -> tuple[tuple[int, int], ...]:
    """A group of numeric allocations as Python integers (converted once per group)."""
    return tuple((int(f), int(p)) for f, p in group)


@functools.lru_cache(maxsize=8192)
def _is_numeric(group: tuple) -> bool:
    return all(sympy.sympify(f).is_number and sympy.sympify(p).is_number for f, p in group)


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


def optimizer_transient(tensors: list[sympy.Expr], optimizer: str, foreach: bool, s: int):
    if optimizer in ("adam", "adamw"):
        if foreach:
            return sympy.Add(*tensors) * s + 12
        pairs = [2 * p + (tensors[i - 1] if i else 0) for i, p in enumerate(tensors)]
        return sympy.Max(*pairs) * s + 12 if pairs else sympy.Integer(0)
    return sympy.Integer(12 if optimizer == "momentum" else 0)


def pending_gradients(rows, width):
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


def as_parts(items):
    """``(fixed, per_sample)`` of each ``(index, bytes, per_sample?)`` item."""
    return tuple((0, b) if per else (b, 0) for _, b, per in items)


def optimizer_moment(tensors, optimizer, foreach, s, resident, params, steady, base,
                      param_parts):
    """The optimizer step: every gradient, and the step's own temporaries."""
    extra = optimizer_transient(tensors, optimizer, foreach, s)
    return Moment("optimizer", "", resident + params * s + extra, steady,
                  base + (param_parts, ((extra, 0),)))


def peak(moments, batch, block: int = 0) -> sympy.Expr:
    """The largest of the moments at batch size ``batch`` (a number, or a Max); with
    ``block``, every allocation rounded up to a multiple of it (:meth:`Moment.at`)."""
    values = [m.at(batch, block) for m in moments]
    if all(v.is_number for v in values):
        return max(values, key=int)
    return sympy.Max(*dict.fromkeys(values), evaluate=False)

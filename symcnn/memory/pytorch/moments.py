"""The moments of a simulated step: bytes alive at one point, ``fixed + per_sample * b``,
with the allocations that make them up (for the allocator's rounding), and the pieces the
training and checkpointing simulations share (:mod:`symcnn.memory.pytorch.timeline`,
:mod:`symcnn.memory.pytorch.checkpointing`, :mod:`symcnn.memory.pytorch.inference`)."""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

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
            if self.fixed.is_number and self.per_sample.is_number and batch == 1:
                return self.fixed + self.per_sample
            return fast_add((self.fixed, self.per_sample if batch == 1
                             else self.per_sample * batch))
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


def plus(a, b):
    """``a + b``, in Python integers while both are numbers (the running sums of a long
    network stay out of sympy)."""
    if type(a) is int and type(b) is int:
        return a + b
    if type(a) is int and a == 0:
        return b
    if type(b) is int and b == 0:
        return a
    return fast_add((a, b))


def total(values):
    """The sum of ``values``: Python integers while they are numbers, else the sympy sum
    (:func:`fast_add`)."""
    number, symbolic = 0, []
    for v in values:
        if type(v) is int:
            number += v
        elif v.is_Integer:
            number += int(v)
        else:
            symbolic.append(v)
    if not symbolic:
        return number
    if number == 0 and len(symbolic) == 1:
        return symbolic[0]
    return fast_add([sympy.Integer(number), *symbolic])


def fast_add(values) -> sympy.Expr:
    """``sympy.Add(*values)``, the same expression (canonical: equal, same hash), built the
    way ``Add.flatten`` builds it but with the coefficients collected as Python integers, no
    Mul re-evaluated, and the terms of the longest sum kept in place (the others are
    inserted into its order): a deep symbolic network adds a few terms to sums of tens of
    terms, thousands of times.  Anything but integer coefficients goes to ``sympy.Add``."""
    values = [sympy.sympify(v) for v in values]
    longest = max(range(len(values)), key=lambda i: len(values[i].args) if values[i].is_Add
                  else -1, default=None)
    base = values[longest] if longest is not None and values[longest].is_Add else None
    added = _splits(o for i, v in enumerate(values) if base is None or i != longest
                    for o in sympy.Add.make_args(v))
    in_base = _splits(base.args if base is not None else ())
    if added is None or in_base is None:
        return sympy.Add(*values)
    coeff, extra = 0, {}
    for _, c, m in added:
        if m is None:
            coeff += c
        else:
            extra[m] = extra.get(m, 0) + c
    kept = []
    for o, c, m in in_base:
        if m is None:
            coeff += c
        elif m in extra:
            extra[m] += c                          # its coefficient changes: a new term
        else:
            kept.append(o)                         # in canonical order already
    for m, c in extra.items():
        if c:
            bisect.insort(kept, _term(c, m), key=_SORT_KEY)
    if coeff:
        kept.insert(0, sympy.Integer(coeff))
    if len(kept) <= 1:
        return kept[0] if kept else sympy.S.Zero
    return sympy.Add._from_args(kept)


_SORT_KEY = functools.cmp_to_key(sympy.Basic.compare)   # the order of sympy's _addsort


def _splits(terms):
    """``(term, coefficient, term without it)`` for each of ``terms`` (:func:`_split`), or
    None when one of them is not a term ``fast_add`` handles."""
    out = []
    for o in terms:
        split = _split(o)
        if split is None:
            return None
        out.append((o, *split))
    return out


@functools.lru_cache(maxsize=65536)
def _split(o):
    """``(coefficient, term without it)`` of one term of a sum, the coefficient a Python
    integer (``None`` for the term of a number); None when it is not one ``fast_add``
    handles."""
    if o.is_Integer:
        return int(o), None
    if o.is_Number or o.is_Pow or o.is_Order or not o.is_commutative:
        return None
    c, m = o.as_coeff_Mul() if o.is_Mul else (sympy.S.One, o)
    return (int(c), m) if c.is_Integer else None


def _term(c: int, m) -> sympy.Expr:
    """``c * m`` as ``Add.flatten`` writes it."""
    if c == 1:
        return m
    if m.is_Mul:
        return m._new_rawargs(sympy.Integer(c), *m.args)
    if m.is_Add:
        return sympy.Mul(sympy.Integer(c), m, evaluate=False)
    if m.is_Symbol or m.is_Function or (m.is_Pow and m.base.is_Symbol and m.exp.is_Integer):
        return sympy.Mul._from_args((sympy.Integer(c), m), True)   # as Mul(c, m) orders it
    return sympy.Mul(sympy.Integer(c), m)


class Prefix(Sequence):
    """The first ``k`` allocations of a :class:`Ledger`'s list, shared by every moment that
    holds them instead of copied into each (a long network's moments would otherwise list
    quadratically many).  The list only grows, so the prefix never changes."""

    __slots__ = ("_items", "_k")

    def __init__(self, items: list, k: int) -> None:
        self._items, self._k = items, k

    def __len__(self) -> int:
        return self._k

    def __getitem__(self, i):
        if isinstance(i, slice):
            if i.start is None and i.step is None and i.stop is not None and i.stop >= 0:
                return Prefix(self._items, min(i.stop, self._k))   # a prefix of a prefix
            return tuple(self._items[:self._k][i])
        if not -self._k <= i < self._k:
            raise IndexError(i)
        return self._items[i % self._k]

    def __iter__(self):
        return itertools.islice(self._items, self._k)

    def __hash__(self) -> int:
        return hash((id(self._items), self._k))

    def __eq__(self, other) -> bool:
        if isinstance(other, Prefix):
            return other._items is self._items and other._k == self._k
        return tuple(self) == other


class Held(NamedTuple):
    """Allocations held at a point: their fixed and per-sample sums and their list (one
    allocation group of a :class:`Moment`)."""

    fixed: object
    per_sample: object
    parts: Sequence


def held(items) -> Held:
    """A :class:`Held` of a few ``(bytes, per_sample?)`` items."""
    items = list(items)
    return Held(total(b for b, per in items if not per), total(b for b, per in items if per),
                tuple((0, b) if per else (b, 0) for b, per in items))


class Ledger:
    """Allocations in the order of the positions they are entered at, with running sums: the
    ones entered up to a position are a prefix, read with their sums in constant time."""

    def __init__(self, fixed=0, per_sample=0) -> None:
        """``fixed`` and ``per_sample``: bytes every prefix's sums start from (what the
        moments reading it hold besides; they are not listed as allocations)."""
        self.positions: list[int] = []
        self.items: list[tuple] = []
        self.fixed, self.per_sample = [fixed], [per_sample]

    def add(self, position: int, nbytes, per_sample: bool) -> None:
        if self.positions and position < self.positions[-1]:
            raise ValueError("ledger positions must not decrease")
        self.positions.append(position)
        self.items.append((0, nbytes) if per_sample else (nbytes, 0))
        self.fixed.append(self.fixed[-1] if per_sample else plus(self.fixed[-1], nbytes))
        self.per_sample.append(plus(self.per_sample[-1], nbytes) if per_sample
                               else self.per_sample[-1])

    def first(self, k: int) -> Held:
        return Held(self.fixed[k], self.per_sample[k], Prefix(self.items, k))

    def upto(self, position: int) -> Held:
        """What was entered at ``position`` or before."""
        return self.first(bisect.bisect_right(self.positions, position))

    def at(self, position: int) -> Held:
        """What was entered at exactly ``position``."""
        lo = bisect.bisect_left(self.positions, position)
        hi = bisect.bisect_right(self.positions, position)
        items = self.items[lo:hi]
        return Held(total(f for f, _ in items), total(p for _, p in items), tuple(items))


def pending_gradients(rows, width, liveness):
    """Per node index: gradient bytes alive while it runs backward that its moment does not
    count otherwise (autograd's accumulation where a tensor feeds several nodes).

    * A tensor read by nodes ``c_1 < ... < c_n``: the gradient part a layer ``c_j`` (j > 1)
      makes is a new buffer of the tensor's size, held from ``c_j``'s backward until ``c_1``'s
      has run and the parts are summed.
    * A tensor's summed gradient (or its one part) is made at its first reader's backward and
      held until its producer's runs: seen where a node of several inputs (``Mul``) makes the
      gradient of one whose producer runs later (``validation/fitting/`` fit_patches).
    * Add, Concat and Contiguous pass their output's gradient on (Concat as views of it): that storage
      lives from their backward until, for each input, its producer has read it (or, if the
      input also feeds an earlier node, until that node's part is summed with it).  At an
      input's producer it is that node's output gradient, counted already up to its size.
    """
    by_name = {r.name: r for r in rows}
    trained = liveness.trained            # a dead branch sends no gradient back
    consumers = {name: [rows[i - 1] for i in readers if rows[i - 1].name in trained]
                 for name, readers in liveness.readers.items() if name != "input"}
    pending = {}

    def hold(lo, hi, nbytes, counted=()):
        for r in rows[lo - 1:hi - 1]:
            own = r.activation * width[r.name] if r.name in counted else 0
            pending[r.index] = pending.get(r.index, 0) + nbytes - own

    for name, users in consumers.items():
        for c in users[1:]:
            if not c.layer.passes_gradient:
                hold(users[0].index, c.index, by_name[name].activation * width[name])
        if users and not users[0].layer.passes_gradient and name not in liveness.learned:
            hold(by_name[name].index + 1, users[0].index,
                 by_name[name].activation * width[name])
    for c in rows:
        if not c.layer.passes_gradient or c.name not in trained:
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


@dataclass(frozen=True)
class Update:
    """The optimizer step that ends a training step: ``optimizer`` (a key of
    :data:`symcnn.options.OPTIMIZER_STATES`), its multi-tensor implementation or not, and the
    element counts of the parameter tensors it updates (those that get a gradient), each
    ``s`` bytes an element."""

    optimizer: str
    foreach: bool
    tensors: tuple
    s: int

    @functools.cached_property
    def gradients(self) -> Held:
        """The parameters' gradients, all of them made: their bytes and allocations."""
        return held((t * self.s, False) for t in self.tensors)

    def moment(self, resident, steady, base) -> Moment:
        """The optimizer step: what is resident (``resident`` bytes, the batch and its target
        ``steady`` per sample, their allocations ``base``), every gradient, and the step's
        own temporaries."""
        extra = optimizer_transient(list(self.tensors), self.optimizer, self.foreach, self.s)
        grads = self.gradients
        return Moment("optimizer", "", total((resident, grads.fixed, extra)), steady,
                      base + (grads.parts, ((extra, 0),)))


def peak(moments, batch, block: int = 0) -> sympy.Expr:
    """The largest of the moments at batch size ``batch`` (a number, or a Max); with
    ``block``, every allocation rounded up to a multiple of it (:meth:`Moment.at`)."""
    values = [m.at(batch, block) for m in moments]
    if all(v.is_number for v in values):
        return max(values, key=int)
    return unsorted(sympy.Max, values)


#: Up to this many arguments a Max or Min is sorted as sympy sorts them (what every report
#: printed so far); beyond, they stay in the moments' order (:func:`unsorted`).
SORTED_UP_TO = 100


def unsorted(cls, values) -> sympy.Expr:
    """``cls(*values, evaluate=False)`` (sympy's ``Max`` or ``Min``); beyond
    :data:`SORTED_UP_TO` distinct arguments, in the order given: sympy would sort them by its
    default sort key, which for thousands of long expressions costs more than everything
    else in a report."""
    args = tuple(dict.fromkeys(sympy.sympify(v) for v in values))
    if len(args) <= SORTED_UP_TO:
        return cls(*args, evaluate=False)
    out = sympy.Expr.__new__(cls, *args)
    out._argset = frozenset(args)
    return out

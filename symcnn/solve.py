"""Largest batch that fits a memory budget, from the affine form M(b) = a*b + c."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy

from symcnn.errors import SymcnnError
from symcnn.intdiv import FloorDiv
from symcnn.memory.pytorch.moments import integer_parts, unsorted
from symcnn.symbols import size
from symcnn.units import parse_size

#: The budget, in bytes, in closed forms.
M = size("M")


@dataclass(frozen=True)
class BatchLimit:
    """``floor((M - c) / a)`` for a budget ``M``: the closed form and its value.

    ``shortfall`` is how many bytes are missing for a single sample when even ``b = 1``
    does not fit (zero otherwise): ``at_one - budget``, where ``at_one`` is the memory at
    ``b = 1`` (the largest moment of a simulated step, its allocations rounded when they
    are); without it, ``fixed + per_sample``.
    """

    budget: sympy.Expr
    fixed: sympy.Expr
    per_sample: sympy.Expr
    formula: sympy.Expr
    value: sympy.Expr
    at_one: sympy.Expr | None = None

    @property
    def numeric(self) -> bool:
        """Whether the largest batch is a number (not an expression in the symbols)."""
        return self.value.is_number

    @property
    def fits(self) -> bool | None:
        """Whether at least one sample fits (None when it depends on symbols)."""
        return bool(self.value >= 1) if self.value.is_number else None

    @property
    def shortfall(self) -> sympy.Expr:
        if self.fits is False:
            needed = self.fixed + self.per_sample if self.at_one is None else self.at_one
            return sympy.Max(needed - self.budget, 0)
        return sympy.Integer(0)


def max_batch_size(fixed, per_sample, budget) -> BatchLimit:
    """Solve ``fixed + per_sample * b <= budget`` for the largest whole ``b``.

    ``budget`` is bytes or a size string (``"12GB"``, ``"11GiB"``).

    >>> limit = max_batch_size(26413208, 2910900732, "12GB")
    >>> limit.formula, limit.value
    (floor((M - 26413208)/2910900732), 4)
    >>> max_batch_size(26413208, 2910900732, "2GB").shortfall
    937313940
    """
    budget = parse_size(budget) if isinstance(budget, (str, int)) else sympy.sympify(budget)
    fixed, per_sample = sympy.sympify(fixed), sympy.sympify(per_sample)
    if per_sample.is_number and per_sample <= 0:
        raise SymcnnError("memory does not grow with the batch size: no largest batch")
    formula = FloorDiv(M - fixed, per_sample)
    value = FloorDiv(budget - fixed, per_sample)
    return BatchLimit(budget, fixed, per_sample, formula, value)


def max_batch_size_moments(moments, budget, block: int = 0) -> BatchLimit:
    """The largest batch for which every moment of a simulated step fits:
    ``min_t floor((M - F_t) / A_t)`` over the moments that grow with the batch.

    With ``block`` (allocations rounded up to multiples of it, :meth:`Moment.at`) that closed
    form is an upper bound, and the rounding adds less than ``block`` bytes per allocation:
    the value is then the largest batch at or below it whose rounded moments all fit, found
    by bisection down to the bound's ``floor((M - F_t - block n_t) / A_t)``.

    >>> from symcnn.memory.pytorch.timeline import Moment
    >>> steps = [Moment("forward", "a", 10, 100), Moment("backward", "a", 500, 60)]
    >>> limit = max_batch_size_moments(steps, 1000)
    >>> limit.value, limit.fixed, limit.per_sample
    (8, 500, 60)
    >>> blocks = [Moment("backward", "a", 500, 60, parts=(((500, 0), (0, 60)),))]
    >>> max_batch_size_moments(blocks, 1600).value, max_batch_size_moments(blocks, 1600, 512).value
    (18, 17)
    """
    if block:
        return _rounded_limit(moments, budget, block)
    budget = parse_size(budget) if isinstance(budget, (str, int)) else sympy.sympify(budget)
    grows = [not (m.per_sample.is_number and m.per_sample <= 0) for m in moments]
    growing = _undominated([m for m, g in zip(moments, grows) if g])
    if not growing:
        raise SymcnnError("memory does not grow with the batch size: no largest batch")
    growing = tuple(growing)
    if not (budget.is_number and all(m.fixed.is_number and m.per_sample.is_number
                                      for m in growing)):
        return _MomentLimit(budget, growing[0].fixed, growing[0].per_sample, growing)
    # in Python integers: floor((M - F_t) / A_t) for each moment, the least binds
    cap = int(budget)
    binding = min(growing, key=lambda m: (cap - int(m.fixed)) // int(m.per_sample))
    value = largest_batch([(int(m.fixed), int(m.per_sample)) for m in moments], cap)
    limit = _MomentLimit(budget, binding.fixed, binding.per_sample, growing, sympy.Integer(value))
    if value < 1 and all(m.fixed.is_number and m.per_sample.is_number for m in moments):
        # what one sample needs: the largest moment at b = 1, those that do not grow too
        object.__setattr__(limit, "at_one", sympy.Integer(max(int(m.fixed) + int(m.per_sample)
                                                               for m in moments)))
    return limit


class _MomentLimit(BatchLimit):
    """A :class:`BatchLimit` over the moments of a simulated step: ``min_t floor((M -
    F_t)/A_t)``, one term per moment that can bind (thousands for a deep network), which
    no text shows but the JSON with a budget.  Its ``formula`` is built when first read,
    once for every budget, its terms in the moments' order (sympy would sort them by its
    default sort key, which costs more than the rest of a report); ``value`` too, in
    symbols."""

    def __init__(self, budget, fixed, per_sample, moments: tuple, value=None) -> None:
        object.__setattr__(self, "budget", budget)
        object.__setattr__(self, "fixed", fixed)
        object.__setattr__(self, "per_sample", per_sample)
        object.__setattr__(self, "_moments", moments)
        if value is not None:
            object.__setattr__(self, "value", value)

    @property
    def numeric(self) -> bool:
        return "value" in self.__dict__ and self.value.is_number

    def __getattr__(self, name: str):
        if name == "formula":
            built = _symbolic_formula(self._moments)
        elif name == "value":
            built = unsorted(sympy.Min, [FloorDiv(self.budget - m.fixed, m.per_sample)
                                         for m in self._moments])
        else:
            raise AttributeError(name)
        object.__setattr__(self, name, built)
        return built

    @property
    def fits(self) -> bool | None:
        return bool(self.value >= 1) if self.numeric else None


@functools.lru_cache(maxsize=4)
def _symbolic_formula(moments: tuple) -> sympy.Expr:
    return unsorted(sympy.Min, [FloorDiv(M - m.fixed, m.per_sample) for m in moments])


def _undominated(moments) -> list:
    """The moments that can bind: with numbers, a moment is left out when another holds at
    least as much both fixed and per sample (its ``floor((M - F) / A)`` is never the least).
    With symbols, all of them."""
    if not all(m.fixed.is_number and m.per_sample.is_number for m in moments):
        return list(moments)
    keep, most = [], None
    for m in sorted(moments, key=lambda m: (-int(m.per_sample), -int(m.fixed))):
        if most is None or int(m.fixed) > most:
            keep.append(m)
            most = int(m.fixed)
    return keep


def _numeric_parts(moments) -> list[tuple[int, int, list[tuple[int, int]]]]:
    """Each moment's ``(fixed, per_sample, allocations)`` as Python integers (a group of
    allocations that several moments share is converted once: :func:`integer_parts`)."""
    return [(int(m.fixed), int(m.per_sample),
             [pair for group in m.parts for pair in integer_parts(group)]) for m in moments]


def _rounded_limit(moments, budget, block: int) -> BatchLimit:
    """:func:`max_batch_size_moments` with every allocation rounded up to ``block`` bytes."""
    exact = max_batch_size_moments(moments, budget)
    budget = exact.budget
    if not (exact.value.is_number and budget.is_number):
        raise SymcnnError("allocator rounding needs numeric sizes and budget (substitute the "
                          "symbols first)", argument="allocator_block")
    hi, cap = int(exact.value), int(budget)
    numbers = _numeric_parts(moments)
    # the memory at b = 1 as the rounded allocations need it (the shortfall's base)
    at_one = sympy.Integer(max(max(fixed + per, _rounded(parts, 1, block))
                               for fixed, per, parts in numbers))
    if hi <= 0:                                    # not even one sample fits unrounded
        return BatchLimit(budget, exact.fixed, exact.per_sample, exact.formula, exact.value,
                          at_one)
    return BatchLimit(budget, exact.fixed, exact.per_sample, exact.formula,
                      sympy.Integer(largest_rounded_batch(numbers, cap, block, hi)), at_one)


def largest_batch(moments, cap: int) -> int:
    """In Python integers: the largest batch for which every moment ``(fixed, per_sample)``
    fits ``cap`` bytes, ``min_t floor((cap - F_t) / A_t)`` over the moments that grow (at
    least one must), and 0 when one that does not grow exceeds ``cap`` (negative when not
    even one sample fits).

    >>> largest_batch([(10, 100), (500, 60), (900, 0)], 1000)
    8
    >>> largest_batch([(10, 100), (1500, 0)], 1000)
    0
    """
    value = min((cap - f) // p for f, p in moments if p > 0)
    return 0 if any(f > cap for f, p in moments if p <= 0) else value


def _rounded(parts, b: int, block: int) -> int:
    return sum(-(-(f + p * b) // block) * block if f + p * b > 0 else f + p * b
               for f, p in parts)


def largest_rounded_batch(numbers, cap: int, block: int, hi: int) -> int:
    """In Python integers: the largest batch at or below ``hi`` (the unrounded limit, at
    least 1) for which every moment ``(fixed, per_sample, allocations)`` fits ``cap`` bytes
    with each allocation rounded up to ``block`` bytes; found by bisection down to the bound
    ``floor((cap - F_t - block n_t) / A_t)``."""
    def fits(b: int) -> bool:
        for fixed, per, parts in numbers:
            plain = fixed + per * b
            if plain + block * len(parts) <= cap:  # fits however its allocations round
                continue
            if plain > cap or _rounded(parts, b, block) > cap:
                return False
        return True

    lo = max(0, min((cap - fixed - block * len(parts)) // per
                    for fixed, per, parts in numbers if per > 0))
    lo = min(lo, hi)
    if not fits(lo):
        lo = 0
    while lo < hi:                                 # fits(lo) holds (or lo == 0)
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo

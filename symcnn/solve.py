"""Largest batch that fits a memory budget, from the affine form M(b) = a*b + c."""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from symcnn.errors import SymcnnError
from symcnn.intdiv import FloorDiv
from symcnn.memory.pytorch.moments import integer_parts
from symcnn.symbols import size
from symcnn.units import parse_size

#: The budget, in bytes, in closed forms.
M = size("M")


@dataclass(frozen=True)
class BatchLimit:
    """``floor((M - c) / a)`` for a budget ``M``: the closed form and its value.

    ``shortfall`` is how many bytes are missing for a single sample when even ``b = 1``
    does not fit (zero otherwise).
    """

    budget: sympy.Expr
    fixed: sympy.Expr
    per_sample: sympy.Expr
    formula: sympy.Expr
    value: sympy.Expr

    @property
    def fits(self) -> bool | None:
        """Whether at least one sample fits (None when it depends on symbols)."""
        return bool(self.value >= 1) if self.value.is_number else None

    @property
    def shortfall(self) -> sympy.Expr:
        if self.fits is False:
            return self.fixed + self.per_sample - self.budget
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
    limits = [max_batch_size(m.fixed, m.per_sample, budget) for m in growing]
    formula = sympy.Min(*dict.fromkeys(lim.formula for lim in limits), evaluate=False)
    if all(lim.value.is_number for lim in limits):
        # the moments that do not grow must fit too, whatever the batch
        flat = [m.fixed for m, g in zip(moments, grows) if not g]
        binding = min(limits, key=lambda lim: int(lim.value))
        value = binding.value if all(f <= budget for f in flat) else sympy.Integer(0)
        return BatchLimit(budget, binding.fixed, binding.per_sample, formula, value)
    return BatchLimit(budget, limits[0].fixed, limits[0].per_sample, formula,
                      sympy.Min(*(lim.value for lim in limits), evaluate=False))


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
    if hi <= 0:
        return exact                               # not even one sample fits unrounded
    numbers = _numeric_parts(moments)

    def fits(b: int) -> bool:
        for fixed, per, parts in numbers:
            plain = fixed + per * b
            if plain + block * len(parts) <= cap:  # fits however its allocations round
                continue
            if plain > cap or sum(-(-(f + p * b) // block) * block if f + p * b > 0
                                  else f + p * b for f, p in parts) > cap:
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
    return BatchLimit(budget, exact.fixed, exact.per_sample, exact.formula, sympy.Integer(lo))

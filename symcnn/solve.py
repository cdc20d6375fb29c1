"""Largest batch that fits a memory budget, from the affine form M(b) = a*b + c."""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from .errors import SymcnnError
from .intdiv import FloorDiv
from .symbols import size
from .units import parse_size

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


def max_batch_size_moments(moments, budget) -> BatchLimit:
    """The largest batch for which every moment of a simulated step fits:
    ``min_t floor((M - F_t) / A_t)`` over the moments that grow with the batch.

    >>> from symcnn.timeline import Moment
    >>> steps = [Moment("forward", "a", 10, 100), Moment("backward", "a", 500, 60)]
    >>> limit = max_batch_size_moments(steps, 1000)
    >>> limit.value, limit.fixed, limit.per_sample
    (8, 500, 60)
    """
    budget = parse_size(budget) if isinstance(budget, (str, int)) else sympy.sympify(budget)
    growing = [m for m in moments if not (m.per_sample.is_number and m.per_sample <= 0)]
    if not growing:
        raise SymcnnError("memory does not grow with the batch size: no largest batch")
    limits = [max_batch_size(m.fixed, m.per_sample, budget) for m in growing]
    formula = sympy.Min(*dict.fromkeys(lim.formula for lim in limits), evaluate=False)
    if all(lim.value.is_number for lim in limits):
        # the moments that do not grow must fit too, whatever the batch
        flat = [m.fixed for m in moments if m not in growing]
        binding = min(limits, key=lambda lim: int(lim.value))
        value = binding.value if all(f <= budget for f in flat) else sympy.Integer(0)
        return BatchLimit(budget, binding.fixed, binding.per_sample, formula, value)
    return BatchLimit(budget, limits[0].fixed, limits[0].per_sample, formula,
                      sympy.Min(*(lim.value for lim in limits), evaluate=False))

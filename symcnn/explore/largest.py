"""The largest value of one symbol (a width, an input size) whose training memory fits a budget.

The training memory at the batch size is a closed form in the symbol (every other symbol
given a number).  When that form is proven never to decrease as the symbol grows
(:mod:`symcnn.explore.monotone`), the answer is found by doubling from the smallest value the
network takes until the memory passes the budget, then by narrowing that bracket, evaluating
the form exactly at 64 values at a time (:func:`symcnn.analysis.sweep.evaluate_many`): a
few hundred evaluations for any answer below ``10**40``.  When it is not proven, every value
from the smallest to twice the bracket's end is evaluated, and the answer says so: the
largest value that fits there, and the largest below which every value fits.

The simulated step on the CPU (``pytorch``, ``device="cpu"``) has no exact closed form in
sizes (oneDNN's buffers follow the numbers): there each value tried is a network analysed
with that number, by doubling and bisection, and monotonicity is assumed, not proven.
"""

from __future__ import annotations

from dataclasses import dataclass

from symcnn.analysis.sweep import evaluate_many, hold_grid
from symcnn.errors import SymcnnError
from symcnn.explore.monotone import nondecreasing
from symcnn.explore.problem import Problem, prepare
from symcnn.limits import MAX_DIGITS, MAX_INTEGER, MAX_SIZES_VALUES
from symcnn.units import parse_size

#: Values evaluated at once in each round of narrowing the bracket.
FANOUT = 64


@dataclass(frozen=True)
class Solution:
    """The largest value of ``symbol`` whose training memory fits ``budget`` bytes."""

    symbol: str
    budget: int
    largest: int
    memory_at_largest: int
    #: The next value the network takes (the next integer, unless merges need a multiple).
    next: int | None
    memory_at_next: int | None
    #: The smallest value the network takes (every size at least 1, every merge met).
    smallest: int
    #: True: proven never to decrease; False: a decrease was found (``decrease``); None:
    #: neither (not proven; or, on the CPU, assumed).
    monotone: bool | None
    #: Every value from ``smallest`` up to this one fits (``largest`` when monotone; None
    #: when even ``smallest`` does not fit).
    all_fit_up_to: int | None
    #: ``(first, last)``: every value between them was evaluated (when not proven monotone).
    scanned: tuple[int, int] | None
    #: ``(v, memory at v, w, memory at w)``, ``v < w`` and less memory at ``w``.
    decrease: tuple[int, int, int, int] | None
    #: How many values were evaluated.
    evaluations: int
    #: Whether the figures come from the closed form (False: the CPU's simulated step).
    closed_form: bool
    convention: str
    batch: int


def solve_for(spec, name: str, memory, options=None, batch_size=1) -> Solution:
    """The largest whole value of the symbol ``name`` for which training at ``batch_size``
    fits ``memory`` (``"12GB"``, ``"11GiB"``, bytes), counted as ``options`` say (the lecture
    convention by default); every other symbol of ``spec`` must have a value.

    >>> from symcnn.spec.builtin import example_spec
    >>> from symcnn.spec.parse import parse_assignments
    >>> cube = example_spec("lecture_symbolic", parse_assignments(["C=30", "H=D", "W=D"]))
    >>> s = solve_for(cube, "D", "12GB")
    >>> s.largest, s.memory_at_largest, s.memory_at_next, s.monotone
    (324, 11848775392, 12016685396, True)
    """
    problem = prepare(spec, [name], options, batch_size)
    try:
        budget = int(parse_size(memory))
    except SymcnnError as err:
        raise SymcnnError(err.message, argument="memory") from None
    search = _Search(problem, budget)
    if search.monotone is None and problem.closed_form:
        return search.scan()
    return search.bisect()


class _Search:
    def __init__(self, problem: Problem, budget: int) -> None:
        self.problem, self.budget = problem, budget
        self.symbol = symbol = problem.symbols[0]
        self.name = str(symbol)
        self.evaluations = 0
        form = problem.training
        if symbol not in form.free_symbols:
            raise SymcnnError(f"training memory does not depend on {symbol}: no largest value",
                              argument="symbol")
        self.form = form
        self.smallest = self.valid_from(1, +1)
        if self.smallest is None:
            raise SymcnnError(f"no {symbol} up to {MAX_SIZES_VALUES:,} gives every size at least "
                              "1 and meets every merge", argument="symbol")
        self.monotone = nondecreasing(form, symbol, self.smallest) if problem.closed_form \
            else None
        self.monotone = self.monotone or None      # not proven: None, not False

    def memory(self, values) -> list[int]:
        values = list(values)
        self.evaluations += len(values)
        if not self.problem.closed_form:
            return [self.problem.training_at({self.symbol: v}) for v in values]
        return [int(x) for x in evaluate_many(self.form, self.symbol, values)]

    def valid(self, values) -> list[bool]:
        sizes, relations = self.problem.conditions
        return hold_grid(sizes, relations, {self.symbol: list(values)})

    def valid_from(self, start: int, step: int) -> int | None:
        """The first valid value from ``start`` on, going up (``step`` 1) or down (-1)."""
        width, seen, at = 256, 0, start
        while seen < MAX_SIZES_VALUES and at >= 1:
            values = range(at, at + width) if step > 0 else range(at, max(at - width, 0), -1)
            for v, ok in zip(values, self.valid(values)):
                if ok:
                    return v
            seen += len(values)
            at += step * len(values)
            width *= 2
        return None

    def doubling(self) -> tuple[int | None, int | None]:
        """The last of ``smallest * 2**k`` that fits and the first after it that does not
        (None: none fits / none fails below 10^40)."""
        points = []
        v = self.smallest
        while v < MAX_INTEGER:
            points.append(v)
            v *= 2
        if self.problem.closed_form:               # all at once: a few hundred operations
            fits = [m <= self.budget for m in self.memory(points)]
        else:                                      # a network each, at values it takes
            points, fits = [], []
            at = self.smallest
            while at is not None and at < MAX_INTEGER and (not fits or fits[-1]):
                points.append(at)
                fits.append(self.memory([at])[0] <= self.budget)
                at = self.valid_from(2 * at, +1)
        last = max((i for i, f in enumerate(fits) if f), default=None)
        if last is None:
            return None, points[0]
        return points[last], (points[last + 1] if last + 1 < len(fits) else None)

    def unbounded(self) -> SymcnnError:
        return SymcnnError(f"no largest {self.name}: training memory stays within "
                           f"{self.budget:,} B from {self.name} = {self.smallest:,} to "
                           f"{self.name} = 10^{MAX_DIGITS}, doubling each time",
                           argument="memory")

    def nothing_fits(self, where: str):
        at = self.memory([self.smallest])[0]
        return SymcnnError(f"nothing fits: at {self.name} = {self.smallest:,} (the smallest the "
                           f"network takes) training needs {at:,} B, more than {self.budget:,} B"
                           f"{where}", argument="memory")

    def bisect(self) -> Solution:
        """For a memory that never decreases (proven, or on the CPU assumed)."""
        lo, hi = self.doubling()
        if lo is None:
            raise self.nothing_fits("")
        if hi is None:
            raise self.unbounded()
        if not self.problem.closed_form:
            largest = self.bisect_valid(lo, hi)
            return self.solution(largest, largest, None, None)
        fanout = FANOUT
        while hi - lo > 1:                         # lo fits, hi does not
            step = max(1, (hi - lo) // (fanout + 1))
            points = list(range(lo + step, hi, step))[:fanout]
            for p, m in zip(points, self.memory(points)):
                if m <= self.budget:
                    lo = p
                else:
                    hi = p
                    break
        largest = self.valid_from(lo, -1)          # at least smallest, which fits
        return self.solution(largest, largest, None, None)

    def bisect_valid(self, lo: int, hi: int) -> int:
        """Bisection between two values the network takes (``lo`` fits, ``hi`` does not),
        trying only values it takes."""
        while True:
            mid = self.valid_from((lo + hi) // 2, -1)
            if mid is None or mid <= lo:
                mid = self.valid_from((lo + hi) // 2 + 1, +1)
            if mid is None or mid >= hi:
                return lo
            if self.memory([mid])[0] <= self.budget:
                lo = mid
            else:
                hi = mid

    def scan(self) -> Solution:
        """For a memory not proven monotone: every value up to twice the doubling's bracket
        (up to a million values past the smallest when no doubling misses)."""
        _, miss = self.doubling()
        first = self.smallest
        last = first + MAX_SIZES_VALUES - 1 if miss is None \
            else min(max(2 * miss, first + 1023), first + MAX_SIZES_VALUES - 1)
        values = [v for v, ok in zip(range(first, last + 1), self.valid(range(first, last + 1)))
                  if ok]
        memory = self.memory(values)
        fitting = [v for v, m in zip(values, memory) if m <= self.budget]
        if not fitting:
            raise self.nothing_fits(f" (every value up to {last:,} tried)")
        all_fit = None
        for v, m in zip(values, memory):
            if m > self.budget:
                break
            all_fit = v
        decrease = next(((v, m, w, n) for v, m, w, n in
                         zip(values, memory, values[1:], memory[1:]) if n < m), None)
        return self.solution(fitting[-1], all_fit, (first, last), decrease)

    def solution(self, largest, all_fit, scanned, decrease) -> Solution:
        after = self.valid_from(largest + 1, +1)
        at = self.memory([largest] if after is None else [largest, after])
        problem = self.problem
        return Solution(self.name, self.budget, largest, at[0], after,
                        None if after is None else at[1], self.smallest,
                        False if decrease else self.monotone, all_fit, scanned, decrease,
                        self.evaluations, problem.closed_form, str(problem.memory.convention),
                        problem.batch)

"""A proof, from the form of a closed form, that it never decreases as one symbol grows.

``solve`` bisects only where this holds; elsewhere it scans every value it reports on.  The
proof is structural, on whole numbers ``v >= start``: a constant, the symbol itself, a sum of
nondecreasing terms, a positive number times a nondecreasing term, a product with a positive
coefficient of nondecreasing factors that are not negative, a positive power of such a
factor, ``floor(p / q)`` (``FloorDiv``, ``floor``, ``ceiling``) of a nondecreasing ``p`` by
a positive constant, the largest or least of nondecreasing terms, and a polynomial whose
derivative has no real root at or beyond ``start`` and is positive there (Sturm's count,
exact).  A nondecreasing factor is not negative on ``v >= start`` when it is not negative at
``start``: that value is computed exactly.  Anything else is *not proven* (which is not a
proof of the contrary).

>>> from symcnn.symbols import size
>>> from symcnn.intdiv import FloorDiv
>>> D = size("D")
>>> nondecreasing(240 * (FloorDiv(D - 5, 2) - 1) ** 3 + 4 * D**3, D, 7)
True
>>> nondecreasing(124 * D**3 - 720 * D**2 + 1440 * D - 960, D, 2)
True
>>> nondecreasing(10 * D + 50 * (D - 2 * FloorDiv(D, 2)), D, 1)
False
"""

from __future__ import annotations

import sympy

from symcnn.analysis.sweep import evaluate_many
from symcnn.intdiv import FloorDiv


def nondecreasing(expr: sympy.Expr, symbol: sympy.Symbol, start: int) -> bool:
    """Whether ``expr`` (in ``symbol`` alone) is proven never to decrease on the whole
    numbers from ``start`` up (see the module's docstring for what counts as a proof)."""
    return _Prover(symbol, int(start)).rising(sympy.sympify(expr))


class _Prover:
    def __init__(self, symbol: sympy.Symbol, start: int) -> None:
        self.symbol, self.start = symbol, start
        self.memo: dict = {}

    def value(self, expr) -> object:
        """``expr`` at ``start``, exactly."""
        return evaluate_many(expr, self.symbol, [self.start])[0]

    def not_negative(self, expr) -> bool:
        return self.rising(expr) and self.value(expr) >= 0

    def rising(self, expr) -> bool:
        if expr not in self.memo:
            self.memo[expr] = self._rising(expr)
        return self.memo[expr]

    def _rising(self, expr) -> bool:
        if self.symbol not in expr.free_symbols or expr == self.symbol:
            return True
        if expr.is_Add:
            return all(self.rising(a) for a in expr.args) or self._polynomial(expr)
        if expr.is_Mul:
            coeff, rest = expr.as_coeff_Mul()
            factors = sympy.Mul.make_args(rest)
            if coeff >= 0 and len(factors) == 1:   # c f: as f does, whatever its sign
                return self.rising(rest)
            return (coeff >= 0 and all(self.not_negative(f) for f in factors)) \
                or self._polynomial(expr)
        if expr.is_Pow:
            exp = expr.exp
            return exp.is_Integer and exp > 0 and self.not_negative(expr.base)
        if isinstance(expr, FloorDiv):
            p, q = expr.args
            return self.symbol not in q.free_symbols and self.value(q) > 0 and self.rising(p)
        if isinstance(expr, (sympy.floor, sympy.ceiling, sympy.Max, sympy.Min)):
            return all(self.rising(a) for a in expr.args)
        return False

    def _polynomial(self, expr) -> bool:
        """A polynomial in the symbol whose derivative is not negative from ``start`` on."""
        if not expr.is_polynomial(self.symbol):
            return False
        slope = sympy.Poly(sympy.diff(expr, self.symbol), self.symbol)
        if slope.is_zero:
            return True
        return slope.count_roots(self.start, None) == 0 and slope.eval(self.start) > 0

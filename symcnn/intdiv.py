"""Integer floor division for sizes, as sympy functions that keep expressions small.

sympy's ``floor`` does not collapse ``floor(floor(x/2)/2)`` and tries slow
simplifications involving ``frac``.  :class:`FloorDiv` follows the rules PyTorch's
``torch.utils._sympy.functions.FloorDiv`` uses, restricted to what holds for the
integer sizes of a network:

* numbers are divided at once: ``FloorDiv(7, 2) == 3``;
* nested divisions collapse: ``(x//a + c)//b == (x + a*c)//(a*b)`` for integer ``c``
  and positive integers ``a``, ``b``, so a network of depth ``L`` with ``L`` stride-2
  layers keeps one division per axis, not ``L`` nested ones;
* terms divisible by the divisor are taken out: ``(2*H - 2)//2 == H - 1``.

Both arguments are assumed to be integers and the divisor positive, as they are for
every size in a network.

>>> from sympy import Symbol
>>> n = Symbol("n", integer=True, positive=True)
>>> FloorDiv(FloorDiv(n - 3, 2) + 1 - 3, 2) + 1
floor((n - 7)/4) + 1
>>> FloorDiv(2*n - 2, 2)
n - 1
"""

from __future__ import annotations

import sympy
from sympy import Add, Integer, Mul


class FloorDiv(sympy.Function):
    """``floor(p / q)`` for an integer ``p`` and a positive integer ``q``."""

    nargs = 2
    is_integer = True
    is_real = True

    @classmethod
    def eval(cls, p, q):  # noqa: D102 - sympy hook
        if q == 1:
            return p
        if p.is_Integer and q.is_Integer:
            return Integer(int(p) // int(q))
        if p == 0:
            return Integer(0)
        if q.is_Integer and q.is_positive:
            # (x//a + rest)//q with integer rest -> (x + a*rest)//(a*q)
            inner = [t for t in Add.make_args(p) if isinstance(t, FloorDiv)]
            if len(inner) == 1 and inner[0].args[1].is_Integer:
                x, a = inner[0].args
                rest = p - inner[0]
                if rest.is_integer:
                    return FloorDiv(x + a * rest, a * q)
            # take out the terms that q divides exactly
            whole, kept = [], []
            for term in Add.make_args(p):
                coeff, _ = term.as_coeff_Mul()
                (whole if coeff.is_Integer and coeff % q == 0 and term.is_integer else kept).append(term)
            if whole:
                return Add(*(t / q for t in whole)) + FloorDiv(Add(*kept), q)
        return None

    def _eval_is_nonnegative(self):
        p, q = self.args
        if p.is_nonnegative and q.is_positive:
            return True
        return None

    def _sympystr(self, printer) -> str:
        p, q = self.args
        return f"floor({printer._print(p)}/{printer.parenthesize(q, 50)})" if p.is_Atom else \
            f"floor(({printer._print(p)})/{printer.parenthesize(q, 50)})"

    def _latex(self, printer, exp=None) -> str:
        p, q = self.args
        tex = rf"\left\lfloor \frac{{{printer._print(p)}}}{{{printer._print(q)}}} \right\rfloor"
        return tex if exp is None else f"{tex}^{{{exp}}}"  # sympy passes a power's exponent


def ceil_div(p, q):
    """``ceil(p / q)`` for integers, as ``FloorDiv(p + q - 1, q)``.

    >>> ceil_div(7, 2)
    4
    """
    p, q = sympy.sympify(p), sympy.sympify(q)
    return FloorDiv(p + q - 1, q)


def product(values) -> sympy.Expr:
    """Product of numbers or expressions, 1 for an empty sequence.

    >>> product([2, 3, 4])
    24
    """
    return Mul(*[sympy.sympify(v) for v in values])

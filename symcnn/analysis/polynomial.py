"""Sparse polynomials with rational coefficients, fast enough for the proofs of
:mod:`symcnn.analysis.dominance`.

A deep network's sizes are polynomials in a hundred or more parameters, but each monomial
holds only a few of them.  A dense exponent vector (sympy's ``ring``) costs one addition per
parameter for every product of two monomials; here a monomial is one Python integer that
packs the exponents, :data:`WIDTH` bits per parameter, so that multiplying two monomials is
adding two integers.  Coefficients are Python ``int`` or ``fractions.Fraction``: exact.

>>> t0, t1 = Poly.generator(0), Poly.generator(1)
>>> p = (1 + t0) * (2 + t1) - 2
>>> sorted(p.terms.values()), p.dominates(t0 * t1), (t0 * t1).dominates(p)
([1, 1, 2], True, False)
"""

from __future__ import annotations

from fractions import Fraction

#: Bits per parameter in a packed monomial.  A product whose total degree could reach
#: ``2 ** WIDTH`` (a carry into the next parameter's bits) raises :class:`OverflowError`.
WIDTH = 16


class Poly:
    """A polynomial: ``terms`` maps a packed monomial to its nonzero coefficient;
    ``degree`` bounds the total degree (exact for sums and products of parameters)."""

    __slots__ = ("terms", "degree", "_nonnegative")

    def __init__(self, terms: dict, degree: int) -> None:
        self.terms = terms
        self.degree = degree
        self._nonnegative = None

    @classmethod
    def generator(cls, index: int) -> Poly:
        """The parameter number ``index``."""
        return cls({1 << (WIDTH * index): 1}, 1)

    @classmethod
    def constant(cls, value) -> Poly:
        return cls({0: value} if value else {}, 0)

    def _lift(self, other) -> Poly:
        return other if isinstance(other, Poly) else Poly.constant(other)

    def __add__(self, other) -> Poly:
        other = self._lift(other)
        out = dict(self.terms)
        for m, c in other.terms.items():
            s = out.get(m, 0) + c
            if s:
                out[m] = s
            else:
                out.pop(m, None)
        return Poly(out, max(self.degree, other.degree))

    __radd__ = __add__

    def __neg__(self) -> Poly:
        return Poly({m: -c for m, c in self.terms.items()}, self.degree)

    def __sub__(self, other) -> Poly:
        return self + (-self._lift(other))

    def __rsub__(self, other) -> Poly:
        return self._lift(other) + (-self)

    def __mul__(self, other) -> Poly:
        if not isinstance(other, Poly):
            if not other:
                return Poly({}, 0)
            return Poly({m: c * other for m, c in self.terms.items()}, self.degree)
        degree = self.degree + other.degree
        if degree >= 1 << WIDTH:
            raise OverflowError("degree beyond a packed monomial's width")
        out: dict = {}
        get = out.get
        right = list(other.terms.items())
        for m1, c1 in self.terms.items():
            for m2, c2 in right:
                k = m1 + m2
                out[k] = get(k, 0) + c1 * c2
        return Poly({m: c for m, c in out.items() if c}, degree)

    __rmul__ = __mul__

    def __pow__(self, exponent: int) -> Poly:
        out = Poly.constant(1)
        for _ in range(exponent):
            out = out * self
        return out

    @property
    def nonnegative(self) -> bool:
        """Whether every coefficient is at least 0 (computed once)."""
        if self._nonnegative is None:
            self._nonnegative = all(c >= 0 for c in self.terms.values())
        return self._nonnegative

    def dominates(self, other: Poly) -> bool:
        """Whether every coefficient of ``self - other`` is at least 0, without forming
        the difference: the terms of ``other``, then (where ``self`` has a negative one)
        the terms of ``self`` that ``other`` lacks."""
        mine = self.terms
        if not all(mine.get(m, 0) >= c for m, c in other.terms.items()):
            return False
        theirs = other.terms
        return self.nonnegative or all(c >= 0 for m, c in mine.items() if m not in theirs)


def rational(p: int, q: int):
    """``p/q`` as an ``int`` when whole, else a ``Fraction``."""
    return p // q if p % q == 0 else Fraction(p, q)

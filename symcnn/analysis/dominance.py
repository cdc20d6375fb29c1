"""Which arguments of a symbolic maximum can be the largest, proved for every valid size.

A maximum over the layers (the inference peak: the tensors alive at once) has one argument
per layer.  An argument is left out when another is at least as large for *every* valid
size: the symbols are positive integers and every size is at least 1 after every layer.
Numbers at sample points decide nothing here; the test is a proof:

1. **Parametrize the valid sizes.**  Named sizes (:mod:`symcnn.analysis.named`) form chains
   ``D -> D_1 = D - 2 -> D_2 = floor((D_1 - 3)/2) + 1 -> ...``.  Walking a chain back from
   its deepest name, each size is written exactly in the next one:
   ``D_1 = 2 (D_2 - 1) + 3 + r_2`` with the remainder ``0 <= r_2 <= 1``, ``D = D_1 + 2``.
   So every size is a polynomial in the deepest names ``D_8 = 1 + t`` (``t >= 0``), the
   remainders ``r >= 0`` and the other symbols ``C = 1 + t_C``; every valid choice of sizes
   has such parameters (the parameters may also reach sizes that are not valid: the test
   proves more than needed, never less).
2. **Prove** ``x - y >= 0``: written in the parameters and expanded, every coefficient is
   nonnegative (a polynomial with nonnegative coefficients in nonnegative variables is
   nonnegative).  Where that fails (or a floor is left that no name explains), ``y`` stays.

>>> from symcnn.spec.builtin import example_spec
>>> from symcnn.analysis.rows import analyze
>>> from symcnn.analysis.named import name_sizes
>>> named = name_sizes(analyze(example_spec("lecture_symbolic").network))
>>> proof = Parameters(named)
>>> D_1, D_2, D_3 = (n.symbol for n in named.names[0:9:3])
>>> proof.at_least(D_1, 2 * D_2), proof.at_least(D_2, D_1)
(True, False)
>>> proof.at_least(D_1 * D_1, 2 * D_3 * D_3 + 4 * D_3)
True
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import sympy

from symcnn.analysis.polynomial import Poly, rational
from symcnn.intdiv import FloorDiv
from symcnn.symbols import b as BATCH

#: A maximum with more arguments than this is left as it is (pairwise proofs cost n^2).
MAX_ARGUMENTS = 200
#: Products of more factors than this are not matched factor by factor (the pairings grow
#: as n!); they are expanded.
MAX_FACTORS = 5


class Parameters:
    """The valid sizes of a network as polynomials in nonnegative parameters (see the module);
    ``symbols`` the network's own (the batch ``b`` is one too)."""

    def __init__(self, named, symbols=()) -> None:
        names = named.names if named is not None else ()
        self._defs = {n.symbol: n.definition for n in names}
        self._parent: dict[sympy.Symbol, sympy.Symbol] = {}
        for n in names:
            free = n.definition.free_symbols
            if len(free) == 1:
                self._parent[n.symbol] = next(iter(free))
        variables = list(dict.fromkeys([*self._defs, *sorted(symbols, key=str), BATCH,
                                        *self._parent.values()]))
        # one parameter t_v >= 0 per size (v = 1 + t_v where it is free), one remainder r_v >= 0
        # per floor: their positions in a packed monomial (symcnn.analysis.polynomial)
        self._t = {v: i for i, v in enumerate(variables)}
        self._r = {n: len(variables) + i for i, n in enumerate(self._defs)}
        self._inverse = {n: inv for n in self._parent if (inv := self._invert(n)) is not None}
        self._pivot = self._pivots()
        self._floors: dict[sympy.Basic, tuple] = {}
        for n in names:
            floors = [f for f in sympy.preorder_traversal(n.value) if isinstance(f, FloorDiv)]
            if len(floors) == 1 and (n.value - floors[0]).is_Integer:
                self._floors[floors[0]] = (n.symbol, int(n.value - floors[0]))
        self._exact = _Values(self, lambda v: 1 + Poly.generator(self._t[v]),
                              lambda n: Poly.generator(self._r[n]), Poly.constant)
        self._sample = _Values(self, lambda v: 4, lambda n: 0, lambda q: q)

    def _pivots(self) -> dict[sympy.Symbol, sympy.Symbol]:
        """Each size's child along the deepest chain of invertible names (the deepest chain
        first; of equal ones, the first defined)."""
        depth: dict[sympy.Symbol, int] = {}
        children: dict[sympy.Symbol, list] = {}
        for k, p in self._parent.items():
            if k in self._inverse:
                children.setdefault(p, []).append(k)
        for n in reversed(list(self._parent)):  # a child is defined after its parent
            depth[n] = 1 + max((depth[k] for k in children.get(n, ())), default=0)
        pivot: dict[sympy.Symbol, sympy.Symbol] = {}
        for n in reversed(list(self._parent)):
            if n in self._inverse:
                p = self._parent[n]
                if p not in pivot or depth[n] > depth[pivot[p]]:
                    pivot[p] = n
        return pivot

    def _invert(self, n: sympy.Symbol):
        """``parent`` in terms of ``n`` and a remainder ``r_n >= 0``, where ``n``'s definition
        is ``alpha parent + beta`` or ``floor((alpha parent + beta)/q) + c`` (``alpha > 0``):
        ``(c, q, beta, 1/alpha, whether there is a remainder)``."""
        d, p = self._defs[n], self._parent[n]
        floors = [f for f in sympy.preorder_traversal(d) if isinstance(f, FloorDiv)]
        if not floors:
            inner, q, c, remainder = d, 1, 0, False
        elif len(floors) == 1 and (d - floors[0]).is_Integer and floors[0].args[1].is_Integer:
            (inner, q), c = floors[0].args, d - floors[0]
            remainder = True
        else:
            return None
        if not inner.is_polynomial(p):
            return None
        poly = sympy.Poly(inner, p)
        if poly.degree() != 1 or not poly.LC() > 0:
            return None
        alpha, beta = poly.all_coeffs()
        return int(c), int(q), rational(int(beta.p), int(beta.q)), \
            rational(int(alpha.q), int(alpha.p)), remainder

    def express(self, expr):
        """``expr`` (in names or the network's symbols) as a polynomial in the parameters
        (a :class:`symcnn.analysis.polynomial.Poly`), or None where a floor or maximum is
        left."""
        try:
            return self._exact.value(sympy.sympify(expr))
        except OverflowError:
            return None

    def at_least(self, x, y) -> bool:
        """Whether ``x >= y`` for every valid size (proved; False: not proved).  A polynomial
        with nonnegative coefficients is nonnegative at the sample point too, so where
        ``x``'s sample is the smaller no coefficient needs to be looked at."""
        x, y = sympy.sympify(x), sympy.sympify(y)
        sx, sy = self.sample(x), self.sample(y)
        if sx is None or sy is None or sx < sy:
            return False
        if self._termwise(x, y):
            return True
        px, py = self.express(x), self.express(y)
        return px is not None and py is not None and px.dominates(py)

    def _termwise(self, x: sympy.Expr, y: sympy.Expr) -> bool:
        """A shortcut to the same proof, without expanding: every term ``d Y_1 ... Y_m`` of
        ``y`` is paid for by a term ``c X_1 ... X_n`` of ``x`` (their coefficients summing to
        at most ``c``) whose factors each dominate one of its own (the rest at least 1), all
        factors with nonnegative coefficients.  Then ``x - y`` has nonnegative coefficients
        (``AB - A'B' = A(B - B') + (A - A')B'``); False: not shown this way."""
        xs, ys = self._products(x), self._products(y)
        if xs is None or ys is None:
            return False
        budget = [c for c, _ in xs]
        for d, fy in ys:
            for i, (_, fx) in enumerate(xs):
                if budget[i] >= d and _covers(fx, fy):
                    budget[i] -= d
                    break
            else:
                return False
        return True

    def _products(self, expr: sympy.Expr):
        """``expr``'s terms as ``(coefficient > 0, [factor polynomials])``, each factor with
        nonnegative coefficients; None where a term is not such a product."""
        out = []
        for term in sympy.Add.make_args(expr):
            coefficient, factors = 1, []
            for f in sympy.Mul.make_args(term):
                if f.is_Rational:
                    coefficient *= rational(int(f.p), int(f.q))
                    continue
                base, n = (f.base, int(f.exp)) if f.is_Pow and f.exp.is_Integer else (f, 1)
                poly = self.express(base)
                if poly is None or n < 1 or not poly.nonnegative:
                    return None
                factors += [poly] * n
            if coefficient <= 0 or len(factors) > MAX_FACTORS:
                return None
            out.append((coefficient, factors))
        return out

    def sample(self, expr):
        """``expr`` at one valid choice of sizes (every ``t`` 3, remainders 0): an order in
        which to try the proofs, never a proof (None where :meth:`express` is None)."""
        return self._sample.value(sympy.sympify(expr))


class _Values:
    """The sizes of :class:`Parameters` in one arithmetic: polynomials in the parameters, or
    numbers at the sample point; ``free(v)`` is ``1 + t_v``, ``remainder(n)`` is ``r_n``."""

    def __init__(self, proof: Parameters, free, remainder, number) -> None:
        self._proof = proof
        self._free, self._remainder, self._number = free, remainder, number
        self._param: dict[sympy.Symbol, object] = {}
        self._memo: dict[sympy.Basic, object] = {}

    def of(self, v: sympy.Symbol):
        """``v`` (a name or a symbol of the network) in the parameters (None: not one);
        down a chain of pivots without recursion (a chain is as long as the network)."""
        if v in self._param:
            return self._param[v]
        if v not in self._proof._t:
            return None
        pivot = self._proof._pivot
        chain = [v]
        while chain[-1] in pivot and pivot[chain[-1]] not in self._param:
            chain.append(pivot[chain[-1]])
        for u in reversed(chain):
            self._param[u] = self._one(u)
        return self._param[v]

    def _one(self, v: sympy.Symbol):
        """``v`` in the parameters, its pivot (if any) done."""
        proof = self._proof
        if v in proof._pivot:
            child = proof._pivot[v]
            c, q, beta, inverse_alpha, remainder = proof._inverse[child]
            r = self._remainder(child) if remainder else 0
            return ((self._param[child] - c) * q + r - beta) * inverse_alpha
        if v in proof._defs and not proof._defs[v].has(FloorDiv) and \
                proof._pivot.get(proof._parent.get(v)) != v:
            out = self.value(proof._defs[v])
            return self._free(v) if out is None else out
        return self._free(v)

    def value(self, expr):
        """``expr`` in this arithmetic, or None (a floor no name explains, a maximum)."""
        if expr in self._memo:
            return self._memo[expr]
        if expr.is_Rational:
            out = self._number(rational(int(expr.p), int(expr.q)))
        elif expr.is_Symbol:
            out = self.of(expr)
        elif isinstance(expr, FloorDiv) and expr in self._proof._floors:
            n, c = self._proof._floors[expr]
            out = self.of(n) - c
        elif expr.is_Add or expr.is_Mul:
            parts = [self.value(a) for a in expr.args]
            out = None if any(x is None for x in parts) else \
                (_total(parts, self._number(0)) if expr.is_Add else _product(parts, self._number(1)))
        elif expr.is_Pow and expr.exp.is_Integer and expr.exp >= 0:
            base = self.value(expr.base)
            out = None if base is None else base ** int(expr.exp)
        else:
            out = None
        self._memo[expr] = out
        return out


def _covers(fx: list[Poly], fy: list[Poly]) -> bool:
    """Whether each of ``fy`` is dominated by its own one of ``fx``, the rest of ``fx`` at
    least 1 (all with nonnegative coefficients)."""
    if len(fy) > len(fx):
        return False
    for chosen in itertools.permutations(range(len(fx)), len(fy)):
        if all(fx[i].dominates(g) for i, g in zip(chosen, fy)) and \
                all(fx[i].terms.get(0, 0) >= 1 for i in set(range(len(fx))) - set(chosen)):
            return True
    return False


def _total(parts, zero):
    out = zero
    for x in parts:
        out = out + x
    return out


def _product(parts, one):
    out = one
    for x in parts:
        out = out * x
    return out


def undominated(args: Sequence[sympy.Expr], proof: Parameters) -> list[int]:
    """The positions of the arguments of a maximum that no other argument is proved to
    dominate, in their order (all of them when there are more than :data:`MAX_ARGUMENTS`)."""
    if len(args) > MAX_ARGUMENTS:
        return list(range(len(args)))
    first = {}
    for i, a in enumerate(args):
        first.setdefault(a, i)
    samples = {i: proof.sample(args[i]) for i in first.values()}
    order = sorted(first.values(), key=lambda i: (samples[i] is None, -(samples[i] or 0), i))
    kept: list[int] = []
    for i in order:
        if not any(proof.at_least(args[j], args[i]) for j in kept):
            kept.append(i)
    # ties: a kept argument that a later kept one dominates (and not the other way)
    kept = [i for i in kept if not any(j != i and proof.at_least(args[j], args[i])
                                       and not proof.at_least(args[i], args[j]) for j in kept)]
    return sorted(kept)


def reduce_max(expr, proof: Parameters) -> sympy.Expr:
    """``expr`` with every maximum cut to the arguments that can be the largest
    (:func:`undominated`); one left, the maximum is that argument.  As
    ``expr.replace(Max, cut)`` would, bottom-up, but a maximum with nothing to cut is kept as
    it was (sympy would sort its arguments again: thousands of moments for a deep network)."""
    expr = sympy.sympify(expr)
    if not expr.has(sympy.Max):
        return expr
    return _reduce(expr, proof, {})[0]


def _reduce(e: sympy.Basic, proof: Parameters, done: dict) -> tuple[sympy.Basic, bool]:
    """``e`` with its maxima cut, and whether ``e`` held one; ``done`` by ``id`` (every key a
    part of the expression being cut, so alive): a shared subexpression (the moments of a
    simulated step share most of their terms) is walked once."""
    key = id(e)
    if key not in done:
        done[key] = _walk(e, proof, done)
    return done[key]


def _walk(e: sympy.Basic, proof: Parameters, done: dict) -> tuple[sympy.Basic, bool]:
    """As ``replace`` walks: the arguments first, then the node (one without a maximum
    below it is returned as it is)."""
    if not e.args:
        return e, False
    pairs = [_reduce(a, proof, done) for a in e.args]
    inner = any(held for _, held in pairs)
    if inner:
        args = tuple(a for a, _ in pairs)
        if args != e.args:
            new = e.func(*args)
            if any(new == a and a != n for a, n in zip(e.args, args)):
                return new, True  # replace's rule: a rebuilt node equal to a changed argument
            e = new
    if isinstance(e, sympy.Max):
        return _cut(e, proof, inner), True
    return e, inner


def _cut(m: sympy.Max, proof: Parameters, inner: bool) -> sympy.Basic:
    """A maximum cut to its undominated arguments (``inner``: its arguments held maxima)."""
    args = [reduce_max(a, proof) for a in m.args] if inner else list(m.args)
    positions = undominated(args, proof)
    if not inner and len(positions) == len(args):
        return m
    kept = [args[i] for i in positions]
    cut = kept[0] if len(kept) == 1 else sympy.Max(*kept, evaluate=False)
    return m if cut == m else cut

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

from collections.abc import Sequence

import sympy
from sympy.polys.domains import QQ
from sympy.polys.rings import ring

from symcnn.intdiv import FloorDiv
from symcnn.symbols import b as BATCH

#: A maximum with more arguments than this is left as it is (pairwise proofs cost n^2).
MAX_ARGUMENTS = 200


class Parameters:
    """The valid sizes of a network as polynomials in nonnegative parameters (see the module);
    ``symbols`` the network's own (the batch ``b`` is one too)."""

    def __init__(self, named, symbols=()) -> None:
        names = named.names if named is not None else ()
        self._defs = {n.symbol: n.definition for n in names}
        self._values = {n.symbol: n.value for n in names}
        self._parent: dict[sympy.Symbol, sympy.Symbol] = {}
        for n in names:
            free = n.definition.free_symbols
            if len(free) == 1:
                self._parent[n.symbol] = next(iter(free))
        variables = list(dict.fromkeys([*self._defs, *sorted(symbols, key=str), BATCH,
                                        *self._parent.values()]))
        # one parameter t_v >= 0 per size (v = 1 + t_v where it is free), one remainder r_v >= 0
        # per floor; polynomials in a sympy ring (fast exact arithmetic over the rationals)
        self._ring, *gens = ring([f"t{i}" for i in range(len(variables))]
                                 + [f"r{i}" for i in range(len(self._defs))], QQ)
        self._t = dict(zip(variables, gens))
        self._r = dict(zip(self._defs, gens[len(variables):]))
        self._inverse = {n: inv for n in self._parent if (inv := self._invert(n)) is not None}
        self._pivot: dict[sympy.Symbol, sympy.Symbol] = {}
        for n in reversed(list(self._parent)):  # the deepest chain first
            if n in self._inverse:
                p = self._parent[n]
                if p not in self._pivot or self._depth(n) > self._depth(self._pivot[p]):
                    self._pivot[p] = n
        self._param: dict[sympy.Symbol, object] = {}
        self._floors: dict[sympy.Basic, sympy.Symbol] = {}
        for n, value in self._values.items():
            floors = [f for f in sympy.preorder_traversal(value) if isinstance(f, FloorDiv)]
            if len(floors) == 1 and (value - floors[0]).is_Integer:
                self._floors[floors[0]] = (n, value - floors[0])
        self._memo: dict[sympy.Basic, object] = {}

    def _depth(self, v) -> int:
        kids = [k for k, p in self._parent.items() if p == v and k in self._inverse]
        return 1 + max((self._depth(k) for k in kids), default=0)

    def _invert(self, n: sympy.Symbol):
        """``parent`` in terms of ``n`` and a remainder ``r_n >= 0``, where ``n``'s definition
        is ``alpha parent + beta`` or ``floor((alpha parent + beta)/q) + c`` (``alpha > 0``)."""
        d, p = self._defs[n], self._parent[n]
        floors = [f for f in sympy.preorder_traversal(d) if isinstance(f, FloorDiv)]
        if not floors:
            inner, q, c, r = d, 1, 0, self._ring.zero
        elif len(floors) == 1 and (d - floors[0]).is_Integer and floors[0].args[1].is_Integer:
            (inner, q), c = floors[0].args, d - floors[0]
            r = self._r[n]
        else:
            return None
        if not inner.is_polynomial(p):
            return None
        poly = sympy.Poly(inner, p)
        if poly.degree() != 1 or not poly.LC() > 0:
            return None
        alpha, beta = (QQ(int(x.p), int(x.q)) for x in poly.all_coeffs())
        return lambda value: ((value - int(c)) * int(q) + r - beta) * (1 / alpha)

    def of(self, v: sympy.Symbol):
        """``v`` (a name or a symbol of the network) in the parameters (None: not one)."""
        if v in self._param:
            return self._param[v]
        if v not in self._t:
            return None
        if v in self._pivot:
            out = self._inverse[self._pivot[v]](self.of(self._pivot[v]))
        elif v in self._defs and not self._defs[v].has(FloorDiv) and \
                self._pivot.get(self._parent.get(v)) != v:
            out = self._ring_of(self._defs[v])
            out = self._ring.one + self._t[v] if out is None else out
        else:
            out = self._ring.one + self._t[v]
        self._param[v] = out
        return out

    def _ring_of(self, expr):
        """``expr`` evaluated in the ring, or None (a floor no name explains, a maximum)."""
        if expr in self._memo:
            return self._memo[expr]
        if expr.is_Rational:
            out = self._ring(QQ(int(expr.p), int(expr.q)))
        elif expr.is_Symbol:
            out = self.of(expr)
        elif isinstance(expr, FloorDiv) and expr in self._floors:
            n, c = self._floors[expr]
            out = self.of(n) - int(c)
        elif expr.is_Add or expr.is_Mul:
            parts = [self._ring_of(a) for a in expr.args]
            out = None if any(x is None for x in parts) else \
                (sum(parts, self._ring.zero) if expr.is_Add else _product(parts, self._ring.one))
        elif expr.is_Pow and expr.exp.is_Integer and expr.exp >= 0:
            base = self._ring_of(expr.base)
            out = None if base is None else base ** int(expr.exp)
        else:
            out = None
        self._memo[expr] = out
        return out

    def express(self, expr):
        """``expr`` (in names or the network's symbols) as a polynomial in the parameters,
        or None where a floor or maximum is left."""
        return self._ring_of(sympy.sympify(expr))

    def at_least(self, x, y) -> bool:
        """Whether ``x >= y`` for every valid size (proved; False: not proved)."""
        px, py = self.express(x), self.express(y)
        if px is None or py is None:
            return False
        return all(c >= 0 for c in (px - py).values())

    def sample(self, expr):
        """``expr`` at one valid choice of sizes (every ``t`` 3, remainders 0): an order in
        which to try the proofs, never a proof."""
        p = self.express(expr)
        if p is None:
            return None
        nt = len(self._t)
        return sum(c * 3 ** sum(m[:nt]) for m, c in p.items() if not any(m[nt:]))


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
    (:func:`undominated`); one left, the maximum is that argument."""
    expr = sympy.sympify(expr)
    if not expr.has(sympy.Max):
        return expr

    def cut(m):
        args = [reduce_max(a, proof) for a in m.args]
        kept = [args[i] for i in undominated(args, proof)]
        return kept[0] if len(kept) == 1 else sympy.Max(*kept, evaluate=False)

    return expr.replace(lambda e: isinstance(e, sympy.Max), cut)

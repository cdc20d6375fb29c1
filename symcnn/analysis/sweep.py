"""A closed form evaluated at many values of its symbols at once (``--sizes H=1:1000000``,
``symcnn sweep``, ``symcnn solve``).

Substituting each value into each size with sympy costs milliseconds per value; a range
of a million values took minutes on a three-layer network.  Here each expression is walked
once per chunk of values, every node computing its values for the whole chunk as a Python
list (whole numbers stay ``int``, fractions ``Fraction``; no floats, so no rounding), which
is exact and fast.  A node of a kind not listed falls back to sympy, value by value.

>>> from symcnn.symbols import size
>>> from symcnn.intdiv import FloorDiv
>>> H = size("H")
>>> evaluate_many(FloorDiv(H - 3, 2) + 1, H, range(3, 8))
[1, 1, 2, 2, 3]
>>> W = size("W")
>>> evaluate_grid([H * W, FloorDiv(H, W)], {H: [4, 5, 6], W: [1, 2, 4]})
[[4, 10, 24], [4, 2, 1]]
"""

from __future__ import annotations

import math
from fractions import Fraction

import sympy

from symcnn.intdiv import FloorDiv

#: Values evaluated together (bounds the memory of the intermediate lists).
CHUNK = 1 << 16


def _floor(x) -> int:
    return x if type(x) is int else math.floor(x)


def _number(x):
    """A Fraction that is whole as an int (exact comparisons, cheaper arithmetic)."""
    return int(x) if isinstance(x, Fraction) and x.denominator == 1 else x


def _power(base: list, exp: int) -> list:
    if exp >= 0:
        return [b ** exp for b in base]
    return [_number(Fraction(1) / b ** -exp) for b in base]


def _relation(op, lhs: list, rhs: list) -> list:
    return [op(a, b) for a, b in zip(lhs, rhs)]


_RELATIONS = {sympy.Eq: lambda a, b: a == b, sympy.Ne: lambda a, b: a != b,
              sympy.Ge: lambda a, b: a >= b, sympy.Gt: lambda a, b: a > b,
              sympy.Le: lambda a, b: a <= b, sympy.Lt: lambda a, b: a < b}


def _piecewise(expr, ev, n: int) -> list:
    out: list = [None] * n
    for value, cond in expr.args:
        holds = [True] * n if cond == sympy.true else ev(cond)
        values = ev(value)
        out = [v if o is None and h else o for o, v, h in zip(out, values, holds)]
    return out


def _evaluator(bound: dict, n: int, fixed: dict):
    """A function from an expression to its values at ``n`` points (lists), the i-th point
    giving each symbol of ``bound`` its i-th value and those of ``fixed`` theirs.

    On a grid of several symbols, an expression in fewer of them (a size in ``H`` alone) is
    evaluated once per distinct value of those and spread to the points."""
    cache: dict = {}
    needs: dict = {}
    narrow: dict = {}

    def symbols_of(expr) -> frozenset:
        if expr not in needs:
            if expr in bound:
                needs[expr] = frozenset((expr,))
            elif expr.is_Symbol and expr in fixed:
                needs[expr] = symbols_of(sympy.sympify(fixed[expr]))
            else:
                needs[expr] = frozenset().union(*map(symbols_of, expr.args))
        return needs[expr]

    def spread(expr, symbols: frozenset):
        """``expr`` at the distinct values of ``symbols`` (None when not fewer)."""
        if symbols not in narrow:
            order = sorted(symbols, key=str)
            keys = list(zip(*(bound[x] for x in order)))
            distinct = list(dict.fromkeys(keys))
            if 2 * len(distinct) > n:
                narrow[symbols] = None
            else:
                where = {k: i for i, k in enumerate(distinct)}
                sub = _evaluator({x: [k[j] for k in distinct] for j, x in enumerate(order)},
                                 len(distinct), fixed)
                narrow[symbols] = (sub, [where[k] for k in keys])
        if narrow[symbols] is None:
            return None
        sub, positions = narrow[symbols]
        values = sub(expr)
        return [values[i] for i in positions]

    def ev(expr) -> list:
        if expr in cache:
            return cache[expr]
        out = None
        if len(bound) > 1 and not expr.is_Atom:
            symbols = symbols_of(expr)
            if len(symbols) < len(bound):
                out = spread(expr, symbols) if symbols else None
        if out is None:
            out = _node(expr, ev, bound, n, fixed)
        cache[expr] = out
        return out

    return ev


def _whole(values: list) -> list:
    """Fractions that are whole as ints (a cheap check when all are ints already)."""
    return values if set(map(type, values)) <= {int} else [_number(x) for x in values]


def _sum(parts: list[list]) -> list:
    out = parts[0]
    for p in parts[1:]:
        out = [a + b for a, b in zip(out, p)]
    return _whole(out)


def _product(parts: list[list]) -> list:
    out = parts[0]
    for p in parts[1:]:
        out = [a * b for a, b in zip(out, p)]
    return _whole(out)


def _node(expr, ev, bound: dict, n: int, fixed: dict) -> list:
    """One node's values from its arguments' (``ev``)."""
    if expr in bound:
        return bound[expr]
    if expr.is_Integer:
        return [int(expr)] * n
    if expr.is_Rational:
        return [Fraction(int(expr.p), int(expr.q))] * n
    if expr in (sympy.true, sympy.false):
        return [bool(expr)] * n
    if expr.is_Symbol and expr in fixed:
        return ev(sympy.sympify(fixed[expr]))
    if expr.is_Add:
        return _sum([ev(a) for a in expr.args])
    if expr.is_Mul:
        return _product([ev(a) for a in expr.args])
    if expr.is_Pow and expr.exp.is_Integer:
        return _power(ev(expr.base), int(expr.exp))
    if isinstance(expr, FloorDiv):
        p, q = (ev(a) for a in expr.args)
        return [a // b if type(a) is int and type(b) is int else _floor(Fraction(a) / b)
                for a, b in zip(p, q)]
    if isinstance(expr, sympy.floor):
        return [_floor(x) for x in ev(expr.args[0])]
    if isinstance(expr, sympy.ceiling):
        return [-_floor(-x) for x in ev(expr.args[0])]
    if isinstance(expr, (sympy.Max, sympy.Min)):
        pick = max if isinstance(expr, sympy.Max) else min
        return [pick(xs) for xs in zip(*(ev(a) for a in expr.args))]
    if isinstance(expr, sympy.Piecewise):
        return _piecewise(expr, ev, n)
    if type(expr) in _RELATIONS:
        return _relation(_RELATIONS[type(expr)], ev(expr.lhs), ev(expr.rhs))
    # anything else: sympy, one value at a time
    return [_sympy_value(expr.subs({**fixed, **point})) for point in _points(bound, n)]


def _points(bound: dict, n: int):
    """The points as dicts (for the few nodes sympy evaluates itself)."""
    return ({symbol: values[i] for symbol, values in bound.items()} for i in range(n))


def _sympy_value(value):
    if value in (sympy.true, sympy.false):
        return bool(value)
    return int(value) if value.is_Integer else Fraction(int(value.p), int(value.q))


def evaluate_many(expr: sympy.Basic, symbol: sympy.Symbol, values, fixed=None) -> list:
    """``expr`` (a size or a relation) at each of ``values`` of ``symbol``, exactly, with
    ``fixed`` giving the other symbols values."""
    values = [int(v) for v in values]
    out: list = []
    for start in range(0, len(values), CHUNK):
        chunk = values[start:start + CHUNK]
        out += _evaluator({symbol: chunk}, len(chunk), dict(fixed or {}))(expr)
    return out


def evaluate_grid(exprs, columns: dict, fixed=None) -> list[list]:
    """Each of ``exprs`` at each point of ``columns`` (a symbol to its values, one per
    point, all of the same length), exactly; ``fixed`` gives other symbols values.
    Subexpressions the expressions share are evaluated once."""
    n = len(next(iter(columns.values()), ()))
    bound = {s: [int(v) for v in values] for s, values in columns.items()}
    if any(len(v) != n for v in bound.values()):
        raise ValueError("every symbol needs one value per point")
    outs: list[list] = [[] for _ in exprs]
    for start in range(0, n, CHUNK):
        ev = _evaluator({s: v[start:start + CHUNK] for s, v in bound.items()},
                        min(CHUNK, n - start), dict(fixed or {}))
        for out, expr in zip(outs, exprs):
            out += ev(expr)
    return outs


def hold_grid(sizes, relations, columns: dict, fixed=None) -> list[bool]:
    """At each point of ``columns`` (as :func:`evaluate_grid`): whether every size is at
    least 1 and every relation holds."""
    n = len(next(iter(columns.values()), ()))
    values = evaluate_grid([*sizes, *relations], columns, fixed)
    ok = [True] * n
    for s in values[:len(sizes)]:
        ok = [o and x >= 1 for o, x in zip(ok, s)]
    for r in values[len(sizes):]:
        ok = [o and bool(x) for o, x in zip(ok, r)]
    return ok


def all_hold(sizes, relations, symbol: sympy.Symbol, values, fixed=None) -> list[int]:
    """The values of ``symbol`` at which every size is at least 1 and every relation holds."""
    values = [int(v) for v in values]
    out: list[int] = []
    for start in range(0, len(values), CHUNK):
        chunk = values[start:start + CHUNK]
        ok = hold_grid(sizes, relations, {symbol: chunk}, fixed)
        out += [v for v, o in zip(chunk, ok) if o]
    return out

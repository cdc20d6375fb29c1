"""Parse size expressions without evaluating Python.

Spec values such as ``"2*C"`` or ``"floor(D/2)"`` are user text.  ``sympify`` and
``parse_expr`` run ``eval`` on their input, so they never see it; this module reads a
small grammar itself and builds the sympy expression directly:

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/") unary)*
    unary  := ("+" | "-") unary | power
    power  := atom ("**" unary)?
    atom   := INTEGER | DECIMAL | NAME | FUNC "(" expr ("," expr)* ")" | "(" expr ")"

with ``FUNC`` one of ``floor``, ``ceil``, ``min``, ``max``.  Every name is a
positive-integer symbol.  Results are bounded, not operators (:mod:`symcnn.limits`): every
value met while reading has fewer than 40 digits, a symbolic one at most degree 64, and
nesting is at most 50 deep, so ``2**2**2**2**2`` or a thousand parentheses fail in one line.

:func:`read_expression` (public as ``symcnn.parse_expression``) reads back every symbolic
value symcnn writes, in its text and JSON output: the same grammar with sympy's printed
names added (``Max``, ``Min``, ``ceiling``, ``Piecewise((e, cond), ...)``, ``Eq``, ``Ne``,
comparisons, ``True``).  Every other name is a positive-integer symbol, including names
that ``sympy.sympify`` would take for constants (``E``, ``I``, ``S``, ``N``, ``pi``, ``oo``).

>>> parse_expression("2*C + 1")
2*C + 1
>>> parse_expression("floor(D/4)")
floor(D/4)
>>> parse_expression("__import__('os')")
Traceback (most recent call last):
...
symcnn.errors.SymcnnError: unexpected character "_" at position 0 in "__import__('os')"
>>> read_expression("Max(E, 2*I) + ceiling(pi/2)").free_symbols == {size("E"), size("I"), size("pi")}
True
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

import sympy

from symcnn.errors import SymcnnError
from symcnn.intdiv import FloorDiv, ceil_div
from symcnn.limits import (
    MAX_DEGREE,
    MAX_DIGITS,
    MAX_EXPONENT,
    MAX_EXPRESSION_DEPTH,
    MAX_EXPRESSION_LENGTH,
    MAX_TERMS,
)
from symcnn.symbols import size

MAX_LENGTH = MAX_EXPRESSION_LENGTH
#: The bounds for reading symcnn's own output (long formulas, byte counts of huge sizes):
#: length, digits and degree, still far from what would hang.
WRITTEN_LIMITS = (200_000, 1_000, 1_000)

_TOKEN = re.compile(r"\s*(?:(\d+\.\d*|\.\d+|\d+)|([A-Za-z][A-Za-z0-9_]*)"
                    r"|(\*\*|>=|<=|==|!=|[-+*/(),<>]))")


def _floor(x: sympy.Expr) -> sympy.Expr:
    num, den = sympy.fraction(sympy.together(x))
    return FloorDiv(num, den) if den != 1 else x


def _ceil(x: sympy.Expr) -> sympy.Expr:
    num, den = sympy.fraction(sympy.together(x))
    return ceil_div(num, den) if den != 1 else x


_FUNCTIONS = {"floor": _floor, "ceil": _ceil,
              "min": lambda *a: sympy.Min(*a), "max": lambda *a: sympy.Max(*a)}
#: What sympy's printer writes besides the spec's functions (the reader's extra names).
_WRITTEN = {**_FUNCTIONS, "ceiling": lambda x: sympy.ceiling(x),
            "Max": _FUNCTIONS["max"], "Min": _FUNCTIONS["min"],
            "Eq": lambda a, b: sympy.Eq(a, b), "Ne": lambda a, b: sympy.Ne(a, b)}
_ONE_ARGUMENT = {"floor", "ceil", "ceiling"}
_RELATIONS = {">=": sympy.Ge, "<=": sympy.Le, ">": sympy.Gt, "<": sympy.Lt,
              "==": sympy.Eq, "!=": sympy.Ne}


def _shown(text: str, width: int = 80) -> str:
    """``text`` for an error message: long expressions shortened, so the line stays short."""
    return text if len(text) <= width else text[:width - 3] + "..."


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            char = text[pos:].lstrip()[0]
            hint = " (use ** for powers)" if char == "^" else ""
            raise SymcnnError(f'unexpected character "{char}" at position '
                              f'{len(text) - len(text[pos:].lstrip())} in "{_shown(text)}"{hint}')
        out.append(m.group(m.lastindex))
        pos = m.end()
    return out


def degree(expr: sympy.Basic) -> int:
    """The total degree of ``expr`` in its symbols, counting every function's arguments
    as a polynomial's terms (``floor(C**2/D)`` has degree 2); a bound on how large
    a value can become once numbers are put in.

    >>> degree(size("C")**3 * (size("D") + 1)**2)
    5
    """
    if expr.is_Symbol:
        return 1
    if expr.is_Atom:
        return 0
    if expr.is_Mul:
        return sum(degree(a) for a in expr.args)
    if expr.is_Pow:
        base, exp = expr.args
        return abs(int(exp)) * degree(base) if exp.is_Integer else degree(base) + degree(exp)
    return max((degree(a) for a in expr.args), default=0)


def expanded_terms(expr: sympy.Basic, most: int = MAX_TERMS) -> int:
    """A bound on the number of terms of ``expr`` multiplied out (a floor or a maximum is
    one term), counted up to ``most + 1``: a value whose expansion would take sympy long.

    >>> expanded_terms((size("C") + size("D"))**3), expanded_terms(size("C")**64 + 1)
    (4, 2)
    """
    if expr.is_Add:
        return min(most + 1, sum(expanded_terms(a, most) for a in expr.args))
    if expr.is_Mul:
        out = 1
        for a in expr.args:
            out = min(most + 1, out * expanded_terms(a, most))
        return out
    if expr.is_Pow and expr.exp.is_Integer and expr.exp > 1:
        terms = expanded_terms(expr.base, most)
        # the monomials of degree n in t terms: C(n + t - 1, t - 1)
        return min(most + 1, math.comb(int(expr.exp) + terms - 1, terms - 1))
    return 1


class _Parser:
    def __init__(self, text: str, functions: dict, written: bool) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0
        self.functions = functions
        self.written = written
        _, self.max_digits, self.max_degree = WRITTEN_LIMITS if written else \
            (MAX_LENGTH, MAX_DIGITS, MAX_DEGREE)

    def fail(self, what: str) -> SymcnnError:
        return SymcnnError(f'{what} in "{_shown(self.text)}"')

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise self.fail(f"expected {expected!r}" if expected else "unexpected end")
        self.i += 1
        return tok

    def enter(self) -> None:
        """One level deeper (a parenthesis, a sign, a power): bounded far below the
        interpreter's recursion limit."""
        self.depth += 1
        if self.depth > MAX_EXPRESSION_DEPTH:
            raise self.fail(f"nested more than {MAX_EXPRESSION_DEPTH} deep")

    def bounded(self, value: sympy.Expr) -> sympy.Expr:
        """``value`` when its numbers and degree are within the limits."""
        numbers = [value] if value.is_Number else value.atoms(sympy.Rational)
        bound = 10**self.max_digits
        for x in numbers:
            if abs(x.p) >= bound or x.q >= bound:
                raise self.fail(f"a value of more than {self.max_digits} digits")
        if not value.is_Number and degree(value) > self.max_degree:
            raise self.fail(f"a value of degree more than {self.max_degree}")
        if not self.written and not value.is_Number and expanded_terms(value) > MAX_TERMS:
            raise self.fail(f"a value of more than {MAX_TERMS:,} terms once multiplied out")
        return value

    def parse(self) -> sympy.Expr:
        value = self.expr()
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek()!r}")
        return value

    def expr(self) -> sympy.Expr:
        terms = [self.term()]
        while self.peek() in ("+", "-"):
            sign = self.take()
            t = self.term()
            terms.append(t if sign == "+" else -t)
        return terms[0] if len(terms) == 1 else self.bounded(sympy.Add(*terms))

    def term(self) -> sympy.Expr:
        value = self.unary()
        while self.peek() in ("*", "/"):
            op = self.take()
            rhs = self.unary()
            if op == "/" and rhs == 0:
                raise self.fail("division by zero")
            value = self.bounded(value * rhs if op == "*" else value / rhs)
        return value

    def unary(self) -> sympy.Expr:
        if self.peek() in ("+", "-"):
            sign = self.take()
            self.enter()
            v = self.unary()
            self.depth -= 1
            return v if sign == "+" else -v
        return self.power()

    def power(self) -> sympy.Expr:
        base = self.atom()
        if self.peek() == "**":
            self.take()
            self.enter()
            exp = self.unary()
            self.depth -= 1
            if not exp.is_Integer or not (0 <= int(exp) <= MAX_EXPONENT
                                          or self.written and -MAX_EXPONENT <= int(exp) < 0):
                raise self.fail(f"exponent must be a whole number from 0 to {MAX_EXPONENT}")
            return self.bounded(base ** exp)
        return base

    def atom(self) -> sympy.Expr:
        tok = self.take()
        if tok[0].isdigit() or tok[0] == ".":
            return self.bounded(sympy.Rational(Fraction(tok)) if "." in tok
                                else sympy.Integer(int(tok)))
        if tok == "(":
            self.enter()
            v = self.expr()
            self.take(")")
            self.depth -= 1
            return v
        if tok[0].isalpha():
            if self.peek() == "(":
                return self.call(tok)
            if tok in self.functions and not self.written:
                raise self.fail(f"{tok} must be called, as {tok}(...)")
            return size(tok)
        raise self.fail(f"unexpected {tok!r}")

    def call(self, name: str) -> sympy.Basic:
        if self.written and name == "Piecewise":
            return self.piecewise()
        if name not in self.functions:
            raise self.fail(f"unknown function {name!r} (allowed: {', '.join(self.functions)})")
        self.take("(")
        self.enter()
        args = [self.expr()]
        while self.peek() == ",":
            self.take()
            args.append(self.expr())
        self.take(")")
        self.depth -= 1
        if name in _ONE_ARGUMENT and len(args) != 1:
            raise self.fail(f"{name} takes one argument")
        if name in ("Eq", "Ne") and len(args) != 2:
            raise self.fail(f"{name} takes two arguments")
        return self.bounded(self.functions[name](*args))

    def piecewise(self) -> sympy.Basic:
        """``Piecewise((value, condition), ..., (value, True))`` as sympy prints it."""
        self.take("(")
        self.enter()
        pieces = []
        while True:
            self.take("(")
            value = self.expr()
            self.take(",")
            pieces.append((value, self.condition()))
            self.take(")")
            if self.peek() != ",":
                break
            self.take()
        self.take(")")
        self.depth -= 1
        return sympy.Piecewise(*pieces)

    def condition(self) -> sympy.Basic:
        if self.peek() in ("True", "False"):
            return sympy.true if self.take() == "True" else sympy.false
        lhs = self.expr()
        if self.peek() not in _RELATIONS:
            return lhs
        op = self.take()
        return _RELATIONS[op](lhs, self.expr())


def _read(text: str, functions: dict, written: bool) -> sympy.Basic:
    if not isinstance(text, str):
        raise SymcnnError(f"expected an expression string, got {type(text).__name__}")
    longest = WRITTEN_LIMITS[0] if written else MAX_LENGTH
    if len(text) > longest:
        raise SymcnnError(f"expression longer than {longest} characters")
    if not text.strip():
        raise SymcnnError("empty expression")
    parser = _Parser(text, functions, written)
    value = parser.condition() if written else parser.expr()
    if parser.peek() is not None:
        raise parser.fail(f"unexpected {parser.peek()!r}")
    return value


def parse_expression(text: str) -> sympy.Expr:
    """Read a size expression of a spec: integers, decimals, names, ``+ - * / **``,
    parentheses, ``floor``, ``ceil``, ``min``, ``max``.  Raises :class:`SymcnnError` on
    anything else, and on values beyond :mod:`symcnn.limits`."""
    return _read(text, _FUNCTIONS, written=False)


def read_expression(text: str) -> sympy.Basic:
    """Read back a symbolic value that symcnn wrote (a string of its JSON or text output:
    a total, a formula, a condition such as ``Eq(H, 2*floor(H/2))``), without ``eval``.

    Every name is a positive-integer symbol of :func:`symcnn.symbols.size`, so the result
    equals what symcnn computed; ``sympy.sympify`` would read ``E``, ``I``, ``S``, ``N``,
    ``Q``, ``pi``, ``oo``, ``beta`` or ``lambda`` as constants or functions instead.
    Public as ``symcnn.parse_expression``.

    >>> read_expression("2*E*(S + 1) + floor(N/2)")
    2*E*(S + 1) + floor(N/2)
    """
    return _read(text, _WRITTEN, written=True)

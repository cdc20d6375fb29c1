"""Parse size expressions from spec files without evaluating Python.

Spec values such as ``"2*C"`` or ``"floor(D/2)"`` are user text.  ``sympify`` and
``parse_expr`` run ``eval`` on their input, so they never see it; this module reads a
small grammar itself and builds the sympy expression directly:

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/") unary)*
    unary  := ("+" | "-") unary | power
    power  := atom ("**" unary)?
    atom   := INTEGER | DECIMAL | NAME | FUNC "(" expr ("," expr)* ")" | "(" expr ")"

with ``FUNC`` one of ``floor``, ``ceil``, ``min``, ``max``.  Every name is a
positive-integer symbol.

>>> parse_expression("2*C + 1")
2*C + 1
>>> parse_expression("floor(D/4)")
floor(D/4)
>>> parse_expression("__import__('os')")
Traceback (most recent call last):
...
symcnn.errors.SymcnnError: unexpected character "_" at position 0 in "__import__('os')"
"""

from __future__ import annotations

import re
from fractions import Fraction

import sympy

from symcnn.errors import SymcnnError
from symcnn.intdiv import FloorDiv, ceil_div
from symcnn.symbols import size

MAX_LENGTH = 500
MAX_EXPONENT = 64

_TOKEN = re.compile(r"\s*(?:(\d+\.\d*|\.\d+|\d+)|([A-Za-z][A-Za-z0-9_]*)|(\*\*|[-+*/(),]))")


def _floor(x: sympy.Expr) -> sympy.Expr:
    num, den = sympy.fraction(sympy.together(x))
    return FloorDiv(num, den) if den != 1 else x


def _ceil(x: sympy.Expr) -> sympy.Expr:
    num, den = sympy.fraction(sympy.together(x))
    return ceil_div(num, den) if den != 1 else x


_FUNCTIONS = {"floor": _floor, "ceil": _ceil,
              "min": lambda *a: sympy.Min(*a), "max": lambda *a: sympy.Max(*a)}


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
                              f'{len(text) - len(text[pos:].lstrip())} in "{text}"{hint}')
        out.append(m.group(m.lastindex))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def fail(self, what: str) -> SymcnnError:
        return SymcnnError(f'{what} in "{self.text}"')

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise self.fail(f"expected {expected!r}" if expected else "unexpected end")
        self.i += 1
        return tok

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
        return sympy.Add(*terms)

    def term(self) -> sympy.Expr:
        value = self.unary()
        while self.peek() in ("*", "/"):
            op = self.take()
            rhs = self.unary()
            if op == "/" and rhs == 0:
                raise self.fail("division by zero")
            value = value * rhs if op == "*" else value / rhs
        return value

    def unary(self) -> sympy.Expr:
        if self.peek() in ("+", "-"):
            sign = self.take()
            v = self.unary()
            return v if sign == "+" else -v
        return self.power()

    def power(self) -> sympy.Expr:
        base = self.atom()
        if self.peek() == "**":
            self.take()
            exp = self.unary()
            if not exp.is_Integer or not 0 <= int(exp) <= MAX_EXPONENT:
                raise self.fail(f"exponent must be a whole number from 0 to {MAX_EXPONENT}")
            return base ** exp
        return base

    def atom(self) -> sympy.Expr:
        tok = self.take()
        if tok[0].isdigit() or tok[0] == ".":
            return sympy.Rational(Fraction(tok)) if "." in tok else sympy.Integer(int(tok))
        if tok == "(":
            v = self.expr()
            self.take(")")
            return v
        if tok[0].isalpha():
            if self.peek() == "(":
                if tok not in _FUNCTIONS:
                    raise self.fail(f"unknown function {tok!r} (allowed: {', '.join(_FUNCTIONS)})")
                self.take("(")
                args = [self.expr()]
                while self.peek() == ",":
                    self.take()
                    args.append(self.expr())
                self.take(")")
                if tok in ("floor", "ceil") and len(args) != 1:
                    raise self.fail(f"{tok} takes one argument")
                return _FUNCTIONS[tok](*args)
            if tok in _FUNCTIONS:
                raise self.fail(f"{tok} must be called, as {tok}(...)")
            return size(tok)
        raise self.fail(f"unexpected {tok!r}")


def parse_expression(text: str) -> sympy.Expr:
    """Read a size expression: integers, decimals, names, ``+ - * / **``, parentheses,
    ``floor``, ``ceil``, ``min``, ``max``.  Raises :class:`SymcnnError` on anything else."""
    if len(text) > MAX_LENGTH:
        raise SymcnnError(f"expression longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise SymcnnError("empty expression")
    return _Parser(text).parse()

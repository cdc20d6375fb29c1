"""LaTeX for formulas and prose: sympy's printer with digit grouping, and an escaper.

Presentation only: these functions format what the analysis derived.

>>> from sympy import Integer, evaluate
>>> with evaluate(False):
...     e = (Integer(27) * Integer(30) + Integer(1)) * Integer(30)
>>> math(e)
'\\\\left(27 \\\\times 30 + 1\\\\right) \\\\times 30'
>>> math(Integer(3301651))
'3{,}301{,}651'
>>> escape_latex("conv_1 & 50%")
'conv\\\\_1 \\\\& 50\\\\%'
"""

from __future__ import annotations

import re

import sympy
from sympy.printing.latex import LatexPrinter

from .intdiv import FloorDiv

_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
            "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
            "^": r"\textasciicircum{}"}
_ESCAPE_RE = re.compile("|".join(re.escape(c) for c in _ESCAPES))


class TeX(str):
    """A string that is already LaTeX, so it is not escaped again."""


def escape_latex(text) -> TeX:
    """Prose made safe for LaTeX: ``& % $ # _ { } ~ ^ \\`` are escaped."""
    if isinstance(text, TeX):
        return text
    return TeX(_ESCAPE_RE.sub(lambda m: _ESCAPES[m.group()], str(text)))


def group_digits(n: int, sep: str = "{,}") -> str:
    """``3301651`` -> ``3{,}301{,}651`` (a comma that adds no space in math mode)."""
    return f"{n:,}".replace(",", sep)


class _Printer(LatexPrinter):
    """sympy's LaTeX printer, keeping the written order of terms, with grouped digits."""

    def __init__(self, **settings):
        super().__init__({"order": "none", "mul_symbol": "times", **settings})

    def _print_Integer(self, expr):
        return group_digits(int(expr))

    def _print_FloorDiv(self, expr):
        p, q = expr.args
        return rf"\left\lfloor \frac{{{self._print(p)}}}{{{self._print(q)}}} \right\rfloor"


_SYMBOL_NAMES = {}


def math(expr, **settings) -> TeX:
    """A sympy expression (or number) as LaTeX math, in the order it was written."""
    expr = sympy.sympify(expr)
    return TeX(_Printer(**settings).doprint(expr))


def number(value) -> TeX:
    """A whole number with grouped digits; an expression as math."""
    value = sympy.sympify(value)
    return TeX(group_digits(int(value))) if value.is_Integer else math(value)


__all__ = ["TeX", "escape_latex", "group_digits", "math", "number", "FloorDiv"]

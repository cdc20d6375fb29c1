"""Plain-text forms of numbers and expressions, shared by the terminal and JSON output.

Printing a sympy sum sorts its terms, which is slow; a report prints the same few
expressions many times, so the text of each is made once.
"""

from __future__ import annotations

import re
from functools import lru_cache

import sympy
from sympy.printing.precedence import PRECEDENCE, precedence

from symcnn.solve import M as BUDGET
from symcnn.symbols import size


@lru_cache(maxsize=8192)
def expr_text(expr: sympy.Basic) -> str:
    """``str(expr)``, made once per distinct expression."""
    return str(expr)


def number(value) -> str:
    """``3,301,651`` for whole numbers, the expression otherwise."""
    value = sympy.sympify(value)
    return f"{int(value):,}" if value.is_Integer else expr_text(value)


def factor(value) -> str:
    """One factor of a product as text: a number with its digits grouped, an expression in
    brackets where a product needs them (by sympy's precedence, not by looking at the text):
    ``D - 2`` -> ``(D - 2)``, ``2*C`` -> ``2*C``."""
    value = sympy.sympify(value)
    if value.is_Integer and value >= 0:
        return f"{int(value):,}"
    text = expr_text(value)
    return f"({text})" if precedence(value) < PRECEDENCE["Mul"] else text


def shape(dims) -> str:
    """A tensor shape as the product of its sizes: ``C x (D - 2) x (H - 2)``; a whole size
    without thousands separators (``213840``, which ``213,840`` in a shape column would
    read like two axes)."""
    return " x ".join(_size(d) for d in dims)


def _size(value) -> str:
    value = sympy.sympify(value)
    return str(int(value)) if value.is_Integer else factor(value)


_SIZE = re.compile(r"([0-9][0-9.,]*)\s*([A-Za-z]+)")


def spaced_size(size: str) -> str:
    """A memory size as it is read: ``12GB`` -> ``12 GB`` (bytes alone, ``1000``, as given)."""
    m = _SIZE.fullmatch(str(size).strip())
    return f"{m.group(1)} {m.group(2)}" if m else str(size)


def figure_units(report) -> str:
    """The unit a report's figures are printed in: bytes throughout when the network has
    symbols (its figures are expressions in bytes, so a number among them is too), else the
    report's unit."""
    return "B" if report.network.free_symbols else report.units


def generic_text(expr, notation, printer=expr_text) -> str:
    """A general formula as text in the document's letters (``k`` written ``kappa`` where
    the network has a symbol ``k``: :func:`symcnn.analysis.letters.notation`)."""
    expr = sympy.sympify(expr)
    renames = notation.text_renames
    swap = {x: sympy.Symbol(renames[x.name], **x.assumptions0)
            for x in expr.free_symbols if x.name in renames}
    return printer(expr.xreplace(swap)) if swap else printer(expr)


def json_value(value):
    """A JSON integer for whole numbers, else a string that ``symcnn.parse_expression`` reads back."""
    value = sympy.sympify(value)
    return int(value) if value.is_Integer else expr_text(value)


def written(expr) -> str:
    """An unevaluated expression in the order it was written: ``(27*30 + 1)*30``."""
    return sympy.sstr(expr, order="none")


def budget_text(formula: sympy.Expr, name: str) -> str:
    """The largest batch's closed form with the budget written ``name`` (``M_avail``: the
    budget is not the memory ``M(b)`` it bounds); text and JSON both write it so."""
    return expr_text(formula.subs(BUDGET, size(name)))


#: Characters a terminal acts on or that reorder what it shows: C0 and C1 controls but the
#: newline (ESC starts escape sequences that retitle the window or clear the screen, CR
#: overwrites the line) and the invisible and bidirectional format characters.
_UNSEEN = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def visible(text: str) -> str:
    """``text`` safe to print on a terminal: every control or format character written as its
    escape (``\\x1b``, ``\\u202e``), so a name from a spec shows what it holds and cannot act.

    >>> visible("conv\\x1b]0;owned\\x07 1")
    'conv\\\\x1b]0;owned\\\\x07 1'
    """
    return _UNSEEN.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)

"""Symbols, declared once: every size, channel count and the batch is a positive integer.

>>> size("C") is size("C")
True
>>> size("C").is_integer, size("C").is_positive
(True, True)
"""

from __future__ import annotations

from functools import cache

import sympy


@cache
def size(name: str) -> sympy.Symbol:
    """The positive-integer symbol called ``name`` (one object per name)."""
    return sympy.Symbol(name, integer=True, positive=True)


#: The batch size.
b = size("b")

# Names used in the general formulas of the derivation records.
C_in, C_out, g, k, L_in = (size(n) for n in ("C_in", "C_out", "g", "k", "L_in"))


def axis_symbols(prefix: str, n: int) -> tuple[sympy.Symbol, ...]:
    """``k_1, ..., k_n`` (or plain ``k`` when ``n`` is 1): per-axis names of one quantity.

    >>> axis_symbols("k", 3)
    (k_1, k_2, k_3)
    """
    if n == 1:
        return (size(prefix),)
    return tuple(size(f"{prefix}_{i}") for i in range(1, n + 1))

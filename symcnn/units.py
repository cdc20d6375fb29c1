"""Byte units: decimal (MB = 10^6) and binary (MiB = 2^20), always labelled.

>>> parse_size("12GB"), parse_size("11GiB"), parse_size("1.5 GB"), parse_size("4096")
(12000000000, 11811160064, 1500000000, 4096)
>>> format_bytes(13206604, "MB"), format_bytes(13206604, "MiB")
('13.21 MB', '12.59 MiB')
"""

from __future__ import annotations

import re
from fractions import Fraction

import sympy

from symcnn.errors import SymcnnError

UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
         "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}

_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]i?b|b)?\s*$", re.IGNORECASE)


def canonical_unit(unit: str) -> str:
    """``"mib"`` -> ``"MiB"``; a :class:`SymcnnError` for anything that is not a byte unit."""
    u = unit.strip()
    if u.upper() == "B":
        return "B"
    if len(u) in (2, 3) and u[-1] in "bB" and u[0].upper() in "KMGT" and (len(u) == 2 or u[1] in "iI"):
        return u[0].upper() + ("i" if len(u) == 3 else "") + "B"
    raise SymcnnError(f"unknown unit {unit!r} (use one of {', '.join(UNITS)})")


def parse_size(text) -> sympy.Integer:
    """Bytes in ``"12GB"`` (12*10^9), ``"11GiB"`` (11*2^30) or a plain byte count."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = Fraction(text)
    else:
        m = _SIZE.match(str(text))
        if not m:
            raise SymcnnError(f"cannot read memory size {text!r} (write e.g. 12GB, 11GiB or a "
                              "number of bytes)")
        value = Fraction(m.group(1)) * UNITS[canonical_unit(m.group(2) or "B")]
    if value <= 0:
        raise SymcnnError(f"memory size must be positive, got {text!r}")
    return sympy.Integer(int(value))  # whole bytes, rounded down


def in_unit(value: sympy.Expr, unit: str) -> sympy.Expr:
    """``value`` bytes expressed in ``unit`` (exact rational for numbers)."""
    return sympy.Rational(1, UNITS[canonical_unit(unit)]) * value


def format_bytes(value, unit: str = "MB", digits: int = 2) -> str:
    """``value`` bytes as ``"13.21 MB"``; tiny values keep two significant digits."""
    unit = canonical_unit(unit)
    expr = sympy.sympify(value)
    if not expr.is_number:
        return f"({expr})/{UNITS[unit]} {unit}" if unit != "B" else f"{expr} B"
    x = Fraction(int(expr), UNITS[unit])
    if unit == "B":
        return f"{int(expr):,} B"
    if x != 0 and abs(x) < Fraction(1, 10**digits):
        return f"{float(x):.2g} {unit}"
    return f"{float(x):,.{digits}f} {unit}"

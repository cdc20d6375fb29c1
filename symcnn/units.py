"""Byte units: decimal (kB = 10^3, MB = 10^6) and binary (KiB = 2^10, MiB = 2^20), always
labelled; ``auto`` picks, per figure, the largest decimal unit in which it is at least 1.
Numbers are written out, never in exponent notation.

>>> parse_size("12GB"), parse_size("11GiB"), parse_size("1.5 GB"), parse_size("4096")
(12000000000, 11811160064, 1500000000, 4096)
>>> format_bytes(13206604, "MB"), format_bytes(13206604, "MiB")
('13.21 MB', '12.59 MiB')
>>> format_bytes(4, "MB"), format_bytes(4700, "MB"), format_bytes(23520, "kB")
('0.0000040 MB', '0.0047 MB', '23.52 kB')
>>> format_bytes(4, "auto"), format_bytes(4700, "auto"), format_bytes(2937313940, "auto")
('4 B', '4.700 kB', '2.937 GB')
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

import sympy

from symcnn.errors import SymcnnError
from symcnn.limits import MAX_DIGITS, check_integer

UNITS = {"B": 1, "kB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
         "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
#: The unit each figure picks for itself: the largest decimal unit in which it is >= 1.
AUTO = "auto"
#: Significant figures of a figure in an ``auto`` unit (``2.937 GB``), and of a figure
#: below a hundredth of a fixed unit (``0.0047 MB``).
SIGNIFICANT_AUTO = 4
SIGNIFICANT_SMALL = 2

_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]i?b|b)?\s*$", re.IGNORECASE)


def canonical_unit(unit: str, *, allow_auto: bool = False) -> str:
    """``"mib"`` -> ``"MiB"``, ``"KB"`` -> ``"kB"``; ``"auto"`` where ``allow_auto``; a
    :class:`SymcnnError` for anything else."""
    u = unit.strip()
    if allow_auto and u.lower() == AUTO:
        return AUTO
    if u.upper() == "B":
        return "B"
    if len(u) in (2, 3) and u[-1] in "bB" and u[0].upper() in "KMGT" and (len(u) == 2 or u[1] in "iI"):
        binary = len(u) == 3
        prefix = "k" if u[0].upper() == "K" and not binary else u[0].upper()
        return prefix + ("i" if binary else "") + "B"
    known = [*UNITS, AUTO] if allow_auto else list(UNITS)
    raise SymcnnError(f"unknown unit {unit!r} (use one of {', '.join(known)})")


_DECIMAL = ("B", "kB", "MB", "GB", "TB")


def auto_unit(nbytes: int) -> str:
    """The largest decimal unit in which ``nbytes`` is at least 1 (``B`` below 1 kB)."""
    for unit in ("TB", "GB", "MB", "kB"):
        if abs(nbytes) >= UNITS[unit]:
            return unit
    return "B"


def significant(x: Fraction, figures: int) -> str:
    """``x`` written out with ``figures`` significant figures, digits grouped, no exponent:
    ``significant(Fraction(1, 250000), 2)`` -> ``'0.0000040'``."""
    if x == 0:
        return "0"
    with localcontext() as ctx:
        ctx.prec = 60 + len(str(abs(x.numerator) // x.denominator))  # exact for any size
        d = Decimal(x.numerator) / Decimal(x.denominator)
        places = max(figures - 1 - d.adjusted(), 0)
        rounded = d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
        if rounded.adjusted() > d.adjusted():  # 0.99996 -> 1.000, not 1.0000
            places = max(places - 1, 0)
            rounded = d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
        d = rounded
    return f"{d:,.{places}f}"


def parse_size(text) -> sympy.Integer:
    """Bytes in ``"12GB"`` (12*10^9), ``"11GiB"`` (11*2^30) or a plain byte count."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = Fraction(text)
    else:
        m = _SIZE.match(str(text)[:200])
        if not m:
            shown = repr(text) if len(str(text)) <= 60 else repr(str(text)[:57] + "...")
            raise SymcnnError(f"cannot read memory size {shown} (write e.g. 12GB, 11GiB or a "
                              "number of bytes)")
        if len(m.group(1)) > 2 * MAX_DIGITS:
            check_integer(10**MAX_DIGITS)
        value = Fraction(m.group(1)) * UNITS[canonical_unit(m.group(2) or "B")]
    check_integer(int(value))
    if value <= 0:
        raise SymcnnError(f"memory size must be positive, got {text!r}")
    return sympy.Integer(int(value))  # whole bytes, rounded down


def format_bytes(value, unit: str = "MB", digits: int = 2) -> str:
    """``value`` bytes as ``"13.21 MB"``: ``digits`` decimals in a fixed unit (values below a
    hundredth of it keep two significant figures), four significant figures in ``auto``."""
    unit = canonical_unit(unit, allow_auto=True)
    expr = sympy.sympify(value)
    if not expr.is_number:
        return f"({expr})/{UNITS[unit]} {unit}" if unit not in ("B", AUTO) else f"{expr} B"
    nbytes = int(expr)
    if unit == AUTO:
        unit = auto_unit(nbytes)
        if unit != "B":
            text = significant(Fraction(nbytes, UNITS[unit]), SIGNIFICANT_AUTO)
            if abs(Decimal(text.replace(",", ""))) >= 1000 and unit != "TB":  # 999.96 MB
                unit = _DECIMAL[_DECIMAL.index(unit) + 1]
                text = significant(Fraction(nbytes, UNITS[unit]), SIGNIFICANT_AUTO)
            return f"{text} {unit}"
    if unit == "B":
        return f"{nbytes:,} B"
    x = Fraction(nbytes, UNITS[unit])
    if x != 0 and abs(x) < Fraction(1, 10**digits):
        return f"{significant(x, SIGNIFICANT_SMALL)} {unit}"
    if abs(x) >= 2**53:  # past what a float holds exactly: exact, rounded half up
        scaled = (abs(x) * 10**digits + Fraction(1, 2)).__floor__()
        whole, frac = divmod(scaled, 10**digits)
        sign = "-" if x < 0 else ""
        return f"{sign}{whole:,}{'.' + str(frac).zfill(digits) if digits else ''} {unit}"
    return f"{float(x):,.{digits}f} {unit}"


def unit_note(unit: str) -> str:
    """What a unit means, as text: ``MB = 10^6 bytes``; for ``auto`` every decimal unit."""
    unit = canonical_unit(unit, allow_auto=True)
    if unit == AUTO:
        return "kB = 10^3, MB = 10^6, GB = 10^9 bytes"
    if unit == "B":
        return "sizes in bytes"
    return f"{unit} = {unit_power(unit)} bytes"


def unit_power(unit: str) -> str:
    """Bytes in one ``unit`` as a power: ``10^6`` for MB, ``2^20`` for MiB."""
    n = UNITS[canonical_unit(unit)]
    decimal = len(str(n)) - 1
    return f"10^{decimal}" if 10**decimal == n else f"2^{n.bit_length() - 1}"

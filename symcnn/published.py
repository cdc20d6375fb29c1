"""Check figures printed in a source (a lecture, a paper) against the derivation.

A spec's ``[published]`` table lists them: ``total_params``, ``params.<layer>`` and
``memory.<term>`` (``Params``, ``Grads``, ``I_1``, ...).  A printed ``"51.50 MB"``
agrees when the derived value, rounded to the printed digits, is the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

import sympy

from symcnn.analysis.rows import Analysis
from symcnn.errors import SymcnnError
from symcnn.layers import Derivation
from symcnn.memory.estimate import Memory
from symcnn.units import UNITS, canonical_unit

_PRINTED = re.compile(r"^\s*([0-9][0-9,]*(?:\.\d*)?(?:[eE][-+]?\d+)?)\s*([A-Za-z]+)?\s*$")


@dataclass(frozen=True)
class PublishedCheck:
    """One printed figure next to the derived one."""

    key: str
    printed: str
    unit: str | None
    derivation: Derivation
    agrees: bool

    @property
    def value(self) -> sympy.Expr:
        return self.derivation.value


def _resolution(number: str) -> Fraction:
    """Half a unit of the last printed digit: ``"51.50"`` -> 0.005, ``"4e-6"`` -> 5e-7."""
    mantissa, _, exponent = number.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return Fraction(1, 2) * Fraction(10) ** (int(exponent or 0) - decimals)


def _agrees(printed, value: sympy.Expr, key: str) -> tuple[bool, str | None]:
    if isinstance(printed, bool) or not isinstance(printed, (int, float, str)):
        raise SymcnnError(f"expected a number or a string such as '13.21 MB', got {printed!r}",
                          field=f"published.{key}")
    m = _PRINTED.match(str(printed))
    if not m:
        raise SymcnnError(f"cannot read {printed!r} (write e.g. 840 or '13.21 MB')",
                          field=f"published.{key}")
    number, unit = m.group(1).replace(",", ""), m.group(2)
    if not value.is_number:
        return False, unit
    scale = 1
    if unit is not None:
        try:
            unit = canonical_unit(unit)
        except SymcnnError as err:
            raise err.within(field=f"published.{key}") from None
        scale = UNITS[unit]
    exact = Fraction(int(value), scale)
    return abs(exact - Fraction(number)) <= _resolution(number), unit


def check_published(published: dict, analysis: Analysis, memory: Memory) -> tuple[PublishedCheck, ...]:
    """Compare every figure of a spec's ``[published]`` table with the derivation."""
    rows = {r.name: r for r in analysis.rows}
    terms = {t.label.replace("_", ""): t for t in
             (memory.params, memory.grads, memory.buffers, memory.optimizer_state,
              *memory.activations)}
    found: list[tuple[str, object, Derivation]] = []
    for key, printed in published.items():
        if key in ("source", "note", "convention"):
            continue
        if key == "total_params":
            total = analysis.total_params
            found.append((key, printed, Derivation(sympy.Symbol("N"), total, total)))
        elif key == "params" and isinstance(printed, dict):
            for name, p in printed.items():
                if name not in rows or rows[name].params_derivation is None:
                    raise SymcnnError("no layer with parameters of that name",
                                      field=f"published.params.{name}")
                found.append((f"params.{name}", p, rows[name].params_derivation))
        elif key == "memory" and isinstance(printed, dict):
            for name, p in printed.items():
                term = terms.get(name.replace("_", ""))
                if term is None:
                    raise SymcnnError(f"no memory term of that name (known: "
                                      f"{', '.join(t.label for t in terms.values())})",
                                      field=f"published.memory.{name}")
                found.append((f"memory.{term.label}", p, term.derivation))
        else:
            raise SymcnnError("unknown entry (known: source, convention, total_params, params, "
                              "memory)",
                              field=f"published.{key}")
    checks = []
    for key, printed, derivation in found:
        agrees, unit = _agrees(printed, derivation.value, key)
        checks.append(PublishedCheck(key, str(printed), unit, derivation, agrees))
    return tuple(checks)

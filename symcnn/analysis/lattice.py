"""Receptive fields that are not the same at every output position: after a transposed
convolution or an upsampling the jump is a fraction, and neighbouring output elements see
different numbers of input pixels (a transposed convolution of kernel 3 and stride 2: one, then
two, then one ...).  A :class:`Lattice` holds them exactly: the pixels output element
``o = q P + r`` sees are ``bounds[r]`` moved by ``q shift``, for ``P = len(bounds)`` phases.

Every layer maps its output element ``o'`` to a window of its input's elements, ``window(o')
= (first, last)``, which moves ``u`` input elements every ``v`` outputs; the field of ``o'`` is
the union of those elements' fields.  The window maps of the layers whose jump is fractional or whose
bins differ are here, as PyTorch computes the indices:

>>> from fractions import Fraction
>>> list(transposed_window(kernel=3, stride=2, padding=1, dilation=1)(3))
[1, 2]
>>> list(interpolation_window("bilinear", False, Fraction(1, 2))(0))
[-1, 0]
>>> phases = Lattice(((0, 0),), 1).remapped(transposed_window(3, 2, 1, 1), (1, 2))
>>> phases.bounds, phases.shift, phases.field()
(((0, 0), (0, 1)), 1, (2, 1/2, 0))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import ceil, floor, gcd

import sympy

from symcnn.layers import Upsample
from symcnn.layers.base import to_expr

#: The input elements an output element reads, in order (none: it reads none).
Window = Callable[[int], Sequence[int]]
#: The most input elements one layer's phases may read while their fields are followed: a
#: layer beyond it (a transposed convolution of stride 10^8, an upsampling to 10^8 - 1 from
#: 10^8 + 1 positions: as many phases) has an unknown field, not a wait of minutes.
MAX_ELEMENTS = 20_000


class Unknown(Exception):
    """A field this module cannot follow exactly (a symbolic stride after a fractional jump)."""


class SeesNothing(Exception):
    """No output element sees a pixel (a transposed convolution's gaps, every one of them read
    by the next layer): as a learned tensor."""


def whole(value) -> int:
    """``value`` as an int, or :class:`Unknown` where it is a symbol or a fraction."""
    value = sympy.sympify(value)
    if not value.is_Integer:
        raise Unknown(value)
    return int(value)


@dataclass(frozen=True)
class Lattice:
    """Output element ``q P + r`` sees the pixels ``bounds[r][0] + q shift`` to ``bounds[r][1]
    + q shift`` (``bounds[r]`` None: none); the bounds may be expressions in the network's
    symbols, ``P`` and the window maps are numbers."""

    bounds: tuple[tuple[sympy.Expr, sympy.Expr] | None, ...]
    shift: sympy.Expr

    def at(self, o: int) -> tuple[sympy.Expr, sympy.Expr] | None:
        q, r = divmod(o, len(self.bounds))
        b = self.bounds[r]
        return None if b is None else (b[0] + q * self.shift, b[1] + q * self.shift)

    def union(self, elements: Sequence[int]) -> tuple[sympy.Expr, sympy.Expr] | None:
        """The first and the last pixel that ``elements`` see together (a dilated transposed
        convolution's neighbouring outputs may read inputs out of order)."""
        seen = [b for b in map(self.at, self._ends(elements)) if b is not None]
        return (sympy.Min(*(b[0] for b in seen)), sympy.Max(*(b[1] for b in seen))) if seen \
            else None

    def _ends(self, elements: Sequence[int]) -> Sequence[int]:
        """Of a long ``range``, the elements that decide its union: the first and the last
        of each phase (the first ``P`` and the last ``P`` elements hold them; the fields
        move forward, ``shift >= 0``).  An adaptive pooling of 10^6 positions to 7 took a
        union over every position: minutes."""
        period = len(self.bounds)
        if not isinstance(elements, range) or len(elements) <= 2 * period \
                or not sympy.sympify(self.shift).is_nonnegative:
            return elements
        return [*elements[:period], *elements[-period:]]

    def remapped(self, window: Window, step: tuple[int, int]) -> Lattice:
        """The lattice of a layer whose output ``o'`` reads ``window(o')``, a window that moves
        ``u`` elements every ``v`` outputs (``step = (u, v)``); :class:`Unknown` where that
        takes more than :data:`MAX_ELEMENTS` elements to follow."""
        u, v = step
        periods = len(self.bounds) // gcd(u, len(self.bounds))  # of v outputs: whole phases
        if v * periods > MAX_ELEMENTS:
            raise Unknown(v * periods)
        windows, visited = [], 0
        for o in range(v * periods):
            windows.append(self._ends(window(o)))
            visited += len(windows[-1])
            if visited > MAX_ELEMENTS:
                raise Unknown(visited)
        bounds = tuple(map(self.union, windows))
        if all(b is None for b in bounds):
            raise SeesNothing
        return Lattice(bounds, self.shift * (periods * u // len(self.bounds)))

    def extent(self, positions: int) -> tuple[sympy.Expr, sympy.Expr]:
        """The pixels that elements ``0`` to ``positions - 1`` see together."""
        found = self.union(range(positions))
        if found is None:
            raise Unknown(positions)
        return found

    def field(self) -> tuple[sympy.Expr, sympy.Expr, sympy.Expr]:
        """``(size, jump, start)``: the largest field of an element, the mean step, and where
        element 0's field starts (the first element that sees a pixel where 0 sees none)."""
        seen = [b for b in self.bounds if b is not None]
        return (sympy.Max(*(hi - lo + 1 for lo, hi in seen)),
                sympy.Rational(1, len(self.bounds)) * self.shift, seen[0][0])


def merged(lattices: list[Lattice]) -> Lattice | None:
    """The union of the fields of several inputs, element by element (None where their mean
    steps differ: the union is then not periodic)."""
    steps = {sympy.Rational(1, len(x.bounds)) * x.shift for x in lattices}
    if len(steps) != 1:
        return None
    period = 1
    for x in lattices:
        period = period * len(x.bounds) // gcd(period, len(x.bounds))
    if period > MAX_ELEMENTS:
        return None
    bounds = []
    for o in range(period):
        seen = [b for b in (x.at(o) for x in lattices) if b is not None]
        bounds.append((sympy.Min(*(b[0] for b in seen)), sympy.Max(*(b[1] for b in seen)))
                      if seen else None)
    return Lattice(tuple(bounds), steps.pop() * period)


def sliding_window(reach: int, stride: int, front: int, dilation: int = 1) -> Window:
    """A window of ``reach`` elements (``d(k - 1) + 1``), every ``dilation``-th of them read,
    every ``stride``, ``front`` of padding before the first."""
    return lambda o: range(o * stride - front, o * stride - front + reach, dilation)


def transposed_window(kernel: int, stride: int, padding: int, dilation: int) -> Window:
    """Output ``o`` reads the inputs ``i`` with ``i s = o + p - d t`` for a tap ``t < k``: the
    taps with ``d t = o + p`` modulo ``s`` are every ``s/g``-th from the first (``g = gcd(d,
    s)``), so ``i`` steps by ``d/g``; a range, whatever the kernel (10^8 taps, one by one,
    took minutes)."""
    g = gcd(dilation, stride)
    m = stride // g

    def window(o: int) -> range:
        if (o + padding) % g:
            return range(0)
        first = (o + padding) // g * pow(dilation // g, -1, m) % m if m > 1 else 0
        if first >= kernel:
            return range(0)
        last = first + (kernel - 1 - first) // m * m
        return range((o + padding - dilation * last) // stride,
                     (o + padding - dilation * first) // stride + 1, dilation // g)

    return window


def adaptive_window(inputs: int, outputs: int) -> Window:
    """Adaptive pooling's bin ``i``: ``floor(i n/o)`` to ``ceil((i + 1) n/o) - 1``."""
    return lambda i: range(i * inputs // outputs, -(-(i + 1) * inputs // outputs))


def interpolation_scale(layer: Upsample, x, y, factor) -> Fraction:
    """Input elements per output element, as PyTorch's kernels take it: ``1/scale_factor``
    where one is given (and not recomputed), else the sizes' ratio; ``(x - 1)/(y - 1)`` with
    ``align_corners``."""
    if layer.align_corners and layer.mode not in ("nearest", "nearest-exact"):
        return Fraction(whole(x) - 1, whole(y) - 1) if whole(y) > 1 else Fraction(0)
    if factor is not None and not layer.recompute_scale_factor:
        return 1 / Fraction(str(sympy.nsimplify(to_expr(factor, "scale_factor"))))
    return Fraction(whole(x), whole(y))


def interpolation_window(mode: str, align_corners: bool, scale: Fraction) -> Window:
    """The input elements with a non-zero weight for output ``o`` of PyTorch's interpolation,
    ``scale`` input elements per output element (borders not clamped: as padding, they are
    reached before the first element and after the last)."""
    def source(o: int) -> Fraction:
        if mode.startswith("nearest"):
            return scale * o if mode == "nearest" else scale * (2 * o + 1) / 2
        return scale * o if align_corners else scale * (2 * o + 1) / 2 - Fraction(1, 2)

    def window(o: int) -> range:
        x = source(o)
        if mode.startswith("nearest") or x.denominator == 1:  # the other taps' weights are 0
            return range(floor(x), floor(x) + 1)
        return range(floor(x) - 1, floor(x) + 3) if mode == "bicubic" else range(floor(x),
                                                                                  ceil(x) + 1)

    return window

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
from bisect import bisect_left
from dataclasses import dataclass
from functools import cached_property
from fractions import Fraction
import struct
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


Bounds = tuple[sympy.Expr, sympy.Expr] | None


def known(value) -> int | None:
    """``value`` as an int, or None where it is a symbol (a border that cannot be placed)."""
    value = sympy.sympify(value)
    return int(value) if value.is_Integer else None


def decided(condition) -> bool | None:
    condition = sympy.sympify(condition)
    return bool(condition) if condition in (sympy.true, sympy.false) else None


def _outside(bounds: Bounds, side: int, span: int | None) -> Bounds:
    """The part of a padding element's pattern field that lies outside the input (before it,
    ``side < 0``; after its ``span`` pixels, ``side > 0``): a window that reads padding sees
    the positions the pattern gives it there (the classical ``start - p jump``), but no pixel
    of the input, which no element reads there (a slice before it, or a stride that left the
    last pixels out).  Undecided (symbols): the pattern's."""
    if bounds is None or (side > 0 and span is None):
        return bounds
    lo, hi = bounds
    edge = -1 if side < 0 else span
    if isinstance(lo, (int, sympy.Integer)) and isinstance(hi, (int, sympy.Integer)):
        beyond = int(lo) <= edge if side < 0 else int(hi) >= edge
    else:
        beyond = decided(lo <= edge) if side < 0 else decided(hi >= edge)
    if beyond is None:
        return bounds
    if not beyond:
        return None
    return (lo, sympy.Min(hi, edge)) if side < 0 else (sympy.Max(lo, edge), hi)


def _hull(seen: list) -> Bounds:
    """The first and the last pixel of several fields (None: none); in ints where they are
    numbers (sympy's ``Min`` of a hundred numbers took a millisecond)."""
    if not seen:
        return None
    if all(isinstance(x, (int, sympy.Integer)) for b in seen for x in b):
        return (sympy.Integer(min(int(b[0]) for b in seen)),
                sympy.Integer(max(int(b[1]) for b in seen)))
    return sympy.Min(*(b[0] for b in seen)), sympy.Max(*(b[1] for b in seen))


@dataclass(frozen=True)
class Lattice:
    """Output element ``q P + r`` sees the pixels ``bounds[r][0] + q shift`` to ``bounds[r][1]
    + q shift`` (``bounds[r]`` None: none), except the border elements in ``edges``, ``(o,
    bounds)`` pairs, whose windows read past their input's ends (an interpolation's clamped
    index, a padding beside a slice); the bounds may be expressions in the network's
    symbols, ``P`` and the window maps are numbers."""

    bounds: tuple[Bounds, ...]
    shift: sympy.Expr
    edges: tuple[tuple[int, Bounds], ...] = ()

    def pattern(self, o: int) -> Bounds:
        """Element ``o``'s field as the pattern continues it (interior elements; past the
        ends: the padding's positions)."""
        q, r = divmod(o, len(self.bounds))
        b = self.bounds[r]
        return None if b is None else (b[0] + q * self.shift, b[1] + q * self.shift)

    @cached_property
    def _edge_map(self) -> dict[int, Bounds]:
        return dict(self.edges)

    def at(self, o: int) -> Bounds:
        edge = self._edge_map
        return edge[o] if o in edge else self.pattern(o)

    def union(self, elements: Sequence[int], at=None) -> Bounds:
        """The first and the last pixel that ``elements`` see together (a dilated transposed
        convolution's neighbouring outputs may read inputs out of order)."""
        picked = self._ends(elements)
        if picked is not elements:  # the border elements break the pattern: each is read
            picked += [o for o in self._edge_map if o in elements]
        seen = [b for b in map(at or self.at, picked) if b is not None]
        return _hull(seen)

    def _ends(self, elements: Sequence[int]) -> Sequence[int]:
        """Of a long ``range``, the elements that decide its union: the first and the last
        of each phase (the first ``P`` and the last ``P`` elements hold them; the fields
        move forward, ``shift >= 0``), with the border elements in ``edges`` (:meth:`union`).
        An adaptive pooling of 10^6 positions to 7 took a union over every position: minutes."""
        period = len(self.bounds)
        if not isinstance(elements, range) or len(elements) <= 2 * period \
                or not sympy.sympify(self.shift).is_nonnegative:
            return elements
        return [*elements[:period], *elements[-period:]]

    def read(self, j: int, reads: int | None, span: int | None, clamp: bool) -> Bounds:
        """What reading element ``j`` of a tensor of ``reads`` elements sees: past the ends,
        an interpolation reads the edge element (PyTorch clamps the index), any other layer
        padding (:func:`_outside`)."""
        side = -1 if j < 0 else 1 if reads is not None and j >= reads else 0
        if side == 0:
            return self.at(j)
        if clamp:
            return self.at(0 if side < 0 else reads - 1)
        return _outside(self.pattern(j), side, span)

    def sees(self, elements: Sequence[int], reads: int | None, span: int | None,
             clamp: bool, budget: list[int]) -> Bounds:
        """What a window that reads ``elements`` sees (:meth:`read`): the elements inside the
        tensor as :meth:`union` takes them (a window of 10^6 taps: its ends), those past its
        ends one by one (clamped: the edge element once); :class:`Unknown` once more than
        ``budget[0]`` of them were read (the budget of a layer's border elements)."""
        parts = [elements]
        if isinstance(elements, range) and elements.step > 0:
            first = bisect_left(elements, 0)
            last = bisect_left(elements, reads) if reads is not None else len(elements)
            parts = [elements[:first], elements[last:]]
            inside = self.union(elements[first:last])
            if clamp:
                parts = [part[:1] for part in parts]
        else:
            inside = None
        outside = [j for part in parts for j in part]
        budget[0] -= len(outside)
        if budget[0] < 0:
            raise Unknown(len(outside))
        seen = [b for b in (inside, *(self.read(j, reads, span, clamp) for j in outside))
                if b is not None]
        return _hull(seen)

    def remapped(self, window: Window, step: tuple[int, int], reads: int | None = None,
                 positions: int | None = None, span: int | None = None,
                 clamp: bool = False, irregular: tuple[Window, Sequence[int]] | None = None
                 ) -> Lattice:
        """The lattice of a layer whose output ``o'`` reads ``window(o')``, a window that moves
        ``u`` elements every ``v`` outputs (``step = (u, v)``), from a tensor of ``reads``
        elements into one of ``positions`` (None: symbolic, the far border is not followed),
        ``span`` input pixels along the axis; ``clamp``: past the ends it reads the edge;
        ``irregular``: the window the layer really reads and the outputs where it is not
        ``window`` (PyTorch's float32 nearest index); :class:`Unknown` where that takes more
        than :data:`MAX_ELEMENTS` elements to follow."""
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
        bounds = tuple(self.union(w, self.pattern) for w in windows)
        if all(b is None for b in bounds):
            raise SeesNothing
        lattice = Lattice(bounds, self.shift * (periods * u // len(self.bounds)))
        edges = []
        actual, odd = irregular or (window, ())
        if not (self.edges or clamp or odd) and self._padding_sees_none(reads, span):
            return lattice  # every border element reads the pattern (a kernel of 10^6: no loop)
        outputs = sorted(set(self._borders(window, step, reads, positions)) | set(odd))
        if len(outputs) > MAX_ELEMENTS:
            raise Unknown(len(outputs))
        budget = [MAX_ELEMENTS]  # padding elements read: a kernel of 10^4 beside 10^4 borders
        for o in outputs:
            exact = self.sees(actual(o), reads, span, clamp, budget)
            if exact != lattice.pattern(o):
                edges.append((o, exact))
        return Lattice(bounds, lattice.shift, tuple(edges))

    def _padding_sees_none(self, reads: int | None, span: int | None) -> bool:
        """Whether the pattern continued past the ends sees no pixel of the input (the
        ``P`` elements beside each end decide it, the fields moving forward): a window that
        reads padding then sees what the pattern gives it, :func:`_outside` changes nothing."""
        period = len(self.bounds)
        if not sympy.sympify(self.shift).is_nonnegative:
            return False
        before = all(_outside(self.pattern(j), -1, span) == self.pattern(j)
                     for j in range(-period, 0))
        return before and (reads is None or all(
            _outside(self.pattern(j), 1, span) == self.pattern(j)
            for j in range(reads, reads + period)))

    def _borders(self, window: Window, step, reads, positions) -> list[int]:
        """The outputs whose window reaches one of this lattice's edges or past its ends
        (``window(o + v) = window(o) + u``: found phase by phase)."""
        u, v = step
        keys = [o for o, _ in self.edges]
        head = 1 + max([k for k in keys if reads is None or 2 * k < reads], default=-1)
        tail = min([k for k in keys if reads is not None and 2 * k >= reads],
                   default=reads) if positions is not None else None
        found = set()
        for r in range(v):
            w = window(r)
            if not len(w):
                continue
            w = (min(w[0], w[-1]), max(w[0], w[-1])) if isinstance(w, range) else (min(w), max(w))
            q = 0
            while min(w) + q * u < head and (positions is None or q * v + r < positions):
                found.add(q * v + r)
                if u == 0 and positions is None:
                    break
                q += 1
                if len(found) > MAX_ELEMENTS:
                    raise Unknown(len(found))
            if tail is not None:
                q = 0 if u == 0 else max(0, ceil(Fraction(tail - max(w), u)))
                if u > 0 or max(w) >= tail:
                    ends = range(q * v + r, positions, v)
                    if len(found) + len(ends) > MAX_ELEMENTS:
                        raise Unknown(len(ends))
                    found.update(ends)
        return sorted(found)

    def extent(self, positions: int) -> tuple[sympy.Expr, sympy.Expr]:
        """The pixels that elements ``0`` to ``positions - 1`` see together."""
        found = self.union(range(positions))
        if found is None:
            raise Unknown(positions)
        return found

    def first(self) -> int:
        """The first element that sees a pixel."""
        o = 0
        while self.at(o) is None:
            o += 1
        return o

    def field(self, positions: int | None = None) -> tuple[sympy.Expr, sympy.Expr, sympy.Expr]:
        """``(size, jump, start)``: the largest field of the ``positions`` elements (None:
        unknown, an interior one's, which the border elements in ``edges`` do not exceed),
        the mean step, and where element 0's field starts (the first element that sees a
        pixel where 0 sees none)."""
        sizes = [b[1] - b[0] + 1 for o, b in self.edges
                 if b is not None and (positions is None or o < positions)]
        border = {o for o, _ in self.edges}
        for r, b in enumerate(self.bounds):
            elements = range(r, positions, len(self.bounds)) if positions is not None else (-1,)
            if b is not None and any(o not in border for o in elements):
                sizes.append(b[1] - b[0] + 1)
        if not sizes and positions is not None:
            raise SeesNothing  # the elements that see pixels are past the last one
        sizes = sizes or [b[1] - b[0] + 1 for b in self.bounds if b is not None]
        return (sympy.Max(*sizes), sympy.Rational(1, len(self.bounds)) * self.shift,
                self.at(self.first())[0])


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

    def union(o: int, at) -> Bounds:
        seen = [b for b in (at(x)(o) for x in lattices) if b is not None]
        return _hull(seen)

    bounds = tuple(union(o, lambda x: x.pattern) for o in range(period))
    edges = sorted({o for x in lattices for o, _ in x.edges})
    return Lattice(bounds, steps.pop() * period,
                   tuple((o, union(o, lambda x: x.at)) for o in edges))


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
    ``scale`` input elements per output element, as the pattern continues past the ends
    (PyTorch clamps those indices to the edge element: :meth:`Lattice.read`)."""
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


def _float32(value: float) -> float:
    """``value`` rounded to the nearest float32 (C's cast)."""
    return struct.unpack("f", struct.pack("f", value))[0]


def nearest_index(exact: bool, inputs: int, outputs: int, factor) -> Callable[[int], int]:
    """The input element PyTorch's nearest modes read for output ``o`` in the forward:
    ``floor(o scale)`` (nearest-exact: ``floor((o + 1/2) scale)``) in float32, ``scale`` the
    float32 of ``1/factor`` (``factor`` None: of ``inputs / outputs``), at most the last
    element (``nearest_neighbor_compute_source_index``, ATen/native/UpSample.h).  Measured
    on torch 2.13, CPU (AMD EPYC, AVX2), by the forward on each input pixel alone: its
    forward has none of the shortcuts of ``nearest_idx``, which its backward takes (a copy
    where the sizes are equal, ``o >> 1`` where the output is twice the input: with a
    factor of 1.1 on 3 pixels, output 1 reads pixel 0, and its gradient reaches pixel 1).
    Float32 can put an output on the neighbouring pixel of the exact ratio's: ``1/3.7`` is
    ``0.27027026`` there, and output 55 of nearest-exact reads pixel 14, not ``55.5/3.7 = 15``.

    >>> [nearest_index(True, 16, 59, 3.7)(o) for o in (54, 55, 56)]
    [14, 14, 15]
    """
    scale = _float32(1.0 / float(factor)) if factor else _float32(_float32(inputs) / outputs)
    if exact:
        return lambda o: min(floor(_float32((o + 0.5) * scale)), inputs - 1)
    return lambda o: min(floor(_float32(_float32(o) * scale)), inputs - 1)

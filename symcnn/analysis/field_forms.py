"""How a receptive field is written for a reader (:mod:`symcnn.analysis.receptive` computes
it): whether every output element sees a whole input axis (a linear layer's field, jump 0),
how many input pixels a shared field covers, and a symbolic network's fields in the sizes
named one layer at a time (:mod:`symcnn.analysis.named`)."""

from __future__ import annotations

import sympy

from symcnn.analysis.named import is_plain
from symcnn.analysis.receptive import AxisField, receptive_fields


def _true(condition) -> bool:
    return bool(sympy.sympify(condition) == sympy.true)


def sees_whole_axis(f: AxisField, n) -> bool:
    """Whether every output element sees every pixel of an input axis of ``n`` pixels: jump 0
    (all elements see the same), from pixel 0 or before to ``n - 1`` or after (``size``
    counts the padding it reaches: VGG-16's classifier sees 404 pixels of a 224 axis).

    >>> sees_whole_axis(AxisField(404, 0, -90), 224), sees_whole_axis(AxisField(189, 0, 0), 193)
    (True, False)
    """
    if f.phases is not None or f.jump != 0:
        return False
    return _true(f.start <= 0) and _true(f.start + f.size >= n)


def shared_pixels(f: AxisField, n) -> sympy.Expr:
    """For a field every output element shares (jump 0): how many of the axis's ``n`` input
    pixels it covers, the padding not counted (its ``size`` where that is not decided: a
    symbolic start or end).

    >>> shared_pixels(AxisField(192, 0, -1), 193), shared_pixels(AxisField(189, 0, 0), 193)
    (191, 189)
    """
    first, last = f.start, f.start + f.size - 1
    if not (_decided(first <= 0) and _decided(last >= n - 1)):
        return f.size
    return sympy.Min(last, n - 1) - sympy.Max(first, 0) + 1


def _decided(condition) -> bool:
    return sympy.sympify(condition) in (sympy.true, sympy.false)


def named_fields(analysis, named) -> tuple[tuple[AxisField, ...] | None, ...]:
    """The fields of a symbolic network with the sizes it computes named
    (:class:`symcnn.analysis.named.NamedSizes`): a linear layer after the lecture's L8 sees
    ``16 D_8 + 45`` voxels, not ``16 floor((D - 61)/16) + 61``; the closed form where the
    names leave a field unknown (a rule that needs the sizes' values) and where it has
    nothing to name (:func:`symcnn.analysis.named.is_plain`).

    >>> from symcnn.analysis.named import name_sizes
    >>> from symcnn.analysis.rows import analyze
    >>> from symcnn.spec.builtin import example_spec
    >>> a = analyze(example_spec("lecture_symbolic").network)
    >>> named_fields(a, name_sizes(a))[-1][0].size
    16*D_8 + 45
    """
    closed = receptive_fields(analysis)
    in_names = receptive_fields(analysis, named.shapes)
    return tuple(c if n is None or _plain(c) else n for n, c in zip(in_names, closed))


def _plain(field) -> bool:
    """A field with nothing to name: numbers, or symbols and products of them (a linear
    layer that sees the whole ``I x H`` input reads ``I``, not ``I_1 + 2``)."""
    return all(is_plain(sympy.sympify(x)) for a in field for x in (a.size, a.jump, a.start))

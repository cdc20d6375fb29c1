"""Layers that merge branches: residual addition, concatenation, the element-wise product.

PyTorch writes these as functions (``x + y``, ``torch.cat``, ``x * s``); a spec names them
``Add``, ``Concat`` and ``Mul`` and lists their ``inputs``.  Sizes that are numbers must match; symbolic sizes
that are not the same expression become conditions on the input (``2*floor(H/2) = H``:
``H`` even), which :func:`symcnn.analysis.rows.valid_sizes` checks for given values.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from symcnn.errors import SymcnnError
from symcnn.layers.base import Layer, Shape, check_flag


def _same(a: sympy.Expr, b: sympy.Expr) -> bool | None:
    """True if equal, False if surely different, None if it depends on the symbols."""
    diff = sympy.expand(a - b)
    if diff == 0:
        return True
    if diff.is_number or diff.is_zero is False:
        return False
    return None


def _differences(shapes: tuple[Shape, ...], skip: int | None = None):
    """(axis, first, other) for every axis where another input differs surely or maybe."""
    first = shapes[0]
    for other in shapes[1:]:
        if len(other) != len(first):
            raise SymcnnError(f"inputs have different ranks: {tuple(first)} and {tuple(other)}",
                              field="inputs")
        for axis, (a, b) in enumerate(zip(first, other)):
            if axis != skip:
                yield axis, a, b, _same(a, b)


def _axis_name(axis: int, rank: int) -> str:
    return "channels" if axis == 0 else f"spatial axis {axis}" if rank > 1 else "features"


def _check(shapes: tuple[Shape, ...], what: str, skip: int | None = None,
           least: int = 2) -> list[sympy.Basic]:
    if len(shapes) < least:
        wanted = "one or more" if least == 1 else "two or more"
        raise SymcnnError(f"{what} needs {wanted} inputs, got {len(shapes)}", field="inputs")
    conditions, wrong = [], []
    for axis, a, b, same in _differences(shapes, skip):
        if same is False:
            wrong.append(f"{_axis_name(axis, len(shapes[0]))} {a} vs {b}")
        elif same is None:
            conditions.append(sympy.Eq(a, b))
    if wrong:
        raise SymcnnError(f"input shapes {' and '.join(str(tuple(s)) for s in shapes)} differ: "
                          + "; ".join(wrong), field="inputs")
    return conditions


@dataclass(frozen=True, kw_only=True)
class Add(Layer):
    """Element-wise sum of two or more tensors of one shape (a residual connection).
    ``inplace=True`` is ``out += identity`` (torchvision's residual blocks): the sum is
    written into the first input's memory, no new tensor.

    >>> Add().output_shape((64, 56, 56), (64, 56, 56)), Add(inplace=True).allocates_output
    ((64, 56, 56), False)
    >>> Add().output_shape((64, 56, 56), (128, 28, 28))
    Traceback (most recent call last):
    ...
    symcnn.errors.SymcnnError: field 'inputs': input shapes (64, 56, 56) and (128, 28, 28) \
differ: channels 64 vs 128; spatial axis 1 56 vs 28; spatial axis 2 56 vs 28
    """

    arity = None
    passes_gradient = True
    inplace: bool = False

    def __post_init__(self) -> None:
        check_flag(self.inplace, "inplace")

    def output_shape(self, *in_shapes: Shape) -> Shape:
        _check(in_shapes, "Add")
        return tuple(in_shapes[0])

    def conditions(self, *in_shapes: Shape) -> tuple[sympy.Basic, ...]:
        return tuple(_check(in_shapes, "Add"))


@dataclass(frozen=True, kw_only=True)
class Concat(Layer):
    """``torch.cat`` along ``dim`` (which counts the batch axis: 1 is the channels).  Of one
    input (DenseNet's first dense layer: ``torch.cat([x], 1)``) it is a copy of it: PyTorch
    allocates the result all the same.

    >>> Concat().output_shape((64, 28, 28), (32, 28, 28)), Concat().output_shape((64, 28, 28))
    ((96, 28, 28), (64, 28, 28))
    """

    arity = None
    min_inputs = 1
    passes_gradient = True
    dim: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.dim, bool) or not isinstance(self.dim, int):
            raise SymcnnError(f"expected an axis number, got {self.dim!r}", field="dim")

    def _axis(self, shapes: tuple[Shape, ...]) -> int:
        rank = len(shapes[0]) + 1  # with the batch axis
        dim = self.dim + rank if self.dim < 0 else self.dim
        if not 1 <= dim < rank:
            raise SymcnnError(f"must be an axis from 1 to {rank - 1} (axis 0 is the batch)",
                              field="dim")
        return dim - 1

    def output_shape(self, *in_shapes: Shape) -> Shape:
        if not in_shapes:
            raise SymcnnError("Concat needs one or more inputs, got 0", field="inputs")
        axis = self._axis(in_shapes)
        _check(in_shapes, "Concat", skip=axis, least=1)
        out = list(in_shapes[0])
        out[axis] = sympy.Add(*(s[axis] for s in in_shapes))
        return tuple(out)

    def conditions(self, *in_shapes: Shape) -> tuple[sympy.Basic, ...]:
        return tuple(_check(in_shapes, "Concat", skip=self._axis(in_shapes), least=1))


def broadcast(shapes: tuple[Shape, ...]) -> tuple[Shape, list[sympy.Basic]]:
    """PyTorch's broadcasting of per-sample shapes (aligned at their last axes; an axis of 1
    stretches): the result and the conditions on symbolic sizes that must hold.

    >>> broadcast(((96, 56, 56), (96, 1, 1)))[0], broadcast(((4, 1), (3,)))[0]
    ((96, 56, 56), (4, 3))
    """
    rank = max(len(s) for s in shapes)
    padded = [(sympy.Integer(1),) * (rank - len(s)) + tuple(map(sympy.sympify, s)) for s in shapes]
    out, conditions, wrong = [], [], []
    for axis, sizes in enumerate(zip(*padded)):
        big = [n for n in sizes if n != 1]
        size_ = big[0] if big else sympy.Integer(1)
        for n in big[1:]:
            same = _same(size_, n)
            if same is False:
                wrong.append(f"axis {axis + 1}: {size_} vs {n}")
            elif same is None:
                conditions.append(sympy.Eq(size_, n))
        out.append(size_)
    if wrong:
        raise SymcnnError(f"input shapes {' and '.join(str(tuple(s)) for s in shapes)} do not "
                          "broadcast: " + "; ".join(wrong), field="inputs")
    return tuple(out), conditions


@dataclass(frozen=True, kw_only=True)
class Mul(Layer):
    """Element-wise product, ``torch.mul``: of two tensors that broadcast (a squeeze-excitation
    scale, ``x * s`` with ``s`` of shape (C, 1, 1)), or of one tensor and the number
    ``other``.  Shapes have no batch axis and align at their last axes, as PyTorch's do.

    >>> Mul().output_shape((96, 28, 28), (96, 1, 1)), Mul(other=0.5).output_shape((4, 5))
    ((96, 28, 28), (4, 5))
    >>> Mul().output_shape((96, 28, 28), (48, 1, 1))
    Traceback (most recent call last):
    ...
    symcnn.errors.SymcnnError: field 'inputs': input shapes (96, 28, 28) and (48, 1, 1) do not \
broadcast: axis 1: 96 vs 48
    """

    arity = None
    min_inputs = 1
    other: float | None = None

    def __post_init__(self) -> None:
        if self.other is not None and (isinstance(self.other, bool)
                                       or not isinstance(self.other, (int, float))):
            raise SymcnnError(f"expected a number, got {self.other!r}", field="other")

    def _shapes(self, in_shapes: tuple[Shape, ...]) -> tuple[Shape, list[sympy.Basic]]:
        wanted = 1 if self.other is not None else 2
        if len(in_shapes) != wanted:
            raise SymcnnError(f"Mul takes {'one input and a number (other)' if wanted == 1 else 'two inputs'}"
                              f", got {len(in_shapes)} input{'s' if len(in_shapes) != 1 else ''}",
                              field="inputs")
        return broadcast(in_shapes)

    def output_shape(self, *in_shapes: Shape) -> Shape:
        return self._shapes(in_shapes)[0]

    def conditions(self, *in_shapes: Shape) -> tuple[sympy.Basic, ...]:
        return tuple(self._shapes(in_shapes)[1])

"""Layers that change the layout: Flatten, Linear, Upsample."""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy

from symcnn.errors import SymcnnError
from symcnn.intdiv import FloorDiv, product
from symcnn.layers.base import (
    Derivation,
    Layer,
    Shape,
    check_choice,
    check_flag,
    check_size,
    matches,
    per_axis,
    to_expr,
    written_add,
    written_mul,
)
from symcnn.symbols import size


@dataclass(frozen=True, kw_only=True)
class Flatten(Layer):
    """As ``torch.nn.Flatten``; the axis numbers count the batch axis, as in PyTorch.

    >>> Flatten().output_shape((240, 9, 11, 9))
    (213840,)
    """

    start_dim: int = 1
    end_dim: int = -1

    def __post_init__(self) -> None:
        for name in ("start_dim", "end_dim"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise SymcnnError(f"expected an axis number, got {v!r}", field=name)

    def output_shape(self, in_shape: Shape) -> Shape:
        rank = len(in_shape) + 1  # with the batch axis
        start = self.start_dim + rank if self.start_dim < 0 else self.start_dim
        end = self.end_dim + rank if self.end_dim < 0 else self.end_dim
        if not 1 <= start < rank:
            raise SymcnnError(f"must be an axis from 1 to {rank - 1} (axis 0 is the batch)",
                              field="start_dim")
        if not start <= end < rank:
            raise SymcnnError(f"must be an axis from start_dim to {rank - 1}", field="end_dim")
        s = tuple(in_shape)
        return (*s[:start - 1], product(s[start - 1:end]), *s[end:])

    @property
    def allocates_output(self) -> bool:
        return False  # a view of a contiguous input


@dataclass(frozen=True, kw_only=True)
class Linear(Layer):
    """As ``torch.nn.Linear``, applied to the last axis; ``in_features`` is inferred.

    >>> Linear(out_features=1).params_derivation((213840,)).text
    '(n_in + 1)*n_out = (213840 + 1)*1 = 213841'
    >>> Linear(out_features=2, in_features=5, bias=False).params_derivation((5,)).text
    'n_in*n_out = 5*2 = 10'
    """

    out_features: sympy.Expr
    bias: bool = True
    in_features: sympy.Expr | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "out_features",
                           check_size(to_expr(self.out_features, "out_features"), "out_features"))
        check_flag(self.bias, "bias")

    def _in(self, in_shape: Shape) -> sympy.Expr:
        n_in = sympy.sympify(in_shape[-1])
        matches(self.in_features, n_in, "in_features")
        return n_in

    def output_shape(self, in_shape: Shape) -> Shape:
        self._in(in_shape)
        return (*in_shape[:-1], self.out_features)

    def param_tensors(self, in_shape: Shape) -> tuple[sympy.Expr, ...]:
        weight = self._in(in_shape) * self.out_features
        return (weight, self.out_features) if self.bias else (weight,)

    def params(self, in_shape: Shape) -> sympy.Expr:
        return (self._in(in_shape) + (1 if self.bias else 0)) * self.out_features

    def params_derivation(self, in_shape: Shape) -> Derivation:
        def form(n_in, n_out):
            return written_mul(written_add(n_in, 1), n_out) if self.bias else written_mul(n_in, n_out)

        return Derivation(form(size("n_in"), size("n_out")),
                          form(self._in(in_shape), self.out_features), self.params(in_shape))


UPSAMPLE_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear")
#: Spatial axes the interpolating modes work on; the nearest modes take 1 to 3.
MODE_AXES = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


@dataclass(frozen=True, kw_only=True)
class Upsample(Layer):
    """As ``torch.nn.Upsample``: either ``size`` or ``scale_factor``; the output is
    ``floor(n * scale_factor)`` per axis, as in PyTorch.

    >>> Upsample(scale_factor=2).output_shape((8, 5, 7))
    (8, 10, 14)
    >>> Upsample(scale_factor=1.5).output_shape((8, 5, 7))
    (8, 7, 10)

    A float factor times a numeric size is rounded as PyTorch does it, in double precision
    (``100 * 1.15`` is ``114.99999999999999`` there); symbolic sizes are multiplied exactly.

    >>> Upsample(scale_factor=1.15).output_shape((8, 100))
    (8, 114)
    """

    size: tuple[sympy.Expr, ...] | sympy.Expr | None = None
    scale_factor: tuple[sympy.Expr, ...] | sympy.Expr | None = None
    mode: str = "nearest"
    align_corners: bool | None = None
    recompute_scale_factor: bool | None = None

    def __post_init__(self) -> None:
        if (self.size is None) == (self.scale_factor is None):
            raise SymcnnError("give exactly one of size and scale_factor", field="size")
        if self.size is not None and self.recompute_scale_factor:
            raise SymcnnError("is not meaningful with an explicit size (as in PyTorch)",
                              field="recompute_scale_factor")
        check_choice(self.mode, UPSAMPLE_MODES, "mode")
        if self.align_corners is not None:
            check_flag(self.align_corners, "align_corners")
            if self.mode not in MODE_AXES:
                raise SymcnnError(f"align_corners is only for the interpolating modes "
                                  f"{', '.join(MODE_AXES)} (as in PyTorch)", field="align_corners")

    def output_shape(self, in_shape: Shape) -> Shape:
        n = len(in_shape) - 1
        if not 1 <= n <= 3:
            raise SymcnnError(f"expects a (C, *spatial) input with 1 to 3 spatial axes, got shape "
                              f"{tuple(in_shape)}")
        if MODE_AXES.get(self.mode, n) != n:
            raise SymcnnError(f"mode {self.mode!r} needs {MODE_AXES[self.mode]} spatial axes, the "
                              f"input has {n}", field="mode")
        if self.size is not None:
            return (in_shape[0], *per_axis(self.size, n, "size"))
        items = self.scale_factor if isinstance(self.scale_factor, (tuple, list)) \
            else (self.scale_factor,) * n
        if len(items) != n:
            raise SymcnnError(f"expected {n} values, got {len(items)}", field="scale_factor")
        out = []
        for axis, (x, f) in enumerate(zip(in_shape[1:], items)):
            factor = to_expr(f, "scale_factor")
            if factor.is_positive is False:
                raise SymcnnError(f"must be positive, got {factor}", field="scale_factor")
            if isinstance(f, float) and sympy.sympify(x).is_Integer:
                size_ = sympy.Integer(math.floor(int(x) * f))  # PyTorch's double arithmetic
            else:
                num, den = sympy.fraction(factor)
                size_ = FloorDiv(x * num, den)
            if (size_.is_number and size_ < 1) or size_.is_positive is False:
                raise SymcnnError(f"output size along spatial axis {axis + 1} is "
                                  f"floor({x}*{f}) = {size_}, not positive", field="scale_factor")
            out.append(size_)
        return (in_shape[0], *out)

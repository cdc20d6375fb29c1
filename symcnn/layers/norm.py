"""Normalization: BatchNorm1d/2d/3d, GroupNorm, LayerNorm."""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from symcnn.errors import SymcnnError
from symcnn.intdiv import product
from symcnn.layers.base import (
    Derivation,
    Layer,
    Shape,
    check_channels_or_length,
    check_flag,
    check_size,
    matches,
    to_expr,
    written_mul,
)
from symcnn.symbols import size


class _PerChannelAffine(Layer):
    """A normalization with a learnt scale (and, with ``bias``, shift) per channel:
    2C parameters if affine, C without the bias."""

    def _per_channel(self) -> int:
        return (2 if self.bias else 1) if self.affine else 0

    def params(self, in_shape: Shape) -> sympy.Expr:
        return self._per_channel() * self._channels(in_shape)

    def param_tensors(self, in_shape: Shape) -> tuple[sympy.Expr, ...]:
        return (self._channels(in_shape),) * self._per_channel()

    def params_derivation(self, in_shape: Shape) -> Derivation | None:
        k = self._per_channel()
        if not k:
            return None
        c = self._channels(in_shape)
        return Derivation(written_mul(k, size("C")), written_mul(k, c), k * c)


@dataclass(frozen=True, kw_only=True)
class BatchNormNd(_PerChannelAffine):
    """BatchNorm1d, BatchNorm2d and BatchNorm3d."""

    eps: float = 1e-5
    momentum: float | None = 0.1
    affine: bool = True
    track_running_stats: bool = True
    bias: bool = True
    num_features: sympy.Expr | None = None

    def __post_init__(self) -> None:
        check_flag(self.affine, "affine")
        check_flag(self.bias, "bias")
        check_flag(self.track_running_stats, "track_running_stats")

    def _channels(self, in_shape: Shape) -> sympy.Expr:
        self.check_input(in_shape)
        matches(self.num_features, in_shape[0], "num_features")
        return in_shape[0]

    def buffers(self, in_shape: Shape) -> sympy.Expr:
        """running_mean and running_var (C each) and num_batches_tracked (one int64)."""
        return 2 * self._channels(in_shape) + 1 if self.track_running_stats else sympy.Integer(0)

    def buffer_bytes(self, in_shape: Shape, dtype_bytes: int) -> sympy.Expr:
        """running_mean and running_var in the dtype, num_batches_tracked an int64 (8 bytes)."""
        if not self.track_running_stats:
            return sympy.Integer(0)
        return 2 * self._channels(in_shape) * dtype_bytes + 8

    def buffer_tensors(self, in_shape: Shape, dtype_bytes: int) -> tuple[sympy.Expr, ...]:
        if not self.track_running_stats:
            return ()
        c = self._channels(in_shape) * dtype_bytes
        return (c, c, sympy.Integer(8))


@dataclass(frozen=True, kw_only=True)
class BatchNorm1d(BatchNormNd):
    """As ``torch.nn.BatchNorm1d``: an input of shape (C,) or (C, L)."""

    def check_input(self, in_shape: Shape) -> None:
        check_channels_or_length(in_shape)


@dataclass(frozen=True, kw_only=True)
class BatchNorm2d(BatchNormNd):
    """As ``torch.nn.BatchNorm2d``; ``num_features`` is inferred.

    >>> bn = BatchNorm2d()
    >>> bn.params((64, 8, 8)), bn.buffers((64, 8, 8))
    (128, 129)
    """

    ndim = 2


@dataclass(frozen=True, kw_only=True)
class BatchNorm3d(BatchNormNd):
    """As ``torch.nn.BatchNorm3d``."""

    ndim = 3


@dataclass(frozen=True, kw_only=True)
class GroupNorm(_PerChannelAffine):
    """As ``torch.nn.GroupNorm``; ``num_channels`` is inferred and must divide by ``num_groups``.

    >>> GroupNorm(num_groups=4).params((32, 10, 10))
    64
    """

    num_groups: sympy.Expr
    eps: float = 1e-5
    affine: bool = True
    bias: bool = True
    num_channels: sympy.Expr | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "num_groups",
                           check_size(to_expr(self.num_groups, "num_groups"), "num_groups"))
        check_flag(self.affine, "affine")
        check_flag(self.bias, "bias")

    def _channels(self, in_shape: Shape) -> sympy.Expr:
        c = in_shape[0]
        matches(self.num_channels, c, "num_channels")
        if (c / self.num_groups).is_integer is False:
            raise SymcnnError(f"num_groups={self.num_groups} does not divide the {c} channels",
                              field="num_groups")
        return c

    def output_shape(self, in_shape: Shape) -> Shape:
        self._channels(in_shape)
        return tuple(in_shape)


@dataclass(frozen=True, kw_only=True)
class LayerNorm(Layer):
    """As ``torch.nn.LayerNorm``: ``normalized_shape`` must be the trailing axes of the input.

    >>> LayerNorm(normalized_shape=[16, 8]).params((4, 16, 8))
    256
    """

    normalized_shape: tuple[sympy.Expr, ...]
    eps: float = 1e-5
    elementwise_affine: bool = True
    bias: bool = True

    def __post_init__(self) -> None:
        value = self.normalized_shape
        items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        object.__setattr__(self, "normalized_shape", tuple(
            check_size(to_expr(v, "normalized_shape"), "normalized_shape") for v in items))
        check_flag(self.elementwise_affine, "elementwise_affine")
        check_flag(self.bias, "bias")

    def output_shape(self, in_shape: Shape) -> Shape:
        n = len(self.normalized_shape)
        tail = tuple(in_shape[len(in_shape) - n:]) if n <= len(in_shape) else None
        if tail is None or any(sympy.expand(a - b) != 0 for a, b in zip(tail, self.normalized_shape)):
            raise SymcnnError(f"{self.normalized_shape} is not the trailing part of the input "
                              f"shape {tuple(in_shape)}", field="normalized_shape")
        return tuple(in_shape)

    def params(self, in_shape: Shape) -> sympy.Expr:
        self.output_shape(in_shape)
        if not self.elementwise_affine:
            return sympy.Integer(0)
        return product(self.normalized_shape) * (2 if self.bias else 1)

    def param_tensors(self, in_shape: Shape) -> tuple[sympy.Expr, ...]:
        n = (2 if self.bias else 1) if self.elementwise_affine else 0
        return (product(self.normalized_shape),) * n

    def params_derivation(self, in_shape: Shape) -> Derivation | None:
        """A weight (and a bias) of ``n``, the normalised elements.

        >>> LayerNorm(normalized_shape=[16, 8]).params_derivation((4, 16, 8)).text
        '2*n = 2*(16*8) = 256'
        """
        k = len(self.param_tensors(in_shape))
        if not k:
            return None
        shape = self.normalized_shape
        n = shape[0] if len(shape) == 1 else sympy.Mul(*shape, evaluate=False)
        return Derivation(written_mul(k, sympy.Symbol("n")), written_mul(k, n),
                          self.params(in_shape))

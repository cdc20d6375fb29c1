"""Layers that keep the shape: activations and dropout."""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from symcnn.errors import SymcnnError
from symcnn.layers.base import (
    Derivation,
    Layer,
    Shape,
    check_channels_or_length,
    check_choice,
    check_flag,
    check_size,
    to_expr,
)


@dataclass(frozen=True, kw_only=True)
class _Inplace(Layer):
    inplace: bool = False

    def __post_init__(self) -> None:
        check_flag(self.inplace, "inplace")


@dataclass(frozen=True, kw_only=True)
class ReLU(_Inplace):
    """As ``torch.nn.ReLU``.  With ``inplace=True`` it allocates no new tensor.

    >>> ReLU().output_shape((3, 4)), ReLU(inplace=True).allocates_output
    ((3, 4), False)
    """


@dataclass(frozen=True, kw_only=True)
class LeakyReLU(_Inplace):
    """As ``torch.nn.LeakyReLU``."""

    negative_slope: float = 0.01


@dataclass(frozen=True, kw_only=True)
class SiLU(_Inplace):
    """As ``torch.nn.SiLU``."""


def _check_number(value, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SymcnnError(f"expected a number, got {value!r}", field=field)


@dataclass(frozen=True, kw_only=True)
class Hardtanh(_Inplace):
    """As ``torch.nn.Hardtanh``: clamps to ``[min_val, max_val]``."""

    min_val: float = -1.0
    max_val: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_number(self.min_val, "min_val")
        _check_number(self.max_val, "max_val")
        if self.max_val <= self.min_val:
            raise SymcnnError(f"must be above min_val ({self.min_val}), got {self.max_val}",
                              field="max_val")


@dataclass(frozen=True, kw_only=True)
class ReLU6(_Inplace):
    """As ``torch.nn.ReLU6`` (``Hardtanh(0, 6)``)."""


@dataclass(frozen=True, kw_only=True)
class Hardswish(_Inplace):
    """As ``torch.nn.Hardswish``."""


@dataclass(frozen=True, kw_only=True)
class Hardsigmoid(_Inplace):
    """As ``torch.nn.Hardsigmoid``."""


@dataclass(frozen=True, kw_only=True)
class Mish(_Inplace):
    """As ``torch.nn.Mish``."""


@dataclass(frozen=True, kw_only=True)
class ELU(_Inplace):
    """As ``torch.nn.ELU``."""

    alpha: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_number(self.alpha, "alpha")


@dataclass(frozen=True, kw_only=True)
class Softplus(Layer):
    """As ``torch.nn.Softplus``."""

    beta: float = 1.0
    threshold: float = 20.0

    def __post_init__(self) -> None:
        _check_number(self.beta, "beta")
        _check_number(self.threshold, "threshold")


@dataclass(frozen=True, kw_only=True)
class PReLU(Layer):
    """As ``torch.nn.PReLU``: ``num_parameters`` slopes, one (shared) or one per channel.

    >>> PReLU(num_parameters=16).params((16, 8, 8)), PReLU().params((16, 8, 8))
    (16, 1)
    """

    num_parameters: sympy.Expr = 1
    init: float = 0.25

    def __post_init__(self) -> None:
        object.__setattr__(self, "num_parameters", check_size(
            to_expr(self.num_parameters, "num_parameters"), "num_parameters"))
        _check_number(self.init, "init")

    def output_shape(self, in_shape: Shape) -> Shape:
        n = self.num_parameters
        if n != 1 and (not in_shape or sympy.expand(n - in_shape[0]) != 0):
            raise SymcnnError(f"must be 1 or the input's channels "
                              f"({in_shape[0] if in_shape else 'none'}), got {n}",
                              field="num_parameters")
        return tuple(in_shape)

    def params(self, in_shape: Shape) -> sympy.Expr:
        self.output_shape(in_shape)
        return self.num_parameters

    def params_derivation(self, in_shape: Shape) -> Derivation | None:
        n = self.params(in_shape)
        return Derivation(sympy.Symbol("n"), n, n)


@dataclass(frozen=True, kw_only=True)
class GELU(Layer):
    """As ``torch.nn.GELU``."""

    approximate: str = "none"

    def __post_init__(self) -> None:
        check_choice(self.approximate, ("none", "tanh"), "approximate")


@dataclass(frozen=True, kw_only=True)
class Sigmoid(Layer):
    """As ``torch.nn.Sigmoid``."""


@dataclass(frozen=True, kw_only=True)
class Tanh(Layer):
    """As ``torch.nn.Tanh``."""


@dataclass(frozen=True, kw_only=True)
class Softmax(Layer):
    """As ``torch.nn.Softmax``; ``dim`` counts the batch axis, as in PyTorch."""

    dim: int | None = None

    def __post_init__(self) -> None:
        if self.dim is not None and (isinstance(self.dim, bool) or not isinstance(self.dim, int)):
            raise SymcnnError(f"expected an axis number, got {self.dim!r}", field="dim")

    def output_shape(self, in_shape: Shape) -> Shape:
        rank = len(in_shape) + 1  # with the batch axis
        if self.dim is not None and not -rank <= self.dim < rank:
            raise SymcnnError(f"must be an axis from {-rank} to {rank - 1} (axis 0 is the batch)",
                              field="dim")
        return tuple(in_shape)


@dataclass(frozen=True, kw_only=True)
class DropoutNd(_Inplace):
    """Every dropout: Dropout, and the feature dropouts of :class:`FeatureDropoutNd`."""

    p: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.p, bool) or not isinstance(self.p, (int, float)) or not 0 <= self.p <= 1:
            raise SymcnnError(f"must be a probability between 0 and 1, got {self.p!r}", field="p")


@dataclass(frozen=True, kw_only=True)
class Dropout(DropoutNd):
    """As ``torch.nn.Dropout``."""


@dataclass(frozen=True, kw_only=True)
class FeatureDropoutNd(DropoutNd):
    """Dropout1d, Dropout2d and Dropout3d: they drop whole channels (PyTorch's
    ``feature_dropout``)."""


@dataclass(frozen=True, kw_only=True)
class Dropout1d(FeatureDropoutNd):
    """As ``torch.nn.Dropout1d``: an input of shape (C,) or (C, L)."""

    def check_input(self, in_shape: Shape) -> None:
        check_channels_or_length(in_shape)

    def output_shape(self, in_shape: Shape) -> Shape:
        self.check_input(in_shape)
        return tuple(in_shape)


@dataclass(frozen=True, kw_only=True)
class Dropout2d(FeatureDropoutNd):
    """As ``torch.nn.Dropout2d``."""


@dataclass(frozen=True, kw_only=True)
class Dropout3d(FeatureDropoutNd):
    """As ``torch.nn.Dropout3d``."""


@dataclass(frozen=True, kw_only=True)
class Identity(Layer):
    """As ``torch.nn.Identity``: returns its input, allocates nothing."""

    @property
    def allocates_output(self) -> bool:
        return False


@dataclass(frozen=True, kw_only=True)
class StochasticDepth(Layer):
    """As ``torchvision.ops.StochasticDepth`` (``stochastic_depth``): in training, each sample
    (``mode="row"``) or the whole batch (``"batch"``) is zeroed with probability ``p`` and the
    rest scaled by ``1 / (1 - p)``, ``input * noise``: a new tensor, and a noise tensor of one
    element per sample (or one in all).  In evaluation mode, and at ``p = 0``, it returns its
    input itself.

    >>> StochasticDepth(p=0.1).output_shape((96, 56, 56)), StochasticDepth(p=0.0).allocates_output
    ((96, 56, 56), False)
    """

    p: float
    mode: str = "row"

    def __post_init__(self) -> None:
        if isinstance(self.p, bool) or not isinstance(self.p, (int, float)) or not 0 <= self.p <= 1:
            raise SymcnnError(f"must be a probability between 0 and 1, got {self.p!r}", field="p")
        check_choice(self.mode, ("row", "batch"), "mode")

    @property
    def allocates_output(self) -> bool:
        return self.p > 0

"""Layers that keep the shape: activations and dropout."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SymcnnError
from .base import Layer, Shape, check_channels_or_length, check_choice, check_flag


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
class _Dropout(_Inplace):
    p: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.p, bool) or not isinstance(self.p, (int, float)) or not 0 <= self.p <= 1:
            raise SymcnnError(f"must be a probability between 0 and 1, got {self.p!r}", field="p")


@dataclass(frozen=True, kw_only=True)
class Dropout(_Dropout):
    """As ``torch.nn.Dropout``."""


@dataclass(frozen=True, kw_only=True)
class Dropout1d(_Dropout):
    """As ``torch.nn.Dropout1d``: an input of shape (C,) or (C, L)."""

    def check_input(self, in_shape: Shape) -> None:
        check_channels_or_length(in_shape)

    def output_shape(self, in_shape: Shape) -> Shape:
        self.check_input(in_shape)
        return tuple(in_shape)


@dataclass(frozen=True, kw_only=True)
class Dropout2d(_Dropout):
    """As ``torch.nn.Dropout2d``."""


@dataclass(frozen=True, kw_only=True)
class Dropout3d(_Dropout):
    """As ``torch.nn.Dropout3d``."""


@dataclass(frozen=True, kw_only=True)
class Identity(Layer):
    """As ``torch.nn.Identity``: returns its input, allocates nothing."""

    @property
    def allocates_output(self) -> bool:
        return False

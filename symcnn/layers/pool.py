"""Pooling: MaxPool, AvgPool and their adaptive forms, 1-D to 3-D."""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from symcnn.errors import SymcnnError
from symcnn.intdiv import FloorDiv
from symcnn.layers.base import Layer, Shape, check_flag, check_positive_size, check_size, per_axis, to_expr


def pooled_size(n, k, p, s, d, ceil_mode: bool) -> sympy.Expr:
    """PyTorch's ``pooling_output_shape``: with ``ceil_mode`` the last window may stick out,
    but must start inside the input or its left padding.

    >>> pooled_size(5, 2, 0, 2, 1, False), pooled_size(5, 2, 0, 2, 1, True)
    (2, 3)
    """
    out = FloorDiv(sympy.sympify(n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)), s) + 1
    if not ceil_mode:
        return out
    return sympy.Piecewise((out - 1, sympy.Ge((out - 1) * s, n + p)), (out, True))


@dataclass(frozen=True, kw_only=True)
class PoolNd(Layer):
    """Pooling over windows of ``kernel_size``: the max and average pools, 1-D to 3-D."""

    kernel_size: tuple[sympy.Expr, ...]
    stride: tuple[sympy.Expr, ...] | None = None
    padding: tuple[sympy.Expr, ...] = 0
    ceil_mode: bool = False

    def __post_init__(self) -> None:
        n = self.ndim
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("kernel_size", per_axis(self.kernel_size, n, "kernel_size"))
        set_("stride", self.kernel_size if self.stride is None else per_axis(self.stride, n, "stride"))
        set_("padding", per_axis(self.padding, n, "padding", minimum=0))
        check_flag(self.ceil_mode, "ceil_mode")
        for p, k in zip(self.padding, self.kernel_size):
            if p.is_number and k.is_number and 2 * p > k:
                raise SymcnnError(f"padding {p} is more than half the kernel size {k} "
                                  "(PyTorch refuses it)", field="padding")

    def _dilation(self) -> tuple[sympy.Expr, ...]:
        return (sympy.Integer(1),) * self.ndim

    def output_shape(self, in_shape: Shape) -> Shape:
        self.check_input(in_shape)
        out = []
        for axis, (n, k, s, p, d) in enumerate(zip(in_shape[1:], self.kernel_size, self.stride,
                                                    self.padding, self._dilation())):
            size_ = pooled_size(n, k, p, s, d, self.ceil_mode)
            rounding = "ceil" if self.ceil_mode else "floor"
            check_positive_size(size_, lambda: f"{rounding}(({n} + 2*{p} - {d}*({k} - 1) - 1)/{s})"
                                " + 1", "kernel_size", axis)
            out.append(size_)
        return (in_shape[0], *out)


@dataclass(frozen=True, kw_only=True)
class MaxPoolNd(PoolNd):
    """MaxPool1d, MaxPool2d and MaxPool3d."""

    dilation: tuple[sympy.Expr, ...] = 1
    return_indices: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "dilation", per_axis(self.dilation, self.ndim, "dilation"))
        check_flag(self.return_indices, "return_indices")

    def _dilation(self) -> tuple[sympy.Expr, ...]:
        return self.dilation


@dataclass(frozen=True, kw_only=True)
class AvgPoolNd(PoolNd):
    """AvgPool1d, AvgPool2d and AvgPool3d."""

    count_include_pad: bool = True
    divisor_override: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_flag(self.count_include_pad, "count_include_pad")
        if self.ndim == 1 and self.divisor_override is not None:
            raise SymcnnError("AvgPool1d takes no divisor_override (as in PyTorch)",
                              field="divisor_override")

    def output_shape(self, in_shape: Shape) -> Shape:
        self.check_input(in_shape)
        if self.ndim == 3:
            # PyTorch's avg_pool3d refuses an input shorter than the kernel, padding or not
            for axis, (n, k) in enumerate(zip(in_shape[1:], self.kernel_size)):
                short = sympy.sympify(k - n)
                if (short.is_number and short > 0) or short.is_positive:
                    raise SymcnnError(f"input size {n} along spatial axis {axis + 1} is smaller "
                                      f"than the kernel {k} (PyTorch's AvgPool3d refuses it, "
                                      "even with padding)", field="kernel_size")
        return super().output_shape(in_shape)


@dataclass(frozen=True, kw_only=True)
class AdaptivePoolNd(Layer):
    """Pooling to a given ``output_size``: the adaptive average and max pools, 1-D to 3-D."""

    output_size: tuple[sympy.Expr | None, ...]

    def __post_init__(self) -> None:
        value = self.output_size
        items = tuple(value) if isinstance(value, (tuple, list)) else (value,) * self.ndim
        if len(items) != self.ndim:
            raise SymcnnError(f"expected {self.ndim} values, got {len(items)}", field="output_size")
        if self.ndim == 1 and None in items:
            raise SymcnnError("None (keep the size) is for 2-D and 3-D pooling only "
                              "(as in PyTorch)", field="output_size")
        object.__setattr__(self, "output_size", tuple(
            None if v is None else check_size(to_expr(v, "output_size"), "output_size")
            for v in items))

    def output_shape(self, in_shape: Shape) -> Shape:
        self.check_input(in_shape)
        return (in_shape[0], *(n if o is None else o for n, o in zip(in_shape[1:], self.output_size)))


@dataclass(frozen=True, kw_only=True)
class AdaptiveAvgPoolNd(AdaptivePoolNd):
    """AdaptiveAvgPool1d, AdaptiveAvgPool2d and AdaptiveAvgPool3d."""


@dataclass(frozen=True, kw_only=True)
class AdaptiveMaxPoolNd(AdaptivePoolNd):
    """AdaptiveMaxPool1d, AdaptiveMaxPool2d and AdaptiveMaxPool3d."""

    return_indices: bool = False


def _nd(base, n: int, name: str, doc: str):
    cls = type(name, (base,), {"ndim": n, "__doc__": doc, "__module__": __name__})
    return dataclass(frozen=True, kw_only=True)(cls)


MaxPool1d = _nd(MaxPoolNd, 1, "MaxPool1d", "As ``torch.nn.MaxPool1d``.")
MaxPool2d = _nd(MaxPoolNd, 2, "MaxPool2d", """As ``torch.nn.MaxPool2d``; ``stride`` defaults to
``kernel_size``.

>>> MaxPool2d(kernel_size=2).output_shape((16, 7, 7))
(16, 3, 3)
>>> MaxPool2d(kernel_size=2, ceil_mode=True).output_shape((16, 7, 7))
(16, 4, 4)
""")
MaxPool3d = _nd(MaxPoolNd, 3, "MaxPool3d", "As ``torch.nn.MaxPool3d``.")
AvgPool1d = _nd(AvgPoolNd, 1, "AvgPool1d", "As ``torch.nn.AvgPool1d``.")
AvgPool2d = _nd(AvgPoolNd, 2, "AvgPool2d", "As ``torch.nn.AvgPool2d``.")
AvgPool3d = _nd(AvgPoolNd, 3, "AvgPool3d", "As ``torch.nn.AvgPool3d``.")
AdaptiveAvgPool1d = _nd(AdaptiveAvgPoolNd, 1, "AdaptiveAvgPool1d", "As ``torch.nn.AdaptiveAvgPool1d``.")
AdaptiveAvgPool2d = _nd(AdaptiveAvgPoolNd, 2, "AdaptiveAvgPool2d", """As
``torch.nn.AdaptiveAvgPool2d``; ``None`` keeps that axis.

>>> AdaptiveAvgPool2d(output_size=(1, None)).output_shape((8, 5, 6))
(8, 1, 6)
""")
AdaptiveAvgPool3d = _nd(AdaptiveAvgPoolNd, 3, "AdaptiveAvgPool3d", "As ``torch.nn.AdaptiveAvgPool3d``.")
AdaptiveMaxPool1d = _nd(AdaptiveMaxPoolNd, 1, "AdaptiveMaxPool1d", "As ``torch.nn.AdaptiveMaxPool1d``.")
AdaptiveMaxPool2d = _nd(AdaptiveMaxPoolNd, 2, "AdaptiveMaxPool2d", "As ``torch.nn.AdaptiveMaxPool2d``.")
AdaptiveMaxPool3d = _nd(AdaptiveMaxPoolNd, 3, "AdaptiveMaxPool3d", "As ``torch.nn.AdaptiveMaxPool3d``.")

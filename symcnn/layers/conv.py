"""Convolutions: Conv1d/2d/3d and ConvTranspose1d/2d/3d."""

from __future__ import annotations

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
    check_positive_size,
    check_size,
    matches,
    per_axis,
    to_expr,
    written_add,
    written_mul,
)
from symcnn.symbols import C_in, C_out, axis_symbols, g, size

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _divides(g: sympy.Expr, n: sympy.Expr) -> bool | None:
    q = n / g
    return q.is_integer


def conv_params_derivation(kernel: tuple[sympy.Expr, ...], c_in, c_out, groups, bias: bool,
                           value: sympy.Expr) -> Derivation:
    """``(k^n C_in/g + 1) C_out``, in general and with this layer's numbers."""
    n = len(kernel)
    cubic = all(sympy.expand(x - kernel[0]) == 0 for x in kernel)
    k_general = size("k") ** n if cubic else product(axis_symbols("k", n))
    grouped = groups != 1

    def form(kvol, cin, cout, gg):
        weight = [kvol, cin, sympy.Pow(gg, -1, evaluate=False)] if grouped else [kvol, cin]
        return written_mul(written_add(written_mul(*weight), 1), cout) if bias \
            else written_mul(*weight, cout)

    return Derivation(form(k_general, C_in, C_out, g), form(product(kernel), c_in, c_out, groups),
                      value)


@dataclass(frozen=True, kw_only=True)
class ConvNd(Layer):
    """The convolutions, 1-D to 3-D (and, as in ``torch.nn``, the base of the transposed
    ones): a rule table's entry for it covers Conv1d, Conv2d and Conv3d."""

    out_channels: sympy.Expr
    kernel_size: tuple[sympy.Expr, ...]
    stride: tuple[sympy.Expr, ...] = 1
    padding: tuple[sympy.Expr, ...] | str = 0
    dilation: tuple[sympy.Expr, ...] = 1
    groups: sympy.Expr = 1
    bias: bool = True
    padding_mode: str = "zeros"
    in_channels: sympy.Expr | None = None

    def __post_init__(self) -> None:
        n = self.ndim
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("out_channels", check_size(to_expr(self.out_channels, "out_channels"), "out_channels"))
        set_("kernel_size", per_axis(self.kernel_size, n, "kernel_size"))
        set_("stride", per_axis(self.stride, n, "stride"))
        set_("dilation", per_axis(self.dilation, n, "dilation"))
        set_("groups", check_size(to_expr(self.groups, "groups"), "groups"))
        check_flag(self.bias, "bias")
        check_choice(self.padding_mode, PADDING_MODES, "padding_mode")
        if isinstance(self.padding, str):
            check_choice(self.padding, ("same", "valid"), "padding")
            if self.padding == "same" and any(s != 1 for s in self.stride):
                raise SymcnnError("padding='same' is not supported for strided convolutions "
                                  "(as in PyTorch)", field="padding")
        else:
            set_("padding", per_axis(self.padding, n, "padding", minimum=0))
        if _divides(self.groups, self.out_channels) is False:
            raise SymcnnError(f"groups={self.groups} does not divide out_channels="
                              f"{self.out_channels}", field="groups")

    def _in_channels(self, in_shape: Shape) -> sympy.Expr:
        self.check_input(in_shape)
        c = sympy.sympify(in_shape[0])
        matches(self.in_channels, c, "in_channels")
        if _divides(self.groups, c) is False:
            raise SymcnnError(f"groups={self.groups} does not divide the {c} input channels",
                              field="groups")
        return c

    def output_shape(self, in_shape: Shape) -> Shape:
        self._in_channels(in_shape)
        if self.padding == "same":
            return (self.out_channels, *in_shape[1:])
        pads = (0,) * self.ndim if self.padding == "valid" else self.padding
        out = []
        for axis, (n, k, s, p, d) in enumerate(zip(in_shape[1:], self.kernel_size, self.stride,
                                                    pads, self.dilation)):
            size_ = FloorDiv(n + 2 * p - d * (k - 1) - 1, s) + 1
            check_positive_size(size_, lambda: f"floor(({n} + 2*{p} - {d}*({k} - 1) - 1)/{s}) + 1",
                                "kernel_size", axis)
            out.append(size_)
        return (self.out_channels, *out)

    def param_tensors(self, in_shape: Shape) -> tuple[sympy.Expr, ...]:
        weight = product(self.kernel_size) * self._in_channels(in_shape) * self.out_channels \
            / self.groups
        return (weight, self.out_channels) if self.bias else (weight,)

    def params(self, in_shape: Shape) -> sympy.Expr:
        return sympy.Add(*self.param_tensors(in_shape))

    def params_derivation(self, in_shape: Shape) -> Derivation:
        return conv_params_derivation(self.kernel_size, self._in_channels(in_shape),
                                      self.out_channels, self.groups, self.bias,
                                      self.params(in_shape))


@dataclass(frozen=True, kw_only=True)
class ConvTransposeNd(ConvNd):
    """The transposed convolutions, 1-D to 3-D."""

    output_padding: tuple[sympy.Expr, ...] = 0

    def __post_init__(self) -> None:
        if isinstance(self.padding, str):
            raise SymcnnError("ConvTranspose takes numeric padding only (as in PyTorch)",
                              field="padding")
        super().__post_init__()
        if self.padding_mode != "zeros":
            raise SymcnnError('ConvTranspose supports only padding_mode="zeros" (as in PyTorch)',
                              field="padding_mode")
        ops = per_axis(self.output_padding, self.ndim, "output_padding", minimum=0)
        object.__setattr__(self, "output_padding", ops)
        for op, s, d in zip(ops, self.stride, self.dilation):
            if op.is_number and s.is_number and d.is_number and op >= max(s, d):
                raise SymcnnError(f"output_padding {op} must be smaller than stride or dilation "
                                  f"({s}, {d})", field="output_padding")

    def output_shape(self, in_shape: Shape) -> Shape:
        self._in_channels(in_shape)
        out = []
        for axis, (n, k, s, p, d, op) in enumerate(zip(in_shape[1:], self.kernel_size,
                                                        self.stride, self.padding, self.dilation,
                                                        self.output_padding)):
            size_ = (n - 1) * s - 2 * p + d * (k - 1) + op + 1
            check_positive_size(size_, lambda: f"({n} - 1)*{s} - 2*{p} + {d}*({k} - 1) + {op} + 1",
                                "padding", axis)
            out.append(size_)
        return (self.out_channels, *out)


def _nd(base, n: int, name: str, doc: str):
    cls = type(name, (base,), {"ndim": n, "__doc__": doc, "__module__": __name__})
    return dataclass(frozen=True, kw_only=True)(cls)


Conv1d = _nd(ConvNd, 1, "Conv1d", "1-D convolution, as ``torch.nn.Conv1d``.")
Conv2d = _nd(ConvNd, 2, "Conv2d", """2-D convolution, as ``torch.nn.Conv2d``; ``in_channels`` is
inferred from the incoming tensor.

>>> conv = Conv2d(out_channels=64, kernel_size=3)
>>> conv.params((3, 32, 32)), conv.output_shape((3, 32, 32))
(1792, (64, 30, 30))
""")
Conv3d = _nd(ConvNd, 3, "Conv3d", """3-D convolution, as ``torch.nn.Conv3d``.

>>> conv = Conv3d(out_channels=30, kernel_size=3, stride=2)
>>> conv.params_derivation((30, 191, 227, 191)).text
'(k**3*C_in + 1)*C_out = (27*30 + 1)*30 = 24330'
>>> conv.output_shape((30, 191, 227, 191))
(30, 95, 113, 95)
""")
ConvTranspose1d = _nd(ConvTransposeNd, 1, "ConvTranspose1d",
                      "1-D transposed convolution, as ``torch.nn.ConvTranspose1d``.")
ConvTranspose2d = _nd(ConvTransposeNd, 2, "ConvTranspose2d",
                      "2-D transposed convolution, as ``torch.nn.ConvTranspose2d``.")
ConvTranspose3d = _nd(ConvTransposeNd, 3, "ConvTranspose3d",
                      "3-D transposed convolution, as ``torch.nn.ConvTranspose3d``.")

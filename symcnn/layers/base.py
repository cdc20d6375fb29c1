"""What every layer shares: argument checking, shapes and the derivation record."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import ClassVar

import sympy

from symcnn.errors import SymcnnError
from symcnn.expressions import parse_expression
from symcnn.intdiv import product
from symcnn.limits import check_integer, too_large

#: A tensor's shape without the batch axis, channels first: ``(C, D, H, W)``.
Shape = tuple[sympy.Expr, ...]

#: Constructor arguments that symcnn infers from the incoming tensor: a spec may leave them
#: out (given, they are checked), a generated spec or a printed layer omits them.
INFERRED = frozenset({"in_channels", "in_features", "num_features", "num_channels"})


def to_expr(value, field: str) -> sympy.Expr:
    """A number, a sympy expression or an expression string, as a sympy expression."""
    if isinstance(value, bool):
        raise SymcnnError(f"expected a number, got {value!r}", field=field)
    if isinstance(value, str):
        try:
            return parse_expression(value)
        except SymcnnError as err:
            raise err.within(field=field) from None
    if isinstance(value, int):
        check_integer(value, field)
        return sympy.Integer(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SymcnnError(f"expected a number, got {value!r}", field=field)
        value = sympy.Rational(str(value))
        check_integer(max(abs(value.p), value.q), field)
        return value
    if isinstance(value, sympy.Basic):
        return value
    raise SymcnnError(f"expected a number or an expression, got {value!r}", field=field)


def check_size(value: sympy.Expr, field: str, *, minimum: int = 1) -> sympy.Expr:
    """``value`` if it can be a whole number ``>= minimum``; a :class:`SymcnnError` otherwise."""
    if value.is_number:
        if not value.is_integer:
            raise SymcnnError(f"must be a whole number, got {value}", field=field)
        if too_large(int(value)):
            check_integer(int(value), field)
        if value < minimum:
            raise SymcnnError(f"must be at least {minimum}, got {value}", field=field)
    elif value.is_integer is False or (minimum >= 1 and value.is_positive is False) \
            or value.is_negative:
        raise SymcnnError(f"must be a whole number >= {minimum}, got {value}", field=field)
    return value


def per_axis(value, ndim: int, field: str, *, minimum: int = 1) -> tuple[sympy.Expr, ...]:
    """An int/expression for every axis, or a tuple with one per axis (PyTorch's rule)."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,) * ndim
    if len(items) != ndim:
        raise SymcnnError(f"expected {ndim} values (one per spatial axis), got {len(items)}",
                          field=field)
    return tuple(check_size(to_expr(v, field), field, minimum=minimum) for v in items)


def check_flag(value, field: str) -> bool:
    if not isinstance(value, bool):
        raise SymcnnError(f"expected true or false, got {value!r}", field=field)
    return value


def check_choice(value, choices: tuple[str, ...], field: str) -> str:
    if value not in choices:
        raise SymcnnError(f"expected one of {', '.join(map(repr, choices))}, got {value!r}",
                          field=field)
    return value


def check_positive_size(value: sympy.Expr, formula, field: str, axis: int) -> None:
    """Refuse an output size that is surely zero or negative; ``formula()`` writes how it
    was computed (built only for the message)."""
    if (value.is_number and value < 1) or value.is_positive is False:
        raise SymcnnError(f"output size along spatial axis {axis + 1} is {formula()} = {value}, "
                          "not positive (kernel larger than its padded input?)", field=field)


def written_add(*terms) -> sympy.Expr:
    """A sum kept as written: ``27*30 + 1`` is not evaluated nor reordered."""
    return sympy.Add(*map(sympy.sympify, terms), evaluate=False)


def written_mul(*factors) -> sympy.Expr:
    """A product kept as written (no evaluation, no reordering)."""
    return sympy.Mul(*map(sympy.sympify, factors), evaluate=False)


def check_channels_or_length(in_shape: Shape) -> None:
    """The 1-D layers that also take a plain vector: ``(C,)`` or ``(C, L)``."""
    if len(in_shape) not in (1, 2):
        raise SymcnnError(f"expects a (C,) or (C, L) input, got shape {tuple(in_shape)}")


def matches(declared, actual: sympy.Expr, field: str) -> None:
    """An optional declared input size (``in_channels`` ...) must equal the inferred one."""
    if declared is None:
        return
    declared = to_expr(declared, field)
    if sympy.expand(declared - actual) != 0:
        raise SymcnnError(f"declared {declared} but the incoming tensor has {actual}", field=field)


def numel(shape: Shape) -> sympy.Expr:
    """Number of elements of a tensor of this shape."""
    return product(shape)


@dataclass(frozen=True)
class Derivation:
    """One quantity derived three ways: the general formula, the same formula with this
    layer's values put in (left unevaluated, in the written order), and its value.

    >>> from sympy import Integer
    >>> from symcnn.symbols import C_in, C_out, k
    >>> general = written_mul(written_add(written_mul(k**3, C_in), 1), C_out)
    >>> sub = written_mul(written_add(written_mul(27, 30), 1), 30)
    >>> Derivation(general, sub, Integer(24330)).text
    '(k**3*C_in + 1)*C_out = (27*30 + 1)*30 = 24330'
    """

    formula: sympy.Expr
    substituted: sympy.Expr
    value: sympy.Expr

    @property
    def text(self) -> str:
        return " = ".join([sympy.sstr(self.formula, order="none"),
                           sympy.sstr(self.substituted, order="none"), str(self.value)])


class Layer:
    """Base of all layers.  Subclasses are frozen, keyword-only dataclasses whose fields are
    PyTorch's constructor arguments, and override the methods below."""

    #: Number of spatial axes the layer expects, or None for any.
    ndim: ClassVar[int | None] = None
    #: Number of input tensors: 1, or None for ``min_inputs`` or more (Add, Concat, Mul).
    arity: ClassVar[int | None] = 1
    #: The fewest inputs a layer of ``arity`` None takes.
    min_inputs: ClassVar[int] = 2
    #: Its inputs' gradients are its output's gradient itself, or views of it (Add, Concat):
    #: its backward makes no new tensor.
    passes_gradient: ClassVar[bool] = False
    #: False for a layer that reads no tensor (a :class:`~symcnn.layers.tensor.Parameter`):
    #: its input only places it; it keeps nothing alive and makes no per-sample tensor.
    reads_inputs: ClassVar[bool] = True

    @property
    def type_name(self) -> str:
        return type(self).__name__

    def check_input(self, in_shape: Shape) -> None:
        if self.ndim is not None and len(in_shape) != self.ndim + 1:
            raise SymcnnError(f"expects a (C, {', '.join(['*'] * self.ndim)}) input, got shape "
                              f"{tuple(in_shape)}")

    def output_shape(self, in_shape: Shape) -> Shape:
        return tuple(in_shape)

    def params(self, in_shape: Shape) -> sympy.Expr:
        """Trainable parameters, as PyTorch's ``parameters()`` counts them."""
        return sympy.Integer(0)

    def param_tensors(self, in_shape: Shape) -> tuple[sympy.Expr, ...]:
        """Elements of each parameter tensor, in ``parameters()`` order (weight, then bias)."""
        p = self.params(in_shape)
        return (p,) if p != 0 else ()

    def buffers(self, in_shape: Shape) -> sympy.Expr:
        """Elements of non-trainable buffers (BatchNorm running statistics)."""
        return sympy.Integer(0)

    def buffer_bytes(self, in_shape: Shape, dtype_bytes: int) -> sympy.Expr:
        """Bytes of the buffers when they are stored in a ``dtype_bytes``-wide type."""
        return self.buffers(in_shape) * dtype_bytes

    def buffer_tensors(self, in_shape: Shape, dtype_bytes: int) -> tuple[sympy.Expr, ...]:
        """Bytes of each buffer tensor (each is an allocation of its own)."""
        total = self.buffer_bytes(in_shape, dtype_bytes)
        return (total,) if total != 0 else ()

    def params_derivation(self, in_shape: Shape) -> Derivation | None:
        """General formula, substitution and value of :meth:`params`; None without parameters."""
        return None

    def conditions(self, *in_shapes: Shape) -> tuple[sympy.Basic, ...]:
        """Equalities between symbolic input sizes that must hold (merging layers)."""
        return ()

    @property
    def allocates_output(self) -> bool:
        """False for views and in-place layers, whose output shares the input's memory."""
        return not getattr(self, "inplace", False)

    def subs(self, mapping) -> Layer:
        """The same layer with symbols replaced (``{C: 30}``)."""
        def sub(v):
            if isinstance(v, sympy.Basic):
                return v.subs(mapping)
            if isinstance(v, tuple):
                return tuple(sub(x) for x in v)
            return v
        return type(self)(**{f.name: sub(getattr(self, f.name)) for f in fields(self)})

    def free_symbols(self) -> set[sympy.Symbol]:
        out: set[sympy.Symbol] = set()
        for f in fields(self):
            v = getattr(self, f.name)
            for x in (v if isinstance(v, tuple) else (v,)):
                if isinstance(x, sympy.Basic):
                    out |= x.free_symbols
        return out

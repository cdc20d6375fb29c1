"""Tensor operations that PyTorch writes as functions or methods: ``x.permute(...)``,
``x.view(b, g, -1, h, w)`` (:class:`Unflatten`), ``x.contiguous()``, ``x[:, 0]``
(:class:`Select`), ``x.chunk(2, 1)[0]`` (:class:`Narrow`), ``x.mean([2, 3])``, and a learned
tensor a ``forward`` uses directly (:class:`Parameter`).

Axis numbers (``dim``, ``dims``) count the batch axis, as in PyTorch: axis 1 is the first axis
of a spec's shapes (the channels), and no operation here may move, select or reduce the batch
axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import sympy

from symcnn.errors import SymcnnError
from symcnn.intdiv import product
from symcnn.layers.base import Derivation, Layer, Shape, check_flag, check_size, to_expr


def check_axis_number(value, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SymcnnError(f"expected an axis number, got {value!r}", field=field)
    return value


def sample_axis(dim: int, in_shape: Shape, field: str) -> int:
    """The position in ``in_shape`` (no batch axis) of PyTorch's axis ``dim`` (which counts
    the batch axis; negative counts from the end).

    >>> sample_axis(1, (3, 4, 5), "dim"), sample_axis(-1, (3, 4, 5), "dim")
    (0, 2)
    """
    rank = len(in_shape) + 1
    axis = dim + rank if dim < 0 else dim
    if not 1 <= axis < rank:
        raise SymcnnError(f"must be an axis from 1 to {rank - 1} or from {-(rank - 1)} to -1 "
                          f"(axis 0 is the batch), got {dim}", field=field)
    return axis - 1


def _exact(a: sympy.Expr, b: sympy.Expr) -> bool:
    return sympy.expand(sympy.sympify(a) - b) == 0


@dataclass(frozen=True, kw_only=True)
class Permute(Layer):
    """``x.permute(*dims)`` (``torch.permute``; ``x.transpose(i, j)`` is one): the batch axis
    stays first.  A view: it allocates nothing.

    >>> Permute(dims=(0, 2, 3, 1)).output_shape((96, 56, 56))
    (56, 56, 96)
    """

    dims: tuple[int, ...]

    def __post_init__(self) -> None:
        dims = tuple(self.dims) if isinstance(self.dims, (tuple, list)) else (self.dims,)
        object.__setattr__(self, "dims", tuple(check_axis_number(d, "dims") for d in dims))

    def output_shape(self, in_shape: Shape) -> Shape:
        rank = len(in_shape) + 1
        if len(self.dims) != rank:
            raise SymcnnError(f"expected {rank} axes (the batch axis first), got "
                              f"{len(self.dims)}", field="dims")
        dims = [d + rank if d < 0 else d for d in self.dims]
        if sorted(dims) != list(range(rank)):
            raise SymcnnError(f"{list(self.dims)} is not a permutation of the axes 0 to "
                              f"{rank - 1}", field="dims")
        if dims[0] != 0:
            raise SymcnnError("must keep the batch axis (0) first", field="dims")
        return tuple(in_shape[d - 1] for d in dims[1:])

    @property
    def allocates_output(self) -> bool:
        return False


@dataclass(frozen=True, kw_only=True)
class Unflatten(Layer):
    """As ``torch.nn.Unflatten``: axis ``dim`` split into ``unflattened_size`` (one entry may be
    -1: what is left).  A view (``x.view(b, g, c // g, h, w)`` in a channel shuffle).

    >>> Unflatten(dim=1, unflattened_size=(2, -1)).output_shape((116, 12, 12))
    (2, 58, 12, 12)
    """

    dim: int
    unflattened_size: tuple[sympy.Expr, ...]

    def __post_init__(self) -> None:
        check_axis_number(self.dim, "dim")
        value = self.unflattened_size
        items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        if not items:
            raise SymcnnError("expected one size or more", field="unflattened_size")
        sizes = []
        for v in items:
            v = to_expr(v, "unflattened_size")
            sizes.append(v if v == -1 else check_size(v, "unflattened_size"))
        if sizes.count(-1) > 1:
            raise SymcnnError("only one size may be -1", field="unflattened_size")
        object.__setattr__(self, "unflattened_size", tuple(sizes))

    def output_shape(self, in_shape: Shape) -> Shape:
        axis = sample_axis(self.dim, in_shape, "dim")
        n, sizes = in_shape[axis], list(self.unflattened_size)
        known = product([s for s in sizes if s != -1])
        if -1 in sizes:
            rest = sympy.sympify(n) / known
            if rest.is_integer is False or (rest.is_number and rest < 1):
                raise SymcnnError(f"{n} does not divide into {tuple(self.unflattened_size)}",
                                  field="unflattened_size")
            sizes[sizes.index(-1)] = rest
        elif not _exact(known, n):
            raise SymcnnError(f"the sizes {tuple(sizes)} multiply to {known}, not the {n} of "
                              f"axis {self.dim}", field="unflattened_size")
        return (*in_shape[:axis], *sizes, *in_shape[axis + 1:])

    @property
    def allocates_output(self) -> bool:
        return False


@dataclass(frozen=True, kw_only=True)
class Contiguous(Layer):
    """``x.contiguous()`` of a tensor that is not (after a permute or a transpose): a copy in
    the plain layout, of the same shape.  (Of a contiguous tensor PyTorch returns the tensor
    itself; the importer then writes nothing.)"""

    #: Its input's gradient is its output's: the copy's backward passes it on.
    passes_gradient: ClassVar[bool] = True


@dataclass(frozen=True, kw_only=True)
class Select(Layer):
    """``x.select(dim, index)``, or ``x[:, index]``: one position of axis ``dim``, which
    disappears (a ViT's class token: ``x[:, 0]``).  A view.

    >>> Select(dim=1, index=0).output_shape((197, 768))
    (768,)
    """

    dim: int
    index: int

    def __post_init__(self) -> None:
        check_axis_number(self.dim, "dim")
        check_axis_number(self.index, "index")

    def output_shape(self, in_shape: Shape) -> Shape:
        axis = sample_axis(self.dim, in_shape, "dim")
        n = sympy.sympify(in_shape[axis])
        i = self.index
        if n.is_number and not -n <= i < n or (not n.is_number and i < 0):
            raise SymcnnError(f"index {i} is out of range for an axis of {n}", field="index")
        return (*in_shape[:axis], *in_shape[axis + 1:])

    @property
    def allocates_output(self) -> bool:
        return False


@dataclass(frozen=True, kw_only=True)
class Narrow(Layer):
    """``x.narrow(dim, start, length)``: ``length`` positions of axis ``dim`` from ``start``
    (``x[:, a:b]``; ``x.chunk(2, dim=1)`` is two of them).  A view.

    >>> Narrow(dim=1, start=58, length=58).output_shape((116, 28, 28))
    (58, 28, 28)
    """

    dim: int
    start: sympy.Expr
    length: sympy.Expr

    def __post_init__(self) -> None:
        check_axis_number(self.dim, "dim")
        object.__setattr__(self, "start", check_size(to_expr(self.start, "start"), "start",
                                                     minimum=0))
        object.__setattr__(self, "length", check_size(to_expr(self.length, "length"), "length"))

    def output_shape(self, in_shape: Shape) -> Shape:
        axis = sample_axis(self.dim, in_shape, "dim")
        beyond = sympy.sympify(self.start + self.length - in_shape[axis])
        if (beyond.is_number and beyond > 0) or beyond.is_positive:
            raise SymcnnError(f"start {self.start} + length {self.length} is beyond the axis "
                              f"of {in_shape[axis]}", field="length")
        return (*in_shape[:axis], self.length, *in_shape[axis + 1:])

    @property
    def allocates_output(self) -> bool:
        return False


@dataclass(frozen=True, kw_only=True)
class Mean(Layer):
    """``x.mean(dim, keepdim)`` (``torch.mean``) over the axes ``dim``, never the batch axis
    (global average pooling: ``x.mean([2, 3])``).

    >>> Mean(dim=(2, 3)).output_shape((1280, 7, 7)), Mean(dim=-1, keepdim=True).output_shape((4, 5))
    ((1280,), (4, 1))
    """

    dim: tuple[int, ...]
    keepdim: bool = False

    def __post_init__(self) -> None:
        dims = tuple(self.dim) if isinstance(self.dim, (tuple, list)) else (self.dim,)
        if not dims:
            raise SymcnnError("give the axes to average over (all of them would include the "
                              "batch axis)", field="dim")
        object.__setattr__(self, "dim", tuple(check_axis_number(d, "dim") for d in dims))
        check_flag(self.keepdim, "keepdim")

    def output_shape(self, in_shape: Shape) -> Shape:
        axes = [sample_axis(d, in_shape, "dim") for d in self.dim]
        if len(set(axes)) != len(axes):
            raise SymcnnError(f"{list(self.dim)} names an axis twice", field="dim")
        if self.keepdim:
            return tuple(sympy.Integer(1) if i in axes else n for i, n in enumerate(in_shape))
        return tuple(n for i, n in enumerate(in_shape) if i not in axes)


@dataclass(frozen=True, kw_only=True)
class Parameter(Layer):
    """A learned tensor that a ``forward`` uses directly (``self.layer_scale * x``, a ViT's
    class token and position embedding): ``torch.nn.Parameter`` of ``shape``, counted once.
    ``shape`` has no batch axis: the tensor is the same for every sample and broadcasts
    over the batch (a leading axis of 1 in PyTorch, ``(1, 1, 768)``, is that batch axis:
    ``shape = [1, 768]``; a ``(96, 1, 1)`` scale broadcast against ``(b, 96, h, w)`` is
    ``[96, 1, 1]``).

    It reads nothing: its input (by default the layer before) only places it in the
    spec, and is not kept alive by it.  It makes no activation: the tensor is a parameter,
    resident with the others.

    >>> p = Parameter(shape=(1, 768))
    >>> p.output_shape((3, 224, 224)), p.params((3, 224, 224)), p.allocates_output
    ((1, 768), 768, False)
    """

    shape: tuple[sympy.Expr, ...]
    reads_inputs: ClassVar[bool] = False

    def __post_init__(self) -> None:
        value = self.shape
        items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        if not items:
            raise SymcnnError("expected one size or more", field="shape")
        object.__setattr__(self, "shape", tuple(check_size(to_expr(v, "shape"), "shape")
                                                for v in items))

    def output_shape(self, in_shape: Shape) -> Shape:
        return self.shape

    def params(self, in_shape: Shape) -> sympy.Expr:
        return product(self.shape)

    def params_derivation(self, in_shape: Shape) -> Derivation:
        n = self.params(in_shape)
        return Derivation(sympy.Symbol("n"), sympy.Mul(*self.shape, evaluate=False), n)

    @property
    def allocates_output(self) -> bool:
        return False

"""Attention: ``torch.nn.MultiheadAttention`` as self-attention over a sequence."""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from symcnn.errors import SymcnnError
from symcnn.layers.base import (
    Derivation,
    Layer,
    Shape,
    check_flag,
    check_size,
    to_expr,
    written_add,
    written_mul,
)
from symcnn.symbols import size


def _probability(value, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise SymcnnError(f"must be a probability between 0 and 1, got {value!r}", field=field)


@dataclass(frozen=True, kw_only=True)
class MultiheadAttention(Layer):
    """As ``torch.nn.MultiheadAttention`` called as self-attention, ``attn(x, x, x)``, on an
    input of shape (L, E): ``L`` positions of ``embed_dim`` features (the batch first:
    ``batch_first`` must be true).  ``need_weights`` is the argument of the call (PyTorch's
    default true: it also returns the attention weights, averaged over the heads, which a
    ViT does not ask for).

    Parameters: the input projection ``3 E^2 + 3 E`` and the output projection ``E^2 + E``,
    ``4 E^2 + 4 E`` in all (``4 E^2`` without ``bias``; ``2 E`` more with ``add_bias_kv``).
    The attention matrix of each sample has ``num_heads * L^2`` elements.

    >>> attn = MultiheadAttention(embed_dim=768, num_heads=12, batch_first=True)
    >>> attn.output_shape((197, 768)), attn.params_derivation((197, 768)).text
    ((197, 768), '4*E**2 + 4*E = 4*768**2 + 4*768 = 2362368')
    >>> attn.attention_elements((size("L"), 768))
    12*L**2
    """

    embed_dim: sympy.Expr
    num_heads: sympy.Expr
    dropout: float = 0.0
    bias: bool = True
    add_bias_kv: bool = False
    add_zero_attn: bool = False
    kdim: sympy.Expr | None = None
    vdim: sympy.Expr | None = None
    batch_first: bool = False
    need_weights: bool = True

    def __post_init__(self) -> None:
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("embed_dim", check_size(to_expr(self.embed_dim, "embed_dim"), "embed_dim"))
        set_("num_heads", check_size(to_expr(self.num_heads, "num_heads"), "num_heads"))
        if (self.embed_dim / self.num_heads).is_integer is False:
            raise SymcnnError(f"num_heads={self.num_heads} does not divide embed_dim="
                              f"{self.embed_dim}", field="num_heads")
        _probability(self.dropout, "dropout")
        for name in ("bias", "add_bias_kv", "add_zero_attn", "batch_first", "need_weights"):
            check_flag(getattr(self, name), name)
        if not self.batch_first:
            raise SymcnnError("symcnn's shapes put the batch first: write batch_first = true "
                              "(and call it on (batch, L, E) inputs)", field="batch_first")
        for name in ("kdim", "vdim"):
            value = getattr(self, name)
            if value is not None and sympy.expand(to_expr(value, name) - self.embed_dim) != 0:
                raise SymcnnError(f"self-attention reads keys and values of embed_dim "
                                  f"({self.embed_dim}) features, got {value}", field=name)

    def output_shape(self, in_shape: Shape) -> Shape:
        if len(in_shape) != 2:
            raise SymcnnError(f"expects an (L, E) input, got shape {tuple(in_shape)}")
        if sympy.expand(sympy.sympify(in_shape[1]) - self.embed_dim) != 0:
            raise SymcnnError(f"the input has {in_shape[1]} features, not {self.embed_dim}",
                              field="embed_dim")
        return tuple(in_shape)

    def param_tensors(self, in_shape: Shape) -> tuple[sympy.Expr, ...]:
        self.output_shape(in_shape)
        e = self.embed_dim
        bias = (3 * e,) if self.bias else ()
        kv = (e, e) if self.add_bias_kv else ()
        return (3 * e * e, *bias, *kv, e * e, *((e,) if self.bias else ()))

    def params(self, in_shape: Shape) -> sympy.Expr:
        return sympy.Add(*self.param_tensors(in_shape))

    def params_derivation(self, in_shape: Shape) -> Derivation:
        def form(e):
            terms = [written_mul(4, e**2 if isinstance(e, sympy.Symbol) else
                                 sympy.Pow(e, 2, evaluate=False))]
            if self.bias:
                terms.append(written_mul(4, e))
            if self.add_bias_kv:
                terms.append(written_mul(2, e))
            return written_add(*terms) if len(terms) > 1 else terms[0]

        return Derivation(form(size("E")), form(self.embed_dim), self.params(in_shape))

    def attention_elements(self, in_shape: Shape) -> sympy.Expr:
        """Elements of one sample's attention matrix: ``num_heads * L * S`` (``S = L``, one
        more with ``add_bias_kv`` and with ``add_zero_attn``)."""
        length = in_shape[0]
        keys = length + int(self.add_bias_kv) + int(self.add_zero_attn)
        return self.num_heads * length * keys

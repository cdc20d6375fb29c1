"""The tensor operations, learned tensors and attention (``symcnn.layers.tensor``, ``Mul``,
``StochasticDepth``, ``MultiheadAttention``) against PyTorch at random sizes: output shape
(without the batch axis) and parameter count as PyTorch computes them, on meta tensors; where
PyTorch refuses, symcnn refuses too with a one-line ``SymcnnError``."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

import sympy  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from symcnn import SymcnnError  # noqa: E402
from symcnn.layers import LAYER_TYPES  # noqa: E402
from symcnn.symbols import size  # noqa: E402
from tests.test_torch_layers import SETTINGS  # noqa: E402

BATCH = 2


def ints(shape):
    return tuple(sympy.Integer(v) for v in shape)


def symcnn_shape(layer, *shapes):
    try:
        return tuple(int(v) for v in layer.output_shape(*map(ints, shapes)))
    except SymcnnError as err:
        assert "\n" not in str(err)
        return err


def torch_shape(fn, *tensors):
    try:
        out = fn(*tensors)
    except (RuntimeError, IndexError, ValueError, TypeError):
        return None
    return tuple(out.shape[1:])


def agree(layer, fn, *shapes, batch_axes=None):
    """symcnn's shape for ``shapes`` (per sample) equals PyTorch's on meta tensors with a batch
    axis (``batch_axes[i]`` False: that input is a tensor without one, a learned tensor)."""
    batch_axes = batch_axes or [True] * len(shapes)
    tensors = [torch.empty((BATCH, *s) if b else s, device="meta")
               for s, b in zip(shapes, batch_axes)]
    theirs, mine = torch_shape(fn, *tensors), symcnn_shape(layer, *shapes)
    if theirs is None:
        assert isinstance(mine, SymcnnError), f"PyTorch refuses {shapes}, symcnn gives {mine}"
    else:
        assert mine == theirs, f"{layer} on {shapes}: symcnn {mine}, PyTorch {theirs}"
    return mine


shapes = st.lists(st.integers(1, 6), min_size=1, max_size=4).map(tuple)


@st.composite
def broadcast_pairs(draw):
    a = draw(shapes)
    b = [draw(st.sampled_from([n, 1, 1, n + 1])) for n in a]  # n + 1: does not broadcast
    learned = draw(st.booleans())
    if learned:
        b = b[draw(st.integers(0, len(b) - 1)):]      # a learned tensor may have fewer axes
    return a, tuple(b), learned


@SETTINGS
@given(broadcast_pairs(), st.booleans())
def test_mul_broadcasts_as_pytorch(case, swap):
    a, b, learned = case
    batch_axes = [True, not learned]
    if swap:
        a, b, batch_axes = b, a, batch_axes[::-1]
    agree(LAYER_TYPES["Mul"](), lambda x, y: x * y, a, b, batch_axes=batch_axes)


@SETTINGS
@given(shapes, st.floats(-4, 4))
def test_mul_by_a_number(shape, other):
    layer = LAYER_TYPES["Mul"](other=other)
    assert agree(layer, lambda x: x * other, shape) == shape
    assert layer.params(ints(shape)) == 0


def test_mul_takes_the_number_or_a_second_input():
    with pytest.raises(SymcnnError, match="Mul takes two inputs, got 1 input"):
        LAYER_TYPES["Mul"]().output_shape((4, 5))
    with pytest.raises(SymcnnError, match="one input and a number"):
        LAYER_TYPES["Mul"](other=2.0).output_shape((4, 5), (4, 5))
    c = size("C")
    assert LAYER_TYPES["Mul"]().conditions((c, 5), (4, 1)) == (sympy.Eq(c, 4),)


@SETTINGS
@given(shapes, st.data())
def test_mean_as_pytorch(shape, data):
    rank = len(shape) + 1
    dims = data.draw(st.lists(st.integers(-rank, rank - 1), min_size=1, max_size=rank))
    keepdim = data.draw(st.booleans())
    layer = LAYER_TYPES["Mean"](dim=tuple(dims), keepdim=keepdim)
    if any(d % rank == 0 for d in dims):   # over the batch axis: PyTorch can, symcnn refuses
        assert isinstance(symcnn_shape(layer, shape), SymcnnError)
        return
    agree(layer, lambda x: x.mean(dims, keepdim=keepdim), shape)


@SETTINGS
@given(shapes, st.data())
def test_permute_as_pytorch(shape, data):
    rank = len(shape) + 1
    dims = data.draw(st.permutations(range(rank)))
    written = [d - rank if data.draw(st.booleans()) else d for d in dims]
    layer = LAYER_TYPES["Permute"](dims=tuple(written))
    if dims[0] != 0:                       # moves the batch axis: symcnn refuses
        assert isinstance(symcnn_shape(layer, shape), SymcnnError)
        return
    agree(layer, lambda x: x.permute(*written), shape)


@SETTINGS
@given(shapes, st.data())
def test_unflatten_as_pytorch(shape, data):
    rank = len(shape) + 1
    dim = data.draw(st.integers(1, rank - 1))
    n = shape[dim - 1]
    first = data.draw(st.sampled_from([d for d in range(1, n + 2)]))
    sizes = (first, -1) if data.draw(st.booleans()) else (first, max(1, n // first))
    agree(LAYER_TYPES["Unflatten"](dim=dim, unflattened_size=sizes),
          lambda x: torch.nn.Unflatten(dim, sizes)(x), shape)


def test_unflatten_in_symbols():
    c = size("C")
    out = LAYER_TYPES["Unflatten"](dim=1, unflattened_size=(2, -1)).output_shape((c, 7, 7))
    assert out == (2, c / 2, 7, 7)


@SETTINGS
@given(shapes, st.data())
def test_select_and_narrow_as_pytorch(shape, data):
    rank = len(shape) + 1
    dim = data.draw(st.integers(1, rank - 1))
    n = shape[dim - 1]
    index = data.draw(st.integers(-n - 1, n))
    agree(LAYER_TYPES["Select"](dim=dim, index=index), lambda x: x.select(dim, index), shape)
    start = data.draw(st.integers(0, n))
    length = data.draw(st.integers(1, n + 1))
    agree(LAYER_TYPES["Narrow"](dim=dim, start=start, length=length),
          lambda x: x.narrow(dim, start, length), shape)


@SETTINGS
@given(shapes)
def test_contiguous_and_parameter(shape):
    assert agree(LAYER_TYPES["Contiguous"](), lambda x: x.transpose(0, 1).contiguous()
                 .transpose(0, 1), shape) == shape
    p = torch.nn.Parameter(torch.empty(shape, device="meta"))
    layer = LAYER_TYPES["Parameter"](shape=shape)
    assert layer.params((3, 8, 8)) == p.numel() and layer.output_shape((3, 8, 8)) == shape
    assert not layer.allocates_output and layer.params_derivation(()).value == p.numel()


@SETTINGS
@given(shapes, st.floats(0, 1), st.sampled_from(["row", "batch"]))
def test_stochastic_depth_keeps_the_shape(shape, p, mode):
    layer = LAYER_TYPES["StochasticDepth"](p=p, mode=mode)
    assert layer.output_shape(ints(shape)) == shape and layer.params(ints(shape)) == 0
    assert layer.allocates_output == (p > 0)


@SETTINGS
@given(st.integers(1, 4), st.integers(1, 5), st.integers(1, 9), st.booleans(), st.booleans(),
       st.booleans())
def test_multihead_attention_as_pytorch(heads, head_dim, length, bias, bias_kv, zero_attn):
    e = heads * head_dim
    kwargs = dict(embed_dim=e, num_heads=heads, bias=bias, add_bias_kv=bias_kv,
                  add_zero_attn=zero_attn, batch_first=True)
    module = torch.nn.MultiheadAttention(**kwargs, device="meta")
    layer = LAYER_TYPES["MultiheadAttention"](**kwargs)
    x = torch.empty((BATCH, length, e), device="meta")
    out, weights = module(x, x, x)
    assert layer.output_shape(ints((length, e))) == tuple(out.shape[1:])
    assert layer.params(ints((length, e))) == sum(p.numel() for p in module.parameters())
    assert [int(t) for t in layer.param_tensors(ints((length, e)))] == \
        [p.numel() for p in module.parameters()]
    assert layer.params_derivation(ints((length, e))).value == layer.params(ints((length, e)))
    x = torch.zeros((BATCH, length, e))
    scores = torch.nn.MultiheadAttention(**kwargs)(x, x, x, average_attn_weights=False)[1]
    assert layer.attention_elements((length, e)) == math.prod(scores.shape[1:])
    if bias and not bias_kv:
        assert layer.params((length, e)) == 4 * e * e + 4 * e


def test_multihead_attention_refusals():
    with pytest.raises(SymcnnError, match="batch_first"):
        LAYER_TYPES["MultiheadAttention"](embed_dim=8, num_heads=2)
    with pytest.raises(SymcnnError, match="num_heads=3 does not divide"):
        LAYER_TYPES["MultiheadAttention"](embed_dim=8, num_heads=3, batch_first=True)
    with pytest.raises(SymcnnError, match="not 8"):
        LAYER_TYPES["MultiheadAttention"](embed_dim=8, num_heads=2, batch_first=True) \
            .output_shape((5, 6))


def test_attention_in_symbols():
    length = size("L")
    layer = LAYER_TYPES["MultiheadAttention"](embed_dim=768, num_heads=12, batch_first=True)
    assert layer.output_shape((length, 768)) == (length, 768)
    assert layer.attention_elements((length, 768)) == 12 * length**2


@pytest.mark.parametrize("shapes", [[(6, 5, 4)], [(6, 5, 4), (2, 5, 4)]])
def test_concat_of_one_input_is_a_copy(shapes):
    xs = [torch.zeros((BATCH, *s)) for s in shapes]
    out = torch.cat(xs, dim=1)
    assert out.data_ptr() != xs[0].data_ptr()            # PyTorch copies even one input
    layer = LAYER_TYPES["Concat"]()
    assert layer.output_shape(*map(ints, shapes)) == tuple(out.shape[1:])
    assert layer.allocates_output


#: One check per layer type of this file, run by tests/test_torch_layers.py's
#: test_every_layer_type (every type in LAYER_TYPES must be compared with PyTorch somewhere).
TENSOR_OPS = {
    "Mul": lambda: agree(LAYER_TYPES["Mul"](), lambda x, y: x * y, (6, 5, 4), (6, 1, 1)),
    "Mean": lambda: agree(LAYER_TYPES["Mean"](dim=(2, 3)), lambda x: x.mean((2, 3)), (6, 5, 4)),
    "Permute": lambda: agree(LAYER_TYPES["Permute"](dims=(0, 2, 3, 1)),
                             lambda x: x.permute(0, 2, 3, 1), (6, 5, 4)),
    "Unflatten": lambda: agree(LAYER_TYPES["Unflatten"](dim=1, unflattened_size=(2, -1)),
                               lambda x: x.unflatten(1, (2, -1)), (6, 5, 4)),
    "Contiguous": lambda: agree(LAYER_TYPES["Contiguous"](), lambda x: x.contiguous(), (6, 5)),
    "Select": lambda: agree(LAYER_TYPES["Select"](dim=1, index=0), lambda x: x[:, 0], (6, 5)),
    "Narrow": lambda: agree(LAYER_TYPES["Narrow"](dim=1, start=3, length=3),
                            lambda x: x.chunk(2, 1)[1], (6, 5)),
    "Parameter": lambda: test_contiguous_and_parameter.hypothesis.inner_test((1, 768)),
    "StochasticDepth": lambda: agree(LAYER_TYPES["StochasticDepth"](p=0.2),
                                     lambda x: x * torch.empty((BATCH, 1, 1), device="meta"),
                                     (6, 5)),
    "MultiheadAttention": lambda: test_multihead_attention_as_pytorch.hypothesis.inner_test(
        3, 4, 7, True, False, False),
}

"""Receptive fields (symcnn.analysis.receptive): the lecture's and VGG-16's by hand, and random
chains against PyTorch's gradients: the input pixels with a non-zero gradient for one output
element are its field."""

from __future__ import annotations

from pathlib import Path

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symcnn
from symcnn import analyze, load_spec, make_report
from symcnn.analysis.receptive import receptive_fields
from symcnn.layers import (
    AdaptiveAvgPool2d,
    Add,
    AvgPool2d,
    Conv1d,
    Conv2d,
    ConvTranspose1d,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    Upsample,
)
from symcnn.network import INPUT, Network, Node
from symcnn.render.jsonreport import to_json
from symcnn.symbols import size

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def fields(network):
    return receptive_fields(analyze(network))


# ---------------------------------------------------------------- by hand

def test_lecture_by_hand():
    """3x3x3 convolutions, every second with stride 2: the field grows by 2 jumps per layer and
    the jump doubles after each strided one (L4: 13, L8: 61 on each axis)."""
    f = fields(symcnn.example_spec().network)
    sizes, jump, expected = [], 1, 1
    for i in range(8):
        expected += 2 * jump
        jump *= 2 if i % 2 else 1
        sizes.append(expected)
        assert [(a.size, a.jump, a.start) for a in f[i]] == [(expected, jump, 0)] * 3
    assert sizes[3] == 13 and sizes[7] == 61
    # Flatten keeps each element's field; the linear layer sees every one of L8's 9 x 11 x 9
    assert f[8] == f[7]
    assert [(a.size, a.jump) for a in f[9]] == [(61 + 8 * 16, 0), (61 + 10 * 16, 0),
                                               (61 + 8 * 16, 0)]
    doc = to_json(make_report(symcnn.example_spec()))
    assert doc["layers"][3]["receptive_field"] == [{"size": 13, "jump": 4, "start": 0}] * 3


def test_vgg16_by_hand():
    """3x3 convolutions with padding 1 add 2 jumps, 2x2 pools add one and double it:
    conv5_3 sees 196 pixels, pool5 212 (Araujo et al., Distill 2019, table of fields)."""
    a = analyze(load_spec(EXAMPLES / "vgg16.toml").network)
    by_name = dict(zip((r.name for r in a.rows), receptive_fields(a)))
    conv53 = [r.name for r in a.rows if r.type_name == "Conv2d"][-1]
    pool5 = [r.name for r in a.rows if r.type_name == "MaxPool2d"][-1]
    assert [(x.size, x.jump, x.start) for x in by_name[conv53]] == [(196, 16, -90)] * 2
    assert [(x.size, x.jump) for x in by_name[pool5]] == [(212, 32)] * 2


def test_symbolic_kernel_and_dilation():
    k, d = size("k"), size("d")
    net = Network.sequential("s", (1, 64, 64), [
        Conv2d(out_channels=1, kernel_size=k, dilation=d, padding=1),
        MaxPool2d(kernel_size=2), Conv2d(out_channels=1, kernel_size=3, stride=2)])
    f = fields(net)
    assert sympy.expand(f[0][0].size - (d * (k - 1) + 1)) == 0
    assert sympy.expand(f[2][0].size - (d * (k - 1) + 1 + 1 + 2 * 2)) == 0
    assert f[2][0].jump == 4 and f[2][0].start == -1


def test_graph_takes_the_largest_over_the_paths():
    net = Network("g", (1, 32, 32), (
        Node("a", Conv2d(out_channels=1, kernel_size=3, padding=1), (INPUT,)),
        Node("b", Conv2d(out_channels=1, kernel_size=7, padding=3), (INPUT,)),
        Node("c", Conv2d(out_channels=1, kernel_size=3, padding=1), ("a",)),
        Node("sum", Add(), ("c", "b")),
        Node("skip", Add(), ("sum", INPUT))))
    f = fields(net)
    assert (f[3][0].size, f[3][0].start) == (7, -3)      # the 7x7 path, not the two 3x3
    assert (f[4][0].size, f[4][0].start) == (7, -3)      # the identity adds nothing
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = (ones(nn.Conv2d(1, 1, k, padding=k // 2)) for k in (3, 7, 3))

        def forward(self, x):
            return self.c(self.a(x)) + self.b(x) + x

    assert gradient_extent(Model(), (1, 32, 32), (16, 16)) == [(13, 19), (13, 19)]


def test_unknown_where_axes_are_flattened_and_adaptive_pooling():
    # 5 positions into 3 bins: [0, 2), [1, 4), [3, 5); the second is the largest
    net = Network.sequential("f", (2, 5, 5), [
        AdaptiveAvgPool2d(output_size=(3, 1)), Flatten(start_dim=2), Conv1d(out_channels=1,
                                                                             kernel_size=2)])
    f = fields(net)
    assert [(a.size, a.jump) for a in f[0]] == [(3, sympy.Rational(5, 3)), (5, 0)]
    assert f[2] is None
    assert fields(Network.sequential("v", (8,), [Linear(out_features=2)])) == ((),)


def test_transposed_convolution_by_hand():
    """Kernel 3, stride 2, padding 1: output ``2i`` reads input ``i``, output ``2i + 1`` the
    inputs ``i`` and ``i + 1``; a convolution of kernel 2 after it sees 2 inputs from every
    element (the recurrence's ``2 + 1/2`` is no field)."""
    f = fields(Network.sequential("t", (1, 20), [
        ConvTranspose1d(out_channels=1, kernel_size=3, stride=2, padding=1),
        Conv1d(out_channels=1, kernel_size=2)]))
    up, after = f[0][0], f[1][0]
    assert [up.pixels(o) for o in range(5)] == [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2)]
    assert (up.size, up.jump, up.start) == (2, sympy.Rational(1, 2), 0)
    assert [after.pixels(o) for o in range(4)] == [(0, 1), (0, 1), (1, 2), (1, 2)]
    assert (after.size, after.jump) == (2, sympy.Rational(1, 2))
    doc = to_json(make_report(symcnn.parse_spec(
        '[input]\nshape = [1, 20]\n[[layers]]\ntype = "ConvTranspose1d"\nout_channels = 1\n'
        'kernel_size = 3\nstride = 2\npadding = 1\n')))
    assert doc["layers"][0]["receptive_field"] == [
        {"size": 2, "jump": "1/2", "start": 0, "phases": [[0, 0], [0, 1]]}]
    # stride 3 over kernel 2: every third output sees no input
    gaps = fields(Network.sequential("g", (1, 9), [ConvTranspose1d(out_channels=1,
                                                                   kernel_size=2, stride=3)]))
    assert [gaps[0][0].pixels(o) for o in range(4)] == [(0, 0), (0, 0), None, (1, 1)]


def test_upsampling_by_hand():
    """Twice the size, linear (align_corners false): output ``o`` samples position ``(2o -
    1)/4``, between two pixels, except at the borders, where PyTorch clamps it to the map:
    output 0's ``-1/4`` is pixel 0, output 19's ``37/4`` reads pixel 9 and (clamped) 9 again;
    nearest: pixel ``floor(o/2)``."""
    linear = fields(Network.sequential("l", (1, 10), [Upsample(scale_factor=2,
                                                               mode="linear")]))[0][0]
    assert [linear.pixels(o) for o in range(4)] == [(0, 0), (0, 1), (0, 1), (1, 2)]
    assert [linear.pixels(o) for o in range(17, 20)] == [(8, 9), (8, 9), (9, 9)]
    assert (linear.size, linear.jump, linear.start) == (2, sympy.Rational(1, 2), 0)
    nearest = fields(Network.sequential("n", (1, 10), [Upsample(scale_factor=3)]))[0][0]
    assert [nearest.pixels(o) for o in range(4)] == [(0, 0), (0, 0), (0, 0), (1, 1)]
    assert (nearest.size, nearest.jump) == (1, sympy.Rational(1, 3))


# ---------------------------------------------------------------- against PyTorch's gradients

def ones(module):
    """A convolution of ones, no bias: a positive input reaches every pixel of the field."""
    import torch
    with torch.no_grad():
        module.weight.fill_(1.0)
        if module.bias is not None:
            module.bias.zero_()
    return module


def gradient_extent(model, shape, element) -> list[tuple[int, int]]:
    """Per spatial axis, the first and last input index with a non-zero gradient of the output
    element at ``element`` (spatial indices, channel 0, sample 0)."""
    import torch
    x = torch.ones((1, *shape), dtype=torch.float64, requires_grad=True)
    out = model.double()(x)
    out[(0, 0, *element)].backward()
    nonzero = x.grad[0, 0].nonzero()
    return [(int(nonzero[:, axis].min()), int(nonzero[:, axis].max()))
            for axis in range(len(shape) - 1)]


@st.composite
def chains(draw):
    """2 to 4 windows (a convolution, a max or average pool) with their own geometry on each of
    the two axes, on an input large enough that some output's field lies inside it."""
    layers, torch_layers = [], []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "max", "avg"]))
        k = tuple(draw(st.integers(1, 4)) for _ in range(2))
        s = tuple(draw(st.integers(1, 3)) for _ in range(2))
        p = tuple(draw(st.integers(0, kk // 2)) for kk in k)
        d = tuple(draw(st.integers(1, 3)) for _ in range(2)) if kind != "avg" else (1, 1)
        if kind == "conv":
            layers.append(Conv2d(out_channels=1, kernel_size=k, stride=s, padding=p, dilation=d))
        elif kind == "max":
            layers.append(MaxPool2d(kernel_size=k, stride=s, padding=p, dilation=d))
        else:
            layers.append(AvgPool2d(kernel_size=k, stride=s, padding=p))
        if draw(st.booleans()):
            layers.append(ReLU())
        torch_layers.append((k, s, p, d))
    return layers, torch_layers


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(chains(), st.integers(0, 50))
def test_random_chains_against_gradients(chain, pick):
    """Every window is a convolution of ones of its geometry in PyTorch (a max pool's gradient
    reaches only its largest input, so the pools are measured as what they read): the
    gradient's extent for an output element ``i`` inside the input is
    ``[start + i jump, start + i jump + size - 1]`` on each axis."""
    torch = pytest.importorskip("torch")
    layers, geometry = chain
    n = 160
    net = Network.sequential("chain", (1, n, n - 7), layers)
    try:
        a = analyze(net)
    except symcnn.SymcnnError:
        return  # the windows do not fit the input
    field = receptive_fields(a)[-1]
    out = a.output_shape[1:]
    model = torch.nn.Sequential(*(ones(torch.nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d,
                                                       bias=False))
                                  for k, s, p, d in geometry))
    # output elements whose field lies inside the input (none: the input is too small for it)
    inside = [[i for i in range(int(m)) if f.start + i * f.jump >= 0
               and f.start + i * f.jump + f.size - 1 <= size_ - 1]
              for f, m, size_ in zip(field, out, (n, n - 7))]
    if not all(inside):
        return
    element = tuple(choice[pick % len(choice)] for choice in inside)
    expected = [(int(f.start + i * f.jump), int(f.start + i * f.jump + f.size - 1))
                for f, i in zip(field, element)]
    assert gradient_extent(model, (1, n, n - 7), element) == expected


def _upsampling_layers(draw):
    """A transposed convolution or an upsampling, 1-d, in symcnn and as a torch module."""
    import torch
    if draw(st.booleans()):
        k, s, d = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
        p = draw(st.integers(0, d * (k - 1) // 2))
        op = draw(st.integers(0, max(s, d) - 1))
        return (ConvTranspose1d(out_channels=1, kernel_size=k, stride=s, padding=p, dilation=d,
                                output_padding=op, bias=False),
                ones(torch.nn.ConvTranspose1d(1, 1, k, stride=s, padding=p, dilation=d,
                                              output_padding=op, bias=False)))
    mode = draw(st.sampled_from(["nearest", "nearest-exact", "linear"]))
    factor = draw(st.integers(2, 4))
    corners = draw(st.booleans()) if mode == "linear" else None
    return (Upsample(scale_factor=factor, mode=mode, align_corners=corners),
            torch.nn.Upsample(scale_factor=factor, mode=mode, align_corners=corners))


@st.composite
def up_and_down(draw):
    """1 to 4 layers, at least one a transposed convolution or an upsampling, the others
    convolutions."""
    import torch
    layers = []
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()) or not layers:
            layers.append(_upsampling_layers(draw))
            continue
        k, s, d = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
        p = draw(st.integers(0, k // 2))
        layers.append((Conv1d(out_channels=1, kernel_size=k, stride=s, padding=p, dilation=d,
                              bias=False),
                       ones(torch.nn.Conv1d(1, 1, k, stride=s, padding=p, dilation=d,
                                            bias=False))))
    return [a for a, _ in layers], [b for _, b in layers]


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(up_and_down(), st.integers(64, 112))
def test_transposed_and_upsampling_against_gradients(chain, n):
    """Every output element away from the borders (its field and its neighbours' at least two
    fields' sizes inside the input, where no layer reads past the end of its input or clamps
    an index): the input pixels with a non-zero derivative of that element (PyTorch's
    Jacobian) run from the first to the last pixel :meth:`AxisField.pixels` gives; where the
    field says the element sees no pixel, it has none (and where no element sees one, the
    whole Jacobian is 0).  (Where a source position is a whole pixel, PyTorch's
    floating-point scale can give the next pixel a weight of ``1e-16``: not counted.)"""
    torch = pytest.importorskip("torch")
    layers, modules = chain
    try:
        a = analyze(Network.sequential("chain", (1, n), layers))
    except symcnn.SymcnnError:
        return  # the layers do not fit the input
    model = torch.nn.Sequential(*modules).double()
    jacobian = torch.autograd.functional.jacobian(model, torch.ones((1, 1, n),
                                                                    dtype=torch.float64))
    rows = jacobian[0, 0, :, 0, 0, :]
    fields = receptive_fields(a)[-1]
    if fields == ():  # every element reads only a transposed one's gaps: no field
        assert not rows.any()
        return
    if fields is None:  # unknown ('?'): a pattern longer than symcnn follows
        return
    field = fields[0]
    margin = 2 * int(field.size) + 2
    inside = [o for o in range(int(a.output_shape[1])) if field.pixels(o) is not None
              and field.pixels(o)[0] >= margin and field.pixels(o)[1] <= n - 1 - margin]
    assert rows.shape[0] == a.output_shape[1]
    if not inside:
        return
    for o in range(inside[0], inside[-1] + 1):
        nonzero = (rows[o].abs() > 1e-9).nonzero()[:, 0]  # not a rounding error's weight
        seen = (int(nonzero.min()), int(nonzero.max())) if len(nonzero) else None
        assert seen == field.pixels(o), o


@pytest.mark.parametrize("mode, factor", [("bicubic", 2), ("bicubic", 3), ("bilinear", 3)])
def test_two_dimensional_interpolation_against_gradients(mode, factor):
    """Bicubic upsampling reads four pixels where the source position falls between two, one
    where it is a whole pixel (its other weights are 0): every interior element's gradient."""
    torch = pytest.importorskip("torch")
    a = analyze(Network.sequential("u", (1, 16, 16), [Upsample(scale_factor=factor, mode=mode)]))
    field = receptive_fields(a)[-1]
    model = torch.nn.Upsample(scale_factor=factor, mode=mode)
    for o in range(3 * factor, 12 * factor):
        expected = [axis.pixels(o) for axis in field]
        assert gradient_extent(model, (1, 16, 16), (o, o)) == expected, o
    assert field[0].size == (4 if mode == "bicubic" else 2)

"""Receptive fields at the borders, against PyTorch's forward: every output element of a chain
with an interpolation in it (every mode, with and without ``align_corners``, whole and
fractional scale factors, an explicit size), after a slice or a strided convolution and
before a padded one (and transposed convolutions).  The input pixels output element ``o`` depends on (a non-zero
derivative, measured by the forward on each pixel alone) lie within the first and the last
position :meth:`AxisField.pixels` gives; where no layer pads, they run exactly from the one
to the other; with padding, an end inside the input is the first (the last) such pixel, an
end outside it a padding's position.  ``size`` is the largest of the elements' fields."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symcnn
from symcnn import analyze
from symcnn.analysis.receptive import receptive_fields
from symcnn.layers import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d
from symcnn.layers import ConvTranspose3d, Narrow, Upsample
from symcnn.network import Network
from tests.test_receptive import ones

torch = pytest.importorskip("torch")

CONVS = {1: (Conv1d, torch.nn.Conv1d), 2: (Conv2d, torch.nn.Conv2d), 3: (Conv3d, torch.nn.Conv3d)}
TRANSPOSED = {1: (ConvTranspose1d, torch.nn.ConvTranspose1d),
              2: (ConvTranspose2d, torch.nn.ConvTranspose2d),
              3: (ConvTranspose3d, torch.nn.ConvTranspose3d)}
#: mode -> spatial axes it works on
MODES = {"nearest": 1, "nearest-exact": 1, "linear": 1, "bilinear": 2, "bicubic": 2,
         "trilinear": 3}


class Narrowed(torch.nn.Module):
    def __init__(self, dim, start, length):
        super().__init__()
        self.dim, self.start, self.length = dim, start, length

    def forward(self, x):
        return x.narrow(self.dim, self.start, self.length)


def _conv(draw, axes: int, padded: bool):
    """A convolution of ones (no dilation: the field has no gaps at a border)."""
    k, s = draw(st.integers(1, 4)), draw(st.integers(1, 3)) if not padded else 1
    p = draw(st.integers(0, k // 2)) if padded else draw(st.integers(0, (k - 1) // 2))
    ours, theirs = CONVS[axes]
    return (ours(out_channels=1, kernel_size=k, stride=s, padding=p, bias=False),
            ones(theirs(1, 1, k, stride=s, padding=p, bias=False)))


def _transposed(draw, axes: int):
    """A transposed convolution of ones (it pads: output 0 reads ``d(k - 1) - p`` positions
    before the input)."""
    k, s, d = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    p = draw(st.integers(0, d * (k - 1) // 2))
    ours, theirs = TRANSPOSED[axes]
    return (ours(out_channels=1, kernel_size=k, stride=s, padding=p, dilation=d, bias=False),
            ones(theirs(1, 1, k, stride=s, padding=p, dilation=d, bias=False)))


def _interpolation(draw, mode: str, axes: int):
    corners = draw(st.booleans()) if mode not in ("nearest", "nearest-exact") else None
    how = draw(st.sampled_from(["factor", "fraction", "size"]))
    if how == "size":
        sizes = tuple(draw(st.integers(1, 13)) for _ in range(axes))
        return (Upsample(size=sizes, mode=mode, align_corners=corners),
                torch.nn.Upsample(size=sizes, mode=mode, align_corners=corners))
    factor = draw(st.integers(1, 4)) if how == "factor" else \
        draw(st.sampled_from([0.5, 0.75, 1.1, 1.5, 1.7, 2.1, 2.5, 3.25, 3.7]))
    recompute = draw(st.sampled_from([None, True]))
    return (Upsample(scale_factor=factor, mode=mode, align_corners=corners,
                     recompute_scale_factor=recompute),
            torch.nn.Upsample(scale_factor=factor, mode=mode, align_corners=corners,
                              recompute_scale_factor=recompute))


@st.composite
def bordered(draw):
    """(symcnn layers, torch modules, input shape): a slice, a strided or a transposed
    convolution (or nothing), an interpolation, a padded convolution (or nothing)."""
    mode = draw(st.sampled_from(list(MODES)))
    axes = MODES[mode]
    shape = (1, *(draw(st.integers(3, 9 if axes < 3 else 5)) for _ in range(axes)))
    layers = []
    before = draw(st.sampled_from(["none", "slice", "conv", "transposed"]))
    if before == "slice":
        dim = 2 + draw(st.integers(0, axes - 1))
        start = draw(st.integers(0, 2))
        length = draw(st.integers(1, shape[dim - 1] - start))
        layers.append((Narrow(dim=dim, start=start, length=length), Narrowed(dim, start, length)))
    elif before == "conv":
        layers.append(_conv(draw, axes, padded=False))
    elif before == "transposed":
        layers.append(_transposed(draw, axes))
    layers.append(_interpolation(draw, mode, axes))
    if draw(st.booleans()):
        layers.append(_conv(draw, axes, padded=True))
    return [a for a, _ in layers], [b for _, b in layers], shape


def forward_jacobian(model, shape):
    """The derivative of every output element by every input pixel, as the forward computes
    it: the model (linear, no bias) on each pixel alone.  (Not autograd's: PyTorch's nearest
    backward copies where the sizes are equal, its forward does not.)"""
    pixels = math.prod(shape[1:])
    basis = torch.eye(pixels, dtype=torch.float64).reshape(pixels, *shape)
    out = model(basis)
    return out.reshape(pixels, -1).T


def _seen(jacobian_row) -> list[tuple[int, int]] | None:
    """Per axis, the first and the last input pixel with a non-zero derivative (a weight of
    ``1e-9`` or less is PyTorch's floating-point scale's rounding, not a pixel read)."""
    nonzero = (jacobian_row.abs() > 1e-9).nonzero()
    if not len(nonzero):
        return None
    return [(int(nonzero[:, a].min()), int(nonzero[:, a].max())) for a in range(nonzero.shape[1])]


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(bordered())
def test_every_element_against_the_jacobian(chain):
    layers, modules, shape = chain
    try:
        a = analyze(Network.sequential("b", shape, layers))
    except symcnn.SymcnnError:
        return  # the layers do not fit the input
    model = torch.nn.Sequential(*modules).double()
    out = model(torch.ones((1, *shape), dtype=torch.float64)).shape[2:]
    assert tuple(out) == tuple(int(n) for n in a.output_shape[1:])
    jacobian = forward_jacobian(model, shape).reshape(math.prod(out), *shape[1:])
    field = receptive_fields(a)[-1]
    if field == ():  # every element reads only a transposed convolution's gaps: no field
        assert _seen(jacobian) is None
        return
    if field is None:  # unknown ('?'): a pattern longer than symcnn follows
        return
    padded = any(isinstance(layer, tuple(t for t, _ in TRANSPOSED.values()))
                 or any(getattr(layer, "padding", (0,))) for layer in layers)
    sizes = [0] * len(field)
    for flat, element in enumerate(torch.cartesian_prod(*(torch.arange(n) for n in out))
                                   .reshape(-1, len(out)).tolist()):
        pixels = [f.pixels(o) for f, o in zip(field, element)]
        for axis, b in enumerate(pixels):
            if b is not None:
                sizes[axis] = max(sizes[axis], int(b[1] - b[0] + 1))
        seen = _seen(jacobian[flat])
        if not padded:
            assert seen == (None if None in pixels else
                            [(int(lo), int(hi)) for lo, hi in pixels]), (element, pixels)
        else:
            assert_within(seen, pixels, shape[1:], element)
    assert sizes == [int(f.size) for f in field]


def assert_within(seen, pixels, lengths, element):
    """With padding, ``pixels`` gives the first and the last position an element reads,
    padding included: where that is a pixel of the input, it is the first (the last) one
    with a non-zero derivative; every one with a non-zero derivative is between them."""
    if seen is None:
        assert None in pixels or any(lo < 0 or hi > n - 1 for (lo, hi), n in zip(pixels, lengths)), \
            (element, pixels)
        return
    assert None not in pixels, (element, pixels)
    for (first, last), (lo, hi), n in zip(seen, pixels, lengths):
        assert lo <= first and last <= hi, (element, pixels)
        assert lo < 0 or first == lo, (element, pixels)
        assert hi > n - 1 or last == hi, (element, pixels)

"""Receptive fields through the tensor operations, learned tensors and attention: small modules
written as torchvision writes them, imported with ``symcnn import``, against PyTorch's gradients
(the input pixels with a non-zero gradient for one output element are its field, clipped to
the input); and where the field is undefined (None), by hand."""

from __future__ import annotations

import pytest

import symcnn
from symcnn.analysis.receptive import receptive_fields
from symcnn.layers import Conv1d, Conv2d, Conv3d, Mean, Parameter, Permute, Select, Unflatten
from symcnn.network import Network
from tests.test_receptive import gradient_extent

torch = pytest.importorskip("torch")
nn = torch.nn

from symcnn.importers.torch_fx import import_module  # noqa: E402
from tests.test_macs_tensor_ops import Lambda, shuffle  # noqa: E402


def conv(c_in, c_out, k, **kwargs):
    return nn.Conv2d(c_in, c_out, k, **kwargs)


def _cases():
    """name -> (model, input shape, output element, expected field at the last node as
    (size, jump, start) per axis)."""
    return {
        # ConvNeXt: a channels-last LayerNorm and Linear between permutes, then a strided conv
        "channels last": (Lambda(lambda s, x: s.b(s.fc(s.ln(s.a(x).permute(0, 2, 3, 1)))
                                                   .permute(0, 3, 1, 2)),
                                 a=conv(2, 4, 3, padding=1), ln=nn.LayerNorm(4),
                                 fc=nn.Linear(4, 4), b=conv(4, 1, 3, stride=2)),
                          (2, 20, 17), (3, 4), [(5, 2, -1)] * 2),
        # ShuffleNetV2: a channel shuffle, a chunk along the channels, a 5 x 5 convolution
        "channel shuffle": (Lambda(lambda s, x: s.b(shuffle(s.a(x)).chunk(2, 1)[1]),
                                   a=conv(2, 4, 3), b=conv(2, 1, 5, padding=2)),
                            (2, 20, 17), (6, 5), [(7, 1, -2)] * 2),
        # a slice of a spatial axis moves its first element
        "spatial slice": (Lambda(lambda s, x: s.a(x[:, :, 3:]), a=conv(2, 1, 3)),
                          (2, 20, 17), (4, 2), [(3, 1, 3), (3, 1, 0)]),
        # squeeze-excitation: every output sees the whole input through the scale
        "squeeze-excitation": (Lambda(lambda s, x: s.b(s.s(x.mean((2, 3), keepdim=True)) * x),
                                      s=conv(2, 2, 1), b=conv(2, 1, 3)),
                               (2, 12, 9), (2, 3), [(12, 0, 0), (9, 0, 0)]),
        # ViT: patches, a class token, a position embedding, attention, the class token out
        "attention": (Lambda(lambda s, x: s.fc(s.attn(*(3 * (torch.cat(
                              [s.token.expand(x.shape[0], -1, -1),
                               s.patch(x).flatten(2).transpose(1, 2)], 1) + s.pos,)),
                              need_weights=False)[0][:, 0]),
                             {"token": torch.rand(1, 1, 4), "pos": torch.rand(1, 7, 4)},
                             patch=conv(2, 4, 4, stride=4), fc=nn.Linear(4, 3),
                             attn=nn.MultiheadAttention(4, 2, batch_first=True)),
                      (2, 12, 9), (), [(12, 0, 0), (8, 0, 0)]),
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_fields_against_gradients(name):
    torch.manual_seed(0)
    model, shape, element, expected = _cases()[name]
    text = import_module(model, shape, name="m")
    field = receptive_fields(symcnn.analyze(symcnn.parse_spec(text).network))[-1]
    assert [(a.size, a.jump, a.start) for a in field] == expected
    at = element or (0,) * len(field)
    clipped = [(max(0, int(f.start + i * f.jump)), min(n - 1, int(f.start + i * f.jump + f.size - 1)))
               for f, i, n in zip(field, at, shape[1:])]
    assert gradient_extent(model, shape, element) == clipped


def fields(layers, shape=(2, 16, 16)):
    return receptive_fields(symcnn.analyze(Network.sequential("t", shape, layers)))


def test_where_the_field_is_undefined():
    # a learned tensor sees no pixel: no field (no axes), not an unknown one
    assert fields([Parameter(shape=(4, 1, 1))])[0] == ()
    # a spatial axis selected away or split: a convolution after it has no field
    selected = fields([Select(dim=2, index=3), Conv1d(out_channels=1, kernel_size=3)])
    assert [(a.size, a.jump, a.start) for a in selected[0]] == [(1, 1, 3), (1, 1, 0)]
    assert selected[1] is None
    assert fields([Unflatten(dim=2, unflattened_size=(4, 4)),
                   Conv3d(out_channels=1, kernel_size=3)])[-1] is None
    # spatial axes reordered (H and W swapped): the convolution's axes are not the input's
    assert fields([Permute(dims=(0, 1, 3, 2)), Conv2d(out_channels=1, kernel_size=3)])[-1] is None
    # permuted back, they are again
    back = fields([Permute(dims=(0, 2, 3, 1)), Permute(dims=(0, 3, 1, 2)),
                   Conv2d(out_channels=1, kernel_size=3)])[-1]
    assert [(a.size, a.jump) for a in back] == [(3, 1)] * 2


def test_a_mean_over_the_spatial_axes_sees_all_of_them():
    f = fields([Conv2d(out_channels=4, kernel_size=3, stride=2), Mean(dim=(2, 3))],
               shape=(2, 15, 11))[-1]
    assert [(a.size, a.jump, a.start) for a in f] == [(15, 0, 0), (11, 0, 0)]

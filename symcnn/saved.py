"""What PyTorch's autograd keeps for the backward pass, layer by layer (training mode).

Each layer type saves particular tensors (PyTorch's ``derivatives.yaml``): a convolution
or a linear layer its input, ReLU its output, BatchNorm its input and two per-channel
statistics, max pooling its input and the int64 indices of the maxima, dropout a bool
mask, and views, sums and concatenations nothing.  A tensor several layers save (a
ReLU's output that the next convolution saves as its input) is one storage and is
counted once.  Parameters and buffers are not counted here: they live anyway.

>>> from symcnn import analyze
>>> from symcnn.builtin import lecture_network
>>> saved = saved_tensors(analyze(lecture_network()))
>>> [t.node for t in saved][:3], total_saved_bytes(saved, 4) == 4 * (193*229*193
...     + 30*191*227*191 + 30*95*113*95 + 60*93*111*93 + 60*46*55*46 + 120*44*53*44
...     + 120*21*26*21 + 240*19*24*19 + 240*9*11*9)
(['input', 'L1', 'L2'], True)
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from .analysis import Analysis, LayerRow
from .layers import (
    GELU,
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AdaptiveMaxPool3d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    GroupNorm,
    LayerNorm,
    LeakyReLU,
    Linear,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Tanh,
    numel,
)

#: Element sizes of what is saved besides activations.
INT64, BOOL, FLOAT32 = 8, 1, 4


@dataclass(frozen=True)
class Saved:
    """One storage kept for backward: whose it is, how many elements per sample (or in all,
    for per-channel statistics), and its element size (None: the activation dtype's)."""

    node: str            # the node whose memory it is ("input" for the network input)
    kind: str            # "activation", "indices", "mask", "statistics", "noise"
    elements: sympy.Expr
    element_bytes: int | None = None
    per_sample: bool = True
    saved_by: str = ""


_SAVES_INPUT = (Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d,
                Linear, AvgPool1d, AvgPool2d, AvgPool3d, GELU, SiLU)
_SAVES_OUTPUT = (ReLU, Sigmoid, Tanh, Softmax)
_MAX_POOLS = (MaxPool1d, MaxPool2d, MaxPool3d, AdaptiveMaxPool1d, AdaptiveMaxPool2d,
              AdaptiveMaxPool3d)
_ADAPTIVE_AVG = (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d)
_BATCH_NORMS = (BatchNorm1d, BatchNorm2d, BatchNorm3d)


def _layer_saves(row: LayerRow, source: str, own: str, device: str) -> list[Saved]:
    """The storages ``row``'s layer saves: ``source`` names its input's storage, ``own`` its
    output's."""
    layer, ins, out = row.layer, row.input_shapes[0], row.output_shape
    act = lambda node, shape: Saved(node, "activation", numel(shape), saved_by=row.name)  # noqa: E731
    if isinstance(layer, SiLU) and layer.inplace:
        # silu_ keeps a copy of its input before overwriting it
        return [Saved(row.name, "copy", numel(ins), saved_by=row.name)]
    if isinstance(layer, _SAVES_INPUT):
        return [act(source, ins)]
    if isinstance(layer, _SAVES_OUTPUT):
        return [act(own, out)]
    if isinstance(layer, LeakyReLU):
        # out of place it saves its input; in place, its (overwritten) result: same storage
        return [act(source, ins)]
    if isinstance(layer, _MAX_POOLS):
        return [act(source, ins),
                Saved(row.name, "indices", numel(out), INT64, saved_by=row.name)]
    if isinstance(layer, _ADAPTIVE_AVG):
        # an output of one element per channel is a mean, whose backward needs only sizes
        if all(o == 1 for o in out[1:]):
            return []
        return [act(source, ins)]
    if isinstance(layer, _BATCH_NORMS):
        c = ins[0]
        stats = Saved(row.name, "statistics", 2 * c, FLOAT32, per_sample=False, saved_by=row.name)
        return [act(source, ins), stats]
    if isinstance(layer, GroupNorm):
        return [act(source, ins), Saved(row.name, "statistics", 2 * layer.num_groups, FLOAT32,
                                        saved_by=row.name)]
    if isinstance(layer, LayerNorm):
        rows = numel(ins) / numel(layer.normalized_shape)
        return [act(source, ins), Saved(row.name, "statistics", 2 * rows, FLOAT32,
                                        saved_by=row.name)]
    if isinstance(layer, Dropout) and layer.p > 0:
        # CUDA's fused kernel keeps a bool mask; the CPU multiplies by a noise tensor
        return [Saved(row.name, "mask", numel(out), BOOL if device == "cuda" else None,
                      saved_by=row.name)]
    if isinstance(layer, (Dropout1d, Dropout2d, Dropout3d)) and layer.p > 0:
        # feature dropout multiplies by a (C, 1, ..., 1) noise tensor per sample
        return [Saved(row.name, "noise", ins[0], saved_by=row.name)]
    return []  # views, Add, Concat, Upsample, Identity: sizes only


DEVICES = ("cuda", "cpu")


def saved_tensors(analysis: Analysis, device: str = "cuda") -> tuple[Saved, ...]:
    """Every storage autograd keeps for backward, each once (the first layer to save it).

    ``device`` matters for dropout: CUDA keeps a 1-byte mask, the CPU a full noise tensor."""
    storage = {"input": "input"}
    seen: dict[tuple[str, str], Saved] = {}
    for row in analysis.rows:
        source = storage[row.inputs[0]]
        storage[row.name] = row.name if row.allocates else source
        for s in _layer_saves(row, source, storage[row.name], device):
            seen.setdefault((s.node, s.kind), s)
    return tuple(seen.values())


def total_saved_bytes(saved, element_bytes: int, batch=1) -> sympy.Expr:
    """Bytes of the saved storages at batch size ``batch`` with activations of
    ``element_bytes`` each."""
    return sympy.Add(*(s.elements * (s.element_bytes or element_bytes)
                       * (batch if s.per_sample else 1) for s in saved))

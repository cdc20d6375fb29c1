"""The layer types, named as in ``torch.nn``, and a registry of them by name."""

from __future__ import annotations

from symcnn.layers.base import Derivation, Layer, Shape, numel
from symcnn.layers.conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from symcnn.layers.dense import Flatten, Linear, Upsample
from symcnn.layers.elementwise import (
                   ELU,
                   GELU,
                   Dropout,
                   Dropout1d,
                   Dropout2d,
                   Dropout3d,
                   Hardsigmoid,
                   Hardswish,
                   Hardtanh,
                   Identity,
                   LeakyReLU,
                   Mish,
                   PReLU,
                   ReLU,
                   ReLU6,
                   Sigmoid,
                   SiLU,
                   Softmax,
                   Softplus,
                   Tanh,
)
from symcnn.layers.merge import Add, Concat
from symcnn.layers.norm import BatchNorm1d, BatchNorm2d, BatchNorm3d, GroupNorm, LayerNorm
from symcnn.layers.pool import (
                   AdaptiveAvgPool1d,
                   AdaptiveAvgPool2d,
                   AdaptiveAvgPool3d,
                   AdaptiveMaxPool1d,
                   AdaptiveMaxPool2d,
                   AdaptiveMaxPool3d,
                   AvgPool1d,
                   AvgPool2d,
                   AvgPool3d,
                   MaxPool1d,
                   MaxPool2d,
                   MaxPool3d,
)

LAYER_TYPES: dict[str, type[Layer]] = {cls.__name__: cls for cls in (
    Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d,
    MaxPool1d, MaxPool2d, MaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d,
    AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d,
    AdaptiveMaxPool1d, AdaptiveMaxPool2d, AdaptiveMaxPool3d,
    BatchNorm1d, BatchNorm2d, BatchNorm3d, GroupNorm, LayerNorm,
    ReLU, LeakyReLU, GELU, SiLU, Sigmoid, Tanh, Softmax,
    ReLU6, Hardtanh, Hardswish, Hardsigmoid, ELU, Mish, Softplus, PReLU,
    Dropout, Dropout1d, Dropout2d, Dropout3d, Identity,
    Flatten, Linear, Upsample, Add, Concat)}

#: Families of layer types, for the rules that treat them alike.
CONVOLUTIONS = (Conv1d, Conv2d, Conv3d)
TRANSPOSED_CONVOLUTIONS = (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)
BATCH_NORMS = (BatchNorm1d, BatchNorm2d, BatchNorm3d)

__all__ = ["BATCH_NORMS", "CONVOLUTIONS", "LAYER_TYPES", "TRANSPOSED_CONVOLUTIONS", "Derivation",
           "Layer", "Shape", "numel", *LAYER_TYPES]

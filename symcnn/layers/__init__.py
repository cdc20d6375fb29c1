"""The layer types, named as in ``torch.nn``, a registry of them by name, and the family
bases (:class:`ConvNd`, :class:`PoolNd`, ...) that the per-layer rule tables of
:mod:`symcnn.layers.dispatch` key their entries on."""

from __future__ import annotations

from symcnn.layers.attention import MultiheadAttention
from symcnn.layers.base import INFERRED, Derivation, Layer, Shape, numel
from symcnn.layers.conv import (
                   Conv1d,
                   Conv2d,
                   Conv3d,
                   ConvNd,
                   ConvTranspose1d,
                   ConvTranspose2d,
                   ConvTranspose3d,
                   ConvTransposeNd,
)
from symcnn.layers.dense import Flatten, Linear, Upsample
from symcnn.layers.elementwise import (
                   ELU,
                   GELU,
                   Dropout,
                   Dropout1d,
                   Dropout2d,
                   Dropout3d,
                   DropoutNd,
                   FeatureDropoutNd,
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
                   StochasticDepth,
                   Tanh,
)
from symcnn.layers.merge import Add, Concat, Mul
from symcnn.layers.norm import BatchNorm1d, BatchNorm2d, BatchNorm3d, BatchNormNd, GroupNorm, LayerNorm
from symcnn.layers.pool import (
                   AdaptiveAvgPool1d,
                   AdaptiveAvgPool2d,
                   AdaptiveAvgPool3d,
                   AdaptiveAvgPoolNd,
                   AdaptiveMaxPool1d,
                   AdaptiveMaxPool2d,
                   AdaptiveMaxPool3d,
                   AdaptiveMaxPoolNd,
                   AdaptivePoolNd,
                   AvgPool1d,
                   AvgPool2d,
                   AvgPool3d,
                   AvgPoolNd,
                   MaxPool1d,
                   MaxPool2d,
                   MaxPool3d,
                   MaxPoolNd,
                   PoolNd,
)
from symcnn.layers.tensor import Contiguous, Mean, Narrow, Parameter, Permute, Select, Unflatten

LAYER_TYPES: dict[str, type[Layer]] = {cls.__name__: cls for cls in (
    Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d,
    MaxPool1d, MaxPool2d, MaxPool3d, AvgPool1d, AvgPool2d, AvgPool3d,
    AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveAvgPool3d,
    AdaptiveMaxPool1d, AdaptiveMaxPool2d, AdaptiveMaxPool3d,
    BatchNorm1d, BatchNorm2d, BatchNorm3d, GroupNorm, LayerNorm,
    ReLU, LeakyReLU, GELU, SiLU, Sigmoid, Tanh, Softmax,
    ReLU6, Hardtanh, Hardswish, Hardsigmoid, ELU, Mish, Softplus, PReLU,
    Dropout, Dropout1d, Dropout2d, Dropout3d, Identity,
    Flatten, Linear, Upsample, Add, Concat,
    # tensor operations, learned tensors and attention (torchvision's models)
    Mul, Mean, Permute, Unflatten, Contiguous, Select, Narrow, Parameter, StochasticDepth,
    MultiheadAttention)}

#: The family bases: abstract (no spec names them), each the base of its 1-D to 3-D types,
#: so that one rule-table entry covers them all.
FAMILIES: tuple[type[Layer], ...] = (
    ConvNd, ConvTransposeNd, PoolNd, MaxPoolNd, AvgPoolNd, AdaptivePoolNd, AdaptiveAvgPoolNd,
    AdaptiveMaxPoolNd, BatchNormNd, DropoutNd, FeatureDropoutNd)

__all__ = ["FAMILIES", "INFERRED", "LAYER_TYPES", "Derivation", "Layer", "Shape", "numel",
           *LAYER_TYPES, *(cls.__name__ for cls in FAMILIES)]

"""A zoo of small networks, each as a PyTorch module and as the equivalent symcnn spec.

Every entry pairs a hand-written ``torch.nn`` builder with a TOML spec that ``symcnn.parse_spec``
reads.  The two are written independently (the torch code gives every ``in_channels`` /
``in_features`` by hand, the spec lets symcnn infer them) and :func:`check_entry` asserts that
they agree: the same total parameter count, the same parameters per node, the same output shape,
and every spec node is a leaf module of the same (qualified) name.  So a measurement attributed to
the torch module ``layer2.conv1`` belongs to the spec node ``layer2.conv1``.

Residual additions and concatenations are written as the tiny modules :class:`Add` and
:class:`Concat` (their forward is ``a + b`` / ``torch.cat``), so that they are named nodes too.

Inputs are small so that the whole zoo measures in a few minutes on two CPU cores.

Use from tests (spec texts need no torch; builders do)::

    import sys; sys.path.insert(0, "validation")
    import zoo
    for name, spec_text, builder, input_shape in zoo.entries():
        ...

``python validation/zoo.py`` checks every entry and prints a summary.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

try:  # the spec texts are usable without torch; the builders need it
    import torch
    from torch import nn
except ImportError:  # pragma: no cover
    torch = None
    nn = None


# --------------------------------------------------------------------------------------------
# Entries
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ZooEntry:
    """One network of the zoo.

    ``batches``: the batch sizes the CPU harness measures.  ``bf16``: also measured under
    ``torch.autocast("cpu", dtype=torch.bfloat16)``.  ``foreach``: also measured with
    ``Adam(foreach=True)`` (the default on CPU is the single-tensor for-loop).
    """

    name: str
    description: str
    spec_text: str
    builder: object  # () -> torch.nn.Module
    input_shape: tuple[int, ...]  # channels first, no batch axis
    batches: tuple[int, ...] = (2, 4)
    bf16: bool = False
    foreach: bool = False
    tags: tuple[str, ...] = field(default=())


if torch is not None:

    class Add(nn.Module):
        """A residual addition as a module (``a + b``, out of place), so that it is a named node;
        with ``inplace``, torchvision's ``out += identity``."""

        def __init__(self, inplace: bool = False):
            super().__init__()
            self.inplace = inplace

        def forward(self, *xs):
            out = xs[0]
            for x in xs[1:]:
                if self.inplace:
                    out += x
                else:
                    out = out + x
            return out

    class Concat(nn.Module):
        """``torch.cat`` along ``dim`` (1: the channels) as a module."""

        def __init__(self, dim: int = 1):
            super().__init__()
            self.dim = dim

        def forward(self, *xs):
            return torch.cat(xs, dim=self.dim)

    def seq(*named) -> nn.Sequential:
        """``nn.Sequential`` whose children have the given names (= the spec's node names)."""
        return nn.Sequential(OrderedDict(named))


# --------------------------------------------------------------------------------------------
# 1. The lecture's 3-D CNN at a small input
# --------------------------------------------------------------------------------------------
# The lecture input is 1 x 193 x 229 x 193.  The brief's suggestion 1 x 49 x 57 x 49 is too small:
# the eighth convolution (stride 2, kernel 3) would get a 1 x 2 x 1 input.  61 is the smallest size
# per axis for which all eight convolutions fit; 61 x 73 x 61 keeps roughly the lecture's aspect.
# Output of L8: 240 x 1 x 1 x 1, so L9 is Linear(240, 1).

LECTURE_SPEC = """\
name = "lecture3d-small"
description = "The lecture's 3-D CNN (examples/lecture.toml) on a 1 x 61 x 73 x 61 volume"

[input]
shape = [1, 61, 73, 61]

[[layers]]
type = "Conv3d"
name = "L1"
out_channels = 30
kernel_size = 3

[[layers]]
type = "Conv3d"
name = "L2"
out_channels = 30
kernel_size = 3
stride = 2

[[layers]]
type = "Conv3d"
name = "L3"
out_channels = 60
kernel_size = 3

[[layers]]
type = "Conv3d"
name = "L4"
out_channels = 60
kernel_size = 3
stride = 2

[[layers]]
type = "Conv3d"
name = "L5"
out_channels = 120
kernel_size = 3

[[layers]]
type = "Conv3d"
name = "L6"
out_channels = 120
kernel_size = 3
stride = 2

[[layers]]
type = "Conv3d"
name = "L7"
out_channels = 240
kernel_size = 3

[[layers]]
type = "Conv3d"
name = "L8"
out_channels = 240
kernel_size = 3
stride = 2

[[layers]]
type = "Flatten"
name = "flatten"

[[layers]]
type = "Linear"
name = "L9"
out_features = 1
"""


def build_lecture3d(flat_features: int = 240, flatten: str = "flatten"):
    return seq(
        ("L1", nn.Conv3d(1, 30, 3)),
        ("L2", nn.Conv3d(30, 30, 3, stride=2)),
        ("L3", nn.Conv3d(30, 60, 3)),
        ("L4", nn.Conv3d(60, 60, 3, stride=2)),
        ("L5", nn.Conv3d(60, 120, 3)),
        ("L6", nn.Conv3d(120, 120, 3, stride=2)),
        ("L7", nn.Conv3d(120, 240, 3)),
        ("L8", nn.Conv3d(240, 240, 3, stride=2)),
        (flatten, nn.Flatten()),
        ("L9", nn.Linear(flat_features, 1)),
    )


def build_lecture3d_full():
    """The lecture's network at its real input, 1 x 193 x 229 x 193 (L8's output 240 x 9 x 11 x 9);
    examples/lecture.toml leaves the Flatten unnamed, so it is ``flatten_9`` there."""
    return build_lecture3d(240 * 9 * 11 * 9, flatten="flatten_9")


# --------------------------------------------------------------------------------------------
# 2. VGG-style 2-D: conv + ReLU + MaxPool, Linear, Dropout
# --------------------------------------------------------------------------------------------

VGG_SPEC = """\
name = "vgg2d"
description = "VGG-style: two conv-conv-pool stages, two Linear with ReLU and Dropout"

[input]
shape = [3, 32, 32]

[[layers]]
type = "Conv2d"
name = "conv1_1"
out_channels = 16
kernel_size = 3
padding = 1
[[layers]]
type = "ReLU"
name = "relu1_1"
[[layers]]
type = "Conv2d"
name = "conv1_2"
out_channels = 16
kernel_size = 3
padding = 1
[[layers]]
type = "ReLU"
name = "relu1_2"
[[layers]]
type = "MaxPool2d"
name = "pool1"
kernel_size = 2

[[layers]]
type = "Conv2d"
name = "conv2_1"
out_channels = 32
kernel_size = 3
padding = 1
[[layers]]
type = "ReLU"
name = "relu2_1"
[[layers]]
type = "Conv2d"
name = "conv2_2"
out_channels = 32
kernel_size = 3
padding = 1
[[layers]]
type = "ReLU"
name = "relu2_2"
[[layers]]
type = "MaxPool2d"
name = "pool2"
kernel_size = 2

[[layers]]
type = "Flatten"
name = "flatten"
[[layers]]
type = "Linear"
name = "fc1"
out_features = 64
[[layers]]
type = "ReLU"
name = "relu_fc1"
[[layers]]
type = "Dropout"
name = "drop1"
p = 0.5
[[layers]]
type = "Linear"
name = "fc2"
out_features = 10
"""


def build_vgg2d():
    return seq(
        ("conv1_1", nn.Conv2d(3, 16, 3, padding=1)),
        ("relu1_1", nn.ReLU()),
        ("conv1_2", nn.Conv2d(16, 16, 3, padding=1)),
        ("relu1_2", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)),
        ("conv2_1", nn.Conv2d(16, 32, 3, padding=1)),
        ("relu2_1", nn.ReLU()),
        ("conv2_2", nn.Conv2d(32, 32, 3, padding=1)),
        ("relu2_2", nn.ReLU()),
        ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(32 * 8 * 8, 64)),
        ("relu_fc1", nn.ReLU()),
        ("drop1", nn.Dropout(0.5)),
        ("fc2", nn.Linear(64, 10)),
    )


# --------------------------------------------------------------------------------------------
# 3. ResNet-style: BatchNorm, in-place ReLU, residual Add, projection shortcut
# --------------------------------------------------------------------------------------------
# The blocks are those of examples/resnet18.toml (torchvision's BasicBlock, except that the
# addition is out of place, a + b, as symcnn's Add; torchvision writes `out += identity`).

RESNET_SPEC = """\
name = "resnet-mini"
description = "ResNet-style: stem conv-BN-ReLU-maxpool, two basic blocks, one down block with a projection"

[input]
shape = [3, 32, 32]

[blocks.basic]
params = ["C"]
[[blocks.basic.layers]]
type = "Conv2d"
name = "conv1"
out_channels = "C"
kernel_size = 3
padding = 1
bias = false
[[blocks.basic.layers]]
type = "BatchNorm2d"
name = "bn1"
[[blocks.basic.layers]]
type = "ReLU"
name = "relu1"
inplace = true
[[blocks.basic.layers]]
type = "Conv2d"
name = "conv2"
out_channels = "C"
kernel_size = 3
padding = 1
bias = false
[[blocks.basic.layers]]
type = "BatchNorm2d"
name = "bn2"
[[blocks.basic.layers]]
type = "Add"
name = "add"
inputs = ["bn2", "in"]
[[blocks.basic.layers]]
type = "ReLU"
name = "relu2"
inplace = true

[blocks.down]
params = ["C"]
[[blocks.down.layers]]
type = "Conv2d"
name = "conv1"
out_channels = "C"
kernel_size = 3
stride = 2
padding = 1
bias = false
[[blocks.down.layers]]
type = "BatchNorm2d"
name = "bn1"
[[blocks.down.layers]]
type = "ReLU"
name = "relu1"
inplace = true
[[blocks.down.layers]]
type = "Conv2d"
name = "conv2"
out_channels = "C"
kernel_size = 3
padding = 1
bias = false
[[blocks.down.layers]]
type = "BatchNorm2d"
name = "bn2"
[[blocks.down.layers]]
type = "Conv2d"
name = "proj"
inputs = ["in"]
out_channels = "C"
kernel_size = 1
stride = 2
bias = false
[[blocks.down.layers]]
type = "BatchNorm2d"
name = "proj_bn"
[[blocks.down.layers]]
type = "Add"
name = "add"
inputs = ["bn2", "proj_bn"]
[[blocks.down.layers]]
type = "ReLU"
name = "relu2"
inplace = true

[[layers]]
type = "Conv2d"
name = "conv1"
out_channels = 16
kernel_size = 3
padding = 1
bias = false
[[layers]]
type = "BatchNorm2d"
name = "bn1"
[[layers]]
type = "ReLU"
name = "relu"
inplace = true
[[layers]]
type = "MaxPool2d"
name = "maxpool"
kernel_size = 3
stride = 2
padding = 1

[[layers]]
block = "basic"
name = "layer1"
repeat = 2
C = 16

[[layers]]
block = "down"
name = "layer2"
C = 32

[[layers]]
type = "AdaptiveAvgPool2d"
name = "avgpool"
output_size = 1
[[layers]]
type = "Flatten"
name = "flatten"
[[layers]]
type = "Linear"
name = "fc"
out_features = 10
"""

if torch is not None:

    class BasicBlock(nn.Module):
        def __init__(self, c_in: int, c: int, stride: int = 1, inplace_add: bool = False):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.relu1 = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)
            if stride != 1 or c_in != c:
                self.proj = nn.Conv2d(c_in, c, 1, stride=stride, bias=False)
                self.proj_bn = nn.BatchNorm2d(c)
            else:
                self.proj = None
            self.add = Add(inplace=inplace_add)
            self.relu2 = nn.ReLU(inplace=True)

        def forward(self, x):
            out = self.relu1(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            shortcut = x if self.proj is None else self.proj_bn(self.proj(x))
            return self.relu2(self.add(out, shortcut))

    class ResNetMini(nn.Module):
        def __init__(self, inplace_add: bool = False):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
            self.layer1 = nn.Sequential(BasicBlock(16, 16, inplace_add=inplace_add),
                                        BasicBlock(16, 16, inplace_add=inplace_add))
            self.layer2 = BasicBlock(16, 32, stride=2, inplace_add=inplace_add)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.flatten = nn.Flatten()
            self.fc = nn.Linear(32, 10)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer2(self.layer1(x))
            return self.fc(self.flatten(self.avgpool(x)))


def build_resnet():
    return ResNetMini()


#: The same network with torchvision's in-place residual additions (``out += identity``).
RESNET_INPLACE_SPEC = RESNET_SPEC.replace('name = "resnet-mini"', 'name = "resnet-mini-inplace"') \
    .replace('type = "Add"\nname = "add"\ninputs = ["bn2", "in"]\n',
             'type = "Add"\nname = "add"\ninputs = ["bn2", "in"]\ninplace = true\n') \
    .replace('type = "Add"\nname = "add"\ninputs = ["bn2", "proj_bn"]\n',
             'type = "Add"\nname = "add"\ninputs = ["bn2", "proj_bn"]\ninplace = true\n')


def build_resnet_inplace():
    return ResNetMini(inplace_add=True)


# --------------------------------------------------------------------------------------------
# 4. U-Net-style: Concat skip connections, ConvTranspose2d, BatchNorm
# --------------------------------------------------------------------------------------------

_UNET_DOUBLE = """
[[blocks.{b}.layers]]
type = "Conv2d"
name = "conv1"
out_channels = "F"
kernel_size = 3
padding = 1
bias = false
[[blocks.{b}.layers]]
type = "BatchNorm2d"
name = "bn1"
[[blocks.{b}.layers]]
type = "ReLU"
name = "relu1"
inplace = true
[[blocks.{b}.layers]]
type = "Conv2d"
name = "conv2"
out_channels = "F"
kernel_size = 3
padding = 1
bias = false
[[blocks.{b}.layers]]
type = "BatchNorm2d"
name = "bn2"
[[blocks.{b}.layers]]
type = "ReLU"
name = "relu2"
inplace = true
"""

UNET_SPEC = """\
name = "unet2d-mini"
description = "U-Net of depth 2 (8, 16, 32 channels) on 1 x 32 x 32, two output channels"

[input]
shape = [1, 32, 32]

[blocks.double]
params = ["F"]
""" + _UNET_DOUBLE.format(b="double") + """
[blocks.down]
params = ["F"]
[[blocks.down.layers]]
type = "MaxPool2d"
name = "pool"
kernel_size = 2
""" + _UNET_DOUBLE.format(b="down") + """
[[layers]]
block = "double"
name = "inc"
F = 8
[[layers]]
block = "down"
name = "down1"
F = 16
[[layers]]
block = "down"
name = "down2"
F = 32

[[layers]]
type = "ConvTranspose2d"
name = "up1.up"
out_channels = 16
kernel_size = 2
stride = 2
[[layers]]
type = "Concat"
name = "up1.cat"
inputs = ["down1.relu2", "up1.up"]
[[layers]]
block = "double"
name = "up1.conv"
F = 16

[[layers]]
type = "ConvTranspose2d"
name = "up2.up"
out_channels = 8
kernel_size = 2
stride = 2
[[layers]]
type = "Concat"
name = "up2.cat"
inputs = ["inc.relu2", "up2.up"]
[[layers]]
block = "double"
name = "up2.conv"
F = 8

[[layers]]
type = "Conv2d"
name = "outc"
out_channels = 2
kernel_size = 1
"""

if torch is not None:

    class DoubleConv(nn.Module):
        def __init__(self, c_in: int, c: int, pool: bool = False):
            super().__init__()
            if pool:
                self.pool = nn.MaxPool2d(2)
            else:
                self.pool = None
            self.conv1 = nn.Conv2d(c_in, c, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.relu1 = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)
            self.relu2 = nn.ReLU(inplace=True)

        def forward(self, x):
            if self.pool is not None:
                x = self.pool(x)
            x = self.relu1(self.bn1(self.conv1(x)))
            return self.relu2(self.bn2(self.conv2(x)))

    class Up(nn.Module):
        def __init__(self, c_in: int, c: int):
            super().__init__()
            self.up = nn.ConvTranspose2d(c_in, c, 2, stride=2)
            self.cat = Concat(1)
            self.conv = DoubleConv(2 * c, c)

        def forward(self, x, skip):
            return self.conv(self.cat(skip, self.up(x)))

    class UNetMini(nn.Module):
        def __init__(self):
            super().__init__()
            self.inc = DoubleConv(1, 8)
            self.down1 = DoubleConv(8, 16, pool=True)
            self.down2 = DoubleConv(16, 32, pool=True)
            self.up1 = Up(32, 16)
            self.up2 = Up(16, 8)
            self.outc = nn.Conv2d(8, 2, 1)

        def forward(self, x):
            x1 = self.inc(x)
            x2 = self.down1(x1)
            x3 = self.down2(x2)
            return self.outc(self.up2(self.up1(x3, x2), x1))


def build_unet():
    return UNetMini()


# --------------------------------------------------------------------------------------------
# 5. Plain: no BatchNorm, no Dropout, no MaxPool (strided convs, non-in-place ReLU)
# --------------------------------------------------------------------------------------------

PLAIN_SPEC = """\
name = "plain2d"
description = "Three convolutions (two strided) with ReLU, a Linear: no BatchNorm, Dropout or MaxPool"

[input]
shape = [3, 32, 32]

[[layers]]
type = "Conv2d"
name = "conv1"
out_channels = 16
kernel_size = 3
padding = 1
[[layers]]
type = "ReLU"
name = "relu1"
[[layers]]
type = "Conv2d"
name = "conv2"
out_channels = 32
kernel_size = 3
stride = 2
padding = 1
[[layers]]
type = "ReLU"
name = "relu2"
[[layers]]
type = "Conv2d"
name = "conv3"
out_channels = 32
kernel_size = 3
stride = 2
padding = 1
[[layers]]
type = "ReLU"
name = "relu3"
[[layers]]
type = "Flatten"
name = "flatten"
[[layers]]
type = "Linear"
name = "fc"
out_features = 10
"""


def build_plain():
    return seq(
        ("conv1", nn.Conv2d(3, 16, 3, padding=1)),
        ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(16, 32, 3, stride=2, padding=1)),
        ("relu2", nn.ReLU()),
        ("conv3", nn.Conv2d(32, 32, 3, stride=2, padding=1)),
        ("relu3", nn.ReLU()),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(32 * 8 * 8, 10)),
    )


# --------------------------------------------------------------------------------------------
# 6. The same kind of net with BatchNorm, Dropout and MaxPool
# --------------------------------------------------------------------------------------------

BNDROP_SPEC = """\
name = "bn-drop-pool2d"
description = "Conv-BN-ReLU-MaxPool-Dropout twice, Linear-BatchNorm1d-ReLU-Dropout-Linear"

[input]
shape = [3, 32, 32]

[[layers]]
type = "Conv2d"
name = "conv1"
out_channels = 16
kernel_size = 3
padding = 1
[[layers]]
type = "BatchNorm2d"
name = "bn1"
[[layers]]
type = "ReLU"
name = "relu1"
[[layers]]
type = "MaxPool2d"
name = "pool1"
kernel_size = 2
[[layers]]
type = "Dropout"
name = "drop1"
p = 0.25
[[layers]]
type = "Conv2d"
name = "conv2"
out_channels = 32
kernel_size = 3
padding = 1
[[layers]]
type = "BatchNorm2d"
name = "bn2"
[[layers]]
type = "ReLU"
name = "relu2"
inplace = true
[[layers]]
type = "MaxPool2d"
name = "pool2"
kernel_size = 2
[[layers]]
type = "Flatten"
name = "flatten"
[[layers]]
type = "Linear"
name = "fc1"
out_features = 64
[[layers]]
type = "BatchNorm1d"
name = "bn_fc1"
[[layers]]
type = "ReLU"
name = "relu_fc1"
[[layers]]
type = "Dropout"
name = "drop2"
p = 0.5
[[layers]]
type = "Linear"
name = "fc2"
out_features = 10
"""


def build_bndrop():
    return seq(
        ("conv1", nn.Conv2d(3, 16, 3, padding=1)),
        ("bn1", nn.BatchNorm2d(16)),
        ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)),
        ("drop1", nn.Dropout(0.25)),
        ("conv2", nn.Conv2d(16, 32, 3, padding=1)),
        ("bn2", nn.BatchNorm2d(32)),
        ("relu2", nn.ReLU(inplace=True)),
        ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(32 * 8 * 8, 64)),
        ("bn_fc1", nn.BatchNorm1d(64)),
        ("relu_fc1", nn.ReLU()),
        ("drop2", nn.Dropout(0.5)),
        ("fc2", nn.Linear(64, 10)),
    )


# --------------------------------------------------------------------------------------------
# 7. 1-D conv net
# --------------------------------------------------------------------------------------------

CONV1D_SPEC = """\
name = "conv1d"
description = "1-D signals: Conv1d, BatchNorm1d, pools, ConvTranspose1d, linear Upsample, Dropout1d"

[input]
shape = [4, 128]

[[layers]]
type = "Conv1d"
name = "conv1"
out_channels = 16
kernel_size = 5
padding = 2
[[layers]]
type = "BatchNorm1d"
name = "bn1"
[[layers]]
type = "ReLU"
name = "relu1"
[[layers]]
type = "MaxPool1d"
name = "maxpool"
kernel_size = 2
[[layers]]
type = "Conv1d"
name = "conv2"
out_channels = 32
kernel_size = 5
stride = 2
padding = 2
[[layers]]
type = "ReLU"
name = "relu2"
[[layers]]
type = "AvgPool1d"
name = "avgpool"
kernel_size = 2
[[layers]]
type = "ConvTranspose1d"
name = "upconv"
out_channels = 16
kernel_size = 4
stride = 2
padding = 1
[[layers]]
type = "Upsample"
name = "upsample"
scale_factor = 2
mode = "linear"
[[layers]]
type = "Dropout1d"
name = "drop"
p = 0.2
[[layers]]
type = "Conv1d"
name = "conv3"
out_channels = 16
kernel_size = 3
padding = 1
[[layers]]
type = "Tanh"
name = "tanh"
[[layers]]
type = "AdaptiveMaxPool1d"
name = "amaxpool"
output_size = 8
[[layers]]
type = "AdaptiveAvgPool1d"
name = "aavgpool"
output_size = 4
[[layers]]
type = "Flatten"
name = "flatten"
[[layers]]
type = "Linear"
name = "fc"
out_features = 5
"""


def build_conv1d():
    return seq(
        ("conv1", nn.Conv1d(4, 16, 5, padding=2)),
        ("bn1", nn.BatchNorm1d(16)),
        ("relu1", nn.ReLU()),
        ("maxpool", nn.MaxPool1d(2)),                                 # 16 x 64
        ("conv2", nn.Conv1d(16, 32, 5, stride=2, padding=2)),         # 32 x 32
        ("relu2", nn.ReLU()),
        ("avgpool", nn.AvgPool1d(2)),                                 # 32 x 16
        ("upconv", nn.ConvTranspose1d(32, 16, 4, stride=2, padding=1)),  # 16 x 32
        ("upsample", nn.Upsample(scale_factor=2, mode="linear")),     # 16 x 64
        ("drop", nn.Dropout1d(0.2)),
        ("conv3", nn.Conv1d(16, 16, 3, padding=1)),
        ("tanh", nn.Tanh()),
        ("amaxpool", nn.AdaptiveMaxPool1d(8)),
        ("aavgpool", nn.AdaptiveAvgPool1d(4)),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(16 * 4, 5)),
    )


# --------------------------------------------------------------------------------------------
# 8. Activations, norms, pools and upsampling (2-D)
# --------------------------------------------------------------------------------------------

ACTS_SPEC = """\
name = "acts2d"
description = "Activations, GroupNorm, LayerNorm, AvgPool, adaptive pools, Upsample, Dropout2d, Identity"

[input]
shape = [3, 32, 32]

[[layers]]
type = "Conv2d"
name = "conv1"
out_channels = 16
kernel_size = 3
padding = 1
[[layers]]
type = "GroupNorm"
name = "gn"
num_groups = 4
[[layers]]
type = "LeakyReLU"
name = "lrelu"
negative_slope = 0.1
[[layers]]
type = "Conv2d"
name = "conv2"
out_channels = 16
kernel_size = 3
padding = 1
[[layers]]
type = "GELU"
name = "gelu"
[[layers]]
type = "AvgPool2d"
name = "avgpool"
kernel_size = 2
[[layers]]
type = "Conv2d"
name = "conv3"
out_channels = 32
kernel_size = 3
padding = 1
[[layers]]
type = "SiLU"
name = "silu"
[[layers]]
type = "Dropout2d"
name = "drop2d"
p = 0.1
[[layers]]
type = "Upsample"
name = "up_nearest"
scale_factor = 2
[[layers]]
type = "Conv2d"
name = "conv4"
out_channels = 16
kernel_size = 3
stride = 2
padding = 1
[[layers]]
type = "LayerNorm"
name = "ln"
normalized_shape = [16, 16]
[[layers]]
type = "Sigmoid"
name = "sigmoid"
[[layers]]
type = "Upsample"
name = "up_bilinear"
scale_factor = 2
mode = "bilinear"
[[layers]]
type = "Identity"
name = "identity"
[[layers]]
type = "AdaptiveMaxPool2d"
name = "amaxpool"
output_size = 4
[[layers]]
type = "Tanh"
name = "tanh"
[[layers]]
type = "AdaptiveAvgPool2d"
name = "aavgpool"
output_size = 2
[[layers]]
type = "Flatten"
name = "flatten"
[[layers]]
type = "Linear"
name = "fc"
out_features = 10
[[layers]]
type = "Softmax"
name = "softmax"
dim = 1
"""


def build_acts():
    return seq(
        ("conv1", nn.Conv2d(3, 16, 3, padding=1)),
        ("gn", nn.GroupNorm(4, 16)),
        ("lrelu", nn.LeakyReLU(0.1)),
        ("conv2", nn.Conv2d(16, 16, 3, padding=1)),
        ("gelu", nn.GELU()),
        ("avgpool", nn.AvgPool2d(2)),                                  # 16 x 16 x 16
        ("conv3", nn.Conv2d(16, 32, 3, padding=1)),
        ("silu", nn.SiLU()),
        ("drop2d", nn.Dropout2d(0.1)),
        ("up_nearest", nn.Upsample(scale_factor=2)),                   # 32 x 32 x 32
        ("conv4", nn.Conv2d(32, 16, 3, stride=2, padding=1)),          # 16 x 16 x 16
        ("ln", nn.LayerNorm([16, 16])),
        ("sigmoid", nn.Sigmoid()),
        ("up_bilinear", nn.Upsample(scale_factor=2, mode="bilinear")),  # 16 x 32 x 32
        ("identity", nn.Identity()),
        ("amaxpool", nn.AdaptiveMaxPool2d(4)),
        ("tanh", nn.Tanh()),
        ("aavgpool", nn.AdaptiveAvgPool2d(2)),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(16 * 2 * 2, 10)),
        ("softmax", nn.Softmax(dim=1)),
    )


# --------------------------------------------------------------------------------------------
# 9. 3-D layers: BatchNorm3d, MaxPool3d, AvgPool3d, ConvTranspose3d, trilinear Upsample, ...
# --------------------------------------------------------------------------------------------

VOL3D_SPEC = """\
name = "vol3d"
description = "3-D: BatchNorm3d, MaxPool3d, Dropout3d, AvgPool3d, ConvTranspose3d, Upsample, adaptive pools"

[input]
shape = [2, 16, 16, 16]

[[layers]]
type = "Conv3d"
name = "conv1"
out_channels = 8
kernel_size = 3
padding = 1
[[layers]]
type = "BatchNorm3d"
name = "bn1"
[[layers]]
type = "ReLU"
name = "relu1"
inplace = true
[[layers]]
type = "MaxPool3d"
name = "maxpool"
kernel_size = 2
[[layers]]
type = "Conv3d"
name = "conv2"
out_channels = 16
kernel_size = 3
padding = 1
[[layers]]
type = "Dropout3d"
name = "drop3d"
p = 0.1
[[layers]]
type = "AvgPool3d"
name = "avgpool"
kernel_size = 2
[[layers]]
type = "ConvTranspose3d"
name = "upconv"
out_channels = 8
kernel_size = 2
stride = 2
[[layers]]
type = "Upsample"
name = "upsample"
scale_factor = 2
mode = "trilinear"
[[layers]]
type = "Conv3d"
name = "conv3"
out_channels = 4
kernel_size = 3
stride = 2
padding = 1
[[layers]]
type = "AdaptiveMaxPool3d"
name = "amaxpool"
output_size = 4
[[layers]]
type = "AdaptiveAvgPool3d"
name = "aavgpool"
output_size = 2
[[layers]]
type = "Flatten"
name = "flatten"
[[layers]]
type = "Linear"
name = "fc"
out_features = 3
"""


def build_vol3d():
    return seq(
        ("conv1", nn.Conv3d(2, 8, 3, padding=1)),
        ("bn1", nn.BatchNorm3d(8)),
        ("relu1", nn.ReLU(inplace=True)),
        ("maxpool", nn.MaxPool3d(2)),                                  # 8 x 8^3
        ("conv2", nn.Conv3d(8, 16, 3, padding=1)),
        ("drop3d", nn.Dropout3d(0.1)),
        ("avgpool", nn.AvgPool3d(2)),                                  # 16 x 4^3
        ("upconv", nn.ConvTranspose3d(16, 8, 2, stride=2)),            # 8 x 8^3
        ("upsample", nn.Upsample(scale_factor=2, mode="trilinear")),   # 8 x 16^3
        ("conv3", nn.Conv3d(8, 4, 3, stride=2, padding=1)),            # 4 x 8^3
        ("amaxpool", nn.AdaptiveMaxPool3d(4)),
        ("aavgpool", nn.AdaptiveAvgPool3d(2)),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(4 * 8, 3)),
    )


# --------------------------------------------------------------------------------------------
# 10. In-place layers (ReLU, LeakyReLU, SiLU, Dropout) after conv, BN and Linear
# --------------------------------------------------------------------------------------------

INPLACE_SPEC = """\
name = "inplace2d"
description = "In-place ReLU/LeakyReLU/SiLU/Dropout after Conv, BatchNorm and Linear"

[input]
shape = [3, 24, 24]

[[layers]]
type = "Conv2d"
name = "conv1"
out_channels = 16
kernel_size = 3
padding = 1
[[layers]]
type = "ReLU"
name = "relu1"
inplace = true
[[layers]]
type = "Conv2d"
name = "conv2"
out_channels = 16
kernel_size = 3
padding = 1
bias = false
[[layers]]
type = "BatchNorm2d"
name = "bn2"
[[layers]]
type = "LeakyReLU"
name = "lrelu2"
negative_slope = 0.2
inplace = true
[[layers]]
type = "Conv2d"
name = "conv3"
out_channels = 8
kernel_size = 3
stride = 2
padding = 1
[[layers]]
type = "SiLU"
name = "silu3"
inplace = true
[[layers]]
type = "Flatten"
name = "flatten"
[[layers]]
type = "Linear"
name = "fc1"
out_features = 32
[[layers]]
type = "Dropout"
name = "drop"
p = 0.5
inplace = true
[[layers]]
type = "ReLU"
name = "relu_fc1"
inplace = true
[[layers]]
type = "Linear"
name = "fc2"
out_features = 4
"""


def build_inplace():
    return seq(
        ("conv1", nn.Conv2d(3, 16, 3, padding=1)),
        ("relu1", nn.ReLU(inplace=True)),
        ("conv2", nn.Conv2d(16, 16, 3, padding=1, bias=False)),
        ("bn2", nn.BatchNorm2d(16)),
        ("lrelu2", nn.LeakyReLU(0.2, inplace=True)),
        ("conv3", nn.Conv2d(16, 8, 3, stride=2, padding=1)),           # 8 x 12 x 12
        ("silu3", nn.SiLU(inplace=True)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(8 * 12 * 12, 32)),
        ("drop", nn.Dropout(0.5, inplace=True)),  # before the ReLU: ReLU saves its output, and
        ("relu_fc1", nn.ReLU(inplace=True)),       # an in-place Dropout after it breaks backward
        ("fc2", nn.Linear(32, 4)),
    )


# --------------------------------------------------------------------------------------------
# 12. MobileNet-style: depthwise convolution, the MobileNetV2/V3 activations, PReLU
# --------------------------------------------------------------------------------------------

MOBILE_SPEC = """\
name = "mobile2d"
description = "MobileNet-style: depthwise convolution, ReLU6, Hardswish, Hardsigmoid, PReLU, ELU, Mish"

[input]
shape = [3, 32, 32]

[[layers]]
type = "Conv2d"
name = "conv1"
out_channels = 16
kernel_size = 3
stride = 2
padding = 1
bias = false

[[layers]]
type = "BatchNorm2d"
name = "bn1"

[[layers]]
type = "Hardswish"
name = "hswish1"
inplace = true

[[layers]]
type = "Conv2d"
name = "dw"
out_channels = 16
kernel_size = 3
padding = 1
groups = 16
bias = false

[[layers]]
type = "BatchNorm2d"
name = "bn2"

[[layers]]
type = "ReLU6"
name = "relu6"
inplace = true

[[layers]]
type = "Conv2d"
name = "pw"
out_channels = 24
kernel_size = 1

[[layers]]
type = "PReLU"
name = "prelu"
num_parameters = 24

[[layers]]
type = "Conv2d"
name = "conv3"
out_channels = 24
kernel_size = 3
padding = 1

[[layers]]
type = "ELU"
name = "elu"
inplace = true

[[layers]]
type = "Mish"
name = "mish"

[[layers]]
type = "Hardtanh"
name = "htanh"
min_val = -2.0
max_val = 2.0

[[layers]]
type = "Softplus"
name = "softplus"

[[layers]]
type = "Hardsigmoid"
name = "hsig"

[[layers]]
type = "AdaptiveAvgPool2d"
name = "pool"
output_size = 2

[[layers]]
type = "Flatten"
name = "flatten"

[[layers]]
type = "Linear"
name = "fc"
out_features = 10
"""


def build_mobile():
    return seq(
        ("conv1", nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False)),   # 16 x 16 x 16
        ("bn1", nn.BatchNorm2d(16)),
        ("hswish1", nn.Hardswish(inplace=True)),
        ("dw", nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)),
        ("bn2", nn.BatchNorm2d(16)),
        ("relu6", nn.ReLU6(inplace=True)),
        ("pw", nn.Conv2d(16, 24, 1)),
        ("prelu", nn.PReLU(24)),
        ("conv3", nn.Conv2d(24, 24, 3, padding=1)),
        ("elu", nn.ELU(inplace=True)),
        ("mish", nn.Mish()),
        ("htanh", nn.Hardtanh(-2.0, 2.0)),
        ("softplus", nn.Softplus()),
        ("hsig", nn.Hardsigmoid()),
        ("pool", nn.AdaptiveAvgPool2d(2)),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(24 * 2 * 2, 10)),
    )


# --------------------------------------------------------------------------------------------
# 11. MLP on feature vectors: BatchNorm1d on (C,), LayerNorm, GELU, Dropout
# --------------------------------------------------------------------------------------------

MLP_SPEC = """\
name = "mlp"
description = "Linear layers on 64 features: BatchNorm1d on (C,), LayerNorm, GELU, Dropout"

[input]
shape = [64]

[[layers]]
type = "Linear"
name = "fc1"
out_features = 256
[[layers]]
type = "BatchNorm1d"
name = "bn1"
[[layers]]
type = "ReLU"
name = "relu1"
[[layers]]
type = "Dropout"
name = "drop1"
p = 0.1
[[layers]]
type = "Linear"
name = "fc2"
out_features = 256
[[layers]]
type = "LayerNorm"
name = "ln2"
normalized_shape = 256
[[layers]]
type = "GELU"
name = "gelu2"
approximate = "tanh"
[[layers]]
type = "Linear"
name = "fc3"
out_features = 10
"""


def build_mlp():
    return seq(
        ("fc1", nn.Linear(64, 256)),
        ("bn1", nn.BatchNorm1d(256)),
        ("relu1", nn.ReLU()),
        ("drop1", nn.Dropout(0.1)),
        ("fc2", nn.Linear(256, 256)),
        ("ln2", nn.LayerNorm(256)),
        ("gelu2", nn.GELU(approximate="tanh")),
        ("fc3", nn.Linear(256, 10)),
    )


ZOO: tuple[ZooEntry, ...] = (
    ZooEntry("lecture3d", "the lecture's 3-D CNN, 1 x 61 x 73 x 61", LECTURE_SPEC, build_lecture3d,
             (1, 61, 73, 61), batches=(1, 2), bf16=True),
    ZooEntry("vgg2d", "VGG-style conv/ReLU/MaxPool, Linear, Dropout", VGG_SPEC, build_vgg2d,
             (3, 32, 32), bf16=True, foreach=True),
    ZooEntry("resnet", "ResNet-style: BN, in-place ReLU, Add, projection", RESNET_SPEC, build_resnet,
             (3, 32, 32), bf16=True, foreach=True),
    ZooEntry("resnet_ip", "the ResNet with in-place additions (out += identity)",
             RESNET_INPLACE_SPEC, build_resnet_inplace, (3, 32, 32), bf16=True),
    ZooEntry("unet2d", "U-Net depth 2: Concat, ConvTranspose2d, BN", UNET_SPEC, build_unet,
             (1, 32, 32), bf16=True),
    ZooEntry("plain2d", "no BatchNorm / Dropout / MaxPool", PLAIN_SPEC, build_plain, (3, 32, 32),
             bf16=True),
    ZooEntry("bndrop2d", "with BatchNorm, Dropout, MaxPool", BNDROP_SPEC, build_bndrop, (3, 32, 32),
             bf16=True),
    ZooEntry("conv1d", "1-D: Conv1d, BN1d, pools, ConvTranspose1d, Upsample", CONV1D_SPEC,
             build_conv1d, (4, 128), bf16=True),
    ZooEntry("acts2d", "activations, GroupNorm, LayerNorm, pools, Upsample", ACTS_SPEC, build_acts,
             (3, 32, 32), bf16=True),
    ZooEntry("vol3d", "3-D: BN3d, pools, ConvTranspose3d, trilinear Upsample", VOL3D_SPEC,
             build_vol3d, (2, 16, 16, 16), bf16=True),
    ZooEntry("inplace2d", "in-place ReLU/LeakyReLU/SiLU/Dropout", INPLACE_SPEC, build_inplace,
             (3, 24, 24), bf16=True),
    ZooEntry("mlp", "Linear, BatchNorm1d on (C,), LayerNorm, GELU", MLP_SPEC, build_mlp, (64,),
             bf16=True, foreach=True),
    ZooEntry("mobile2d", "depthwise conv, ReLU6, Hardswish, PReLU, ELU, Mish, Softplus",
             MOBILE_SPEC, build_mobile, (3, 32, 32), bf16=True),
)


#: Networks too large for the routine run (minutes of CPU time and gigabytes of memory each);
#: ``python validation/lecture_full.py`` measures them.
HEAVY: tuple[ZooEntry, ...] = (
    ZooEntry("lecture3d-full", "the lecture's 3-D CNN at full size, 1 x 193 x 229 x 193",
             (Path(__file__).resolve().parent.parent / "examples" / "lecture.toml").read_text(),
             build_lecture3d_full, (1, 193, 229, 193), batches=(1,), bf16=True),
)


def entries():
    """``(name, spec_text, builder, input_shape)`` for every network of the zoo."""
    return [(e.name, e.spec_text, e.builder, e.input_shape) for e in ZOO]


def get(name: str) -> ZooEntry:
    for e in ZOO + HEAVY:
        if e.name == name:
            return e
    raise KeyError(f"no zoo network {name!r} (known: {', '.join(e.name for e in ZOO + HEAVY)})")


# --------------------------------------------------------------------------------------------
# Consistency checks between the torch module and the spec
# --------------------------------------------------------------------------------------------

def leaf_modules(model) -> dict[str, object]:
    """Qualified name -> module, for modules without children (the nodes)."""
    return {n: m for n, m in model.named_modules() if n and not any(True for _ in m.children())}


def check_entry(entry: ZooEntry) -> dict:
    """Assert that the torch module and the spec describe the same network; return a summary."""
    import sympy

    import symcnn

    spec = symcnn.parse_spec(entry.spec_text, source=f"<zoo {entry.name}>")
    analysis = symcnn.analyze(spec.network)
    torch.manual_seed(0)
    model = entry.builder()
    leaves = leaf_modules(model)
    nodes = {row.name: row for row in analysis.rows}
    assert set(nodes) == set(leaves), (entry.name, sorted(set(nodes) ^ set(leaves)))
    for name, row in nodes.items():
        mod = leaves[name]
        assert type(mod).__name__ == row.type_name, (entry.name, name, type(mod).__name__,
                                                     row.type_name)
        n_torch = sum(p.numel() for p in mod.parameters(recurse=False))
        assert sympy.Integer(n_torch) == row.params, (entry.name, name, n_torch, row.params)
        n_buf = sum(b.numel() for b in mod.buffers(recurse=False))
        assert sympy.Integer(n_buf) == row.buffers, (entry.name, name, n_buf, row.buffers)
    total = sum(p.numel() for p in model.parameters())
    assert sympy.Integer(total) == analysis.total_params, (entry.name, total, analysis.total_params)
    assert tuple(int(v) for v in spec.network.input_shape) == tuple(entry.input_shape)
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(2, *entry.input_shape))
    want = tuple(int(v) for v in analysis.output_shape)
    assert tuple(out.shape[1:]) == want, (entry.name, tuple(out.shape), want)
    return {"name": entry.name, "params": total, "nodes": len(nodes),
            "output_shape": want, "types": sorted({r.type_name for r in analysis.rows})}


def covered_types() -> set[str]:
    """Every layer type used somewhere in the zoo (from the specs)."""
    import symcnn

    out = set()
    for e in ZOO:
        out |= {n.layer.type_name for n in symcnn.parse_spec(e.spec_text).network.nodes}
    return out


def check_all() -> list[dict]:
    from symcnn.layers import LAYER_TYPES

    summaries = [check_entry(e) for e in ZOO]
    missing = set(LAYER_TYPES) - covered_types()
    assert not missing, f"layer types not in the zoo: {sorted(missing)}"
    return summaries


if __name__ == "__main__":
    for s in check_all():
        print(f"{s['name']:10s} {s['params']:>10,d} params  {s['nodes']:3d} nodes  "
              f"out {s['output_shape']}")
    print(f"all {len(ZOO)} networks agree with their specs; every symcnn layer type is covered")

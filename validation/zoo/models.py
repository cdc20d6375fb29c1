"""The torch side of the validation zoo (:mod:`validation.zoo`): one ``torch.nn`` builder per
network, written by hand so that they are independent of the specs (``validation/zoo/*.toml``):
every ``in_channels`` / ``in_features`` is given here, where the spec lets symcnn infer it.
Module names are the spec's node names, so a measurement of the torch module ``layer2.conv1``
belongs to the spec node ``layer2.conv1``.

Residual additions and concatenations are the tiny modules :class:`Add` and :class:`Concat`
(``a + b`` / ``torch.cat``), so that they are named nodes too.  Importing this module needs no
torch (the builders do).
"""

from __future__ import annotations

from collections import OrderedDict

try:  # the specs are usable without torch; the builders need it
    import torch
    from torch import nn
except ImportError:  # pragma: no cover
    torch = None
    nn = None


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


# ---- lecture3d, lecture3d-full: the lecture's 3-D CNN
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


# ---- vgg2d: VGG-style 2-D: conv + ReLU + MaxPool, Linear, Dropout
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


# ---- resnet, resnet_ip: ResNet-style: BatchNorm, in-place ReLU, residual Add, projection shortcut
# torchvision's BasicBlock, except that the addition is out of place (a + b) unless inplace_add.
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


def build_resnet_inplace():
    return ResNetMini(inplace_add=True)


# ---- unet2d: U-Net-style: Concat skip connections, ConvTranspose2d, BatchNorm
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


# ---- plain2d: Plain: no BatchNorm, no Dropout, no MaxPool (strided convs, non-in-place ReLU)
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


# ---- bndrop2d: The same kind of net with BatchNorm, Dropout and MaxPool
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


# ---- conv1d: 1-D conv net
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


# ---- acts2d: Activations, norms, pools and upsampling (2-D)
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


# ---- vol3d: 3-D layers: BatchNorm3d, MaxPool3d, AvgPool3d, ConvTranspose3d, trilinear Upsample, ...
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


# ---- inplace2d: In-place layers (ReLU, LeakyReLU, SiLU, Dropout) after conv, BN and Linear
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


# ---- mobile2d: MobileNet-style: depthwise convolution, the MobileNetV2/V3 activations, PReLU
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


# ---- mlp: MLP on feature vectors: BatchNorm1d on (C,), LayerNorm, GELU, Dropout
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

"""The torch side of the kernel fitting set (:mod:`validation.fitting`): one ``torch.nn``
builder per network, written by hand from the layer list (every ``in_channels`` /
``in_features`` given here), with the spec's node names.  Importing this module needs no
torch (the builders do)."""

from __future__ import annotations

from validation.zoo.models import nn, seq


def build_fit_dw():
    return seq(
        ("conv1", nn.Conv2d(3, 24, 3, padding=1)),
        ("relu1", nn.ReLU()),
        ("dw1", nn.Conv2d(24, 24, 3, padding=1, groups=24)),                      # 32 x 32
        ("relu2", nn.ReLU()),
        ("dw2", nn.Conv2d(24, 24, 3, stride=2, padding=1, groups=24, bias=False)),  # 16 x 16
        ("pw", nn.Conv2d(24, 12, 1)),
        ("relu3", nn.ReLU()),
        ("dw3", nn.Conv2d(12, 12, 3, stride=2, padding=1, groups=12)),            # 8 x 8
        ("relu4", nn.ReLU6()),
        ("dw4", nn.Conv2d(12, 12, 5, padding=2, groups=12, bias=False)),
        ("pool", nn.AdaptiveAvgPool2d(1)),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(12, 10)),
    )


def build_fit_grouped():
    return seq(
        ("conv1", nn.Conv2d(3, 32, 3, padding=1)),
        ("relu1", nn.ReLU()),
        ("g2", nn.Conv2d(32, 32, 3, padding=1, groups=2)),
        ("relu2", nn.ReLU()),
        ("g4s2", nn.Conv2d(32, 64, 3, stride=2, padding=1, groups=4)),            # 12 x 12
        ("relu3", nn.ReLU()),
        ("g16", nn.Conv2d(64, 64, 3, padding=1, groups=16, bias=False)),
        ("bn", nn.BatchNorm2d(64)),
        ("relu4", nn.ReLU(inplace=True)),
        ("g8pw", nn.Conv2d(64, 32, 1, groups=8)),
        ("pool", nn.MaxPool2d(2)),                                                # 6 x 6
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(32 * 6 * 6, 10)),
    )


def build_fit_dilated():
    return seq(
        ("dil1", nn.Conv2d(3, 16, 3, padding=2, dilation=2)),
        ("relu1", nn.ReLU()),
        ("dil3", nn.Conv2d(16, 24, 3, padding=3, dilation=3)),
        ("relu2", nn.ReLU()),
        ("dil2s2", nn.Conv2d(24, 24, 3, stride=2, padding=2, dilation=2)),        # 16 x 16
        ("relu3", nn.ReLU()),
        ("dil6", nn.Conv2d(24, 16, 3, padding=6, dilation=6)),
        ("relu4", nn.ReLU()),
        ("pool", nn.AvgPool2d(2)),                                                # 8 x 8
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(16 * 8 * 8, 10)),
    )


def build_fit_wide():
    return seq(
        ("stem", nn.Conv2d(3, 16, 11, stride=4, padding=2)),                      # 15 x 15
        ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(16, 32, 5, padding=2)),
        ("relu2", nn.ReLU()),
        ("pool", nn.MaxPool2d(3, stride=2)),                                      # 7 x 7
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(32 * 7 * 7, 10)),
    )


def build_fit_wide1d():
    return seq(
        ("conv1", nn.Conv1d(1, 32, 16, stride=8, padding=4)),                     # 250
        ("relu1", nn.ReLU()),
        ("conv2", nn.Conv1d(32, 32, 5, stride=2, padding=2)),                     # 125
        ("relu2", nn.ReLU()),
        ("apool", nn.AdaptiveAvgPool1d(20)),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(32 * 20, 10)),
    )

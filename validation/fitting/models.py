"""The torch side of the kernel fitting set (:mod:`validation.fitting`): one ``torch.nn``
builder per network, written by hand from the layer list (every ``in_channels`` /
``in_features`` given here), with the spec's node names.  Importing this module needs no
torch (the builders do)."""

from __future__ import annotations

from validation.zoo.models import nn, seq, torch


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


# ---- the tensor operations and attention (issue 13: kernels the held-out set did not cover).
# Their specs are what ``symcnn import`` writes for these modules (function calls, ``x[:, 0]``,
# ``x * self.gamma``, ``x.mean(1)``, are nodes that are no modules); ``validation.zoo``'s
# :func:`~validation.zoo.check_imported` checks the committed spec against a fresh import.

if nn is not None:

    class _Block(nn.Module):
        """A pre-norm transformer block on (b, L, E): LayerNorm, self-attention (PyTorch's
        explicit path with ``need_weights``, the fused one without), residual, LayerNorm, MLP
        with GELU, residual; ``scale``: a learned per-feature scale on each branch (``Mul`` by a
        ``Parameter``, CaiT's layer scale)."""

        def __init__(self, dim, heads, mlp, need_weights, scale=False):
            super().__init__()
            self.need_weights = need_weights
            self.ln1 = nn.LayerNorm(dim)
            self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
            self.ln2 = nn.LayerNorm(dim)
            self.fc1 = nn.Linear(dim, mlp)
            self.act = nn.GELU()
            self.fc2 = nn.Linear(mlp, dim)
            self.gamma1 = nn.Parameter(torch.full((dim,), 0.1)) if scale else None
            self.gamma2 = nn.Parameter(torch.full((dim,), 0.1)) if scale else None

        def _attention(self, x):
            y = self.ln1(x)
            y = self.attn(y, y, y, need_weights=self.need_weights)[0]
            return y * self.gamma1 if self.gamma1 is not None else y

        def _mlp(self, x):
            y = self.fc2(self.act(self.fc1(self.ln2(x))))
            return y * self.gamma2 if self.gamma2 is not None else y

        def forward(self, x):   # no local keeps a tensor past its last reader
            x = x + self._attention(x)
            return x + self._mlp(x)

    class FitMHA(nn.Module):
        """Tokens (64 x 48) embedded to 96 features, one block with ``need_weights`` (the
        explicit attention: 4 heads, the 64 x 64 attention matrix), the mean over the tokens,
        a Linear head."""

        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(48, 96)
            self.block = _Block(96, 4, 192, need_weights=True)
            self.norm = nn.LayerNorm(96)
            self.head = nn.Linear(96, 10)

        def forward(self, x):
            return self.head(self.norm(self.block(self.embed(x))).mean(1))

    class FitSDPA(nn.Module):
        """A class token (``Parameter``, concatenated), the fused attention (``need_weights``
        false: ``scaled_dot_product_attention``) with layer scales (``Mul`` by a learned
        tensor), the class token's row (``Select``) and the first 8 tokens (``Narrow``), each
        to a head; 80 tokens of 64 features, 2 heads."""

        def __init__(self):
            super().__init__()
            self.cls = nn.Parameter(torch.zeros(1, 1, 64))
            self.block = _Block(64, 2, 128, need_weights=False, scale=True)
            self.norm = nn.LayerNorm(64)
            self.head = nn.Linear(64, 10)
            self.aux = nn.Linear(8 * 64, 10)

        def forward(self, x):
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
            x = self.norm(self.block(x))
            return self.head(x[:, 0]) + self.aux(torch.flatten(x[:, 1:9], 1))

    class FitPatches(nn.Module):
        """A patch embedding (Conv2d 3->48, 4x4 patches of 40 x 40), its tokens by ``flatten``
        and ``permute`` (a non-contiguous (b, 100, 48) view), LayerNorm over that view, a
        Linear, a product of two activations (``Mul``, a gate), the mean over the tokens."""

        def __init__(self):
            super().__init__()
            self.patch = nn.Conv2d(3, 48, 4, stride=4)
            self.ln = nn.LayerNorm(48)
            self.fc = nn.Linear(48, 96)
            self.gate = nn.Linear(48, 96)
            self.act = nn.Sigmoid()
            self.head = nn.Linear(96, 10)

        def forward(self, x):
            x = self.ln(self.patch(x).flatten(2).permute(0, 2, 1))
            return self.head((self.fc(x) * self.act(self.gate(x))).mean(1))


def build_fit_mha():
    return FitMHA()


def build_fit_sdpa():
    return FitSDPA()


def build_fit_patches():
    return FitPatches()


def build_fit_patch8():
    return seq(
        ("patch", nn.Conv2d(3, 32, 8, stride=8)),                                 # 6 x 6
        ("relu", nn.ReLU()),
        ("conv", nn.Conv2d(32, 32, 3, padding=1)),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(32 * 6 * 6, 10)),
    )


def build_fit_patch16():
    return seq(
        ("patch", nn.Conv2d(3, 96, 16, stride=16)),                               # 5 x 5
        ("gelu", nn.GELU()),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(96 * 5 * 5, 10)),
    )

"""What autograd saves for the tensor operations, learned tensors and attention, against
autograd's own saved tensors (as ``tests/test_saved.py`` does for the module layers).

Each model below runs one training-mode forward on the CPU under
``torch.autograd.graph.saved_tensors_hooks``; the storages saved (parameters and buffers
excluded, each storage once) must add up to what symcnn predicts, to the byte, for the spec
that ``symcnn import`` makes of the same model.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from symcnn import analyze, parse_spec  # noqa: E402
from symcnn.importers.torch_fx import import_module  # noqa: E402
from symcnn.memory.pytorch.saved import saved_tensors, total_saved_bytes  # noqa: E402
from tests.test_saved import measured_saved_bytes  # noqa: E402
from tests.test_torch_layers import SETTINGS  # noqa: E402

nn = torch.nn
F = nn.functional
BATCH = 3


def stochastic_depth(x, p: float, mode: str, training: bool = True):
    """torchvision.ops.stochastic_depth, as its source writes it."""
    if not training or p == 0.0:
        return x
    size = [x.shape[0]] + [1] * (x.ndim - 1) if mode == "row" else [1] * x.ndim
    noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(1.0 - p)
    if p < 1.0:
        noise.div_(1.0 - p)
    return x * noise


# under torchvision's name, which the importer knows it by (torchvision itself is not needed)
stochastic_depth.__module__ = "torchvision.ops.stochastic_depth"
torch.fx.wrap("stochastic_depth")


class SqueezeExcitation(nn.Module):
    def __init__(self, c=8, squeezed=4):
        super().__init__()
        self.conv = nn.Conv2d(3, c, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.fc2 = nn.Conv2d(c, squeezed, 1), nn.Conv2d(squeezed, c, 1)
        self.act, self.gate = nn.ReLU(), nn.Hardsigmoid()

    def forward(self, x):
        x = self.conv(x)
        scale = self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))
        return scale * x


class ByANumber(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x) * 0.5


class MeanHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 6, 3), nn.Linear(6, 2)

    def forward(self, x):
        return self.fc(self.conv(x).mean([2, 3]))


class ConvNeXtBlock(nn.Module):
    """torchvision's CNBlock, small: depthwise conv, channels-last LayerNorm, MLP, layer
    scale, stochastic depth, residual."""

    def __init__(self, c=8, p=0.25, mode="row"):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 1)
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm, self.fc1, self.fc2 = nn.LayerNorm(c), nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        self.act = nn.GELU()
        self.layer_scale = nn.Parameter(torch.ones(c, 1, 1))
        self.p, self.mode = p, mode

    def forward(self, x):
        x = self.stem(x)
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.fc2(self.act(self.fc1(self.norm(y)))).permute(0, 3, 1, 2)
        y = self.layer_scale * y
        return x + stochastic_depth(y, self.p, self.mode, self.training)


class Shuffle(nn.Module):
    """ShuffleNetV2's channel shuffle and split."""

    def __init__(self):
        super().__init__()
        self.conv, self.conv2 = nn.Conv2d(3, 8, 1), nn.Conv2d(4, 4, 1)

    def forward(self, x):
        x = self.conv(x)
        b, c, h, w = x.size()
        x = x.view(b, 2, c // 2, h, w).transpose(1, 2).contiguous().view(b, -1, h, w)
        a, z = x.chunk(2, dim=1)
        return torch.cat((a, self.conv2(z)), dim=1)


class TinyViT(nn.Module):
    """torchvision's VisionTransformer, small: patches, class token, position embedding, one
    encoder block, the class token's features."""

    def __init__(self, e=8, heads=2, need_weights=False, patch=4, size=8):
        super().__init__()
        self.proj = nn.Conv2d(3, e, patch, stride=patch)
        n = (size // patch) ** 2
        self.class_token = nn.Parameter(torch.zeros(1, 1, e))
        self.pos_embedding = nn.Parameter(torch.zeros(1, n + 1, e))
        self.ln = nn.LayerNorm(e)
        self.attn = nn.MultiheadAttention(e, heads, batch_first=True)
        self.head = nn.Linear(e, 3)
        self.need_weights = need_weights

    def forward(self, x):
        x = self.proj(x)
        n, e = x.shape[0], x.shape[1]
        x = x.reshape(n, e, -1).permute(0, 2, 1)
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1) + self.pos_embedding
        y = self.ln(x)
        y, _ = self.attn(y, y, y, need_weights=self.need_weights)
        return self.head((x + y)[:, 0])


def predicted(model, shape) -> int:
    spec = import_module(model, shape)
    analysis = analyze(parse_spec(spec).network)
    return int(total_saved_bytes(saved_tensors(analysis, device="cpu"), 4, batch=BATCH))


def measured(model, shape) -> int:
    torch.manual_seed(0)
    return measured_saved_bytes(model.train(), torch.randn((BATCH, *shape)))


@pytest.mark.parametrize("model, shape", [
    (SqueezeExcitation(), (3, 6, 5)), (ByANumber(), (3, 6, 6)), (MeanHead(), (3, 6, 6)),
    (ConvNeXtBlock(), (3, 6, 6)), (ConvNeXtBlock(mode="batch"), (3, 5, 6)),
    (ConvNeXtBlock(p=0.0), (3, 6, 6)), (Shuffle(), (3, 5, 4)),
], ids=["se", "number", "mean", "convnext", "convnext-batch", "convnext-p0", "shuffle"])
def test_saved_bytes_exact(model, shape):
    assert predicted(model, shape) == measured(model, shape)


@SETTINGS
@given(st.integers(1, 3), st.integers(1, 3), st.sampled_from([4, 8, 12]), st.booleans())
def test_attention_saved_bytes_exact(heads, head_dim, size, need_weights):
    """Self-attention at random sizes: ``need_weights`` keeps the ``heads x L^2`` matrix."""
    model = TinyViT(e=heads * head_dim * 2, heads=heads, need_weights=need_weights, size=size)
    shape = (3, size, size)
    assert predicted(model, shape) == measured(model, shape)


#: The layer types whose saved tensors this file measures (tests/test_saved.py's coverage).
COVERED = {"Mul", "Mean", "Permute", "Unflatten", "Contiguous", "Select", "Narrow",
           "Parameter", "StochasticDepth", "MultiheadAttention"}

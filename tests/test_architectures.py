"""The example architectures against PyTorch: ResNet-18/50/152, VGG-16, 2-D and 3-D U-Nets.

torchvision is not a dependency, so the models are written here, module for module as
torchvision defines them (ResNet's ``BasicBlock``/``Bottleneck`` v1.5 and ``_make_layer``,
VGG's ``features``/``avgpool``/``classifier``) and as the usual U-Net is written.  Three
parameter-free modules make the functional steps visible to forward hooks: ``Add`` (the
residual ``out += identity``), ``Concat`` (``torch.cat``) and ``nn.Flatten``
(``torch.flatten(x, 1)``); they change no count.

For every model: the total parameters equal ``sum(p.numel())`` and the published figure, the
buffers equal ``sum(b.numel())``, and node for node (hooks on the leaf modules, in execution
order, on the meta device) the type, output shape, parameters and buffers agree.  For the
U-Nets, ``valid_sizes`` is checked against which input sizes really run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import sympy

from symcnn import analyze, estimate_memory, load_spec, parse_spec
from symcnn.analysis.rows import valid_sizes
from symcnn.symbols import size

torch = pytest.importorskip("torch")
nn = torch.nn

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
C, D, H, W = size("C"), size("D"), size("H"), size("W")


def spec(name: str):
    return load_spec(EXAMPLES / f"{name}.toml").network


# ------------------------------------------------------------------ merge steps as modules

class Add(nn.Module):
    """``x + y``; with ``inplace``, torchvision's ``out += identity``."""

    def __init__(self, inplace=False):
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
    """``torch.cat(xs, dim=1)``; raises, as the real model would, if the sizes differ."""

    def forward(self, *xs):
        return torch.cat(xs, dim=1)


# ------------------------------------------------------------------ ResNet (torchvision)

def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.add = Add(inplace=True)  # torchvision: out += identity

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(self.add(out, identity))


class Bottleneck(nn.Module):
    """torchvision's v1.5 bottleneck: the stride is on the 3x3 convolution."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        width = planes
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.add = Add(inplace=True)  # torchvision: out += identity

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(self.add(out, identity))


class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(512 * block.expansion, num_classes)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.flatten(self.avgpool(x)))


# ------------------------------------------------------------------ VGG-16 (torchvision)

VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
             512, 512, 512, "M"]


class VGG(nn.Module):
    def __init__(self, cfg, num_classes=1000, dropout=0.5):
        super().__init__()
        layers, in_channels = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(in_channels, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                in_channels = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes))

    def forward(self, x):
        return self.classifier(self.flatten(self.avgpool(self.features(x))))


# ------------------------------------------------------------------ U-Net (2-D and 3-D)
# Module names follow the spec's node names (inc.conv1, down1.pool, up1.up, up1.cat, ...).

class DoubleConv(nn.Module):
    def __init__(self, nd, in_channels, out_channels, pool=False):
        super().__init__()
        Conv, BN = (nn.Conv2d, nn.BatchNorm2d) if nd == 2 else (nn.Conv3d, nn.BatchNorm3d)
        if pool:
            self.pool = (nn.MaxPool2d if nd == 2 else nn.MaxPool3d)(2)
        self.conv1 = Conv(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = BN(out_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = Conv(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = BN(out_channels)
        self.relu2 = nn.ReLU(inplace=True)

    def forward(self, x):
        if hasattr(self, "pool"):
            x = self.pool(x)
        x = self.relu1(self.bn1(self.conv1(x)))
        return self.relu2(self.bn2(self.conv2(x)))


class Up(DoubleConv):
    """Transposed convolution 2 (stride 2), concatenation after the skip, double conv."""

    def __init__(self, nd, in_channels, out_channels):
        super().__init__(nd, 2 * out_channels, out_channels)
        ConvT = nn.ConvTranspose2d if nd == 2 else nn.ConvTranspose3d
        self.up = ConvT(in_channels, out_channels, kernel_size=2, stride=2)
        self.cat = Concat()

    def forward(self, x, skip):
        return super().forward(self.cat(skip, self.up(x)))


class UNet(nn.Module):
    def __init__(self, nd, depth, c, in_channels=1, classes=2):
        super().__init__()
        self.depth = depth
        self.inc = DoubleConv(nd, in_channels, c)
        for i in range(1, depth + 1):
            setattr(self, f"down{i}", DoubleConv(nd, c * 2 ** (i - 1), c * 2 ** i, pool=True))
        for i in range(1, depth + 1):
            level = depth - i
            setattr(self, f"up{i}", Up(nd, c * 2 ** (level + 1), c * 2 ** level))
        self.outc = (nn.Conv2d if nd == 2 else nn.Conv3d)(c, classes, kernel_size=1)

    def forward(self, x):
        skips = [self.inc(x)]
        for i in range(1, self.depth + 1):
            skips.append(getattr(self, f"down{i}")(skips[-1]))
        x = skips.pop()
        for i in range(1, self.depth + 1):
            x = getattr(self, f"up{i}")(x, skips.pop())
        return self.outc(x)


# ------------------------------------------------------------------ tracing and comparing

@dataclass
class Call:
    """One call of a leaf module: its qualified name, type, output, own parameters/buffers."""

    name: str
    type: str
    shape: tuple[int, ...]
    numel: int
    params: int
    buffers: int


def trace(model, input_shape, device="meta") -> list[Call]:
    """Every leaf-module call of one forward pass on a batch of 1, in order."""
    names = {m: n for n, m in model.named_modules()}
    calls = []

    def hook(module, args, out):
        calls.append(Call(names[module], type(module).__name__, tuple(out.shape[1:]),
                          out[0].numel(),
                          sum(p.numel() for p in module.parameters(recurse=False)),
                          sum(b.numel() for b in module.buffers(recurse=False))))

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            model.eval()(torch.empty((1, *input_shape), device=device))
    finally:
        for h in handles:
            h.remove()
    return calls


def on_meta(factory):
    with torch.device("meta"):
        return factory()


def compare(analysis, calls, rename=None):
    """Node i of the spec is leaf call i: same type, output shape, parameters and buffers;
    ``rename`` maps a spec node name to the module's name (checked for nodes with weights)."""
    rows = analysis.rows
    assert [r.type_name for r in rows] == [c.type for c in calls]
    for row, call in zip(rows, calls):
        where = f"{row.name} / {call.name}"
        assert tuple(int(s) for s in row.output_shape) == call.shape, where
        assert int(row.activation) == call.numel, where
        assert int(row.params) == call.params, where
        assert int(row.buffers) == call.buffers, where
        if rename is not None and call.params:
            assert rename(row.name) == call.name, where


def counts(model) -> tuple[int, int]:
    return (sum(p.numel() for p in model.parameters()), sum(b.numel() for b in model.buffers()))


# ------------------------------------------------------------------ ResNets and VGG

def resnet_name(node: str) -> str:
    """symcnn node name -> torchvision module name: ``layer3.rest.4.conv1`` is the sixth block
    of stage 3 (``layer3.5.conv1``); ResNet-18's ``proj``/``proj_bn`` are ``downsample.0/1``."""
    parts = node.split(".")
    if len(parts) > 2 and parts[1] == "rest":
        parts = [parts[0], str(int(parts[2]) + 1), *parts[3:]]
    name = ".".join(parts)
    return name.replace(".proj_bn", ".downsample.1").replace(".proj", ".downsample.0")


RESNETS = {  # spec -> (block, blocks per stage, torchvision's parameter count)
    "resnet18": (BasicBlock, [2, 2, 2, 2], 11_689_512),
    "resnet50": (Bottleneck, [3, 4, 6, 3], 25_557_032),
    "resnet152": (Bottleneck, [3, 8, 36, 3], 60_192_808),
}


@pytest.mark.parametrize("name", list(RESNETS))
def test_resnet(name):
    block, layers, published = RESNETS[name]
    model = on_meta(lambda: ResNet(block, layers))
    a = analyze(spec(name))
    params, buffers = counts(model)
    assert a.total_params == params == published
    assert a.total_buffers == buffers
    compare(a, trace(model, (3, 224, 224)), rename=resnet_name)
    assert a.output_shape == (1000,)


def test_resnet50_on_another_input_size():
    """The same spec, read with another input (3 x 160 x 97): shapes still agree node by node."""
    text = (EXAMPLES / "resnet50.toml").read_text().replace("shape = [3, 224, 224]",
                                                              'shape = [3, "H", "W"]')
    net = parse_spec(text).network
    a = analyze(net.subs({H: 160, W: 97}))
    compare(a, trace(on_meta(lambda: ResNet(Bottleneck, [3, 4, 6, 3])), (3, 160, 97)),
            rename=resnet_name)
    symbolic = analyze(net)
    assert symbolic.conditions == ()  # residual shapes agree for every H, W
    assert estimate_memory(symbolic).per_sample.subs({H: 160, W: 97}) == \
        estimate_memory(a).per_sample


def test_vgg16():
    model = on_meta(lambda: VGG(VGG16_CFG))
    a = analyze(spec("vgg16"))
    assert a.total_params == counts(model)[0] == 138_357_544
    assert a.total_buffers == counts(model)[1] == 0
    calls = trace(model, (3, 224, 224))
    compare(a, calls)
    # the classifier keeps torchvision's names
    assert [r.name for r in a.rows if r.name.startswith("classifier")] == \
        [c.name for c in calls if c.name.startswith("classifier")]


# ------------------------------------------------------------------ U-Nets

def test_unet2d_counts_are_a_polynomial_in_c():
    a = analyze(spec("unet2d"))
    assert sympy.expand(a.total_params - (7574 * C**2 + 210 * C + 2)) == 0
    for c in (1, 3, 64):
        params, buffers = counts(on_meta(lambda: UNet(2, 4, c)))
        assert a.total_params.subs(C, c) == params
        assert a.total_buffers.subs(C, c) == buffers
    assert a.total_params.subs(C, 64) == 31_036_546      # channels 64 ... 1024


def test_unet3d_counts_are_a_polynomial_in_c():
    a = analyze(spec("unet3d"))
    for c in (1, 5, 32):
        params, buffers = counts(on_meta(lambda: UNet(3, 3, c)))
        assert a.total_params.subs(C, c) == params
        assert a.total_buffers.subs(C, c) == buffers
    assert a.total_params.subs(C, 32) == 5_601_154


def test_unet2d_numeric_example_node_by_node():
    """C = 64 on a 1 x 128 x 96 image (H != W, so no axis can be swapped unnoticed)."""
    net = spec("unet2d").subs({C: 64, H: 128, W: 96})
    a = analyze(net)
    assert a.conditions == ()
    compare(a, trace(on_meta(lambda: UNet(2, 4, 64)), (1, 128, 96)), rename=lambda n: n)
    assert a.output_shape == (2, 128, 96)


def test_unet3d_numeric_example_node_by_node():
    net = spec("unet3d").subs({C: 32, D: 40, H: 64, W: 24})
    a = analyze(net)
    compare(a, trace(on_meta(lambda: UNet(3, 3, 32)), (1, 40, 64, 24)), rename=lambda n: n)
    assert a.output_shape == (2, 40, 64, 24)


def test_unet2d_conditions_are_divisibility_by_16():
    a = analyze(spec("unet2d"))
    half = lambda x, k: f"floor({x}/{2**k})" if k else str(x)  # noqa: E731
    expected = {f"Eq({half(x, k - 1)}, 2*{half(x, k)})" for x in "HW" for k in range(1, 5)}
    assert {str(c.relation) for c in a.conditions} == expected
    assert {c.node for c in a.conditions} == {f"up{i}.cat" for i in range(1, 5)}


@pytest.fixture
def one_thread():
    """Tiny CPU tensors: one thread is fastest and does not fight other processes for cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def runs(model, shape) -> bool:
    """Does the real model accept a 1 x ``shape`` input (CPU, real tensors)?"""
    try:
        with torch.no_grad():
            model(torch.zeros((1, *shape)))
    except RuntimeError:  # concatenation of mismatched sizes, or a pooled size of 0
        return False
    return True


def test_unet2d_valid_sizes_against_torch(one_thread):
    torch.manual_seed(0)
    model = UNet(2, 4, 2).eval()
    a = analyze(spec("unet2d"))
    heights = range(1, 50)
    for axis, other in ((H, W), (W, H)):
        claimed = valid_sizes(a, axis, heights, fixed={other: 16, C: 2})
        actual = [h for h in heights if runs(model, (1, h, 16) if axis == H else (1, 16, h))]
        assert claimed == actual == [16, 32, 48]
    # with the other axis wrong, nothing is valid (that condition does not depend on H)
    assert valid_sizes(a, H, heights, fixed={W: 24, C: 2}) == []
    assert not runs(model, (1, 16, 24))


def test_unet3d_valid_sizes_against_torch(one_thread):
    torch.manual_seed(0)
    model = UNet(3, 3, 1).eval()
    a = analyze(spec("unet3d"))
    depths = range(1, 26)
    claimed = valid_sizes(a, D, depths, fixed={H: 8, W: 16, C: 1})
    actual = [d for d in depths if runs(model, (1, d, 8, 16))]
    assert claimed == actual == [8, 16, 24]


# ------------------------------------------------------------------ memory of ResNet-18

ALLOCATING = {"Conv2d", "BatchNorm2d", "MaxPool2d", "AdaptiveAvgPool2d", "Linear"}


def test_resnet18_memory_by_hand():
    """Lecture convention, computed from the torch model alone: parameters and their gradients
    (4 bytes each), BatchNorm buffers (2C float32 + one int64 per layer), and per sample the
    input once plus twice the output of every allocating call (conv, BN, max/avg pool,
    linear; the in-place additions and ReLUs and the Flatten view allocate nothing)."""
    model = on_meta(lambda: ResNet(BasicBlock, [2, 2, 2, 2]))
    calls = trace(model, (3, 224, 224))
    n_params = sum(p.numel() for p in model.parameters())
    buffer_bytes = sum(b.numel() * b.element_size() for b in model.buffers())
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert buffer_bytes == sum(2 * bn.num_features * 4 + 8 for bn in bns)
    assert {c.type for c in calls} - ALLOCATING == {"ReLU", "Flatten", "Add"}
    assert all(m.inplace for m in model.modules() if isinstance(m, Add))
    assert all(m.inplace for m in model.modules() if isinstance(m, nn.ReLU))
    per_sample = 4 * (3 * 224 * 224 + 2 * sum(c.numel for c in calls if c.type in ALLOCATING))
    fixed = 2 * 4 * n_params + buffer_bytes

    m = estimate_memory(analyze(spec("resnet18")))
    assert m.fixed == fixed == 2 * 4 * 11_689_512 + 4 * 9600 + 8 * 20
    assert m.per_sample == per_sample
    for batch in (1, 7, 64):
        assert m.training(batch) == fixed + batch * per_sample

"""symcnn import: PyTorch models in, specs out, each checked against PyTorch itself.

Every model is defined here, imported, parsed with ``symcnn.parse_spec`` and analysed;
its parameter count must be PyTorch's and every module's output shape the one PyTorch
computes on the meta device.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import symcnn  # noqa: E402
from symcnn import SymcnnError  # noqa: E402
from symcnn.cli import main  # noqa: E402
from symcnn.importers.torch_fx import import_module  # noqa: E402
from symcnn.symbols import size  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


# --------------------------------------------------------------------------- models


class SmallCNN(nn.Module):
    """A chain of modules with non-default arguments."""

    def __init__(self, width=8):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, (3, 5), stride=(1, 2), padding=(1, 2), bias=False),
            nn.BatchNorm2d(width, eps=1e-3, momentum=0.01), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, 2 * width, 3, dilation=2, groups=2, padding_mode="reflect", padding=2),
            nn.GELU(approximate="tanh"), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(2 * width, 2 * width, 3, padding="same", groups=2 * width),
            nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), nn.Dropout2d(0.1))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * width * 4 * 4, 10, bias=False),
                                  nn.Softmax(dim=1))

    def forward(self, x):
        return self.head(self.features(x))


class BasicBlock(nn.Module):
    """torchvision's ResNet block: ``out += identity``, one ReLU module called twice."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:  # the projection shortcut
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    def __init__(self, width=64, blocks=(2, 2, 2, 2), classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        layers, cin = [], width
        for i, n in enumerate(blocks):
            cout = width * 2 ** i
            layers.append(nn.Sequential(*(BasicBlock(cin if j == 0 else cout, cout,
                                                     2 if i and j == 0 else 1) for j in range(n))))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = (layers + [nn.Identity()] * 4)[:4]
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def small_resnet(width=16):
    return ResNet(width, blocks=(1, 2), classes=10)


class UNet(nn.Module):
    """Two levels, skips joined with ``torch.cat``, functional pooling and upsampling."""

    def __init__(self, width=8):
        super().__init__()
        self.enc1 = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU())
        self.enc2 = nn.Sequential(nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU())
        self.bottom = nn.Sequential(nn.Conv2d(2 * width, 4 * width, 3, padding=1),
                                    nn.GroupNorm(4, 4 * width), nn.SiLU())
        self.up2 = nn.ConvTranspose2d(4 * width, 2 * width, 2, stride=2)
        self.dec2 = nn.Conv2d(4 * width, 2 * width, 3, padding=1)
        self.dec1 = nn.Conv2d(3 * width, width, 3, padding=1)
        self.head = nn.Conv2d(width, 2, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        b = self.bottom(F.max_pool2d(e2, kernel_size=2, stride=2))
        d2 = F.relu(self.dec2(torch.cat([self.up2(b), e2], dim=1)))
        up = F.interpolate(d2, scale_factor=2, mode="bilinear", align_corners=False)
        d1 = torch.relu(self.dec1(torch.cat((up, e1), 1)))
        return torch.sigmoid(self.head(d1))


class VGG(nn.Module):
    """Convolutions, then ``x.view(x.size(0), -1)`` and a classifier with functional ReLUs."""

    def __init__(self, width=8):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2))
        self.fc1 = nn.Linear(2 * width * 8 * 8, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = self.features(x)
        x = x.view(x.size(0), -1)
        x = F.dropout(F.relu(self.fc1(x), inplace=True), 0.5, self.training)
        return F.softmax(self.fc2(x), dim=1)


class Volume(nn.Module):
    """3-D, as the lecture's network: strided Conv3d, BatchNorm3d, x.flatten(1)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv3d(1, 4, 3), nn.BatchNorm3d(4), nn.ReLU(),
                                  nn.Conv3d(4, 8, 3, stride=2), nn.AdaptiveMaxPool3d(2))
        self.fc = nn.Linear(64, 1)

    def forward(self, x):
        return self.fc(self.body(x).flatten(1))


class MobileBlocks(nn.Module):
    """MobileNet-style: depthwise convolutions and the activations of MobileNetV2/V3, some as
    modules and some as functions."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(16), nn.Hardswish())
        self.dw = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False),
                                nn.BatchNorm2d(16), nn.ReLU6(inplace=True))
        self.pw = nn.Conv2d(16, 24, 1)
        self.prelu = nn.PReLU(24)
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(24, 8, 1), nn.ELU(),
                                nn.Conv2d(8, 24, 1), nn.Hardsigmoid())
        self.head = nn.Linear(24, 10)

    def forward(self, x):
        x = self.prelu(self.pw(self.dw(self.stem(x))))
        x = F.mish(x) + F.relu6(x)
        x = F.hardtanh(F.softplus(x), -2.0, 2.0)
        s = self.se(x)
        return self.head(torch.flatten(F.adaptive_avg_pool2d(F.elu(s), 1), 1))


ROUND_TRIP = [(SmallCNN, (3, 16, 32)), (small_resnet, (3, 64, 64)), (UNet, (1, 32, 32)),
              (VGG, (3, 32, 32)), (Volume, (1, 13, 15, 11)), (MobileBlocks, (3, 32, 32))]


# --------------------------------------------------------------------------- helpers


def torch_params(factory) -> int:
    return sum(p.numel() for p in factory().parameters())


def torch_shapes(factory, shape) -> tuple[dict, tuple]:
    """Output shape (without the batch) of every module call, by qualified name (a second
    call of a module as ``name_1``), and of the model, run on the meta device."""
    with torch.device("meta"):
        model = factory().eval()
    shapes = {}

    def hook(name):
        def record(module, inputs, output):
            key, k = name, 0
            while key in shapes:
                k += 1
                key = f"{name}_{k}"
            shapes[key] = tuple(output.shape[1:])
        return record

    for name, m in model.named_modules():
        if name and not list(m.children()):
            m.register_forward_hook(hook(name))
    out = model(torch.empty((2, *shape), device="meta"))
    return shapes, tuple(out.shape[1:])


def analyzed(text: str):
    return symcnn.analyze(symcnn.parse_spec(text).network)


def shapes_of(analysis) -> dict:
    return {row.name: tuple(int(v) for v in row.output_shape) for row in analysis.rows}


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("factory, shape", ROUND_TRIP, ids=lambda v: getattr(v, "__name__", ""))
def test_round_trip(factory, shape):
    text = import_module(factory, shape)
    analysis = analyzed(text)
    assert analysis.total_params == torch_params(factory)
    expected, output = torch_shapes(factory, shape)
    got = shapes_of(analysis)
    assert {k: got[k] for k in expected} == expected  # every module call is a node
    assert tuple(analysis.output_shape) == output


def test_arguments_are_read_back():
    text = import_module(SmallCNN, "3,16,32")
    layers = {t["name"]: t for t in tomllib.loads(text)["layers"]}
    assert layers["features.0"] == {"type": "Conv2d", "name": "features.0", "out_channels": 8,
                                    "kernel_size": [3, 5], "stride": [1, 2], "padding": [1, 2],
                                    "bias": False}
    assert layers["features.1"] == {"type": "BatchNorm2d", "name": "features.1", "eps": 1e-3,
                                    "momentum": 0.01}
    assert layers["features.3"]["padding_mode"] == "reflect"
    assert layers["features.3"]["groups"] == 2 and layers["features.3"]["dilation"] == 2
    assert layers["features.5"] == {"type": "MaxPool2d", "name": "features.5", "kernel_size": 2,
                                    "ceil_mode": True}
    assert layers["features.6"]["padding"] == "same"
    assert layers["head.1"] == {"type": "Linear", "name": "head.1", "out_features": 10,
                                "bias": False}
    assert "in_channels" not in text and "in_features" not in text and "num_features" not in text
    assert "inputs" not in text  # a chain lists no inputs


def test_resnet18_matches_the_example():
    text = import_module(ResNet, (3, 224, 224), name="resnet18")
    analysis = analyzed(text)
    example = symcnn.analyze(symcnn.load_spec(EXAMPLES / "resnet18.toml").network)
    assert analysis.total_params == example.total_params == 11_689_512 == torch_params(ResNet)
    assert analysis.output_shape == example.output_shape == (1000,)
    layers = {t["name"]: t for t in tomllib.loads(text)["layers"]}
    assert tomllib.loads(text)["name"] == "resnet18"
    # torch.fx records ``out += identity`` as ``out + identity`` (its Proxy has no __iadd__):
    # the import is out of place, where the example says inplace = true
    assert layers["layer1.0.add"] == {"type": "Add", "name": "layer1.0.add",
                                      "inputs": ["layer1.0.bn2", "maxpool"]}
    assert layers["layer2.0.add"]["inputs"] == ["layer2.0.bn2", "layer2.0.downsample.1"]
    assert layers["layer2.0.downsample.0"]["inputs"] == ["layer1.1.relu_1"]
    assert layers["layer1.0.relu_1"] == {"type": "ReLU", "name": "layer1.0.relu_1", "inplace": True}
    assert layers["flatten"] == {"type": "Flatten", "name": "flatten"}


def test_unet_branches():
    layers = tomllib.loads(import_module(UNet, (1, 32, 32)))["layers"]
    by_name = {t["name"]: t for t in layers}
    assert by_name["cat"] == {"type": "Concat", "name": "cat", "inputs": ["up2", "enc2.1"]}
    assert by_name["cat_1"]["inputs"] == ["interpolate", "enc1.1"]
    assert by_name["interpolate"] == {"type": "Upsample", "name": "interpolate", "scale_factor": 2,
                                      "mode": "bilinear", "align_corners": False}
    assert by_name["max_pool2d_1"] == {"type": "MaxPool2d", "name": "max_pool2d_1", "kernel_size": 2}
    assert [t["type"] for t in layers[-3:]] == ["ReLU", "Conv2d", "Sigmoid"]


def test_vgg_functional_flatten():
    layers = {t["name"]: t for t in tomllib.loads(import_module(VGG, "3,32,32"))["layers"]}
    assert layers["view"] == {"type": "Flatten", "name": "view"}
    assert layers["relu"] == {"type": "ReLU", "name": "relu", "inplace": True}
    assert layers["dropout"] == {"type": "Dropout", "name": "dropout"}
    assert layers["softmax"] == {"type": "Softmax", "name": "softmax", "dim": 1}


# --------------------------------------------------------------------------- symbolic


def test_symbolic_channels_substitute_back_and_scale():
    numeric = analyzed(import_module(small_resnet, (3, 64, 64)))
    text = import_module(small_resnet, (3, 64, 64), {"channels": "C"})
    assert 'out_channels = "2*C"' in text and "C = 16" in text
    network = symcnn.parse_spec(text).network
    C = size("C")
    assert network.free_symbols == {C}
    general = symcnn.analyze(network).total_params
    assert symcnn.analyze(network.subs({C: 16})).total_params == numeric.total_params
    for width in (8, 24):  # the width-C network is PyTorch's model of width C
        assert general.subs(C, width) == torch_params(lambda: small_resnet(width))


def test_symbolic_depthwise_groups_follow_the_channels():
    text = import_module(SmallCNN, "3,16,32", ["channels=C"])
    layers = {t["name"]: t for t in tomllib.loads(text)["layers"]}
    assert layers["features.6"]["groups"] == "2*C" and layers["features.3"]["groups"] == 2
    general = analyzed(text).total_params
    C = size("C")
    assert general.subs(C, 8) == torch_params(SmallCNN)
    # the Linear after the flatten depends on C as well
    assert general.subs(C, 4) == torch_params(lambda: SmallCNN(4))


def test_symbolic_input_sizes():
    text = import_module(VGG, "3,32,32", {"input": "H,W"})
    assert tomllib.loads(text)["input"]["shape"] == [3, "H", "W"]
    analysis = analyzed(text)
    H, W = size("H"), size("W")
    assert analysis.total_params.free_symbols == {H, W}  # fc1 reads the flattened features
    assert analysis.total_params.subs({H: 32, W: 32}) == torch_params(VGG)
    both = import_module(UNet, (1, 32, 32), ["channels=C", "input=S"])
    network = symcnn.parse_spec(both).network
    assert network.free_symbols == {size("C"), size("S")}
    assert symcnn.analyze(network.subs({size("C"): 8, size("S"): 32})).total_params == \
        torch_params(UNet)


@pytest.mark.parametrize("symbolic, message", [
    ({"depth": "D"}, "argument 'symbolic': depth: unknown option"),
    (["channels=2C"], "'2C' is not a usable symbol name"),
    (["channels=C", "input=C"], "must differ"),
    (["input=H,W,D"], "has 2 spatial axes"),
])
def test_symbolic_mistakes(symbolic, message):
    with pytest.raises(SymcnnError, match=message):
        import_module(VGG, "3,32,32", symbolic)


# --------------------------------------------------------------------------- refusals


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2)

    def forward(self, x):
        x = x.flatten(2).permute(2, 0, 1)
        return self.attn(x, x, x)[0]


class WithAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), Attention())

    def forward(self, x):
        return self.blocks(x)


class WithLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 8, 3)
        self.rnn = nn.LSTM(8, 8)

    def forward(self, x):
        return self.rnn(self.conv(x).permute(2, 0, 1))[0]


class Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return self.conv(self.conv(x))


class Scaled(nn.Module):
    """A buffer used directly (a learned parameter would be a Parameter layer)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3)
        self.register_buffer("scale", torch.ones(1))

    def forward(self, x):
        return self.conv(x) * self.scale


class Std(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3)

    def forward(self, x):
        return self.conv(x).std((2, 3))


@pytest.mark.parametrize("model, message", [
    (WithAttention, "cannot map module 'blocks.3.attn' of type MultiheadAttention"),
    (WithLSTM, "cannot map module 'rnn' of type LSTM"),
    (Shared, "cannot map module 'conv' of type Conv2d: it is called more than once"),
    (Scaled, "cannot map Scaled: it uses its own 'scale' directly, a buffer or a constant"),
    (Std, "cannot map function Tensor.std in the model's forward"),
    (lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.SELU()), "cannot map module '1' of type SELU"),
    (lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.Softsign()),
     "cannot map module '1' of type Softsign"),
    (lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d((1, None))),
     r"output_size=\[1, None\] cannot be written"),
    (lambda: nn.Linear(5, 2), "the model fails on a 3 x 16 x 16 input"),
    (lambda: 42, r"<lambda>\(\) returned int, not a torch.nn.Module"),
])
def test_refusals_are_one_line(model, message):
    with pytest.raises(SymcnnError, match=message) as info:
        import_module(model, (3, 16, 16) if model is not WithLSTM else (4, 16))
    assert "\n" not in str(info.value)


class Dynamic(nn.Module):
    """Control flow on a size: fx cannot trace it, the forward hooks can (a chain)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4 * 14 * 14, 5)

    def forward(self, x):
        if x.shape[1] == 3:
            x = self.relu(self.conv(x))
        return self.fc(x.view(x.size(0), -1))


class DynamicBranches(Dynamic):
    def forward(self, x):
        if x.shape[1] == 3:
            x = self.conv(x) + self.conv(x).relu()
        return self.fc(x.view(x.size(0), -1))


def test_untraceable_chain_through_hooks():
    text = import_module(Dynamic, (3, 16, 16))
    assert [t["type"] for t in tomllib.loads(text)["layers"]] == ["Conv2d", "ReLU", "Flatten",
                                                                   "Linear"]
    assert analyzed(text).total_params == torch_params(Dynamic)
    with pytest.raises(SymcnnError, match=r"cannot trace the model with torch.fx \(TraceError: .*"
                       r"and it is not a plain chain of modules"):
        import_module(DynamicBranches, (3, 16, 16))


def test_modules_never_called_are_named():
    class Aux(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.aux = nn.Linear(4, 2)

        def forward(self, x):
            return self.conv(x)

    text = import_module(Aux(), (3, 8, 8))
    assert "PyTorch counts 122 parameters, this spec 112" in text and "(aux)" in text
    assert analyzed(text).total_params == 112


# --------------------------------------------------------------------------- command line

MODELS_PY = textwrap.dedent("""\
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.conv2 = nn.Conv2d(8, 16, 3, stride=2)
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            x = torch.relu(self.conv2(torch.relu(self.conv(x))))
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))

    def tiny():
        return Net()

    net = Net()

    def broken():
        return nn.Sequential(nn.Conv2d(3, 8, 3), nn.LSTM(8, 8))
""")
NET_PARAMS = 3 * 9 * 8 + 8 + 8 * 9 * 16 + 16 + 16 * 10 + 10


def run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "symcnn", "import", *args], capture_output=True,
                          text=True, cwd=cwd)


def test_cli_prints_and_writes_specs(tmp_path):
    (tmp_path / "mymodels.py").write_text(MODELS_PY)
    done = run("mymodels:tiny", "--input-shape", "3,32,32", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert analyzed(done.stdout).total_params == NET_PARAMS
    assert tomllib.loads(done.stdout)["name"] == "tiny"
    done = run("mymodels:Net", "--input-shape", "3,32,32", "-o", "specs/net.toml",
               "--symbolic", "channels=C", "--symbolic", "input=H,W", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "wrote specs/net.toml\n"
    network = symcnn.load_spec(tmp_path / "specs" / "net.toml").network
    assert network.free_symbols == {size("C"), size("H"), size("W")}
    assert not list((tmp_path / "specs").glob(".*.tmp"))  # written atomically
    done = run("mymodels:broken", "--input-shape", "3,32,32", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "symcnn: error: cannot map module '1' of type LSTM\n"


@pytest.mark.parametrize("ref, shape, message", [
    ("nosuchmodule:f", "3,8,8", "cannot import module 'nosuchmodule': ModuleNotFoundError"),
    ("mymodels:nothere", "3,8,8", "module 'mymodels' has no attribute 'nothere'"),
    ("mymodels", "3,8,8", "'mymodels': write MODULE:CALLABLE"),
    ("mymodels:net", "3,x,8", "--input-shape: '3,x,8': expected positive whole numbers"),
    ("mymodels:net", "3,0,8", "--input-shape: '3,0,8'"),
])
def test_cli_mistakes(tmp_path, monkeypatch, capsys, ref, shape, message):
    monkeypatch.syspath_prepend(tmp_path)  # the import path is restored after the test
    monkeypatch.delitem(sys.modules, "mymodels", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mymodels.py").write_text(MODELS_PY)
    assert main(["import", ref, "--input-shape", shape]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"symcnn: error: {message}") and err.count("\n") == 1
    monkeypatch.delitem(sys.modules, "mymodels", raising=False)


def test_cli_without_torch(tmp_path):
    (tmp_path / "mymodels.py").write_text(MODELS_PY)
    code = ("import sys; sys.modules['torch'] = None; from symcnn.cli import main; "
            "sys.exit(main(['import', 'mymodels:net', '--input-shape', '3,8,8']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == 'symcnn: error: install the torch extra: pip install "symcnn[torch]"\n'


def test_importing_symcnn_does_not_import_torch():
    code = ("import sys, symcnn, symcnn.importers.torch_fx, symcnn.importers.torchmap, symcnn.cli; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_norms_without_bias_import():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, bias=False),
                          nn.GroupNorm(2, 4, bias=False), nn.BatchNorm2d(4, affine=False))
    spec = symcnn.parse_spec(import_module(model, (3, 8, 8)))
    assert symcnn.analyze(spec.network).total_params == sum(p.numel() for p in model.parameters())


class InPlaceResidual(nn.Module):
    """A residual written ``out.add_(identity)``: fx keeps the in-place method."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.conv(x)
        out.add_(x)
        return self.relu(out)


def test_in_place_add_imports_in_place():
    layers = {t["name"]: t for t in tomllib.loads(import_module(InPlaceResidual,
                                                                (4, 8, 8)))["layers"]}
    adds = [t for t in layers.values() if t["type"] == "Add"]
    assert len(adds) == 1 and adds[0]["inplace"] is True
    assert adds[0]["inputs"] == ["conv", "input"]

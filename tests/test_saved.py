"""Saved-for-backward storages: symcnn's prediction against autograd's own saved tensors.

For every layer type, a small network (a 1x1 convolution, so that the layer's input needs a
gradient, then the layer) runs one training-mode forward on the CPU under
``torch.autograd.graph.saved_tensors_hooks``; the storages saved, parameters and buffers
excluded and each storage counted once, must add up to symcnn's prediction to the byte.
"""

import pytest
import sympy

from symcnn import MemoryOptions, Network, analyze, estimate_memory
from symcnn.layers import LAYER_TYPES, Conv1d, Conv2d, Conv3d
from symcnn.memory.pytorch.saved import saved_tensors, total_saved_bytes

torch = pytest.importorskip("torch")
nn = torch.nn
BATCH = 3

CASES = [
    ("Conv2d", dict(out_channels=5, kernel_size=3), (4, 9, 8)),
    ("ConvTranspose2d", dict(out_channels=5, kernel_size=2, stride=2), (4, 5, 4)),
    ("Conv1d", dict(out_channels=5, kernel_size=3), (4, 9)),
    ("Conv3d", dict(out_channels=2, kernel_size=3), (4, 5, 6, 5)),
    ("Linear", dict(out_features=7), (4, 6)),
    ("Linear", dict(out_features=7), (4, 3, 6)),
    ("ReLU", dict(), (4, 6, 6)),
    ("ReLU", dict(inplace=True), (4, 6, 6)),
    ("LeakyReLU", dict(negative_slope=0.2), (4, 6, 6)),
    ("GELU", dict(), (4, 6, 6)),
    ("SiLU", dict(), (4, 6, 6)),
    ("SiLU", dict(inplace=True), (4, 6, 6)),
    ("LeakyReLU", dict(inplace=True), (4, 6, 6)),
    ("Dropout", dict(p=0.3, inplace=True), (4, 6, 6)),
    ("Sigmoid", dict(), (4, 6, 6)),
    ("Tanh", dict(), (4, 6, 6)),
    ("Softmax", dict(dim=1), (4, 6, 6)),
    ("MaxPool2d", dict(kernel_size=2), (4, 8, 8)),
    ("MaxPool1d", dict(kernel_size=3, stride=2), (4, 11)),
    ("MaxPool3d", dict(kernel_size=2), (4, 4, 6, 4)),
    ("AvgPool2d", dict(kernel_size=2), (4, 8, 8)),
    ("AvgPool1d", dict(kernel_size=2), (4, 8)),
    ("AvgPool3d", dict(kernel_size=2), (4, 4, 4, 4)),
    ("AdaptiveAvgPool2d", dict(output_size=1), (4, 8, 8)),
    ("AdaptiveAvgPool2d", dict(output_size=3), (4, 8, 8)),
    ("AdaptiveMaxPool2d", dict(output_size=3), (4, 8, 8)),
    ("BatchNorm2d", dict(), (4, 6, 6)),
    ("BatchNorm1d", dict(), (4, 6)),
    ("BatchNorm3d", dict(affine=False), (4, 3, 4, 3)),
    ("GroupNorm", dict(num_groups=2), (4, 6, 6)),
    ("LayerNorm", dict(normalized_shape=(6, 6)), (4, 6, 6)),
    ("Dropout", dict(p=0.3), (4, 6, 6)),
    ("Dropout2d", dict(p=0.3), (4, 6, 6)),
    ("Dropout1d", dict(p=0.3), (4, 6)),
    ("Dropout3d", dict(p=0.3), (4, 3, 3, 3)),
    ("Flatten", dict(), (4, 6, 6)),
    ("Identity", dict(), (4, 6, 6)),
    ("Upsample", dict(scale_factor=2), (4, 3, 3)),
    ("Upsample", dict(scale_factor=2, mode="bilinear"), (4, 3, 3)),
    ("ReLU6", dict(), (4, 6, 6)),
    ("ReLU6", dict(inplace=True), (4, 6, 6)),
    ("Hardtanh", dict(min_val=-2.0, max_val=2.0, inplace=True), (4, 6, 6)),
    ("Hardswish", dict(), (4, 6, 6)),
    ("Hardswish", dict(inplace=True), (4, 6, 6)),
    ("Hardsigmoid", dict(inplace=True), (4, 6, 6)),
    ("ELU", dict(), (4, 6, 6)),
    ("ELU", dict(inplace=True), (4, 6, 6)),
    ("Mish", dict(), (4, 6, 6)),
    ("Mish", dict(inplace=True), (4, 6, 6)),
    ("Softplus", dict(), (4, 6, 6)),
    ("PReLU", dict(), (4, 6, 6)),
    ("PReLU", dict(num_parameters=4), (4, 6, 6)),
]

INFERRED = {"in_channels", "in_features", "num_features", "num_channels"}


def torch_module(name, kwargs, shape):
    kw = dict(kwargs)
    c = shape[0]
    if name.startswith(("Conv", "ConvTranspose")):
        kw["in_channels"] = c
    elif name == "Linear":
        kw["in_features"] = shape[-1]
    elif name.startswith("BatchNorm"):
        kw["num_features"] = c
    elif name == "GroupNorm":
        kw["num_channels"] = c
    return getattr(nn, name)(**kw)


def measured_saved_bytes(model, x):
    exclude = {p.untyped_storage().data_ptr() for p in model.parameters()}
    exclude |= {b.untyped_storage().data_ptr() for b in model.buffers()}
    storages = {}

    def pack(t):
        s = t.untyped_storage()
        if s.data_ptr() not in exclude and s.nbytes():
            storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(storages.values())


@pytest.mark.parametrize("name, kwargs, shape", CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)])
def test_saved_bytes_exact(name, kwargs, shape):
    ndim = len(shape) - 1
    first = {1: Conv1d, 2: Conv2d, 3: Conv3d}.get(ndim, Conv1d)
    first_t = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}.get(ndim, nn.Conv1d)
    c = shape[0]
    # a 1x1 convolution first (for a (C, L) or (C,) shape too), so the layer's input has a
    # gradient; inputs of 3-D tensors to Linear go through Conv1d
    model = nn.Sequential(first_t(c, c, 1), torch_module(name, kwargs, shape)).train()
    x = torch.randn((BATCH, *shape))
    measured = measured_saved_bytes(model, x)

    net = Network.sequential("one", shape, [first(out_channels=c, kernel_size=1),
                                            LAYER_TYPES[name](**kwargs)])
    predicted = total_saved_bytes(saved_tensors(analyze(net), device="cpu"), 4, batch=BATCH)
    assert isinstance(predicted, sympy.Integer)
    assert int(predicted) == measured


def test_precision_is_checked():
    """Once, by the options (the saved-tensor rules trust them)."""
    net = Network.sequential("l", (4, 6), [LAYER_TYPES["Linear"](out_features=7)])
    with pytest.raises(ValueError, match="precision"):
        estimate_memory(analyze(net), MemoryOptions("pytorch", device="cpu", precision="int8"))


def test_every_layer_type_is_covered():
    from tests.test_saved_tensor_ops import COVERED

    merge = {"Add", "Concat"} | COVERED
    assert set(LAYER_TYPES) - merge - {n for n, _, _ in CASES} == {
        "ConvTranspose1d", "ConvTranspose3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool3d",
        "AdaptiveMaxPool1d", "AdaptiveMaxPool3d"}


GRAPH = """
name = "mixed"
[input]
shape = [3, 12, 12]
[[layers]]
type = "Conv2d"
name = "stem"
out_channels = 8
kernel_size = 3
padding = 1
[[layers]]
type = "BatchNorm2d"
name = "bn"
[[layers]]
type = "ReLU"
name = "relu"
inplace = true
[[layers]]
type = "Conv2d"
name = "conv"
out_channels = 8
kernel_size = 3
padding = 1
[[layers]]
type = "Add"
name = "add"
inputs = ["conv", "relu"]
[[layers]]
type = "MaxPool2d"
name = "pool"
kernel_size = 2
[[layers]]
type = "ConvTranspose2d"
name = "up"
out_channels = 8
kernel_size = 2
stride = 2
[[layers]]
type = "Concat"
name = "cat"
inputs = ["up", "add"]
[[layers]]
type = "Conv2d"
name = "head"
out_channels = 2
kernel_size = 1
[[layers]]
type = "Flatten"
[[layers]]
type = "Dropout"
p = 0.5
[[layers]]
type = "Linear"
out_features = 3
"""


class Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem, self.bn, self.relu = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(True)
        self.conv, self.pool = nn.Conv2d(8, 8, 3, padding=1), nn.MaxPool2d(2)
        self.up, self.head = nn.ConvTranspose2d(8, 8, 2, stride=2), nn.Conv2d(16, 2, 1)
        self.drop, self.fc = nn.Dropout(0.5), nn.Linear(2 * 12 * 12, 3)

    def forward(self, x):
        r = self.relu(self.bn(self.stem(x)))
        a = self.conv(r) + r
        c = torch.cat([self.up(self.pool(a)), a], dim=1)
        return self.fc(self.drop(torch.flatten(self.head(c), 1)))


def test_graph_saved_bytes_exact():
    from symcnn import parse_spec
    model = Mixed().train()
    x = torch.randn(BATCH, 3, 12, 12)
    a = analyze(parse_spec(GRAPH).network)
    assert a.total_params == sum(p.numel() for p in model.parameters())
    predicted = total_saved_bytes(saved_tensors(a, device="cpu"), 4, batch=BATCH)
    assert int(predicted) == measured_saved_bytes(model, x)


def zoo_entries():
    from validation import zoo
    return zoo.entries()


@pytest.mark.parametrize("batch", [2, 3])
def test_zoo_saved_bytes_exact(batch):
    """Every network of the validation zoo (every layer type, branches, in-place layers)."""
    from symcnn import parse_spec
    for name, spec_text, builder, shape in zoo_entries():
        model = builder().train()
        x = torch.randn((batch, *shape))
        a = analyze(parse_spec(spec_text).network)
        predicted = total_saved_bytes(saved_tensors(a, device="cpu"), 4, batch=batch)
        assert int(predicted) == measured_saved_bytes(model, x), name


# --- mixed precision: the forward pass under torch.autocast("cpu", dtype=torch.bfloat16) ---
# (and float16: CPU autocast uses the same op lists for both, and so does symcnn)

PRECISIONS = ["bf16", "fp16"]


def autocast_saved_bytes(model, x, precision="bf16"):
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    with torch.autocast("cpu", dtype=dtype):
        return measured_saved_bytes(model, x)


def _one_layer(name, kwargs, shape):
    ndim = len(shape) - 1
    first = {1: Conv1d, 2: Conv2d, 3: Conv3d}.get(ndim, Conv1d)
    first_t = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}.get(ndim, nn.Conv1d)
    c = shape[0]
    model = nn.Sequential(first_t(c, c, 1), torch_module(name, kwargs, shape)).train()
    net = Network.sequential("one", shape, [first(out_channels=c, kernel_size=1),
                                            LAYER_TYPES[name](**kwargs)])
    return model, net


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("name, kwargs, shape", CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)])
def test_saved_bytes_exact_autocast(name, kwargs, shape, precision):
    """Each layer after a 1x1 convolution, so it gets a 2-byte input; the convolution saves a
    2-byte copy of x and of its weight."""
    model, net = _one_layer(name, kwargs, shape)
    measured = autocast_saved_bytes(model, torch.randn((BATCH, *shape)), precision)
    saved = saved_tensors(analyze(net), device="cpu", precision=precision)
    assert all(s.element_bytes for s in saved)
    assert int(total_saved_bytes(saved, 4, batch=BATCH)) == measured


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("batch", [2, 3])
def test_zoo_saved_bytes_exact_autocast(batch, precision):
    """Every network of the validation zoo under CPU bf16 autocast: activations in the dtype
    autocast leaves them, the 3-d pools' fp32 copies, the bf16 copies of x and the weights."""
    from symcnn import parse_spec
    for name, spec_text, builder, shape in zoo_entries():
        model = builder().train()
        x = torch.randn((batch, *shape))
        a = analyze(parse_spec(spec_text).network)
        predicted = total_saved_bytes(saved_tensors(a, device="cpu", precision=precision), 4,
                                      batch=batch)
        assert int(predicted) == autocast_saved_bytes(model, x, precision), name


# Networks where dtypes meet: a layer reading the fp32 network input, an fp32 tensor (the
# CPU 3-d pools' output) reaching a bf16 layer or another fp32 one, Add and Concat of a bf16
# and an fp32 tensor (the result is fp32).
MIXED_GRAPH = """
name = "dtypes"
[input]
shape = [2, 6, 6, 6]
[[layers]]
type = "BatchNorm3d"
name = "bn"
[[layers]]
type = "Conv3d"
name = "conv"
out_channels = 4
kernel_size = 1
[[layers]]
type = "MaxPool3d"
name = "mpool"
kernel_size = 1
[[layers]]
type = "AvgPool3d"
name = "apool"
kernel_size = 1
[[layers]]
type = "Add"
name = "add"
inputs = ["apool", "conv"]
[[layers]]
type = "ReLU"
name = "relu"
[[layers]]
type = "Concat"
name = "cat"
inputs = ["conv", "relu"]
[[layers]]
type = "Sigmoid"
name = "sig"
[[layers]]
type = "Conv3d"
name = "conv2"
out_channels = 2
kernel_size = 1
[[layers]]
type = "Flatten"
[[layers]]
type = "Linear"
out_features = 3
"""


class Dtypes(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn, self.conv, self.conv2 = nn.BatchNorm3d(2), nn.Conv3d(2, 4, 1), nn.Conv3d(8, 2, 1)
        self.mpool, self.apool, self.fc = nn.MaxPool3d(1), nn.AvgPool3d(1), nn.Linear(432, 3)

    def forward(self, x):
        c = self.conv(self.bn(x))
        r = torch.relu(self.apool(self.mpool(c)) + c)
        s = torch.sigmoid(torch.cat([c, r], dim=1))
        return self.fc(torch.flatten(self.conv2(s), 1))


AUTOCAST_NETS = [
    # the first layer reads x (fp32, requires no grad): a bf16 copy of x; a linear saves no
    # weight copy then, a convolution does
    ("linear-first", Network.sequential("l", (4, 6), [LAYER_TYPES["Linear"](out_features=7)]),
     lambda: nn.Linear(6, 7), (4, 6)),
    ("flatten-linear", Network.sequential("f", (2, 3), [LAYER_TYPES["Flatten"](),
                                                        LAYER_TYPES["Linear"](out_features=5)]),
     lambda: nn.Sequential(nn.Flatten(), nn.Linear(6, 5)), (2, 3)),
    ("conv-first", Network.sequential("c", (3, 5, 5), [Conv2d(out_channels=4, kernel_size=3)]),
     lambda: nn.Conv2d(3, 4, 3), (3, 5, 5)),
]


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("name, net, builder, shape", AUTOCAST_NETS,
                         ids=[n for n, *_ in AUTOCAST_NETS])
def test_autocast_first_layer(name, net, builder, shape, precision):
    model = builder().train()
    measured = autocast_saved_bytes(model, torch.randn((BATCH, *shape)), precision)
    predicted = total_saved_bytes(saved_tensors(analyze(net), "cpu", precision), 4,
                                  batch=BATCH)
    assert int(predicted) == measured


@pytest.mark.parametrize("precision", PRECISIONS)
def test_autocast_dtypes_meet(precision):
    from symcnn import parse_spec
    model = Dtypes().train()
    a = analyze(parse_spec(MIXED_GRAPH).network)
    assert a.total_params == sum(p.numel() for p in model.parameters())
    saved = saved_tensors(a, "cpu", precision)
    widths = {(s.node, s.kind): s.element_bytes for s in saved}
    # BN runs on x in fp32; the conv saves a bf16 copy of BN's output; the max pool an fp32
    # copy of the conv's; the avg pool its fp32 input; the ReLU after the promoted Add and the
    # Sigmoid after the Concat keep fp32, so conv2 casts that to bf16 once more
    assert widths[("input", "activation")] == 4 and widths[("conv", "cast")] == 2
    assert widths[("mpool", "cast")] == 4 and widths[("mpool", "activation")] == 4
    assert widths[("relu", "activation")] == 4 and widths[("sig", "activation")] == 4
    assert widths[("conv2", "cast")] == 2 and widths[("conv2", "weight copy")] == 2
    for batch in (2, 3):
        measured = autocast_saved_bytes(model, torch.randn(batch, 2, 6, 6, 6), precision)
        assert int(total_saved_bytes(saved, 4, batch=batch)) == measured


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_zoo_autocast_matches_harness_json(precision):
    """The committed harness run (validation/results/cpu_zoo.json, ``saved_dedup`` with
    autocast's weight and input copies counted): its bf16 and fp16 totals minus what the loss
    saves."""
    import json
    from pathlib import Path

    from symcnn import parse_spec
    data = json.loads((Path(__file__).parent.parent / "validation" / "results"
                       / "cpu_zoo.json").read_text())["saved"]
    specs = {name: spec for name, spec, _, _ in zoo_entries()}
    runs = [k for k in data if k.endswith("/" + precision)]
    assert len(runs) == len(specs)
    for key in runs:
        net, b, _ = key.split("/")
        run = data[key]
        a = analyze(parse_spec(specs[net]).network)
        predicted = total_saved_bytes(saved_tensors(a, "cpu", precision), 4, batch=int(b[1:]))
        assert int(predicted) == run["total"]["dedup"] - run["nodes"]["loss"]["bytes"], key


def test_full_size_lecture_matches_harness_json():
    """The lecture's network at its real input (validation/results/cpu_heavy.json, measured
    with saved_tensors_hooks, fp32 and bf16): 1,472,510,412 B and 742,856,710 B saved, of
    which the loss saves its input (a 4-byte fp32 output or its fp32 copy) and the target."""
    import json
    from pathlib import Path

    from symcnn.spec.builtin import example_spec
    data = json.loads((Path(__file__).parent.parent / "validation" / "results"
                       / "cpu_heavy.json").read_text())["saved"]
    a = analyze(example_spec("lecture").network)
    for precision, total in (("fp32", 1_472_510_412), ("bf16", 742_856_710)):
        run = data[f"lecture3d-full/b1/{precision}"]
        assert run["total"]["dedup"] == total and run["nodes"]["loss"]["bytes"] == 8
        predicted = total_saved_bytes(saved_tensors(a, "cpu", precision), 4, batch=1)
        assert int(predicted) == total - 8


def test_cuda_autocast_rules_follow_the_cuda_op_list():
    """Not measurable here (no GPU): what the CUDA op lists of aten/src/ATen/autocast_mode.cpp
    imply.  LayerNorm, GroupNorm (``fp32``) and Softmax (``fp32_set_opt_dtype``) run in fp32,
    so LayerNorm saves an fp32 copy of its fp16 input and Softmax its fp32 output; the 3-d pools
    keep fp16 on CUDA; dropout keeps a bool mask."""
    L = LAYER_TYPES
    net = Network.sequential("cuda", (4, 6, 6), [
        Conv2d(out_channels=4, kernel_size=1), L["LayerNorm"](normalized_shape=(6, 6)),
        L["Softmax"](dim=1), L["Dropout"](p=0.5), Conv2d(out_channels=2, kernel_size=1)],
        names=["conv", "ln", "soft", "drop", "conv2"])
    got = {(s.node, s.kind): s.element_bytes for s in saved_tensors(analyze(net), "cuda", "fp16")}
    assert got == {("conv", "cast"): 2, ("conv", "weight copy"): 2, ("ln", "cast"): 4,
                   ("ln", "statistics"): 4, ("soft", "activation"): 4, ("drop", "mask"): 1,
                   ("conv2", "cast"): 2, ("conv2", "weight copy"): 2}
    pool = Network.sequential("p", (2, 4, 4, 4), [Conv3d(out_channels=2, kernel_size=1),
                                                  L["MaxPool3d"](kernel_size=2)],
                              names=["conv", "pool"])
    assert {(s.node, s.kind): s.element_bytes
            for s in saved_tensors(analyze(pool), "cuda", "fp16")}[("conv", "activation")] == 2


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_nothing_is_saved_before_the_first_parameter(precision):
    """Layers that read the network input through parameterless layers record nothing."""
    from symcnn import parse_spec
    spec = """
name = "late"
[input]
shape = [4, 8, 8]
[[layers]]
type = "ReLU"
[[layers]]
type = "MaxPool2d"
kernel_size = 2
[[layers]]
type = "Dropout"
p = 0.5
[[layers]]
type = "Conv2d"
out_channels = 4
kernel_size = 3
[[layers]]
type = "ReLU"
"""
    model = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.5), nn.Conv2d(4, 4, 3),
                          nn.ReLU()).train()
    x = torch.randn(BATCH, 4, 8, 8)
    a = analyze(parse_spec(spec).network)
    saved = saved_tensors(a, device="cpu", precision=precision)
    if precision == "fp32":
        measured = measured_saved_bytes(model, x)
    else:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            measured = measured_saved_bytes(model, x)
    assert int(total_saved_bytes(saved, 4, batch=BATCH)) == measured

"""MACs against the tools whose counts the conventions reproduce: fvcore, torchinfo and ptflops
(the ``peers`` extra), run on the same networks (the zoo, the examples) and on single layers
at random sizes; and the lecture's figure by hand."""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symcnn
from symcnn import SymcnnError, analyze, load_spec, make_report, parse_spec
from symcnn.analysis.macs import MACS_RULES, MacsConvention, count_macs, total_macs
from symcnn.layers import LAYER_TYPES
from symcnn.network import Network
from symcnn.symbols import size
from validation import zoo

torch = pytest.importorskip("torch")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CONVENTIONS = [c.value for c in MacsConvention]


# ---------------------------------------------------------------- the peers, as users call them

def fvcore_total(model, shape) -> int:
    fvcore = pytest.importorskip("fvcore.nn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = fvcore.FlopCountAnalysis(model.eval(), torch.zeros((1, *shape)))
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        return int(analysis.total())


def torchinfo_total(model, shape, device="cpu") -> int:
    torchinfo = pytest.importorskip("torchinfo")
    return torchinfo.summary(model, input_size=(1, *shape), device=device, verbose=0).total_mult_adds


def ptflops_total(model, shape) -> int:
    ptflops = pytest.importorskip("ptflops")
    with contextlib.redirect_stdout(io.StringIO()) as printed, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        macs, _ = ptflops.get_model_complexity_info(model, tuple(shape), as_strings=False,
                                                    print_per_layer_stat=False)
    assert macs is not None, printed.getvalue()
    return macs


PEERS = {"fvcore": fvcore_total, "torchinfo": torchinfo_total, "ptflops": ptflops_total}


def ours(network, convention) -> int:
    return int(total_macs(analyze(network), convention))


# ---------------------------------------------------------------- by hand


def test_lecture_by_hand():
    """fvcore: output elements x C_in x 27 per convolution, 213,840 x 1 for the linear layer
    (FlopCountAnalysis of the real model gives 121,987,539,810 too: 19 s on one core, so the
    test runs it on the zoo's smaller copy below)."""
    channels = [1, 30, 30, 60, 60, 120, 120, 240, 240]
    outputs = [(191, 227, 191), (95, 113, 95), (93, 111, 93), (46, 55, 46), (44, 53, 44),
               (21, 26, 21), (19, 24, 19), (9, 11, 9)]
    convs = [channels[i + 1] * d * h * w * channels[i] * 27
             for i, (d, h, w) in enumerate(outputs)]
    net = symcnn.example_spec().network
    assert sum(convs) + 213_840 == ours(net, "fvcore") == 121_987_539_810
    # torchinfo: every parameter (bias included) at every output position
    params = [(27 * channels[i] + 1) * channels[i + 1] for i in range(8)]
    assert sum(p * d * h * w for p, (d, h, w) in zip(params, outputs)) + 213_841 == \
        ours(net, "torchinfo") == 122_347_137_391
    report = make_report(symcnn.example_spec())
    assert report.total_macs == 121_987_539_810
    assert [int(m.value) for m in report.macs.rows][:2] == convs[:2]


def test_lecture_against_torchinfo_at_full_size():
    """torchinfo's Mult-Adds of the lecture's network (on the meta device, as it counts from
    shapes).  ptflops is not run on the meta device: there PyTorch's Python decompositions
    call the ``torch.matmul`` it patches, and it counts the linear layer twice."""
    from validation.zoo import models
    with torch.device("meta"):
        model = models.build_lecture3d_full()
    net = symcnn.example_spec().network
    assert torchinfo_total(model, (1, 193, 229, 193), device="meta") == \
        ours(net, "torchinfo") == 122_347_137_391


def test_symbolic_lecture_is_the_numeric_one():
    symbolic = analyze(load_spec(EXAMPLES / "lecture_symbolic.toml").network)
    values = {size("C"): 30, size("D"): 193, size("H"): 229, size("W"): 193}
    for convention in CONVENTIONS:
        assert total_macs(symbolic, convention).subs(values) == \
            ours(symcnn.example_spec().network, convention)


def test_flops_are_twice_the_macs_and_the_convention_is_checked():
    macs = count_macs(analyze(symcnn.example_spec().network))
    assert macs.flops == 2 * macs.total
    with pytest.raises(SymcnnError, match="unknown MACs convention 'thop'.*fvcore, torchinfo, "
                                          "ptflops"):
        make_report(symcnn.example_spec(), macs_convention="thop")


# ---------------------------------------------------------------- the zoo and the examples


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("name", [e.name for e in zoo.ZOO])
def test_zoo_against_the_peer(name, convention):
    entry = zoo.get(name)
    torch.manual_seed(0)
    network = parse_spec(entry.spec_text).network
    assert PEERS[convention](entry.builder(), entry.input_shape) == ours(network, convention)


def _resnet_vgg():
    from tests.test_architectures import RESNETS, VGG, VGG16_CFG, ResNet
    models = {name: (lambda b=block, n=layers: ResNet(b, n)) for name, (block, layers, _)
              in RESNETS.items()}
    models["vgg16"] = lambda: VGG(VGG16_CFG)
    return models


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnet152", "vgg16"])
def test_examples_against_torchinfo_on_the_meta_device(name):
    from tests.test_architectures import on_meta
    net = load_spec(EXAMPLES / f"{name}.toml").network
    model = on_meta(_resnet_vgg()[name])
    assert torchinfo_total(model, (3, 224, 224), device="meta") == ours(net, "torchinfo")


@pytest.mark.parametrize("convention", ["fvcore", "ptflops"])
@pytest.mark.parametrize("name", ["resnet18", "resnet50", "vgg16"])
def test_examples_against_fvcore_and_ptflops_on_a_smaller_input(name, convention):
    """fvcore traces a real forward pass (not on the meta device), and ptflops counts
    differently there: the examples on 3 x 64 x 48 on the CPU, read from the same spec with
    its input replaced."""
    text = (EXAMPLES / f"{name}.toml").read_text().replace("shape = [3, 224, 224]",
                                                             "shape = [3, 64, 48]")
    net = parse_spec(text).network
    assert net.input_shape == (3, 64, 48)
    torch.manual_seed(0)
    assert PEERS[convention](_resnet_vgg()[name](), (3, 64, 48)) == ours(net, convention)


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_unets_symbolic_against_the_peer(convention):
    """The U-Net examples are symbolic in C, H, W (and D): the closed form at numbers equals the
    tool on the model built with them."""
    from tests.test_architectures import UNet
    for name, nd, depth, values, shape in [
            ("unet2d", 2, 4, {"C": 3, "H": 48, "W": 32}, (1, 48, 32)),
            ("unet3d", 3, 3, {"C": 2, "D": 16, "H": 24, "W": 8}, (1, 16, 24, 8))]:
        closed = total_macs(analyze(load_spec(EXAMPLES / f"{name}.toml").network), convention)
        torch.manual_seed(0)
        model = UNet(nd, depth, values["C"])
        assert PEERS[convention](model, shape) == \
            closed.subs({size(k): v for k, v in values.items()}), name


# ---------------------------------------------------------------- single layers, random sizes

def _cases():
    from tests import test_torch_layers as layers
    scales = (2, 3, 0.5, 1.5, 2.5, 1.25)  # exact in binary: ptflops multiplies in floats

    @st.composite
    def upsample(draw):
        name, kwargs, shape, inferred = draw(layers.upsample_cases())
        factor = kwargs.get("scale_factor")
        if factor is not None:
            kwargs["scale_factor"] = tuple(draw(st.sampled_from(scales)) for _ in factor) \
                if isinstance(factor, tuple) else draw(st.sampled_from(scales))
        return name, kwargs, shape, inferred

    return st.one_of(layers.conv_cases(), layers.conv_transpose_cases(), layers.pool_cases(),
                     layers.adaptive_pool_cases(), layers.batchnorm_cases(),
                     layers.groupnorm_cases(), layers.layernorm_cases(),
                     layers.elementwise_cases(), layers.flatten_cases(), layers.linear_cases(),
                     upsample())


def _one_layer(name, kwargs, shape):
    try:
        layer = LAYER_TYPES[name](**kwargs)
        return Network.sequential("one", shape, [layer])
    except SymcnnError:
        return None


def _compare(case, convention) -> None:
    name, kwargs, shape, inferred = case
    net = _one_layer(name, kwargs, shape)
    try:
        mine = ours(net, convention) if net is not None else None
    except SymcnnError:
        mine = None
    if mine is None:
        return  # symcnn refuses it (tests/test_torch_layers.py checks that PyTorch does too)
    module = getattr(torch.nn, name)(**{**kwargs, **inferred})
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module.eval()(torch.zeros((1, *shape)))
    except (RuntimeError, ValueError):
        return  # PyTorch refuses it (reflect padding wider than the input)
    assert PEERS[convention](module, shape) == mine, (name, kwargs, shape)


@settings(max_examples=60, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(case=_cases(), convention=st.sampled_from(CONVENTIONS))
def test_every_layer_type_against_the_peer(case, convention):
    """Each layer type alone, at random sizes and arguments, counted by the real tool."""
    _compare(case, convention)


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("case", [
    # fvcore: padding="same" traces as aten::_convolution_mode (no handler: 0), unless the
    # padding mode pads first
    ("Conv1d", dict(out_channels=2, kernel_size=3, padding="same"), (2, 9), {"in_channels": 2}),
    ("Conv2d", dict(out_channels=2, kernel_size=3, padding="same", padding_mode="reflect"),
     (2, 9, 9), {"in_channels": 2}),
    # ptflops: a tuple of factors is multiplied as np.prod(..., dtype=np.int64): 2 * 1
    ("Upsample", dict(mode="nearest-exact", scale_factor=(2, 1.5)), (1, 1, 1), {}),
    ("Upsample", dict(mode="bilinear", scale_factor=1.5), (2, 4, 6), {}),
    # fvcore: BatchNorm without running statistics normalizes with the batch's (5 per element)
    ("BatchNorm2d", dict(track_running_stats=False), (3, 4, 4), {"num_features": 3}),
    ("LayerNorm", dict(normalized_shape=[4], bias=False), (3, 4), {}),
    ("GroupNorm", dict(num_groups=2, affine=False), (4, 3, 3), {"num_channels": 4}),
    ("ConvTranspose2d", dict(out_channels=4, kernel_size=3, stride=2, groups=2),
     (2, 5, 4), {"in_channels": 2}),
])
def test_what_the_tools_do_that_is_not_obvious(case, convention):
    _compare(case, convention)


def test_every_rule_returns_its_value_as_the_derivation_says():
    """The derivation's written numbers evaluate to its value (what the documents print)."""
    for example in ("lecture", "resnet18", "unet2d"):
        a = analyze(load_spec(EXAMPLES / f"{example}.toml").network)
        for convention in CONVENTIONS:
            for row in count_macs(a, convention).rows:
                d = row.derivation
                if d is not None:
                    assert sympy.expand(d.substituted.doit() - d.value) == 0, (example, row.name)


def test_a_layer_type_without_a_rule_is_named():
    assert set(MACS_RULES) == set(MacsConvention)
    assert MACS_RULES["fvcore"].owner(LAYER_TYPES["Conv3d"]).__name__ == "ConvNd"

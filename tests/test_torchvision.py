"""torchvision's classification models through ``symcnn import``, built from torchvision's own
model source (its 0.29.1 wheel's Python files, ``validation/torchvision_source.py``: the wheel's
compiled operators do not load with the pinned torch, and these models need none).

Every model imports with exactly PyTorch's parameter count (``sum(p.numel())`` of the model
itself) and every node's shape (the importer compares each with PyTorch's, and the output
with the model's); Swin, Swin V2 and MaxViT stop with one line naming what is missing.  A few
run through the report, JSON and the LaTeX documents as ResNet-50 does.
"""

from __future__ import annotations

import json
import warnings

import pytest

torch = pytest.importorskip("torch")

import symcnn  # noqa: E402
from symcnn import SymcnnError  # noqa: E402
from symcnn.importers.torch_fx import import_module  # noqa: E402
from symcnn.render import render_string, render_text, to_json  # noqa: E402
from validation import torchvision_source  # noqa: E402

#: The issue's 30 models: name -> input.  GoogLeNet and Inception v3 without their auxiliary
#: heads (which an eval-mode forward never calls); ViT and MaxViT need 224 x 224.
IMPORTS = {
    "alexnet": 64, "vgg11": 32, "vgg11_bn": 32, "vgg16": 32, "resnet18": 64, "resnet34": 64,
    "resnet50": 64, "resnet101": 64, "resnext50_32x4d": 64, "wide_resnet50_2": 64,
    "squeezenet1_0": 64, "squeezenet1_1": 64, "mobilenet_v2": 64, "regnet_x_400mf": 64,
    "googlenet": 64, "inception_v3": 75, "mobilenet_v3_small": 64, "mobilenet_v3_large": 64,
    "efficientnet_b0": 64, "efficientnet_v2_s": 64, "regnet_y_400mf": 64, "convnext_tiny": 64,
    "mnasnet0_5": 64, "mnasnet1_0": 64, "shufflenet_v2_x1_0": 64, "vit_b_16": 224,
    "densenet121": 64,
}
#: What stops the three that do not import (their attention is a function of their own).
STOPS = {
    "swin_t": "cannot map module 'features.1.0.attn' of type ShiftedWindowAttention: it uses "
              "its own 'relative_position_index' directly, a buffer or a constant",
    "swin_v2_t": "cannot map module 'features.1.0.attn' of type ShiftedWindowAttentionV2: it "
                 "uses its own 'relative_coords_table' directly, a buffer or a constant",
    "maxvit_t": "cannot map function Tensor.reshape in module "
                "'blocks.0.layers.0.layers.window_attention.partition_op' of type "
                "WindowPartition: from (2, 64, 56, 56) to (2, 64, 8, 7, 8, 7)",
}


@pytest.fixture(scope="module")
def models():
    return torchvision_source.load().models


def build(models, name):
    extra = {"aux_logits": False, "init_weights": False} \
        if name in ("googlenet", "inception_v3") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        return models.get_model(name, weights=None, **extra)


def output_shape(model, size) -> tuple[int, ...]:
    with torch.device("meta"):
        x = torch.empty((2, 3, size, size))
    state = {k: torch.empty_like(v, device="meta")
             for k, v in [*model.named_parameters(), *model.named_buffers()]}
    out = torch.func.functional_call(model.eval(), state, (x,))
    return tuple(out.shape[1:])


@pytest.mark.parametrize("name", IMPORTS)
def test_imports_exactly(models, name):
    model = build(models, name)
    size = IMPORTS[name]
    text = import_module(model, (3, size, size), name=name)
    analysis = symcnn.analyze(symcnn.parse_spec(text).network)
    expected = sum(p.numel() for p in model.parameters())
    assert analysis.total_params == expected
    assert f"PyTorch counts {expected:,} parameters, and so does this spec." in text
    assert tuple(analysis.output_shape) == output_shape(model, size)


@pytest.mark.parametrize("name", STOPS)
def test_stops_with_one_line(models, name):
    with pytest.raises(SymcnnError) as info:
        import_module(build(models, name), (3, 224, 224), name=name)
    message = str(info.value)
    assert "\n" not in message and message.startswith(STOPS[name])


@pytest.mark.parametrize("name, layer_types", [
    ("mobilenet_v3_small", {"Mul"}),
    ("convnext_tiny", {"Permute", "Parameter", "StochasticDepth", "Mul"}),
    ("shufflenet_v2_x1_0", {"Unflatten", "Contiguous", "Narrow", "Mean"}),
    ("vit_b_16", {"MultiheadAttention", "Parameter", "Select"}),
])
def test_report_json_and_documents(models, name, layer_types, tmp_path):
    size = IMPORTS[name]
    text = import_module(build(models, name), (3, size, size), name=name)
    spec = symcnn.parse_spec(text)
    assert layer_types <= {n.layer.type_name for n in spec.network.nodes}
    for options in (symcnn.MemoryOptions(), symcnn.MemoryOptions("pytorch", device="cpu")):
        report = symcnn.make_report(spec, options, batch_size=2)
        data = json.loads(json.dumps(to_json(report)))
        assert data["total_params"] == int(report.analysis.total_params)
        assert len(data["layers"]) == len(spec.network.nodes)
        assert name in render_text(report)
    report = symcnn.make_report(spec, symcnn.MemoryOptions(), batch_size=2)
    tex = render_string(report, "worksheet")
    assert "\\begin{document}" in tex and name.replace("_", "\\_") in tex

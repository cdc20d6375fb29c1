"""Held-out networks from torchvision's own model source (:mod:`validation.torchvision_source`):
MobileNetV3-Small, EfficientNet-B0, ConvNeXt-Tiny and ShuffleNetV2 at 64 x 64, and a one-block
ViT (torchvision's ``VisionTransformer`` class, 32 x 32, patches of 8, width 32, 2 heads), and
ViT-B/16 itself at 32 x 32 (4 patches and the class token, 12 layers of width 768).
Their specs (``validation/heldout/tv_*.toml``) are what ``symcnn import`` writes for them,
which checks every node's shape and the parameter count against PyTorch; the zoo's
:func:`validation.zoo.check_entry` does not apply (their function calls, ``x * s``, ``x.mean``,
are nodes that are no modules).  Never used to derive a rule; measured with
``python -m validation.run_torchvision`` (fp32 on the CPU, SGD at b = 2 and Adam at b = 3).
"""

from __future__ import annotations

from pathlib import Path

from validation.zoo import ZooEntry

HERE = Path(__file__).resolve().parent
SIZE = 64


def _model(name: str, **kwargs):
    def build():
        from validation import torchvision_source

        return torchvision_source.load().models.get_model(name, weights=None, **kwargs)
    return build


def _tiny_vit():
    from validation import torchvision_source

    vit = torchvision_source.load().models.vision_transformer
    return vit.VisionTransformer(image_size=32, patch_size=8, num_layers=1, num_heads=2,
                                 hidden_dim=32, mlp_dim=64, num_classes=10)


def _entry(name: str, builder, input_shape) -> ZooEntry:
    return ZooEntry(name, f"held out: torchvision {name}", HERE / f"tv_{name}.toml", builder,
                    input_shape, batches=(2, 3), tags=("heldout", "torchvision"))


TORCHVISION: tuple[ZooEntry, ...] = (
    _entry("mobilenet_v3_small", _model("mobilenet_v3_small"), (3, SIZE, SIZE)),
    _entry("efficientnet_b0", _model("efficientnet_b0"), (3, SIZE, SIZE)),
    _entry("convnext_tiny", _model("convnext_tiny"), (3, SIZE, SIZE)),
    _entry("shufflenet_v2_x1_0", _model("shufflenet_v2_x1_0"), (3, SIZE, SIZE)),
    _entry("vit_tiny", _tiny_vit, (3, 32, 32)),
    _entry("vit_b_16", _model("vit_b_16", image_size=32), (3, 32, 32)),
)


def covered_types() -> set[str]:
    """Every layer type used in these networks (from the specs)."""
    import symcnn

    return {n.layer.type_name for e in TORCHVISION
            for n in symcnn.parse_spec(e.spec_text).network.nodes}


def write_specs() -> None:
    """(Re)write ``tv_*.toml``: ``symcnn import`` of each network."""
    from symcnn.importers.torch_fx import import_module

    for e in TORCHVISION:
        e.spec_path.write_text(import_module(e.builder(), e.input_shape, name=e.name),
                               encoding="utf-8")


if __name__ == "__main__":
    write_specs()

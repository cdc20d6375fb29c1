"""A zoo of small networks, each as a symcnn spec (``validation/zoo/NAME.toml``) and as the
equivalent PyTorch module (:mod:`validation.zoo.models`).

The two are written independently (the torch code gives every ``in_channels`` /
``in_features`` by hand, the spec lets symcnn infer them) and :func:`check_entry` asserts that
they agree: the same total parameter count, the same parameters per node, the same output shape,
and every spec node is a leaf module of the same (qualified) name.  So a measurement attributed to
the torch module ``layer2.conv1`` belongs to the spec node ``layer2.conv1``.

Inputs are small so that the whole zoo measures in a few minutes on two CPU cores; the
:data:`HEAVY` networks are measured on their own.

Use from tests and the validation scripts, run from the repository root (spec texts need no
torch; builders do)::

    from validation import zoo
    for name, spec_text, builder, input_shape in zoo.entries():
        ...

``python -m validation.zoo`` checks every entry and prints a summary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from validation.zoo import models
from validation.zoo.models import torch

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parent.parent / "examples"


@dataclass(frozen=True)
class ZooEntry:
    """One network of the zoo: its spec file and text, the builder of its torch module and its
    input (channels first, no batch axis).

    ``batches``: the batch sizes the CPU harness measures.  ``bf16``: also measured under
    ``torch.autocast("cpu", dtype=torch.bfloat16)``.  ``foreach``: also measured with
    ``Adam(foreach=True)`` (the default on CPU is the single-tensor for-loop).
    """

    name: str
    description: str
    spec_path: Path
    builder: object  # () -> torch.nn.Module
    input_shape: tuple[int, ...]
    batches: tuple[int, ...] = (2, 4)
    bf16: bool = False
    foreach: bool = False
    tags: tuple[str, ...] = field(default=())

    @property
    def spec_text(self) -> str:
        return self.spec_path.read_text(encoding="utf-8")


def _entry(name: str, description: str, builder, input_shape, **options) -> ZooEntry:
    """The entry whose spec is ``validation/zoo/<name>.toml``."""
    return ZooEntry(name, description, HERE / f"{name}.toml", builder, input_shape, **options)


ZOO: tuple[ZooEntry, ...] = (
    _entry("lecture3d", "the lecture's 3-D CNN, 1 x 61 x 73 x 61", models.build_lecture3d,
           (1, 61, 73, 61), batches=(1, 2), bf16=True),
    _entry("vgg2d", "VGG-style conv/ReLU/MaxPool, Linear, Dropout", models.build_vgg2d,
           (3, 32, 32), bf16=True, foreach=True),
    _entry("resnet", "ResNet-style: BN, in-place ReLU, Add, projection", models.build_resnet,
           (3, 32, 32), bf16=True, foreach=True),
    _entry("resnet_ip", "the ResNet with in-place additions (out += identity)",
           models.build_resnet_inplace, (3, 32, 32), bf16=True),
    _entry("unet2d", "U-Net depth 2: Concat, ConvTranspose2d, BN", models.build_unet,
           (1, 32, 32), bf16=True),
    _entry("plain2d", "no BatchNorm / Dropout / MaxPool", models.build_plain, (3, 32, 32),
           bf16=True),
    _entry("bndrop2d", "with BatchNorm, Dropout, MaxPool", models.build_bndrop, (3, 32, 32),
           bf16=True),
    _entry("conv1d", "1-D: Conv1d, BN1d, pools, ConvTranspose1d, Upsample", models.build_conv1d,
           (4, 128), bf16=True),
    _entry("acts2d", "activations, GroupNorm, LayerNorm, pools, Upsample", models.build_acts,
           (3, 32, 32), bf16=True),
    _entry("vol3d", "3-D: BN3d, pools, ConvTranspose3d, trilinear Upsample", models.build_vol3d,
           (2, 16, 16, 16), bf16=True),
    _entry("inplace2d", "in-place ReLU/LeakyReLU/SiLU/Dropout", models.build_inplace,
           (3, 24, 24), bf16=True),
    _entry("mlp", "Linear, BatchNorm1d on (C,), LayerNorm, GELU", models.build_mlp, (64,),
           bf16=True, foreach=True),
    _entry("mobile2d", "depthwise conv, ReLU6, Hardswish, PReLU, ELU, Mish, Softplus",
           models.build_mobile, (3, 32, 32), bf16=True),
)


#: Networks too large for the routine run (minutes of CPU time and gigabytes of memory each);
#: ``python -m validation.run_cpu --heavy`` measures them.  The lecture's network at full size
#: is the shipped example itself (``examples/lecture.toml``, not a copy), since what it
#: validates is that file's prediction.
HEAVY: tuple[ZooEntry, ...] = (
    ZooEntry("lecture3d-full", "the lecture's 3-D CNN at full size, 1 x 193 x 229 x 193",
             EXAMPLES / "lecture.toml", models.build_lecture3d_full, (1, 193, 229, 193),
             batches=(1,), bf16=True),
)


def entries():
    """``(name, spec_text, builder, input_shape)`` for every network of the zoo."""
    return [(e.name, e.spec_text, e.builder, e.input_shape) for e in ZOO]


def get(name: str) -> ZooEntry:
    """The entry of the zoo, of :data:`HEAVY`, of the held-out set (``validation.heldout``) or
    of the kernel fitting set (``validation.fitting``) called ``name``."""
    from validation.fitting import FITTING
    from validation.heldout import HELDOUT
    from validation.heldout.torchvision import TORCHVISION

    known = ZOO + HEAVY + HELDOUT + FITTING + TORCHVISION
    for e in known:
        if e.name == name:
            return e
    raise KeyError(f"no zoo network {name!r} (known: {', '.join(e.name for e in known)})")


# --------------------------------------------------------------------------------------------
# Consistency checks between the torch module and the spec
# --------------------------------------------------------------------------------------------

def leaf_modules(model) -> dict[str, object]:
    """Qualified name -> module, for modules without children (the nodes)."""
    return {n: m for n, m in model.named_modules() if n and not any(True for _ in m.children())}


def check_entry(entry: ZooEntry) -> dict:
    """Assert that the torch module and the spec describe the same network; return a summary."""
    import sympy

    import symcnn

    spec = symcnn.parse_spec(entry.spec_text, source=str(entry.spec_path))
    analysis = symcnn.analyze(spec.network)
    torch.manual_seed(0)
    model = entry.builder()
    leaves = leaf_modules(model)
    nodes = {row.name: row for row in analysis.rows}
    assert set(nodes) == set(leaves), (entry.name, sorted(set(nodes) ^ set(leaves)))
    for name, row in nodes.items():
        mod = leaves[name]
        assert type(mod).__name__ == row.type_name, (entry.name, name, type(mod).__name__,
                                                     row.type_name)
        n_torch = sum(p.numel() for p in mod.parameters(recurse=False))
        assert sympy.Integer(n_torch) == row.params, (entry.name, name, n_torch, row.params)
        n_buf = sum(b.numel() for b in mod.buffers(recurse=False))
        assert sympy.Integer(n_buf) == row.buffers, (entry.name, name, n_buf, row.buffers)
    total = sum(p.numel() for p in model.parameters())
    assert sympy.Integer(total) == analysis.total_params, (entry.name, total, analysis.total_params)
    assert tuple(int(v) for v in spec.network.input_shape) == tuple(entry.input_shape)
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(2, *entry.input_shape))
    want = tuple(int(v) for v in analysis.output_shape)
    assert tuple(out.shape[1:]) == want, (entry.name, tuple(out.shape), want)
    return {"name": entry.name, "params": total, "nodes": len(nodes),
            "output_shape": want, "types": sorted({r.type_name for r in analysis.rows})}


def check_imported(entry: ZooEntry) -> dict:
    """For a network whose spec ``symcnn import`` wrote (tag ``imported``: function calls,
    ``x[:, 0]``, ``x * self.gamma``, are nodes that are no modules, so :func:`check_entry`'s
    leaf-per-node test does not apply): the committed spec is what a fresh import of the torch
    module writes, which checks every node's shape and the parameter count against PyTorch."""
    from symcnn.importers.torch_fx import import_module

    torch.manual_seed(0)
    model = entry.builder()
    fresh = import_module(model, entry.input_shape, name=entry.name)
    assert fresh == entry.spec_text, (entry.name, "spec differs from a fresh symcnn import")
    return {"name": entry.name, "params": sum(p.numel() for p in model.parameters()),
            "spec": "symcnn import"}


def check(entry: ZooEntry) -> dict:
    """:func:`check_imported` for an imported spec, :func:`check_entry` otherwise."""
    return check_imported(entry) if "imported" in entry.tags else check_entry(entry)


def covered_types() -> set[str]:
    """Every layer type used somewhere in the zoo (from the specs)."""
    import symcnn

    out = set()
    for e in ZOO:
        out |= {n.layer.type_name for n in symcnn.parse_spec(e.spec_text).network.nodes}
    return out


def check_all() -> list[dict]:
    from symcnn.layers import LAYER_TYPES

    summaries = [check_entry(e) for e in ZOO]
    missing = set(LAYER_TYPES) - covered_types()
    assert not missing, f"layer types not in the zoo: {sorted(missing)}"
    return summaries

"""The kernel fitting set: small networks of the kinds the zoo lacks (depthwise and grouped
convolutions at strides 1 and 2, dilated convolutions, large strided first convolutions in 1-d
and 2-d, a 1-d adaptive average pool; self-attention on both of PyTorch's paths, LayerNorm
over a permuted view, a class token, layer scales, ``Select``, ``Narrow``, ``Mean``, a gate), each as a spec (``validation/fitting/NAME.toml``) and a
torch builder (:mod:`validation.fitting.models`), checked against each other as the zoo's are.

The kernel rules for these kinds (``symcnn/memory/pytorch/workspace.py``, ``onednn/``) are
derived from these networks and from single layers measured alone, never from the held-out set
(:mod:`validation.heldout`).  ``python -m validation.run_cpu --fitting`` measures them with the
held-out plan (fp32 and bf16, SGD at batch 2 and Adam at batch 3) into
``results/cpu_<capability>_fitting.json``.
"""

from __future__ import annotations

from pathlib import Path

from validation.fitting import models
from validation.zoo import ZooEntry

HERE = Path(__file__).resolve().parent


def _entry(name: str, builder, input_shape, imported: bool = False) -> ZooEntry:
    return ZooEntry(name, f"kernel fitting: {name}", HERE / f"{name}.toml", builder, input_shape,
                    batches=(2, 3), bf16=True,
                    tags=("fitting", "imported") if imported else ("fitting",))


FITTING: tuple[ZooEntry, ...] = (
    _entry("fit_dw", models.build_fit_dw, (3, 32, 32)),
    _entry("fit_grouped", models.build_fit_grouped, (3, 24, 24)),
    _entry("fit_dilated", models.build_fit_dilated, (3, 32, 32)),
    _entry("fit_wide", models.build_fit_wide, (3, 64, 64)),
    _entry("fit_wide1d", models.build_fit_wide1d, (1, 2000)),
    _entry("fit_mha", models.build_fit_mha, (64, 48), imported=True),
    _entry("fit_sdpa", models.build_fit_sdpa, (80, 64), imported=True),
    _entry("fit_patches", models.build_fit_patches, (3, 40, 40), imported=True),
    _entry("fit_patch8", models.build_fit_patch8, (3, 48, 48)),
    _entry("fit_patch16", models.build_fit_patch16, (3, 80, 80)),
)

"""The held-out set: networks of kinds the zoo (:mod:`validation.zoo`, the fitting set) lacks,
each as a spec (``validation/heldout/NAME.toml``) and a torch builder
(:mod:`validation.heldout.models`), checked against each other as the zoo's are.

Never used to derive a kernel rule: the rules of ``symcnn/memory/pytorch/`` are fitted on the
zoo and on the kernel grids of ``validation/conv_*.py``; these networks only judge them
(``python -m validation.run_cpu --heldout``; ``validation/README.md`` reports the two sets
apart).  Every network is measured at batch sizes 2 and 3, fp32 and bf16 autocast, SGD and
Adam (:func:`validation.run_cpu.heldout_plan`); ``medium`` peaks above 50 MB.  The attention
networks (``vit_small``, ``vit_wide``, ``mixer``) have specs ``symcnn import`` wrote (tag
``imported``: :func:`validation.zoo.check_imported`).
"""

from __future__ import annotations

from pathlib import Path

from validation.heldout import models
from validation.zoo import ZooEntry

HERE = Path(__file__).resolve().parent


def _entry(name: str, builder, input_shape, imported: bool = False) -> ZooEntry:
    return ZooEntry(name, f"held out: {name}", HERE / f"{name}.toml", builder, input_shape,
                    batches=(2, 3), bf16=True,
                    tags=("heldout", "imported") if imported else ("heldout",))


HELDOUT: tuple[ZooEntry, ...] = (
    _entry("dwstride", models.build_dwstride, (3, 32, 32)),
    _entry("grouped", models.build_grouped, (3, 32, 32)),
    _entry("dilated", models.build_dilated, (3, 32, 32)),
    _entry("stem7", models.build_stem7, (3, 96, 96)),
    _entry("tokens", models.build_tokens, (32, 64)),
    _entry("pool1d", models.build_pool1d, (4, 100)),
    _entry("conv3dpad", models.build_conv3dpad, (1, 16, 16, 16)),
    _entry("deconvodd", models.build_deconvodd, (3, 30, 30)),
    _entry("wide1d", models.build_wide1d, (2, 1000)),
    _entry("medium", models.build_medium, (3, 128, 128)),
    _entry("dwstride2", models.build_dwstride2, (3, 40, 40)),
    _entry("grouped2", models.build_grouped2, (3, 28, 28)),
    _entry("dilated2", models.build_dilated2, (3, 40, 40)),
    _entry("wide2d", models.build_wide2d, (3, 80, 80)),
    _entry("vit_small", models.build_vit_small, (3, 32, 32), imported=True),
    _entry("vit_wide", models.build_vit_wide, (3, 48, 48), imported=True),
    _entry("mixer", models.build_mixer, (48, 40), imported=True),
)

#: Held-out networks whose per-node misses were looked at (``validation/README.md`` lists them)
#: before the rules for their kinds were made: judged with the others, but the final judgement
#: of those kinds rests on the networks added after (``dwstride2``, ``grouped2``, ``dilated2``,
#: ``wide2d``), never looked at before the rules were fixed.
SEEN = frozenset({"dwstride", "grouped", "dilated", "wide1d", "pool1d", "deconvodd"})

"""The receptive field as the reports and documents print it: a learned tensor's (none), a
field that covers the whole input (a linear layer's), in the text report, the JSON, the
Markdown and the LaTeX, which agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from symcnn import load_spec, make_report
from symcnn.render.documents import render_string
from symcnn.render.jsonreport import to_json
from symcnn.render.textreport import render_text

ROOT = Path(__file__).resolve().parent.parent


def column(text: str, title: str = "receptive field") -> dict[str, str]:
    """A column of the report's layer table, by layer name."""
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("#") and " layer " in line)
    start, end = lines[header].index(title), lines[header].index("activation")
    cells = {}
    for line in lines[header + 2:]:
        if not line.strip():
            break
        cells[line.split()[1]] = line[start:end].strip()
    return cells


@pytest.fixture(scope="module")
def vit():
    return make_report(load_spec(ROOT / "validation/heldout/vit_small.toml"))


def test_a_learned_tensor_has_no_field_anywhere(vit):
    """The class token and the position embedding read no input pixel (they are
    ``nn.Parameter``s, the same for every input): no field, blank; not an unknown one (``?``,
    ``null``)."""
    learned = [r.name for r in vit.analysis.rows if r.type_name == "Parameter"]
    assert learned == ["cls_token", "pos"]
    cells = column(render_text(vit))
    assert [cells[name] for name in learned] == ["", ""]
    assert cells["patch"] == "4, jump 4"  # a 4 x 4 patch with stride 4, by hand
    layers = {row["name"]: row for row in to_json(vit)["layers"]}
    assert [layers[name]["receptive_field"] for name in learned] == [[], []]
    markdown = render_string(vit, "markdown").splitlines()
    assert "| pos |  |  |  |" in markdown and "| cls\\_token |  |  |  |" in markdown
    worksheet = render_string(vit, "worksheet").splitlines()
    assert "  pos &  &  &  \\\\" in worksheet
    assert not any("$$" in line for line in worksheet if line.startswith("  pos &"))

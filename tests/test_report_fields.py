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


def column(text: str, title: str = "receptive field",
           following: str = "activation") -> dict[str, str]:
    """A column of the report's layer table (from ``title`` to the ``following`` column's
    title), by layer name."""
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("#") and " layer " in line)
    start, end = lines[header].index(title), lines[header].index(following)
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


def _linear_after(conv, n: int):
    """A convolution, flattened, then a linear layer, on a 1 x n x n input: the report, and
    the input pixels one output of the linear layer reads in PyTorch (its gradient)."""
    torch = pytest.importorskip("torch")
    from symcnn.layers import Conv2d, Flatten, Linear
    from symcnn.network import Network
    from tests.test_receptive import gradient_extent, ones

    layers = [Conv2d(out_channels=1, **conv), Flatten(), Linear(out_features=2)]
    report = make_report(Network.sequential("t", (1, n, n), layers, ["conv", "flat", "fc"]))
    module = torch.nn.Sequential(ones(torch.nn.Conv2d(1, 1, **conv)), torch.nn.Flatten(),
                                 torch.nn.Linear(int(report.analysis.rows[1].output_shape[0]), 2))
    torch.nn.init.constant_(module[2].weight, 1.0)
    model = torch.nn.Sequential(module, torch.nn.Unflatten(1, (2, 1)))
    return report, gradient_extent(model, (1, n, n), (0,))


def test_a_linear_layer_that_sees_every_pixel_says_whole_input():
    """Kernel 3, stride 2, padding 1 on 10 pixels: 5 windows reach pixels -1..9, the linear
    layer after them sees all 10 (PyTorch: every input pixel has a gradient)."""
    report, extent = _linear_after({"kernel_size": 3, "stride": 2, "padding": 1}, 10)
    assert extent == [(0, 9), (0, 9)]
    assert column(render_text(report))["fc"] == "whole input"
    field = to_json(report)["layers"][2]["receptive_field"]
    assert field == [{"size": 11, "jump": 0, "start": -1, "whole_input": True}] * 2


def test_a_linear_layer_that_misses_pixels_says_how_many():
    """Kernel 3, stride 2, no padding on 10 pixels: 4 windows reach pixels 0..8, the last
    pixel is read by no window (PyTorch: it has no gradient): 9 of 10 on each axis."""
    report, extent = _linear_after({"kernel_size": 3, "stride": 2}, 10)
    assert extent == [(0, 8), (0, 8)]
    assert column(render_text(report))["fc"] == "9 of 10"
    assert to_json(report)["layers"][2]["receptive_field"] == [{"size": 9, "jump": 0,
                                                                "start": 0}] * 2


def test_lecture_and_vgg16_linear_fields_as_printed():
    """The lecture's L9 reads L8's 9 x 11 x 9 positions, 61 pixels each 16 apart: 8*16 + 61 =
    189 of 193, 10*16 + 61 = 221 of 229 (by hand); VGG-16's classifier reads pool5's 7 x 7
    positions, 212 pixels each 32 apart from -90: -90 .. 313 covers all of 224."""
    lecture = column(render_text(make_report(load_spec(ROOT / "examples/lecture.toml"))))
    assert lecture["L9"] == "189 x 221 x 189 of 193 x 229 x 193"
    vgg = column(render_text(make_report(load_spec(ROOT / "examples/vgg16.toml"))))
    assert [vgg[f"classifier.{i}"] for i in (0, 3, 6)] == ["whole input"] * 3
    assert vgg["avgpool"] == "212, jump 32"  # 7 x 7 to 7 x 7: pool5's field


def test_a_symbolic_linear_layers_field_in_the_named_sizes():
    """The lecture's L9 reads L8's D_8 positions, 61 voxels each 16 apart: (D_8 - 1) 16 + 61 =
    16 D_8 + 45 (by hand), as the worksheet and the Markdown write it, not the closed form
    in D; at D = 193 (D_8 = 9) the 189 of the numeric lecture."""
    from symcnn.analysis.field_forms import named_fields
    from symcnn.analysis.receptive import receptive_fields
    from symcnn.spec.builtin import example_spec
    from symcnn.symbols import size

    report = make_report(example_spec("lecture_symbolic"))
    named = report.derivation.sizes
    l9 = named_fields(report.analysis, named)[-1]
    d8, h8, w8 = (size(f"{x}_8") for x in "DHW")
    assert [f.size for f in l9] == [16 * d8 + 45, 16 * h8 + 45, 16 * w8 + 45]
    closed = receptive_fields(report.analysis)[-1][0].size
    at = {size("D"): 193}
    assert named.closed(l9[0].size).subs(at) == closed.subs(at) == 189
    worksheet = render_string(report, "worksheet")
    assert r"L9 & $(16 D_{8} + 45, 16 H_{8} + 45, 16 W_{8} + 45)$ & $0$ & $0$ \\" in worksheet
    assert r"\left\lfloor \frac{D - 61}{16}" not in worksheet.split("Receptive fields")[1]
    markdown = render_string(report, "markdown")
    assert "| L9 | $(16 D_{8} + 45, 16 H_{8} + 45, 16 W_{8} + 45)$ | $0$ | $0$ |" in markdown


def test_a_field_with_nothing_to_name_stays_in_the_symbols():
    """A 3 x 3 convolution without padding on 1 x I x H, then a linear layer: it reads the
    I - 2 = I_1 windows of 3 pixels, jump 1, so all I x H pixels (by hand): written ``I``,
    not ``I_1 + 2``."""
    from symcnn import parse_spec
    from tests.test_letters import _SPEC_I

    report = make_report(parse_spec(_SPEC_I))
    assert r"L2 & $(I, H)$ & $0$ & $0$ \\" in render_string(report, "worksheet")
    assert column(render_text(report))["L2"] == "whole input"


def activation_column(text: str) -> dict[str, str]:
    """The last column of the report's layer table (the activation each node stores)."""
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("#") and " layer " in line)
    start = lines[header].index("activation")
    return {line.split()[1]: line[start:].strip() for line in lines[header + 2:]
            if line.strip()}


def test_the_activation_column_says_why_a_node_adds_nothing():
    """Under PyTorch's convention a node's output is counted when something saves it for
    backward: the patch convolution's output is read only by views and the concatenation,
    which saves nothing, so it is "(not saved)", not a view; ``flatten`` is a view; the
    attention's output is read by an Add (nothing saved); ``layers.l0.ln_1``'s output is saved
    by the attention (its input); the class token is a parameter, read from no input."""
    from symcnn.options import MemoryOptions

    report = make_report(load_spec(ROOT / "validation/heldout/vit_small.toml"),
                         MemoryOptions(convention="pytorch"))
    text = render_text(report)
    cells = activation_column(text)
    assert cells["patch"] == "(not saved)"
    assert cells["flatten"] == "(view, no new memory)"
    assert cells["cls_token"] == cells["pos"] == "(learned tensor)"
    assert cells["layers.l0.attention"] == "(not saved)"
    assert cells["layers.l0.ln_1"].startswith("S_")
    inputs = column(text, "inputs", "output shape")
    assert inputs["cls_token"] == inputs["pos"] == ""      # a parameter reads nothing
    assert inputs["cat"] == "cls_token, transpose"


def test_control_characters_in_names_are_printed_as_escapes(tmp_path):
    """A spec's name, description and layer names reach the terminal: an ESC sequence there
    would retitle the window (``ESC ] 0 ; ... BEL``) or clear the screen (``ESC [ 2 J``).  The
    text report writes each such character as its escape, and the table stays aligned."""
    spec = tmp_path / "evil.toml"
    spec.write_text('name = "evil\\u001b]0;owned\\u0007"\ndescription = "wipe\\u001b[2J\\r\\u202e"\n'
                    '[input]\nshape = [3, 8, 8]\n'
                    '[[layers]]\ntype = "Conv2d"\nname = "c\\u001b[31m"\nout_channels = 4\n'
                    'kernel_size = 3\n')
    text = render_text(make_report(load_spec(spec)))
    assert not any(ord(ch) < 32 and ch != "\n" or 0x7f <= ord(ch) <= 0x9f or ch == "\u202e"
                   for ch in text)
    assert text.splitlines()[0] == "evil\\x1b]0;owned\\x07: wipe\\x1b[2J\\r\\u202e"
    assert column(text, "type", "output shape")["c\\x1b[31m"] == "Conv2d"

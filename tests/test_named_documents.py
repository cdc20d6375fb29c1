"""A symbolic network's documents in its named sizes (``D_1 = D - 2``, ...): the names are
PyTorch's shapes, the MACs written in them are fvcore's count, a U-Net's stored activations
are those counted by hand; and the Markdown, the worksheet and the slides carry the same
sections (named sizes, I_i, budgets, inference, MACs) from the same report fields."""

import re

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import symcnn
from symcnn import make_report
from symcnn.render.documents import render_string
from symcnn.render.latex import math
from symcnn.symbols import size

torch = pytest.importorskip("torch")
from tests.test_macs import fvcore_total  # noqa: E402  (the peer, as users call it)

C, D, H, W, h, w = (size(n) for n in "CDHWhw")


@pytest.fixture(scope="module")
def lecture():
    return make_report(symcnn.example_spec("lecture_symbolic"))


def _lecture_torch(c: int):
    """The symbolic lecture network in PyTorch (channels C, C, 2C, 2C, 4C, 4C, 8C, 8C)."""
    nn = torch.nn
    chans = [1, c, c, 2 * c, 2 * c, 4 * c, 4 * c, 8 * c, 8 * c]
    layers = [(f"L{i + 1}", nn.Conv3d(chans[i], chans[i + 1], 3, stride=1 + i % 2))
              for i in range(8)]
    return nn.Sequential(*(m for _, m in layers)), [name for name, _ in layers]


@settings(max_examples=4, deadline=None)
@given(c=st.integers(1, 2), d=st.integers(61, 72), hh=st.integers(61, 72), ww=st.integers(61, 72))
def test_named_sizes_are_torchs_shapes_and_named_macs_are_fvcores(lecture, c, d, hh, ww):
    """Each name at (C, D, H, W) is the size PyTorch's layer outputs; the MACs in names, with
    those sizes put in, sum to fvcore's count of the convolutions plus the Linear's 8 C D_8
    H_8 W_8 (its input features, one output)."""
    convs, names = _lecture_torch(c)
    shapes, x = {}, torch.zeros((1, 1, d, hh, ww))
    with torch.no_grad():
        for name, module in zip(names, convs):
            x = module(x)
            shapes[name] = tuple(x.shape[1:])
    named = lecture.derivation.sizes
    values = {C: c, D: d, H: hh, W: ww}
    torch_size = {}
    for n in named.names:
        torch_size[n.symbol] = shapes[n.node][n.axis]
        assert n.value.xreplace(values) == torch_size[n.symbol], n.symbol
    put_in = {**values, **torch_size}
    rows = {r.name: r.value.xreplace(put_in) for r in lecture.derivation.macs.rows}
    assert all(rows[name] == fvcore_total(convs[i:i + 1], shapes[names[i - 1]] if i else (1, d, hh, ww))
               for i, name in enumerate(names[:2]))  # a layer alone, as fvcore counts it
    flat = int(x.numel())
    assert lecture.derivation.total_macs.xreplace(put_in) == fvcore_total(convs, (1, d, hh, ww)) + flat


def test_unet_activations_by_hand():
    """--set H=16*h --set W=16*w: C channels at 16h x 16w, 2C at 8h, 4C at 4h, 8C at 2h, 16C
    at h down; up1's transposed convolution gives 8C at 2h, concatenated with down3's 8C:
    16C; outc 2 channels at 16h x 16w; 4 bytes each."""
    net = symcnn.example_spec("unet2d").network.subs({H: 16 * h, W: 16 * w})
    terms = {t.source: t for t in make_report(net).derivation.terms}
    by_hand = {"input": 16 * h * 16 * w * 4, "inc.conv1": 16 * h * 16 * w * C * 4,
               "down1.conv1": 8 * h * 8 * w * 2 * C * 4, "down4.pool": h * w * 8 * C * 4,
               "down4.conv1": h * w * 16 * C * 4, "up1.up": 2 * h * 2 * w * 8 * C * 4,
               "up1.cat": 2 * h * 2 * w * 16 * C * 4, "outc": 16 * h * 16 * w * 2 * 4}
    assert {k: terms[k].value for k in by_hand} == by_hand
    assert len(terms) == 50


def test_the_unet_documents_list_every_stored_activation():
    """A graph network with symbols: each I_i in the worksheet, the slides and the Markdown,
    beside the node that stores it (not only per-block sums)."""
    report = make_report(symcnn.example_spec("unet2d"))
    for template in ("worksheet", "slides", "markdown"):
        text = render_string(report, template)
        for t in report.derivation.terms:
            label = re.escape(f"I_{{{t.label.split('_')[1]}}}")
            value = re.escape(math(t.value))
            assert re.search(label + r" &?= [^\n&]*(= |\$ & \$)" + value, text), (template, t.label)
        assert "down4.pool" in text and "up1.cat" in text


def test_torchsummary_block_outputs_in_named_sizes():
    """torchsummary also counts each block's container output (``down1``): in the names, its
    last node's shape, so the documents list every I_i instead of per-block floor walls;
    down1's container at H = W = 64 is 2C x 32 x 32 (max pooling halves 64), 4 bytes each."""
    from symcnn.options import MemoryOptions
    report = make_report(symcnn.example_spec("unet2d"), MemoryOptions("torchsummary"))
    terms = {t.source: t for t in report.derivation.terms}
    assert len(terms) == len(report.memory.activations)
    h1, w1 = report.derivation.sizes.shapes["down1.pool"][1:]
    assert terms["down1"].value == 2 * C * h1 * w1 * 4
    assert report.derivation.sizes.closed(terms["down1"].value).xreplace(
        {C: 8, H: 64, W: 64}) == 2 * 8 * 32 * 32 * 4
    label = f"I_{{{terms['down1'].label.split('_')[1]}}}"
    for template in ("worksheet", "slides"):
        lines = render_string(report, template).splitlines()
        block = [line for line in lines if re.search(r"down1(?![.\w])", line)]
        assert not [line for line in block if r"\lfloor" in line], template
        assert [line for line in block if label in line and math(2 * C * h1 * w1 * 4) in line], template


def test_markdown_has_the_worksheets_symbolic_sections(lecture):
    """The same named sizes, I_i in names, budgets and inference sets in both documents."""
    md, tex = render_string(lecture, "markdown"), render_string(lecture, "worksheet")
    d2 = r"D_{2} = \left\lfloor \frac{D_{1} - 3}{2} \right\rfloor + 1"
    assert d2 in md and d2.replace(" = ", " &= ", 1) in tex
    for n, _ in lecture.derivation.size_lines:
        assert f"- ${sympy.latex(n.symbol)} = " in md
    # I_4 = D_3 x H_3 x W_3 x 2C x 4 bytes: a product of names, no floor
    i4 = r"I_{4} = D_{3} \times H_{3} \times W_{3} \times 2 \times C \times 4 = 8 C D_{3} H_{3} W_{3}"
    assert i4 in md and i4.replace(" = ", " &= ", 1) in tex
    for gpu in ("8GB", "12GB", "16GB", "24GB", "40GB", "80GB"):
        assert re.search(rf"^\| {gpu} \| \$[\d{{}},]+\$ \| \$\\left\\lfloor \(", md, re.M), gpu
    inference = md.split("## Inference")[1].split("##")[0]
    assert "| L1 | $C D_{1} H_{1} W_{1} + D H W$ |" in inference
    assert "| L2 | $C D_{1} H_{1} W_{1} + C D_{2} H_{2} W_{2}$ |" in inference


@pytest.mark.parametrize("template", ["worksheet", "slides", "markdown"])
def test_macs_are_written_in_the_named_sizes(lecture, template):
    """Each layer's MACs is a product of names (27 C D_1 H_1 W_1), not a product of floors."""
    text = render_string(lecture, template)
    compute = text[text.index("Compute"):]
    lines = [ln for ln in compute.splitlines() if re.match(r"\s*(\\breakmath\{\\mathrm\{|- )L\d", ln)]
    assert len(lines) == 9
    assert not any("lfloor" in ln for ln in lines)
    assert r"D_{1} \times H_{1} \times W_{1} \times C \times 1 \times 27 = 27 C D_{1} H_{1} W_{1}" \
        in lines[0]


def test_slides_have_an_inference_frame():
    """The lecture at b = 1: the parameters (3,301,651 x 4 bytes) and the largest pair,
    L1's output (30 x 191 x 227 x 191) and L2's (30 x 95 x 113 x 95), 4 bytes each:
    1,129,328,044 bytes = 1,129.33 MB; the symbolic lecture's frame gives the two sets
    that can be largest, in names."""
    by_hand = 3_301_651 * 4 + (30 * 191 * 227 * 191 + 30 * 95 * 113 * 95) * 4
    assert by_hand == 1_129_328_044
    frame = _frame(render_string(make_report(symcnn.example_spec()), "slides"), "Inference Memory")
    assert r"1{,}129.33\,\mathrm{MB}" in frame and r"\max_i (\text{input}_i + \text{output}_i)" in frame
    frame = _frame(render_string(make_report(symcnn.example_spec("lecture_symbolic")), "slides"),
                   "Inference Memory")
    assert r"L2 & $C D_{1} H_{1} W_{1} + C D_{2} H_{2} W_{2}$" in frame and "9 sets)" in frame


def _frame(tex: str, title: str) -> str:
    start = tex.index(r"\begin{frame}{" + title)
    return tex[start:tex.index(r"\end{frame}", start)]

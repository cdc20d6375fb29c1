"""Names, sentences and notation in the documents (issue 11, items 4-6): a layer inside a
block by its path, "most of them" only when it is true, generic letters that never clash
with the network's symbols, factors in the order of their letters, the budget apart from
M(b), symbols in math mode."""

import pytest

import symcnn
from symcnn import make_report, parse_spec
from symcnn.exam.build import make_exam
from symcnn.exam.family import load_family
from symcnn.exam.output import keys_tex
from symcnn.render.documents import render_string
from symcnn.spec.builtin import examples_dir


@pytest.fixture(scope="module")
def resnet152():
    return make_report(symcnn.example_spec("resnet152"))


def test_a_layer_in_a_block_is_named_by_its_path(resnet152):
    tex = render_string(resnet152, "slides")
    # torchvision's Bottleneck: downsample.0 is a 1x1 conv from 64 to 256 channels in layer1.0
    assert r"\mathrm{downsample.0} = " in tex
    assert r"\mathrm{0} = " not in tex


def test_most_only_above_half(resnet152):
    tex = render_string(resnet152, "slides")
    # layer4.0.conv2 holds 512*512*9 = 2,359,296 of torchvision's 60,192,808 parameters
    share = 100 * 512 * 512 * 9 / 60_192_808
    assert "most of them" not in tex
    assert (r"the largest layer is layer4.0.conv2 ($2{,}359{,}296$, $"
            f"{share:.1f}" r"\,\%$)") in tex


def test_most_of_them_when_one_layer_holds_more_than_half():
    spec = parse_spec("""
name = "wide-head"
[input]
shape = [1, 8, 8]
[[layers]]
type = "Conv2d"
name = "conv"
out_channels = 2
kernel_size = 3
[[layers]]
type = "Flatten"
[[layers]]
type = "Linear"
name = "head"
out_features = 100
""")
    tex = render_string(make_report(spec), "slides")
    # head: 2*6*6*100 + 100 = 7,300 of 7,300 + (9 + 1)*2 = 7,320
    assert r"most of them in head ($7{,}300$)" in tex


def test_formula_letters_follow_the_numbers_and_never_clash():
    lecture = render_string(make_report(symcnn.example_spec()), "worksheet")
    # the lecture's I_5: D = 46, H = 55, W = 46, C = 60 channels, s = 4 bytes
    assert r"I_{5} &= D H W C s = 46 \times 55 \times 46 \times 60 \times 4" in lecture
    symbolic = render_string(make_report(symcnn.example_spec("lecture_symbolic")), "worksheet")
    assert r"I_{4} &= D_{4} H_{4} W_{4} C_{4} s = " in symbolic
    assert "C D H W s" not in symbolic and "D H W C s" not in symbolic


@pytest.mark.parametrize("template", ["slides", "worksheet", "markdown"])
def test_the_budget_is_not_the_memory(template):
    text = render_string(make_report(symcnn.example_spec()), template)
    assert r"M_{\mathrm{avail}} - c" in text
    assert r"\frac{M - " not in text and "(M - c)" not in text


def test_titles_name_the_network_by_its_description():
    report = make_report(symcnn.example_spec("resnet18"))
    assert r"\subtitle{ResNet-18 on 3 x 224 x 224 images, 1000 classes}" in \
        render_string(report, "slides")


def test_mistakes_in_keys_set_symbols_in_math():
    exam = make_exam(load_family(examples_dir() / "lecture_family.toml"), variants=3, seed=5)
    tex = keys_tex(exam)
    assert r"$C_{\mathrm{in}}$ forgotten" in tex
    assert r"C\_in" not in tex and r"n\_in" not in tex


# ---- the network in the documents' notation (issue 11, item 11) ----------------------------

def test_architecture_tables_use_the_formulas_notation():
    report = make_report(symcnn.example_spec("lecture_symbolic"))
    for template in ("slides", "worksheet"):
        tex = render_string(report, template)
        # lecture_symbolic.toml: L3 is out_channels = "2*C", kernel_size = 3
        assert r"L3 & Conv3d & $C_{\mathrm{out}} = 2 C$, $k = 3$ &" in tex
        # L4 has stride 2: the stride is S, never s (s is the bytes per element)
        assert r"$C_{\mathrm{out}} = 2 C$, $k = 3$, $S = 2$" in tex
        assert "out\\_channels" not in tex and "kernel\\_size" not in tex
    resnet = render_string(make_report(symcnn.example_spec("resnet18")), "worksheet")
    # torchvision's conv1: Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
    assert r"$C_{\mathrm{out}} = 64$, $k = 7$, $S = 2$, $p = 3$, no bias" in resnet


@pytest.fixture(scope="module")
def family_exam():
    return make_exam(load_family(examples_dir() / "lecture_family.toml"), variants=2, seed=7)


def test_exams_keep_stride_and_bytes_apart(family_exam):
    from symcnn.exam.output import exam_tex
    tex = exam_tex(family_exam, family_exam.variants[0])
    assert r"stride $S$" in tex and r"{n + 2p - d(k-1) - 1}{S}" in tex
    assert r"$s = 4$ bytes per element" in tex
    assert "stride $s$" not in tex and "}{s}" not in tex
    # the family's L3 is out_channels = "2*C", kernel_size = 3
    assert r"$C_{\mathrm{out}} = 2 C$, $k = 3$" in tex


def test_moodle_describes_the_network_in_notation(family_exam):
    from symcnn.exam.moodle import moodle_xml
    xml = moodle_xml(family_exam)
    assert "out_channels" not in xml and "kernel_size" not in xml and "stride=" not in xml
    assert "flatten_" not in xml  # a made-up name is code, not the reader's
    # HTML inside the XML text: C_out = 2C as <i>C</i><sub>out</sub> = 2<i>C</i>
    assert "&lt;i&gt;C&lt;/i&gt;&lt;sub&gt;out&lt;/sub&gt; = 2&lt;i&gt;C&lt;/i&gt;, " \
           "&lt;i&gt;k&lt;/i&gt; = 3" in xml
    assert "stride &lt;i&gt;S&lt;/i&gt;" in xml and "&lt;i&gt;s&lt;/i&gt; = 4 bytes" in xml


def test_html_notation_keeps_precedence():
    from symcnn.render.notation import html_math
    from symcnn.symbols import size
    C, D = size("C"), size("D")
    # brackets from sympy's precedence, a product side by side, a power as a superscript
    assert html_math((C + 1) * D) == "<i>D</i>(<i>C</i> + 1)"
    assert html_math((C + D) ** 2) == "(<i>C</i> + <i>D</i>)<sup>2</sup>"
    assert html_math(size("C_in") ** 2) == "<i>C</i><sub>in</sub><sup>2</sup>"

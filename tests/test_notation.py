"""Names, sentences and notation in the documents (issue 11, items 4-6): a layer inside a
block by its path, "most of them" only when it is true, generic letters that never clash
with the network's symbols, factors in the order of their letters, the budget apart from
M(b), symbols in math mode."""

import re
import shutil
import subprocess

import pytest

import symcnn
from symcnn import make_report, parse_spec
from symcnn.exam.build import make_exam
from symcnn.exam.family import load_family
from symcnn.exam.output import keys_tex
from symcnn.render.documents import render, render_string
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
    # with symbols, in the named sizes: I_4 is L3's output, 2C channels of D_3 x H_3 x W_3
    # (D_3 = D_2 - 2, named in the sizes section), 4 bytes each
    assert r"I_{4} &= D_{3} \times H_{3} \times W_{3} \times 2 \times C \times 4 = 8 C D_{3} H_{3} W_{3}" \
        in symbolic
    assert r"D_{3} &= D_{2} - 2" in symbolic
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


CLASH = """
name = "clash"
description = "A network whose symbols are the documents' usual letters"
[input]
shape = [1, "N", "M"]
[[layers]]
type = "Conv2d"
name = "conv1"
out_channels = "c"
kernel_size = "k"
[[layers]]
type = "Conv2d"
name = "conv2"
out_channels = "a"
kernel_size = 3
stride = 2
[[layers]]
type = "Flatten"
[[layers]]
type = "Linear"
name = "fc"
out_features = 10
"""


@pytest.fixture(scope="module")
def clash():
    """A network whose symbols are exactly the generic letters c, a, k, N and M."""
    return make_report(parse_spec(CLASH, "clash.toml"))


def test_generic_letters_never_clash_with_the_networks(clash):
    """The parameter count, M(b) = c + a b, its memory letter, the kernel size of the general
    formula: each written with a letter that is not one of the network's own symbols."""
    n = clash.notation
    assert (n.params, n.fixed, n.per_sample, n.memory, n.budget) == \
        ("P", "m_{0}", "m_{1}", r"\mathcal{M}", r"M_{\mathrm{avail}}")
    # the kernel size (and its per-axis k_1, k_2, k_3) is kappa, N and M as above; the
    # network has no S, p, d, g, s: those stay
    assert n.renames == {"k": r"\kappa", "k_1": r"{\kappa}_{1}", "k_2": r"{\kappa}_{2}",
                         "k_3": r"{\kappa}_{3}", "N": "P", "M": r"\mathcal{M}"}
    for template in ("worksheet", "slides"):
        tex = render_string(clash, template)
        assert r"P = \sum_i L_i" in tex and r"N = \sum_i L_i" not in tex
        # the general formula's kernel size is kappa; the network's k appears where it is put in
        assert r"\kappa^{2} C_{\mathrm{in}}" in tex and r"\left(k^{2} C_{\mathrm{in}}" not in tex
        assert r"\left(k^{2} \times 1 + 1\right) \times c" in tex
        assert r"\mathcal{M}(b)" in tex and "M(b)" not in tex
        assert r"m_{0} + m_{1}\,b" in tex or r"m_{1}\,b + m_{0}" in tex
        lines = [x.strip() for x in tex.splitlines()]
        assert not any(x.startswith(("c &=", "a &=")) for x in lines)
        assert "- c)/a" not in tex and r"- c}{a}" not in tex
    worksheet = render_string(clash, "worksheet")
    assert r"d{(}\kappa-1)" in worksheet
    # the architecture table: conv1's kernel size is the network's k, written kappa = k
    assert r"$C_{\mathrm{out}} = c$, $\kappa = k$" in worksheet and "$k = k$" not in worksheet


def test_text_report_letters_never_clash(clash):
    from symcnn.render.textreport import render_text
    text = render_text(clash)
    assert "Params      = P*4 B" in text and "Batch mem   = m_0 + m_1*b bytes" in text
    assert "b_max = floor((M_avail - m_0)/m_1)" in text and "floor((M - c)/a)" not in text


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
@pytest.mark.parametrize("template", ["worksheet", "slides"])
def test_clash_documents_compile_without_overfull_lines(clash, template, tmp_path):
    (tex,) = render(clash, template, tmp_path)
    subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name],
                   cwd=tmp_path, capture_output=True, check=True, timeout=300)
    log = tex.with_suffix(".log").read_text(errors="replace")
    wide = [float(x) for x in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide", log)]
    assert all(x <= 1 for x in wide), wide

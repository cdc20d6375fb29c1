"""Escaping by context (issue 12, classes 4 and 5): names with LaTeX's special signs,
accents, Greek letters, newlines and control characters typeset in text and in math mode;
names LaTeX cannot set are refused in one line before anything is written."""

import shutil
import subprocess

import pytest

from symcnn.errors import SymcnnError
from symcnn.render.documents import render, render_string
from symcnn.render.latex import escape_latex, math_name
from symcnn.report import make_report
from symcnn.spec.parse import parse_spec

HAVE_TEX = shutil.which("latexmk") is not None and shutil.which("pdftotext") is not None
needs_tex = pytest.mark.skipif(not HAVE_TEX, reason="latexmk/pdftotext not installed")

# every ASCII sign LaTeX reads as a command, in the network's name, a layer's name (set in
# \mathrm{} in the derivations) and the description; accents, Greek, a newline, a tab, a bell
HOSTILE = '''name = "n~e^t &%$#{}_\\\\ <x>|y"
description = "Über~Netz ^ with \\\\ α-β and a\\nnewline\\tand a bell\\u0007"
[input]
shape = [3, 8, 8]
[[layers]]
type = "Conv2d"
name = "conv~1^2 αΩ é"
out_channels = 4
kernel_size = 3
[[layers]]
type = "ReLU"
name = "r$e{l}u\\\\x_%#&<|>"
[[layers]]
type = "Flatten"
name = "flat\\nten\\u0007"
[[layers]]
type = "Linear"
name = "ßøł fc"
out_features = 2
'''

BLOCKS = '''name = "blocks~^"
[input]
shape = [3, 8, 8]
[blocks."b~l^o\\\\ck é"]
params = ["C"]
[[blocks."b~l^o\\\\ck é".layers]]
type = "Conv2d"
name = "c~o^nv é"
out_channels = "C"
kernel_size = 3
padding = 1
[[blocks."b~l^o\\\\ck é".layers]]
type = "ReLU"
name = "r_e^l%u"
[[layers]]
block = "b~l^o\\\\ck é"
name = "us~e^1"
C = 4
[[layers]]
block = "b~l^o\\\\ck é"
name = "use 2"
C = 8
'''


def pdf_text(pdf) -> str:
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout


@pytest.mark.parametrize("text, expected", [
    ("a~b^c", r"a\textasciitilde{}b\textasciicircum{}c"),
    ("x|y<z>", r"x\textbar{}y\textless{}z\textgreater{}"),
    ("two\nlines\tand\u0007bell\u200b", "two lines andbell"),
    ("Ünïcödé", r'\"{U}n\"{\i}c\"{o}d\'{e}'),
    ("α Ω ο", r"\ensuremath{\alpha} \ensuremath{\Omega} o"),
    ("ß æ Œ ø ł", r"\ss{} \ae{} \OE{} \o{} \l{}"),
])
def test_text_mode(text, expected):
    assert escape_latex(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("conv_1", r"conv\_1"),  # as before: the golden files keep their names
    ("layer1.0.downsample.0", "layer1.0.downsample.0"),
    ("c~1^2", r"c\text{\textasciitilde{}}1\text{\textasciicircum{}}2"),
    ("a b\nc", r"a\ b\ c"),
    ("a\\{}&%$#", r"a\text{\textbackslash{}}\{\}\&\%\$\#"),
    ("αé", r"\alpha \text{\'{e}}"),
])
def test_math_mode(text, expected):
    assert math_name(text) == expected


@pytest.mark.parametrize("char", ["😀", "漢", "я", "ą", "ש"])
def test_characters_latex_cannot_set_are_refused(char):
    with pytest.raises(SymcnnError, match=f"LaTeX cannot set '{char}'"):
        escape_latex(f"conv {char}")
    with pytest.raises(SymcnnError, match=f"LaTeX cannot set '{char}'"):
        math_name(f"conv {char}")


@pytest.mark.parametrize("where, spec", [
    ("layer 'fc 😀': field 'name'", HOSTILE.replace('"ßøł fc"', '"fc 😀"')),
    ("field 'description'", HOSTILE.replace("bell", "漢字")),
    ("field 'name'", HOSTILE.replace("n~e^t", "n😀t")),
    ("layer 'us~e^1.c~o^nv é': field 'block'", BLOCKS.replace("ck é", "ck 😀")),
])
@pytest.mark.parametrize("template", ["slides", "worksheet"])
def test_unsettable_names_are_one_line_before_anything_is_written(tmp_path, where, spec,
                                                                  template):
    report = make_report(parse_spec(spec, "bad.toml"))
    with pytest.raises(SymcnnError) as info:
        render(report, template, tmp_path / "out", pdf=True)
    message = str(info.value)
    assert message.startswith(f"bad.toml: {where}: LaTeX cannot set") and "\n" not in message
    assert not (tmp_path / "out").exists()
    assert render_string(report, "markdown")  # Markdown sets any character


def test_markdown_keeps_table_rows_whole():
    md = render_string(make_report(parse_spec(HOSTILE)), "markdown")
    assert "flat ten" in md and "flat\nten" not in md and "\u0007" not in md


@needs_tex
@pytest.mark.parametrize("spec", [HOSTILE, BLOCKS], ids=["sequential", "blocks"])
@pytest.mark.parametrize("template", ["slides", "worksheet"])
def test_hostile_names_compile(tmp_path, spec, template):
    report = make_report(parse_spec(spec))
    _, pdf = render(report, template, tmp_path, pdf=True)
    text = pdf_text(pdf)
    if spec is HOSTILE:
        # pdftotext reads OT1's tilde and circumflex accents as U+02DC and U+02C6
        assert "conv\u02dc1\u02c62 \u03b1" in text and "flat ten" in text
    else:
        assert "us\u02dce\u02c61" in text


def hostile_family() -> str:
    """The lecture's family with LaTeX's special signs, accents and Greek in its names."""
    from symcnn.spec.builtin import examples_dir
    text = (examples_dir() / "lecture_family.toml").read_text()
    return (text.replace('"L3"', r'"L~3^é α_1"').replace('"L9"', r'"fc&%$#{}<x>|\\"')
            .replace('name = "lecture-3d-cnn-exam"', r'name = "ex~am^ \\ α"')
            .replace('title = "Parameters', r'title = "~^\\ Über Parameters'))


@needs_tex
def test_hostile_names_in_an_exam_compile(tmp_path):
    from symcnn.cli import main
    family = tmp_path / "family.toml"
    family.write_text(hostile_family())
    out = tmp_path / "out"
    assert main(["exam", str(family), "--variants", "1", "--seed", "3", "--out", str(out),
                 "--pdf"]) == 0
    for name in ("exam-001.pdf", "key-001.pdf", "keys.pdf"):
        text = pdf_text(out / name)
        assert "L\u02dc3\u02c6" in text and "fc&%$#{}<x>|\\" in text


def test_a_power_in_a_mistakes_feedback_is_math_not_a_caret():
    """A key's feedback "kernel volume k instead of k^2" (symcnn.exam.mistakes) printed
    k\\textasciicircum{}2; a power of a letter is set as math, the rest still escaped."""
    from symcnn.render.latex import prose_with_symbols
    assert prose_with_symbols("kernel volume k^2 instead of k^3 (50% & C_in)") == \
        r"kernel volume $k^{2}$ instead of $k^{3}$ (50\% \& $C_{\mathrm{in}}$)"
    # a caret that is not a letter's power stays escaped text
    assert prose_with_symbols("2^10 and x^y") == r"2\textasciicircum{}10 and x\textasciicircum{}y"

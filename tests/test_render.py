"""Documents from templates: golden files, escaping, user templates, PDF compilation."""

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import sympy

import symcnn
from symcnn import SymcnnError, make_report, parse_spec
from symcnn.options import MemoryOptions
from symcnn.render.documents import render, render_string, templates_dir

GOLDEN = Path(__file__).parent / "golden"
HAVE_TEX = shutil.which("latexmk") is not None and shutil.which("pdftotext") is not None
needs_tex = pytest.mark.skipif(not HAVE_TEX, reason="latexmk/pdftotext not installed")


@pytest.fixture(scope="module")
def lecture():
    return make_report(symcnn.example_spec())


@pytest.fixture(scope="module")
def symbolic():
    return make_report(symcnn.example_spec("lecture_symbolic"))


@pytest.fixture(scope="module")
def resnet18():
    return make_report(symcnn.example_spec("resnet18"))


@pytest.mark.parametrize("template, suffix", [("slides", "tex"), ("worksheet", "tex"),
                                              ("markdown", "md")])
@pytest.mark.parametrize("which", ["lecture", "symbolic", "resnet18"])
def test_golden(template, suffix, which, request, update_golden):
    report = request.getfixturevalue(which)
    text = render_string(report, template)
    golden = GOLDEN / f"{which}-{template}.{suffix}"
    if update_golden:
        golden.write_text(text)
    assert text == golden.read_text(), f"{golden} differs; rerun with --update-golden if intended"


@pytest.mark.parametrize("template", ["slides", "worksheet"])
def test_golden_large_graph_network(template, update_golden):
    """A large graph network (ResNet-50: 16 bottleneck blocks, downsampling branches) as a
    lecturer hands it out; compiled without overfull lines in tests/test_layout.py."""
    text = render_string(make_report(symcnn.example_spec("resnet50")), template)
    golden = GOLDEN / f"resnet50-{template}.tex"
    if update_golden:
        golden.write_text(text)
    assert text == golden.read_text(), f"{golden} differs; rerun with --update-golden if intended"


def test_slides_show_the_lecture_numbers(lecture):
    tex = render_string(lecture, "slides")
    for expected in [r"\left(k^{3} C_{\mathrm{in}} + 1\right) C_{\mathrm{out}} = "
                     r"\left(27 \times 30 + 1\right) \times 30 = 24{,}330",
                     r"\left(213{,}840 + 1\right) \times 1 = 213{,}841",
                     r"N = \sum_i L_i = 3{,}301{,}651",
                     r"3{,}301{,}651 \times 4 = 13.21\,\mathrm{MB}",
                     r"I_{5} = 46 \times 55 \times 46 \times 60 \times 4 = 27.93\,\mathrm{MB}",
                     "print 51.50 MB",
                     r"I_{10} = 1 \times 4 = 0.0000040\,\mathrm{MB}",
                     r"2{,}937.31\,\mathrm{MB}",
                     r"\text{80 GB}:\quad b_{\max} = \left\lfloor \bigl( 80{,}000{,}000{,}000 - "
                     r"26{,}413{,}208\bigr)\,/\,2{,}910{,}900{,}732 \right\rfloor = 27"]:
        assert expected in tex


def test_units_are_labelled(lecture):
    mib = make_report(symcnn.example_spec(), units="MiB")
    assert r"12.59\,\mathrm{MiB}" in render_string(mib, "worksheet")
    assert r"1\,\mathrm{MiB} = 2^{20}" in render_string(mib, "worksheet")
    assert r"1\,\mathrm{MB} = 10^{6}" in render_string(lecture, "worksheet")


NASTY = """
name = "conv_1 & 50% {net} #2"
description = "a $5 net ~ with ^ and \\\\ backslash"
[input]
shape = [3, 16, 16]
[[layers]]
type = "Conv2d"
name = "conv_1 & 50%"
out_channels = 4
kernel_size = 3
[[layers]]
type = "ReLU"
"""


def test_prose_is_escaped():
    report = make_report(parse_spec(NASTY))
    tex = render_string(report, "worksheet")
    assert r"conv\_1 \& 50\% \{net\} \#2" in tex
    assert r"a \$5 net \textasciitilde{} with \textasciicircum{} and \textbackslash{} backslash" in tex
    md = render_string(report, "markdown")
    assert r"conv\_1 & 50% \{net\} #2" in md


@needs_tex
@pytest.mark.parametrize("template", ["slides", "worksheet"])
def test_escaped_names_compile(tmp_path, template):
    report = make_report(parse_spec(NASTY))
    tex, pdf = render(report, template, tmp_path, pdf=True)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    # the default OT1 font draws \_ as a rule, which pdftotext reads as a space
    assert "conv 1 & 50% {net} #2" in text


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_user_template_gets_the_same_context(tmp_path, lecture):
    tpl = write(tmp_path / "mine.tex.j2", r"""((* extends "base.tex.j2" *))
((* block body *))
Total ((( report.total_params|num ))) in ((( net.name ))); I5 ((( terms[4].bytes|bytes(units) ))).
((* endblock *))
""")
    (path,) = render(lecture, tpl, tmp_path / "out")
    assert path.name == "lecture-3d-cnn-mine.tex"
    text = path.read_text()
    assert r"Total 3{,}301{,}651 in lecture-3d-cnn; I5 27.93\,\mathrm{MB}." in text
    assert r"\documentclass[11pt]{article}" in text


@pytest.mark.parametrize("body, message", [
    ("((( no_such_thing )))", "UndefinedError: 'no_such_thing' is undefined"),
    ("((( report.nope )))", "has no attribute 'nope'"),
    ("((* if *))", "line 1"),
])
def test_bad_user_template_writes_nothing(tmp_path, lecture, body, message):
    tpl = write(tmp_path / "bad.tex.j2", body)
    out = tmp_path / "out"
    with pytest.raises(SymcnnError) as info:
        render(lecture, tpl, out)
    assert message in str(info.value)
    assert "bad.tex.j2" in str(info.value)
    assert not out.exists() or not any(out.iterdir())


def test_unknown_template(lecture, tmp_path):
    with pytest.raises(SymcnnError, match="no template 'deck'"):
        render(lecture, "deck", tmp_path)


@needs_tex
def test_failing_compile_leaves_no_pdf(tmp_path, lecture):
    tpl = write(tmp_path / "broken.tex.j2", r"""((* extends "base.tex.j2" *))
((* block body *))\undefinedmacro ((( report.total_params|num )))((* endblock *))
""")
    out = tmp_path / "out"
    with pytest.raises(SymcnnError) as info:
        render(lecture, tpl, out, pdf=True)
    assert "LaTeX failed: Undefined control sequence" in str(info.value)
    assert "l." in str(info.value)
    # issue 12: output is a transaction, so a failed compile writes nothing at all (no .tex
    # without its PDF, no log, aux or temporary file) and a folder it had to make goes again
    assert str(out / "lecture-3d-cnn-broken.tex") in str(info.value)  # the final name
    assert not out.exists()


def test_missing_latexmk_says_how_to_install(tmp_path, lecture, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(SymcnnError) as info:
        render(lecture, "slides", tmp_path, pdf=True)
    assert "latexmk not found" in str(info.value) and "apt-get install" in str(info.value)
    # refused before anything is written (issue 12: all or nothing)
    assert list(tmp_path.iterdir()) == []


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout


@needs_tex
def test_slides_pdf_shows_every_lecture_number(tmp_path, lecture):
    _, pdf = render(lecture, "slides", tmp_path, pdf=True)
    text = pdf_text(pdf)
    for n in ["840", "24,330", "48,660", "97,260", "194,520", "388,920", "777,840",
              "1,555,440", "213,841", "3,301,651", "13.21 MB", "34.12 MB", "993.74 MB",
              "122.38 MB", "230.41 MB", "27.93 MB", "49.25 MB", "5.50 MB", "8.32 MB",
              "0.86 MB", "2,937.31 MB", "51.50 MB"]:
        assert n in text, n
    assert "print 51.50 MB" in text  # the visible note on the lecture's slip


@needs_tex
@pytest.mark.parametrize("which", ["lecture", "symbolic"])
def test_worksheet_compiles(tmp_path, which, request):
    _, pdf = render(request.getfixturevalue(which), "worksheet", tmp_path, pdf=True)
    text = pdf_text(pdf)
    assert "Largest batch" in text


@needs_tex
def test_symbolic_slides_compile(tmp_path, symbolic):
    _, pdf = render(symbolic, "slides", tmp_path, pdf=True)
    assert "Closed Form" in pdf_text(pdf)


def test_symbolic_worksheet_has_closed_forms(symbolic):
    tex = render_string(symbolic, "worksheet")
    assert r"\left\lfloor \frac{D - 61}{16} \right\rfloor" in tex
    assert r"3{,}429 C^{2}" in tex


def test_notebook_display(lecture):
    md = lecture._repr_markdown_()
    assert "$N = 3{,}301{,}651$" in md
    latex = lecture._repr_latex_()
    assert latex.startswith("$$") and r"N &= 3{,}301{,}651" in latex


def test_cli_render(tmp_path):
    from symcnn.cli import main
    assert main(["render", "--template", "markdown", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "lecture-3d-cnn-markdown.md").is_file()
    assert main(["render", "--template", "nope", "--out", str(tmp_path)]) == 2


def test_installed_wheel_ships_templates_and_examples(tmp_path):
    root = Path(__file__).parent.parent
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path),
                    str(root)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("symcnn-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ["slides.tex.j2", "worksheet.tex.j2", "markdown.md.j2", "base.tex.j2"]:
        assert f"symcnn/templates/{name}" in names
    assert "symcnn/examples/lecture.toml" in names
    assert {p.name for p in templates_dir().glob("*.j2")} >= {"slides.tex.j2", "base.tex.j2"}


def test_graph_documents_summarize_blocks(resnet18):
    for template in ("slides", "worksheet"):
        tex = render_string(resnet18, template)
        assert r"Block basic, as used in layer1.0 $(C = 64)$" in tex
        assert r"Block down, as used in layer2.0 $(C = 128)$" in tex
        assert r"11{,}689{,}512" in tex
        # each block definition is derived once, not once per use
        assert len(re.findall(r"\\mathrm\{conv1\} &?= ", tex)) == 2
    slides = render_string(resnet18, "slides")
    # the derivations and the inference frame, not counting the charts' frames (three,
    # whatever the network)
    frames = slides.split(r"\begin{frame}")[1:]
    assert len([f for f in frames if "tikzpicture" not in f]) <= 13
    assert len([f for f in frames if "tikzpicture" in f]) == 3


@needs_tex
def test_graph_slides_compile(tmp_path, resnet18):
    _, pdf = render(resnet18, "slides", tmp_path, pdf=True)
    text = pdf_text(pdf)
    assert "11,689,512" in text and "layer4.1" in text


def test_documents_say_which_convention():
    r = make_report(symcnn.example_spec(), MemoryOptions("torchinfo"))
    tex = render_string(r, "worksheet")
    assert "Convention: torchinfo, that is torchinfo's Estimated Total Size" in tex
    assert r"\text{Grads} &=" not in tex
    assert r"2{,}924.11\,\mathrm{MB}" in tex
    slides = render_string(make_report(symcnn.example_spec(), MemoryOptions("cs231n")), "slides")
    assert r"\Bigl( 2 \times I_{1} + 2 \times \sum" in slides
    assert r"\mathrm{MiB}" in slides


def test_unwritable_out_is_one_line(tmp_path, lecture):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SymcnnError, match="cannot write there"):
        render(lecture, "slides", blocker)


def test_pytorch_convention_documents():
    r = make_report(symcnn.example_spec(), MemoryOptions("pytorch"))
    tex = render_string(r, "worksheet")
    assert "simulated moment by moment" in tex and "21 moments" in tex
    assert r"M(b) &= \max_t \bigl(F_t + A_t\, b\bigr)" in tex
    assert r"2{,}170.39\,\mathrm{MB}" in tex
    slides = render_string(r, "slides")
    assert r"\text{for large batches: } \max_t \ge 26{,}409{,}848" in slides


def test_pytorch_convention_bf16_says_so():
    r = make_report(symcnn.example_spec(), MemoryOptions("pytorch", precision="bf16"))
    for template in ("worksheet", "markdown", "slides"):
        assert "bf16 autocast" in render_string(r, template)
    assert "autocast" not in render_string(make_report(symcnn.example_spec(),
                                                       MemoryOptions("pytorch")), "worksheet")


def test_symbolic_simulated_peak_is_described():
    """A simulated step's peak with symbols is a maximum of 19 moments; one of them is proved
    the largest for every valid size (symcnn.analysis.dominance), so the documents print that
    one, not pages of a maximum; a maximum that stays long is named, not printed."""
    from symcnn import example_spec, make_report
    from symcnn.render.documents import _bytes_tex, render_string
    report = make_report(example_spec("lecture_symbolic"), MemoryOptions("pytorch"))
    assert len(report.memory.training(1).args) == 19
    assert not report.training_bytes.has(sympy.Max)  # equal at valid sizes: test_dominance.py
    text = render_string(report, "markdown")
    assert r"\max\left(" not in text
    assert max(len(line) for line in text.splitlines()) < 5000
    long = sympy.Max(*(sympy.Symbol("x") + i * sympy.Symbol("y") for i in range(19)),
                     evaluate=False)
    assert "the largest of 19 expressions" in _bytes_tex(long)


def test_a_block_use_reads_its_parameter_with_the_values_set():
    """unet2d with --set C=64: its first block is `double` with F = C, so the documents say
    F = 64 (they said F = C beside numeric shapes); down4 has F = 16C = 1024."""
    from symcnn.spec.parse import load_spec, parse_assignments
    spec = load_spec(symcnn.files.shipped_dir("examples", "lecture.toml") / "unet2d.toml",
                     parse_assignments(["C=64", "H=256", "W=256"]))
    report = make_report(spec)
    args = {g.name: dict(g.rows[0].block_args) for g in report.groups if g.block_type}
    assert args["inc"] == {"F": 64} and args["down4"] == {"F": 1024}
    for template in ("slides", "worksheet"):
        tex = render_string(report, template)
        assert "double block $(F = 64)$" in tex and "(F = C)" not in tex


def _frames(tex: str, title: str) -> list[str]:
    """The bodies of the frames whose title starts with ``title``."""
    found = re.findall(r"\\begin\{frame\}(?:\[[^\]]*\])?\{" + re.escape(title)
                       + r"([^\n]*)\n(.*?)\\end\{frame\}", tex, re.S)
    return [(head, body) for head, body in found]


@pytest.mark.parametrize("which, title, lines", [
    ("resnet18", "Network Architecture", 16),   # input, 15 layers and blocks: 8 + 8, not 13 + 3
    ("vgg16", "Network Architecture", 41),      # input and 40 layers: 11, 10, 10, 10, not 11, 11, 11, 8
    ("vgg16", "GPU Memory Consumption", 27),    # Params, Grads, I_1 ... I_25: 6, 6, 5, 5, 5
    ("lecture_symbolic", "GPU Memory Consumption", 11),  # Params, I_1 ... I_10: 6 + 5, not 8 + 3
])
def test_a_long_table_is_spread_evenly_over_its_frames(which, title, lines):
    """A table or list continued over frames fills them evenly (no near-empty last frame):
    the rows per frame differ by at most one, and together they are every line."""
    tex = render_string(make_report(symcnn.example_spec(which)), "slides")
    frames = _frames(tex, title)
    assert len(frames) > 1
    counts = [sum(1 for line in body.splitlines() if _is_item(line)) for _, body in frames]
    assert sum(counts) == lines, counts
    assert max(counts) - min(counts) <= 1, counts
    numbers = [re.search(r"(\d+)/(\d+)\)\}$", head.strip()).groups() for head, _ in frames]
    n = len(frames)
    assert numbers == [(str(i), str(n)) for i in range(1, n + 1)]


def _is_item(line: str) -> bool:
    """A table's row (not its header), a displayed formula or a line of an align."""
    line = line.strip()
    if line.startswith(r"\breakmath{") or re.match(r"I_\{\d+\} &=", line):
        return True
    return " & " in line and line.endswith("\\\\") and "output shape" not in line


def test_a_block_derived_over_two_frames_numbers_them():
    """ResNet-152's bottleneck_down has 8 layers with parameters: two frames of 4, titled
    (1/2) and (2/2), not the same title twice."""
    tex = render_string(make_report(symcnn.example_spec("resnet152")), "slides")
    heads = [h for h, _ in _frames(tex, "Block bottleneck\\_down, as used in layer1.0")]
    assert [h.strip()[-8:] for h in heads] == ["{(}1/2)}", "{(}2/2)}"], heads


def test_a_continued_frame_says_so_in_words(symbolic):
    """allowframebreaks numbered the frames I, II, which read as the activations I_i."""
    tex = render_string(symbolic, "slides")
    assert r"\setbeamertemplate{frametitle continuation}[from second][(cont.)]" in tex


def test_the_exercise_writes_c_plus_a_at_one_sample(lecture):
    (text,) = [render_string(lecture, "exercise", solutions=True)]
    assert "M{(}1{)} = c + a" in text and "c + 1" not in text
    assert "fits in 8 GB of" in text


@pytest.mark.parametrize("which", ["lecture_symbolic", "unet2d"])
def test_a_symbolic_architecture_table_uses_the_named_sizes(which):
    """Shapes as C x D_2 x H_2 x W_2 (named on the sizes slides), not walls of floor() terms
    at footnote size; each named shape, its names replaced by their closed forms, is the
    layer's shape as analysed, and for L2 of the lecture's network PyTorch's rule by hand."""
    report = make_report(symcnn.example_spec(which))
    sizes = report.derivation.sizes
    closed = {n.symbol: n.value for n in sizes.names}
    for row in report.analysis.rows:
        named = sizes.shapes[row.name]
        assert [sympy.simplify(sympy.sympify(v).subs(closed) - w) for v, w
                in zip(named, row.output_shape)] == [0] * len(named), row.name
    for template in ("slides", "worksheet"):
        tex = render_string(report, template)
        table = tex[tex.index("output shape"):tex.index(r"\bottomrule")]
        assert r"\lfloor" not in table
    if which == "lecture_symbolic":
        lecture = {"C": 30, "D": 193, "H": 229, "W": 193}   # the lecture's sizes
        named = [sympy.sympify(v).subs(closed) for v in sizes.shapes["L2"]]
        values = [v.subs({s: lecture[s.name] for s in v.free_symbols}) for v in named]
        assert values == [30, 95, 113, 95]                  # L2 on the lecture's slide
        assert r"L2 & Conv3d & $C_{\mathrm{out}} = C$, $k = 3$, $S = 2$ & " \
               r"$C \times D_{2} \times H_{2} \times W_{2}$" in render_string(report, "slides")


def test_budgets_are_spaced_and_memory_written_one_way(lecture):
    """"8 GB", as the exercise and the exam write it (not "8GB"), in the slides' and the
    worksheet's largest-batch lines, tables, legends and summary; M(b) = c + a b on every
    slide (the Largest Batch slide had a b + c)."""
    for template in ("slides", "worksheet"):
        tex = render_string(lecture, template)
        assert not re.search(r"\d(GB|MB|GiB)\b", tex.replace(r"\,\mathrm", "")), template
        assert tex.count("8 GB") >= 2
    slides = render_string(lecture, "slides")
    assert r"M(b) = c + a\,b$, so the largest batch" in slides
    assert r"a\,b + c" not in slides

"""The student exercise (issue 11, item 9): `render --template exercise` asks the questions
with space to work them by hand and gives no answer; `--solutions` is the same document with
every step worked. The figures checked here are the lecture's, worked by hand."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import symcnn
from symcnn import SymcnnError, make_report
from symcnn.cli import main
from symcnn.render.documents import render, render_string
from symcnn.symbols import size

GOLDEN = Path(__file__).parent / "golden"
needs_tex = pytest.mark.skipif(shutil.which("latexmk") is None or shutil.which("pdftotext") is None,
                               reason="latexmk/pdftotext not installed")

# The lecture's network, by hand: L2 = (3^3 * 30 + 1) * 30; its output 30 x 95 x 113 x 95
# (floor((191 - 3)/2) + 1 = 95, floor((227 - 3)/2) + 1 = 113); N = 3,301,651 parameters;
# c = 2 N s = 26,413,208 B; a = I_1 + 2 sum I_i = 2,910,900,732 B; M(1) = c + a.
L2_PARAMS = (27 * 30 + 1) * 30
I3_BYTES = 95 * 113 * 95 * 30 * 4
C_BYTES = 2 * 3_301_651 * 4
A_BYTES = 2_910_900_732


def grouped(n: int) -> str:
    return f"{n:,}".replace(",", "{,}")


@pytest.fixture(scope="module")
def lecture():
    return make_report(symcnn.example_spec())


@pytest.fixture(scope="module")
def blank(lecture):
    return render_string(lecture, "exercise")


@pytest.fixture(scope="module")
def solved(lecture):
    return render_string(lecture, "exercise", solutions=True)


def test_hand_figures():
    assert L2_PARAMS == 24_330 and C_BYTES == 26_413_208
    assert round((C_BYTES + A_BYTES) / 1e6, 2) == 2937.31  # the lecture's M(1) in MB


def test_the_exercise_asks_without_answering(blank):
    # one line to write on for each layer with parameters (L1-L8, L9), and N
    assert len(re.findall(r"\\answerline\{\$\\mathrm\{L\d\}\$", blank)) == 9
    for question in (r"\section*{1.\enspace Parameters}", r"\section*{2.\enspace Activations}",
                     r"\section*{3.\enspace Memory for training}",
                     r"\section*{4.\enspace Largest batch}"):
        assert question in blank
    for answer in (grouped(L2_PARAMS), grouped(3_301_651), "95 \\times 113 \\times 95",
                   grouped(C_BYTES), grouped(A_BYTES), "2{,}937.31"):
        assert answer not in blank, answer
    # the givens: the network in the formulas' notation, the budget asked about
    assert r"L2 & Conv3d & $C_{\mathrm{out}} = 30$, $k = 3$, $S = 2$" in blank
    assert "fits in 8 GB of" in blank and r"M_{\mathrm{avail}} = 8{,}000{,}000{,}000" in blank


def test_the_solutions_work_every_step(blank, solved):
    assert r"\answerline{$" not in solved
    assert (r"\mathrm{L2} = \left(k^{3} C_{\mathrm{in}} + 1\right) C_{\mathrm{out}} = "
            r"\left(27 \times 30 + 1\right) \times 30 = " + grouped(L2_PARAMS)) in solved
    assert r"N = \sum_i L_i = " + grouped(3_301_651) in solved
    assert r"$30 \times 95 \times 113 \times 95$" in solved
    assert f"{I3_BYTES / 1e6:.2f}" + r"\,\mathrm{MB}" in solved  # I_3 = 122.38 MB
    assert "c = " + grouped(C_BYTES) in solved and "= " + grouped(A_BYTES) in solved
    assert "2{,}937.31\\,\\mathrm{MB}" in solved
    # the largest batch in 8 GB: floor((8e9 - c) / a) = 2
    assert (8_000_000_000 - C_BYTES) // A_BYTES == 2
    assert (r"\frac{8{,}000{,}000{,}000 - " + grouped(C_BYTES) + "}{" + grouped(A_BYTES)
            + r"} \right\rfloor = 2") in solved
    # the same document: the same network table and questions
    for line in blank.splitlines():
        if line.startswith(("  2 & L2", r"\section*")):
            assert line in solved


def test_a_budget_too_small_says_by_how_much():
    report = make_report(symcnn.example_spec(), memory=["2GB"])
    tex = render_string(report, "exercise", solutions=True)
    assert "fits in 2 GB of" in tex
    # one sample needs c + a = 2,937,313,940 B, 937,313,940 B more than 2 GB
    assert C_BYTES + A_BYTES - 2_000_000_000 == 937_313_940
    assert "Not even one sample fits: it needs $937.31\\,\\mathrm{MB}$ more." in tex


def test_a_symbolic_exercise_keeps_the_symbols():
    report = make_report(symcnn.example_spec("lecture_symbolic"))
    tex = render_string(report, "exercise", solutions=True)
    assert r"\mathrm{L3} = \left(k^{3} C_{\mathrm{in}} + 1\right) C_{\mathrm{out}} = " \
           r"\left(27 \times C + 1\right) \times 2 \times C = 54 C^{2} + 2 C" in tex
    assert r"\left\lfloor \frac{8{,}000{,}000{,}000 - c}{a} \right\rfloor" in tex


def test_solutions_only_for_the_exercise(lecture):
    with pytest.raises(SymcnnError, match="only the exercise has solutions"):
        render_string(lecture, "worksheet", solutions=True)


def test_a_simulated_step_is_no_exercise():
    from symcnn.options import MemoryOptions
    report = make_report(symcnn.example_spec(), MemoryOptions("pytorch"))
    with pytest.raises(SymcnnError) as err:
        render_string(report, "exercise")
    assert err.value.context.argument == "convention"
    render_string(report, "worksheet")  # the other documents still render


def test_exercise_and_solutions_are_two_files(lecture, tmp_path):
    (blank,) = render(lecture, "exercise", tmp_path)
    (solved,) = render(lecture, "exercise", tmp_path, solutions=True)
    assert blank.name == "lecture-3d-cnn-exercise.tex"
    assert solved.name == "lecture-3d-cnn-exercise-solutions.tex"
    assert blank.exists() and r"\answerline{$" in blank.read_text()
    assert r"\answerline{$" not in solved.read_text()


def test_cli_errors_are_one_line(capsys, tmp_path):
    assert main(["render", "--template", "slides", "--solutions", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--solutions" in err
    assert main(["render", "--template", "exercise", "--convention", "pytorch",
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--convention" in err
    assert not list(tmp_path.iterdir())  # refused before anything is written


@pytest.mark.parametrize("which, solutions", [("lecture", False), ("lecture", True),
                                              ("symbolic", False), ("symbolic", True)])
def test_golden(which, solutions, request, update_golden):
    text = render_string(request.getfixturevalue(which), "exercise", solutions=solutions)
    golden = GOLDEN / f"{which}-exercise{'-solutions' if solutions else ''}.tex"
    if update_golden:
        golden.write_text(text)
    assert text == golden.read_text(), f"{golden} differs; rerun with --update-golden if intended"


@needs_tex
def test_cli_pdf(capsys, tmp_path):
    assert main(["render", "--template", "exercise", "--solutions", "--pdf", "--batch-size", "8",
                 "--out", str(tmp_path)]) == 0
    pdf = tmp_path / "lecture-3d-cnn-exercise-solutions.pdf"
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "Exercise with solutions" in text
    # M(8) = c + 8 a = 23,313,619,064 B = 23,313.62 MB
    assert C_BYTES + 8 * A_BYTES == 23_313_619_064
    assert "23,313.62 MB" in text


# ---- a symbolic network: the exercise in the sizes named one layer at a time ------------

LECTURE_SIZES = {"C": 30, "D": 193, "H": 229, "W": 193}  # the seed: the lecture's numbers


@pytest.fixture(scope="module")
def symbolic():
    return make_report(symcnn.example_spec("lecture_symbolic"))


def _table(tex: str, header: str) -> list[list[str]]:
    """The rows of the longtable whose header starts with ``header``, split into cells."""
    body = tex.split(header, 1)[1].split(r"\endhead", 1)[1].split(r"\bottomrule", 1)[0]
    return [[c.strip() for c in row.replace(r"\midrule", "").split(" & ")] for row in body.split(r"\\")
            if " & " in row]


def test_symbolic_solutions_are_written_in_named_sizes(symbolic):
    tex = render_string(symbolic, "exercise", solutions=True)
    # first the names, as the worksheet lists them: D_2 from D_1, then in D
    assert r"\section*{Sizes, one layer at a time}" in tex
    assert (r"D_{2} &= \left\lfloor \frac{D_{1} - 3}{2} \right\rfloor + 1 = "
            r"\left\lfloor \frac{D - 5}{2} \right\rfloor + 1") in tex
    assert tex.index("Sizes, one layer at a time") < tex.index(r"1.\enspace Parameters")
    # every shape and I_i in the names: no floor in the activations table
    rows = _table(tex, "layer & output shape & stored activation")
    assert len(rows) == 10 and not any(r"\lfloor" in cell for row in rows for cell in row)
    assert rows[1] == ["L2", r"$C \times D_{2} \times H_{2} \times W_{2}$",
                       r"$I_{3} = D_{2} \times H_{2} \times W_{2} \times C \times 4 = "
                       r"4 C D_{2} H_{2} W_{2}\,\mathrm{B}$"]
    # L9 reads the flattened L8 output: 8 C D_8 H_8 W_8 inputs, one output
    assert r"\left(8 \times C \times D_{8} \times H_{8} \times W_{8} + 1\right) \times 1 = " \
           r"8 C D_{8} H_{8} W_{8} + 1" in tex
    # Params, Grads, c and a in the names; c, a and N then in the network's symbols
    assert r"\text{Params} = N s = 4 N\ \mathrm{B}" in tex
    assert r"c &= 27{,}432 C^{2} + 64 C D_{8} H_{8} W_{8} + 456 C + 8\ \mathrm{B}" in tex
    assert r"a = I_1 + 2 \sum_{i \ge 2} I_i &= 8 C D_{1} H_{1} W_{1}" in tex
    memory = tex.split(r"3.\enspace Memory")[1].split(r"4.\enspace")[0]
    assert memory.count("in the network's symbols") == 2
    assert r"\left\lfloor \frac{D - 61}{16} \right\rfloor" in memory  # c's closed form


def test_symbolic_blank_asks_for_the_names_without_giving_them(symbolic):
    blank = render_string(symbolic, "exercise")
    assert r"\section*{Sizes, one layer at a time}" in blank
    assert r"\answerline{$D_{1}, H_{1}, W_{1}, \dots$:}" in blank
    for answer in (r"D_{1} &=", r"\frac{D_{1} - 3}{2}", "D - 2", r"D_{8}", r"\frac{D - 61}{16}",
                   "27{,}432"):
        assert answer not in blank, answer
    # the rest asks as before: the blank answers nothing
    assert r"\answerline{$\mathrm{L9}$ (Linear):}" in blank and r"\blankcell" in blank


def test_named_sizes_give_the_numeric_exercises_figures(symbolic, solved):
    """The names at the lecture's C = 30, D = 193, H = 229, W = 193 are the numeric exercise's
    sizes: L2's output 30 x 95 x 113 x 95 (by hand, above), and c and a written in names are
    the hand-worked c and a."""
    derivation = symbolic.derivation
    put_in = {size(k): sympy.Integer(v) for k, v in LECTURE_SIZES.items()}
    names = {n.symbol: n.value.xreplace(put_in) for n in derivation.sizes.names}
    l2 = [x.xreplace(put_in).xreplace(names) for x in derivation.sizes.shapes["L2"]]
    assert l2 == [30, 95, 113, 95]
    assert r"$30 \times 95 \times 113 \times 95$" in solved  # the numeric exercise says so
    assert derivation.fixed.xreplace(names).xreplace(put_in) == C_BYTES
    assert derivation.per_sample.xreplace(names).xreplace(put_in) == A_BYTES


@settings(max_examples=12, deadline=None)
@given(c=st.integers(1, 64), d=st.integers(61, 400), h=st.integers(61, 400),
       w=st.integers(61, 400))
def test_named_shapes_at_any_sizes_are_the_numeric_networks(symbolic, c, d, h, w):
    """Each layer's shape in names, with the names' closed forms put in at random sizes, is
    the shape of the same network built with those numbers (its layers' own arithmetic)."""
    put_in = {size(k): sympy.Integer(v) for k, v in zip("CDHW", (c, d, h, w))}
    numeric = symcnn.analyze(symcnn.example_spec("lecture_symbolic", overrides=put_in).network)
    named = symbolic.derivation.sizes
    for row in numeric.rows:
        shown = tuple(named.closed(x).xreplace(put_in) for x in named.shapes[row.name])
        assert shown == tuple(row.output_shape), row.name


def test_graph_solutions_sum_each_block_in_named_sizes():
    """A U-Net on H x W: each block's output shape and stored bytes in the names (H_1 =
    floor(H/2), ...); at C = 8, H = W = 64 they are the numeric network's block figures."""
    report = make_report(symcnn.example_spec("unet2d"))
    tex = render_string(report, "exercise", solutions=True)
    rows = {r[0]: r for r in _table(tex, "layer or block & output shape & stored tensors")}
    assert rows["down1"][1] == r"$2 C \times H_{1} \times W_{1}$"
    assert not any(r"\lfloor" in cell for row in rows.values() for cell in row)
    put_in = {size(k): sympy.Integer(v) for k, v in {"C": 8, "H": 64, "W": 64}.items()}
    numeric = make_report(symcnn.example_spec("unet2d", overrides=put_in))
    named = report.derivation.sizes
    by_name = [named.closed(b).xreplace(put_in) for b in report.named_group_activations]
    assert by_name == [g.activation_bytes for g in numeric.groups]
    # down1 by hand: pool C x 32 x 32, then conv, bn, conv, bn at 2C x 32 x 32 (both ReLUs
    # in place): (8 + 4 * 16) * 1024 elements of 4 bytes
    assert dict(zip((g.name for g in numeric.groups), by_name))["down1"] == (8 + 4 * 16) * 1024 * 4

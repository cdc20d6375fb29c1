"""The student exercise (issue 11, item 9): `render --template exercise` asks the questions
with space to work them by hand and gives no answer; `--solutions` is the same document with
every step worked. The figures checked here are the lecture's, worked by hand."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

import symcnn
from symcnn import SymcnnError, make_report
from symcnn.cli import main
from symcnn.render.documents import render, render_string

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


@pytest.mark.parametrize("which, solutions", [("lecture", False), ("lecture", True)])
def test_golden(which, solutions, lecture, update_golden):
    text = render_string(lecture, "exercise", solutions=solutions)
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

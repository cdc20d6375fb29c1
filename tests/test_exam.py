"""Exams: every answer recomputed here with integer arithmetic from the drawn values,
rejected draws, distractors, reproducible files, the Moodle XML, the CLI and the PDFs."""

import re
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from decimal import Decimal
from math import prod

import pytest
import sympy

from symcnn import SymcnnError
from symcnn.cli import main
from symcnn.exam.build import make_exam
from symcnn.exam.family import load_family, parse_family
from symcnn.exam.moodle import moodle_xml
from symcnn.spec.builtin import examples_dir

EXAMPLE = examples_dir() / "lecture_family.toml"
HAVE_TEX = shutil.which("latexmk") is not None and shutil.which("pdftotext") is not None


def rounded(nbytes: int, unit_bytes: int, decimals: int) -> Decimal:
    """Half up, by integers: floor(x * 10^d / U + 1/2)."""
    return Decimal((2 * nbytes * 10**decimals + unit_bytes) // (2 * unit_bytes)).scaleb(-decimals)


# ---- the lecture family, by hand -------------------------------------------------------------

def lecture_by_hand(draws: dict, c: int) -> dict:
    """The lecture family's network from its drawn values: 8 unpadded 3x3x3 convolutions with
    C, C, 2C, 2C, 4C, 4C, 8C, 8C channels (the strided ones dilated as drawn, the last stride
    drawn), a
    Flatten (a view) and a Linear layer to 1."""
    size = (draws["input.shape[2]"], draws["input.shape[3]"], draws["input.shape[4]"])
    channels = [c, c, 2 * c, 2 * c, 4 * c, 4 * c, 8 * c, 8 * c]
    strides = [1, 2, 1, 2, 1, 2, 1, draws["layers[8].stride"]]
    dilations = [draws.get(f"layers[{i}].dilation", 1) for i in range(1, 9)]
    sizes, params, macs, c_in = [size], [], [], 1
    field, jump = 1, 1  # receptive field and jump along each axis
    for c_out, s, d in zip(channels, strides, dilations):
        sizes.append(tuple((n - 2 * d - 1) // s + 1 for n in sizes[-1]))
        params.append((27 * c_in + 1) * c_out)
        macs.append(c_out * prod(sizes[-1]) * c_in * 27)
        field, jump = field + 2 * d * jump, jump * s
        c_in = c_out
    features = c_in * prod(sizes[-1])
    params.append(features + 1)
    acts = [prod(size) * 4] + [ch * prod(sz) * 4 for ch, sz in zip(channels, sizes[1:])] + [4]
    total = sum(params)
    fixed, per_sample = 2 * total * 4, acts[0] + 2 * sum(acts[1:])
    return {"params": params, "total": total, "sizes": sizes, "channels": channels,
            "acts": acts, "fixed": fixed, "per_sample": per_sample, "macs": macs,
            "field": field}


def largest_c_by_hand(draws: dict, budget: int, batch: int) -> int:
    """The largest C whose training memory at ``batch`` fits ``budget``: every C from 1 up."""
    c = 0
    while True:
        h = lecture_by_hand(draws, c + 1)
        if h["fixed"] + batch * h["per_sample"] > budget:
            return c
        c += 1


@pytest.fixture(scope="module")
def lecture_exam():
    return make_exam(load_family(EXAMPLE), variants=6, seed=11)


def test_every_lecture_answer_by_hand(lecture_exam):
    for v in lecture_exam.variants:
        c = v.values["C"]
        h = lecture_by_hand(v.draws, c)
        answers = {q.number: q.answer.value for q in v.questions}
        assert answers[1] == h["params"][2]                                  # L3
        assert answers[2] == h["params"][8]                                  # L9 (Linear)
        assert answers[3] == h["total"]
        assert answers[4] == (h["channels"][3], *h["sizes"][4])              # after L4
        assert answers[5] == rounded(h["acts"][2], 10**6, 2)                 # L2's output, MB
        assert answers[6] == rounded(h["fixed"] + 8 * h["per_sample"], 10**6, 2)
        assert answers[7] == (12 * 10**9 - h["fixed"]) // h["per_sample"]
        closed = answers[8]
        (symbol,) = closed.free_symbols
        assert str(symbol) == "C"
        for k in range(1, 6):  # a quadratic in C, checked at five values
            assert closed.subs(symbol, k) == lecture_by_hand(v.draws, k)["total"]
        assert answers[9] == h["macs"][2]                                    # L3's MACs
        d = [v.draws[f"layers[{i}].dilation"] for i in (2, 4, 6, 8)]
        assert answers[10] == h["field"] == 31 + 2 * (d[0] + 2 * d[1] + 4 * d[2] + 8 * d[3])
        assert answers[11] == largest_c_by_hand(v.draws, 12 * 10**9, 8)
        for q in v.questions:
            for choice in q.choices:
                assert (choice.value == q.answer.value) == choice.correct


def test_variant_k_does_not_depend_on_the_number_of_variants(lecture_exam):
    more = make_exam(load_family(EXAMPLE), variants=3, seed=11)
    assert [v.draws for v in more.variants] == [v.draws for v in lecture_exam.variants[:3]]
    other = make_exam(load_family(EXAMPLE), variants=3, seed=12)
    assert [v.draws for v in other.variants] != [v.draws for v in more.variants]


# ---- a 2-D family: padding, pooling, ReLU, drawn bias, other units --------------------------

SMALL = """
name = "small-2d"
[variables]
K = {choices = [6, 10]}
[input]
shape = [3, {range = [30, 40, 1]}, {range = [30, 40, 1]}]
[[layers]]
type = "Conv2d"
name = "conv1"
out_channels = "K"
kernel_size = 5
padding = {choices = [0, 2]}
[[layers]]
type = "ReLU"
[[layers]]
type = "MaxPool2d"
name = "pool"
kernel_size = 2
[[layers]]
type = "Conv2d"
name = "conv2"
out_channels = "2*K"
kernel_size = 3
stride = 2
bias = {choices = [true, false]}
[[layers]]
type = "Flatten"
[[layers]]
type = "Linear"
name = "fc"
out_features = 10
[[exam.questions]]
kind = "params"
layer = "conv2"
choices = 5
[[exam.questions]]
kind = "total_params"
choices = 5
[[exam.questions]]
kind = "output_shape"
layer = 3
choices = 5
[[exam.questions]]
kind = "activation_memory"
layer = "conv1"
batch_size = 4
unit = "MiB"
decimals = 3
choices = 5
[[exam.questions]]
kind = "training_memory"
batch_size = 16
unit = "KiB"
decimals = 1
choices = 5
[[exam.questions]]
kind = "max_batch"
memory = "1GiB"
choices = 5
[[exam.questions]]
kind = "symbolic_total"
symbol = "K"
choices = 4
"""


def small_by_hand(draws: dict, k: int) -> dict:
    h, w = draws["input.shape[2]"], draws["input.shape[3]"]
    pad, bias = draws["layers[1].padding"], draws["layers[4].bias"]
    n1 = [n + 2 * pad - 5 + 1 for n in (h, w)]
    n2 = [(n - 2) // 2 + 1 for n in n1]
    n3 = [(n - 3) // 2 + 1 for n in n2]
    features = 2 * k * prod(n3)
    params = [(25 * 3 + 1) * k, 9 * k * 2 * k + (2 * k if bias else 0), (features + 1) * 10]
    conv1 = k * prod(n1) * 4
    acts = [3 * h * w * 4, conv1, conv1, k * prod(n2) * 4, 2 * k * prod(n3) * 4, 10 * 4]
    total = sum(params)
    return {"params": params, "total": total, "pool": (k, *n2), "conv1": conv1, "acts": acts,
            "fixed": 2 * total * 4, "per_sample": acts[0] + 2 * sum(acts[1:]), "bias": bias}


@pytest.fixture(scope="module")
def small_exam():
    return make_exam(parse_family(SMALL, "small.toml"), variants=8, seed=4)


def test_every_small_answer_by_hand(small_exam):
    for v in small_exam.variants:
        k = v.values["K"]
        h = small_by_hand(v.draws, k)
        a = {q.number: q.answer for q in v.questions}
        assert a[1].value == h["params"][1]
        assert a[2].value == h["total"]
        assert a[3].value == h["pool"]
        assert a[4].value == rounded(4 * h["conv1"], 2**20, 3) and a[4].unit == "MiB"
        assert a[4].tolerance == Decimal("0.0005")
        assert a[5].value == rounded(h["fixed"] + 16 * h["per_sample"], 2**10, 1)
        assert a[6].value == (2**30 - h["fixed"]) // h["per_sample"]
        (symbol,) = a[7].value.free_symbols
        for kk in range(1, 5):
            assert a[7].value.subs(symbol, kk) == small_by_hand(v.draws, kk)["total"]


def test_distractors_are_distinct_wrong_and_from_typical_mistakes(small_exam):
    seen = set()
    for v in small_exam.variants:
        k = v.values["K"]
        h = small_by_hand(v.draws, k)
        for q in v.questions:
            values = [c.value for c in q.choices]
            assert len(values) == q.spec.choices == len(set(values))
            assert [c.value for c in q.choices if c.correct] == [q.answer.value]
            assert all(c.mistake for c in q.choices if not c.correct)
            assert [c.letter for c in q.choices] == list("ABCDE"[:len(values)])
            mistakes = {c.mistake: c.value for c in q.choices if not c.correct}
            seen |= set(mistakes)
            if q.number == 1:  # conv2: 9 K * 2K weights (+ 2K biases)
                if h["bias"]:
                    assert mistakes["bias forgotten"] == 18 * k * k
                assert mistakes["C_in forgotten"] == 18 * k + (2 * k if h["bias"] else 0)
            if q.number == 4:
                assert mistakes["MiB and MB confused"] == rounded(4 * h["conv1"], 10**6, 3)
            if q.number == 5:
                once = h["fixed"] + 16 * sum(h["acts"])
                assert mistakes["activations counted once instead of twice"] == \
                    rounded(once, 2**10, 1)
            if q.number == 6:
                assert mistakes["activations counted once instead of twice"] == \
                    (2**30 - h["fixed"]) // sum(h["acts"])
                assert mistakes["decimal and binary units confused (GB, GiB)"] == \
                    (10**9 - h["fixed"]) // h["per_sample"]
    assert {"the +1 forgotten in the output size", "bias forgotten in every layer",
            "the floor forgotten (rounded up) in the output size"} <= seen


RESIDUAL = """
name = "residual"
[variables]
C = {choices = [4, 8]}
[input]
shape = ["C", {range = [16, 24, 2]}, {range = [16, 24, 2]}]
[[layers]]
type = "Conv2d"
name = "conv"
out_channels = "C"
kernel_size = 3
padding = 1
[[layers]]
type = "ReLU"
name = "relu"
[[layers]]
type = "Add"
name = "sum"
inputs = ["relu", "input"]
[[layers]]
type = "MaxPool2d"
name = "pool"
kernel_size = 2
[[exam.questions]]
kind = "total_params"
choices = 3
[[exam.questions]]
kind = "output_shape"
layer = "pool"
[[exam.questions]]
kind = "training_memory"
batch_size = 2
unit = "MB"
decimals = 4
"""


def test_a_branching_network_by_hand():
    from symcnn.exam.output import exam_tex

    exam = make_exam(parse_family(RESIDUAL, "residual.toml"), variants=4, seed=8)
    for v in exam.variants:
        c, h, w = v.values["C"], v.draws["input.shape[2]"], v.draws["input.shape[3]"]
        params = (9 * c + 1) * c
        full, pooled = c * h * w * 4, c * (h // 2) * (w // 2) * 4
        per_sample = full + 2 * (3 * full + pooled)  # conv, relu, sum, pool: each stored twice
        a = [q.answer.value for q in v.questions]
        assert a[0] == params
        assert a[1] == (c, h // 2, w // 2)
        assert a[2] == rounded(2 * params * 4 + 2 * per_sample, 10**6, 4)
    tex = exam_tex(exam, exam.variants[0])
    assert r"\# & layer & inputs & type & arguments" in tex
    assert "3 & sum & relu, input & Add" in tex


# ---- rejected draws -------------------------------------------------------------------------

def tiny(body: str, questions: str = '[[exam.questions]]\nkind = "total_params"\n') -> str:
    return textwrap.dedent(body) + questions


def test_exact_division_rejects_remainders():
    fam = parse_family(tiny("""
        [input]
        shape = [1, {range = [20, 40, 1]}, 17]
        [[layers]]
        type = "Conv2d"
        out_channels = 2
        kernel_size = 3
        stride = 2
        [draw]
        exact_division = true
        """), "exact.toml")
    exam = make_exam(fam, variants=12, seed=1)
    sizes = [v.draws["input.shape[2]"] for v in exam.variants]
    assert all((n - 3) % 2 == 0 for n in sizes)
    assert any(v.candidate.attempt > 1 for v in exam.variants)  # some draws were rejected
    for v, n in zip(exam.variants, sizes):
        assert v.questions[0].answer.value == 9 * 2 + 2


def test_invalid_networks_are_rejected():
    fam = parse_family(tiny("""
        [input]
        shape = [1, {range = [8, 40, 1]}, 40]
        [[layers]]
        type = "Conv2d"
        out_channels = 1
        kernel_size = {choices = [3, 30]}
        """), "kernel.toml")
    exam = make_exam(fam, variants=12, seed=2)
    for v in exam.variants:
        assert v.draws["input.shape[2]"] >= v.draws["layers[1].kernel_size"]
    assert any(v.candidate.attempt > 1 for v in exam.variants)


def test_no_valid_draw_is_one_clear_error():
    fam = parse_family(tiny("""
        [input]
        shape = [1, {range = [8, 12, 1]}, 8]
        [[layers]]
        type = "Conv2d"
        out_channels = 1
        kernel_size = 20
        [draw]
        tries = 5
        """), "never.toml")
    with pytest.raises(SymcnnError) as info:
        make_exam(fam, variants=1)
    message = str(info.value)
    assert message.startswith("never.toml: variant 1: all 5 draws were invalid")
    assert "not positive" in message and "\n" not in message


def test_same_failure_every_time_is_reported_as_it_is():
    fam = parse_family(tiny("""
        [input]
        shape = [1, {range = [8, 12, 1]}, 8]
        [[layers]]
        type = "Conv2d"
        out_channels = 1
        kernel_size = 3
        [draw]
        tries = 4
        """, '[[exam.questions]]\nkind = "max_batch"\nmemory = "500B"\n'), "small.toml")
    with pytest.raises(SymcnnError, match=r"^small.toml: question 1 \(max_batch\): not even one "
                       "sample fits in 500B$"):
        make_exam(fam, variants=1)


@pytest.mark.parametrize("question, expected", [
    ('kind = "params"\nlayer = "nope"', "question 1 (params): field 'layer': no layer named "
                                        "'nope' (its layers: conv2d_1, relu_2)"),
    ('kind = "params"\nlayer = 7', "question 1 (params): field 'layer': no layer 7"),
    ('kind = "params"\nlayer = 2', "layer 'relu_2' (ReLU) has no parameters"),
    ('kind = "activation_memory"\nlayer = 2', "field 'layer': layer 'relu_2' (ReLU) stores no "
                                              "activation of its own"),
])
def test_questions_about_the_wrong_layer(question, expected):
    fam = parse_family(tiny("""
        [input]
        shape = [1, 8, 8]
        [[layers]]
        type = "Conv2d"
        out_channels = 1
        kernel_size = 3
        [[layers]]
        type = "ReLU"
        inplace = true
        """, f"[[exam.questions]]\n{question}\n"), "q.toml")
    with pytest.raises(SymcnnError) as info:
        make_exam(fam)
    assert str(info.value).startswith("q.toml: ") and expected in str(info.value)


# ---- files ----------------------------------------------------------------------------------

def test_same_seed_same_bytes(tmp_path, capsys):
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        assert main(["exam", str(EXAMPLE), "--variants", "3", "--seed", "9", "--out", str(out),
                     "--moodle"]) == 0
    names = sorted(p.name for p in outs[0].iterdir())
    assert names == sorted(p.name for p in outs[1].iterdir())
    assert {"keys.tex", "answers.csv", "moodle.xml", "exam-003.tex", "key-003.tex",
            "variant-003.toml"} <= set(names)
    for name in names:
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    assert main(["exam", "--variants", "3", "--seed", "10", "--out", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c" / "answers.csv").read_bytes() != (outs[0] / "answers.csv").read_bytes()
    assert "wrote 3 exams" in capsys.readouterr().out


def test_answers_csv(tmp_path, lecture_exam):
    from symcnn.exam.output import answers_csv

    text = answers_csv(lecture_exam)
    lines = text.split("\n")
    assert lines[0] == "variant,question,kind,layer,points,answer,unit,decimals,tolerance,choice"
    assert "\r" not in text and lines[-1] == "" and len(lines) == 2 + 6 * 11
    v = lecture_exam.variants[0]
    h = lecture_by_hand(v.draws, v.values["C"])
    mb = rounded(h["acts"][2], 10**6, 2)
    assert f"1,5,activation_memory,L2,2,{mb:.2f},MB,2,0.005," in text
    assert f"1,3,total_params,,2,{h['total']},,,0,\n" in text


def test_exam_documents_show_the_question_and_key_the_steps(lecture_exam):
    from symcnn.exam.output import exam_tex

    v = lecture_exam.variants[0]
    exam, key = exam_tex(lecture_exam, v), exam_tex(lecture_exam, v, key=True)
    assert r"\documentclass[11pt]{exam}" in exam and r"\documentclass[11pt,answers]{exam}" in key
    assert "does layer L3 (Conv3d) have?" in exam
    assert r"\begin{solution}" not in exam and r"\begin{solution}" in key
    h = lecture_by_hand(v.draws, v.values["C"])
    total = f"{h['total']:,}".replace(",", "{,}")
    assert f"= {total}" in key
    assert r"\left(k^{3} C_{\mathrm{in}} + 1\right) C_{\mathrm{out}}" in key


NASTY = tiny("""
    name = "nasty"
    [input]
    shape = [1, 8, 8]
    [[layers]]
    type = "Conv2d"
    name = "conv_1 & x"
    out_channels = {choices = [2, 3]}
    kernel_size = 3
    [exam]
    title = "Quiz #1: 50% & {more}"
    instructions = "Costs $5 ~ ^ \\\\ <b>"
    """, '[[exam.questions]]\nkind = "params"\nlayer = "conv_1 & x"\nchoices = 2\n')


def test_user_text_is_escaped():
    from symcnn.exam.output import exam_tex, keys_tex

    exam = make_exam(parse_family(NASTY, "nasty.toml"), variants=1)
    tex = exam_tex(exam, exam.variants[0], key=True)
    assert r"Quiz \#1: 50\% \& \{more\}" in tex and r"Quiz \#1" in keys_tex(exam)
    assert (r"Costs \$5 \textasciitilde{} \textasciicircum{} \textbackslash{} "
            r"\textless{}b\textgreater{}") in tex
    assert r"layer conv\_1 \& x (Conv2d)" in tex
    root = ET.fromstring(moodle_xml(exam).encode("utf-8"))
    text = root.findall("question")[1].findtext("questiontext/text")
    assert "<td>conv_1 &amp; x</td>" in text and "layer conv_1 &amp; x (Conv2d)" in text


def test_nothing_is_written_when_a_variant_fails(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(EXAMPLE.read_text().replace('layer = "L9"', 'layer = "L99"'))
    out = tmp_path / "out"
    assert main(["exam", str(path), "--out", str(out)]) == 2
    assert not out.exists()


def run(*args):
    return subprocess.run([sys.executable, "-m", "symcnn", *args], capture_output=True, text=True)


def test_cli_bad_input_is_one_line_exit_2(tmp_path):
    path = tmp_path / "fam.toml"
    path.write_text(EXAMPLE.read_text().replace('kind = "max_batch"', 'kind = "max-batch"'))
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for args, expected in [((str(path),), f"{path}: question 7: field 'kind': unknown kind "
                                          "'max-batch'"),
                           (("--out", str(blocker / "x")),
                            f"{blocker / 'x'}: cannot write there"),
                           (("--variants", "0"), "--variants: must be a whole number >= 1"),
                           (("--jobs", "0"), "--jobs: must be at least 1")]:
        result = run("exam", "--out", str(tmp_path / "out"), *args)
        assert result.returncode == 2, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("symcnn: error: ") and expected in lines[0], lines[0]
        assert "Traceback" not in result.stderr and result.stdout == ""


# ---- Moodle ---------------------------------------------------------------------------------

def test_moodle_xml_structure(small_exam, lecture_exam):
    for exam in (small_exam, lecture_exam):
        root = ET.fromstring(moodle_xml(exam).encode("utf-8"))
        assert root.tag == "quiz"
        questions = root.findall("question")
        categories = [q for q in questions if q.get("type") == "category"]
        assert len(categories) == len(exam.variants)
        assert len(questions) == len(exam.variants) * (1 + len(exam.variants[0].questions))
        names = [q.findtext("name/text") for q in questions if q.get("type") != "category"]
        assert len(names) == len(set(names))
    root = ET.fromstring(moodle_xml(lecture_exam).encode("utf-8"))
    items = iter(root.findall("question"))
    for v in lecture_exam.variants:
        assert next(items).findtext("category/text").endswith(f"variant {v.index:03d}")
        for q in v.questions:
            el = next(items)
            text = el.findtext("questiontext/text")
            assert "<table>" in text and (q.row is None or q.row.name in text)
            if q.choices:
                assert el.get("type") == "multichoice"
                answers = el.findall("answer")
                assert len(answers) == len(q.choices)
                right = [a for a in answers if a.get("fraction") == "100"]
                assert len(right) == 1 and el.findtext("shuffleanswers") == "true"  # per student
                assert answers.index(right[0]) == "ABCD".index(q.correct_letter)
            elif q.answer.form in ("count", "size"):
                assert el.get("type") == "numerical"
                assert Decimal(el.findtext("answer/text")) == q.answer.value
                tolerance = Decimal(el.findtext("answer/tolerance"))
                assert tolerance == (Decimal("0.005") if q.answer.form == "size" else 0)
                assert el.findtext("defaultgrade") == str(q.spec.points)
            elif q.answer.form == "shape":
                assert el.get("type") == "cloze"
                fields = [f"{{1:NUMERICAL:={n}:0}}" for n in q.answer.value]
                assert " x ".join(fields) in text
            else:
                assert el.get("type") == "cloze"
                c = sympy.Symbol("C", integer=True, positive=True)
                coeffs = sympy.Poly(q.answer.value, c).all_coeffs()
                assert "N(C) = " in text
                for n in coeffs:
                    assert f"{{1:NUMERICAL:={n}:0}}" in text


# ---- PDF ------------------------------------------------------------------------------------

@pytest.mark.skipif(not HAVE_TEX, reason="latexmk/pdftotext not installed")
def test_exams_and_keys_compile(tmp_path, capsys):
    out = tmp_path / "pdf"
    assert main(["exam", "--variants", "2", "--seed", "3", "--out", str(out), "--pdf",
                 "--jobs", "3"]) == 0
    captured = capsys.readouterr()
    assert "compiled 5/5" in captured.err
    pdfs = sorted(p.name for p in out.glob("*.pdf"))
    assert pdfs == ["exam-001.pdf", "exam-002.pdf", "key-001.pdf", "key-002.pdf", "keys.pdf"]
    exam = make_exam(load_family(EXAMPLE), variants=1, seed=3)
    v = exam.variants[0]
    h = lecture_by_hand(v.draws, v.values["C"])

    def text(name: str) -> str:
        return subprocess.run(["pdftotext", "-layout", str(out / name), "-"], capture_output=True,
                              text=True, check=True).stdout

    assert "does layer L3 (Conv3d) have?" in text("exam-001.pdf")
    assert f"{h['total']:,}" not in text("exam-001.pdf")
    key = text("key-001.pdf")
    assert "Answer:" in key and f"{h['total']:,}" in key
    assert "Answer keys of variants 1 to 2" in text("keys.pdf")
    nasty = tmp_path / "nasty.toml"
    nasty.write_text(NASTY)
    assert main(["exam", str(nasty), "--variants", "1", "--out", str(tmp_path / "n"), "--pdf"]) == 0
    assert "Quiz #1: 50% & {more}" in subprocess.run(
        ["pdftotext", str(tmp_path / "n" / "key-001.pdf"), "-"], capture_output=True,
        text=True, check=True).stdout
    # reproducible: compiled again, the same bytes
    again = tmp_path / "again"
    assert main(["exam", "--variants", "1", "--seed", "3", "--out", str(again), "--pdf"]) == 0
    assert (again / "exam-001.pdf").read_bytes() == (out / "exam-001.pdf").read_bytes()


def test_default_family_varies_every_question():
    """Over the 30 variants the README's command draws, no question keeps a few answers
    (with C from three choices, the parameters of L3 had 3 answers in 30 variants)."""
    from symcnn.exam.text import answer_plain
    exam = make_exam(load_family(EXAMPLE), variants=30, seed=2025)
    for i, q in enumerate(exam.variants[0].questions):
        answers = [answer_plain(v.questions[i].answer.value, v.questions[i].answer)
                   for v in exam.variants]
        assert len(set(answers)) >= 15, (q.number, q.kind, sorted(set(answers)))


def test_exam_describes_the_network_in_its_notation():
    from symcnn.exam.output import exam_tex
    exam = make_exam(load_family(EXAMPLE), variants=1, seed=3)
    tex = exam_tex(exam, exam.variants[0])
    assert r"L3 & Conv3d & $C_{\mathrm{out}} = 2 C$, $k = 3$ \\" in tex
    assert r"L9 & Linear & $n_{\mathrm{out}} = 1$" in tex
    assert "out\\_channels" not in tex and "flatten\\_9" not in tex
    assert r"9 &  & Flatten" in tex  # a made-up name is left out, its position stays


def test_prompts_set_symbols_as_mathematics_and_sizes_as_read():
    """``batch size $b = 8$`` and ``$C$`` in math mode (not the text letters b and C), the
    budget as ``12 GB``; Moodle the same in HTML; the CSV's plain text keeps ``b = 8``."""
    from symcnn.exam.output import exam_tex
    from symcnn.exam.text import prompt
    exam = make_exam(load_family(EXAMPLE), variants=1, seed=0)
    v = exam.variants[0]
    tex, key = exam_tex(exam, v), exam_tex(exam, v, key=True)
    assert "training take at batch size $b = 8$, by the convention" in tex
    assert "Keep $C$ as a symbol" in tex and "largest whole $C$ for which" in tex
    assert "fits in 12 GB of GPU memory" in tex and "12GB" not in tex
    assert "(12 GB)" in key and "12GB" not in key
    q6 = next(q for q in v.questions if q.kind == "training_memory")
    assert prompt(q6).startswith("How much memory does training take at batch size b = 8,")
    xml = moodle_xml(exam)
    assert "batch size &lt;i&gt;b&lt;/i&gt; = 8" in xml and "Keep &lt;i&gt;C&lt;/i&gt;" in xml


@pytest.mark.skipif(not HAVE_TEX, reason="latexmk/pdftotext not installed")
def test_a_multiple_choice_question_stays_on_one_page(tmp_path):
    """The default exam, seed 0, variant 1: question 1's options ran over the page (A-C on
    page 1, D on page 2). On every page of the PDF, a question with options has all of them."""
    from symcnn.exam.output import exam_tex
    exam = make_exam(load_family(EXAMPLE), variants=1, seed=0)
    tex = tmp_path / "exam.tex"
    tex.write_text(exam_tex(exam, exam.variants[0]))
    subprocess.run(["latexmk", "-pdf", "-interaction=nonstopmode", "-no-shell-escape",
                    tex.name], cwd=tmp_path, capture_output=True, check=True, timeout=300)
    pages = subprocess.run(["pdftotext", "-layout", str(tmp_path / "exam.pdf"), "-"],
                           capture_output=True, text=True, check=True).stdout.split("\f")
    letters = "ABCDEFGH"
    for q in exam.variants[0].questions:
        if not q.choices:
            continue
        page = next(p for p in pages if re.search(rf"(?m)^\s*{q.number}\. \(", p))
        after = page[re.search(rf"(?m)^\s*{q.number}\. \(", page).end():]
        options = re.findall(r"(?m)^\s*([A-H])\. ", after)[:len(q.choices)]
        assert options == list(letters[:len(q.choices)]), (q.number, options)


def test_the_other_options_name_their_letter_apart_from_the_symbols():
    """"C C_in forgotten" read as a product: option C's mistake follows its letter in
    parentheses, "(C) $C_{\\mathrm{in}}$ forgotten"."""
    from symcnn.exam.output import exam_tex
    exam = make_exam(load_family(EXAMPLE), variants=3, seed=0)
    for v in exam.variants:
        key = exam_tex(exam, v, key=True)
        lines = [line for line in key.splitlines() if "The other options:" in line]
        assert lines
        for line, q in zip(lines, [q for q in v.questions if q.choices]):
            wrong = [c.letter for c in q.choices if not c.correct]
            listed = re.findall(r"(?:\} |; )\(([A-H])\) ", line)
            assert listed == wrong, line


def test_a_graph_exam_names_an_unnamed_input_as_the_table_does():
    """ResNet-18's Flatten (node 68, unnamed in the spec) feeds fc: the inputs column says
    "Flatten 68" as the documents do, not the made-up code name flatten_68 (the macros of
    exam_parts.tex.j2 are imported with the context that holds the shown names)."""
    from symcnn.exam.build import make_exam
    from symcnn.exam.family import parse_family
    from symcnn.exam.output import exam_files
    from symcnn.files import shipped_dir
    spec = (shipped_dir("examples", "lecture.toml") / "resnet18.toml").read_text()
    family = parse_family(spec + '[[exam.questions]]\nkind = "total_params"\n', "resnet18")
    files = exam_files(make_exam(family, variants=1))
    for name in ("exam-001.tex", "key-001.tex", "keys.tex"):
        assert "flatten\\_68" not in files[name], name
    assert r"69 & fc & Flatten 68 & Linear" in files["exam-001.tex"]

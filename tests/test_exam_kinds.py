"""The exam kinds on compute cost and receptive fields and the largest value of a symbol
(``macs``, ``receptive_field``, ``largest_symbol``): the lecture's network answered by hand from
the seed's numbers (/work/shared/seed/README.md), the typical mistakes by hand, distractors over
many variants of the default family, the Moodle bank, and one-line errors."""

import textwrap
import xml.etree.ElementTree as ET
from decimal import Decimal
from math import prod

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symcnn import SymcnnError
from symcnn.exam.build import make_exam, make_variant
from symcnn.exam.family import load_family, parse_family
from symcnn.exam.output import exam_files
from symcnn.spec.builtin import examples_dir

# ---- the lecture's network, by hand from the seed's table ----------------------------------

#: Output sizes (D, H, W) of L1..L8 and the channels as multiples of C, from the seed.
SIZES = [(191, 227, 191), (95, 113, 95), (93, 111, 93), (46, 55, 46), (44, 53, 44),
         (21, 26, 21), (19, 24, 19), (9, 11, 9)]
MULT = [1, 1, 2, 2, 4, 4, 8, 8]
INPUT = (193, 229, 193)


def lecture_memory(c: int, batch: int = 1) -> int:
    """The lecture's training memory at width C: Params + Grads + b (I_1 + 2 sum I_i)."""
    channels = [m * c for m in MULT]
    params, c_in = 0, 1
    for c_out in channels:
        params += (27 * c_in + 1) * c_out
        c_in = c_out
    params += c_in * prod(SIZES[-1]) + 1
    acts = [ch * prod(sz) * 4 for ch, sz in zip(channels, SIZES)] + [4]
    return 2 * params * 4 + batch * (prod(INPUT) * 4 + 2 * sum(acts))


def lecture_macs(c: int = 30) -> list[int]:
    channels, c_in, out = [m * c for m in MULT], 1, []
    for c_out, sz in zip(channels, SIZES):
        out.append(c_out * prod(sz) * c_in * 27)
        c_in = c_out
    return out + [c_in * prod(SIZES[-1])]  # L9: n_in x n_out, n_out = 1


LECTURE = (examples_dir() / "lecture_symbolic.toml").read_text() + """
[variables]
C = {choices = [30]}
D = 193
H = 229
W = 193
[exam]
[[exam.questions]]
kind = "macs"
choices = 5
[[exam.questions]]
kind = "macs"
layer = "L2"
choices = 6
[[exam.questions]]
kind = "receptive_field"
layer = "L4"
choices = 4
[[exam.questions]]
kind = "receptive_field"
layer = "L8"
axis = 3
choices = 4
[[exam.questions]]
kind = "largest_symbol"
symbol = "C"
memory = "12GB"
choices = 6
[[exam.questions]]
kind = "largest_symbol"
symbol = "C"
memory = "40GB"
batch_size = 4
[[exam.questions]]
kind = "receptive_field"
layer = 8
axis = 2
[[exam.questions]]
kind = "macs"
"""


@pytest.fixture(scope="module")
def lecture():
    return make_exam(parse_family(LECTURE, "lecture"), variants=1, seed=1).variants[0]


def largest_by_hand(budget: int, batch: int) -> int:
    c = 1
    while lecture_memory(c + 1, batch) <= budget:
        c += 1
    return c


def test_lecture_answers_by_hand(lecture):
    a = [q.answer.value for q in lecture.questions]
    assert sum(lecture_macs()) == 121_987_539_810
    assert a[0] == a[7] == 121_987_539_810
    assert a[1] == 95 * 113 * 95 * 30 * 30 * 27 == lecture_macs()[1]
    assert a[2] == 13 and a[3] == 61 and a[6] == 61      # r: 3, 5, 9, 13, 21, 29, 45, 61
    assert lecture_memory(30) == 2_937_313_940            # the seed's 2,937.31 MB at b = 1
    assert a[4] == largest_by_hand(12 * 10**9, 1) == 120
    assert lecture_memory(120) <= 12 * 10**9 < lecture_memory(121)
    assert a[5] == largest_by_hand(40 * 10**9, 4)
    work = lecture.questions[4].work
    assert work.solution.memory_at_largest == lecture_memory(120)
    assert work.solution.memory_at_next == lecture_memory(121)


def test_lecture_mistakes_by_hand(lecture):
    mistakes = [{c.mistake: c.value for c in q.choices if not c.correct}
                for q in lecture.questions]
    total = sum(lecture_macs())
    biases = sum(m * 30 * prod(sz) for m, sz in zip(MULT, SIZES)) + 1
    assert mistakes[0]["bias counted in every layer"] == total + biases == 122_347_137_391
    l2 = lecture_macs()[1]
    m = mistakes[1]
    assert m["bias counted"] == l2 + 30 * 95 * 113 * 95
    assert m["C_in forgotten"] == l2 // 30
    assert m["kernel volume k^2 instead of k^3"] == l2 // 3
    assert m["FLOPs (2 x MACs) given"] == 2 * l2
    assert m["the input's size instead of the output's"] == 30 * 191 * 227 * 191 * 30 * 27
    # L4 without the jump: 1 + 4 x 2; the jump after the stride: 3, 7, 11, 19
    assert mistakes[2] == {"the jump not multiplied (strides left out)": 9,
                           "the element itself (the 1) forgotten": 12,
                           "the jump taken after the layer's own stride": 19}
    assert mistakes[3]["the jump not multiplied (strides left out)"] == 1 + 8 * 2
    assert "the dilation forgotten" not in mistakes[3]  # no dilation: the same value, dropped
    m = mistakes[4]
    assert m["the first value that does not fit"] == 121
    other = 12 * 2**30
    assert m["decimal and binary units confused (GB, GiB)"] == largest_by_hand(other, 1)


def test_dilation_forgotten_by_hand():
    fam = parse_family(textwrap.dedent("""
        [input]
        shape = [1, 40, 40]
        [[layers]]
        type = "Conv2d"
        out_channels = {choices = [2, 3]}
        kernel_size = 3
        stride = 2
        [[layers]]
        type = "Conv2d"
        out_channels = 4
        kernel_size = 3
        dilation = 3
        [[exam.questions]]
        kind = "receptive_field"
        layer = 2
        choices = 5
        """), "d.toml")
    q = make_exam(fam, 1, seed=3).variants[0].questions[0]
    mistakes = {c.mistake: c.value for c in q.choices}
    # r = 3 after the first (j = 2), then 3 + 3 x 2 x 2 = 15
    assert q.answer.value == 15
    assert mistakes["the dilation forgotten"] == 3 + 2 * 2
    assert mistakes["the jump not multiplied (strides left out)"] == 3 + 3 * 2
    assert mistakes["the element itself (the 1) forgotten"] == 14


# ---- the default family ----------------------------------------------------------------------

DEFAULT = load_family(examples_dir() / "lecture_family.toml")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**9), index=st.integers(1, 1000))
def test_default_family_distractors_are_distinct(seed, index):
    v = make_variant(DEFAULT, seed, index)
    kinds = {q.kind for q in v.questions}
    assert {"macs", "receptive_field", "largest_symbol"} <= kinds
    for q in v.questions:
        if not q.choices:
            continue
        values = [c.value for c in q.choices]
        assert len(values) == len(set(values)) == q.spec.choices, (q.kind, values)
        assert [c.value for c in q.choices if c.correct] == [q.answer.value]
        assert all(c.mistake for c in q.choices if not c.correct)


# ---- other tools' counts (symcnn exam --macs-convention) ------------------------------------

def test_lecture_under_torchinfo_by_hand():
    """torchinfo counts each convolution's parameters (bias included) at every output position:
    the issue's 122,347,137,391 for the whole network; forgetting the bias gives fvcore's."""
    v = make_exam(parse_family(LECTURE, "lecture"), 1, seed=1, macs_convention="torchinfo")
    total, l2 = v.variants[0].questions[0], v.variants[0].questions[1]
    assert total.answer.value == 122_347_137_391
    assert l2.answer.value == (27 * 30 + 1) * 30 * prod(SIZES[1])
    wrong = {c.mistake: c.value for c in l2.choices if not c.correct}
    assert wrong["bias forgotten"] == lecture_macs()[1]
    assert wrong["C_in forgotten"] == lecture_macs()[1] // 30 + 30 * prod(SIZES[1])
    assert "bias counted" not in wrong
    files = exam_files(v, moodle=True)
    assert "as torchinfo counts them, biases included" in files["exam-001.tex"]
    assert "counted as torchinfo counts" in files["moodle.xml"]


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), index=st.integers(1, 100))
def test_torchinfo_exam_answers_are_torchinfos_count(seed, index):
    """A variant of the default family, built in PyTorch (on the meta device) and summed by
    torchinfo itself: its Mult-Adds are the exam's answer, in total and for the asked layer."""
    torch = pytest.importorskip("torch")
    torchinfo = pytest.importorskip("torchinfo")
    from symcnn.memory.calibrate.modules import torch_network
    fam = parse_family((examples_dir() / "lecture_family.toml").read_text()
                       + '[[exam.questions]]\nkind = "macs"\n', "family.toml")
    v = make_variant(fam, seed, index, "torchinfo")
    net = v.report.network
    with torch.device("meta"):
        model = torch_network(net, torch)
    summary = torchinfo.summary(model, input_size=(1, *net.input_shape), device="meta", verbose=0)
    layer, total = [q for q in v.questions if q.kind == "macs"]
    assert total.answer.value == summary.total_mult_adds
    by_name = {info.var_name: info.macs for info in summary.summary_list}
    assert layer.answer.value == by_name[layer.row.name]


# ---- documents and Moodle --------------------------------------------------------------------

def test_moodle_and_documents_with_the_new_kinds(lecture):
    exam = make_exam(parse_family(LECTURE, "lecture"), variants=1, seed=1)
    files = exam_files(exam, moodle=True)
    root = ET.fromstring(files["moodle.xml"].encode())
    questions = [q for q in root.iter("question") if q.get("type") != "category"]
    assert len(questions) == len(lecture.questions)
    for el, q in zip(questions, lecture.questions):
        if q.choices:
            assert el.get("type") == "multichoice" and el.findtext("shuffleanswers") == "true"
            right = [a for a in el.findall("answer") if a.get("fraction") == "100"]
            assert len(right) == 1
        else:
            assert el.get("type") == "numerical"
            assert Decimal(el.findtext("answer/text")) == q.answer.value
            assert Decimal(el.findtext("tolerance") or el.findtext("answer/tolerance")) == 0
    text = files["moodle.xml"]
    assert "multiply-accumulate (MAC)" in text and "receptive field" in text
    key = files["key-001.tex"]
    assert "121{,}987{,}539{,}810" in key
    assert r"r &= 9 + 2 \times 2 = 13" in key
    assert r"M( 120 ) &= 11{,}943{,}161{,}060 \le M_{\mathrm{avail}}" in key
    exam_tex = files["exam-001.tex"]
    assert "A multiply-accumulate (MAC)" in exam_tex and r"\begin{solution}" not in exam_tex


# ---- errors ----------------------------------------------------------------------------------

SMALL = """
[variables]
C = {choices = [4, 8]}
[input]
shape = [1, 12, 12]
[[layers]]
type = "Conv2d"
out_channels = "C"
kernel_size = 3
[[layers]]
type = "ReLU"
[[layers]]
type = "Flatten"
[[layers]]
type = "Linear"
out_features = 2
"""


@pytest.mark.parametrize("question, expected", [
    ('kind = "macs"\nlayer = 2', "question 1 (macs): field 'layer': layer 'relu_2' (ReLU) has "
     "no multiply-accumulates"),
    ('kind = "macs"\nlayer = 9', "question 1 (macs): field 'layer': no layer 9"),
    ('kind = "macs"\nunit = "MB"', "question 1 (macs): field 'unit': not a field of a macs "
     "question"),
    ('kind = "receptive_field"', "question 1 (receptive_field): field 'layer': missing"),
    ('kind = "receptive_field"\nlayer = 1\naxis = 0', "question 1 (receptive_field): field "
     "'axis': must be a whole number from 1 to 8, got 0"),
    ('kind = "receptive_field"\nlayer = 1\naxis = 3', "question 1 (receptive_field): field "
     "'axis': no spatial axis 3: the input has 2"),
    ('kind = "receptive_field"\nlayer = 4', "question 1 (receptive_field): field 'layer': "
     "layer 'linear_4' (Linear) has no receptive field to ask about"),
    ('kind = "largest_symbol"\nmemory = "1GB"', "question 1 (largest_symbol): field 'symbol': "
     "must name a drawn variable"),
    ('kind = "largest_symbol"\nsymbol = "C"', "question 1 (largest_symbol): field 'memory': "
     "missing"),
    ('kind = "largest_symbol"\nsymbol = "C"\nmemory = "lots"', "question 1 (largest_symbol): "
     "field 'memory': cannot read memory size 'lots'"),
    ('kind = "largest_symbol"\nsymbol = "C"\nmemory = "1GB"\nbatch_size = 0',
     "question 1 (largest_symbol): field 'batch_size': must be a whole number >= 1, got 0"),
    ('kind = "largest_symbol"\nsymbol = "C"\nmemory = "100B"', "question 1 (largest_symbol): "
     "nothing fits"),
])
def test_bad_questions_are_one_line(question, expected):
    with pytest.raises(SymcnnError) as info:
        fam = parse_family(SMALL + "[[exam.questions]]\n" + question + "\n", "q.toml")
        make_exam(fam, variants=1)
    message = str(info.value)
    assert message.startswith("q.toml: ") and expected in message, message
    assert "\n" not in message

"""Named sizes and the cut of a symbolic maximum (symcnn.analysis.named, .dominance, .symbolic):
every name's closed form, every cut maximum and every proved inequality is checked against
plain integer arithmetic at random valid sizes (hypothesis), and against hand calculation."""

import itertools

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import symcnn
from symcnn import make_report
from symcnn.analysis.dominance import Parameters, undominated
from symcnn.analysis.named import live_elements, name_sizes
from symcnn.intdiv import FloorDiv
from symcnn.memory.estimate import live_elements as live_closed
from symcnn.options import MemoryOptions
from symcnn.symbols import size

C, D, H, W, h, w = (size(n) for n in "CDHWhw")


@pytest.fixture(scope="module")
def lecture():
    return make_report(symcnn.example_spec("lecture_symbolic"))


@pytest.fixture(scope="module")
def lecture_pytorch():
    return make_report(symcnn.example_spec("lecture_symbolic"), MemoryOptions("pytorch"))


@pytest.fixture(scope="module")
def unet():
    return make_report(symcnn.example_spec("unet2d"))


# the lecture's network is valid for D, H, W >= 61 (its last size floor((D - 61)/16) + 1 >= 1)
lecture_sizes = st.fixed_dictionaries({C: st.integers(1, 64), D: st.integers(61, 700),
                                       H: st.integers(61, 700), W: st.integers(61, 700)})
# the U-Net's skip connections meet only when 16 divides H and W
unet_sizes = st.fixed_dictionaries({C: st.integers(1, 64), H: st.integers(1, 40).map(lambda k: 16 * k),
                                    W: st.integers(1, 40).map(lambda k: 16 * k)})


def at(expr, values):
    value = sympy.sympify(expr).xreplace({k: sympy.Integer(v) for k, v in values.items()})
    assert value.is_Integer, value
    return int(value)


def test_sizes_are_named_one_layer_at_a_time(lecture):
    named = lecture.derivation.sizes
    first = {str(n.symbol): (n.definition, n.value) for n in named.names}
    D1, D2, D7, D8 = (size(f"D_{i}") for i in (1, 2, 7, 8))
    # by hand: a 3x3x3 convolution takes 2 off each side, a stride-2 one floor((n - 3)/2) + 1
    assert first["D_1"] == (D - 2, D - 2)
    assert first["D_2"][0] == FloorDiv(D1 - 3, 2) + 1
    assert first["D_8"][0] == FloorDiv(D7 - 3, 2) + 1
    assert named.shapes["L8"] == (8 * C, D8, size("H_8"), size("W_8"))
    assert named.shapes["L2"] == (C, D2, size("H_2"), size("W_2"))
    assert all(step.alike for step in named.steps) and len(named.steps) == 8


@settings(max_examples=60, deadline=None)
@given(values=lecture_sizes)
def test_named_sizes_and_live_sets_are_the_closed_forms(lecture, values):
    named = lecture.derivation.sizes
    for n in named.names:  # each name, from its definition, is its closed form
        defined = n.definition.xreplace({m.symbol: sympy.Integer(at(m.value, values)) for m in named.names})
        assert at(defined, values) == at(n.value, values)
    ours = [at(named.closed(e), values) for _, e in live_elements(lecture.analysis, named)]
    assert ours == [at(e, values) for e in live_closed(lecture.analysis)]


@settings(max_examples=60, deadline=None)
@given(values=lecture_sizes, batch=st.integers(1, 64))
def test_a_cut_maximum_is_the_maximum(lecture, lecture_pytorch, values, batch):
    for report in (lecture, lecture_pytorch):
        for cut, full in ((report.inference_bytes, report.memory.inference(1)),
                          (report.training_bytes, report.memory.training(1))):
            assert at(cut, values) == at(full, values)


@settings(max_examples=40, deadline=None)
@given(values=unet_sizes)
def test_a_cut_maximum_is_the_maximum_in_a_unet(unet, values):
    assert not unet.inference_bytes.has(sympy.Max)
    assert at(unet.inference_bytes, values) == at(unet.memory.inference(1), values)


@settings(max_examples=40, deadline=None)
@given(values=lecture_sizes)
def test_what_is_proved_holds(lecture, values):
    """Every inequality the proof accepts between two live sets holds at valid sizes."""
    named = lecture.derivation.sizes
    proof = Parameters(named, lecture.network.free_symbols)
    live = [e for _, e in live_elements(lecture.analysis, named)]
    for x, y in itertools.permutations(live, 2):
        if proof.at_least(x, y):
            assert at(named.closed(x), values) >= at(named.closed(y), values)


def test_what_is_not_dominated_is_not(lecture):
    """The two sets left are each the larger for some valid sizes (so neither can be cut):
    with C = 1 the input D H W outweighs C D_2 H_2 W_2; with C = 64 it does not."""
    kept = lecture.derivation.inference
    assert [k.node for k in kept] == ["L1", "L2"] and lecture.derivation.inference_count == 9
    first, second = (k.closed for k in kept)
    small = {C: 1, D: 100, H: 100, W: 100}
    large = {C: 64, D: 100, H: 100, W: 100}
    assert at(first, small) > at(second, small) and at(first, large) < at(second, large)
    proof = Parameters(lecture.derivation.sizes, lecture.network.free_symbols)
    assert not proof.at_least(first, second) and not proof.at_least(second, first)


def test_unet_inference_by_hand():
    """--set H=16*h --set W=16*w: 17 distinct sets, the largest while up4.cat runs: its output
    (2C x 16h x 16w) and both inputs (C x 16h x 16w each): 1024 C h w elements, 4 B each;
    parameters 30,296 C^2 + 840 C + 8 and buffers 736 C + 144 bytes."""
    spec = symcnn.example_spec("unet2d")
    net = spec.network.subs({H: 16 * h, W: 16 * w})
    report = make_report(net)
    assert report.inference_bytes == 30296 * C**2 + 1576 * C + 152 + 4096 * C * h * w
    (full,) = report.memory.inference(1).atoms(sympy.Max)
    assert len(full.args) == 17
    assert [k.node for k in report.derivation.inference] == ["up4.cat"]


def test_only_the_undominated_are_kept():
    named = name_sizes(symcnn.analyze(symcnn.example_spec("lecture_symbolic").network))
    proof = Parameters(named, {C, D, H, W})
    D1, D2 = size("D_1"), size("D_2")
    # D_1 = 2 D_2 + 1 + r with r in {0, 1}: D_1 >= 2 D_2 always, D_2 >= D_1 never
    assert undominated([D2, D1, 2 * D2, D1], proof) == [1]
    assert undominated([C * D2, D2 + 1], proof) == [0, 1]  # C = 1: D_2 + 1 is the larger

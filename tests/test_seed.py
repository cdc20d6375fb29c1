"""The seed lecture reproduced exactly (../shared/seed/README.md): the first acceptance test.

Every expected number below is the lecture's (or, for I_5, the seed README's
hand-checked correction), not something symcnn printed.
"""

import pytest

from symcnn import analyze, example_spec, make_report
from symcnn.memory.estimate import estimate_memory
from symcnn.spec.builtin import lecture_network

LAYER_PARAMS = {"L1": 840, "L2": 24_330, "L3": 48_660, "L4": 97_260, "L5": 194_520,
                "L6": 388_920, "L7": 777_840, "L8": 1_555_440, "L9": 213_841}
SHAPES = {"L1": (30, 191, 227, 191), "L2": (30, 95, 113, 95), "L3": (60, 93, 111, 93),
          "L4": (60, 46, 55, 46), "L5": (120, 44, 53, 44), "L6": (120, 21, 26, 21),
          "L7": (240, 19, 24, 19), "L8": (240, 9, 11, 9), "L9": (1,)}
# I_i as the products the lecture writes, in bytes (float32).
ACTIVATIONS = [193 * 229 * 193 * 1 * 4, 191 * 227 * 191 * 30 * 4, 95 * 113 * 95 * 30 * 4,
               93 * 111 * 93 * 60 * 4, 46 * 55 * 46 * 60 * 4, 44 * 53 * 44 * 120 * 4,
               21 * 26 * 21 * 120 * 4, 19 * 24 * 19 * 240 * 4, 9 * 11 * 9 * 240 * 4, 1 * 4]
SUBSTITUTED = {"L1": "(27*1 + 1)*30", "L2": "(27*30 + 1)*30", "L4": "(27*60 + 1)*60",
               "L8": "(27*240 + 1)*240", "L9": "(213840 + 1)*1"}


@pytest.fixture(scope="module")
def analysis():
    return analyze(lecture_network())


def test_layer_counts_and_shapes(analysis):
    rows = {r.name: r for r in analysis.rows}
    for name, count in LAYER_PARAMS.items():
        assert rows[name].params == count
        assert rows[name].params_derivation.value == count
        assert tuple(rows[name].output_shape) == SHAPES[name]
    assert rows["flatten_9"].output_shape == (213_840,)
    assert analysis.total_params == 3_301_651


def test_derivation_is_written_as_in_the_lecture(analysis):
    import sympy
    rows = {r.name: r for r in analysis.rows}
    for name, written in SUBSTITUTED.items():
        assert sympy.sstr(rows[name].params_derivation.substituted, order="none") == written


def test_memory_terms(analysis):
    m = estimate_memory(analysis)
    assert m.params.bytes == m.grads.bytes == 3_301_651 * 4
    assert [t.bytes for t in m.activations] == ACTIVATIONS
    assert [t.label for t in m.activations] == [f"I_{i}" for i in range(1, 11)]
    assert m.activations[4].bytes == 27_931_200  # I_5, which the lecture misprints
    per_sample = ACTIVATIONS[0] + 2 * sum(ACTIVATIONS[1:])
    assert m.per_sample == per_sample
    assert m.training(1) == 2_937_313_940 == 2 * 3_301_651 * 4 + per_sample


@pytest.mark.parametrize("gb, expected", [(8, 2), (12, 4), (16, 5), (24, 8), (40, 13), (80, 27)])
def test_largest_batch(gb, expected):
    r = make_report(example_spec(), memory=f"{gb}GB")
    assert r.limits[0][1].value == expected
    # the next batch size really does not fit
    fixed, per = 26_413_208, 2_910_900_732
    assert fixed + expected * per <= gb * 10**9 < fixed + (expected + 1) * per


def test_report_points_out_the_lecture_slip():
    r = make_report(example_spec())
    assert [c.key for c in r.mismatches] == ["memory.I_5"]
    assert r.mismatches[0].printed == "51.50 MB"
    assert len(r.checks) == 22


def test_symbolic_lecture_substituted_back_equals_numeric():
    from symcnn.symbols import size
    values = {size("C"): 30, size("D"): 193, size("H"): 229, size("W"): 193}
    spec = example_spec("lecture_symbolic")
    a = analyze(spec.network)
    m = estimate_memory(a)
    assert a.total_params.subs(values) == 3_301_651
    assert m.training(1).subs(values) == 2_937_313_940
    assert analyze(spec.network.subs(values)).total_params == 3_301_651

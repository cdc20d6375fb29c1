"""Bounds on hostile input (issue 12, classes 1 to 3): results are bounded, not operators,
every field is checked against its declared type, and nesting stops before the recursion
limit; each mistake is one line naming the file, layer and field."""

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from symcnn import SymcnnError
from symcnn.analysis.sweep import evaluate_many
from symcnn.expressions import parse_expression
from symcnn.intdiv import FloorDiv
from symcnn.limits import MAX_DIGITS, MAX_LAYERS, MAX_REPEAT
from symcnn.spec.parse import parse_assignments, parse_size_range, parse_spec
from symcnn.symbols import size
from symcnn.units import format_bytes, parse_size

H = size("H")


@pytest.mark.parametrize("text, message", [
    ("((9**64)**64)**64", f"more than {MAX_DIGITS} digits"),
    ("2**64*2**64*2**64", f"more than {MAX_DIGITS} digits"),
    ("1" + "0" * 60, f"more than {MAX_DIGITS} digits"),
    ("0." + "0" * 60 + "1", f"more than {MAX_DIGITS} digits"),
    ("((C+1)**64)**64", "degree more than 64"),
    ("(" * 200 + "1" + ")" * 200, "nested more than 50 deep"),
    ("-" * 400 + "1", "nested more than 50 deep"),
    ("2**" * 100 + "1", "nested more than 50 deep"),
])
def test_results_are_bounded(text, message):
    with pytest.raises(SymcnnError, match=None) as info:
        parse_expression(text)
    assert message in str(info.value) and len(str(info.value)) < 200


def test_values_within_the_bounds_still_read():
    assert parse_expression("2**64") == 2**64
    assert parse_expression("(2**8)**4") == 2**32
    assert parse_expression("9" * MAX_DIGITS) == 10**MAX_DIGITS - 1


def spec(layer: str, head: str = "") -> str:
    return f'name = "t"\n{head}[input]\nshape = [1, "H", 8]\n[[layers]]\n{layer}\n'


@pytest.mark.parametrize("text, message", [
    (spec('type = "Conv2d"\nout_channels = nan\nkernel_size = 3'),
     "layer 1: field 'out_channels': nan and inf"),
    (spec('type = "Conv2d"\nout_channels = 4\nkernel_size = [3, inf]'),
     "layer 1: field 'kernel_size[2]': nan and inf"),
    ('name="t"\n[input]\nshape=[1, -inf]\n[[layers]]\ntype="ReLU"\n', "input: field 'shape[2]'"),
    (spec('type = ["Conv2d"]'), "layer 1: field 'type': expected a layer type"),
    (spec('type = {a = 1}'), "got a table"),
    ('name="t"\n[input]\nshape=[1]\ndtype=["float32"]\n[[layers]]\ntype="ReLU"\n',
     "input: field 'dtype': expected a dtype name, got a list"),
    (spec('block = ["x"]', '[blocks.x]\nlayers = [{type = "ReLU"}]\n'),
     "layer 1: field 'block': expected a block's name"),
    (spec('type = "LeakyReLU"\nnegative_slope = [1, 2]'),
     "(LeakyReLU): field 'negative_slope': expected a number, got a list"),
    (spec('type = "LeakyReLU"\nnegative_slope = {a = 1}'), "expected a number, got a table"),
    (spec('type = "BatchNorm2d"\neps = "small"'), "field 'eps': expected a number, got 'small'"),
    (spec('type = "ReLU"\ninplace = 1'), "field 'inplace': expected true or false"),
    (spec('type = "Conv2d"\nout_channels = 4\nkernel_size = [[3]]'),
     "field 'kernel_size': expected numbers or expression strings"),
    (spec('type = "Conv2d"\nout_channels = ' + "9" * 5000 + '\nkernel_size = 3'),
     f"a number of more than {MAX_DIGITS} digits"),
    (spec('type = "Conv2d"\nout_channels = 1' + "0" * 45 + '\nkernel_size = 3'),
     "layer 1: field 'out_channels': a number of more than"),
    (spec('type = "ReLU"\nx = ' + "[" * 2000 + "]" * 2000), "nested too deeply"),
    (spec('type = "ReLU"\nx = ' + "[" * 20 + "]" * 20), "nested more than 12 deep"),
    (spec('block = "x"\nrepeat = 100000000', '[blocks.x]\nlayers = [{type = "ReLU"}]\n'),
     f"field 'repeat': at most {MAX_REPEAT}, got 100000000"),
    (spec('block = "x"\nrepeat = 1000', '[blocks.x]\nlayers = ' + '[' + '{type = "ReLU"}, ' * 10 + ']\n'),
     f"more than {MAX_LAYERS} layers"),
    ('name = "t"\ndescription = {a = 1}\n[input]\nshape=[1]\n[[layers]]\ntype="ReLU"\n',
     "field 'description': expected a string, got a table"),
    (spec('type = "Conv2d"\nout_channels = "(C**64)**2"\nkernel_size = 3'), "degree more than 64"),
])
def test_spec_mistakes_are_one_line(text, message):
    with pytest.raises(SymcnnError) as info:
        parse_spec(text, "bad.toml")
    line = str(info.value)
    assert line.startswith("bad.toml: ") and message in line and "\n" not in line
    assert len(line) < 300


def test_substituted_sizes_are_bounded():
    text = spec('type = "Conv2d"\nout_channels = "C**2"\nkernel_size = 3')
    with pytest.raises(SymcnnError, match="more than 40 digits"):
        parse_spec(text, overrides={size("C"): sympy.Integer(10**30)})


@pytest.mark.parametrize("items, message", [
    (["C=1", "C=2"], "C is given twice"),
    (["C=((9**64)**64)**64"], "more than 40 digits"),
])
def test_assignments(items, message):
    with pytest.raises(SymcnnError, match=None) as info:
        parse_assignments(items)
    assert message in str(info.value)


@pytest.mark.parametrize("item", ["H=1:" + "9" * 5000, "H=1:10000000", "H=1:" + "9" * 41])
def test_size_ranges_are_bounded(item):
    with pytest.raises(SymcnnError) as info:
        parse_size_range(item)
    assert len(str(info.value)) < 200


@pytest.mark.parametrize("text", ["9" * 5000, "1" + "0" * 40, "99999999999999999999999999999TB",
                                  10**50])
def test_memory_budgets_are_bounded(text):
    with pytest.raises(SymcnnError, match="more than 40 digits"):
        parse_size(text)


def test_huge_byte_counts_format_exactly():
    assert format_bytes(10**400 + 5 * 10**3, "MB") == f"{10**394:,}.01 MB"
    assert format_bytes(3 * 10**310 + 4_994_999, "MB") == f"{3 * 10**304 + 4:,}.99 MB"
    assert format_bytes(13206604, "MB") == "13.21 MB"  # floats as before below 2^53
    assert format_bytes(3 * 10**300, "MB") == f"{3 * 10**294:,}.00 MB"


SIZES = st.recursive(
    st.sampled_from([H, H + 1, 2 * H - 3, sympy.Integer(7)]),
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda t: t[0] + t[1]),
        st.tuples(inner, inner).map(lambda t: t[0] * t[1]),
        st.tuples(inner, st.integers(1, 5)).map(lambda t: FloorDiv(t[0], t[1])),
        st.tuples(inner, inner).map(lambda t: sympy.Max(*t)),
        st.tuples(inner, inner).map(lambda t: sympy.Min(*t))),
    max_leaves=6)
EXPRS = st.one_of(SIZES, st.tuples(SIZES, SIZES).map(lambda t: sympy.Eq(*t, evaluate=False)),
                  SIZES.map(lambda s: s * sympy.Rational(1, 3)))


@settings(max_examples=60, deadline=None)
@given(EXPRS)
def test_many_values_at_once_agree_with_sympy(expr):
    """The ``--sizes`` sweep evaluates exactly what substitution gives, value by value."""
    values = range(1, 30)
    expected = [expr.subs(H, v) for v in values]
    expected = [bool(e) if e in (sympy.true, sympy.false) else e for e in expected]
    if isinstance(expr, sympy.Eq):
        expected = [bool(expr.lhs.subs(H, v) == expr.rhs.subs(H, v)) for v in values]
    assert evaluate_many(expr, H, values) == expected

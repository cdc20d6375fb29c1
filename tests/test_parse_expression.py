"""``symcnn.parse_expression`` reads back every symbolic value symcnn writes (issue 12,
class 8), names that ``sympy.sympify`` takes for constants included, without eval."""

import json

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import symcnn
from symcnn import SymcnnError, parse_expression
from symcnn.cli import main
from symcnn.intdiv import FloorDiv
from symcnn.symbols import size

#: sympy's constants and functions under their printed names, and ordinary ones.
NAMES = ["E", "I", "S", "N", "Q", "O", "oo", "pi", "beta", "gamma", "lambda", "zoo", "nan",
         "C", "H", "W", "floor", "Max", "b"]

LEAVES = st.one_of(st.sampled_from(NAMES).map(size), st.integers(-50, 50).map(sympy.Integer))
EXPRS = st.recursive(LEAVES, lambda inner: st.one_of(
    st.tuples(inner, inner).map(lambda t: t[0] + t[1]),
    st.tuples(inner, inner).map(lambda t: t[0] * t[1]),
    st.tuples(inner, st.integers(1, 4)).map(lambda t: t[0] ** t[1]),
    st.tuples(inner, st.integers(2, 9)).map(
        lambda t: FloorDiv(t[0], t[1]) if t[0].is_integer else t[0]),  # as symcnn builds them
    st.tuples(inner, st.integers(2, 9)).map(lambda t: t[0] / t[1]),
    st.tuples(inner, inner).map(lambda t: sympy.Max(*t)),
    st.tuples(inner, inner).map(lambda t: sympy.Min(*t)),
    st.tuples(inner, st.integers(2, 64)).map(lambda t: sympy.ceiling(t[0] / t[1]) * t[1])),
    max_leaves=8)


def same_value(read, written) -> bool:
    """Equal, or equal at several positive whole values of every symbol (``floor((2*E)/4)``
    reads back as ``floor(E/2)``: the same function, written shorter)."""
    if read == written:
        return True
    symbols = sorted(read.free_symbols | written.free_symbols, key=str)
    for point in range(1, 8):
        values = {s: 3 * point + 5 * i + 1 for i, s in enumerate(symbols)}
        if read.subs(values) != written.subs(values):
            return False
    return True


@settings(max_examples=150, deadline=None)
@given(EXPRS)
def test_what_symcnn_prints_reads_back(expr):
    read = parse_expression(str(expr))
    assert read.free_symbols == expr.free_symbols and same_value(read, expr)


H = size("H")


@pytest.mark.parametrize("relation", [
    sympy.Eq(H, 2 * FloorDiv(H, 2)),
    sympy.Eq(size("E"), FloorDiv(size("pi") - 3, 2) + 1),
    sympy.Piecewise((FloorDiv(H - 2, 2), sympy.Ge(2 * FloorDiv(H - 2, 2), H + 1)),
                    (FloorDiv(H - 2, 2) + 1, True)),
])
def test_conditions_read_back(relation):
    assert parse_expression(str(relation)) == relation


def test_sympify_would_not():
    """The README used to promise ``sympy.sympify``: it reads E as Euler's number."""
    assert sympy.sympify("E + 1") != size("E") + 1
    assert parse_expression("E + 1") == size("E") + 1


SPEC = """name = "constants"
[input]
shape = ["N", "E", "pi"]
[[layers]]
type = "Conv2d"
out_channels = "2*I"
kernel_size = "S"
stride = "floor(S/2)"
[[layers]]
type = "MaxPool2d"
kernel_size = 2
ceil_mode = true
[[layers]]
type = "Flatten"
[[layers]]
type = "Linear"
out_features = "lambda"
"""


@pytest.mark.parametrize("convention", ["lecture", "pytorch"])
def test_every_symbolic_value_of_the_json_reads_back(tmp_path, capsys, convention):
    path = tmp_path / "constants.toml"
    path.write_text(SPEC)
    assert main(["report", str(path), "--json", "--memory", "12GB", "--convention",
                 convention]) == 0
    out = json.loads(capsys.readouterr().out)
    report = symcnn.make_report(symcnn.load_spec(path), symcnn.MemoryOptions(convention),
                                memory="12GB")
    assert same_value(parse_expression(out["total_params"]), report.total_params)
    assert same_value(parse_expression(out["memory"]["training_bytes"]), report.training_bytes)
    strings = []

    def walk(value, key=""):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and key not in {
                "name", "source", "type", "convention", "dtype", "optimizer", "device",
                "precision", "budget", "peak_at", "activation_label", "inputs", "node", "key",
                "printed", "symbols", "block", "block_type", "params_substituted"}:
            strings.append(value)
    walk(out)
    assert strings
    for text in strings:  # formulas and values: each reads (general formulas use C_in, k, ...)
        assert isinstance(parse_expression(text), sympy.Basic), text


@pytest.mark.parametrize("text", ["__import__('os')", "E.__class__", "exp(1)", "Piecewise(1)",
                                  "Eq(1)", "floor(1, 2)", "(" * 60 + "1" + ")" * 60])
def test_refuses_what_symcnn_never_writes(text):
    with pytest.raises(SymcnnError):
        parse_expression(text)

"""Fuzzing (issue 12): hypothesis writes specs and exam families, valid and broken, and
runs them through the command line (``symcnn.cli.main``, in-process) and the API.  The only
acceptable outcomes are a result or one ``SymcnnError`` line; a traceback, a hang or any
other exception fails.  Over 1,000 specs and families per run, small enough to stay fast."""

import math

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symcnn import SymcnnError, make_report, parse_spec
from symcnn.exam.build import make_exam
from symcnn.exam.family import parse_family
from tests.test_hostile import run_main

NAMES = ["C", "H", "b", "E", "pi", "lambda", "k"]
EXPRESSIONS = st.one_of(
    st.integers(1, 9).map(str),
    st.sampled_from(NAMES),
    st.sampled_from(["2*C", "floor(H/2)", "ceil(C/3) + 1", "max(C, 4)", "min(H, 2)", "C**2",
                     "2**2**2**2**2", "((9**64)**64)**64", "(" * 60 + "1" + ")" * 60,
                     "-" * 70 + "1", "C/0", "__import__('os')", "1e9", "9" * 45, "", "C^2"]),
)
SCALARS = st.one_of(
    st.integers(-3, 12), st.integers(-10**50, 10**50), st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.5, 1.5, 1e-5]),
    EXPRESSIONS, st.text(max_size=8))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["a", "choices", "range"]), inner, max_size=2)),
                      max_leaves=4)
LAYERS = {
    "Conv2d": {"out_channels": 4, "kernel_size": 3},
    "MaxPool2d": {"kernel_size": 2},
    "BatchNorm2d": {},
    "LeakyReLU": {},
    "Dropout": {},
    "Upsample": {"scale_factor": 2},
    "Flatten": {},
    "Linear": {"out_features": 5},
}
FIELDS = ["out_channels", "kernel_size", "stride", "padding", "eps", "momentum", "p",
          "negative_slope", "inplace", "scale_factor", "out_features", "type", "name", "inputs",
          "groups", "bias", "mode"]


@st.composite
def specs(draw) -> dict:
    """A spec as a table: mostly valid layers, some fields replaced by hostile values."""
    layers = []
    for kind in draw(st.lists(st.sampled_from(sorted(LAYERS)), min_size=1, max_size=3)):
        table = {"type": kind, **LAYERS[kind]}
        if draw(st.integers(0, 2)) == 0:
            table[draw(st.sampled_from(FIELDS))] = draw(VALUES)
        layers.append(table)
    shape = [draw(st.one_of(st.integers(1, 4), EXPRESSIONS))] + \
        [draw(st.one_of(st.integers(4, 12), st.sampled_from(["H", "2*H"]))) for _ in range(2)]
    data = {"name": "fuzz", "input": {"shape": shape}, "layers": layers}
    if draw(st.integers(0, 4)) == 0:
        data["input"][draw(st.sampled_from(["dtype", "shape"]))] = draw(VALUES)
    if draw(st.integers(0, 5)) == 0:
        data["blocks"] = {"x": {"params": ["C"], "layers": [{"type": "ReLU"}]}}
        layers.append({"block": "x", "C": draw(VALUES), "repeat": draw(st.integers(-1, 2000))})
    return data


def toml_text(data: dict, mangle: int) -> str:
    text = tomli_w.dumps(data)
    if mangle == 1:
        return text[: len(text) // 2]  # cut short: a TOML syntax error most times
    if mangle == 2:
        return text.replace("=", "= [[[[", 1)
    return text


def _one_line(err: SymcnnError) -> None:
    line = str(err)
    assert "\n" not in line and len(line) < 400, line


@settings(max_examples=650, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(specs(), st.integers(0, 5), st.lists(st.sampled_from(
    ["--set", "C=2", "--batch-size", "2**2**2**2**2", "--memory", "12GB", "--sizes",
     "H=1:40", "--convention", "pytorch", "--json", "-b", "b", "H=3", "--set=H=4"]), max_size=3))
def test_specs_through_the_command_line(tmp_path, capsys, data, mangle, extra):
    path = tmp_path / "fuzz.toml"
    path.write_text(toml_text(data, mangle), encoding="utf-8")
    status = run_main(["report", str(path), *extra], seconds=60)
    captured = capsys.readouterr()
    if status == 0:
        assert captured.out and not captured.err
    else:
        lines = captured.err.strip().splitlines()
        assert status == 2 and len(lines) == 1 and "error: " in lines[0], captured.err[-3000:]


@st.composite
def families(draw) -> dict:
    data = draw(specs())
    data["name"] = "fam"
    data["variables"] = {"C": draw(st.one_of(
        st.just({"choices": [4, 8]}), st.builds(lambda v: {"choices": [4, v]}, VALUES),
        st.builds(lambda v: {"range": [1, v, 1]}, SCALARS), SCALARS))}
    data["layers"][0] = {"type": "Conv2d", "out_channels": "C", "kernel_size": 3}
    question = {"kind": draw(st.one_of(st.sampled_from(
        ["params", "total_params", "output_shape", "activation_memory", "training_memory",
         "max_batch", "symbolic_total"]), VALUES))}
    for key in draw(st.lists(st.sampled_from(["layer", "batch_size", "unit", "decimals",
                                               "memory", "symbol", "points", "choices"]),
                             max_size=2)):
        question[key] = draw(st.one_of(VALUES, st.just(1), st.just("C"), st.just("12GB")))
    data["exam"] = {"questions": [question]}
    if draw(st.booleans()):
        data["draw"] = {"tries": draw(st.one_of(st.integers(1, 3), SCALARS))}
    return data


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(families(), st.integers(0, 5))
def test_families_through_the_api(data, mangle):
    text = toml_text(data, mangle)
    try:
        family = parse_family(text, "fam.toml")
        exam = make_exam(family, variants=1, seed=0)
    except SymcnnError as err:
        _one_line(err)
        return
    assert len(exam.variants) == 1


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(specs())
def test_specs_through_the_api(data):
    try:
        report = make_report(parse_spec(tomli_w.dumps(data), "fuzz.toml"), memory="12GB")
    except SymcnnError as err:
        _one_line(err)
        return
    assert report.total_params is not None and not math.isnan(len(report.analysis.rows))

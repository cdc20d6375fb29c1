"""The one TOML writer (symcnn.spec.toml_writer): whatever it writes reads back with the
standard library's tomllib to the same data, and the specs symcnn writes with it (``symcnn
import``, the exam's drawn variants) parse to the network they were written from, built here
directly from layer objects."""

import tomllib

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from symcnn import SymcnnError, parse_spec
from symcnn.exam.family import parse_family
from symcnn.importers.spec_text import TracedLayer, write_toml
from symcnn.layers import Add, Conv1d, Conv2d, Flatten, Linear, ReLU
from symcnn.network import INPUT, Network, Node
from symcnn.spec.toml_writer import comment_lines, to_toml

#: Strings that trip hand-written writers: quotes, backslashes, newlines and other control
#: characters, DEL, non-ASCII, the empty string.
NASTY = ['quote " and backslash \\', "tab\tnew\nline\r", "bell\x07 del\x7f nul\x00", "ünï € 😀",
         "'single'", '"""', "", "[[layers]]\nname = 1", "nel\x85 ls\u2028"]
TEXT = st.text() | st.sampled_from(NASTY)
BIG = st.integers() | st.integers(min_value=2**64 - 5, max_value=2**200)  # beyond 64 bits too
SCALARS = (TEXT | BIG | st.booleans()
           | st.floats(allow_nan=False) | st.just(1e-05) | st.just(-0.0))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(TEXT, inner, max_size=3), max_leaves=12)
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(data=st.dictionaries(TEXT, VALUES, max_size=5), comments=st.lists(TEXT, max_size=3))
@example(data={"name": "n", "weird key": [1, 2.5, True, NASTY[0]], "input": {"shape": [1, 2]},
               "layers": [{"type": "ReLU", "x y": {"a": NASTY[:4]}}, {"type": "Identity"}]},
         comments=NASTY)
def test_every_value_reads_back(data, comments):
    text = to_toml(data, comments)
    assert tomllib.loads(text) == data
    lines = text.split("\n")  # TOML ends a line at \n only (not at \x85 or \u2028)
    assert all(line.startswith("# ") for line in lines[:len(comments)])


@pytest.mark.parametrize("comment", NASTY)
def test_a_comment_is_one_line(comment):
    assert comment_lines([comment]).count("\n") == 1
    assert tomllib.loads(comment_lines([comment]) + "x = 1\n") == {"x": 1}


@pytest.mark.parametrize("value", [None, object(), {"a": {1, 2}}])
def test_what_toml_cannot_hold_is_one_line(value):
    with pytest.raises(SymcnnError) as info:
        to_toml({"x": value})
    assert str(info.value).startswith("cannot write TOML") and "\n" not in str(info.value)


# ---- the importer's specs ----------------------------------------------------------------

@st.composite
def traced_networks(draw):
    """Traced layers of a network (a convolution to ``C`` channels, then ReLUs, 1x1
    convolutions and additions of two earlier layers, a Flatten and a Linear) and the same
    network built from layer objects."""
    channels = draw(st.integers(1, 4) | st.integers(2**40, 2**70))
    names = draw(st.lists(TEXT.filter(lambda s: s not in ("", INPUT)), min_size=3, max_size=8,
                          unique=True))
    traced, nodes = [], []

    def add(kind, args, layer, inputs):
        name = names[len(traced)]
        traced.append(TracedLayer(name, kind, args, inputs, (), ()))
        nodes.append(Node(name, layer, inputs))

    add("Conv2d", {"out_channels": channels, "kernel_size": [1, 1]},
        Conv2d(out_channels=channels, kernel_size=(1, 1)), (INPUT,))
    for _ in names[1:-2]:
        kind = draw(st.sampled_from(["ReLU", "Conv2d", "Add"]))
        last = (traced[-1].name,)
        if kind == "ReLU":
            inplace = draw(st.booleans())
            add("ReLU", {"inplace": inplace}, ReLU(inplace=inplace), last)
        elif kind == "Conv2d":
            add("Conv2d", {"out_channels": channels, "kernel_size": 1, "bias": False},
                Conv2d(out_channels=channels, kernel_size=1, bias=False), last)
        else:
            other = draw(st.sampled_from([t.name for t in traced]))
            add("Add", {}, Add(), (*last, other))
    add("Flatten", {}, Flatten(), (traced[-1].name,))
    add("Linear", {"out_features": 3}, Linear(out_features=3), (traced[-1].name,))
    shape = [draw(st.integers(1, 2**70)), 2, 3]
    return traced, shape, nodes


@SETTINGS
@given(net=traced_networks(), name=TEXT.filter(bool), description=TEXT,
       comments=st.lists(TEXT, max_size=3), dtype=st.sampled_from(["float32", "bfloat16"]))
def test_imported_specs_parse_to_the_traced_network(net, name, description, comments, dtype):
    traced, shape, nodes = net
    text = write_toml(name, description, comments, shape, dtype, traced)
    spec = parse_spec(text)
    assert spec.network == Network(name, tuple(shape), tuple(nodes), dtype)
    assert spec.network.description == description
    assert ("inputs" in text) == any(a.inputs != (b.name,) for b, a in zip(traced, traced[1:]))


# ---- the exam's drawn specs --------------------------------------------------------------

@SETTINGS
@given(name=TEXT.filter(bool), description=TEXT,
       layer=TEXT.filter(lambda s: s not in ("", INPUT, "flatten_2")),
       widths=st.lists(st.integers(1, 8) | st.integers(2**40, 2**70), min_size=1, max_size=3,
                       unique=True),
       side=st.integers(3, 2**62))
def test_drawn_specs_parse_to_the_drawn_network(name, description, layer, widths, side):
    family = {"name": name, "description": description,
              "variables": {"C": {"choices": widths}},
              "input": {"shape": [2, {"range": [side, side + 4, 2]}]},
              "layers": [{"type": "Conv1d", "name": layer, "out_channels": "C",
                          "kernel_size": [3]}, {"type": "Flatten"}],
              "exam": {"questions": [{"kind": "total_params"}]}}
    candidate = next(parse_family(to_toml(family)).candidates(seed=0, index=1))
    width, length = candidate.values["C"], candidate.draws["input.shape[2]"]
    assert width in widths and length in range(side, side + 5, 2)
    spec = parse_spec(candidate.text)
    assert spec.network.description == description
    assert candidate.network() == Network.sequential(
        name, (2, length), [Conv1d(out_channels=width, kernel_size=(3,)), Flatten()], [layer, "flatten_2"])

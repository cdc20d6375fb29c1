"""Spec files: the shipped examples, symbols, --set, and errors that name file, layer, field."""

import pytest

from symcnn import Network, SymcnnError, load_spec, parse_spec
from symcnn.layers import Conv3d, Flatten, Linear
from symcnn.spec.builtin import examples_dir, lecture_network
from symcnn.spec.parse import parse_assignments
from symcnn.symbols import size


def test_lecture_spec_is_the_python_network():
    layers = [Conv3d(out_channels=c, kernel_size=3, stride=1 + i % 2)
              for i, c in enumerate([30, 30, 60, 60, 120, 120, 240, 240])]
    names = [f"L{i}" for i in range(1, 9)] + [None, "L9"]
    expected = Network.sequential("lecture-3d-cnn", (1, 193, 229, 193),
                                  [*layers, Flatten(), Linear(out_features=1)], names)
    assert lecture_network() == expected


def test_symbolic_spec_and_set():
    path = examples_dir() / "lecture_symbolic.toml"
    spec = load_spec(path)
    assert {str(s) for s in spec.network.free_symbols} == {"C", "D", "H", "W"}
    values = parse_assignments(["C=30", "D=193", "H=229", "W=193"])
    assert load_spec(path, values).network == lecture_network().__class__(
        "lecture-3d-cnn-symbolic", lecture_network().input_shape, lecture_network().nodes)


def test_set_accepts_expressions():
    assert parse_assignments(["C=2*K", "D = 5"]) == {size("C"): 2 * size("K"), size("D"): 5}
    for bad in ["C", "=3", "C=", "C=__import__('os')", "1C=3"]:
        with pytest.raises(SymcnnError):
            parse_assignments([bad])


BASE = 'name = "t"\n[input]\nshape = [3, 16, 16]\n'


@pytest.mark.parametrize("text, message", [
    ('name = "t"\n[[layers]]\ntype = "ReLU"\n', "input: field 'shape': missing [input]"),
    (BASE, "field 'layers': no [[layers]] given"),
    ("color = 3\n" + BASE, "field 'color': unknown top-level key"),
    (BASE + "color = 3\n", "input: field 'color': unknown field (known: shape, dtype)"),
    ('name = "t"\n[input]\nshape = [3, 16]\ndtype = "int3"\n[[layers]]\ntype = "ReLU"\n',
     "input: field 'dtype': unknown dtype 'int3'"),
    (BASE + '[[layers]]\nout_channels = 3\n', "layer 1: field 'type': missing"),
    (BASE + '[[layers]]\ntype = "Conv2d"\nout_channels = 3\nkernel_size = [3, 3, 3]\n',
     "layer 1 (Conv2d): field 'kernel_size': expected 2 values"),
    (BASE + '[[layers]]\ntype = "Conv2d"\nout_channels = 3\nkernel_size = 3\nbias = "yes"\n',
     "field 'bias': expected true or false"),
    (BASE + '[[layers]]\ntype = "Conv2d"\nout_channels = 3.5\nkernel_size = 3\n',
     "field 'out_channels': must be a whole number"),
    (BASE + '[[layers]]\ntype = "Conv2d"\nout_channels = 3\nkernel_size = 3\npadding = "full"\n',
     "field 'padding': expected one of 'same', 'valid'"),
    (BASE + '[[layers]]\ntype = "Conv3d"\nout_channels = 3\nkernel_size = 3\n',
     "layer 1 (Conv3d 'conv3d_1'): expects a (C, *, *, *) input"),
    (BASE + '[[layers]]\ntype = "Linear"\nout_features = 3\nin_features = 15\n',
     "field 'in_features': declared 15 but the incoming tensor has 16"),
    (BASE + '[[layers]]\ntype = "ReLU"\nname = "a"\n[[layers]]\ntype = "ReLU"\nname = "a"\n',
     "field 'name': duplicate node name 'a'"),
])
def test_errors_name_file_layer_field(text, message):
    from symcnn import make_report
    with pytest.raises(SymcnnError) as info:
        make_report(parse_spec(text, "net.toml"))
    assert str(info.value).startswith("net.toml: ")
    assert message in str(info.value)

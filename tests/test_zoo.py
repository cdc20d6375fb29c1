"""The validation zoo (validation/zoo): one spec file per network, each agreeing with its
hand-written torch module (parameters and buffers per node, node names, output shape)."""

from pathlib import Path

import pytest

from symcnn import parse_spec
from validation import zoo


def test_every_spec_file_is_an_entry_and_parses():
    files = sorted(Path(zoo.__file__).parent.glob("*.toml"))
    assert [f.stem for f in files] == sorted(e.name for e in zoo.ZOO)
    for entry in zoo.ZOO + zoo.HEAVY:
        network = parse_spec(entry.spec_text, source=str(entry.spec_path)).network
        assert tuple(int(v) for v in network.input_shape) == entry.input_shape
    assert zoo.get("lecture3d-full").spec_path.name == "lecture.toml"
    with pytest.raises(KeyError, match="no zoo network 'nope'"):
        zoo.get("nope")


@pytest.mark.parametrize("name", [e.name for e in zoo.ZOO])
def test_spec_and_torch_module_agree(name):
    pytest.importorskip("torch")
    summary = zoo.check_entry(zoo.get(name))
    assert summary["name"] == name and summary["params"] > 0


def test_every_layer_type_is_in_the_zoo():
    """... or, for the tensor operations of torchvision's models (``x * s``, ``x.mean``, a
    learned tensor, attention: functions, not the modules the zoo's check pairs nodes with),
    in the torchvision held-out networks, which are measured all the same."""
    from symcnn.layers import LAYER_TYPES
    from validation.heldout.torchvision import covered_types

    assert set(LAYER_TYPES) <= zoo.covered_types() | covered_types()

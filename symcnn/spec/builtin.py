"""The built-in example networks: the seed lecture's 3-D CNN, numeric and symbolic."""

from __future__ import annotations

from pathlib import Path

from symcnn.errors import SymcnnError
from symcnn.files import shipped_dir
from symcnn.network import Network
from symcnn.spec.parse import Spec, load_spec

LECTURE = "lecture"
LECTURE_SYMBOLIC = "lecture_symbolic"


def examples_dir() -> Path:
    """Folder of the shipped spec files."""
    return shipped_dir("examples", f"{LECTURE}.toml")


def example_spec(name: str = LECTURE, overrides: dict | None = None) -> Spec:
    """A shipped spec by name (``lecture``, ``lecture_symbolic``)."""
    path = examples_dir() / f"{name}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in examples_dir().glob("*.toml"))
        raise SymcnnError(f"no built-in example {name!r} (known: {', '.join(known)})")
    return load_spec(path, overrides)


def lecture_network() -> Network:
    """The lecture's 3-D CNN on a 1 x 193 x 229 x 193 MRI volume (3,301,651 parameters)."""
    return example_spec(LECTURE).network


def lecture_symbolic_network() -> Network:
    """The lecture's network with channels C, 2C, 4C, 8C and input 1 x D x H x W."""
    return example_spec(LECTURE_SYMBOLIC).network

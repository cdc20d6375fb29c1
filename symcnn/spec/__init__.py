"""Spec files: TOML text to a :class:`~symcnn.network.Network`, and the built-in examples."""

from symcnn.spec.builtin import example_spec
from symcnn.spec.parse import Spec, load_spec, parse_spec

__all__ = ["Spec", "example_spec", "load_spec", "parse_spec"]

"""Memory of a network: the summed conventions (lecture, torchinfo, keras, ...) and, in
:mod:`symcnn.memory.pytorch`, the simulation of PyTorch's own training step."""

from symcnn.memory.estimate import CONVENTIONS, Memory, Term, estimate_memory

__all__ = ["CONVENTIONS", "Memory", "Term", "estimate_memory"]

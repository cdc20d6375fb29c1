"""Shapes and parameter counts of every node of a network, as sympy expressions.

:func:`analyze` walks a :class:`~symcnn.network.Network` once and returns one
:class:`LayerRow` per node; everything above (memory, limits, reports) reads these rows.
"""

from symcnn.analysis.rows import Analysis, LayerRow, analyze

__all__ = ["Analysis", "LayerRow", "analyze"]

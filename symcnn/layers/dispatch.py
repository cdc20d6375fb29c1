"""Per-layer rules as tables keyed by layer class, resolved along the class hierarchy.

A concern that treats layer types differently (what autograd saves for backward, a kernel's
transient buffers, the dtype autocast runs an op in, what a layer does in evaluation mode)
keeps one :class:`RuleTable`.  Its entries are keyed by a layer class or by a family base
(:class:`~symcnn.layers.conv.ConvNd` covers Conv1d, Conv2d and Conv3d), and a lookup walks
``type(layer).__mro__`` and takes the first class that has an entry, so the most specific
entry wins: the way fvcore keys its flop handlers by op and sympy's printers dispatch on type.

No table falls back to a default for :class:`~symcnn.layers.base.Layer` unless it says so
with an entry of its own: a layer type without an entry is a :class:`NoRule` error at its
first lookup, and ``tests/test_rules.py`` looks every type of
:data:`symcnn.layers.LAYER_TYPES` up in every table, so adding a layer type means one entry
per table (an entry may say that nothing is needed).

>>> from symcnn.layers import Conv2d, ConvNd, ConvTranspose2d, ConvTransposeNd, ReLU
>>> table = RuleTable("example", "the docstring")
>>> _ = table.add(ConvNd, "convolution")
>>> _ = table.add(ConvTransposeNd, "transposed convolution")
>>> table[Conv2d], table[ConvTranspose2d(out_channels=4, kernel_size=2)]
('convolution', 'transposed convolution')
>>> try:
...     table[ReLU]
... except NoRule as missing:
...     print(missing)
no example rule for layer type ReLU: add an entry for it (or for a base class of it) to the docstring
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

Rule = TypeVar("Rule")


class NoRule(LookupError):
    """A layer type has no entry in a rule table: a table to complete, not a user's mistake."""


class RuleTable(Generic[Rule]):
    """Rules keyed by layer class; ``table[layer]`` (or ``table[LayerClass]``) is the rule of
    the first class along the layer's ``__mro__`` that has an entry.

    ``concern`` names what the rules say (for the error message), ``where`` the table to add
    an entry to."""

    def __init__(self, concern: str, where: str) -> None:
        self.concern, self.where = concern, where
        self._entries: dict[type, Rule] = {}
        self._resolved: dict[type, type] = {}      # layer class -> class whose entry applies

    def add(self, classes: type | Iterable[type], rule: Rule) -> Rule:
        """Give ``rule`` to each of ``classes`` (a class or several); returns ``rule``.  A
        class has one entry per table: a second is refused."""
        for cls in (classes,) if isinstance(classes, type) else tuple(classes):
            if cls in self._entries:
                raise ValueError(f"{cls.__name__} already has a {self.concern} rule in "
                                 f"{self.where}")
            self._entries[cls] = rule
        self._resolved.clear()
        return rule

    def entry(self, *classes: type) -> Callable[[Rule], Rule]:
        """Decorator form of :meth:`add`: ``@table.entry(ConvNd)`` above a rule function."""
        return lambda rule: self.add(classes, rule)

    def owner(self, cls: type) -> type:
        """The class whose entry applies to ``cls``: the first of ``cls.__mro__`` with one."""
        found = self._resolved.get(cls)
        if found is None:
            found = next((c for c in cls.__mro__ if c in self._entries), None)
            if found is None:
                raise NoRule(f"no {self.concern} rule for layer type {cls.__name__}: add an "
                             f"entry for it (or for a base class of it) to {self.where}")
            self._resolved[cls] = found
        return found

    def __getitem__(self, layer) -> Rule:
        """The rule for ``layer``, a layer or a layer class."""
        cls = layer if isinstance(layer, type) else type(layer)
        return self._entries[self.owner(cls)]

    def __contains__(self, layer) -> bool:
        cls = layer if isinstance(layer, type) else type(layer)
        return any(c in self._entries for c in cls.__mro__)

"""Networks: named nodes, each a layer applied to earlier nodes' outputs.

A sequence is the common case (:meth:`Network.sequential`); every node names its
inputs, so branches (residual additions, concatenations) fit the same structure.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field

import sympy

from symcnn.errors import SymcnnError
from symcnn.layers import Layer, Shape
from symcnn.layers.base import check_size, to_expr
from symcnn.symbols import b as BATCH

INPUT = "input"
#: Why the batch symbol may not appear in a network: formulas would mix it with the sizes.
RESERVED = ("'b' is the batch size (formulas multiply by it); name this size something else, "
            "e.g. B")
#: Bytes per element of the element types a network may hold.
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}


@dataclass(frozen=True)
class Node:
    """One layer of a network, fed by the outputs of the nodes named in ``inputs``.

    ``block`` names the use of a repeated block the node belongs to (``layer1.0``),
    ``block_type`` the block's definition (``basic``) and ``block_args`` the parameter values
    of that use (``(("C", 64),)``); all are empty outside blocks.
    """

    name: str
    layer: Layer
    inputs: tuple[str, ...]
    block: str = ""
    block_type: str = ""
    block_args: tuple[tuple[str, sympy.Expr], ...] = ()

    @property
    def label(self) -> str:
        return f"{self.layer.type_name} '{self.name}'"


def _check_no_batch(node: Node) -> None:
    """A one-line error naming the field of ``node`` that uses the batch symbol ``b``."""
    for f in dataclasses.fields(node.layer):
        value = getattr(node.layer, f.name)
        for x in value if isinstance(value, tuple) else (value,):
            if isinstance(x, sympy.Basic) and BATCH in x.free_symbols:
                raise SymcnnError(RESERVED, layer=node.label, field=f.name)


@dataclass(frozen=True)
class Network:
    """A network and its input (channels first, no batch axis).

    >>> from symcnn.layers import Conv2d, Flatten, Linear
    >>> net = Network.sequential("tiny", (1, 28, 28), [Conv2d(out_channels=10, kernel_size=5),
    ...                                               Flatten(), Linear(out_features=10)])
    >>> [n.name for n in net.nodes]
    ['conv2d_1', 'flatten_2', 'linear_3']
    """

    name: str
    input_shape: Shape
    nodes: tuple[Node, ...]
    dtype: str = "float32"
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_shape", tuple(
            check_size(to_expr(v, "shape"), "shape") for v in self.input_shape))
        if any(BATCH in v.free_symbols for v in self.input_shape):
            raise SymcnnError(RESERVED, layer="input", field="shape")
        seen = {INPUT}
        for node in self.nodes:
            _check_no_batch(node)
            if node.name in seen:
                raise SymcnnError(f"duplicate node name {node.name!r}", layer=node.label,
                                  field="name")
            missing = [i for i in node.inputs if i not in seen]
            if missing:
                raise SymcnnError(f"input {missing[0]!r} is not an earlier node", layer=node.label,
                                  field="inputs")
            arity, least = node.layer.arity, node.layer.min_inputs
            count = len(node.inputs)
            if (arity is None and count < least) or (arity is not None and count != arity):
                wanted = str(arity) if arity is not None else \
                    "one or more" if least == 1 else "two or more"
                raise SymcnnError(f"takes {wanted} inputs, got {len(node.inputs)}", layer=node.label,
                                  field="inputs")
            seen.add(node.name)

    @classmethod
    def sequential(cls, name: str, input_shape, layers, names=None, *,
                   dtype: str = "float32", description: str = "") -> Network:
        """A chain of layers; ``names`` default to ``<type>_<position>``."""
        layers = list(layers)
        names = list(names) if names is not None else [None] * len(layers)
        nodes, prev = [], INPUT
        for i, (layer, nm) in enumerate(zip(layers, names), start=1):
            nm = nm or f"{layer.type_name.lower()}_{i}"
            nodes.append(Node(nm, layer, (prev,)))
            prev = nm
        return cls(name, tuple(input_shape), tuple(nodes), dtype, description)

    @property
    def is_sequential(self) -> bool:
        """True when every node reads the one before it (no branches)."""
        previous = INPUT
        for node in self.nodes:
            if node.inputs != (previous,):
                return False
            previous = node.name
        return True

    @property
    def free_symbols(self) -> set[sympy.Symbol]:
        return set(self._free_symbols)

    @functools.cached_property
    def _free_symbols(self) -> frozenset[sympy.Symbol]:
        """Every symbol of the input and the layers, found once (a network is frozen)."""
        out: set[sympy.Symbol] = set()
        for v in self.input_shape:
            out |= v.free_symbols
        for node in self.nodes:
            out |= node.layer.free_symbols()
        return frozenset(out)

    def subs(self, mapping) -> Network:
        """The network with symbols replaced by numbers or expressions (``{C: 30}``)."""
        nodes = []
        for index, node in enumerate(self.nodes, start=1):
            try:
                # a block use's parameters too: with --set C=64 a block reads (F = 64), not (F = C)
                args = tuple((k, v.subs(mapping)) for k, v in node.block_args)
                nodes.append(dataclasses.replace(node, layer=node.layer.subs(mapping),
                                                 block_args=args))
            except SymcnnError as err:
                raise err.within(layer=f"layer {index} ({node.label})") from None
        try:
            shape = tuple(v.subs(mapping) for v in self.input_shape)
            return Network(self.name, shape, tuple(nodes), self.dtype, self.description)
        except SymcnnError as err:
            raise err.within(layer="input") from None

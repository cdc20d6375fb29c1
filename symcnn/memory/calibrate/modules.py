"""One node of a spec as a network of its own, in symcnn and in PyTorch, for calibration.

A node that reads the network input is calibrated alone, as in its spec.  Any other node gets a
node in front of it, ``pre``, whose output has the node's input shape and element size and
needs a gradient (so the node makes its input's gradient, as in its spec), and which saves
that output for nothing (so an in-place node may overwrite it): a ``BatchNorm`` over the
channels for an input in the parameters' element size, a ``Linear`` over the last axis without
bias for a 2-byte input under autocast (which runs it in 2 bytes).

The torch module of a layer is ``torch.nn.<type>`` with the layer's fields as arguments, the
inferred ones (``in_channels``, ...) from the input shape, or, for a tensor operation that torch
has as a method (``Permute``, ``Select``, ``Narrow``, ``Mean``, ``Contiguous``), a learned tensor
(``Parameter``) or self-attention (``attn(x, x, x)``), the module of :data:`TENSOR_OPS`; it is
checked against the layer's parameter count.
"""

from __future__ import annotations

import dataclasses
import inspect

import sympy

from symcnn import layers
from symcnn.errors import SymcnnError
from symcnn.layers import INFERRED, Layer
from symcnn.network import INPUT, Network, Node

#: The node names of a calibration network.
PRE, LAYER = "pre", "layer"
_BATCH_NORMS = {1: layers.BatchNorm1d, 2: layers.BatchNorm1d, 3: layers.BatchNorm2d,
                4: layers.BatchNorm3d}


def calibration_network(layer: Layer, input_shape, input_bytes: int, first: bool,
                        precision: str = "fp32", element_bytes: int = 4) -> Network | None:
    """The network that calibrates ``layer`` on an input of ``input_shape`` whose elements
    take ``input_bytes`` (see the module; a one-axis input in fp32 gets a ``Linear`` too:
    PyTorch's BatchNorm refuses one sample of it); None where no ``pre`` node makes that
    input."""
    if first:
        return Network("calibration", tuple(input_shape), (Node(LAYER, layer, (INPUT,)),))
    linear = input_bytes == 2 or (precision == "fp32" and len(input_shape) == 1)
    if input_bytes == element_bytes and len(input_shape) in _BATCH_NORMS and not linear:
        pre = _BATCH_NORMS[len(input_shape)]()
    elif linear:
        pre = layers.Linear(out_features=input_shape[-1], bias=False)
    else:
        return None
    return Network("calibration", tuple(input_shape),
                   (Node(PRE, pre, (INPUT,)), Node(LAYER, layer, (PRE,))))


def plain(value):
    """A layer field as torch takes it: sympy integers as ints, other numbers as floats."""
    if isinstance(value, (tuple, list)):
        return tuple(plain(v) for v in value)
    if isinstance(value, sympy.Basic):
        if value.is_Integer:
            return int(value)
        if value.is_number:
            return float(value)
        raise SymcnnError(f"size {value} is a symbol; give it a value", argument="overrides")
    return value


def _inferred(name: str, input_shape) -> int:
    return int(input_shape[-1] if name == "in_features" else input_shape[0])


def _op(torch, forward, **parameters):
    """A module whose ``forward(x)`` is ``forward(self, x)``, holding ``parameters``."""
    module = torch.nn.Module()
    for name, value in parameters.items():
        module.register_parameter(name, value)
    module.forward = forward.__get__(module)
    return module


def _self_attention(layer, shape, torch):
    attn = torch.nn.MultiheadAttention(**_arguments(layer, shape, torch.nn.MultiheadAttention,
                                                    skip=("need_weights",)))
    need = bool(layer.need_weights)
    outer = _op(torch, lambda self, x: self.attn(x, x, x, need_weights=need)[0])
    outer.attn = attn
    return outer


def _parameter(layer, shape, torch):
    size = plain(tuple(layer.shape))
    return _op(torch, lambda self, x: self.value.unsqueeze(0).expand(x.shape[0], *size),
               value=torch.nn.Parameter(torch.randn(*size)))


#: The tensor operations symcnn has as layers and torch as methods (or ``torch.nn`` modules
#: called otherwise: self-attention takes query, key and value), keyed by layer class: each
#: builds the module that does the layer's operation on a batch of ``shape``.
TENSOR_OPS = {
    "Permute": lambda layer, shape, torch: _op(torch, lambda self, x: x.permute(*layer.dims)),
    "Select": lambda layer, shape, torch: _op(
        torch, lambda self, x: x.select(layer.dim, layer.index)),
    "Narrow": lambda layer, shape, torch: _op(
        torch, lambda self, x: x.narrow(layer.dim, plain(layer.start), plain(layer.length))),
    "Mean": lambda layer, shape, torch: _op(
        torch, lambda self, x: x.mean(list(layer.dim), keepdim=bool(layer.keepdim))),
    # Of a contiguous input PyTorch's contiguous() copies nothing; the layer stands for the
    # copy of a permuted one: the copy in the plain layout.
    "Contiguous": lambda layer, shape, torch: _op(
        torch, lambda self, x: x.clone(memory_format=torch.contiguous_format)),
    "MultiheadAttention": _self_attention,
    "Parameter": _parameter,
}


def _arguments(layer: Layer, input_shape, cls, skip=()) -> dict:
    """``layer``'s fields as ``cls``'s keyword arguments (the inferred ones from the input
    shape); a field ``cls`` lacks must keep its default."""
    accepted = inspect.signature(cls).parameters
    kwargs = {}
    for f in dataclasses.fields(layer):
        if f.name in skip:
            continue
        value = getattr(layer, f.name)
        if f.name in INFERRED:
            value = _inferred(f.name, input_shape)
        value = plain(value)
        if f.name in accepted:
            kwargs[f.name] = value
        elif value != f.default:
            raise SymcnnError(f"torch.nn.{layer.type_name} has no argument {f.name}")
    return kwargs


def torch_module(layer: Layer, input_shape, torch):
    """The torch module of ``layer`` on inputs of ``input_shape`` (no batch axis):
    :data:`TENSOR_OPS`' or ``torch.nn.<type>(...)``, checked against the layer's parameter
    count."""
    build = TENSOR_OPS.get(layer.type_name, _nn_module)
    module = build(layer, input_shape, torch)
    params = sum(p.numel() for p in module.parameters())
    expected = layer.params(tuple(input_shape))
    if not sympy.sympify(expected).is_number or params != int(expected):
        raise SymcnnError(f"torch.nn.{layer.type_name} has {params} parameters, the layer "
                          f"{expected}")
    return module


def _nn_module(layer: Layer, input_shape, torch):
    """``torch.nn.<type>(...)`` with the layer's fields as arguments."""
    cls = getattr(torch.nn, layer.type_name, None)
    if cls is None or not isinstance(cls, type) or layer.arity != 1:
        raise SymcnnError(f"{layer.type_name} is not a torch.nn module symcnn can build")
    if getattr(layer, "return_indices", False):
        raise SymcnnError("return_indices=true: the module returns a pair, not a tensor")
    return cls(**_arguments(layer, input_shape, cls))


def torch_network(network: Network, torch):
    """The ``nn.Sequential`` of a calibration network, its children named as its nodes."""
    from collections import OrderedDict

    shape = network.input_shape
    modules = OrderedDict()
    for node in network.nodes:
        modules[node.name] = torch_module(node.layer, shape, torch)
        shape = node.layer.output_shape(shape)
    return torch.nn.Sequential(modules)

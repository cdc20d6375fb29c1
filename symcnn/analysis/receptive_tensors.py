"""The receptive-field rules of tensor operations (:data:`TENSOR_RULES`, put into
:data:`symcnn.analysis.receptive.FIELD_RULES` beside the sliding windows): views that move or
merge axes (Flatten, Permute, Unflatten), layers that mix every position of an axis (Linear on
its last axis, Softmax, Mean, self-attention), selections (Select, Narrow) and learned tensors,
which see no pixel.  See :mod:`symcnn.analysis.receptive` for what a field is."""

from __future__ import annotations

from dataclasses import replace

import sympy

from symcnn.analysis.lattice import whole
from symcnn.layers import (
    Flatten,
    Linear,
    Mean,
    MultiheadAttention,
    Narrow,
    Parameter,
    Permute,
    Select,
    Softmax,
    Unflatten,
)
from symcnn.layers.tensor import sample_axis


#: layer class -> its rule ``(layer, states, input shapes, output shape) -> state``
TENSOR_RULES: dict = {}


def _add(layer_type, rule) -> None:
    TENSOR_RULES[layer_type] = rule


def _rule(layer_type):
    def register(rule):
        _add(layer_type, rule)
        return rule
    return register


def located(state) -> bool:
    """Whether an operation along a tensor axis can be followed: every tracked axis is at a
    known tensor axis, or is one whose elements all see the same pixels (jump 0: mixing its
    positions changes nothing)."""
    return all(a.axis is not None or a.field.jump == 0 for a in state)


def _moved(state, where) -> tuple | None:
    """Each tracked axis at its new tensor axis, ``where(axis)`` (None: no longer an axis)."""
    return tuple(a if a.axis is None else replace(a, axis=where(a.axis)) for a in state)


@_rule(Flatten)
def _flatten(layer, states, ins, out) -> tuple | None:
    rank = len(ins[0]) + 1  # with the batch axis
    first = layer.start_dim + rank if layer.start_dim < 0 else layer.start_dim
    last = layer.end_dim + rank if layer.end_dim < 0 else layer.end_dim
    if first == last:
        return states[0]
    return _moved(states[0], lambda t: t if t < first else None if t <= last
                  else t - (last - first))


@_rule(Linear)
def _linear(layer, states, ins, out) -> tuple | None:
    """Mixes its input's last axis: every position of it (all of them, once flattened)."""
    state = states[0]
    if len(ins[0]) == 1:
        return tuple(a.whole() for a in state)
    last = len(ins[0])
    if not located(state):
        return None
    return tuple(replace(a.whole(), positions=out[-1]) if a.axis == last else a for a in state)


@_rule(Softmax)
def _softmax(layer, states, ins, out) -> tuple | None:
    rank = len(ins[0]) + 1
    dim = layer.dim
    if dim is None:  # PyTorch's _get_softmax_dim
        dim = 0 if rank in (0, 1, 3) else 1
    dim = dim + rank if dim < 0 else dim
    return _mixing(states[0], (dim,), "same")


def _mixing(state, dims, result: str) -> tuple | None:
    """Every output element sees every position of the tensor axes ``dims``, which keep their
    positions (``result="same"``: a softmax), become one (``"one"``: a mean with
    ``keepdim``) or are gone (``"gone"``: the later axes move up)."""
    if not located(state):
        return None

    def mixed(a):
        if a.axis is None:
            return a
        if a.axis not in dims:
            gone = sum(d < a.axis for d in dims) if result == "gone" else 0
            return replace(a, axis=a.axis - gone)
        whole = a.whole()
        return {"same": whole, "one": replace(whole, positions=sympy.Integer(1)),
                "gone": replace(whole, axis=None)}[result]

    return tuple(mixed(a) for a in state)


@_rule(Permute)
def _permute(layer, states, ins, out) -> tuple | None:
    rank = len(ins[0]) + 1
    dims = [d + rank if d < 0 else d for d in layer.dims]
    return _moved(states[0], dims.index)


@_rule(Unflatten)
def _unflatten(layer, states, ins, out) -> tuple | None:
    """Axis ``dim`` split in several: a spatial axis split is no longer one axis; the later
    axes move down."""
    dim = sample_axis(layer.dim, ins[0], "dim") + 1
    more = len(layer.unflattened_size) - 1
    return _moved(states[0], lambda t: t if t < dim else None if t == dim else t + more)


def _part(state, dim: int, start, positions) -> tuple | None:
    """Positions ``start`` onwards of axis ``dim`` (``positions`` of them; None: the axis
    is selected away)."""
    if not located(state) and start != 0:
        return None  # element 0 moves along an axis that holds flattened ones

    def part(a):
        if a.axis is None or a.axis < dim:
            return a
        if a.axis > dim:
            return replace(a, axis=a.axis - 1) if positions is None else a
        f = a.field
        moved = replace(a, field=replace(f, start=f.start + start * f.jump)) \
            if f.phases is None else a.remapped(lambda o: (o + whole(start),), (1, 1), 1)
        return replace(moved, axis=None) if positions is None else \
            replace(moved, positions=positions)

    return tuple(part(a) for a in state)


_add(Select, lambda layer, states, ins, out:
                _part(states[0], sample_axis(layer.dim, ins[0], "dim") + 1, layer.index, None))
_add(Narrow, lambda layer, states, ins, out:
                _part(states[0], sample_axis(layer.dim, ins[0], "dim") + 1, layer.start,
                      layer.length))


@_rule(Mean)
def _mean(layer, states, ins, out) -> tuple | None:
    dims = tuple(sample_axis(d, ins[0], "dim") + 1 for d in layer.dim)
    return _mixing(states[0], dims, "one" if layer.keepdim else "gone")


#: A learned tensor reads no input: it sees no pixel (the state of no axes).
_add(Parameter, lambda layer, states, ins, out: ())


@_rule(MultiheadAttention)
def _attention(layer, states, ins, out) -> tuple | None:
    """Every output element depends on every input element of its sample (the projections mix
    the features, the attention the positions)."""
    return tuple(a.whole() for a in states[0])

"""What a PyTorch module or function becomes in a spec: the tables of :mod:`symcnn.importers.torch_fx`.

A ``torch.nn`` module maps to the layer of the same name; its arguments are read back
from its attributes (``module.bias is not None`` for ``bias``), and only those that differ
from the defaults are kept.  Functions and tensor methods (``x + y``, ``torch.cat``,
``F.relu``, ``x.flatten(1)``, ``x.view(x.size(0), -1)`` ...) map through :data:`FUNCTIONS`.
torch is imported by the functions that need it, not with this module.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from functools import cache

from symcnn.errors import SymcnnError
from symcnn.layers import INFERRED, LAYER_TYPES

#: Arguments with a value per spatial axis: written as one number when the values are equal.
PER_AXIS = frozenset({"kernel_size", "stride", "padding", "dilation", "output_padding",
                      "output_size", "size", "scale_factor"})
#: Function arguments that change no shape or count and are dropped.
IGNORED = frozenset({"training", "train", "_stacklevel"})
REQUIRED = object()


def same(a, b) -> bool:
    """Equal, with ``True`` and ``1`` kept apart.

    >>> same(1, 1), same(True, 1), same(2.0, 2), same([1, 2], [1, 2])
    (True, False, True, True)
    """
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b
    if isinstance(a, (list, str)) or isinstance(b, (list, str)):
        return type(a) is type(b) and a == b
    return a == b


def plain(value, per_axis: bool = False):
    """A value as TOML can hold it: tuples as lists, equal per-axis values as one.

    >>> plain((3, 3), per_axis=True), plain((1, 2), per_axis=True), plain((64,))
    (3, [1, 2], [64])
    """
    if isinstance(value, (tuple, list)):  # torch.Size is a tuple
        items = [plain(v) for v in value]
        if per_axis and items and all(same(v, items[0]) for v in items):
            return items[0]
        return items
    return value


def finish(kind: str, args: dict, what: str) -> dict:
    """The arguments of a ``kind`` layer that differ from symcnn's defaults, checked by
    building the layer; ``what`` names the module or function in errors."""
    cls = LAYER_TYPES[kind]
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    out = {}
    for name, value in args.items():
        value = plain(value, name in PER_AXIS)
        if name == "stride" and value == []:
            value = None  # torch.max_pool2d's "default stride"
        if name == "stride" and "ceil_mode" in defaults and same(value, plain(args["kernel_size"],
                                                                              True)):
            value = None  # pooling stride defaults to the kernel size
        default = defaults[name]
        if same(value, default):
            continue
        if value is None and name == "momentum":
            continue  # BatchNorm's cumulative average: changes no count; TOML has no null
        if value is None or (isinstance(value, list) and None in value):
            raise SymcnnError(f"cannot map {what}: {name}={value!r} cannot be written in a spec")
        out[name] = value
    try:
        cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in out.items()})
    except SymcnnError as err:
        raise SymcnnError(f"cannot map {what}: {err}") from None
    return out


def module_layer(module, what: str) -> tuple[str, dict]:
    """``(layer type, arguments)`` of a ``torch.nn`` module, e.g. ``("Conv2d", {...})``."""
    import torch

    kind = type(module).__name__
    cls = LAYER_TYPES.get(kind)
    if cls is None or type(module) is not getattr(torch.nn, kind, None):
        raise SymcnnError(f"cannot map {what}")
    args = {}
    for f in dataclasses.fields(cls):
        if f.name in INFERRED:
            continue
        args[f.name] = module.bias is not None if f.name == "bias" else \
            getattr(module, f.name, f.default)
    if (kind == "LayerNorm" and not module.elementwise_affine) or \
            ("affine" in args and not module.affine):
        del args["bias"]  # no weight, no bias: the flag changes nothing
    return kind, finish(kind, args, what)


def _pool(kind: str, n: int):
    first = (("kernel_size", REQUIRED), ("stride", None), ("padding", 0))
    if kind == "MaxPool":
        return first + (("dilation", 1), ("ceil_mode", False), ("return_indices", False))
    rest = (("ceil_mode", False), ("count_include_pad", True))
    return first + rest + ((("divisor_override", None),) if n > 1 else ())


@cache
def functions() -> dict:
    """callable (or ``"Tensor.<method>"``) -> (layer type, (argument, default) after the
    input, fixed arguments).  ``Add``, ``Concat`` and ``reshape`` are handled apart."""
    import torch
    import torch.nn.functional as F

    t = {}

    def put(targets, kind, params=(), **fixed):
        for target in targets:
            t[target] = (kind, tuple(params), fixed)

    put([operator.add, torch.add, "Tensor.add", "Tensor.__add__"], "Add",
        (("other", REQUIRED), ("alpha", 1)))
    put([operator.iadd, "Tensor.add_", "Tensor.__iadd__"], "Add",
        (("other", REQUIRED), ("alpha", 1)), inplace=True)
    put([torch.cat, torch.concat, torch.concatenate], "Concat", (("dim", 0),))
    put([torch.flatten, "Tensor.flatten"], "Flatten", (("start_dim", 0), ("end_dim", -1)))
    put([torch.reshape, "Tensor.view", "Tensor.reshape"], "reshape", (("shape", REQUIRED),))
    put([F.relu, "Tensor.relu"], "ReLU", (("inplace", False),))
    put([torch.relu], "ReLU")
    put([torch.relu_, F.relu_, "Tensor.relu_"], "ReLU", inplace=True)
    put([F.leaky_relu], "LeakyReLU", (("negative_slope", 0.01), ("inplace", False)))
    put([F.leaky_relu_], "LeakyReLU", (("negative_slope", 0.01),), inplace=True)
    put([F.gelu], "GELU", (("approximate", "none"),))
    put([F.silu], "SiLU", (("inplace", False),))
    put([F.relu6], "ReLU6", (("inplace", False),))
    put([F.hardtanh], "Hardtanh", (("min_val", -1.0), ("max_val", 1.0), ("inplace", False)))
    put([F.hardtanh_], "Hardtanh", (("min_val", -1.0), ("max_val", 1.0)), inplace=True)
    put([F.hardswish], "Hardswish", (("inplace", False),))
    put([F.hardsigmoid], "Hardsigmoid", (("inplace", False),))
    put([F.elu], "ELU", (("alpha", 1.0), ("inplace", False)))
    put([F.elu_], "ELU", (("alpha", 1.0),), inplace=True)
    put([F.mish], "Mish", (("inplace", False),))
    put([F.softplus], "Softplus", (("beta", 1.0), ("threshold", 20.0)))
    put([torch.sigmoid, F.sigmoid, "Tensor.sigmoid"], "Sigmoid")
    put([torch.tanh, F.tanh, "Tensor.tanh"], "Tanh")
    put([F.softmax], "Softmax", (("dim", None), ("_stacklevel", 3), ("dtype", None)))
    put([torch.softmax, "Tensor.softmax"], "Softmax", (("dim", REQUIRED), ("dtype", None)))
    dropout = (("p", 0.5), ("training", True), ("inplace", False))
    put([F.dropout], "Dropout", dropout)
    put([torch.dropout], "Dropout", (("p", REQUIRED), ("train", REQUIRED)))
    for n in (1, 2, 3):
        put([getattr(F, f"dropout{n}d")], f"Dropout{n}d", dropout)
        put([getattr(F, f"max_pool{n}d")], f"MaxPool{n}d", _pool("MaxPool", n))
        put([getattr(torch, f"max_pool{n}d")], f"MaxPool{n}d", _pool("MaxPool", n)[:-1])
        put([getattr(F, f"avg_pool{n}d")], f"AvgPool{n}d", _pool("AvgPool", n))
        put([getattr(F, f"adaptive_avg_pool{n}d")], f"AdaptiveAvgPool{n}d",
            (("output_size", REQUIRED),))
        put([getattr(F, f"adaptive_max_pool{n}d")], f"AdaptiveMaxPool{n}d",
            (("output_size", REQUIRED), ("return_indices", False)))
    put([F.interpolate, F.upsample], "Upsample",
        (("size", None), ("scale_factor", None), ("mode", "nearest"), ("align_corners", None),
         ("recompute_scale_factor", None), ("antialias", False)))
    return t


def _reshape(x, result, what: str) -> tuple[str, dict]:
    """A view or reshape that keeps the batch axis: Identity, or Flatten(start, end)."""
    a, b = tuple(x.shape), tuple(result.shape)
    if a == b:
        return "Identity", {}
    for start in range(1, len(a)):
        for end in range(start, len(a)):
            merged = a[:start] + (math.prod(a[start:end + 1]),) + a[end + 1:]
            if merged == b:
                args = {"start_dim": start, "end_dim": end if end < len(a) - 1 else -1}
                return "Flatten", finish("Flatten", args, what)
    raise SymcnnError(f"cannot map {what}: from {a} to {b} is not a flatten (batch axis first)")


def function_layer(key, args: tuple, kwargs: dict, result, what: str) -> tuple[str, dict, list]:
    """``(layer type, arguments, input tensors)`` of a function call whose arguments and
    result are the values of one run; ``key`` is the callable or ``"Tensor.<method>"``."""
    import torch

    if key not in functions() or not args:
        raise SymcnnError(f"cannot map {what}")
    kind, params, fixed = functions()[key]
    first, rest = args[0], args[1:]
    names = [p for p, _ in params]
    if kind == "reshape":  # view(n, -1) / view(*sizes) / reshape(x, shape)
        return (*_reshape(first, result, what), [first])
    if len(rest) > len(names) or set(kwargs) - set(names):
        raise SymcnnError(f"cannot map {what}: unexpected arguments")
    bound = {**dict(params), **dict(zip(names, rest)), **kwargs, **fixed}
    if any(v is REQUIRED for v in bound.values()):
        raise SymcnnError(f"cannot map {what}: an argument is missing")
    tensors = list(first) if kind == "Concat" else [first]
    if kind == "Add":
        tensors.append(bound["other"])
    if not all(isinstance(x, torch.Tensor) for x in tensors):
        raise SymcnnError(f"cannot map {what} with a number where symcnn needs a tensor")
    rank = tensors[0].dim()
    if kind == "Add":
        if not same(bound["alpha"], 1):
            raise SymcnnError(f"cannot map {what} with alpha={bound['alpha']!r}")
        if tensors[0].shape != tensors[1].shape:
            raise SymcnnError(f"cannot map {what}: it broadcasts {tuple(tensors[0].shape)} "
                              f"with {tuple(tensors[1].shape)}")
        return "Add", ({"inplace": True} if bound.get("inplace") else {}), tensors
    if kind in ("Concat", "Flatten"):
        dim = bound["dim" if kind == "Concat" else "start_dim"]
        if dim % rank == 0:
            raise SymcnnError(f"cannot map {what}: it works across the batch axis (dim {dim})")
    fields = {f.name for f in dataclasses.fields(LAYER_TYPES[kind])}
    layer_args = {}
    for name, value in bound.items():
        if name in fields:
            layer_args[name] = value
        elif name not in IGNORED and not same(value, dict(params)[name]):
            raise SymcnnError(f"cannot map {what} with {name}={value!r}")
    return kind, finish(kind, layer_args, what), tensors

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

    kind = NAMED_MODULES.get(qualified(type(module)), type(module).__name__)
    cls = LAYER_TYPES.get(kind)
    if cls is None or (type(module) is not getattr(torch.nn, kind, None)
                       and qualified(type(module)) not in NAMED_MODULES):
        raise SymcnnError(f"cannot map {what}")
    if kind == "MultiheadAttention":
        return kind, finish(kind, _attention_args(module, what), what)
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


def _attention_args(module, what: str) -> dict:
    """``nn.MultiheadAttention``'s arguments, read back from its attributes (``kdim`` and
    ``vdim`` are ``embed_dim`` unless given)."""
    e = module.embed_dim
    if module.kdim != e or module.vdim != e:
        raise SymcnnError(f"cannot map {what}: kdim={module.kdim}, vdim={module.vdim} (symcnn "
                          "maps self-attention, keys and values of embed_dim features)")
    return {"embed_dim": e, "num_heads": module.num_heads, "dropout": module.dropout,
            "bias": module.in_proj_bias is not None, "add_bias_kv": module.bias_k is not None,
            "add_zero_attn": module.add_zero_attn, "batch_first": module.batch_first}


def attention_call(args: tuple, kwargs: dict, what: str) -> bool:
    """``need_weights`` of a self-attention call ``attn(x, x, x, ...)``; anything else (a
    mask, another key or value) is refused."""
    names = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask",
             "average_attn_weights", "is_causal")
    bound = {**dict(zip(names, args)), **kwargs}
    if not (bound.get("query") is bound.get("key") is bound.get("value")):
        raise SymcnnError(f"cannot map {what}: symcnn maps self-attention, attn(x, x, x)")
    if any(bound.get(k) is not None for k in ("key_padding_mask", "attn_mask")) \
            or bound.get("is_causal"):
        raise SymcnnError(f"cannot map {what}: with a mask")
    return bool(bound.get("need_weights", True))


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
    put([operator.mul, torch.mul, "Tensor.mul", "Tensor.__mul__", "Tensor.__rmul__"], "Mul",
        (("other", REQUIRED),))
    put([torch.mean, "Tensor.mean"], "Mean", (("dim", REQUIRED), ("keepdim", False),
                                               ("dtype", None)))
    put([torch.permute, "Tensor.permute"], "Permute", (("dims", REQUIRED),))
    put([torch.transpose, "Tensor.transpose", torch.swapaxes, "Tensor.swapaxes"], "transpose",
        (("dim0", REQUIRED), ("dim1", REQUIRED)))
    put([F.layer_norm], "LayerNorm", (("normalized_shape", REQUIRED), ("weight", None),
                                      ("bias", None), ("eps", 1e-5)))
    put([torch.narrow, "Tensor.narrow"], "Narrow", (("dim", REQUIRED), ("start", REQUIRED),
                                                   ("length", REQUIRED)))
    put([torch.select, "Tensor.select"], "Select", (("dim", REQUIRED), ("index", REQUIRED)))
    return t


#: Functions of other packages, by qualified name (their modules are not imported here):
#: name -> (layer type, (argument, default) after the input).
NAMED = {
    "torchvision.ops.stochastic_depth.stochastic_depth":
        ("StochasticDepth", (("p", REQUIRED), ("mode", REQUIRED), ("training", True))),
}
#: Modules of other packages that are the layer of the same name, by qualified class name.
NAMED_MODULES = {"torchvision.ops.stochastic_depth.StochasticDepth": "StochasticDepth"}


def qualified(obj) -> str:
    """``module.name`` of a function or class (``torchvision.ops.stochastic_depth.stochastic_depth``)."""
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"


def table_entry(key):
    """The table entry of a callable or ``"Tensor.<method>"``, or None."""
    found = functions().get(key) if not isinstance(key, (list, dict)) else None
    if found is None and not isinstance(key, str):
        named = NAMED.get(qualified(key))
        found = (named[0], named[1], {}) if named else None
    return found


def known(key) -> bool:
    try:
        return table_entry(key) is not None
    except TypeError:  # an unhashable target
        return False


def _reshape(x, result, what: str) -> tuple[str, dict]:
    """A view or reshape that keeps the batch axis: Identity, Flatten(start, end), or
    Unflatten(dim, sizes) (one axis split in several: a channel shuffle's ``view``; the
    last split size is written -1, what is left, which keeps it right in symbols)."""
    a, b = tuple(x.shape), tuple(result.shape)
    if a == b:
        return "Identity", {}
    for start in range(1, len(a)):
        for end in range(start, len(a)):
            merged = a[:start] + (math.prod(a[start:end + 1]),) + a[end + 1:]
            if merged == b:
                args = {"start_dim": start, "end_dim": end if end < len(a) - 1 else -1}
                return "Flatten", finish("Flatten", args, what)
    for dim in range(1, len(a)):
        k = len(b) - len(a) + 1
        if k > 1 and b[:dim] == a[:dim] and b[dim + k:] == a[dim + 1:] \
                and math.prod(b[dim:dim + k]) == a[dim]:
            sizes = [*b[dim:dim + k - 1], -1]
            return "Unflatten", finish("Unflatten", {"dim": dim, "unflattened_size": sizes}, what)
    raise SymcnnError(f"cannot map {what}: from {a} to {b} is neither a flatten nor an "
                      "unflatten (batch axis first)")


def _is_view(x, result) -> bool:
    base = x._base if x._base is not None else x
    return result is x or result._base is base


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def function_layer(key, args: tuple, kwargs: dict, result, what: str) -> list[tuple]:
    """The layers a function call becomes, ``[(layer type, arguments, input tensors)]``
    (usually one; a ``reshape`` that copies is a ``Contiguous`` and then the view, the later
    step's input tensors None: the step before's output).  The arguments and result are the
    values of one run; ``key`` is the callable or ``"Tensor.<method>"``."""
    import torch

    entry = table_entry(key)
    if entry is None or not args:
        raise SymcnnError(f"cannot map {what}")
    kind, params, fixed = entry
    first, rest = args[0], args[1:]
    if kind == "Mul" and not isinstance(first, torch.Tensor) and rest:
        first, rest = rest[0], (first, *rest[1:])  # 2 * x
    if kind == "Permute" and rest and all(isinstance(v, int) for v in rest):
        rest = (tuple(rest),)                      # x.permute(0, 2, 3, 1)
    names = [p for p, _ in params]
    if kind == "reshape":  # view(n, -1) / view(*sizes) / reshape(x, shape)
        step = (*_reshape(first, result, what), [first])
        if _is_view(first, result):
            return [step]
        return [("Contiguous", {}, [first]), (step[0], step[1], None)]
    if len(rest) > len(names) or set(kwargs) - set(names):
        raise SymcnnError(f"cannot map {what}: unexpected arguments")
    bound = {**dict(params), **dict(zip(names, rest)), **kwargs, **fixed}
    if any(v is REQUIRED for v in bound.values()):
        raise SymcnnError(f"cannot map {what}: an argument is missing")
    tensors = list(first) if kind == "Concat" else [first]
    if kind == "Add" or (kind == "Mul" and isinstance(bound["other"], torch.Tensor)):
        tensors.append(bound.pop("other"))
    if not all(isinstance(x, torch.Tensor) for x in tensors):
        raise SymcnnError(f"cannot map {what} with a number where symcnn needs a tensor")
    rank = tensors[0].dim()
    special = _SPECIAL.get(kind)
    if special is not None:
        kind, bound = special(bound, rank, what)
    if kind == "Add":
        if not same(bound["alpha"], 1):
            raise SymcnnError(f"cannot map {what} with alpha={bound['alpha']!r}")
        return [("Add", ({"inplace": True} if bound.get("inplace") else {}), tensors)]
    if kind in ("Concat", "Flatten"):
        dim = bound["dim" if kind == "Concat" else "start_dim"]
        if dim % rank == 0:
            raise SymcnnError(f"cannot map {what}: it works across the batch axis (dim {dim})")
    fields = {f.name for f in dataclasses.fields(LAYER_TYPES[kind])}
    layer_args = {}
    for name, value in bound.items():
        if name in fields:
            layer_args[name] = value
        elif name not in IGNORED and not same(value, dict(params).get(name)):
            raise SymcnnError(f"cannot map {what} with {name}={value!r}")
    return [(kind, finish(kind, layer_args, what), tensors)]


def _mul(bound: dict, rank: int, what: str) -> tuple[str, dict]:
    other = bound.get("other")
    if other is not None and not _number(other):
        raise SymcnnError(f"cannot map {what}: it multiplies by {type(other).__name__}")
    return "Mul", bound if other is None else {**bound, "other": float(other)}


def _transpose(bound: dict, rank: int, what: str) -> tuple[str, dict]:
    dims = list(range(rank))
    a, b = bound["dim0"] % rank, bound["dim1"] % rank
    dims[a], dims[b] = dims[b], dims[a]
    return "Permute", {"dims": dims}


def _permute(bound: dict, rank: int, what: str) -> tuple[str, dict]:
    return "Permute", {"dims": [d % rank for d in bound["dims"]]}


def _mean(bound: dict, rank: int, what: str) -> tuple[str, dict]:
    dims = bound["dim"]
    dims = [dims] if isinstance(dims, int) else list(dims)
    return "Mean", {**bound, "dim": [d % rank for d in dims]}


def _layer_norm(bound: dict, rank: int, what: str) -> tuple[str, dict]:
    """``F.layer_norm(x, shape, weight, bias)`` with the weight and bias a module's own
    (torchvision's LayerNorm2d): they are this layer's parameters."""
    weight, bias = bound.pop("weight"), bound.pop("bias")
    if weight is None and bias is not None:
        raise SymcnnError(f"cannot map {what}: a bias without a weight")
    out = {**bound, "normalized_shape": list(bound["normalized_shape"])}
    if weight is None:
        return "LayerNorm", {**out, "elementwise_affine": False}
    return "LayerNorm", {**out, "bias": bias is not None}


def _per_sample(name: str):
    """A PyTorch axis number made positive (the layers count the batch axis too)."""
    def fix(bound: dict, rank: int, what: str) -> tuple[str, dict]:
        return name, {**bound, "dim": bound["dim"] % rank}
    return fix


_SPECIAL = {"Mul": _mul, "transpose": _transpose, "Permute": _permute, "Mean": _mean,
            "LayerNorm": _layer_norm, "Narrow": _per_sample("Narrow"),
            "Select": _per_sample("Select")}


def slice_layer(index, x, what: str) -> tuple[str, dict]:
    """``x[index]`` that keeps the batch axis (``x[:, 0]``, ``x[:, 2:5]``): Select or Narrow."""
    items = index if isinstance(index, tuple) else (index,)
    if not items or items[0] != slice(None) or Ellipsis in items:
        raise SymcnnError(f"cannot map {what}: the index {index!r} does not keep the batch axis "
                          "whole")
    moves = [(d, v) for d, v in enumerate(items) if v != slice(None)]
    if len(moves) != 1:
        raise SymcnnError(f"cannot map {what}: the index {index!r} changes {len(moves)} axes, "
                          "symcnn maps one")
    dim, v = moves[0]
    n = x.shape[dim]
    if isinstance(v, int) and not isinstance(v, bool):
        return "Select", finish("Select", {"dim": dim, "index": v % n if v < 0 else v}, what)
    if isinstance(v, slice) and v.step in (None, 1):
        start, stop, _ = v.indices(n)
        if stop > start:
            return "Narrow", finish("Narrow", {"dim": dim, "start": start,
                                               "length": stop - start}, what)
    raise SymcnnError(f"cannot map {what}: the index {index!r}")

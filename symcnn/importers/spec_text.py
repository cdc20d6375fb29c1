"""Writing an imported PyTorch model as a spec (:mod:`symcnn.importers.torch_fx` traces it): the
``--symbolic`` options that put sizes in symbols, and the TOML text.  No torch here."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from symcnn.errors import SymcnnError
from symcnn.network import INPUT
from symcnn.spec.toml_writer import to_toml

SYMBOLIC_KEYS = ("channels", "input")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_RESERVED = {"floor", "ceil", "min", "max", "b"}


def parse_symbolic(items) -> dict[str, tuple[str, ...]]:
    """The ``symbolic`` options (``"channels=C"``, ``"input=H,W"``, or a dict) as names.

    >>> parse_symbolic(["channels=C", "input=H,W"])
    {'channels': ('C',), 'input': ('H', 'W')}
    """
    if items is None:
        return {}
    if isinstance(items, str):
        items = [items]
    if isinstance(items, Mapping):
        pairs = list(items.items())
    else:
        pairs = [(k.strip(), v) for k, _, v in (str(i).partition("=") for i in items)]
    out: dict[str, tuple[str, ...]] = {}
    for key, value in pairs:
        if key not in SYMBOLIC_KEYS:
            raise SymcnnError(f"{key}: unknown option (known: channels=NAME, "
                              "input=NAME,NAME,...)", argument="symbolic")
        names = tuple(value.split(",")) if isinstance(value, str) else \
            tuple(value) if isinstance(value, (list, tuple)) else (value,)
        names = tuple(n.strip() if isinstance(n, str) else n for n in names)
        for n in names:
            if not isinstance(n, str) or not _NAME.fullmatch(n) or n in _RESERVED:
                raise SymcnnError(f"{key}: {n!r} is not a usable symbol name (a letter, then "
                                  f"letters, digits, _; not {', '.join(sorted(_RESERVED))})",
                                  argument="symbolic")
        if key == "channels" and len(names) != 1:
            raise SymcnnError("channels: give one name, e.g. channels=C", argument="symbolic")
        out[key] = names
    if set(out.get("channels", ())) & set(out.get("input", ())):
        raise SymcnnError("the channel symbol must differ from the input's symbols",
                          argument="symbolic")
    return out


@dataclass
class TracedLayer:
    """One layer as the trace found it, before it is a spec: its type name and the spec
    arguments to write (:func:`symbolize` rewrites them in symbols), the layers it reads, and
    the shapes PyTorch computed.  Not a :class:`symcnn.network.Node`, which holds a built
    :class:`~symcnn.layers.Layer` and no PyTorch shapes."""

    name: str
    type: str
    args: dict
    inputs: tuple[str, ...]
    shape: tuple[int, ...]      # output without the batch axis, as PyTorch computed it
    in_shape: tuple[int, ...]   # first input, likewise


def build_layer(kind: str, args: dict):
    from symcnn.layers import LAYER_TYPES
    return LAYER_TYPES[kind](**{k: tuple(v) if isinstance(v, list) else v for k, v in args.items()})


def multiple_of(value, base: int, name: str):
    """``value`` channels in terms of ``name``, the first convolution's ``base`` channels,
    where ``base`` divides it.

    >>> multiple_of(128, 64, "C"), multiple_of(64, 64, "C"), multiple_of(32, 64, "C")
    ('2*C', 'C', 32)
    """
    if not isinstance(value, int) or value % base:
        return value
    return name if value == base else f"{value // base}*{name}"


def as_written(expr):
    return int(expr) if expr.is_Integer else str(expr)


def symbolize(nodes: list[TracedLayer], shape: tuple[int, ...], options: dict) -> tuple[list, dict, list]:
    """Write sizes in symbols as ``options`` ask; returns the input shape to write, the
    value each symbol had in the traced model, and comment lines saying so."""
    import sympy

    from symcnn.symbols import size

    written, subs, notes = list(shape), {}, []
    if "input" in options:
        names, spatial = options["input"], shape[1:]
        names = names * len(spatial) if len(names) == 1 else names
        if not spatial or len(names) != len(spatial):
            raise SymcnnError(f"input={','.join(options['input'])}: the input "
                              f"{' x '.join(map(str, shape))} has {len(spatial)} spatial axes",
                              argument="symbolic")
        for n, v in zip(names, spatial):
            if subs.setdefault(n, v) != v:
                raise SymcnnError(f"input: {n} would be both {subs[n]} and {v}",
                                  argument="symbolic")
        written = [shape[0], *names]
        notes.append(f"--symbolic input={','.join(options['input'])}: the traced input was "
                     f"{' x '.join(map(str, shape))}.")
    if "channels" in options:
        (c,) = options["channels"]
        convs = [n for n in nodes if n.type.startswith("Conv")]
        if not convs:
            raise SymcnnError("channels: the model has no convolution", argument="symbolic")
        subs[c] = base = convs[0].args["out_channels"]
        notes.append(f"--symbolic channels={c}: {c} = {base}, the out_channels of "
                     f"{convs[0].name!r}; convolutions' out_channels that are multiples of it "
                     f"are written in {c}.")
    if not options:
        return written, subs, notes
    shapes = {INPUT: tuple(size(v) if isinstance(v, str) else sympy.Integer(v) for v in written)}
    for node in nodes:
        ins = [shapes[i] for i in node.inputs]
        if "channels" in options and node.type.startswith("Conv"):
            node.args["out_channels"] = multiple_of(node.args["out_channels"], base, c)
            if node.args.get("groups", 1) == node.in_shape[0] > 1:  # depthwise: groups = C_in
                node.args["groups"] = as_written(ins[0][0])
        if node.type == "LayerNorm":
            n = len(node.args["normalized_shape"])
            node.args["normalized_shape"] = [as_written(e) for e in ins[0][len(ins[0]) - n:]]
        try:
            shapes[node.name] = tuple(build_layer(node.type, node.args).output_shape(*ins))
        except SymcnnError as err:
            raise SymcnnError(f"layer {node.name!r} ({node.type}): {err}",
                              argument="symbolic") from None
    return written, subs, notes


# --------------------------------------------------------------------------- TOML


def write_toml(name: str, description: str, comments: list[str], shape: list, dtype: str,
               layers: list[TracedLayer]) -> str:
    """The spec text of traced ``layers``: ``comments`` as its header, ``inputs`` only where a
    layer does not read the one before it, ``dtype`` only where it is not float32."""
    table: dict = {"shape": list(shape)}
    if dtype != "float32":
        table["dtype"] = dtype
    rows, previous = [], INPUT
    for layer in layers:
        row = {"type": layer.type, "name": layer.name}
        if layer.inputs != (previous,):
            row["inputs"] = list(layer.inputs)
        rows.append(row | layer.args)
        previous = layer.name
    return to_toml({"name": name, "description": description, "input": table, "layers": rows},
                   comments)

"""Spec files: a network described in TOML.

::

    name = "lecture-3d-cnn"
    [input]
    shape = [1, "D", "H", "W"]     # channels first, no batch axis
    dtype = "float32"
    [[layers]]
    type = "Conv3d"                # a torch.nn class name
    name = "L1"                    # optional
    out_channels = "C"             # numbers, or expression strings
    kernel_size = 3

Expression strings are read by :mod:`symcnn.expressions`, never by ``eval``.
An optional ``[published]`` table holds figures printed in a source (a lecture, a
paper) that the report checks against the derivation.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import sympy

from symcnn.errors import SymcnnError
from symcnn.expressions import parse_expression
from symcnn.layers import LAYER_TYPES, Layer
from symcnn.layers.base import to_expr
from symcnn.limits import MAX_DIGITS, MAX_FILE_BYTES, MAX_LAYERS, MAX_REPEAT, MAX_SIZES_VALUES
from symcnn.network import DTYPE_BYTES, INPUT, RESERVED, Network, Node
from symcnn.spec.schema import check_document, check_layer_fields, describe, expect_text
from symcnn.symbols import size

TOP_KEYS = ("name", "description", "input", "blocks", "layers", "published")


@dataclass(frozen=True)
class Spec:
    """A loaded spec: the network and the figures a source printed for it."""

    network: Network
    source: str = "<spec>"
    published: dict = field(default_factory=dict, compare=False)


NODE_KEYS = ("type", "name", "inputs")


def _layer(index: int, table: dict, where: str | None = None) -> tuple[str | None, Layer]:
    where = where or f"layer {index}"
    if not isinstance(table, dict):
        raise SymcnnError("each [[layers]] entry must be a table", layer=where)
    kind = table.get("type")
    if kind is None:
        raise SymcnnError("missing", layer=where, field="type")
    expect_text(kind, "type", where, what="a layer type such as \"Conv2d\"")
    if kind not in LAYER_TYPES:
        raise SymcnnError(f"unknown layer type {kind!r} ({_layer_type_hint(kind)})",
                          layer=where, field="type")
    cls = LAYER_TYPES[kind]
    where = f"{where} ({kind})"
    known = {f.name: f for f in dataclasses.fields(cls)}
    args = {k: v for k, v in table.items() if k not in NODE_KEYS}
    for key in args:
        if key not in known:
            raise SymcnnError(f"unknown field for {kind} (known: {', '.join([*known, *NODE_KEYS[1:]])})",
                              layer=where, field=key)
    for name, f in known.items():
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING \
                and name not in args:
            raise SymcnnError("missing", layer=where, field=name)
    name = table.get("name")
    if name is not None and not isinstance(name, str):
        raise SymcnnError("must be a string", layer=where, field="name")
    try:
        check_layer_fields(cls, args)
        layer = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in args.items()})
    except SymcnnError as err:
        raise err.within(layer=where if name is None else f"{where[:-1]} '{name}')") from None
    return name, layer


def _inputs(table: dict, default: str, where: str) -> tuple[str, ...]:
    inputs = table.get("inputs")
    if inputs is None:
        return (default,)
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
        raise SymcnnError("expected a list of node names, e.g. [\"conv1\", \"input\"]",
                          layer=where, field="inputs")
    return tuple(inputs)


@dataclass(frozen=True)
class _Block:
    """A ``[blocks.NAME]`` definition: layer tables and the size parameters they use."""

    name: str
    params: tuple[str, ...]
    layers: tuple[dict, ...]


BLOCK_INPUT = "in"


def _blocks(table) -> dict[str, _Block]:
    if not isinstance(table, dict):
        raise SymcnnError("must be a table of block definitions", field="blocks")
    out = {}
    for name, body in table.items():
        where = f"block '{name}'"
        if not isinstance(body, dict) or set(body) - {"params", "layers"}:
            raise SymcnnError("a block has `params` (a list of names) and [[blocks.NAME.layers]]",
                              layer=where)
        params = body.get("params", [])
        if not isinstance(params, list) or not all(isinstance(p, str) and p.isidentifier()
                                                   for p in params):
            raise SymcnnError("expected a list of names, e.g. [\"C\", \"stride\"]", layer=where,
                              field="params")
        if "b" in params:
            raise SymcnnError(RESERVED, layer=where, field="params")
        layers = body.get("layers")
        if not isinstance(layers, list) or not layers:
            raise SymcnnError("no layers given", layer=where, field="layers")
        out[name] = _Block(name, tuple(params), tuple(layers))
    return out


def _use_block(index: int, table: dict, blocks: dict[str, _Block], default_input: str,
               count: int, count_before: int = 0) -> list[Node]:
    """The nodes of one ``[[layers]]`` entry with ``block = "NAME"`` (repeated if asked);
    ``count_before`` nodes come before it (the network stays within ``MAX_LAYERS``)."""
    kind = expect_text(table.get("block"), "block", f"layer {index}", what="a block's name")
    where = f"layer {index} (block {kind!r})"
    if kind not in blocks:
        raise SymcnnError(f"unknown block (defined: {', '.join(blocks) or 'none'})", layer=where,
                          field="block")
    block = blocks[kind]
    values = {k: v for k, v in table.items()
              if k not in ("block", "name", "inputs", "repeat", "start")}
    for key in values:
        if key not in block.params:
            raise SymcnnError(f"not a parameter of block {kind!r} (its parameters: "
                              f"{', '.join(block.params) or 'none'})", layer=where, field=key)
    missing = [p for p in block.params if p not in values]
    if missing:
        raise SymcnnError("missing block parameter", layer=where, field=missing[0])
    mapping = {}
    for key, v in values.items():
        try:
            mapping[size(key)] = to_expr(v, key)
        except SymcnnError as err:
            raise err.within(layer=where) from None
    repeat, start = table.get("repeat", 1), table.get("start", 0)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise SymcnnError("must be a whole number >= 1", layer=where, field="repeat")
    if repeat > MAX_REPEAT:
        raise SymcnnError(f"at most {MAX_REPEAT}, got {repeat}", layer=where, field="repeat")
    if count_before + repeat * len(block.layers) > MAX_LAYERS:
        raise SymcnnError(f"the network would have more than {MAX_LAYERS} layers", layer=where,
                          field="repeat")
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise SymcnnError("must be a whole number >= 0 (the number of the first repeat)",
                          layer=where, field="start")
    base = table.get("name", f"{kind}_{count + 1}")
    if not isinstance(base, str):
        raise SymcnnError("must be a string", layer=where, field="name")
    previous, *others = _inputs(table, default_input, where)
    if others and repeat > 1:
        raise SymcnnError("a block with several inputs cannot be repeated", layer=where,
                          field="repeat")
    args = tuple((p, mapping[size(p)]) for p in block.params)
    nodes: list[Node] = []
    for r in range(repeat):
        use = f"{base}.{start + r}" if repeat > 1 or "start" in table else base
        # "in" is the block's (first) input; further inputs are "in2", "in3", ...
        local = {BLOCK_INPUT: previous, **{f"in{k}": o for k, o in enumerate(others, start=2)}}
        last = previous
        for j, inner in enumerate(block.layers, start=1):
            inner_where = f"{where}, layer {j}"
            name, layer = _layer(j, inner, inner_where)
            try:
                layer = layer.subs(mapping) if mapping else layer
            except SymcnnError as err:
                raise err.within(layer=inner_where) from None
            name = name or f"{layer.type_name.lower()}_{j}"
            if name == BLOCK_INPUT or (name.startswith(BLOCK_INPUT) and name[2:].isdigit()):
                raise SymcnnError(f"{BLOCK_INPUT!r} names the block's input; choose another name",
                                  layer=inner_where, field="name")
            inputs = [last]  # by default, the layer before (the block's input for the first)
            if "inputs" in inner:
                inputs = []
                for ref in _inputs(inner, "", inner_where):
                    if ref not in local:
                        raise SymcnnError(f"{ref!r} is not an earlier layer of the block (or "
                                          f"{BLOCK_INPUT!r}, the block's input, or in2, in3, ... "
                                          "its further inputs)",
                                          layer=inner_where, field="inputs")
                    inputs.append(local[ref])
            full = f"{use}.{name}"
            nodes.append(Node(full, layer, tuple(inputs), use, kind, args))
            local[name] = last = full
        previous = last
    return nodes


def _nodes(layers: list, blocks: dict[str, _Block]) -> tuple[Node, ...]:
    nodes: list[Node] = []
    uses = 0
    for index, table in enumerate(layers, start=1):
        previous = nodes[-1].name if nodes else INPUT
        if isinstance(table, dict) and "block" in table:
            nodes += _use_block(index, table, blocks, previous, uses, len(nodes))
            uses += 1
            continue
        if len(nodes) >= MAX_LAYERS:
            raise SymcnnError(f"more than {MAX_LAYERS} layers", layer=f"layer {index}")
        name, layer = _layer(index, table)
        name = name or f"{layer.type_name.lower()}_{len(nodes) + 1}"
        nodes.append(Node(name, layer, _inputs(table, previous, f"layer {index}")))
    return tuple(nodes)


def _input(table) -> tuple[tuple, str]:
    if not isinstance(table, dict):
        raise SymcnnError("missing [input] table with a shape", layer="input", field="shape")
    unknown = set(table) - {"shape", "dtype"}
    if unknown:
        raise SymcnnError("unknown field (known: shape, dtype)", layer="input",
                          field=sorted(unknown)[0])
    shape = table.get("shape")
    if not isinstance(shape, list) or not shape:
        raise SymcnnError("expected a list such as [3, 224, 224] (channels first, no batch)",
                          layer="input", field="shape")
    dtype = expect_text(table.get("dtype", "float32"), "dtype", "input", what="a dtype name")
    if dtype not in DTYPE_BYTES:
        raise SymcnnError(f"unknown dtype {dtype!r} (known: {', '.join(DTYPE_BYTES)})",
                          layer="input", field="dtype")
    return tuple(shape), dtype


def read_toml(text: str, top_keys, source: str, hints=None) -> tuple[dict, str]:
    """TOML text as a table that has only ``top_keys`` at its top, and its ``name`` (the
    file's stem when it has none); ``hints`` maps a stray key to a better message."""
    if len(text) > MAX_FILE_BYTES:
        raise SymcnnError(f"longer than {MAX_FILE_BYTES // 2**20} MiB")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SymcnnError(f"invalid TOML: {err}") from None
    except ValueError:  # a whole number past Python's limit on converting digits
        raise SymcnnError(f"invalid TOML: a number of more than {MAX_DIGITS} digits") from None
    except RecursionError:
        raise SymcnnError("invalid TOML: arrays or tables nested too deeply") from None
    check_document(data)
    for key in data:
        if key not in top_keys:
            raise SymcnnError((hints or {}).get(key) or
                              f"unknown top-level key (known: {', '.join(top_keys)})", field=key)
    name = data.get("name", Path(source).stem)
    if not isinstance(name, str) or not name:
        raise SymcnnError("must be a non-empty string", field="name")
    return data, name


def parse_spec(text: str, source: str = "<spec>", overrides: dict | None = None) -> Spec:
    """Read a spec from TOML text; ``overrides`` maps symbols to values."""
    try:
        family = "this is an exam family, not a spec: use `symcnn exam` with it"
        data, name = read_toml(text, TOP_KEYS, source,
                               hints=dict.fromkeys(("variables", "exam", "draw"), family))
        shape, dtype = _input(data.get("input"))
        layers = data.get("layers")
        if not isinstance(layers, list) or not layers:
            raise SymcnnError("no [[layers]] given", field="layers")
        nodes = _nodes(layers, _blocks(data.get("blocks", {})))
        description = expect_text(data.get("description", ""), "description")
        try:
            network = Network(name, shape, nodes, dtype, description)
        except SymcnnError as err:
            raise err.within(layer="input") from None
        if overrides:
            unknown = set(overrides) - network.free_symbols
            if unknown:
                names = ", ".join(sorted(map(str, network.free_symbols))) or "none"
                raise SymcnnError(f"{sorted(map(str, unknown))[0]}: no such symbol in the "
                                  f"spec (its symbols: {names})", argument="overrides")
            network = network.subs(overrides)
        published = data.get("published", {})
        if not isinstance(published, dict):
            raise SymcnnError("must be a table", field="published")
        return Spec(network, source, published)
    except SymcnnError as err:
        raise err.within(source=source) from None


def load_spec(path, overrides: dict | None = None) -> Spec:
    """Read a spec file.  Errors name the file, the layer and the field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SymcnnError(f"cannot read spec: {err.strerror}", source=str(path)) from None
    except UnicodeDecodeError:
        raise SymcnnError("not a UTF-8 text file", source=str(path)) from None
    return parse_spec(text, str(path), overrides)


def parse_size_range(item: str) -> tuple[str, range]:
    """``"H=1:512"`` (or ``"H=16:512:16"``) as a name and the range of values, ends included.

    >>> parse_size_range("H=16:64:16")
    ('H', range(16, 65, 16))
    """
    name, sep, spec = item.partition("=")
    parts = spec.split(":")
    if not sep or not name.strip().isidentifier() or len(parts) not in (2, 3) \
            or not all(p.strip().isascii() and p.strip().isdigit() and len(p.strip()) <= MAX_DIGITS
                       for p in parts):
        raise SymcnnError(f"{describe(item)}: write NAME=START:STOP or NAME=START:STOP:STEP, "
                          "e.g. H=1:512", argument="sizes")
    start, stop, *step = (int(p) for p in parts)
    if start < 1 or stop < start or (step and step[0] < 1):
        raise SymcnnError(f"{describe(item)}: need 1 <= START <= STOP and STEP >= 1", argument="sizes")
    values = range(start, stop + 1, step[0] if step else 1)
    if len(values) > MAX_SIZES_VALUES:
        raise SymcnnError(f"{describe(item)}: {len(values):,} values, at most {MAX_SIZES_VALUES:,}",
                          argument="sizes")
    return name.strip(), values


def parse_assignments(items) -> dict[sympy.Symbol, sympy.Expr]:
    """``["C=30", "D=2*K"]`` as ``{C: 30, D: 2*K}``.

    >>> parse_assignments(["C=30"])
    {C: 30}
    """
    out = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise SymcnnError(f"{describe(item)}: write NAME=VALUE, e.g. C=30", argument="overrides")
        if size(name) in out:
            raise SymcnnError(f"{name} is given twice", argument="overrides")
        try:
            out[size(name)] = parse_expression(value)
        except SymcnnError as err:
            raise SymcnnError(f"{name}: {err}", argument="overrides") from None
    return out


def _layer_type_hint(kind: str) -> str:
    """The close names of a mistyped layer type, or where the list is: the known types'
    names alone would make a 600-character line."""
    by_lower = {name.lower(): name for name in sorted(LAYER_TYPES)}
    close = difflib.get_close_matches(kind.lower(), by_lower, n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(sorted(by_lower[c] for c in close)) + "?"
    return (f"symcnn knows {len(LAYER_TYPES)} torch.nn layer types, such as Conv2d, Linear and "
            "ReLU: the section Spec files of README.md lists them")

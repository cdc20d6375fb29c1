"""Calibration profiles: the kernel buffers of a spec's layers, measured on one machine.

``symcnn calibrate`` (:mod:`symcnn.memory.calibrate`) runs each distinct layer configuration of
a spec alone in PyTorch and writes what its kernels take beyond what the ``pytorch``
convention counts, per phase, as ``fixed + per_sample * b`` bytes.  A :class:`Profile` is that
file read back and checked; given as :attr:`symcnn.options.MemoryOptions.profile`, its
workspace replaces the built-in kernel rules (:mod:`symcnn.memory.pytorch.workspace`) for every
node whose configuration it holds, in any spec.

A configuration is the layer type, its fields (the inferred ``in_channels`` and the like left
out), the shapes of its inputs (no batch axis), the bytes of an input element and whether the
node reads the network input (then no input gradient is made): :func:`layer_key`.

The file is JSON, checked before use (:func:`parse_profile`): every key, type and bound, so
that a hostile file fails in one line naming the entry and field.

>>> text = '''{"symcnn_profile": 1, "device": "cpu", "precision": "fp32", "cpu": "AVX2",
...   "threads": 2, "torch": "2.13.0", "batch_sizes": [2, 4], "layers": [
...   {"type": "ReLU", "fields": {"inplace": false}, "input_shapes": [[8]], "input_bytes": 4,
...    "first": false, "forward": [0, 0], "backward": [0, 32], "inference": [0, 0]}]}'''
>>> p = parse_profile(text, "demo.json")
>>> p.lookup(layer_key("ReLU", {"inplace": False}, [[8]], 4, False), "backward")
(0, 32)
>>> parse_profile(text.replace('"threads": 2', '"threads": "two"'), "demo.json")
Traceback (most recent call last):
...
symcnn.errors.SymcnnError: demo.json: field 'threads': expected a whole number or null, got 'two'
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import sympy

from symcnn.errors import SymcnnError
from symcnn.layers import INFERRED, LAYER_TYPES, Layer

#: The format of the files this module reads and :mod:`symcnn.memory.calibrate` writes.
VERSION = 1
#: The phases a profile gives workspace for: a training step's forward call and backward
#: function, and the forward call of an eval-mode ``no_grad`` pass.
PHASES = ("forward", "backward", "inference")
#: Bytes of a profile file, layer configurations in it, and the largest workspace (in bytes,
#: fixed or per sample, either sign) it may give.
MAX_PROFILE_BYTES = 16 * 2**20
MAX_CONFIGURATIONS = 5_000
MAX_WORKSPACE = 2**50
_TOP = {"symcnn_profile": int, "device": str, "precision": str, "cpu": (str, type(None)),
        "threads": (int, type(None)), "torch": str, "batch_sizes": list, "layers": list}
_OPTIONAL = {"machine": dict, "spec": str, "created": str, "note": str}
_ENTRY = {"type": str, "fields": dict, "input_shapes": list, "input_bytes": int, "first": bool}
_ENTRY_OPTIONAL = {"nodes": list, "measured": dict, "modelled": dict, "batch_1": dict}
_KINDS = {int: "a whole number", str: "a string", list: "a list", dict: "a table",
          bool: "true or false", type(None): "null"}

Workspace = tuple[int, int]


@dataclass(frozen=True)
class Profile:
    """A calibration profile: where it was measured and each configuration's workspace.

    ``entries`` maps :func:`layer_key` to the ``(fixed, per_sample)`` bytes of each phase
    (:data:`PHASES`; None: not measured), then to the bytes measured at batch 1 in each.
    ``source`` names the file it was read from."""

    device: str
    precision: str
    cpu: str | None
    threads: int | None
    torch: str
    batch_sizes: tuple[int, ...]
    entries: tuple[tuple[str, tuple[Workspace | None, ...]], ...]
    source: str = field(default="", compare=False)
    _index: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._index.update(self.entries)

    def lookup(self, key: str, phase: str, batch=None) -> Workspace | None:
        """``(fixed, per_sample)`` bytes of ``phase`` for configuration ``key``, or None when
        the profile does not hold it; at ``batch`` 1 the workspace measured there, where the
        profile has it (PyTorch may pick other kernels for one sample)."""
        found = self._index.get(key)
        if found is None:
            return None
        i = PHASES.index(phase)
        if batch == 1 and found[len(PHASES) + i] is not None:
            return found[len(PHASES) + i], 0
        return found[i]

    def holds(self, key: str) -> bool:
        return key in self._index

    def workspace(self, layer: Layer, input_shapes, input_bytes: int, first: bool,
                  phase: str, batch=None) -> Workspace | None:
        """:meth:`lookup` of a node: its layer, the shapes and element size of its inputs,
        whether it reads the network input."""
        return self.lookup(node_key(layer, input_shapes, input_bytes, first), phase, batch)

    @property
    def name(self) -> str:
        """The name of the file it was read from (without its folder)."""
        return Path(self.source).name if self.source else "profile"

    def describe(self) -> str:
        """One line: which file, and where it was measured."""
        where = self.device if self.cpu is None else f"{self.device} {self.cpu}"
        threads = f", {self.threads} threads" if self.threads else ""
        return (f"{self.source or 'profile'} ({where}{threads}, {self.precision}, torch "
                f"{self.torch}, {len(self.entries)} layer configurations)")


def json_value(value):
    """A layer field as JSON: sympy integers as ints, other sympy numbers and symbols as
    strings, tuples as lists."""
    if isinstance(value, (tuple, list)):
        return [json_value(v) for v in value]
    if isinstance(value, sympy.Basic):
        return int(value) if value.is_Integer else str(value)
    return value


def layer_fields(layer: Layer) -> dict:
    """The fields of ``layer`` that make its configuration, as JSON values (the inferred ones,
    which the input shape decides, left out)."""
    return {f.name: json_value(getattr(layer, f.name)) for f in dataclasses.fields(layer)
            if f.name not in INFERRED}


def layer_key(type_name: str, fields: dict, input_shapes, input_bytes: int, first: bool) -> str:
    """The configuration key of a node: equal for equal configurations in any spec."""
    return json.dumps([type_name, fields, json_value(list(input_shapes)), input_bytes,
                       bool(first)], sort_keys=True, separators=(",", ":"))


def node_key(layer: Layer, input_shapes, input_bytes: int, first: bool) -> str:
    """:func:`layer_key` of a layer object."""
    return layer_key(layer.type_name, layer_fields(layer), input_shapes, input_bytes, first)


def profile_text(doc: dict) -> str:
    """A profile document as the JSON text of its file: a line per field and per layer
    configuration."""
    lines = [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in doc.items() if k != "layers"]
    layers = [f"  {json.dumps(e)}" for e in doc.get("layers", [])]
    return "{\n" + "\n".join(lines) + '\n "layers": [\n' + ",\n".join(layers) + "\n ]\n}\n"


def read_profile(path) -> Profile:
    """The profile in the file ``path``, checked (:func:`parse_profile`)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_PROFILE_BYTES + 1)
    except OSError as err:
        raise SymcnnError(f"cannot read the profile: {err.strerror or err}",
                          source=str(path)) from None
    if len(data) > MAX_PROFILE_BYTES:
        raise SymcnnError(f"a profile of more than {MAX_PROFILE_BYTES:,} bytes",
                          source=str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SymcnnError("not UTF-8 text", source=str(path)) from None
    return parse_profile(text, str(path))


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number a profile may hold")


def _unique(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} appears twice")
        out[key] = value
    return out


def parse_profile(text: str, source: str = "profile") -> Profile:
    """A :class:`Profile` from the JSON ``text``; a one-line :class:`SymcnnError` naming
    ``source``, the entry and the field for anything the format does not allow."""
    try:
        doc = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique)
    except RecursionError:
        raise SymcnnError("not a profile: nested too deeply", source=source) from None
    except ValueError as err:
        raise SymcnnError(f"not a profile: {str(err).splitlines()[0]}", source=source) from None
    try:
        return _profile(doc, source)
    except SymcnnError as err:
        raise err.within(source=source) from None


def _expect(table: dict, key: str, kinds, where: str | None = None, required: bool = True):
    if key not in table:
        if required:
            raise SymcnnError("missing", layer=where, field=key)
        return None
    value = table[key]
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        wanted = " or ".join(_KINDS[k] for k in kinds)
        raise SymcnnError(f"expected {wanted}, got {_shown(value)}", layer=where, field=key)
    return value


def _shown(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _whole(value, where, name, least: int, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SymcnnError(f"expected a whole number, got {_shown(value)}", layer=where,
                          field=name)
    if not least <= value <= most:
        raise SymcnnError(f"must be between {least} and {most:,}, got {_shown(value)}",
                          layer=where, field=name)
    return value


def _profile(doc, source: str) -> Profile:
    if not isinstance(doc, dict):
        raise SymcnnError(f"not a profile: expected a JSON object, got {_shown(doc)}")
    for key, kinds in _TOP.items():
        _expect(doc, key, kinds)
    for key, kinds in _OPTIONAL.items():
        _expect(doc, key, kinds, required=False)
    for key in ("spec", "created", "note"):
        if len(doc.get(key, "")) > 2_000:
            raise SymcnnError("longer than 2,000 characters", field=key)
    machine = doc.get("machine", {})
    if len(machine) > 32 or not all(
            isinstance(v, (str, int, type(None))) and len(str(v)) <= 200 for v in machine.values()):
        raise SymcnnError("expected at most 32 names, each a string, a number or null of at "
                          "most 200 characters", field="machine")
    unknown = sorted(set(doc) - set(_TOP) - set(_OPTIONAL))
    if unknown:
        raise SymcnnError("not a field of a profile", field=unknown[0])
    if doc["symcnn_profile"] != VERSION:
        raise SymcnnError(f"format {_shown(doc['symcnn_profile'])} is not one this symcnn "
                          f"reads (it reads {VERSION})", field="symcnn_profile")
    for key, known in (("device", ("cpu", "cuda")), ("precision", ("fp32", "bf16", "fp16"))):
        if doc[key] not in known:
            raise SymcnnError(f"expected one of {', '.join(known)}, got {_shown(doc[key])}",
                              field=key)
    if doc["threads"] is not None:
        _whole(doc["threads"], None, "threads", 1, 4096)
    batches = doc["batch_sizes"]
    if len(batches) != 2:
        raise SymcnnError(f"expected two batch sizes, got {len(batches)}", field="batch_sizes")
    batches = tuple(_whole(v, None, "batch_sizes", 1, 2**20) for v in batches)
    if len(doc["layers"]) > MAX_CONFIGURATIONS:
        raise SymcnnError(f"more than {MAX_CONFIGURATIONS:,} layer configurations",
                          field="layers")
    entries = {}
    for i, entry in enumerate(doc["layers"], start=1):
        key, workspace = _entry(entry, f"layers[{i}]")
        entries[key] = workspace
    for key in ("torch", "cpu"):
        if isinstance(doc[key], str) and len(doc[key]) > 100:
            raise SymcnnError("longer than 100 characters", field=key)
    return Profile(doc["device"], doc["precision"], doc["cpu"], doc["threads"], doc["torch"],
                   batches, tuple(entries.items()), source)


def _entry(entry, where: str) -> tuple[str, tuple[Workspace | None, ...]]:
    """One layer configuration: its key and its workspace per phase."""
    if not isinstance(entry, dict):
        raise SymcnnError(f"expected a table, got {_shown(entry)}", layer=where)
    for key, kinds in _ENTRY.items():
        _expect(entry, key, kinds, where)
    for key, kinds in _ENTRY_OPTIONAL.items():
        _expect(entry, key, kinds, where, required=False)
    unknown = sorted(set(entry) - set(_ENTRY) - set(_ENTRY_OPTIONAL) - set(PHASES))
    if unknown:
        raise SymcnnError("not a field of a layer configuration", layer=where,
                          field=unknown[0])
    if entry["type"] not in LAYER_TYPES:
        raise SymcnnError(f"unknown layer type {_shown(entry['type'])}", layer=where,
                          field="type")
    where = f"{where} ({entry['type']})"
    shapes = entry["input_shapes"]
    if not shapes or len(shapes) > 64 or not all(
            isinstance(s, list) and 1 <= len(s) <= 8 for s in shapes):
        raise SymcnnError("expected 1 to 64 shapes, each a list of 1 to 8 sizes", layer=where,
                          field="input_shapes")
    for s in shapes:
        for v in s:
            _whole(v, where, "input_shapes", 1, 2**40)
    _whole(entry["input_bytes"], where, "input_bytes", 1, 8)
    nodes = entry.get("nodes", [])
    if len(nodes) > 5_000 or not all(isinstance(n, str) and len(n) <= 200 for n in nodes):
        raise SymcnnError("expected at most 5,000 names of at most 200 characters",
                          layer=where, field="nodes")
    for name in ("measured", "modelled"):
        for phase, values in entry.get(name, {}).items():
            if phase not in PHASES or not isinstance(values, list) or len(values) != 2:
                raise SymcnnError(f"expected {', '.join(PHASES)}, each two byte counts",
                                  layer=where, field=name)
            for v in values:
                _whole(v, where, name, 0, 2**62)
    fields = entry["fields"]
    if len(json.dumps(fields)) > 2_000:
        raise SymcnnError("longer than 2,000 characters", layer=where, field="fields")
    workspace = []
    for phase in PHASES:
        value = entry.get(phase)
        if value is None:
            workspace.append(None)
            continue
        if not isinstance(value, list) or len(value) != 2:
            raise SymcnnError(f"expected [fixed, per_sample] bytes, got {_shown(value)}",
                              layer=where, field=phase)
        workspace.append(tuple(_whole(v, where, phase, -MAX_WORKSPACE, MAX_WORKSPACE)
                               for v in value))
    one = entry.get("batch_1", {})
    if set(one) - set(PHASES):
        raise SymcnnError(f"expected {', '.join(PHASES)}", layer=where, field="batch_1")
    workspace += [None if one.get(phase) is None else
                  _whole(one[phase], where, "batch_1", -MAX_WORKSPACE, MAX_WORKSPACE)
                  for phase in PHASES]
    key = layer_key(entry["type"], fields, shapes, entry["input_bytes"], entry["first"])
    return key, tuple(workspace)

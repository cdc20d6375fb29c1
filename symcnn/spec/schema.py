"""The schema of spec and family files: what each field may hold, checked before it is used.

Two passes, both before any value reaches a layer, sympy or an exam:

* :func:`check_document` walks the whole TOML document once, without recursion: no value
  nested deeper than :data:`~symcnn.limits.MAX_TOML_DEPTH`, no ``nan`` or ``inf``, no whole
  number of :data:`~symcnn.limits.MAX_DIGITS` digits or more.  An error names the layer (or
  block layer, question, table) and the field where the value sits.
* :func:`check_layer_fields` checks each field of a layer table against the type the layer
  class declares for it (``eps: float``, ``inplace: bool``, ``kernel_size: tuple[...]``):
  the layer classes are the schema of ``[[layers]]``, so a new field is checked as soon as it
  is declared.  Ranges (``>= 1``, a probability) are the layer's own checks.

The names of things (``type``, ``dtype``, ``block``, a question's ``kind``) are read with
:func:`expect_text`, so a list or table there is a one-line error, not a failed lookup.

>>> check_document({"layers": [{"type": "ReLU", "eps": float("nan")}]})
Traceback (most recent call last):
...
symcnn.errors.SymcnnError: layer 1: field 'eps': nan and inf are not sizes or settings
"""

from __future__ import annotations

import dataclasses
import math
import re

from symcnn.errors import SymcnnError
from symcnn.limits import MAX_DIGITS, MAX_TOML_DEPTH, too_large

#: How each top-level list of tables names its entries in errors.
_ENTRY_NAMES = {"layers": "layer", "questions": "question"}


def _where(path: tuple) -> tuple[str | None, str | None]:
    """The layer and the field of a value at ``path`` (keys and 0-based list positions):
    ``("layers", 1, "eps")`` is layer 2, field ``eps``."""
    layer, rest = None, list(path)
    if len(rest) >= 2 and rest[0] == "layers" and isinstance(rest[1], int):
        layer, rest = f"layer {rest[1] + 1}", rest[2:]
    elif len(rest) >= 4 and rest[0] == "blocks" and rest[2] == "layers" and isinstance(rest[3], int):
        layer, rest = f"block '{rest[1]}', layer {rest[3] + 1}", rest[4:]
    elif len(rest) >= 3 and rest[:2] == ["exam", "questions"] and isinstance(rest[2], int):
        layer, rest = f"question {rest[2] + 1}", rest[3:]
    elif len(rest) >= 2 and rest[0] in ("input", "draw", "variables", "published", "exam"):
        layer, rest = rest[0], rest[1:]
    field = ""
    for part in rest:
        if isinstance(part, int):
            field += f"[{part + 1}]"
        else:
            field += f".{part}" if field else str(part)
    return layer, field or None


def check_document(data: dict) -> None:
    """Every value of a parsed TOML document within the limits (see the module)."""
    stack = [((), data, 1)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_TOML_DEPTH:
                layer, field = _where(path)
                raise SymcnnError(f"arrays and tables nested more than {MAX_TOML_DEPTH} deep",
                                  layer=layer, field=field)
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend(((*path, k), v, depth + 1) for k, v in items)
        elif isinstance(value, float) and not math.isfinite(value):
            layer, field = _where(path)
            raise SymcnnError("nan and inf are not sizes or settings", layer=layer, field=field)
        elif isinstance(value, int) and not isinstance(value, bool) and too_large(value):
            layer, field = _where(path)
            raise SymcnnError(f"a number of more than {MAX_DIGITS} digits", layer=layer,
                              field=field)


def expect_text(value, field: str, layer: str | None = None, *, what: str = "a string"):
    """``value`` when it is a string (a name, a type, a dtype); a one-line error otherwise."""
    if not isinstance(value, str):
        raise SymcnnError(f"expected {what}, got {describe(value)}", layer=layer, field=field)
    return value


def describe(value) -> str:
    """A short description of a TOML value for error messages (a list is not printed whole)."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


#: The TOML value types each declared field type admits (before the layer checks ranges).
_ADMITS = (
    (re.compile(r"\bbool\b"), (bool,), "true or false"),
    (re.compile(r"\bfloat\b"), (int, float), "a number"),
    (re.compile(r"\bint\b"), (int,), "a whole number"),
    (re.compile(r"\bstr\b"), (str,), "a string"),
    (re.compile(r"sympy\.Expr"), (int, float, str), "a number or an expression string"),
)


def _admitted(annotation: str) -> tuple[tuple[type, ...], list[str], bool]:
    """The scalar types, their descriptions, and whether a list (one value per axis) is
    allowed, for a field declared as ``annotation``."""
    per_axis = annotation.startswith("tuple[") or "| tuple[" in annotation
    scalar = re.sub(r"tuple\[[^\]]*\]", "", annotation)
    types: tuple[type, ...] = ()
    words = []
    for pattern, admits, word in _ADMITS:
        if pattern.search(scalar):
            types += admits
            words.append(word)
    if per_axis:
        types += (int, float, str)
        words.append("a number, an expression string or a list of them (one per axis)")
    return types, words, per_axis


def _admits(value, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types
    return isinstance(value, types)


def check_layer_fields(cls: type, args: dict) -> None:
    """Each field of a layer table has a value of the type ``cls`` declares for it."""
    declared = {f.name: f.type for f in dataclasses.fields(cls)}
    for name, value in args.items():
        annotation = declared.get(name)
        if not isinstance(annotation, str):
            continue
        types, words, per_axis = _admitted(annotation)
        if isinstance(value, list) and per_axis:
            bad = [v for v in value if not _admits(v, (int, float, str))]
            if bad:
                raise SymcnnError(f"expected numbers or expression strings in the list, got "
                                  f"{describe(bad[0])}", field=name)
            continue
        if types and not _admits(value, types):
            raise SymcnnError(f"expected {' or '.join(dict.fromkeys(words))}, got "
                              f"{describe(value)}", field=name)

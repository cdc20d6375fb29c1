"""Writing TOML: the one writer of every spec file symcnn writes (``symcnn import``, the drawn
spec of each exam variant).

Every scalar and every key is written by :mod:`tomli_w` (the maintained writer that pairs with
the standard library's :mod:`tomllib`, which only reads), so escaping is its; the layout is
the one people write spec files in, which tomli-w's own cannot give (it writes every array one
item per line, and an array of short tables as inline tables above ``[input]``): plain values
first, arrays on one line, then each table as a ``[section]`` and each array of tables as
``[[sections]]``.  tomli-w writes no comments; ``comments`` become ``#`` lines at the top.
Whatever is written reads back with :mod:`tomllib` to the same data.

>>> print(to_toml({"name": "n", "input": {"shape": [1, 8]},
...                "layers": [{"type": "ReLU"}, {"type": "Flatten"}]},
...               comments=["made by hand"]), end="")
# made by hand
name = "n"
<BLANKLINE>
[input]
shape = [1, 8]
<BLANKLINE>
[[layers]]
type = "ReLU"
<BLANKLINE>
[[layers]]
type = "Flatten"
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import tomli_w

from symcnn.errors import SymcnnError

#: What a TOML comment may not hold: control characters other than tab (a newline ends it).
_NOT_IN_COMMENT = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def comment_lines(comments: Iterable[str]) -> str:
    """``comments`` as TOML comment lines, one per comment; a character a comment may not
    hold (a newline, another control character) becomes a space.

    >>> comment_lines(["two\\nlines", "tab\\tkept"])
    '# two lines\\n# tab\\tkept\\n'
    """
    return "".join("# " + _NOT_IN_COMMENT.sub(" ", c) + "\n" for c in comments)


def to_toml(data: Mapping, comments: Iterable[str] = ()) -> str:
    """TOML text for ``data`` (tables, arrays, strings, numbers, booleans), headed by
    ``comments``; a value TOML cannot hold (``None``, an object) is a one-line
    :class:`~symcnn.errors.SymcnnError`."""
    try:
        sections = _table(data, ())
    except (TypeError, ValueError) as err:
        raise SymcnnError(f"cannot write TOML: {err}") from None
    return comment_lines(comments) + "\n".join(s for s in sections if s)


def _key(key) -> str:
    """A key, bare where TOML allows, else quoted by tomli-w."""
    if not isinstance(key, str):
        raise TypeError(f"a TOML key must be a string, not {type(key).__name__}")
    return key if _BARE_KEY.fullmatch(key) else tomli_w.dumps({key: 0})[:-len(" = 0\n")]


def _value(value) -> str:
    """A value on one line: a scalar as tomli-w writes it, arrays and tables inline."""
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return tomli_w.dumps({"v": value})[len("v = "):-1]


def _is_table_array(value) -> bool:
    return isinstance(value, list | tuple) and bool(value) \
        and all(isinstance(v, Mapping) for v in value)


def _table(data: Mapping, path: tuple[str, ...], header: str | None = None) -> list[str]:
    """The sections of the table at ``path``: its own (under ``header``), then its tables'."""
    own = [f"{_key(k)} = {_value(v)}\n" for k, v in data.items()
           if not isinstance(v, Mapping) and not _is_table_array(v)]
    sections = [(header or "") + "".join(own)]
    for k, v in data.items():
        sub = (*path, _key(k))
        if isinstance(v, Mapping):
            sections += _table(v, sub, f"[{'.'.join(sub)}]\n")
        elif _is_table_array(v):
            for item in v:
                sections += _table(item, sub, f"[[{'.'.join(sub)}]]\n")
    return sections

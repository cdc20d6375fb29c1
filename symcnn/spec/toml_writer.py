"""Writing TOML: the one writer of every spec file symcnn writes (``symcnn import``, the drawn
spec of each exam variant).

The text is :func:`tomli_w.dumps`'s (the maintained writer that pairs with the standard
library's :mod:`tomllib`, which only reads), so whatever it writes reads back to the same data.
tomli-w writes no comments; ``comments`` become ``#`` lines at the top.  Its layout is its own:
every non-empty array is written one item per line, and an array of tables whose tables are
all short and flat is written as an array of inline tables rather than ``[[...]]`` sections.
Both read back to the same data, and so to the same network.

>>> print(to_toml({"name": "n", "input": {"shape": [1, 8]}}, comments=["made by hand"]), end="")
# made by hand
name = "n"
<BLANKLINE>
[input]
shape = [
    1,
    8,
]
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import tomli_w

from symcnn.errors import SymcnnError

#: What a TOML comment may not hold: control characters other than tab (a newline ends it).
_NOT_IN_COMMENT = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


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
        body = tomli_w.dumps(data)
    except (TypeError, ValueError) as err:
        raise SymcnnError(f"cannot write TOML: {err}") from None
    return comment_lines(comments) + body

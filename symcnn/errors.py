"""The one exception class of symcnn."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

#: The longest quoted name an error message shows whole (a longer one is shortened).
NAME_WIDTH = 60
_QUOTED = re.compile(rf"'[^'\n]{{{NAME_WIDTH + 1},}}'|\"[^\"\n]{{{NAME_WIDTH + 1},}}\"")


def shorten(text: str, width: int = NAME_WIDTH) -> str:
    """``text`` cut to ``width`` characters, its start and end kept around an ellipsis, and
    made one line: a name quoted in an error stays readable however long it is.

    >>> shorten("x" * 100, 20)
    'xxxxxxxxxxxx…xxxxxxx'
    >>> shorten("two\\nlines")
    'two lines'
    """
    text = "".join(" " if c.isspace() else c if c.isprintable() else "\ufffd" for c in text)
    if len(text) <= width:
        return text
    head = (width - 1) * 2 // 3
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def _shorten_quoted(part: str) -> str:
    """``part`` on one line, each quoted name in it longer than NAME_WIDTH shortened.

    >>> _shorten_quoted("layer '" + "a" * 70 + "'")
    "layer 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…aaaaaaaaaaaaaaaaaaaa'"
    """
    return _QUOTED.sub(lambda m: m.group()[0] + shorten(m.group()[1:-1]) + m.group()[0],
                       shorten(part, 10**9))


@dataclass(frozen=True)
class _Context:
    source: str | None = None
    layer: str | None = None
    field: str | None = None
    argument: str | None = None


class SymcnnError(ValueError):
    """A user mistake (bad spec, impossible size, unknown option), with where it happened.

    The message is one line: ``source: layer: field 'x': what is wrong``.  Context is
    added as the error travels outwards (the layer adds its field, the network its
    layer, the spec loader its file), so each level only says what it knows.  A mistake in
    an argument of a call or an option (``batch_size``, ``MemoryOptions.precision``) names
    the ``argument``; the command line names its flag instead (:meth:`describe`).

    >>> str(SymcnnError("must be positive", field="stride").within(layer="layer 2 (Conv3d)"))
    "layer 2 (Conv3d): field 'stride': must be positive"
    >>> str(SymcnnError("must be at least 1, got 0", argument="batch_size"))
    "argument 'batch_size': must be at least 1, got 0"
    """

    def __init__(self, message: str, *, source: str | None = None,
                 layer: str | None = None, field: str | None = None,
                 argument: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.context = _Context(source, layer, field, argument)

    def within(self, *, source: str | None = None, layer: str | None = None,
               field: str | None = None) -> SymcnnError:
        """Return a copy with the missing parts of the context filled in."""
        ctx = self.context
        new = replace(ctx, source=ctx.source or source, layer=ctx.layer or layer,
                      field=ctx.field or field)
        return SymcnnError(self.message, source=new.source, layer=new.layer, field=new.field,
                           argument=new.argument)

    def describe(self, argument_name: Callable[[str], str] | None = None) -> str:
        """The one-line message, with ``argument_name`` turning the name of the argument it
        is about into the reader's word for it (the command line's: ``--batch-size``)."""
        ctx = self.context
        parts = [p for p in (ctx.source, ctx.layer) if p]
        if ctx.field:
            parts.append(f"field '{ctx.field}'")
        if ctx.argument:
            parts.append(argument_name(ctx.argument) if argument_name
                         else f"argument '{ctx.argument}'")
        parts.append(self.message)
        # the line stays one line whatever the names hold; a name quoted in a part (a
        # layer's, a question's) is shortened within that part, and the file is shown whole
        # (a quote in a path never pairs with one in the message)
        source = [shorten(ctx.source, 10**9)] if ctx.source else []
        return ": ".join(source + [_shorten_quoted(p) for p in parts[len(source):]])

    def __str__(self) -> str:
        return self.describe()

"""The one exception class of symcnn."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class _Context:
    source: str | None = None
    layer: str | None = None
    field: str | None = None


class SymcnnError(ValueError):
    """A user mistake (bad spec, impossible size, unknown option), with where it happened.

    The message is one line: ``source: layer: field 'x': what is wrong``.  Context is
    added as the error travels outwards (the layer adds its field, the network its
    layer, the spec loader its file), so each level only says what it knows.

    >>> str(SymcnnError("must be positive", field="stride").within(layer="layer 2 (Conv3d)"))
    "layer 2 (Conv3d): field 'stride': must be positive"
    """

    def __init__(self, message: str, *, source: str | None = None,
                 layer: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.context = _Context(source, layer, field)

    def within(self, *, source: str | None = None, layer: str | None = None,
               field: str | None = None) -> SymcnnError:
        """Return a copy with the missing parts of the context filled in."""
        ctx = self.context
        new = replace(ctx, source=ctx.source or source, layer=ctx.layer or layer,
                      field=ctx.field or field)
        return SymcnnError(self.message, source=new.source, layer=new.layer, field=new.field)

    def __str__(self) -> str:
        parts = [p for p in (self.context.source, self.context.layer) if p]
        if self.context.field:
            parts.append(f"field '{self.context.field}'")
        parts.append(self.message)
        return ": ".join(parts)

"""Question families: a spec whose values are drawn at random, and the exam asked about it.

A family file is a spec (:mod:`symcnn.spec.parse`) in which any value may instead be a *draw*::

    out_channels = {choices = [16, 32, 64]}       # one of the listed values
    shape = [1, {range = [64, 160, 16]}, 96, 96]  # 64, 80, ..., 160: stop is inclusive

A ``[variables]`` table draws named whole numbers that expression strings use
(``out_channels = "2*C"``), so several layers share one draw and a symbolic question can
keep the name as a symbol.  ``[draw]`` has ``exact_division`` (every floor division in a
size must be exact) and ``tries`` (draws per variant before giving up); ``[exam]`` has the
``title``, the ``instructions`` and ``[[exam.questions]]``.

Variant ``k`` of seed ``s`` is drawn from ``random.Random("symcnn-exam:s:k")``, so it is the
same whatever the number of variants.  This module only draws and builds networks; which
draws are valid is decided by :mod:`symcnn.exam.build`, which analyses them.

>>> fam = parse_family('''
... name = "tiny"
... [variables]
... C = {choices = [4, 8]}
... [input]
... shape = [1, {range = [8, 12, 2]}, 8]
... [[layers]]
... type = "Conv2d"
... out_channels = "C"
... kernel_size = 3
... [[exam.questions]]
... kind = "total_params"
... ''')
>>> first = next(fam.candidates(seed=1, index=1))
>>> sorted(first.draws) == ["C", "input.shape[2]"], first.draws["input.shape[2]"] in (8, 10, 12)
(True, True)
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from symcnn.errors import SymcnnError
from symcnn.limits import MAX_TRIES
from symcnn.network import Network
from symcnn.spec.parse import parse_spec, read_toml
from symcnn.spec.schema import expect_text
from symcnn.spec.toml_writer import to_toml
from symcnn.symbols import size
from symcnn.units import canonical_unit, parse_size

TOP_KEYS = ("name", "description", "variables", "input", "blocks", "layers", "draw", "exam")
#: The kinds of question, and the fields each one takes besides kind, points and choices.
KINDS = {
    "params": ("layer",),
    "total_params": (),
    "output_shape": ("layer",),
    "activation_memory": ("layer", "batch_size", "unit", "decimals"),
    "training_memory": ("batch_size", "unit", "decimals"),
    "max_batch": ("memory",),
    "symbolic_total": ("symbol",),
    "macs": ("layer",),
    "receptive_field": ("layer", "axis"),
    "largest_symbol": ("symbol", "memory", "batch_size"),
}
#: Kinds whose ``layer`` may be left out (then the question is about the whole network).
LAYER_OPTIONAL = ("macs",)
COMMON_FIELDS = ("kind", "points", "choices")
DEFAULT_TRIES = 100
MAX_CHOICES = 8


@dataclass(frozen=True)
class QuestionSpec:
    """One ``[[exam.questions]]`` entry, checked; ``layer`` is a name or a 1-based index."""

    number: int
    kind: str
    layer: str | int | None = None
    batch_size: int = 1
    memory: str | None = None
    unit: str = "MB"
    decimals: int = 2
    points: int = 1
    choices: int = 0
    symbol: str | None = None
    axis: int = 1  # a spatial axis, from 1 (receptive_field)

    @property
    def where(self) -> str:
        return f"question {self.number} ({self.kind})"


@dataclass(frozen=True)
class ExamSettings:
    title: str
    instructions: str
    questions: tuple[QuestionSpec, ...]


@dataclass(frozen=True)
class Candidate:
    """One draw for a variant: the drawn values and the spec text they make.

    ``draws`` maps where each value was drawn (``C``, ``input.shape[2]``,
    ``layers[2].stride``; list positions count from 1, as layers do) to the value.
    """

    index: int
    attempt: int
    values: dict[str, int]
    draws: dict[str, object]
    text: str
    source: str

    @cached_property
    def symbolic(self) -> Network:
        """The drawn network with the variables still symbols (a SymcnnError when the drawn
        values make no network)."""
        return parse_spec(self.text, source="").network

    def check_variables(self) -> None:
        """Every symbol of the network is a variable and every variable is used; a mistake of
        the family, not of the draw."""
        used = {s.name for s in self.symbolic.free_symbols}
        unknown = sorted(used - set(self.values))
        if unknown:
            raise SymcnnError(f"{unknown[0]!r} is used but not drawn: add it to [variables]",
                              source=self.source, field="variables")
        unused = sorted(set(self.values) - used)
        if unused:
            raise SymcnnError(f"{unused[0]!r} is drawn but no size uses it", source=self.source,
                              field="variables")

    def network(self, keep=()) -> Network:
        """The drawn network with every variable but those in ``keep`` put in."""
        return self.symbolic.subs({size(k): v for k, v in self.values.items() if k not in keep})


@dataclass(frozen=True)
class Family:
    """A parsed family file."""

    name: str
    description: str
    source: str
    spec: dict = field(compare=False, repr=False)
    variables: dict = field(compare=False, repr=False)
    exact_division: bool = False
    tries: int = DEFAULT_TRIES
    exam: ExamSettings = ExamSettings("", "", ())

    @property
    def kept_symbols(self) -> tuple[str, ...]:
        """The variables symbolic questions keep as symbols."""
        return tuple(dict.fromkeys(q.symbol for q in self.exam.questions if q.symbol))

    def rng(self, seed: int, index: int) -> random.Random:
        return random.Random(f"symcnn-exam:{seed}:{index}")

    def candidates(self, seed: int, index: int) -> Iterator[Candidate]:
        """Up to ``tries`` draws for variant ``index`` (from 1), from one random stream."""
        rng = self.rng(seed, index)
        for attempt in range(1, self.tries + 1):
            draws: dict[str, object] = {}
            values = {k: _draw(v, k, rng, draws) for k, v in self.variables.items()}
            spec = {k: _draw(v, k, rng, draws) for k, v in self.spec.items()}
            spec = {"name": self.name, **spec}
            yield Candidate(index, attempt, values, draws, to_toml(spec), self.source)


# ---- draws --------------------------------------------------------------------------------

def _is_draw(value) -> bool:
    return isinstance(value, dict) and bool({"choices", "range"} & set(value))


def _check_draw(value: dict, where: str, *, integers: bool = False) -> None:
    if len(value) != 1:
        raise SymcnnError("a draw is {choices = [...]} or {range = [start, stop, step]}, "
                          "nothing else", field=where)
    if "choices" in value:
        options = value["choices"]
        if not isinstance(options, list) or not options:
            raise SymcnnError("choices must be a non-empty list", field=where)
        if any(_is_draw(o) for o in options):
            raise SymcnnError("a choice cannot itself be a draw", field=where)
        if integers and not all(_whole(o) for o in options):
            raise SymcnnError("a variable's choices must be whole numbers", field=where)
        return
    r = value["range"]
    if not (isinstance(r, list) and len(r) == 3 and all(_whole(x) for x in r)):
        raise SymcnnError("range must be three whole numbers [start, stop, step] (stop included)",
                          field=where)
    start, stop, step = r
    if step < 1 or stop < start:
        raise SymcnnError(f"range {r}: needs step >= 1 and start <= stop", field=where)


def _whole(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _walk(value, where: str) -> None:
    """Check every draw in ``value`` (a spec table, list or scalar)."""
    if _is_draw(value):
        _check_draw(value, where)
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk(v, f"{where}.{k}" if where else k)
    elif isinstance(value, list):
        for i, v in enumerate(value, start=1):
            _walk(v, f"{where}[{i}]")


def _draw(value, where: str, rng: random.Random, draws: dict):
    """``value`` with every draw in it replaced by a value from ``rng`` (recorded in ``draws``)."""
    if _is_draw(value):
        if "choices" in value:
            out = rng.choice(value["choices"])
        else:
            start, stop, step = value["range"]
            out = rng.randrange(start, stop + 1, step)
        draws[where] = out
        return out
    if isinstance(value, dict):
        return {k: _draw(v, f"{where}.{k}", rng, draws) for k, v in value.items()}
    if isinstance(value, list):
        return [_draw(v, f"{where}[{i}]", rng, draws) for i, v in enumerate(value, start=1)]
    return value


# ---- the family file ---------------------------------------------------------------------

def _text(table: dict, key: str, default: str, where: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise SymcnnError("must be a string", layer=where, field=key)
    return value


def _int(table: dict, key: str, default: int, where: str, lo: int, hi: int | None = None) -> int:
    value = table.get(key, default)
    if not _whole(value) or value < lo or (hi is not None and value > hi):
        bound = f"from {lo} to {hi}" if hi is not None else f">= {lo}"
        raise SymcnnError(f"must be a whole number {bound}, got {value!r}", layer=where, field=key)
    return value


def _question(number: int, table, variables: dict) -> QuestionSpec:
    where = f"question {number}"
    if not isinstance(table, dict):
        raise SymcnnError("each [[exam.questions]] entry must be a table", layer=where)
    kind = expect_text(table.get("kind"), "kind", where, what="a question kind")
    if kind not in KINDS:
        raise SymcnnError(f"unknown kind {kind!r} (known: {', '.join(KINDS)})", layer=where,
                          field="kind")
    where = f"question {number} ({kind})"
    allowed = COMMON_FIELDS + KINDS[kind]
    for key in table:
        if key not in allowed:
            raise SymcnnError(f"not a field of a {kind} question (its fields: "
                              f"{', '.join(allowed)})", layer=where, field=key)
    args = {"number": number, "kind": kind,
            "points": _int(table, "points", 1, where, 1),
            "choices": _int(table, "choices", 0, where, 0, MAX_CHOICES)}
    if args["choices"] == 1:
        raise SymcnnError("a multiple-choice question needs at least 2 choices (0: numeric)",
                          layer=where, field="choices")
    if "layer" in KINDS[kind] and ("layer" in table or kind not in LAYER_OPTIONAL):
        args["layer"] = _layer_ref(table, where)
    if "axis" in KINDS[kind]:
        args["axis"] = _int(table, "axis", 1, where, 1, 8)
    if "batch_size" in KINDS[kind]:
        args["batch_size"] = _int(table, "batch_size", 1, where, 1)
    if "unit" in KINDS[kind]:
        unit = _text(table, "unit", "MB", where)
        try:
            args["unit"] = canonical_unit(unit)
        except SymcnnError as err:
            raise err.within(layer=where, field="unit") from None
        args["decimals"] = _int(table, "decimals", 2, where, 0, 6)
    if "memory" in KINDS[kind]:
        memory = table.get("memory")
        if not isinstance(memory, (str, int)) or isinstance(memory, bool):
            raise SymcnnError("missing: a GPU size such as \"12GB\"", layer=where, field="memory")
        try:
            parse_size(memory)
        except SymcnnError as err:
            raise err.within(layer=where, field="memory") from None
        args["memory"] = str(memory)
    if "symbol" in KINDS[kind]:
        symbol = table.get("symbol")
        if not isinstance(symbol, str) or symbol not in variables:
            raise SymcnnError(f"must name a drawn variable (the [variables]: "
                              f"{', '.join(variables) or 'none'})", layer=where, field="symbol")
        args["symbol"] = symbol
    return QuestionSpec(**args)


def _layer_ref(table: dict, where: str) -> str | int:
    """A layer by name or by its number (the ``#`` column of ``symcnn report``); whether it
    exists is checked against the analysed network."""
    ref = table.get("layer")
    if (_whole(ref) and ref >= 1) or (isinstance(ref, str) and ref):
        return ref
    raise SymcnnError("missing: a layer's name or its number (from 1, as in symcnn report)",
                      layer=where, field="layer")


def _exam(table, variables: dict, default_title: str) -> ExamSettings:
    if not isinstance(table, dict):
        raise SymcnnError("must be a table", field="exam")
    unknown = set(table) - {"title", "instructions", "questions"}
    if unknown:
        raise SymcnnError("unknown field (known: title, instructions, questions)", layer="exam",
                          field=sorted(unknown)[0])
    questions = table.get("questions")
    if not isinstance(questions, list) or not questions:
        raise SymcnnError("no [[exam.questions]] given", layer="exam", field="questions")
    return ExamSettings(_text(table, "title", default_title, "exam"),
                        _text(table, "instructions", "", "exam"),
                        tuple(_question(i, q, variables)
                              for i, q in enumerate(questions, start=1)))


def parse_family(text: str, source: str = "<family>") -> Family:
    """Read a family from TOML text.  Errors name the source, the table or question, and the
    field; whether the drawn networks are valid is only known once they are analysed."""
    try:
        data, name = read_toml(text, TOP_KEYS, source)
        variables = data.get("variables", {})
        if not isinstance(variables, dict):
            raise SymcnnError("must be a table of NAME = {choices = [...]} or {range = [...]}",
                              field="variables")
        for k, v in variables.items():
            if not k.isidentifier():
                raise SymcnnError("a variable name is a letter, then letters, digits or _",
                                  layer="variables", field=k)
            if _is_draw(v):
                _check_draw(v, k, integers=True)
            elif not _whole(v):
                raise SymcnnError("must be a whole number or a draw", layer="variables", field=k)
        spec = {k: v for k, v in data.items() if k not in ("name", "variables", "draw", "exam")}
        _walk(spec, "")
        draw = data.get("draw", {})
        if not isinstance(draw, dict) or set(draw) - {"exact_division", "tries"}:
            raise SymcnnError("a table with exact_division (true/false) and tries (a number)",
                              field="draw")
        exact = draw.get("exact_division", False)
        if not isinstance(exact, bool):
            raise SymcnnError("expected true or false", layer="draw", field="exact_division")
        tries = _int(draw, "tries", DEFAULT_TRIES, "draw", 1, MAX_TRIES)
        if "exam" not in data:
            raise SymcnnError("no [exam] table with [[exam.questions]]", field="exam")
        description = expect_text(data.get("description", ""), "description")
        exam = _exam(data["exam"], variables, description or name)
        return Family(name, description, source, spec, variables, exact, tries, exam)
    except SymcnnError as err:
        raise err.within(source=source) from None


def load_family(path) -> Family:
    """Read a family file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SymcnnError(f"cannot read family: {err.strerror}", source=str(path)) from None
    except UnicodeDecodeError:
        raise SymcnnError("not a UTF-8 text file", source=str(path)) from None
    return parse_family(text, str(path))

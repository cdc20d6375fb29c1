"""The words and number formats of exam questions, shared by the LaTeX documents, the CSV
file and the Moodle question bank (presentation only: nothing here computes an answer).

>>> from decimal import Decimal
>>> from symcnn.exam.build import Answer
>>> size = Answer("size", Decimal("2937.31"), "MB", 2)
>>> answer_text(size.value, size), answer_plain(size.value, size)
('2,937.31 MB', '2937.31')
>>> shape = Answer("shape", (32, 13, 17))
>>> answer_text(shape.value, shape), answer_plain(shape.value, shape)
('32 x 13 x 17', '32x13x17')
"""

from __future__ import annotations

import re

import sympy

from symcnn.exam.build import Answer, Question
from symcnn.render.formatting import spaced_size
from symcnn.render.latex import TeX, escape_latex, group_digits, math

#: The questions' words; ``{b}`` and ``{symbol}`` are mathematics (``$b = 8$`` in LaTeX,
#: ``<i>b</i> = 8`` in Moodle), the rest text.
_PROMPTS = {
    "params": "How many trainable parameters (weights and biases) does layer {layer} have?",
    "total_params": "How many trainable parameters does the whole network have?",
    "output_shape": "What is the shape of the output of layer {layer} for one sample "
                    "(channels first, no batch axis)?",
    "activation_memory": "How much memory does the output of layer {layer} take {batch}, "
                         "stored once? Answer in {unit}, to {decimals}.",
    "training_memory": "How much memory does training take at batch size {b}, by the "
                       "convention above? Answer in {unit}, to {decimals}.",
    "max_batch": "What is the largest batch size for which training fits in {memory} "
                 "of GPU memory?",
    "symbolic_total": "Keep {symbol} as a symbol (every other size as given) and write the "
                      "total number of trainable parameters as a closed form in {symbol}.",
    "macs": "How many multiply-accumulate operations (MACs) does {what} take for one sample "
            "(one forward pass; {counted})?",
    "receptive_field": "How many input positions along {axis} does one output element of "
                       "layer {layer} see (its receptive field)?",
    "largest_symbol": "Keep {symbol} as a symbol (every other size as given): what is the "
                      "largest whole {symbol} for which training at batch size {b} fits in "
                      "{memory} of GPU memory, by the convention above?",
}
#: What each kind asks, in a few words (the legend of the keys' grading table).
KIND_NAMES = {
    "params": "parameters", "total_params": "total parameters", "output_shape": "output shape",
    "activation_memory": "activation memory", "training_memory": "training memory",
    "max_batch": "largest batch", "symbolic_total": "total parameters in {symbol}",
    "macs": "MACs", "receptive_field": "receptive field", "largest_symbol": "largest {symbol}",
}
#: Marks a piece of mathematics in a prompt: a name, or a name and its value.
_MATH_OPEN, _MATH_CLOSE = "\x00", "\x01"
_AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
#: What a MACs question counts, per convention (the conventions above the questions say how).
_COUNTED = {"fvcore": "biases not counted", "torchinfo": "as torchinfo counts them, biases "
            "included", "ptflops": "as ptflops counts them, biases and activations included"}


def _axis(number: int, axes: int) -> str:
    """``the H axis (the 1st spatial axis)``; ``the spatial axis`` when there is one."""
    if axes <= 1:
        return "the spatial axis"
    letters = _AXES.get(axes)
    nth = {1: "1st", 2: "2nd", 3: "3rd"}.get(number, f"{number}th")
    name = f"the {letters[number - 1]} axis" if letters else f"spatial axis {number}"
    return f"{name} (the {nth} spatial axis)" if letters else name


def _decimals(n: int) -> str:
    return "a whole number" if n == 0 else f"{n} decimal place{'s' if n > 1 else ''}"


def _math(name: str, value=None) -> str:
    return _MATH_OPEN + name + ("" if value is None else f"={value}") + _MATH_CLOSE


def prompt_pieces(q: Question) -> list[tuple[str, bool]]:
    """The question as pieces of text (``False``) and of mathematics (``True``: a name, or
    ``name=value``), for each format to set in its own way."""
    spec = q.spec
    layer = f"{q.row.name} ({q.row.type_name})" if q.row is not None else ""
    layer = layer.replace(_MATH_OPEN, "").replace(_MATH_CLOSE, "")  # a name cannot open math
    batch = "for one sample" if spec.batch_size == 1 else f"for a batch of {spec.batch_size}"
    what = f"layer {layer}" if layer else "the whole network"
    axes = getattr(q.work, "axes", 0)
    text = _PROMPTS[q.kind].format(
        layer=layer, batch=batch, b=_math("b", spec.batch_size), unit=spec.unit,
        decimals=_decimals(spec.decimals), memory=spaced_size(spec.memory or ""),
        symbol=_math(spec.symbol or ""), what=what, axis=_axis(spec.axis, axes),
        counted=_counted(q.work))
    pieces = []
    for i, part in enumerate(re.split(f"[{_MATH_OPEN}{_MATH_CLOSE}]", text)):
        if part:
            pieces.append((part, i % 2 == 1))
    return pieces


def prompt(q: Question) -> str:
    """The question as plain text: ``How many trainable parameters ... layer L3 (Conv3d) have?``,
    ``... at batch size b = 8 ...``"""
    return "".join(p.replace("=", " = ") if is_math else p for p, is_math in prompt_pieces(q))


def prompt_tex(q: Question) -> TeX:
    """The question for LaTeX: text escaped, ``$b = 8$`` and ``$C$`` in math mode."""
    out = []
    for piece, is_math in prompt_pieces(q):
        if is_math:
            name, _, value = piece.partition("=")
            out.append("$" + math(sympy.Symbol(name)) + (f" = {value}" if value else "") + "$")
        else:
            out.append(escape_latex(piece))
    return TeX("".join(out))


def kind_name(q: Question) -> str:
    """``largest batch``, ``largest C``: what a question asks, for a table's legend."""
    return KIND_NAMES[q.kind].format(symbol=q.spec.symbol)


def _counted(work) -> str:
    convention = getattr(work, "convention", None)
    return _COUNTED[convention.value] if convention is not None else ""


def _grouped(value, answer: Answer, sep: str) -> str:
    if answer.form == "size":
        return f"{value:,.{answer.decimals}f}".replace(",", sep)
    return group_digits(int(value), sep)


def answer_text(value, answer: Answer) -> str:
    """A value in ``answer``'s form, for reading: ``2,937.31 MB``, ``13,856``, ``32 x 13``."""
    if answer.form == "shape":
        return " x ".join(str(v) for v in value)
    if answer.form == "expression":
        return str(value)
    text = _grouped(value, answer, ",")
    return f"{text} {answer.unit}" if answer.unit else text


def answer_plain(value, answer: Answer) -> str:
    """A value as a machine reads it (CSV, Moodle): ``2937.31``, ``13856``, ``32x13``."""
    if answer.form == "shape":
        return "x".join(str(v) for v in value)
    if answer.form == "expression":
        return str(value)
    if answer.form == "size":
        return f"{value:.{answer.decimals}f}"
    return str(int(value))


def answer_tex(value, answer: Answer) -> TeX:
    """A value in ``answer``'s form as LaTeX math: ``2{,}937.31\\,\\mathrm{MB}``."""
    if answer.form == "shape":
        return TeX(r" \times ".join(str(v) for v in value))
    if answer.form == "expression":
        return math(sympy.sympify(value))
    text = _grouped(value, answer, "{,}")
    return TeX(text + (rf"\,\mathrm{{{answer.unit}}}" if answer.unit else ""))

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

import sympy

from symcnn.exam.build import Answer, Question
from symcnn.render.latex import TeX, group_digits, math

_PROMPTS = {
    "params": "How many trainable parameters (weights and biases) does layer {layer} have?",
    "total_params": "How many trainable parameters does the whole network have?",
    "output_shape": "What is the shape of the output of layer {layer} for one sample "
                    "(channels first, no batch axis)?",
    "activation_memory": "How much memory does the output of layer {layer} take {batch}, "
                         "stored once? Answer in {unit}, to {decimals}.",
    "training_memory": "How much memory does training take at batch size b = {b}, by the "
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
                      "largest whole {symbol} for which training at batch size b = {b} fits in "
                      "{memory} of GPU memory, by the convention above?",
}
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


def prompt(q: Question) -> str:
    """The question as plain text: ``How many trainable parameters ... layer L3 (Conv3d) have?``"""
    spec = q.spec
    layer = f"{q.row.name} ({q.row.type_name})" if q.row is not None else ""
    batch = "for one sample" if spec.batch_size == 1 else f"for a batch of {spec.batch_size}"
    what = f"layer {layer}" if layer else "the whole network"
    axes = getattr(q.work, "axes", 0)
    return _PROMPTS[q.kind].format(layer=layer, batch=batch, b=spec.batch_size, unit=spec.unit,
                                   decimals=_decimals(spec.decimals), memory=spec.memory,
                                   symbol=spec.symbol, what=what,
                                   axis=_axis(spec.axis, axes), counted=_counted(q.work))


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

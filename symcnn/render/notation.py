"""A layer's constructor arguments as the documents' formulas write them: ``C_out = 2C``,
``k = 3``, ``S = 2`` (the stride is ``S``: ``s`` is the bytes per element in every
document), in LaTeX or in HTML (Moodle); and as PyTorch's code (``out_channels=2*C``) for
the terminal.  Presentation only.

>>> from symcnn.layers import Conv2d
>>> from symcnn.symbols import size
>>> conv = Conv2d(out_channels=2 * size("C"), kernel_size=3, stride=2, bias=False)
>>> layer_arguments(conv)
'out_channels=2*C, kernel_size=3, stride=2, bias=False'
>>> print(layer_notation(conv))
$C_{\\mathrm{out}} = 2 C$, $k = 3$, $S = 2$, no bias
>>> print(layer_notation_html(conv))
<i>C</i><sub>out</sub> = 2<i>C</i>, <i>k</i> = 3, <i>S</i> = 2, no bias
"""

from __future__ import annotations

import html
import re
from dataclasses import fields

import sympy
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from symcnn.layers import INFERRED
from symcnn.render.latex import TeX, escape_latex, math

#: An argument's symbol in the formulas, as LaTeX and as HTML.
NOTATION = {
    "out_channels": (r"C_{\mathrm{out}}", "<i>C</i><sub>out</sub>"),
    "out_features": (r"n_{\mathrm{out}}", "<i>n</i><sub>out</sub>"),
    "kernel_size": ("k", "<i>k</i>"),
    "stride": ("S", "<i>S</i>"),
    "padding": ("p", "<i>p</i>"),
    "output_padding": (r"p_{\mathrm{out}}", "<i>p</i><sub>out</sub>"),
    "dilation": ("d", "<i>d</i>"),
    "groups": ("g", "<i>g</i>"),
    "eps": (r"\varepsilon", "&epsilon;"),
    "p": (r"p_{\mathrm{drop}}", "<i>p</i><sub>drop</sub>"),
}


def layer_arguments(layer, raw: bool = False):
    """The constructor arguments that differ from PyTorch's defaults: ``kernel_size=3, stride=2``
    (with ``raw``, the ``(name, value)`` pairs)."""
    out, pairs = [], []
    for f in fields(layer):
        value = getattr(layer, f.name)
        pool_stride = f.name == "stride" and f.default is None  # the kernel size, by default
        if f.name in INFERRED or value is None or (pool_stride and value == layer.kernel_size):
            continue
        if isinstance(value, tuple) and len(set(value)) == 1:
            value = value[0]
        if value == f.default:
            continue
        pairs.append((f.name, value))
        text = "(" + ", ".join(map(str, value)) + ")" if isinstance(value, tuple) else str(value)
        out.append(f"{f.name}={text}")
    return pairs if raw else ", ".join(out)


def _words(name: str, value) -> str | None:
    """An argument without a symbol, in words: ``no bias``, ``ceil mode``, ``mode nearest``
    (None for a value that needs printing as math)."""
    words = name.replace("_", " ")
    if value is True:
        return "in place" if name == "inplace" else words
    if value is False:
        return f"no {words}"
    if isinstance(value, str):
        return f"{words} {value}"
    return None


#: The general formulas' symbol (by name) that an argument's letter stands for: where a
#: network uses that name itself, both are written as ``renames`` says (``k`` as ``\kappa``).
_FORMULA_SYMBOL = {"out_channels": "C_out", "out_features": "n_out", "kernel_size": "k",
                   "stride": "S", "padding": "p", "output_padding": "p_out", "dilation": "d",
                   "groups": "g", "eps": "eps", "p": "p_drop"}


def layer_notation(layer, renames=None) -> TeX:
    """The arguments :func:`layer_arguments` lists, in the notation of the formulas:
    ``$C_{out} = 2 C$, $k = 3$, $S = 2$`` (LaTeX); ``bias=False`` reads ``no bias``;
    ``renames`` (:attr:`symcnn.analysis.letters.Notation.renames`) the letters a network's
    own symbols took."""
    out = []
    for name, value in layer_arguments(layer, raw=True):
        text = ("(" + ", ".join(math(v) for v in value) + ")" if isinstance(value, tuple)
                else None if isinstance(value, (bool, str)) else math(value))
        if name in NOTATION and text is not None:
            letter = (renames or {}).get(_FORMULA_SYMBOL.get(name), NOTATION[name][0])
            out.append(f"${letter} = {text}$")
        elif (words := _words(name, value)) is not None:
            out.append(escape_latex(words))
        else:
            out.append(f"{escape_latex(name.replace('_', ' '))} ${text}$")
    return TeX(", ".join(out))


class _HtmlPrinter(StrPrinter):
    """sympy's text printer (its precedence, its brackets) with symbols in italics, a
    subscript for ``C_in``, powers as superscripts and products written side by side."""

    def _print_Symbol(self, expr):
        base, _, sub = expr.name.partition("_")
        return f"<i>{_escape(base)}</i>" + (f"<sub>{_escape(sub)}</sub>" if sub else "")

    def _print_Pow(self, expr):
        if expr.exp.is_Integer and expr.exp > 1:
            base = self.parenthesize(expr.base, PRECEDENCE["Pow"], strict=True)
            return f"{base}<sup>{expr.exp}</sup>"
        return super()._print_Pow(expr)

    def _print_Mul(self, expr):
        # a product's factors are joined by "*" (sympy's printer, brackets by precedence);
        # no symbol or number printed here holds one, and "**" is a superscript above
        return super()._print_Mul(expr).replace("**", "^").replace("*", "")


def _escape(text: str) -> str:
    # braces as references: a Moodle cloze question reads {1:NUMERICAL:=5} as a field
    return html.escape(text).replace("{", "&#123;").replace("}", "&#125;")


def html_math(value) -> str:
    """A value as HTML: ``2*C`` -> ``2<i>C</i>``, ``C_in**2`` -> ``<i>C</i><sub>in</sub><sup>2</sup>``."""
    return _HtmlPrinter().doprint(sympy.sympify(value))


def layer_notation_html(layer) -> str:
    """:func:`layer_notation` as HTML, for a Moodle question: ``<i>C</i><sub>out</sub> = 2<i>C</i>``."""
    out = []
    for name, value in layer_arguments(layer, raw=True):
        text = ("(" + ", ".join(html_math(v) for v in value) + ")" if isinstance(value, tuple)
                else None if isinstance(value, (bool, str)) else html_math(value))
        if name in NOTATION and text is not None:
            out.append(f"{NOTATION[name][1]} = {text}")
        elif (words := _words(name, value)) is not None:
            out.append(_escape(words))
        else:
            out.append(f"{_escape(name.replace('_', ' '))} {text}")
    return ", ".join(out)


def shown_names(network) -> dict[str, str]:
    """The names the spec did not give, as the documents write them: ``flatten_9`` (made up
    from the type and position, :mod:`symcnn.spec.parse`) is ``Flatten 9``, the type and
    the layer's number as in the architecture table; in a block, ``layer1.0.relu_2`` is
    ``layer1.0.ReLU 2``."""
    out = {}
    for node in network.nodes:
        kind = node.layer.type_name
        m = re.fullmatch(rf"(.*\.)?{re.escape(kind.lower())}_(\d+)", node.name)
        if m:  # the name in its block too (``path_in``)
            out[node.name] = f"{m.group(1) or ''}{kind} {m.group(2)}"
            out[f"{kind.lower()}_{m.group(2)}"] = f"{kind} {m.group(2)}"
    return out

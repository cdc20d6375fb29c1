"""LaTeX for formulas and prose: sympy's printer with digit grouping, and escapers.

Presentation only: these functions format what the analysis derived.

>>> from symcnn.layers.base import written_add, written_mul
>>> written(written_mul(written_add(written_mul(27, 30), 1), 30))
'\\\\left(27 \\\\times 30 + 1\\\\right) \\\\times 30'
>>> math(3301651)
'3{,}301{,}651'
>>> escape_latex("conv_1 & 50%")
'conv\\\\_1 \\\\& 50\\\\%'
"""

from __future__ import annotations

import re

import sympy
from sympy.printing.latex import (
    LatexPrinter,
    greek_letters_set,
    modifier_dict,
    other_symbols,
    tex_greek_dictionary,
)
from sympy.printing.conventions import split_super_sub
from sympy.printing.precedence import PRECEDENCE

from symcnn.errors import SymcnnError, shorten
from symcnn.render.texchars import math_text, text_char, unsettable

_MD_RE = re.compile(r"([\\`*_{}\[\]<>|$])")


class TeX(str):
    """A string that is already LaTeX (or Markdown), so it is not escaped again."""


def cannot_set(text, char: str) -> SymcnnError:
    """The one-line error for a character LaTeX cannot set, quoting (the start of) ``text``."""
    return SymcnnError(f"LaTeX cannot set {char!r} (U+{ord(char):04X}) in {shorten(str(text))!r} "
                       "(a name or text may use ASCII, Latin letters with accents and Greek letters)")


def escape_latex(text) -> TeX:
    """Prose made safe for LaTeX text mode: ``& % $ # _ { } ~ ^ \\ < > |`` are escaped,
    accented Latin and Greek letters written as commands, white space and control
    characters made a space or left out (:mod:`symcnn.render.texchars`); a character LaTeX
    cannot set (an emoji, CJK) is a :class:`SymcnnError`."""
    if isinstance(text, TeX):
        return text
    out = []
    for char in str(text):
        tex = text_char(char)
        if tex is None:
            raise cannot_set(text, char)
        out.append(tex)
    return TeX("".join(out))


def math_name(text) -> TeX:
    """A name for math mode (inside ``\\mathrm{...}``): ``conv~1`` ->
    ``conv\\text{\\textasciitilde{}}1``, ``conv_1`` -> ``conv\\_1``."""
    if isinstance(text, TeX):
        return text
    char = unsettable(str(text))
    if char is not None:
        raise cannot_set(text, char)
    return TeX(math_text(str(text)))


_SUBSCRIPTED = re.compile(r"\b([A-Za-z])(?:_([A-Za-z0-9]+)|\^(\d+))\b")
#: The kernel size ``k`` standing alone (an exam's "kernel volume k instead of k^2"): a word
#: that English prose never writes, so it is the symbol.
_LONE_KERNEL = re.compile(r"(?<![\w.\\])k(?![\w.^])")


def prose_with_symbols(text) -> TeX:
    """Prose for LaTeX in which ``C_in``, ``I_5`` or a power ``k^3`` are symbols, set in
    math mode: ``"C_in forgotten"`` -> ``$C_{\\mathrm{in}}$ forgotten``.

    >>> print(prose_with_symbols("C_in forgotten (I_5 & more), k^2 instead of k^3"))
    $C_{\\mathrm{in}}$ forgotten ($I_{5}$ \\& more), $k^{2}$ instead of $k^{3}$
    >>> print(prose_with_symbols("kernel volume k instead of k^2 in every layer"))
    kernel volume $k$ instead of $k^{2}$ in every layer
    """
    if isinstance(text, TeX):
        return text
    out, last = [], 0
    for m in _SUBSCRIPTED.finditer(str(text)):
        out.append(_lone_kernel(str(text)[last:m.start()]))
        base, sub, power = m.groups()
        if power is not None:
            out.append(f"${base}^{{{power}}}$")
        else:
            sub = sub if sub.isdigit() else r"\mathrm{" + sub + "}"
            out.append(f"${base}_{{{sub}}}$")
        last = m.end()
    out.append(_lone_kernel(str(text)[last:]))
    return TeX("".join(out))


def _lone_kernel(text: str) -> str:
    """Prose escaped, a lone kernel size ``k`` in it set as math."""
    parts = _LONE_KERNEL.split(text)
    return "$k$".join(escape_latex(part) for part in parts)


def escape_markdown(text) -> TeX:
    """Prose made safe for Markdown (and the ``$`` of its math).

    >>> escape_markdown("conv_1 | *50%*")
    'conv\\\\_1 \\\\| \\\\*50%\\\\*'
    """
    if isinstance(text, TeX):
        return text
    text = "".join(" " if c.isspace() else "" if not c.isprintable() else c for c in str(text))
    return TeX(_MD_RE.sub(r"\\\1", text))


def group_digits(n: int, sep: str = "{,}") -> str:
    """``3301651`` -> ``3{,}301{,}651`` (a comma that adds no space in math mode)."""
    return f"{n:,}".replace(",", sep)


#: sympy's name modifiers (``Xbar`` -> ``\\bar{X}``) less ``scr``: ``\\mathscr`` needs the
#: mathrsfs package, which the templates do not load (pdflatex stopped at "Undefined control
#: sequence" on a symbol named ``Hscr``), so such a name prints as it is written.
_MODIFIERS = {key: modifier_dict[key] for key in sorted(modifier_dict, key=len, reverse=True)
              if key != "scr"}


def _translate(name: str) -> str:
    """sympy's ``translate`` (a Greek letter or a symbol's name, then its modifiers) with
    :data:`_MODIFIERS`: only commands of amsmath and amssymb."""
    tex = tex_greek_dictionary.get(name)
    if tex:
        return tex
    if name.lower() in greek_letters_set:
        return "\\" + name.lower()
    if name in other_symbols:
        return "\\" + name
    for key, modify in _MODIFIERS.items():
        if name.lower().endswith(key) and len(name) > len(key):
            return modify(_translate(name[:-len(key)]))
    return name


class _Printer(LatexPrinter):
    """sympy's LaTeX printer with grouped digits (``FloorDiv`` prints itself as a floor
    bracket) and symbol names set with the templates' packages only (:func:`_translate`)."""

    def _split_super_sub(self, name: str) -> tuple[str, list[str], list[str]]:
        if name is None or "{" in name:
            return name, [], []
        base, supers, subs = split_super_sub(name)
        return _translate(base), [_translate(s) for s in supers], [_translate(s) for s in subs]

    def _print_Integer(self, expr):
        return group_digits(int(expr))

    def _print_Add(self, expr, order=None):
        # order="none" keeps a *written* sum as written; a sum sympy evaluated (stored in its
        # canonical order, constant first) still prints in the usual order: D - 61, not -61 + D.
        if self._settings["order"] == "none" and sympy.Add(*expr.args).args == expr.args:
            order = "lex"
        return super()._print_Add(expr, order=order)


_NAMES = {"C_in": r"C_{\mathrm{in}}", "C_out": r"C_{\mathrm{out}}",
          "n_in": r"n_{\mathrm{in}}", "n_out": r"n_{\mathrm{out}}", "N_buf": r"N_{\mathrm{buf}}",
          "M_avail": r"M_{\mathrm{avail}}",
          # the spatial sizes in the formulas of MACs (symcnn.analysis.macs)
          **{f"{x}_{w}": rf"{x}_{{\mathrm{{{w}}}}}" for x in "DHWL" for w in ("in", "out")}}


def _printer(expr, renames=None, **settings) -> _Printer:
    """sympy's printer; ``renames`` writes a symbol (by name) as other LaTeX."""
    table = {**_NAMES, **(renames or {})}
    names = {s: table[s.name] for s in expr.free_symbols if s.name in table}
    return _Printer({"symbol_names": names, **settings})


def _print(expr, renames=None, **settings) -> TeX:
    expr = sympy.sympify(expr)
    return TeX(_printer(expr, renames, **settings).doprint(expr))


def factor(expr) -> TeX:
    """One factor of a product, in brackets where a product needs them (by sympy's
    precedence): ``D - 2`` -> ``\\left(D - 2\\right)``, ``2 C`` stays ``2 C``."""
    expr = sympy.sympify(expr)
    return TeX(_printer(expr).parenthesize(expr, PRECEDENCE["Mul"], strict=True))


def shape(dims, allow_breaks: bool = False) -> TeX:
    """A tensor shape as the product of its sizes: ``C \\times \\left(D - 2\\right)``;
    with ``allow_breaks`` a long factor may break between its bracketed factors (LaTeX).
    A whole size has no thousands separator (``213840``: ``213{,}840`` would read like two
    axes)."""
    factors = (TeX(str(int(d))) if sympy.sympify(d).is_Integer else factor(d) for d in dims)
    return TeX(r" \times ".join(breakable(f) if allow_breaks else f for f in factors))


def math(expr, renames=None) -> TeX:
    """An evaluated expression or number, terms in sympy's usual order: ``27 C^{2} + C``."""
    return _print(expr, renames)


def formula(expr, renames=None) -> TeX:
    """A general formula in its written order: ``\\left(k^{3} C_{in} + 1\\right) C_{out}``;
    ``renames`` writes a generic symbol that a network also uses otherwise (``k`` as
    ``\\kappa``: :func:`symcnn.analysis.letters.notation`)."""
    return _print(expr, renames, order="none")


def written(expr) -> TeX:
    """Numbers put into a formula, in written order with explicit products:
    ``\\left(27 \\times 30 + 1\\right) \\times 30``."""
    return _print(expr, order="none", mul_symbol="times")


def breakable(tex: str) -> TeX:
    """A formula in which TeX may also break a line between the bracketed factors of a
    product (inline math breaks only after ``+``, ``-``, ``\\times`` and relations): an
    ``\\allowbreak`` before each ``\\left(`` that follows a space at the outermost level.

    >>> print(breakable(r"8 C \\left(D - 2\\right) \\left(\\frac{\\left(H\\right)}{2}\\right)"))
    8 C \\allowbreak \\left(D - 2\\right) \\allowbreak \\left(\\frac{\\left(H\\right)}{2}\\right)
    """
    out, depth, i = [], 0, 0
    while i < len(tex):
        if tex.startswith(r"\left", i):
            if depth == 0 and tex.startswith(r"\left(", i) and i and tex[i - 1] == " ":
                out.append(r"\allowbreak ")
            depth += 1
            out.append(r"\left")
            i += 5
            continue
        if tex.startswith(r"\right", i):
            depth -= 1
            out.append(r"\right")
            i += 6
            continue
        depth += {"{": 1, "}": -1}.get(tex[i], 0)
        out.append(tex[i])
        i += 1
    return TeX("".join(out))


def visible_length(tex: str) -> int:
    """A rough printed width of a LaTeX formula: characters, less commands and braces; a
    bracket (``\\left(``, ``\\right\\rfloor``) and an operator (``\\times``) count as one.

    >>> visible_length(r"\\left\\lfloor \\frac{D - 61}{16} \\right\\rfloor + 1")
    10
    """
    tex = re.sub(r"\\(?:left|right)(?:\\[a-zA-Z]+|.)|\\times|\\cdot", "#", tex)
    return len(re.sub(r"\\[a-zA-Z]+|[{}\s^_]", "", tex))


def sum_lines(expr, width: int = 55) -> TeX:
    """A long sum broken into lines about ``width`` characters wide, for an ``align`` block
    (lines are joined by ``\\\\ &``).

    >>> from symcnn.symbols import size
    >>> a, b, c = size("a"), size("b"), size("c")
    >>> print(sum_lines(a + b - c, width=4))
    a + b \\\\ &- c
    """
    expr = sympy.sympify(expr)
    coeff, rest = expr.as_coeff_Mul()
    if coeff != 1 and rest.is_Add:  # 4*(a + b) is written 4a + 4b, to break across lines
        expr = sympy.Add(*(coeff * t for t in rest.args))
    if not expr.is_Add:
        return math(expr)
    out, line = [], 0
    for i, t in enumerate(math(t) for t in expr.as_ordered_terms()):
        if i == 0:
            out.append(t)
            line = visible_length(t)
            continue
        sign, body = ("-", t[1:].lstrip()) if t.startswith("-") else ("+", t)
        size_ = visible_length(body) + 2
        if line + size_ > width:
            out.append(rf" \\ &{sign} {body}")
            line = size_
        else:
            out.append(f" {sign} {body}")
            line += size_
    return TeX("".join(out))


def field_part(field, attribute: str) -> TeX:
    """One part of a receptive field (``size``, ``jump``, ``start``) per spatial axis as math:
    ``13`` when the axes agree, else ``(13, 9)``; a field that is not known (None) reads
    ``?``, none (a learned tensor, an input without spatial axes) nothing."""
    if field is None:
        return TeX("?")
    shown = [math(getattr(axis, attribute)) for axis in field]
    if not shown:
        return TeX("")
    return TeX(shown[0] if len(set(shown)) == 1 else "(" + ", ".join(shown) + ")")


def field_cell(field, attribute: str) -> TeX:
    """:func:`field_part` as a table cell with its own ``$...$``: empty where there is no field
    (an empty ``$$`` would open display math)."""
    shown = field_part(field, attribute)
    return TeX(f"${shown}$" if shown else "")

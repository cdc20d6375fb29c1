"""Characters beyond ASCII in LaTeX: how the templates' pdfLaTeX (``inputenc`` utf8, the
default OT1 fonts) sets a character of a name or prose, in text mode and in math mode, and
which characters it cannot set at all.

Names come from the user (a spec's layer names, its description, block names), so any
Unicode character can reach a document.  Latin letters with accents, the special Latin
letters, Greek letters and a few signs are written as LaTeX commands that every
installation has; white space and control characters become a space or nothing; anything
else (CJK, emoji, other scripts) is refused with one line, before anything is written.

>>> print(text_char("é"), text_char("ß"), text_char("α"))
\\'{e} \\ss{} \\ensuremath{\\alpha}
>>> print(math_text("conv~1 é"))
conv\\text{\\textasciitilde{}}1\\ \\text{\\'{e}}
>>> unsettable("fc 😀")
'😀'
"""

from __future__ import annotations

import unicodedata

#: ASCII signs that LaTeX reads as commands, in text mode.
TEXT_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
                "|": r"\textbar{}"}

#: ASCII signs that math mode reads as commands and that have a math-mode escape.
_MATH_ESCAPES = {c: "\\" + c for c in "_&%$#{}"}

_GREEK = dict(zip("αβγδεζηθικλμνξπρστυφχψωϑϕϖϱςϵ",
                  ("alpha beta gamma delta varepsilon zeta eta theta iota kappa lambda mu nu xi "
                   "pi rho sigma tau upsilon varphi chi psi omega vartheta phi varpi varrho "
                   "varsigma epsilon").split()))
_GREEK.update(zip("ΓΔΘΛΞΠΣΥΦΨΩ", "Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split()))
#: Greek capitals (and omicron) that look like Latin letters have no command of their own.
_GREEK_AS_LATIN = dict(zip("ΑΒΕΖΗΙΚΜΝΟΡΤΧο", "ABEZHIKMNOPTXo"))

_LETTERS = {"ß": r"\ss{}", "æ": r"\ae{}", "Æ": r"\AE{}", "œ": r"\oe{}", "Œ": r"\OE{}",
            "ø": r"\o{}", "Ø": r"\O{}", "ł": r"\l{}", "Ł": r"\L{}", "ı": r"\i{}", "ȷ": r"\j{}"}
_SIGNS = {"–": "--", "—": "---", "‘": "`", "’": "'", "“": "``", "”": "''", "…": r"\ldots{}",
          "§": r"\S{}", "¶": r"\P{}", "©": r"\copyright{}", "£": r"\pounds{}",
          "€": r"\texteuro{}", "°": r"\textdegree{}", "×": r"\ensuremath{\times}",
          "±": r"\ensuremath{\pm}", "·": r"\ensuremath{\cdot}", "µ": r"\ensuremath{\mu}"}
#: Combining accents and the OT1 accent command of each (no ogonek: OT1 has none).
_ACCENTS = {"\u0300": "`", "\u0301": "'", "\u0302": "^", "\u0303": "~", "\u0304": "=",
            "\u0306": "u", "\u0307": ".", "\u0308": '"', "\u030a": "r", "\u030b": "H",
            "\u030c": "v", "\u0327": "c", "\u0323": "d", "\u0331": "b"}


def _accented(char: str) -> str | None:
    """``é`` -> ``\\'{e}``: a Latin letter with accents LaTeX has commands for."""
    base, *marks = unicodedata.normalize("NFD", char)
    if not (base.isascii() and base.isalpha()) or not marks \
            or any(m not in _ACCENTS for m in marks):
        return None
    body = {"i": r"\i", "j": r"\j"}.get(base, base)
    for mark in marks:
        body = f"\\{_ACCENTS[mark]}{{{body}}}"
    return body


def _invisible(char: str) -> str | None:
    """White space (a newline, a tab, a no-break space) is a space; a control or format
    character (a bell, a zero-width joiner) is left out."""
    if char.isspace():
        return " "
    if unicodedata.category(char) in ("Cc", "Cf"):
        return ""
    return None


def text_char(char: str) -> str | None:
    """One character as LaTeX text, or None when LaTeX cannot set it."""
    if char in TEXT_ESCAPES:
        return TEXT_ESCAPES[char]
    if char.isascii() and char.isprintable():
        return char
    invisible = _invisible(char)
    if invisible is not None:
        return invisible
    if char in _GREEK:
        return rf"\ensuremath{{\{_GREEK[char]}}}"
    return _GREEK_AS_LATIN.get(char) or _LETTERS.get(char) or _SIGNS.get(char) \
        or _accented(char)


def unsettable(text: str) -> str | None:
    """The first character of ``text`` that LaTeX cannot set, or None."""
    return next((c for c in str(text) if text_char(c) is None), None)


def math_text(text: str) -> str:
    """``text`` for math mode, as inside ``\\mathrm{...}``: letters, digits and signs that
    math mode sets as they are stay; ``_ & % $ # { }`` are escaped; a space is ``\\ ``;
    anything else (``~ ^ \\``, accents) is set as text, in ``\\text{...}``.  Characters
    LaTeX cannot set are left for :func:`unsettable` to report."""
    out, as_text = [], []  # as_text: a run of characters set in one \\text{...}
    for char in str(text):
        if char in _MATH_ESCAPES:
            piece = _MATH_ESCAPES[char]
        elif char.isspace():
            piece = r"\ "
        elif char.isascii() and (char.isalnum() or char in ".,;:!?/()[]+-=*@'\"`<>|"):
            piece = char
        elif char in _GREEK:
            piece = f"\\{_GREEK[char]} "
        else:
            as_text.append(text_char(char) or "")
            continue
        if as_text:
            out.append(r"\text{" + "".join(as_text) + "}")
            as_text = []
        out.append(piece)
    if as_text:
        out.append(r"\text{" + "".join(as_text) + "}")
    return "".join(out)

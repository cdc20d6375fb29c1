"""The generic letters of the documents' formulas, none written like a symbol of the network.

A document writes general formulas (``(k^2 C_in + 1) C_out``, ``I_1 = D H W C s``), the
rule of a convolution's output size (``floor((n + 2p - d(k - 1) - 1)/S) + 1``), the
parameter count ``N = sum_i L_i``, the memory ``M(b) = c + a b`` and the budget
``M_avail``.  Where a network names a symbol like one of these letters (its input is
``[1, "S", "p"]``, a channel count ``k``), that letter would mean two things on one page:
:func:`notation` picks another for the formulas (``S_str``, ``p_pad``, ``kappa``), the same in
every document.  A symbol ``I`` or ``I_1`` would read like the stored activations
``I_1, I_2, ...``: their labels then take another letter, ``X`` (else ``J``), the same in
the text report, the JSON and the documents.

>>> from symcnn.symbols import size
>>> n = notation({size("c"), size("k"), size("N"), size("M"), size("S")})
>>> n.params, n.fixed, n.per_sample, n.memory, n.letter("k"), n.letter("k_2"), n.letter("S")
('P', 'm_{0}', 'm_{1}', '\\\\mathcal{M}', '\\\\kappa', '{\\\\kappa}_{2}', 'S_{\\\\mathrm{str}}')
>>> n.letter("p"), n.text["budget"], n.activation
('p', 'M_avail', 'I')
>>> notation({size("I_1")}).activation, notation({size("I"), size("X")}).text_label("I_3")
('X', 'J_3')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy


def _tilde(name: str) -> tuple[str, str]:
    """``C_in`` -> ``("Ctilde_in", r"\\tilde{C}_{\\mathrm{in}}")``: the letter with a tilde."""
    base, _, sub = name.partition("_")
    tex = rf"\tilde{{{base}}}" + (rf"_{{\mathrm{{{sub}}}}}" if sub else "")
    return f"{base}tilde" + (f"_{sub}" if sub else ""), tex


def _usual(name: str) -> tuple[str, str]:
    base, _, sub = name.partition("_")
    return name, base + (rf"_{{\mathrm{{{sub}}}}}" if sub else "")


#: The letters with their own alternatives, first the usual one: (name a spec could give a
#: symbol, LaTeX).  ``L_i`` is the parameter count of layer ``i`` in ``N = sum_i L_i``.
_OWN = {
    "N": (("N", "N"), ("P", "P"), ("N_par", r"N_{\mathrm{par}}")),
    "M": (("M", "M"), ("Mcal", r"\mathcal{M}")),
    "M_avail": (("M_avail", r"M_{\mathrm{avail}}"), ("B_avail", r"B_{\mathrm{avail}}")),
    "s": (("s", "s"), ("sigma", r"\sigma"), ("s_el", r"s_{\mathrm{el}}")),
    "k": (("k", "k"), ("kappa", r"\kappa"), ("k_ker", r"k_{\mathrm{ker}}")),
    "S": (("S", "S"), ("S_str", r"S_{\mathrm{str}}"), _tilde("S")),
    "p": (("p", "p"), ("p_pad", r"p_{\mathrm{pad}}"), _tilde("p")),
    "d": (("d", "d"), ("delta", r"\delta"), ("d_dil", r"d_{\mathrm{dil}}")),
    "g": (("g", "g"), ("g_grp", r"g_{\mathrm{grp}}"), _tilde("g")),
    "n": (("n", "n"), ("nu", r"\nu"), _tilde("n")),
    "L_i": (("L", "L"), ("ell", r"\ell"), ("Lambda", r"\Lambda")),
    # the stored activations I_1, I_2, ... of M(b) (their labels in every document): letters
    # that read the same as text (the report, the JSON) as in LaTeX; not A (the simulated
    # step's F_t + A_t b), nor a, c, m (the memory's)
    "I_i": (("I", "I"), ("X", "X"), ("J", "J"), ("Act", r"\mathrm{Act}")),
    "eps": (("epsilon", r"\varepsilon"), ("eps_bn", r"\varepsilon_{\mathrm{bn}}")),
}
#: The other general formulas' letters (sizes of a layer's tensors, of attention, of the
#: MACs): the usual one, else with a tilde (``\tilde{C}_{in}``).
_TILDED = ("C", "D", "H", "W", "L", "T", "E", "h", "m", "f", "C_in", "C_out", "n_in", "n_out",
           "N_buf", "p_out", "p_drop",
           *(f"{x}_{w}" for x in "DHWL" for w in ("in", "out")))
GENERIC = {**_OWN, **{name: (_usual(name), _tilde(name)) for name in _TILDED}}
#: Letters written with an index, which follow their letter: ``k_2`` is ``\kappa_2`` when
#: ``k`` is ``\kappa``.
_INDEXED = {f"k_{i}": "k" for i in (1, 2, 3)}
#: Letters that the documents write with an index (``L_i`` as ``L_3``, ``k`` as ``k_1`` per
#: axis): taken also by a network symbol ``L_3`` or ``k_1``.
_WITH_INDEX = {"L_i": "L", "k": "k", "I_i": "I"}

_PAIRS = ((("c", "c"), ("a", "a")), (("m_0", "m_{0}"), ("m_1", "m_{1}")),
          (("gamma", r"\gamma"), ("alpha", r"\alpha")))


@dataclass(frozen=True)
class Notation:
    """The generic letters of the documents' formulas, as LaTeX, none written like a symbol
    of the network: the parameter count, the fixed bytes and the bytes per sample of
    ``M(b) = c + a b``, the memory ``M``, the budget, and every general formula's letter
    (:meth:`letter`)."""

    params: str = "N"
    fixed: str = "c"
    per_sample: str = "a"
    memory: str = "M"
    budget: str = r"M_{\mathrm{avail}}"
    element_bytes: str = "s"
    #: the letter of the stored activations ``I_1, I_2, ...``
    activation: str = "I"
    #: a general formula's symbol (by name) -> the LaTeX it is written as instead
    renames: dict[str, str] = field(default_factory=dict)
    #: the same letters as plain text (the terminal report, JSON): ``params``, ``fixed``,
    #: ``per_sample``, ``budget``
    text: dict[str, str] = field(default_factory=lambda: {
        "params": "N", "fixed": "c", "per_sample": "a", "budget": "M_avail", "activation": "I"})
    #: a general formula's symbol (by name) -> the plain name it is written as instead
    #: (``k`` -> ``kappa``): the JSON's formula strings
    text_renames: dict[str, str] = field(default_factory=dict)

    def text_label(self, label: str) -> str:
        """A stored activation's label as plain text here: ``I_5`` -> ``X_5`` where the
        network has a symbol ``I`` (the letter the documents write, :attr:`activation`)."""
        base, _, index = label.partition("_")
        return f"{self.text['activation']}_{index}" if base == "I" and index else label

    def relabel(self, text: str) -> str:
        """Prose that names the stored activations (a convention's summary, ``b (I_1 + 2 sum
        ...)``) with this notation's letter: ``I_1`` -> ``X_1`` where ``I`` is a symbol."""
        return re.sub(r"\bI_(\d+|i)\b", lambda m: self.text_label(m.group(0)), text)

    def letter(self, name: str) -> str:
        """The LaTeX of the generic letter ``name`` (``"S"``, ``"k_2"``, ``"L_i"``) here."""
        if name in self.renames:
            return self.renames[name]
        if name in _INDEXED:
            base, _, index = name.partition("_")
            return f"{base}_{{{index}}}"
        return GENERIC[name][0][1]


def _is_taken(candidate: tuple[str, str], taken: set[str], indexed: bool) -> bool:
    name, tex = candidate
    if name in taken or tex in taken:
        return True
    return indexed and any(re.fullmatch(rf"{re.escape(name)}_\d+", t) for t in taken)


def _primed(candidate: tuple[str, str]) -> tuple[str, str]:
    """The usual letter with a prime, where every candidate is a symbol: a spec's symbol is
    a name (:func:`symcnn.symbols.size`), never written with a prime."""
    name, tex = candidate
    return f"{name}'", f"{tex}'"


def notation(symbols) -> Notation:
    """Letters for the documents of a network with ``symbols`` (its own and the sizes named
    for it, :mod:`symcnn.analysis.named`): the usual ones unless a symbol is named or
    written like one (then the next candidate that is neither a symbol nor a letter chosen
    before; the usual one primed where every candidate is taken)."""
    taken = {str(s) for s in symbols} | {sympy.latex(s) for s in symbols}
    chosen: dict[str, tuple[str, str]] = {}
    for key, candidates in GENERIC.items():
        indexed = key in _WITH_INDEX
        usual = candidates[0]
        if not _is_taken(usual, taken, indexed):
            chosen[key] = usual
            continue
        used = taken | {x for c in chosen.values() for x in c}
        chosen[key] = next((c for c in candidates[1:] if not _is_taken(c, used, indexed)),
                           _primed(usual))
    renames = {key: tex for key, (name, tex) in chosen.items() if (name, tex) != GENERIC[key][0]}
    renames |= {name: f"{{{renames[base]}}}_{{{name.partition('_')[2]}}}"
                for name, base in _INDEXED.items() if base in renames}
    fixed, per_sample = next(((c, a) for c, a in _PAIRS if not ({*c, *a} & taken)),
                             (("c_0", "c_{0}"), ("a_0", "a_{0}")))
    text = {"params": chosen["N"][0], "fixed": fixed[0], "per_sample": per_sample[0],
            "budget": chosen["M_avail"][0], "activation": chosen["I_i"][0]}
    text_renames = {key: name for key, (name, tex) in chosen.items()
                    if (name, tex) != GENERIC[key][0]}
    text_renames |= {name: f"{text_renames[base]}_{name.partition('_')[2]}"
                     for name, base in _INDEXED.items() if base in text_renames}
    return Notation(chosen["N"][1], fixed[1], per_sample[1], chosen["M"][1],
                    chosen["M_avail"][1], chosen["s"][1], chosen["I_i"][1], renames, text,
                    text_renames)

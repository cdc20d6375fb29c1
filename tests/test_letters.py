"""The documents' generic letters never read like a symbol of the network (issue 11, item 6):
networks whose size symbols are drawn from those very letters (hypothesis), and the letters
read back out of the rendered worksheet, exercise and Markdown: the size rule, the
receptive-field rule, the architecture table's arguments, the general formulas, the sum of
the layers, M(b) = c + a b and the budget."""

import re

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from symcnn import make_report, parse_spec
from symcnn.analysis.letters import GENERIC, notation
from symcnn.render.documents import render_string
from symcnn.render.latex import math
from symcnn.symbols import size

#: The letters the documents print for general quantities, and their first alternatives:
#: what a spec's author could well name a size.
POOL = ("S", "p", "d", "s", "g", "k", "n", "N", "M", "c", "a", "L", "C", "D", "H", "W", "E",
        "h", "m", "f", "C_in", "C_out", "n_in", "n_out", "H_out", "k_1", "L_1", "kappa", "nu",
        "delta", "sigma", "ell", "S_str", "p_pad", "P", "m_0", "gamma", "alpha", "epsilon")

_ATOM = re.compile(r"(?:\\tilde\{[A-Za-z]\}|\\mathcal\{[A-Za-z]\}|\{\\[A-Za-z]+\}|\\[A-Za-z]+"
                   r"|[A-Za-z])(?:_\{(?:[^{}]|\{[^{}]*\})*\}|_[A-Za-z0-9])?")
_NOT_LETTERS = {r"\left", r"\right", r"\lfloor", r"\rfloor", r"\frac", r"\times", r"\cdot",
                r"\allowbreak", r"\sum", r"\Bigl", r"\Bigr", r"\max", r"\quad", r"\mathrm",
                r"\text", r"\bigl", r"\bigr", r"\le", r"\infty"}


def _plain(tex: str) -> str:
    """A letter as it reads: ``S_{\\mathrm{str}}`` and ``S_{str}`` are both ``S_str``."""
    return re.sub(r"\\mathrm|[{}\s]", "", tex)


def letters_in(tex: str) -> set[str]:
    """The letters of a formula, as they read (numbers, brackets and operators left out)."""
    tex = re.sub(r"\\(?:text|mathrm)\{[^{}]*\}(?!\})", " ", tex)
    return {_plain(m.group()) for m in _ATOM.finditer(tex)
            if m.group().split("_")[0] not in _NOT_LETTERS}


def joined(pattern: str, line: str) -> list[str]:
    """Each match's groups as one formula: ``c + a b`` gives ``"c a"``."""
    return [" ".join(g) for g in re.findall(pattern, line)]


def formula_letters(doc: str) -> list[tuple[str, set[str]]]:
    """Where each document writes generic letters, and the letters it writes there."""
    found = []

    def add(where, pieces):
        for piece in pieces:
            found.append((where, letters_in(piece)))

    for line in doc.splitlines():
        if "spatial size follows PyTorch's rule" in line or "a window of" in line \
                or line.startswith(("for convolutions and pooling (kernel", "$\\text{size} +",
                                    "convolution or pooling with kernel", "output size $",
                                    "\\paragraph{Conventions.}")):
            add("rule", re.findall(r"\$([^$]+)\$", line))
        if re.match(r"\s*\d+ & ", line) or re.match(r"\|\s*\d+\s*\|", line):
            add("arguments", re.findall(r"\$([^$=]+?) = ", line))
        add("general formula", re.findall(r"\\mathrm\{[^{}]*\} &= (.*) \\\\$", line))
        add("general formula",
            re.findall(r"\\breakmath\{(?:\\mathrm\{[^{}]*\}|I_\{1\}) = (.*?) = ", line))
        add("sum", joined(r"(\S+) = \\sum_i (\S+?)_i", line))
        add("memory", re.findall(r"\\text\{(?:Params|Grads)\} &?= ([^=]+?) &?=", line))
        add("memory", re.findall(r"(\S+)\(b\) &?= ", line))
        add("memory", joined(r"&?= (\S+) \+ (\S+)\\,b", line))
        add("budget", joined(r"b_\{\\max\} = \\left\\lfloor \\frac\{(\S+) - (\S+)\}\{(\S+)\}", line))
    return found


SPEC = """
name = "drawn"
[input]
shape = ["{c}", "{h}", "{w}"]
[[layers]]
type = "Conv2d"
out_channels = "{x}"
kernel_size = {kernel}
padding = 1
[[layers]]
type = "BatchNorm2d"
[[layers]]
type = "ReLU"
[[layers]]
type = "Conv2d"
out_channels = "{y}"
kernel_size = 3
stride = 2
dilation = 2
[[layers]]
type = "Flatten"
[[layers]]
type = "Linear"
out_features = "{z}"
"""


@st.composite
def drawn_networks(draw):
    names = draw(st.lists(st.sampled_from(POOL), min_size=6, max_size=6, unique=True))
    c, h, w, x, y, z = names
    kernel = draw(st.sampled_from(["3", f'"{x}"']))
    return SPEC.format(c=c, h=h, w=w, x=x, y=y, z=z, kernel=kernel)


def _shown(symbols) -> set[str]:
    return {_plain(math(s)) for s in symbols} | {_plain(str(s)) for s in symbols}


# each example renders three documents: few examples, and no shrinking (a failing network
# is shown as drawn)
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(drawn_networks())
def test_formula_letters_are_never_the_networks_symbols(text):
    report = make_report(parse_spec(text, "drawn.toml"))
    named = {n.symbol for n in report.derivation.sizes.names} if report.derivation else set()
    own = _shown(report.network.free_symbols | named)
    letters = report.notation
    chosen = {key: _plain(letters.letter(key)) for key in [*GENERIC, "k_1", "k_2", "k_3"]}
    assert not {k: v for k, v in chosen.items() if v in own}, own
    for template, solutions in (("worksheet", False), ("exercise", True), ("markdown", False)):
        doc = render_string(report, template, solutions=solutions)
        found = formula_letters(doc)
        kinds = {where for where, _ in found}
        # the extraction finds what it checks (a test that finds nothing proves nothing)
        assert {"rule", "arguments", "general formula", "memory"} <= kinds or \
            template == "markdown", (template, kinds)
        clashes = [(where, sorted(ls & own)) for where, ls in found if ls & own]
        assert not clashes, (template, clashes)


def test_a_letter_taken_with_an_index_is_renamed():
    """``L_i`` is written ``L_3``, a kernel per axis ``k_1``: a network symbol ``L_2`` or
    ``k_1`` takes the letter."""
    n = notation({size("L_2"), size("k_1")})
    assert n.letter("L_i") == r"\ell" and n.letter("k") == r"\kappa"
    assert n.letter("k_1") == r"{\kappa}_{1}"
    # a candidate already taken is skipped: kappa itself is a symbol here
    assert notation({size("k"), size("kappa")}).letter("k") == r"k_{\mathrm{ker}}"


def test_the_usual_letters_without_a_clash():
    n = notation({size("C"), size("D"), size("H"), size("W")})
    assert [n.letter(x) for x in ("S", "p", "d", "g", "k", "s", "n", "L_i")] == \
        ["S", "p", "d", "g", "k", "s", "n", "L"]
    # the activations' general letters are the network's here: written with a tilde
    assert n.letter("D") == r"\tilde{D}" and n.letter("C_in") == r"C_{\mathrm{in}}"


# ---- the stored activations' letter and the JSON's formula strings (issue 11's last defects)

_SPEC_I = """
name = "net-with-I"
[input]
shape = [1, "I", "H"]
[[layers]]
type = "Conv2d"
name = "L1"
out_channels = "k"
kernel_size = 3
[[layers]]
type = "Flatten"
[[layers]]
type = "Linear"
name = "L2"
out_features = 2
"""


def test_a_symbol_I_renames_the_stored_activations():
    """``I`` (or ``I_1``) as a network symbol would read like the activations I_1, I_2:
    they take another letter, X, in LaTeX, in the text report and in the JSON."""
    assert notation({size("C"), size("H")}).activation == "I"
    for taken in ("I", "I_1", "I_12"):
        n = notation({size(taken)})
        assert n.activation == "X" and n.text_label("I_3") == "X_3", taken
    # a symbol already called X (or X_2) pushes the letter on to the next candidate
    assert notation({size("I"), size("X")}).activation == "J"
    assert notation({size("I"), size("X_2")}).text_label("I_1") == "J_1"
    report = make_report(parse_spec(_SPEC_I))
    doc = render_string(report, "worksheet")
    # the input I x H, one channel: I_1 is the input, written in the new letter
    assert r"X_{1} &= " in doc and r"X_1 + 2 \sum" in doc
    # a plain I_1 is now only the network's own size I after L1 (named I_1 = I - 2)
    plain = re.findall(r"(?<![\\\w{])I_\{?[0-9i]\}? ?(?:&=|=|\+)[^&\n]*", doc)
    assert plain == ["I_{1} &= I - 2 "], plain
    from symcnn.render.jsonreport import to_json
    from symcnn.render.textreport import render_text
    text = render_text(report)
    assert "X_1 = " in text and "X_2 = " in text and "I_1 =" not in text
    labels = [layer["activation_label"] for layer in to_json(report)["layers"]]
    assert labels == ["X_2", None, "X_3"]  # the Flatten is a view


_PLAIN = re.compile(r"\\mathrm\{(\w+)\}|([\w']+)")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sets(st.sampled_from(["I", "I_1", "I_12", "X", "X_2", "J", "J_3", "Act", "A", "C",
                                "H_2", "x", "j"])))
def test_the_activation_letter_reads_the_same_in_text_and_latex(taken):
    """Whatever symbols a network has, the activations' letter is I unless a symbol is
    written I or I_<n>; it is never a symbol, nor a symbol's letter with an index; and the
    text report writes the letter the LaTeX does (``\\mathrm{Act}`` as ``Act``)."""
    n = notation({size(t) for t in taken})
    text, tex = n.text["activation"], n.activation
    assert (text == "I") == (not {"I", "I_1", "I_12"} & taken)
    assert "".join(a or b for a, b in _PLAIN.findall(tex)) == text
    assert text not in taken and not any(re.fullmatch(rf"{re.escape(text)}_\d+", t) for t in taken)
    assert n.text_label("I_7") == f"{text}_7" and n.text_label("S_7") == "S_7"


@pytest.mark.parametrize("taken", ["I", "I_1"])
def test_every_output_writes_the_same_activation_letter(taken):
    """A network with a symbol ``I`` (or ``I_1``): the text report, the JSON, the Markdown
    and the LaTeX name the input's activation with one letter, X (the input ``1 x I x H``
    is stored first: its label is the letter with index 1)."""
    from symcnn.render.jsonreport import to_json
    from symcnn.render.textreport import render_text
    report = make_report(parse_spec(_SPEC_I.replace('"I"', f'"{taken}"')))
    text = render_text(report)
    assert "X_1 = " in text and "X_1 + 2*(X_2 + X_3)" in text
    assert "b (X_1 + 2 sum of the allocated outputs)" in text  # the convention, in words
    assert to_json(report)["layers"][0]["activation_label"] == "X_2"
    for template in ("markdown", "worksheet", "slides"):
        doc = render_string(report, template)
        assert re.search(r"X_\{?1\}? &?= ", doc), template
        if template != "slides":  # the slides do not say the convention in words
            assert re.search(r"b \(\$?X\\?_\{?1\}?\$? \+ 2 sum", doc), template
        assert not re.search(r"(?<![\\\w{])I_\{?[0-9]\}? ?&?= [^&\n]*(?:\\times|\bB\b)", doc), template


def test_json_formulas_in_the_documents_letters():
    """A network symbol ``k`` makes the kernel size ``kappa`` in the documents; the JSON's
    formula strings follow, and still give the layer's count: a 3x3 convolution of one
    channel into k is (9*1 + 1)*k parameters and 9*1*k*(I - 2)*(H - 2) MACs (by hand)."""
    from symcnn.expressions import read_expression
    from symcnn.render.jsonreport import to_json
    report = make_report(parse_spec(_SPEC_I))
    conv = to_json(report)["layers"][0]
    params = read_expression(conv["params_formula"])
    macs = read_expression(conv["macs_formula"])
    names = {str(x) for x in params.free_symbols | macs.free_symbols}
    assert "k" not in names and "kappa" in names, names
    by_name = {str(x): x for x in params.free_symbols | macs.free_symbols}
    k, i, h = size("k"), size("I"), size("H")
    put = {by_name["kappa"]: 3, by_name["C_in"]: 1, by_name["C_out"]: k,
           **{by_name[n]: v for n, v in (("H_out", i - 2), ("W_out", h - 2)) if n in by_name}}
    assert (params.subs(put) - 10 * k).expand() == 0
    assert (macs.subs(put) - 9 * k * (i - 2) * (h - 2)).expand() == 0


def test_the_slides_total_of_macs_is_not_the_parameters_sum():
    """``N = sum_i L_i`` sums the parameter counts; the MACs slide sums its own lines
    (L1 ... L9 there are each layer's MACs), not ``sum_i L_i`` again. The lecture's total is
    fvcore's 121,987,539,810 (tests/test_macs.py)."""
    from symcnn import example_spec
    doc = render_string(make_report(example_spec("lecture")), "slides")
    macs = [line for line in doc.splitlines() if r"\text{MACs} =" in line]
    assert macs == [r"  \breakmath{\text{MACs} = \mathrm{L1} + \dots + \mathrm{L9} = "
                    r"121{,}987{,}539{,}810}"]
    assert doc.count(r"\sum_i L_i") == 1  # N = sum_i L_i on the parameters' slide


def test_the_activation_formula_has_its_letters_in_the_order_of_its_numbers():
    """ResNet-18's input is 3 x 224 x 224 (channels first) and written 224 x 224 x 3 x 4:
    the worksheet's letters read H W C s in that order (it said C H W s)."""
    from symcnn import example_spec
    doc = render_string(make_report(example_spec("resnet18")), "worksheet")
    assert r"I_{1} &= H W C s = 224 \times 224 \times 3 \times 4 = " in doc
    assert r"(each $I_i = H W C s$ of one stored output)" in doc and "C\\,H\\,W\\,s" not in doc

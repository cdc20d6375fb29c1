"""LaTeX and Markdown formatting: escaping, written order, digit grouping, line breaking."""

import pytest
import sympy

from symcnn.layers.base import written_add, written_mul
from symcnn.render.latex import (
    TeX,
    escape_latex,
    escape_markdown,
    formula,
    group_digits,
    math,
    sum_lines,
    written,
)
from symcnn.symbols import size

C, D = size("C"), size("D")


@pytest.mark.parametrize("text, expected", [
    ("conv_1 & 50%", r"conv\_1 \& 50\%"),
    ("$x$ #1 {a} ~ ^", r"\$x\$ \#1 \{a\} \textasciitilde{} \textasciicircum{}"),
    (r"a\b", r"a\textbackslash{}b"),
    ("<>", r"\textless{}\textgreater{}"),
    ("plain text", "plain text"),
])
def test_escape_latex(text, expected):
    assert escape_latex(text) == expected


def test_escaped_text_is_not_escaped_twice():
    once = escape_latex("a_b")
    assert isinstance(once, TeX) and escape_latex(once) == once


def test_escape_markdown():
    assert escape_markdown("conv_1 | *x* $y$") == r"conv\_1 \| \*x\* \$y\$"
    assert escape_markdown("(F2024)") == "(F2024)"  # \( would start math in notebooks


def test_written_order_kept():
    e = written_mul(written_add(written_mul(27, 30), 1), 30)
    assert written(e) == r"\left(27 \times 30 + 1\right) \times 30"
    assert e.doit() == 24330


def test_general_formula_order():
    k, cin, cout = size("k"), size("C_in"), size("C_out")
    e = written_mul(written_add(written_mul(k**3, cin), 1), cout)
    assert formula(e) == r"\left(k^{3} C_{\mathrm{in}} + 1\right) C_{\mathrm{out}}"


def test_evaluated_sums_print_normally_inside_written_ones():
    # D - 61 was evaluated by sympy; it prints D - 61, not -61 + D
    assert written(written_mul(D - 61, 2)) == r"\left(D - 61\right) \times 2"


def test_digits():
    assert group_digits(3301651) == "3{,}301{,}651"
    assert math(213841) == "213{,}841"
    assert math(840) == "840"
    assert math(sympy.Integer(-1234)) == "-1{,}234"


def test_sum_lines_breaks_long_sums_only():
    short = sum_lines(C + 1)
    assert r"\\" not in short
    long = sum_lines(sympy.Add(*(size(f"x_{i}") * (D - i) for i in range(1, 12))), width=30)
    assert long.count(r"\\ &+") >= 3
    assert sum_lines(4 * (C + D), width=2) == r"4 C \\ &+ 4 D"

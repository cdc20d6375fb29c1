"""Mathematics is printed with precedence: every printed shape and formula, read back by
symcnn's own expression parser, is the expression it was printed from (text, LaTeX as in
the documents and the Markdown, and the JSON strings)."""

import re

import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import symcnn
from symcnn import make_report
from symcnn.expressions import read_expression as parse_expression  # the reader of written output
from symcnn.intdiv import FloorDiv
from symcnn.render import latex
from symcnn.render.formatting import shape as text_shape
from symcnn.render.jsonreport import to_json
from symcnn.render.textreport import render_text
from symcnn.symbols import size

SYMBOLS = [size(n) for n in "CDHW"]


def _combine(children):
    """Sums, differences, products, floor divisions and powers: integers, as sizes are."""
    pairs = st.tuples(children, children)
    return st.one_of(
        pairs.map(lambda p: p[0] + p[1]),
        pairs.map(lambda p: p[0] - p[1]),
        pairs.map(lambda p: p[0] * p[1]),
        st.tuples(children, st.integers(2, 16)).map(lambda p: FloorDiv(p[0], p[1])),
        st.tuples(children, st.integers(2, 3)).map(lambda p: p[0] ** p[1]),
    )


expressions = st.recursive(
    st.one_of(st.sampled_from(SYMBOLS), st.integers(-20, 5000).map(sympy.Integer)),
    _combine, max_leaves=6)


POINTS = [dict(zip(SYMBOLS, v)) for v in [(1, 2, 3, 4), (7, 11, 13, 5), (30, 193, 229, 193),
                                          (64, 17, 1, 1000), (3, 1, 9, 2)]]


def _same(a, b) -> bool:
    """Equal as functions of the sizes: ``floor(2C/4)`` is ``floor(C/2)``, however written."""
    a, b = sympy.sympify(a), sympy.sympify(b)
    return sympy.expand(a - b) == 0 or all(a.subs(p) == b.subs(p) for p in POINTS)


# ---- LaTeX read back: the subset symcnn prints, turned into the parser's grammar --------

def _group(tex: str, start: int) -> tuple[str, int]:
    """The text of the brace group that opens at ``start`` and the index after it."""
    assert tex[start] == "{", tex[start:]
    depth = 0
    for i in range(start, len(tex)):
        depth += {"{": 1, "}": -1}.get(tex[i], 0)
        if depth == 0:
            return tex[start + 1:i], i + 1
    raise AssertionError(f"unbalanced braces in {tex!r}")


def latex_to_text(tex: str) -> str:
    """``\\left(D - 2\\right) \\times 2 C^{2}`` -> ``(D - 2) * 2*C**(2)``."""
    tex = tex.replace("{,}", "")
    out, i = [], 0
    while i < len(tex):
        if tex.startswith(r"\left\lfloor", i):
            i += len(r"\left\lfloor")
            i = tex.index(r"\frac", i) + len(r"\frac")
            num, i = _group(tex, i)
            den, i = _group(tex, i)
            i = tex.index(r"\right\rfloor", i) + len(r"\right\rfloor")
            out.append(f"floor(({latex_to_text(num)})/({latex_to_text(den)}))")
        elif tex.startswith(r"\frac", i):
            num, i = _group(tex, i + len(r"\frac"))
            den, i = _group(tex, i)
            out.append(f"(({latex_to_text(num)})/({latex_to_text(den)}))")
        elif tex.startswith("^", i):
            exp, i = _group(tex, i + 1)
            out.append(f"**({latex_to_text(exp)})")
        elif tex.startswith(r"\left(", i) or tex.startswith(r"\right)", i):
            opening = tex[i + 1] == "l"
            out.append("(" if opening else ")")
            i += len(r"\left(") if opening else len(r"\right)")
        elif tex.startswith(r"\times", i) or tex.startswith(r"\cdot", i):
            out.append("*")
            i += len(r"\times") if tex[i + 1] == "t" else len(r"\cdot")
        else:
            assert tex[i] != "\\", f"unexpected command in {tex[i:]!r}"
            out.append(tex[i])
            i += 1
    text = "".join(out)
    # juxtaposition is a product: "27 C" and "2 (D - 1)" and ") (" but not "D - 5"
    return re.sub(r"(?<=[\w)])\s+(?=[\w(])", "*", text)


def test_latex_reader_reads_what_it_should():
    assert latex_to_text(r"27 C^{2} + C") == "27*C**(2) + C"
    assert latex_to_text(r"\left(D - 2\right) \times 3{,}000") == "(D - 2) * 3000"


# ---- shapes ------------------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(st.lists(expressions, min_size=1, max_size=4))
def test_text_shape_reads_back_as_the_product(dims):
    printed = text_shape(dims).replace(",", "")
    parsed = parse_expression(printed.replace(" x ", " * "))
    assert _same(parsed, sympy.Mul(*dims)), printed


@settings(max_examples=150, deadline=None)
@given(st.lists(expressions, min_size=1, max_size=4))
def test_latex_shape_reads_back_as_the_product(dims):
    printed = latex.shape(dims)
    assert _same(parse_expression(latex_to_text(printed)), sympy.Mul(*dims)), printed


@settings(max_examples=150, deadline=None)
@given(expressions)
def test_latex_math_reads_back(expr):
    printed = latex.math(expr)
    assert _same(parse_expression(latex_to_text(printed)), expr), printed


@settings(max_examples=100, deadline=None)
@given(expressions, expressions)
def test_a_factor_times_b_keeps_its_brackets(a, b):
    """``factor`` is what templates put before ``\\, b``: a sum keeps its brackets."""
    printed = latex.factor(a) + r" \times " + latex.factor(b)
    assert _same(parse_expression(latex_to_text(printed)), a * b), printed


# ---- the shipped symbolic lecture --------------------------------------------------------

def test_symbolic_lecture_shapes_read_back_everywhere():
    report = make_report(symcnn.example_spec("lecture_symbolic"))
    text = render_text(report)
    assert "C x (D - 2) x (H - 2) x (W - 2)" in text
    assert "C x D - 2" not in text
    tex = symcnn.render.documents.render_string(report, "slides")
    md = symcnn.render.documents.render_string(report, "markdown")
    data = to_json(report)
    named = report.derivation.sizes  # the slides write shapes in the sizes named per layer
    for row, layer in zip(report.analysis.rows, data["layers"]):
        product = sympy.Mul(*row.output_shape)
        printed = latex.shape(row.output_shape)
        in_names = named.shapes[row.name]
        assert latex.shape(in_names) in tex and printed in md
        assert _same(named.closed(sympy.Mul(*in_names)), product)
        breakable = latex.shape(row.output_shape, allow_breaks=True)  # LaTeX may break it
        assert breakable.replace(r"\allowbreak ", "") == printed
        assert _same(parse_expression(latex_to_text(printed)), product)
        assert _same(parse_expression(text_shape(row.output_shape).replace(",", "")
                                      .replace(" x ", "*")), product)
        for dim, value in zip(row.output_shape, layer["output_shape"]):
            assert _same(parse_expression(str(value)), dim)
    assert _same(parse_expression(data["total_params"]), report.total_params)


# ---- a whole size is written without thousands separators (one axis never reads as two) --

@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 10**7), min_size=1, max_size=4))
def test_whole_sizes_print_one_number_per_axis(dims):
    """``213840`` as one axis: split on the product sign, each axis is its decimal digits."""
    sizes = [sympy.Integer(d) for d in dims]
    assert text_shape(sizes).split(" x ") == [str(d) for d in dims]
    assert latex.shape(sizes).split(r" \times ") == [str(d) for d in dims]


def test_the_lecture_flatten_row_is_one_axis_everywhere():
    """The lecture's Flatten holds 240 x 9 x 11 x 9 = 213840 elements (the seed's L8 output),
    one axis: the text report, the slides and the Markdown write it as one number."""
    from symcnn.render.documents import render_string
    report = make_report(symcnn.example_spec("lecture"))
    flat = 240 * 9 * 11 * 9
    row = next(line for line in render_text(report).splitlines() if "Flatten" in line)
    assert f"  {flat}  " in row and "213,840" not in row
    for template in ("slides", "markdown"):
        doc = render_string(report, template)
        assert f"${flat}$" in doc and "213{,}840$ &" not in doc, template

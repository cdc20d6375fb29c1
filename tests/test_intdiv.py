"""FloorDiv against Python's own integer floor division, at random sizes."""

import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from symcnn.intdiv import FloorDiv, ceil_div, product
from symcnn.symbols import size

n, m = size("n"), size("m")


@given(st.integers(-10**6, 10**6), st.integers(1, 1000))
def test_numbers(p, q):
    assert FloorDiv(p, q) == p // q
    assert ceil_div(p, q) == -((-p) // q)


@settings(max_examples=200)
@given(st.integers(1, 10**5), st.lists(st.tuples(st.integers(1, 4), st.integers(-7, 7)),
                                       min_size=1, max_size=6))
def test_nested_divisions_collapse_and_stay_exact(x, stages):
    """(...((n + c1)//s1 + c2)//s2 ...) keeps one division and equals the integer recursion."""
    expr, value = n, x
    for s, c in stages:
        expr = FloorDiv(expr + c, s)
        value = (value + c) // s
    assert expr.subs(n, x) == value
    assert len(expr.atoms(FloorDiv)) <= 1
    assert sum(1 for _ in sympy.preorder_traversal(expr)) < 20


@given(st.integers(1, 10**4), st.integers(1, 10**4), st.integers(1, 9), st.integers(-20, 20))
def test_divisible_terms_taken_out(x, y, q, c):
    expr = FloorDiv(q * n + 2 * q * m + c, q)
    assert expr.subs({n: x, m: y}) == (q * x + 2 * q * y + c) // q


def test_printing_parses_back():
    e = FloorDiv(FloorDiv(n - 3, 2) - 2, 2) + 1
    assert str(e) == "floor((n - 7)/4) + 1"
    assert sympy.latex(e) == r"\left\lfloor \frac{n - 7}{4} \right\rfloor + 1"
    back = sympy.sympify(str(e), locals={"n": n})
    for x in range(1, 40):
        assert back.subs(n, x) == e.subs(n, x)


def test_product():
    assert product([]) == 1
    assert product([n, 2, m]) == 2 * n * m

"""The spec-expression parser: what it reads, and that it never evaluates Python."""

import pytest
import sympy

from symcnn import SymcnnError
from symcnn.expressions import parse_expression
from symcnn.intdiv import FloorDiv
from symcnn.symbols import size

C, D = size("C"), size("D")


@pytest.mark.parametrize("text, expected", [
    ("2*C", 2 * C),
    ("C + 2*C - 1", 3 * C - 1),
    ("-(C) + 4", 4 - C),
    ("C**2", C**2),
    ("2**10", 1024),
    ("1.5", sympy.Rational(3, 2)),
    ("C / 2", C / 2),
    ("floor(D/4)", FloorDiv(D, 4)),
    ("ceil(D/4)", FloorDiv(D + 3, 4)),
    ("min(C, 8)", sympy.Min(C, 8)),
    ("max(C, 8, D)", sympy.Max(C, D, 8)),
    ("floor(floor(D/2)/2)", FloorDiv(D, 4)),
    ("  ( C ) ", C),
])
def test_reads(text, expected):
    assert parse_expression(text) == expected


def test_names_are_positive_integers():
    e = parse_expression("Cin")
    assert e.is_integer and e.is_positive


@pytest.mark.parametrize("text, message", [
    ("__import__('os').system('true')", 'unexpected character "_"'),
    ("C.__class__", 'unexpected character "."'),
    ("exec(1)", "unknown function 'exec'"),
    ("exec('1')", "unexpected character \"'\""),
    ("lambda: 1", "unexpected character \":\""),
    ("[1, 2]", 'unexpected character "["'),
    ("C^2", "use ** for powers"),
    ("9**99", "exponent must be a whole number from 0 to 64"),
    ("2**C", "exponent must be a whole number"),
    ("C/0", "division by zero"),
    ("C C", "unexpected 'C'"),
    ("(C", "expected ')'"),
    ("floor(C, 2)", "floor takes one argument"),
    ("floor", "floor must be called"),
    ("", "empty expression"),
    ("C" * 600, "longer than 500 characters"),
])
def test_refuses(text, message):
    with pytest.raises(SymcnnError, match=None) as info:
        parse_expression(text)
    assert message in str(info.value)


def test_sympify_is_never_called(monkeypatch):
    """Parsing builds the expression itself: no eval-based sympy parsing is involved."""
    def forbidden(*args, **kwargs):
        raise AssertionError("sympify/parse_expr called on user text")
    import sympy.parsing.sympy_parser as sp
    monkeypatch.setattr(sympy, "sympify", forbidden)
    monkeypatch.setattr(sp, "parse_expr", forbidden)
    assert parse_expression("floor((D - 3)/2) + 2*C") == FloorDiv(D - 3, 2) + 2 * C

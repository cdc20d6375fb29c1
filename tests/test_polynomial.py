"""The sparse polynomials of the dominance proofs (symcnn.analysis.polynomial) against sympy's
own expansion, and the proofs' shortcuts (symcnn.analysis.dominance) against the full
coefficient test they stand in for."""

import itertools
from fractions import Fraction

import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import symcnn
from symcnn import make_report
from symcnn.analysis.dominance import Parameters, reduce_max
from symcnn.analysis.named import live_elements
from symcnn.analysis.polynomial import Poly
from symcnn.options import MemoryOptions

X = sympy.symbols("x0:4")

# a polynomial as {exponents: coefficient} in four variables, small degrees
monomials = st.tuples(*[st.integers(0, 3)] * 4)
coefficients = st.fractions(min_value=-5, max_value=5, max_denominator=3)
polys = st.dictionaries(monomials, coefficients, max_size=6)


def as_poly(terms) -> Poly:
    out = Poly.constant(0)
    for exps, c in terms.items():
        m = Poly.constant(c)
        for i, e in enumerate(exps):
            m = m * Poly.generator(i) ** e
        out = out + m
    return out


def as_sympy(terms) -> sympy.Expr:
    return sympy.Add(*(sympy.Rational(c.numerator, c.denominator) * sympy.Mul(
        *(x**e for x, e in zip(X, exps))) for exps, c in terms.items()))


def coefficients_of(p: Poly) -> dict:
    """``p``'s terms by exponent tuple (unpacking the monomials by hand)."""
    from symcnn.analysis.polynomial import WIDTH
    mask = (1 << WIDTH) - 1
    return {tuple((m >> (WIDTH * i)) & mask for i in range(4)): c for m, c in p.terms.items()}


def sympy_coefficients(expr) -> dict:
    poly = sympy.Poly(sympy.expand(expr), *X)
    return {m: c for m, c in zip(poly.monoms(), poly.coeffs()) if c != 0}


@settings(max_examples=200, deadline=None)
@given(a=polys, b=polys, k=st.integers(0, 3))
def test_arithmetic_is_sympys(a, b, k):
    pa, pb, sa, sb = as_poly(a), as_poly(b), as_sympy(a), as_sympy(b)
    for ours, theirs in ((pa + pb, sa + sb), (pa - pb, sa - sb), (pa * pb, sa * sb),
                         (pa ** k, sa ** k), (3 - pa, 3 - sa),
                         (pa * Fraction(1, 2), sa / 2), (pa * 0, sympy.Integer(0))):
        assert coefficients_of(ours) == sympy_coefficients(theirs)


@settings(max_examples=200, deadline=None)
@given(a=polys, b=polys)
def test_dominates_is_the_coefficient_test(a, b):
    expected = all(c >= 0 for c in sympy_coefficients(as_sympy(a) - as_sympy(b)).values())
    assert as_poly(a).dominates(as_poly(b)) == expected


def test_the_shortcuts_prove_no_more_than_the_expansion():
    """On every pair of the symbolic lecture's and the U-Net's live sets (in names and closed),
    ``at_least`` (samples, then the term-by-term proof, then the expansion) agrees with the
    expansion's coefficient test alone."""
    for name in ("lecture_symbolic", "unet2d"):
        report = make_report(symcnn.example_spec(name))
        named = report.derivation.sizes
        proof = Parameters(named, report.network.free_symbols)
        live = list(dict.fromkeys(e for _, e in live_elements(report.analysis, named)))
        live += [named.closed(e) for e in live]
        proved = 0
        for x, y in itertools.permutations(live, 2):
            px, py = proof.express(x), proof.express(y)
            full = px is not None and py is not None and \
                all(c >= 0 for c in (px - py).terms.values())
            assert proof.at_least(x, y) == full, (x, y)
            proved += full
        assert proved > 0


def test_a_maximum_with_nothing_to_cut_keeps_its_order():
    """A deep network's simulated step: hundreds of moments, none proved away (beyond
    MAX_ARGUMENTS none is tried); the maximum comes back as the same object, in the moments'
    order, not sorted again by sympy."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import deep_network
    report = make_report(deep_network.build(128), MemoryOptions("pytorch"))
    full = report.memory.training(1)
    assert isinstance(full, sympy.Max) and len(full.args) > 200
    assert reduce_max(full, report.derivation.proof) is full

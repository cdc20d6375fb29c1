"""The fast sums of the simulated step (symcnn.memory.pytorch.moments) are sympy's own:
the same canonical expressions, hash and arguments, and the same operation counts; shared
prefixes of allocations read as the lists they stand for."""

import random

import sympy

import symcnn
from symcnn.layers import Conv2d
from symcnn.memory.estimate import count_ops, estimate_memory
from symcnn.memory.pytorch.moments import Ledger, Prefix, fast_add, unsorted
from symcnn.options import MemoryOptions
from symcnn.symbols import size

C, H, W = size("C"), size("H"), size("W")


def symbolic_moments(depth=70):
    """A symbolic conv chain (stride 2 every 32 layers): moments of tens of terms."""
    layers = [Conv2d(out_channels=C, kernel_size=3, padding=1, stride=2 if i % 32 == 31 else 1)
              for i in range(depth)]
    a = symcnn.analyze(symcnn.Network.sequential("deep", (C, H, W), layers))
    options = MemoryOptions(convention="pytorch", device="cpu", precision="bf16")
    return estimate_memory(a, options).simulation.moments


def test_fast_add_is_sympys_add():
    values = [e for m in symbolic_moments() for e in (m.fixed, m.per_sample)]
    values += [C**2, 3 * C**2 + C, sympy.floor(H / 2), H * W]
    rng = random.Random(0)
    for _ in range(1500):
        xs = [rng.choice(values) * rng.choice([1, -1, 2, 3, C]) + rng.choice([0, 5, -3, C])
              for _ in range(rng.randint(1, 4))]
        xs += rng.choice([[], [-xs[0]], [xs[0]], [0], [sympy.Rational(1, 2)]])
        got, want = fast_add(xs), sympy.Add(*xs)
        assert got == want and hash(got) == hash(want) and got.args == want.args


def test_count_ops_is_sympys():
    for m in symbolic_moments():
        for e in (m.per_sample, m.fixed, -m.per_sample, m.per_sample - 7, m.fixed / 3 + 2):
            assert count_ops(e) == sympy.count_ops(e)


def test_ledger_prefixes():
    ledger = Ledger(fixed=100)
    for position, nbytes, per in [(1, 10, True), (1, 5, False), (3, 7, True)]:
        ledger.add(position, nbytes, per)
    assert ledger.upto(0) == (100, 0, ())
    fixed, per, parts = ledger.upto(2)
    assert (fixed, per, tuple(parts)) == (105, 10, ((0, 10), (5, 0)))
    assert ledger.at(3) == (0, 7, ((0, 7),))
    assert isinstance(parts, Prefix) and parts[:1] == ((0, 10),) and parts[-1] == (5, 0)
    assert list(ledger.first(3)[2]) == [(0, 10), (5, 0), (0, 7)]


def test_long_max_keeps_the_moments_order():
    x = sympy.Symbol("x")
    assert unsorted(sympy.Max, [x, 3, x]) == sympy.Max(3, x)     # short: as sympy sorts it
    long = unsorted(sympy.Max, [x + i for i in range(200, 0, -1)])
    assert long.args[0] == x + 200 and len(long.args) == 200
    assert long.subs(x, 1) == 201

import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

from symcnn import SymcnnError, max_batch_size
from symcnn.options import MemoryOptions
from symcnn.solve import M
from symcnn.symbols import size


@given(st.integers(0, 10**10), st.integers(1, 10**10), st.integers(1, 10**12))
def test_largest_batch_is_exact(fixed, per_sample, budget):
    limit = max_batch_size(fixed, per_sample, budget)
    b = int(limit.value)
    assert fixed + b * per_sample <= budget < fixed + (b + 1) * per_sample
    assert limit.fits == (b >= 1)
    if b < 1:
        assert limit.shortfall == fixed + per_sample - budget > 0
    else:
        assert limit.shortfall == 0
    assert limit.formula.subs(M, budget) == b


def test_symbolic_per_sample():
    C = size("C")
    limit = max_batch_size(100 * C, 10 * C**2, "1GB")
    assert limit.fits is None
    assert limit.value.subs(C, 10) == (10**9 - 1000) // 1000


def test_no_growth_refused():
    with pytest.raises(SymcnnError):
        max_batch_size(10, 0, "1GB")


def test_units_of_budget():
    assert max_batch_size(0, 2**30, "11GiB").value == 11
    assert max_batch_size(0, 10**9, "11GiB").value == 11  # 11.81 GB
    assert max_batch_size(0, 10**9, "12GB").value == 12
    assert isinstance(max_batch_size(0, 10**9, "12GB").value, sympy.Integer)


def test_largest_batch_with_allocator_rounding_by_brute_force():
    """With allocations rounded to 512 B the largest batch is the last one whose rounded
    peak fits, found here by trying every batch size."""
    import symcnn
    from symcnn.memory.estimate import estimate_memory
    from symcnn.solve import max_batch_size_moments
    spec = symcnn.parse_spec("""
[input]
shape = [3, 9, 7]
[[layers]]
type = "Conv2d"
out_channels = 5
kernel_size = 3
[[layers]]
type = "ReLU"
[[layers]]
type = "Flatten"
[[layers]]
type = "Linear"
out_features = 3
""")
    a = symcnn.analyze(spec.network)
    mem = estimate_memory(a, MemoryOptions("pytorch", allocator_block=512))
    for budget in (40_000, 123_457, 1_000_003):
        fits = [b for b in range(1, 2000) if int(mem.training(b)) <= budget]
        expected = max(fits) if fits else 0
        assert max_batch_size_moments(mem.simulation.moments, budget, 512).value == expected
        unrounded = max_batch_size_moments(mem.simulation.moments, budget).value
        assert expected <= unrounded


def test_shortfall_with_allocator_rounding_by_hand():
    """Issue 12, class 10: one moment of two allocations, 500 B and 60 B per sample, in
    512 B blocks: one sample needs 512 + 512 = 1,024 B, not 500 + 60 = 560 B."""
    from symcnn.memory.pytorch.timeline import Moment
    from symcnn.solve import max_batch_size_moments
    moment = [Moment("backward", "a", 500, 60, parts=(((500, 0), (0, 60)),))]
    # 1,000 B: 560 B fit unrounded (8 samples), 1,024 B rounded do not: 24 B short (was -440)
    limit = max_batch_size_moments(moment, 1000, 512)
    assert (limit.value, limit.fits, limit.shortfall) == (0, False, 1024 - 1000)
    # 520 B: not even unrounded; rounded 1,024 - 520 = 504 B short (was 560 - 520 = 40)
    limit = max_batch_size_moments(moment, 520, 512)
    assert (limit.value, limit.shortfall) == (0, 504)
    # 1,600 B: fits (17 samples rounded: 512 + ceil(1020 / 512) 512 = 1,536 B), no shortfall
    limit = max_batch_size_moments(moment, 1600, 512)
    assert (limit.value, limit.shortfall) == (17, 0)


def test_shortfall_counts_a_moment_that_does_not_grow():
    """A moment that does not grow with the batch (1,200 B) and exceeds a 1,000 B budget
    binds the shortfall: 200 B, not the growing moment's 100 + 10 - 1,000 < 0."""
    from symcnn.memory.pytorch.timeline import Moment
    from symcnn.solve import max_batch_size_moments
    moments = [Moment("forward", "a", 100, 10), Moment("optimizer", "b", 1200, 0)]
    limit = max_batch_size_moments(moments, 1000)
    assert (limit.value, limit.shortfall) == (0, 200)

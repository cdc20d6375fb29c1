"""Symbolic formulas against direct integer arithmetic at random sizes.

A random chain of 2-D layers is built with symbolic channels ``C`` and input ``H x W``;
its shapes, parameter counts and lecture memory, with numbers substituted, must equal
a plain-integer re-computation written here independently of symcnn.
"""

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from symcnn import Network, analyze, estimate_memory
from symcnn.layers import AvgPool2d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU
from symcnn.symbols import size

C, H, W = size("C"), size("H"), size("W")

conv = st.fixed_dictionaries({"kind": st.just("conv"), "mult": st.sampled_from([1, 2, 4]),
                              "k": st.integers(1, 5), "s": st.integers(1, 3),
                              "p": st.integers(0, 2), "d": st.integers(1, 2),
                              "bias": st.booleans()})
pool = st.fixed_dictionaries({"kind": st.sampled_from(["max", "avg"]), "k": st.integers(2, 3),
                              "s": st.integers(1, 3)})
simple = st.sampled_from([{"kind": "relu"}, {"kind": "relu_inplace"}, {"kind": "bn"}])
chains = st.lists(st.one_of(conv, pool, simple), min_size=1, max_size=8)


def symcnn_layer(spec):
    kind = spec["kind"]
    if kind == "conv":
        return Conv2d(out_channels=spec["mult"] * C, kernel_size=spec["k"], stride=spec["s"],
                      padding=spec["p"], dilation=spec["d"], bias=spec["bias"])
    if kind in ("max", "avg"):
        cls = MaxPool2d if kind == "max" else AvgPool2d
        return cls(kernel_size=spec["k"], stride=spec["s"])
    if kind == "bn":
        return BatchNorm2d()
    return ReLU(inplace=kind == "relu_inplace")


def by_hand(chain, c, h, w, c_in=3):
    """Shapes, parameters and stored activations with plain integers (4-byte floats)."""
    shape, params, stored, buffers = (c_in, h, w), [], [], 0
    for spec in chain:
        ch, hh, ww = shape
        kind = spec["kind"]
        if kind == "conv":
            k, s, p, d = spec["k"], spec["s"], spec["p"], spec["d"]
            size_ = lambda n: (n + 2 * p - d * (k - 1) - 1) // s + 1  # noqa: E731
            out = spec["mult"] * c
            shape = (out, size_(hh), size_(ww))
            params.append(k * k * ch * out + (out if spec["bias"] else 0))
        elif kind in ("max", "avg"):
            k, s = spec["k"], spec["s"]
            shape = (ch, (hh - k) // s + 1, (ww - k) // s + 1)
            params.append(0)
        elif kind == "bn":
            params.append(2 * ch)
            buffers += 2 * ch * 4 + 8
        else:
            params.append(0)
        if min(shape) < 1:
            return None
        if kind != "relu_inplace":
            stored.append(shape[0] * shape[1] * shape[2] * 4)
    n_params = sum(params)
    per_sample = c_in * h * w * 4 + 2 * sum(stored)
    return shape, params, n_params, 2 * n_params * 4 + buffers, per_sample


@settings(max_examples=60, deadline=None)
@given(chains, st.integers(1, 64), st.integers(8, 200), st.integers(8, 200))
def test_symbolic_chain_matches_integer_arithmetic(chain, c, h, w):
    expected = by_hand(chain, c, h, w)
    assume(expected is not None)
    shape, params, total, fixed, per_sample = expected
    net = Network.sequential("random", (3, H, W), [symcnn_layer(s) for s in chain])
    a = analyze(net)
    values = {C: c, H: h, W: w}
    assert tuple(x.subs(values) for x in a.output_shape) == shape
    assert [r.params.subs(values) for r in a.rows] == params
    assert a.total_params.subs(values) == total
    m = estimate_memory(a)
    assert m.fixed.subs(values) == fixed
    assert m.per_sample.subs(values) == per_sample
    assert m.training(5).subs(values) == fixed + 5 * per_sample
    # the same network built from numbers gives the same values
    numeric = analyze(net.subs(values))
    assert numeric.total_params == total
    assert estimate_memory(numeric).per_sample == per_sample


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 16), st.integers(3, 300), st.integers(1, 8))
def test_flatten_linear_params(c, h, n_out):
    from symcnn.layers import Conv1d
    net = Network.sequential("fc", (C, H), [Conv1d(out_channels=2 * C, kernel_size=3, stride=2),
                                            Flatten(), Linear(out_features=n_out)])
    a = analyze(net)
    length = (h - 3) // 2 + 1
    expected = (3 * c * 2 * c + 2 * c) + (2 * c * length + 1) * n_out
    assert a.total_params.subs({C: c, H: h}) == expected

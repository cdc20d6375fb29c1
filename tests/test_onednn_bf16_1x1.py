"""symcnn.memory.pytorch.onednn.bf16_1x1 against the measured oneDNN bf16 1x1-convolution scratchpads.

validation/results/cpu_conv_bf16_1x1.json (validation/conv_bf16_1x1.py, torch 2.13.0+cpu,
oneDNN v3.12.0, AVX-512 bf16): 31 1x1 layers x batches 1, 2, 4, 8 x threads 1, 2, 4, forward
and backward under bf16 autocast.  No torch needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from symcnn.memory.pytorch.onednn import bf16 as ob
from symcnn.memory.pytorch.onednn import bf16_1x1 as o1

RESULTS = (Path(__file__).resolve().parent.parent / "validation" / "results"
           / "cpu_conv_bf16_1x1.json")
ROWS = json.loads(RESULTS.read_text())["rows"]
IMPL = "jit_bf16_1x1:avx512_core_bf16"


def _args(r):
    return (r["c_in"], r["c_out"], r["kernel"], r["stride"], r["padding"], tuple(r["spatial"]),
            r["batch"], r["threads"])


def _label(r):
    return (f"t{r['threads']}-{r['dim']}d-{r['c_in']}-{r['c_out']}-s{r['stride']}"
            f"-{'x'.join(map(str, r['spatial']))}-b{r['batch']}{'' if r['bias'] else '-nobias'}")


FWD_ROWS = [r for r in ROWS if r["impl_forward"] == IMPL]
DATA_ROWS = [r for r in ROWS if r["impl_backward_data"] == IMPL]
WEIGHT_ROWS = [r for r in ROWS if r["impl_backward_weights"] == IMPL]
OTHER_ROWS = [r for r in ROWS if r["impl_forward"] != IMPL]


def test_grid_size():
    assert len(ROWS) == 372
    assert (len(FWD_ROWS), len(DATA_ROWS), len(WEIGHT_ROWS), len(OTHER_ROWS)) \
        == (324, 264, 324, 48)
    assert all(r["weight_scratch"] is not None for r in ROWS)
    assert any(not r["bias"] for r in FWD_ROWS)
    assert min(r["c_out"] for r in FWD_ROWS) == 2 and min(r["c_in"] for r in FWD_ROWS) == 1


@pytest.mark.parametrize("r", ROWS, ids=_label)
def test_implementation_names(r):
    assert o1.implementation(*_args(r)[:6]) == {"forward": r["impl_forward"],
                                                "backward_data": r["impl_backward_data"],
                                                "backward_weights": r["impl_backward_weights"]}


@pytest.mark.parametrize("r", FWD_ROWS, ids=_label)
def test_forward_scratch_exact(r):
    assert r["forward_unexplained"] == [r["forward_scratch"]]
    assert r["forward_allocs"][0] == r["forward_scratch"]      # ideep takes it first
    assert o1.forward_scratch(*_args(r), bias=r["bias"]) == r["forward_scratch"]


@pytest.mark.parametrize("r", DATA_ROWS, ids=_label)
def test_data_scratch_exact(r):
    assert r["data_transients"] == [r["data_scratch"]]
    assert o1.data_scratch(*_args(r)) == r["data_scratch"]


@pytest.mark.parametrize("r", WEIGHT_ROWS, ids=_label)
def test_weight_scratch_exact(r):
    assert o1.weight_scratch(*_args(r), bias=r["bias"]) == r["weight_scratch"]


def test_other_kernels_forward():
    """Strided layers without rtus run jit_bf16, whose forward booked only the padded bias."""
    for r in OTHER_ROWS:
        padded_bias = 2 * -(-r["c_out"] // 16) * 16 + 128 if r["c_out"] % 16 else 0
        assert r["forward_scratch"] == padded_bias, _label(r)
        with pytest.raises(NotImplementedError):
            o1.forward_scratch(*_args(r))
        with pytest.raises(NotImplementedError):
            o1.weight_scratch(*_args(r))


def _row(c_in, c_out, stride, spatial, b, t, bias=True):
    return next(r for r in ROWS if (r["c_in"], r["c_out"], r["stride"], r["spatial"], r["batch"],
                                    r["threads"], r["bias"])
                == (c_in, c_out, stride, list(spatial), b, t, bias))


def test_brief_values():
    """Numbers quoted when the task was set, all re-measured in the JSON."""
    r = _row(16, 24, 1, (16, 16), 2, 2)
    assert r["forward_scratch"] == o1.forward_scratch(*_args(r)) == 65_856
    r = _row(8, 2, 1, (32, 32), 2, 2)
    assert r["impl_forward"] == r["impl_backward_data"] == r["impl_backward_weights"] == IMPL
    assert r["data_scratch"] == o1.data_scratch(*_args(r)) == 131_200
    assert r["weight_scratch"] == o1.weight_scratch(*_args(r)) == 10_656
    r = _row(16, 32, 2, (16, 16), 2, 2, bias=False)
    assert r["weight_scratch"] == o1.weight_scratch(*_args(r), bias=False) == 18_944
    r = _row(16, 32, 2, (16, 16), 2, 2, bias=True)
    assert r["weight_scratch"] == o1.weight_scratch(*_args(r)) == 19_072


def test_batch_dependence():
    """The forward and data-gradient buffers depend on the batch only below the thread count
    (oneDNN splits the channels between threads there)."""
    a = (128, 64, 1, 1, 0, (8, 8))
    assert [o1.data_scratch(*a, b, 2) for b in (1, 2, 4)] == [32_896, 65_664, 65_664]
    for b in (1, 2, 4):
        assert _row(128, 64, 1, (8, 8), b, 2)["data_scratch"] == o1.data_scratch(*a, b, 2)


def test_strided_data_gradient_is_brgconv():
    """The strided data gradient runs brgconv_strided (symcnn.memory.pytorch.onednn.bf16): exact on 90 of
    the 108 strided rows; the rest are over-estimates by 3.3 % to 7.7 % (oneDNN's smaller blocks)."""
    rows = [r for r in ROWS if r["stride"] > 1]
    assert all(r["impl_backward_data"] == "brgconv_strided:avx512_core_bf16" for r in rows)
    exact = 0
    for r in rows:
        with pytest.raises(NotImplementedError):
            o1.data_scratch(*_args(r))
        pred, meas = ob.data_scratch(*_args(r)), r["data_scratch"]
        exact += pred == meas
        assert 0 <= (pred - meas) / meas <= 0.077, _label(r)
    assert (len(rows), exact) == (108, 90)


def test_not_modelled():
    with pytest.raises(NotImplementedError):
        o1.forward_scratch(16, 16, 3, 1, 1, (16, 16), 2, 2)
    with pytest.raises(NotImplementedError):
        o1.forward_scratch(16, 32, 1, 2, 0, (8, 8, 8), 2, 2)   # strided 3-d: jit_bf16
    with pytest.raises(NotImplementedError):
        o1.weight_scratch(64, 32, 1, 2, 0, (15, 15), 2, 2)     # odd input: jit_bf16


def test_returns_int_and_per_axis_arguments():
    a = o1.weight_scratch(16, 16, 1, 1, 0, (16, 16), 2, 2)
    b = o1.weight_scratch(16, 16, (1, 1), (1, 1), (0, 0), (16, 16), 2, 2)
    assert isinstance(a, int) and a == b == 10_496
    assert isinstance(o1.forward_scratch(16, 16, 1, 1, 0, (16, 16), 2, 2), int)

"""symcnn.memory.pytorch.onednn.bf16 against the measured oneDNN bf16 convolution scratchpads.

validation/results/cpu_conv_bf16.json (validation/conv_bf16.py, torch 2.13.0+cpu, oneDNN
v3.12.0, AVX-512 bf16): 38 layer shapes x batches 1, 2, 4, 8 x threads 1, 2, 4, plus a large
Conv3d at batch 1.  No torch needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from symcnn.memory.pytorch.onednn import bf16 as ob

RESULTS = Path(__file__).resolve().parent.parent / "validation" / "results" / "cpu_conv_bf16.json"
ROWS = json.loads(RESULTS.read_text())["rows"]


def _args(r):
    return (r["c_in"], r["c_out"], r["kernel"], r["stride"], r["padding"], tuple(r["spatial"]),
            r["batch"], r["threads"])


def _label(r):
    return (f"t{r['threads']}-{r['dim']}d-{r['c_in']}-{r['c_out']}-k{r['kernel']}-s{r['stride']}"
            f"-p{r['padding']}-{'x'.join(map(str, r['spatial']))}-b{r['batch']}")


WEIGHT_ROWS = [r for r in ROWS if r["impl_backward_weights"] == "jit_bf16:avx512_core_bf16"]
STRIDED_ROWS = [r for r in ROWS if r["impl_backward_data"] == "brgconv_strided:avx512_core_bf16"]
STRIDE1_ROWS = [r for r in ROWS if r["impl_backward_data"] == "jit_bf16:avx512_core_bf16"]
ONE_BY_ONE_ROWS = [r for r in ROWS if r["impl_backward_data"] == "jit_bf16_1x1:avx512_core_bf16"]


def test_grid_size():
    assert len(ROWS) == 459
    assert (len(WEIGHT_ROWS), len(STRIDED_ROWS), len(STRIDE1_ROWS), len(ONE_BY_ONE_ROWS)) \
        == (399, 159, 252, 48)
    assert all(r["weight_scratch"] is not None for r in ROWS)


@pytest.mark.parametrize("r", ROWS, ids=_label)
def test_implementation_names(r):
    assert ob.implementation(*_args(r)[:6]) == (r["impl_backward_data"],
                                                r["impl_backward_weights"])


@pytest.mark.parametrize("r", WEIGHT_ROWS, ids=_label)
def test_weight_scratch_exact(r):
    assert ob.weight_scratch(*_args(r)) == r["weight_scratch"]


@pytest.mark.parametrize("r", STRIDE1_ROWS, ids=_label)
def test_stride1_data_scratch_is_zero(r):
    assert r["data_scratch"] == 0
    assert ob.data_scratch(*_args(r)) == 0


def test_strided_data_scratch():
    """149 of 159 exact; the rest over-estimates (oneDNN shrinks its brgemm blocks at batch
    1 or 2 on several threads), 1.8 % to 7.3 % but one at 42 %, never below."""
    misses = []
    for r in STRIDED_ROWS:
        pred, meas = ob.data_scratch(*_args(r)), r["data_scratch"]
        if pred != meas:
            misses.append((r, (pred - meas) / meas))
    assert len(STRIDED_ROWS) - len(misses) == 149
    for r, err in misses:
        assert r["batch"] <= 2 and r["threads"] >= 2, _label(r)
        assert 0 < err <= 0.42, (_label(r), err)
    errs = sorted(e for _, e in misses)
    assert errs[-2] <= 0.074  # all but one within 7.4 %
    assert not [r for r, _ in misses if r["threads"] == 1]


def test_strided_data_explicit_blocking():
    """With oneDNN's smaller blocks given explicitly the formula reproduces a miss exactly:
    Conv2d 32->64 k3 s2 p1 on 10x14, batch 1, 2 threads took ic_block 16 instead of 32."""
    r = next(r for r in STRIDED_ROWS if (r["c_in"], r["c_out"], r["spatial"], r["batch"],
                                         r["threads"]) == (32, 64, [10, 14], 1, 2))
    assert ob.data_scratch(*_args(r)) != r["data_scratch"]
    assert ob.data_scratch(*_args(r), ic_block=16) == r["data_scratch"]


def test_brief_values():
    """Numbers quoted when the task was set, all re-measured in the JSON."""
    def row(c_in, c_out, k, s, p, spatial, b, t):
        return next(r for r in ROWS if (r["c_in"], r["c_out"], r["kernel"], r["stride"],
                                        r["padding"], r["spatial"], r["batch"], r["threads"])
                    == (c_in, c_out, k, s, p, list(spatial), b, t))
    big = row(30, 30, 3, 2, 0, (59, 71, 59), 1, 2)
    assert big["weight_scratch"] == ob.weight_scratch(*_args(big)) == 19_234_436
    assert big["data_scratch"] == ob.data_scratch(*_args(big)) == 4_337_200
    r = row(16, 32, 3, 2, 0, (32, 32), 2, 2)
    assert (r["data_scratch"], ob.data_scratch(*_args(r))) == (84_016, 84_016)
    for t, w in ((1, 119_556), (2, 230_532), (4, 242_820)):
        for b in (1, 2, 4):
            assert row(16, 32, 3, 1, 0, (32, 32), b, t)["weight_scratch"] == w
            assert ob.weight_scratch(16, 32, 3, 1, 0, (32, 32), b, t) == w


def test_not_modelled():
    with pytest.raises(NotImplementedError):
        ob.weight_scratch(16, 16, 1, 1, 0, (16, 16), 2, 2)
    with pytest.raises(NotImplementedError):
        ob.data_scratch(16, 16, 1, 1, 0, (16, 16), 2, 2)
    with pytest.raises(NotImplementedError):
        ob.weight_scratch(16, 32, 1, 2, 0, (16, 16), 2, 2)   # 1x1 stride 2: jit_bf16_1x1
    assert ob.data_scratch(16, 32, 1, 2, 0, (16, 16), 2, 1) == 33_304  # its data stage is modelled


def test_returns_int_and_per_axis_arguments():
    a = ob.weight_scratch(16, 16, 3, 1, 1, (16, 16), 2, 2)
    b = ob.weight_scratch(16, 16, (3, 3), (1, 1), (1, 1), (16, 16), 2, 2)
    assert isinstance(a, int) and a == b == 61_956
    assert isinstance(ob.data_scratch(16, 32, 3, 2, 0, (32, 32), 2, 2), int)

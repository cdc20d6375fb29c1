#!/usr/bin/env python3
"""Measure real GPU training memory of the lecture network (PyTorch, fp32).

Standalone: needs only ``torch`` (and ``nvidia-smi`` on the PATH for the
driver version, optional).  Usage::

    python3 -m validation.gpu_lecture OUT.json [--max-batch-search] [--budget-s 420]

For each configuration (optimizer x activation) and batch size it

1. builds the model on cuda and the optimizer (SGD lr=0.01 no momentum, or Adam),
2. allocates the input (b x 1 x 193 x 229 x 193, randn) and a zeros target,
3. runs one warm-up training step (forward, MSE loss, backward, step,
   ``zero_grad(set_to_none=True)``),
4. records ``memory_allocated()`` (steady state: params + optimizer state +
   input/target; grads are None after ``zero_grad(set_to_none=True)``),
5. ``reset_peak_memory_stats()`` and runs a second full step, recording
   ``max_memory_allocated()`` (the headline number) and
   ``max_memory_reserved()``,
6. measures the forward-only peak under ``torch.no_grad()``.

Optionally it then bisects for the largest batch that trains (two full steps)
without an out-of-memory error (SGD, fp32, no-ReLU network).

The lecture's analytic model, which the measurements are compared against::

    bytes = 4*P (params) + 4*P (grads) + b * 4 * (I1 + 2 * sum(layer outputs))
          = 26,413,208 + b * 2,910,900,732
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

INPUT_SHAPE = (1, 193, 229, 193)  # C, D, H, W per sample
# (in_channels, out_channels, stride); kernel 3, no padding, everywhere
CONV_SPECS = [
    (1, 30, 1), (30, 30, 2), (30, 60, 1), (60, 60, 2),
    (60, 120, 1), (120, 120, 2), (120, 240, 1), (240, 240, 2),
]
BYTES = 4  # float32
EXPECTED_PARAMS = 3_301_651
EXPECTED_FIXED = 26_413_208
EXPECTED_PER_SAMPLE = 2_910_900_732


# --------------------------------------------------------------------------
# model + analytic prediction
# --------------------------------------------------------------------------
def conv_out_dims(input_shape=INPUT_SHAPE):
    """Per-layer output shapes (C, D, H, W) of the conv stack."""
    dims = list(input_shape[1:])
    shapes = []
    for _cin, cout, s in CONV_SPECS:
        dims = [(x - 3) // s + 1 for x in dims]
        shapes.append((cout, *dims))
    return shapes


def build_model(relu: bool, input_shape=INPUT_SHAPE) -> nn.Sequential:
    layers: list[nn.Module] = []
    for cin, cout, s in CONV_SPECS:
        layers.append(nn.Conv3d(cin, cout, 3, stride=s))
        if relu:
            layers.append(nn.ReLU())  # not inplace
    layers.append(nn.Flatten())
    layers.append(nn.Linear(math.prod(conv_out_dims(input_shape)[-1]), 1))
    return nn.Sequential(*layers)


def lecture_prediction(input_shape=INPUT_SHAPE):
    """(fixed_bytes, per_sample_bytes, n_params) of the lecture formula."""
    shapes = conv_out_dims(input_shape)
    n_params = sum(p.numel() for p in build_model(False, input_shape).parameters())
    i1 = math.prod(input_shape)
    outputs = sum(math.prod(s) for s in shapes) + 1  # + Linear output (1)
    fixed = 2 * BYTES * n_params
    per_sample = BYTES * (i1 + 2 * outputs)
    return fixed, per_sample, n_params


# --------------------------------------------------------------------------
# measurement
# --------------------------------------------------------------------------
def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    msg = str(exc)
    return isinstance(exc, RuntimeError) and (
        "out of memory" in msg.lower() or "CUDNN_STATUS_ALLOC_FAILED" in msg
        or "CUBLAS_STATUS_ALLOC_FAILED" in msg)


def _cleanup():
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


def _make_opt(name, params):
    if name == "sgd":
        return torch.optim.SGD(params, lr=0.01, momentum=0.0)
    if name == "adam":
        return torch.optim.Adam(params)
    raise ValueError(name)


def _train_step(model, opt, x, y):
    out = model(x)
    loss = F.mse_loss(out, y)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss


def measure(opt_name: str, relu: bool, batch: int, device="cuda",
            input_shape=INPUT_SHAPE, inference=True) -> dict:
    """One configuration at one batch size; see the module docstring."""
    cuda = device == "cuda"
    _cleanup()
    alloc = (lambda: torch.cuda.memory_allocated()) if cuda else (lambda: 0)
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    m0 = alloc()
    model = build_model(relu, input_shape).to(device)
    opt = _make_opt(opt_name, model.parameters())
    sync()
    params_bytes = alloc() - m0
    x = torch.randn(batch, *input_shape, device=device)
    y = torch.zeros(batch, 1, device=device)
    sync()
    io_bytes = alloc() - m0 - params_bytes

    t0 = time.perf_counter()
    _train_step(model, opt, x, y)  # warm-up (creates optimizer state)
    sync()
    t_warm = time.perf_counter() - t0

    steady = alloc() - m0
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    _train_step(model, opt, x, y)
    sync()
    t_step = time.perf_counter() - t0
    rec = {
        "optimizer": opt_name, "relu": relu, "batch": batch,
        "baseline_allocated_before_model": m0,
        "params_bytes_allocated": params_bytes,
        "input_target_bytes_allocated": io_bytes,
        "steady_state_allocated_before_step": steady,
        "step_time_s": round(t_step, 4), "warmup_time_s": round(t_warm, 4),
    }
    if cuda:
        rec["max_memory_allocated"] = torch.cuda.max_memory_allocated() - m0
        rec["max_memory_allocated_raw"] = torch.cuda.max_memory_allocated()
        rec["max_memory_reserved"] = torch.cuda.max_memory_reserved()
        free, total = torch.cuda.mem_get_info()
        rec["device_used_after_step_mem_get_info"] = total - free
        st = torch.cuda.memory_stats()
        rec["num_alloc_retries"] = st.get("num_alloc_retries", 0)
        rec["num_ooms"] = st.get("num_ooms", 0)
    if inference:
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        with torch.no_grad():
            out = model(x)
        sync()
        del out
        if cuda:
            rec["inference_peak_allocated"] = torch.cuda.max_memory_allocated() - m0
    del model, opt, x, y
    _cleanup()
    return rec


def try_batch(batch: int, opt_name="sgd", relu=False) -> tuple[bool, dict]:
    """Two full training steps at ``batch``; (fits, info)."""
    info: dict = {"batch": batch}
    try:
        rec = measure(opt_name, relu, batch, inference=False)
        info.update(ok=True, max_memory_allocated=rec["max_memory_allocated"],
                    max_memory_reserved=rec["max_memory_reserved"],
                    step_time_s=rec["step_time_s"])
        return True, info
    except Exception as exc:  # noqa: BLE001 - classified below
        info.update(ok=False, oom=_is_oom(exc),
                    error=f"{type(exc).__name__}: {str(exc)[:400]}")
    # outside the except block, so the traceback (and the tensors its frames
    # hold) is gone before the cache is emptied
    _cleanup()
    return False, info


def find_max_batch(fits, lo_ok: int, cap: int = 256):
    """Largest b <= cap with fits(b) True, given fits(lo_ok) is True.

    Doubles from lo_ok until a failure, then bisects.  ``fits`` returns
    (bool, info); returns (max_ok, list_of_infos)."""
    tried = []
    lo, hi = lo_ok, None
    b = lo_ok * 2
    while hi is None and b <= cap:
        ok, info = fits(b)
        tried.append(info)
        if ok:
            lo, b = b, b * 2
        else:
            hi = b
    if hi is None:
        return lo, tried
    while hi - lo > 1:
        mid = (lo + hi) // 2
        ok, info = fits(mid)
        tried.append(info)
        if ok:
            lo = mid
        else:
            hi = mid
    return lo, tried


# --------------------------------------------------------------------------
# environment
# --------------------------------------------------------------------------
def environment() -> dict:
    env = {
        "torch": torch.__version__,
        "cuda_runtime_torch": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "PYTORCH_CUDA_ALLOC_CONF": os.environ.get("PYTORCH_CUDA_ALLOC_CONF"),
    }
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        env.update(gpu_name=p.name, gpu_total_memory=p.total_memory,
                   gpu_multiprocessors=p.multi_processor_count,
                   gpu_capability=f"{p.major}.{p.minor}")
        torch.cuda.init()
        torch.zeros(1, device="cuda")
        free, total = torch.cuda.mem_get_info()
        env["mem_get_info_at_start"] = {"free": free, "total": total,
                                        "used_incl_context": total - free}
    try:
        env["driver"] = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception as exc:  # noqa: BLE001
        env["driver"] = f"unavailable: {exc}"
    return env


def markdown_table(rows, fixed, per_sample) -> str:
    lines = [
        "| config | batch | max_memory_allocated (bytes) | MB (10^6) | lecture prediction (bytes) | pred. MB | measured/predicted | steady state before step (bytes) | no_grad forward peak (bytes) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "max_memory_allocated" not in r:
            continue
        pred = fixed + r["batch"] * per_sample
        meas = r["max_memory_allocated"]
        cfg = f"{r['optimizer'].upper()} {'ReLU' if r['relu'] else 'no-ReLU'}"
        lines.append(
            f"| {cfg} | {r['batch']} | {meas:,} | {meas / 1e6:,.2f} | {pred:,} | "
            f"{pred / 1e6:,.2f} | {meas / pred:.4f} | "
            f"{r['steady_state_allocated_before_step']:,} | "
            f"{r.get('inference_peak_allocated', 0):,} |")
    return "\n".join(lines)


DEFAULT_PLAN = (
    [("sgd", False, b) for b in (1, 2, 4, 8)]
    + [("sgd", True, b) for b in (1, 4)]
    + [("adam", False, b) for b in (1, 4)]
    + [("adam", True, b) for b in (1, 4)]
)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="path of the JSON file to write")
    ap.add_argument("--max-batch-search", action="store_true",
                    help="bisect for the largest SGD/no-ReLU batch without OOM")
    ap.add_argument("--budget-s", type=float, default=420.0,
                    help="skip remaining work once this many seconds have passed")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        print("CUDA is not available", file=sys.stderr)
        return 2

    t_start = time.perf_counter()
    fixed, per_sample, n_params = lecture_prediction()
    assert n_params == EXPECTED_PARAMS, n_params
    assert fixed == EXPECTED_FIXED and per_sample == EXPECTED_PER_SAMPLE, (fixed, per_sample)

    result = {
        "script": "validation/gpu_lecture.py",
        "network": "lecture network: 8x Conv3d(k=3, no padding; strides 1,2,...), "
                   "Flatten, Linear(213840,1); input 1x193x229x193 fp32",
        "n_params": n_params,
        "lecture_formula": {"fixed_bytes": fixed, "per_sample_bytes": per_sample,
                            "text": "4P + 4P + b*4*(I1 + 2*sum(layer outputs))"},
        "environment": environment(),
        "method": "warm-up step, then reset_peak_memory_stats and one full "
                  "training step; bytes are relative to memory_allocated() "
                  "before the model was built",
        "measurements": [],
        "skipped": [],
    }
    print(json.dumps(result["environment"], indent=1), flush=True)

    def dump():
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=1)

    for opt_name, relu, b in DEFAULT_PLAN:
        if time.perf_counter() - t_start > args.budget_s:
            result["skipped"].append([opt_name, relu, b])
            continue
        try:
            rec = measure(opt_name, relu, b)
        except Exception as exc:  # noqa: BLE001
            rec = {"optimizer": opt_name, "relu": relu, "batch": b,
                   "error": f"{type(exc).__name__}: {str(exc)[:400]}"}
        _cleanup()
        rec["lecture_prediction"] = fixed + b * per_sample
        if "max_memory_allocated" in rec:
            rec["ratio_measured_over_predicted"] = rec["max_memory_allocated"] / rec["lecture_prediction"]
        result["measurements"].append(rec)
        print(json.dumps(rec), flush=True)
        dump()

    if args.max_batch_search:
        total = result["environment"]["gpu_total_memory"]
        result["lecture_formula_max_batch"] = {
            "on_80e9_bytes": (80 * 10**9 - fixed) // per_sample,
            "on_this_gpu_total_memory": (total - fixed) // per_sample,
        }
        remaining = args.budget_s - (time.perf_counter() - t_start)

        def fits(b):
            if time.perf_counter() - t_start > args.budget_s + 120:
                raise TimeoutError("max-batch search ran out of time budget")
            ok, info = try_batch(b)
            print("max-batch try:", json.dumps(info), flush=True)
            return ok, info

        lo_ok = max((r["batch"] for r in result["measurements"]
                     if r["optimizer"] == "sgd" and not r["relu"]
                     and "max_memory_allocated" in r), default=1)
        try:
            best, tried = find_max_batch(fits, lo_ok)
            result["max_batch"] = {"optimizer": "sgd", "relu": False,
                                   "largest_batch_without_oom": best,
                                   "tries": tried, "time_left_at_start_s": remaining}
        except TimeoutError as exc:
            result["max_batch"] = {"error": str(exc)}
        dump()
        print(json.dumps(result.get("max_batch")), flush=True)

    result["wall_s"] = round(time.perf_counter() - t_start, 1)
    dump()
    print()
    print(f"GPU: {result['environment'].get('gpu_name')}  total_memory="
          f"{result['environment'].get('gpu_total_memory'):,} B  driver="
          f"{result['environment'].get('driver')}  torch={torch.__version__}  "
          f"CUDA={torch.version.cuda}  cuDNN={result['environment']['cudnn']}  "
          f"cudnn.benchmark={torch.backends.cudnn.benchmark}")
    print(markdown_table(result["measurements"], fixed, per_sample))
    if "max_batch" in result:
        print("largest SGD/no-ReLU batch without OOM:",
              result["max_batch"].get("largest_batch_without_oom"),
              "| lecture formula:", result["lecture_formula_max_batch"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

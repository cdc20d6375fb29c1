"""The CPU harness's zoo on a CUDA GPU: every configuration's training-step peak as
``torch.cuda.max_memory_allocated``, its inference peak, and what autograd saves, against
symcnn's ``pytorch`` convention (``device="cuda"``, 512-byte allocator blocks).

    python -m validation.run_gpu [--out validation/results] [--only NAME ...] [--heavy]
    python -m validation.run_gpu --dry-run     # no GPU: the plan and the predictions only

Per configuration (``run_cpu.plan``: fp32 SGD / momentum / Adam, bf16 autocast, foreach): a
fresh model on ``cuda`` (seed 0), a warm-up step (forward, ``mse_loss``, backward, ``del
loss``, ``opt.step()``, ``opt.zero_grad(set_to_none=True)``; it creates the optimizer state and
cuBLAS's workspace), ``torch.cuda.synchronize()``, then ``reset_peak_memory_stats()`` and the
same step.  ``steady`` is ``memory_allocated()`` before it; ``step_peak`` the
``max_memory_allocated()`` of it; ``resident`` what the tensors alive before it take
(parameters, buffers, optimizer state, x, y, each rounded up to 512 B as the allocator does),
so ``steady - resident`` is what the libraries keep (cuBLAS's workspace).  Inference: a fresh
model, ``eval()``, ``no_grad()`` (and autocast), the same counter.  ``cudnn.benchmark`` keeps
its default (False).  Writes ``gpu_zoo.json`` and ``gpu_zoo.md`` with the GPU, driver, CUDA,
cuDNN and torch versions.  cuDNN's workspaces are not in symcnn's model yet: this table is the
measurement to build them from.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import symcnn  # noqa: E402
from symcnn.memory.pytorch.inference import inference_moments  # noqa: E402
from symcnn.memory.pytorch.moments import peak  # noqa: E402
from symcnn.memory.pytorch.saved import saved_tensors, total_saved_bytes  # noqa: E402
from symcnn.memory.pytorch.timeline import training_moments  # noqa: E402
from validation import measure, run_cpu, zoo  # noqa: E402

BLOCK = 512


def rounded(t: torch.Tensor) -> int:
    n = t.untyped_storage().nbytes()
    return -(-n // BLOCK) * BLOCK


def autocast(precision: str):
    if precision == "bf16":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cuda", enabled=False)


def step(model, opt, x, y, precision: str) -> None:
    with autocast(precision):
        out = model(x)
        loss = F.mse_loss(out, y)
        del out
    loss.backward()
    del loss
    opt.step()
    opt.zero_grad(set_to_none=True)


def saved_bytes(model, x, precision: str) -> int:
    """What autograd saves in the forward pass, each storage once (x included)."""
    seen = {}

    def pack(t):
        s = t.untyped_storage()
        seen[s.data_ptr()] = s.nbytes()
        return t

    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    params |= {b.untyped_storage().data_ptr() for b in model.buffers()}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast(precision):
        out = model(x)
    del out
    return sum(n for ptr, n in seen.items() if ptr not in params)


def measure_config(cfg: measure.Config) -> dict:
    entry = zoo.get(cfg.network)
    gc.collect()
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated()
    model, x, y = measure.build(entry, cfg.batch)
    model, x, y = model.cuda(), x.cuda(), y.cuda()
    opt = measure.make_optimizer(cfg.optimizer, model.parameters(), cfg.foreach)
    step(model, opt, x, y, cfg.precision)
    torch.cuda.synchronize()
    gc.collect()
    tensors = list(model.parameters()) + list(model.buffers()) \
        + measure.optimizer_state_tensors(opt) + [x, y]
    resident = sum({t.untyped_storage().data_ptr(): rounded(t) for t in tensors}.values())
    steady = torch.cuda.memory_allocated() - base
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    step(model, opt, x, y, cfg.precision)
    torch.cuda.synchronize()
    out = {"config": cfg.__dict__, "label": cfg.label, "steady": steady, "resident": resident,
           "library": steady - resident,
           "step_peak": torch.cuda.max_memory_allocated() - base,
           "step_s": round(time.perf_counter() - t0, 4),
           "saved": saved_bytes(model, x, cfg.precision)}
    del model, opt, x, y, tensors
    return out


def measure_inference(entry, batch: int, precision: str) -> int:
    gc.collect()
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated()
    model, x, _ = measure.build(entry, batch)
    model, x = model.cuda().eval(), x.cuda()
    torch.cuda.reset_peak_memory_stats()
    with torch.no_grad(), autocast(precision):
        out = model(x)
    del out
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def predicted(cfg: measure.Config) -> dict:
    a = symcnn.analyze(symcnn.parse_spec(zoo.get(cfg.network).spec_text).network)
    b = cfg.batch
    moments = training_moments(a, optimizer=cfg.optimizer, foreach=bool(cfg.foreach),
                               device="cuda", batch=b, precision=cfg.precision)
    return {"step_peak": int(peak(moments, b, BLOCK)),
            "inference": int(peak(inference_moments(a, device="cuda", batch=b,
                                                    precision=cfg.precision), b, BLOCK)),
            "saved": int(total_saved_bytes(saved_tensors(a, "cuda", cfg.precision), 4, b))}


def environment() -> dict:
    env = {"torch": torch.__version__, "python": platform.python_version(),
           "platform": platform.platform()}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env.update({"gpu": props.name, "total_memory": props.total_memory,
                    "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
                    "cudnn_benchmark": torch.backends.cudnn.benchmark})
        try:
            env["driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            env["driver"] = None
    return env


def markdown(rows: list[dict], env: dict) -> str:
    lines = [f"GPU: {env.get('gpu')}, driver {env.get('driver')}, CUDA {env.get('cuda')}, "
             f"cuDNN {env.get('cudnn')}, torch {env.get('torch')}", "",
             "| network | config | b | saved measured | saved predicted | step peak measured "
             "(net of the libraries' steady bytes) | predicted | error | inference measured | "
             "predicted |", "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        m, p = r["measured"], r["predicted"]
        net = m["step_peak"] - m["library"] if m else None
        err = f"{100 * (p['step_peak'] - net) / net:+.1f} %" if m else ""
        lines.append(f"| {r['network']} | {r['label']} | {r['batch']} | "
                     f"{m['saved'] if m else '':,} | {p['saved']:,} | "
                     f"{net if m else '':,} | {p['step_peak']:,} | {err} | "
                     f"{r.get('inference', ''):,} | {p['inference']:,} |".replace("|  |", "| |"))
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--only", nargs="+", metavar="NETWORK")
    ap.add_argument("--heavy", action="store_true", help="the lecture network at full size too")
    ap.add_argument("--dry-run", action="store_true", help="no GPU: the plan and predictions")
    args = ap.parse_args(argv)
    if not args.dry_run and not torch.cuda.is_available():
        print("run_gpu.py: no CUDA device (use --dry-run to see the plan)", file=sys.stderr)
        return 2
    env = environment()
    rows = []
    entries = zoo.ZOO + (zoo.HEAVY if args.heavy else ())
    for entry in entries:
        if args.only and entry.name not in args.only:
            continue
        inference = {}
        for cfg, _ in run_cpu.plan(entry):
            row = {"network": cfg.network, "label": cfg.label, "batch": cfg.batch,
                   "predicted": predicted(cfg), "measured": None}
            if not args.dry_run:
                row["measured"] = measure_config(cfg)
                key = (cfg.batch, cfg.precision)
                if key not in inference:
                    inference[key] = measure_inference(entry, cfg.batch, cfg.precision)
                row["inference"] = inference[key]
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.dry_run:
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_zoo.json").write_text(json.dumps({"environment": env, "rows": rows}, indent=1)
                                      + "\n")
    (out / "gpu_zoo.md").write_text(markdown(rows, env))
    print(f"{len(rows)} configurations -> {out / 'gpu_zoo.json'}, {out / 'gpu_zoo.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

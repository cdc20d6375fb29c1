"""Measure the torchvision held-out networks (:mod:`validation.heldout.torchvision`) on the CPU as
the zoo is measured (:mod:`validation.run_cpu`: saved tensors, the training step's peak from the
allocator's counter, the eval-mode forward's peak), fp32, SGD at b = 2 and Adam at b = 3:

    python -m validation.run_torchvision   # -> results/cpu_<capability>_torchvision.{json,md}
    python -m validation.run_torchvision --judge validation/results/cpu_avx2_torchvision.json

The results file names the CPU (``environment``); :func:`judge` predicts each run with that
CPU's rules (the saved storages, the step's peak, the eval forward's peak) and writes the table
of ``cpu_<capability>_torchvision.md``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from validation import measure
from validation.heldout.torchvision import TORCHVISION
from validation.measure import Config
from validation.run_cpu import dump, results_stem

HERE = Path(__file__).resolve().parent


def run(names=None, log=print) -> dict:
    env = measure.environment()
    t0, results = time.perf_counter(), []
    for entry in TORCHVISION:
        if names and entry.name not in names:
            continue
        for batch, optimizer in ((entry.batches[0], "sgd"), (entry.batches[-1], "adam")):
            cfg = Config(entry.name, batch, optimizer)
            t1 = time.perf_counter()
            r = measure.measure(cfg, timeline=False)
            results.append(r)
            log(f"{entry.name:20s} b={batch} {optimizer:5s} saved {r['saved']['total']['dedup']:>12,d}"
                f"  peak {r['step']['step_peak']:>12,d}  inference {r['inference']['peak']:>12,d}"
                f"  [{time.perf_counter() - t1:.1f} s]")
    return {"environment": env, "elapsed_s": round(time.perf_counter() - t0, 1),
            "zoo": [{"name": e.name, "spec": e.spec_path.name} for e in TORCHVISION],
            "method": {"as": "validation.run_cpu (saved_tensors_hooks; c10 CPU allocator counter "
                             "via profiler memory events; eval-mode no_grad forward)",
                       "timeline": "not recorded (with_stack off)"},
            "results": results}


def judge(data: dict) -> list[dict]:
    """Predicted against measured, one row per run.  ``saved`` adds to symcnn's saved storages
    what the loss saves (the output and the target), which the measurement counts."""
    import symcnn
    from symcnn.memory.pytorch.inference import inference_moments
    from symcnn.memory.pytorch.saved import saved_tensors, total_saved_bytes
    from symcnn.memory.pytorch.timeline import peak, training_moments
    from validation import zoo

    cpu, rows = data["environment"]["cpu_capability"], []
    for run_ in data["results"]:
        cfg, b = run_["config"], run_["batch"]
        a = symcnn.analyze(symcnn.parse_spec(zoo.get(cfg["network"]).spec_text).network)
        loss = 2 * b * int(a.rows[-1].activation) * 4
        rows.append({
            "network": cfg["network"], "batch": b, "optimizer": cfg["optimizer"],
            "saved": (run_["saved"]["total"]["dedup"],
                      int(total_saved_bytes(saved_tensors(a, device="cpu"), 4, batch=b)) + loss),
            "step": (run_["step"]["step_peak"], int(peak(training_moments(
                a, optimizer=cfg["optimizer"], device="cpu", batch=b, cpu=cpu), b))),
            "inference": (run_["inference"]["peak"],
                          int(peak(inference_moments(a, device="cpu", batch=b, cpu=cpu), b))),
            "peak_at": f"{run_['step']['peak_phase']} {run_['step']['peak_node'] or ''}".strip()})
    return rows


def markdown(data: dict, rows: list[dict]) -> str:
    env = data["environment"]
    out = [f"# torchvision held-out networks on the CPU ({env['cpu']}, {env['cpu_capability']}, "
           f"torch {env['torch']}, {env['threads']} threads), fp32", "",
           "Measured (validation/run_torchvision.py) and predicted by symcnn's pytorch convention "
           f"with the {env['cpu_capability']} rules; error = (predicted - measured) / measured.", "",
           "| network | b | optimizer | saved measured | error | step peak measured | error "
           "| peak at | eval forward measured | error |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = []
        for key in ("saved", "step", "inference"):
            m, p = r[key]
            cells.append(f"{m:,} | {(p - m) / m:+.2%}")
        out.append(f"| {r['network']} | {r['batch']} | {r['optimizer']} | {cells[0]} | "
                   f"{cells[1]} | {r['peak_at']} | {cells[2]} |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    from validation.run_cpu import load

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--only", nargs="*")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--judge", type=Path, help="a results file: write its table only")
    args = p.parse_args(argv)
    if args.judge:
        data = load(args.judge)
        args.judge.with_suffix(".md").write_text(markdown(data, judge(data)))
        print(f"wrote {args.judge.with_suffix('.md')}")
        return 0
    data = run(args.only)
    stem = results_stem("torchvision", data["environment"]["cpu_capability"])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(dump(data))
    (args.out / f"{stem}.md").write_text(markdown(load(args.out / f"{stem}.json"),
                                                  judge(load(args.out / f"{stem}.json"))))
    print(f"wrote {args.out / stem}.json and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A 10,000-point sweep against one cold ``symcnn report`` and against torchinfo in a loop.

    python benchmarks/sweep_bench.py            # 5 cold runs each, 200 torchinfo points
    python benchmarks/sweep_bench.py --quick    # 3 cold runs, 50 torchinfo points

The grid: the lecture's 3-D CNN with channels C..8C on a D x D x D input
(``examples/lecture_symbolic.toml --set H=D --set W=D``), C = 1..100 by D = 61..160.

1. ``symcnn sweep ... --vary C=1:100 --vary D=61:160 --memory 12GB --out FILE.csv`` as a fresh
   process (imports included), the median of N runs, beside the median of N cold
   ``symcnn report`` (the lecture network): the target is at most 3x.  The same sweep under
   the ``pytorch`` convention too.
2. torchinfo 1.8.0 on the meta device (no data), in one process after its imports: the same
   network built with ``torch.nn`` at points drawn evenly from the grid, ``summary`` each,
   the time per point and the 10,000 points it extrapolates to.  At each drawn point its
   total parameters are checked equal to the sweep's, and its Estimated Total Size in bytes
   (``total_input + total_output_bytes + total_param_bytes``) to the sweep's
   ``training_bytes`` under ``--convention torchinfo`` plus 64: torchinfo takes the input's
   size with ``sys.getsizeof``, which adds the tensor object's 64-byte header to its data.

Nothing here asserts a time.  Writes ``benchmarks/sweep.json``.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
GRID = ["--vary", "C=1:100", "--vary", "D=61:160"]
SPEC = ["examples/lecture_symbolic.toml", "--set", "H=D", "--set", "W=D"]
#: What ``sys.getsizeof`` adds to a tensor's data (torchinfo's ``total_input``).
GETSIZEOF_HEADER = 64

TORCHINFO_LOOP = r"""
import json, sys, time
import torch, torchinfo
from torch import nn

def net(c, d):
    def out(n, s):
        return (n - 3) // s + 1
    n = d
    layers, cin = [], 1
    for cout, s in zip([c, c, 2*c, 2*c, 4*c, 4*c, 8*c, 8*c], [1, 2] * 4):
        layers.append(nn.Conv3d(cin, cout, 3, stride=s))
        cin, n = cout, out(n, s)
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(cin * n ** 3, 1))

points = json.loads(sys.argv[1])
found, t0 = [], time.perf_counter()
for c, d in points:
    s = torchinfo.summary(net(c, d), input_size=(1, 1, d, d, d), device="meta", verbose=0)
    found.append([s.total_params, s.total_input + s.total_output_bytes + s.total_param_bytes])
print(json.dumps({"seconds": time.perf_counter() - t0, "found": found}))
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cold(cmd: list[str], n: int) -> dict:
    """``n`` fresh processes: wall time and CPU time (user + system: steadier on a loaded
    machine), median, min and max."""
    walls, cpus = [], []
    for _ in range(n):
        t0, c0 = time.perf_counter(), _children_cpu()
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        cpus.append(_children_cpu() - c0)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)}: {done.stderr.strip()}")
    return {"median_s": statistics.median(walls), "min_s": min(walls), "max_s": max(walls),
            "cpu_median_s": statistics.median(cpus), "cpu_min_s": min(cpus), "n": n}


def sweep_table(folder: Path, convention: str) -> list[dict]:
    out = folder / f"{convention}.csv"
    subprocess.run([PY, "-m", "symcnn", "sweep", *SPEC, *GRID, "--convention", convention,
                    "--out", str(out)], cwd=ROOT, check=True, capture_output=True)
    return list(csv.DictReader(out.open()))


def torchinfo_loop(rows: list[dict], count: int) -> dict:
    step = max(1, len(rows) // count)
    drawn = rows[::step][:count]
    points = [[int(r["C"]), int(r["D"])] for r in drawn]
    done = subprocess.run([PY, "-c", TORCHINFO_LOOP, json.dumps(points)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    result = json.loads(done.stdout)
    agree = all([int(r["total_params"]), int(r["training_bytes"]) + GETSIZEOF_HEADER] == found
                for r, found in zip(drawn, result["found"]))
    per_point = result["seconds"] / len(points)
    return {"points": len(points), "seconds": result["seconds"], "per_point_s": per_point,
            "extrapolated_10000_s": per_point * 10_000, "same_figures": agree}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, count = (3, 50) if args.quick else (5, 200)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        report = cold([PY, "-m", "symcnn", "report"], n)
        lecture = cold([PY, "-m", "symcnn", "sweep", *SPEC, *GRID, "--memory", "12GB",
                        "--out", str(folder / "a.csv")], n)
        pytorch = cold([PY, "-m", "symcnn", "sweep", *SPEC, *GRID, "--memory", "12GB",
                        "--convention", "pytorch", "--out", str(folder / "b.csv")], n)
        rows = sweep_table(folder, "torchinfo")
        peer = torchinfo_loop(rows, count)
    result = {"date": datetime.date.today().isoformat(), "python": platform.python_version(),
              "load_average": os.getloadavg()[0], "cores": os.cpu_count(),
              "machine": platform.machine(), "report": report, "sweep_lecture": lecture,
              "sweep_pytorch": pytorch, "points": len(rows), "torchinfo_meta_loop": peer}
    (HERE / "sweep.json").write_text(json.dumps(result, indent=2) + "\n")
    ratio = lecture["median_s"] / report["median_s"]
    cpu = lecture["cpu_median_s"] / report["cpu_median_s"]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n"
          f"| what | wall, median (s) | CPU, median (s) |\n|---|---|---|\n"
          f"| cold `symcnn report` (lecture) | {report['median_s']:.2f} | "
          f"{report['cpu_median_s']:.2f} |\n"
          f"| cold `symcnn sweep`, {len(rows):,} points, lecture convention, 12GB | "
          f"{lecture['median_s']:.2f} ({ratio:.2f}x the report) | "
          f"{lecture['cpu_median_s']:.2f} ({cpu:.2f}x; target <= 3x) |\n"
          f"| the same under `--convention pytorch` | {pytorch['median_s']:.2f} "
          f"({pytorch['median_s'] / report['median_s']:.2f}x) | {pytorch['cpu_median_s']:.2f} "
          f"({pytorch['cpu_median_s'] / report['cpu_median_s']:.2f}x) |")
    if "error" in peer:
        print(f"torchinfo: not run ({peer['error']})")
    else:
        print(f"torchinfo on meta, {peer['points']} points in a loop (after its imports): "
              f"{peer['seconds']:.2f} s, {peer['per_point_s'] * 1000:.1f} ms a point, "
              f"{peer['extrapolated_10000_s']:.0f} s for 10,000 (extrapolated); the same "
              f"totals as the sweep at every point: {peer['same_figures']}")


if __name__ == "__main__":
    main()

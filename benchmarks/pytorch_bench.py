"""The ``pytorch`` convention against its peer: measuring the step on the machine itself.

    python benchmarks/pytorch_bench.py            # Markdown on stdout (about a minute)
    python benchmarks/pytorch_bench.py --json out.json

Each side is a fresh process, timed from outside:

* **symcnn**: ``python -m symcnn report NETWORK --convention pytorch --device cpu [--precision
  bf16] --json``: the predicted peak of a training step (SGD, batch 1), no tensor allocated;
* **measurement** (the peer: what a user does without symcnn): ``validation/measure.py`` builds
  the PyTorch model, runs a warm-up step and one profiled step on the CPU with torch 2.13, and
  reads the peak off the allocator's counter (``profile_memory=True``).

Networks: the lecture's 3-D CNN at full size (1 x 193 x 229 x 193; the measurement needs about
5 GB) and the zoo's ResNet.  Printed: both wall times, their ratio, and both peaks.  Nothing is
asserted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

#: (zoo network, its spec for symcnn, batch)
CASES = [("lecture3d-full", ROOT / "examples" / "lecture.toml", 1),
         ("resnet", ROOT / "validation" / "zoo" / "resnet.toml", 2)]

#: Run with ``python -c`` in the repository root, where ``validation`` is a package.
MEASURE = """
import json
from validation import measure
r = measure.measure_step(measure.Config({net!r}, {batch}, "sgd", {precision!r}), timeline=False)
print(json.dumps({{"peak": r["step_peak"]}}))
"""


def run(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return time.perf_counter() - t0, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)
    rows = []
    for net, path, batch in CASES:
        for precision in ("fp32", "bf16"):
            t_sym, out = run([PY, "-m", "symcnn", "report", str(path), "--convention",
                              "pytorch", "--device", "cpu", "--precision", precision,
                              "--batch-size", str(batch), "--json"])
            predicted = json.loads(out)["memory"]["training_bytes"]
            code = MEASURE.format(net=net, batch=batch, precision=precision)
            t_meas, out = run([PY, "-c", code])
            measured = json.loads(out.strip().splitlines()[-1])["peak"]
            rows.append({"network": net, "precision": precision, "batch": batch,
                         "symcnn_s": round(t_sym, 2), "measure_s": round(t_meas, 2),
                         "predicted": predicted, "measured": measured})
    print("| network | precision | b | symcnn (s) | measuring (s) | ratio | predicted peak (B) "
          "| measured peak (B) |")
    print("|---|---|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        print(f"| {r['network']} | {r['precision']} | {r['batch']} | {r['symcnn_s']} | "
              f"{r['measure_s']} | {r['measure_s'] / r['symcnn_s']:.0f}x | "
              f"{r['predicted']:,} | {r['measured']:,} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

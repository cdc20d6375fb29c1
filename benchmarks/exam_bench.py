"""100 variants of the example question family, without PDF: fresh processes, timed.

    python benchmarks/exam_bench.py              # 5 runs of `symcnn exam --variants 100`
    python benchmarks/exam_bench.py -n 3 --variants 200
    python benchmarks/exam_bench.py --phases     # one run in-process, phase by phase

Each run is ``python -m symcnn exam --variants N --seed 0 --out TMP --moodle`` in a fresh
process (import, drawing and analysing every variant, rendering every exam, key, the combined
key, the CSV and the Moodle XML, writing the files); the wall time is measured around it.
Target: 100 variants in under 10 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_cli(variants: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "symcnn", "exam", "--variants", str(variants),
                        "--seed", "0", "--out", tmp, "--moodle"], cwd=ROOT, check=True,
                       capture_output=True)
        return time.perf_counter() - start


def phases(variants: int) -> dict:
    sys.path.insert(0, str(ROOT))  # this checkout's symcnn, as the command line runs it
    t0 = time.perf_counter()
    from symcnn.exam.build import make_exam
    from symcnn.exam.family import load_family
    from symcnn.exam.output import exam_files
    from symcnn.files import write_atomic
    from symcnn.spec.builtin import examples_dir
    t1 = time.perf_counter()
    family = load_family(examples_dir() / "lecture_family.toml")
    exam = make_exam(family, variants, 0)
    t2 = time.perf_counter()
    files = exam_files(exam, moodle=True)
    t3 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in files.items():
            write_atomic(Path(tmp) / name, text)
    t4 = time.perf_counter()
    return {"variants": variants, "import_s": t1 - t0, "draw_and_answer_s": t2 - t1,
            "render_s": t3 - t2, "write_s": t4 - t3, "files": len(files),
            "bytes": sum(len(t.encode()) for t in files.values()),
            "rejected_draws": sum(v.candidate.attempt - 1 for v in exam.variants)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=5, help="runs (default 5)")
    p.add_argument("--variants", type=int, default=100)
    p.add_argument("--phases", action="store_true", help="time the phases in this process")
    args = p.parse_args()
    if args.phases:
        print(json.dumps(phases(args.variants), indent=2))
        return
    times = [run_cli(args.variants) for _ in range(args.n)]
    print(f"symcnn exam --variants {args.variants} --moodle (no PDF), {args.n} fresh processes: "
          f"median {statistics.median(times):.2f} s, min {min(times):.2f} s, "
          f"max {max(times):.2f} s")


if __name__ == "__main__":
    main()

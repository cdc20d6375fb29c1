"""Speed on graph networks (residual blocks, skip concatenations), each case a fresh process.

    python benchmarks/graph_bench.py             # all cases, 5 runs each; Markdown on stdout
    python benchmarks/graph_bench.py -n 3 --json results.json
    python benchmarks/graph_bench.py --child resnet50-symbolic   # one run, one JSON line

Cases (specs from ``examples/``):

* ``resnet50-symbolic``: ResNet-50 with its input read as ``3 x H x W`` (the spec's text with
  ``shape = [3, 224, 224]`` replaced), so every size is an expression in ``H`` and ``W``;
* ``resnet152``: ResNet-152 as shipped (3 x 224 x 224), and ``resnet152-symbolic`` the same
  with a ``3 x H x W`` input;
* ``unet2d``, ``unet3d``: the U-Nets, symbolic in the channels ``C`` and every spatial size,
  with their merge conditions.

Timed inside the child: import, ``parse_spec``, ``make_report`` (analysis, memory, limits),
``render_text`` and ``to_json`` (+ ``json.dumps``).  Outside: the child's whole wall time, and
the cold command line ``python -m symcnn report examples/resnet152.toml``.  Nothing is
asserted; the target (ResNet-152 under 2 s) is compared and printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
PY = sys.executable
TARGET_S = 2.0

#: case -> (spec file, text replacements making the input symbolic)
CASES = {
    "resnet50-symbolic": ("resnet50", {"shape = [3, 224, 224]": 'shape = [3, "H", "W"]'}),
    "resnet152": ("resnet152", {}),
    "resnet152-symbolic": ("resnet152", {"shape = [3, 224, 224]": 'shape = [3, "H", "W"]'}),
    "unet2d": ("unet2d", {}),
    "unet3d": ("unet3d", {}),
}


# ---------------------------------------------------------------- one run (child)

def measure(case: str) -> dict:
    """Phase times of one case, in this process (run it fresh)."""
    t0 = time.perf_counter()
    import sympy

    import symcnn
    from symcnn.render.jsonreport import to_json
    from symcnn.render.textreport import render_text
    t1 = time.perf_counter()
    stem, replace = CASES[case]
    text = (EXAMPLES / f"{stem}.toml").read_text(encoding="utf-8")
    for old, new in replace.items():
        if old not in text:
            raise SystemExit(f"{stem}.toml: {old!r} not found")
        text = text.replace(old, new)
    spec = symcnn.parse_spec(text, f"{stem}.toml")
    t2 = time.perf_counter()
    report = symcnn.make_report(spec)
    t3 = time.perf_counter()
    out = render_text(report)
    t4 = time.perf_counter()
    doc = json.dumps(to_json(report))
    t5 = time.perf_counter()
    a, mem = report.analysis, report.memory
    return {
        "case": case, "nodes": len(a.rows),
        "symbols": sorted(map(str, spec.network.free_symbols)),
        "import_s": t1 - t0, "parse_s": t2 - t1, "report_s": t3 - t2, "text_s": t4 - t3,
        "json_s": t5 - t4, "total_s": t5 - t1,
        "total_params": str(report.total_params), "output_shape": [str(x) for x in a.output_shape],
        "conditions": len(a.conditions),
        "per_sample_ops": int(sympy.count_ops(mem.per_sample)),
        "per_sample_chars": len(str(mem.per_sample)),
        "text_chars": len(out), "json_chars": len(doc),
    }


# ---------------------------------------------------------------- timing children (parent)

def timed(cmd: list[str]) -> dict:
    """Wall time, exit code, stdout/stderr and peak RSS of one child process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        return {"wall_s": wall, "rc": os.waitstatus_to_exitcode(status),
                "maxrss_mb": usage.ru_maxrss / 1024,
                "stdout": out.read().decode(errors="replace"),
                "stderr": err.read().decode(errors="replace")}


def med(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def bench_case(case: str, n: int) -> dict:
    runs, walls, rss = [], [], []
    for _ in range(n):
        r = timed([PY, __file__, "--child", case])
        if r["rc"] != 0:
            return {"case": case, "error": r["stderr"].strip().splitlines()[-1:] or r["rc"]}
        runs.append(json.loads(r["stdout"].strip().splitlines()[-1]))
        walls.append(r["wall_s"])
        rss.append(r["maxrss_mb"])
    res = dict(runs[-1])
    for key in ("import_s", "parse_s", "report_s", "text_s", "json_s", "total_s"):
        res[key] = med(runs, key)
    res.update(n=n, wall_s=statistics.median(walls), wall_min_s=min(walls),
               wall_max_s=max(walls), maxrss_mb=max(rss),
               total_min_s=min(r["total_s"] for r in runs),
               total_max_s=max(r["total_s"] for r in runs))
    return res


def bench_cli(n: int) -> dict:
    cmd = [PY, "-m", "symcnn", "report", "examples/resnet152.toml"]
    runs = [timed(cmd) for _ in range(n)]
    bad = [r for r in runs if r["rc"] != 0]
    if bad:
        return {"cmd": " ".join(cmd[1:]), "error": bad[0]["stderr"].strip().splitlines()[-1:]}
    walls = [r["wall_s"] for r in runs]
    return {"cmd": "python " + " ".join(cmd[1:]), "n": n, "median_s": statistics.median(walls),
            "min_s": min(walls), "max_s": max(walls),
            "maxrss_mb": max(r["maxrss_mb"] for r in runs)}


def render(results: dict) -> str:
    lines = [f"{results['machine']}; Python {results['python']}, sympy {results['sympy']}. "
             f"Median of {results['n']} fresh processes; seconds.", "",
             "| case | nodes | symbols | import | parse | make_report | render_text | to_json "
             "| **total** (min–max) | process wall | peak RSS MB | merge conditions "
             "| per-sample ops / chars |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in results["cases"]:
        if "error" in r:
            lines.append(f"| {r['case']} | failed: {r['error']} |")
            continue
        lines.append(
            f"| {r['case']} | {r['nodes']} | {', '.join(r['symbols']) or '—'} "
            f"| {r['import_s']:.3f} | {r['parse_s']:.3f} | {r['report_s']:.3f} "
            f"| {r['text_s']:.3f} | {r['json_s']:.3f} "
            f"| **{r['total_s']:.3f}** ({r['total_min_s']:.3f}–{r['total_max_s']:.3f}) "
            f"| {r['wall_s']:.3f} | {r['maxrss_mb']:.0f} | {r['conditions']} "
            f"| {r['per_sample_ops']} / {r['per_sample_chars']} |")
    cli = results["cli"]
    lines += ["", "| command | N | median s | min–max s | peak RSS MB |", "|---|---:|---:|---:|---:|"]
    if "error" in cli:
        lines.append(f"| {cli['cmd']} | failed: {cli['error']} | | | |")
    else:
        lines.append(f"| `{cli['cmd']}` | {cli['n']} | {cli['median_s']:.3f} "
                     f"| {cli['min_s']:.3f}–{cli['max_s']:.3f} | {cli['maxrss_mb']:.0f} |")
    by_case = {r["case"]: r for r in results["cases"]}
    lines += ["", "| target | measured | met |", "|---|---:|:---:|"]
    for case in ("resnet152", "resnet152-symbolic"):
        r = by_case.get(case, {})
        if "total_s" in r:
            lines.append(f"| {case}: parse + report + text + JSON < {TARGET_S:g} s "
                         f"| {r['total_s']:.3f} s | {'yes' if r['total_s'] < TARGET_S else 'NO'} |")
    if "median_s" in cli:
        lines.append(f"| cold `symcnn report examples/resnet152.toml` < {TARGET_S:g} s "
                     f"| {cli['median_s']:.3f} s | {'yes' if cli['median_s'] < TARGET_S else 'NO'} |")
    lines.append("")
    for r in results["cases"]:
        if "total_params" in r and r["symbols"]:
            lines.append(f"- {r['case']}: total params `{r['total_params']}`, output "
                         f"`{' x '.join(r['output_shape'])}`")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--child", choices=list(CASES), help="one run of one case (JSON line)")
    p.add_argument("-n", type=int, default=5, help="fresh processes per case (default 5)")
    p.add_argument("--json", type=Path, help="also write the raw figures here")
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child)))
        return 0
    import sympy
    results = {"machine": f"{os.cpu_count()} CPU cores ({platform.machine()})",
               "python": platform.python_version(), "sympy": sympy.__version__, "n": args.n,
               "cases": [bench_case(c, args.n) for c in CASES], "cli": bench_cli(args.n)}
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Speed of symcnn, side by side with torchinfo, in one run.

    python benchmarks/run.py            # full run (a few minutes on 2 cores)
    python benchmarks/run.py --quick    # fewer repetitions (about a minute)

Prints Markdown tables and writes ``benchmarks/results.json``.  Every timed command is a
fresh subprocess, so imports and sympy's empty cache are part of each figure.  Nothing
here asserts a time: the targets are compared and reported, not tested.

Needs ``pip install torch==2.13.0 && pip install -e ".[peers]"`` (torchinfo, numpy),
which torchinfo 1.8.0 imports without declaring it.  Without torch/torchinfo the
torchinfo rows are reported as unavailable and the rest still runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable

TARGET_CLI_S = 1.0          # cold `symcnn report` on the lecture network
TARGET_DEEP_S = 2.0         # build + make_report + render_text + to_json, 512 layers
DEPTHS = (64, 128, 256, 512)

#: The lecture network in PyTorch, summarised by torchinfo in a fresh interpreter.
TORCHINFO_CODE = """
import sys
import torch, torchinfo
from torch import nn
net = nn.Sequential(
    nn.Conv3d(1, 30, 3), nn.Conv3d(30, 30, 3, stride=2),
    nn.Conv3d(30, 60, 3), nn.Conv3d(60, 60, 3, stride=2),
    nn.Conv3d(60, 120, 3), nn.Conv3d(120, 120, 3, stride=2),
    nn.Conv3d(120, 240, 3), nn.Conv3d(240, 240, 3, stride=2),
    nn.Flatten(), nn.Linear(213840, 1))
stats = torchinfo.summary(net, input_size=(1, 1, 193, 229, 193), device=sys.argv[1], verbose=0)
print(stats)
"""


# ---------------------------------------------------------------- subprocess timing

def timed(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd``; wall time, exit code, output and peak RSS of that one child."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {"wall_s": wall, "rc": proc.returncode, "maxrss_mb": usage.ru_maxrss / 1024,
                "stdout": out.read().decode(errors="replace"),
                "stderr": err.read().decode(errors="replace")}


def repeat(cmd: list[str], n: int, env: dict | None = None) -> dict:
    """``n`` cold runs of ``cmd``; median/min/max wall time.  Stops at the first failure."""
    runs = []
    for _ in range(n):
        r = timed(cmd, env)
        runs.append(r)
        if r["rc"] != 0:
            break
    ok = [r for r in runs if r["rc"] == 0]
    walls = [r["wall_s"] for r in ok]
    res = {"cmd": cmd, "n": len(ok), "ok": len(ok) == n,
           "median_s": statistics.median(walls) if walls else None,
           "min_s": min(walls) if walls else None, "max_s": max(walls) if walls else None,
           "maxrss_mb": max(r["maxrss_mb"] for r in ok) if ok else None,
           "stdout": runs[-1]["stdout"]}
    if not res["ok"]:
        res["error"] = last_line(runs[-1]["stderr"]) or f"exit code {runs[-1]['rc']}"
    return res


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def console_script() -> str | None:
    """The ``symcnn`` script of this interpreter's environment, else the one on PATH."""
    here = Path(PY).parent / "symcnn"
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which("symcnn")


# ---------------------------------------------------------------- parsing totals

def torchinfo_totals(text: str) -> dict:
    def grab(label: str):
        m = re.search(re.escape(label) + r"\s*:?\s*([\d,\.]+)", text)
        return float(m.group(1).replace(",", "")) if m else None
    return {"total_params": grab("Total params"), "input_mb": grab("Input size (MB)"),
            "fwd_bwd_mb": grab("Forward/backward pass size (MB)"),
            "params_mb": grab("Params size (MB)"),
            "estimated_total_mb": grab("Estimated Total Size (MB)")}


def symcnn_totals() -> dict:
    r = timed([PY, "-m", "symcnn", "report", "--json"])
    if r["rc"] != 0:
        return {"error": last_line(r["stderr"])}
    doc = json.loads(r["stdout"])
    m = doc["memory"]
    return {"total_params": doc["total_params"], "params_bytes": m["params_bytes"],
            "grads_bytes": m["grads_bytes"], "input_bytes": m["input_bytes"],
            "per_sample_bytes": m["per_sample_bytes"], "training_bytes": m["training_bytes"]}


# ---------------------------------------------------------------- the benchmarks

def bench_cli(n_cli: int, n_torch: int) -> dict:
    res: dict = {"rows": {}}
    rows = res["rows"]
    rows["python -c pass (interpreter start)"] = repeat([PY, "-c", "pass"], n_cli)
    rows["python -c 'import symcnn.cli'"] = repeat([PY, "-c", "import symcnn.cli"], n_cli)
    rows["python -m symcnn report"] = repeat([PY, "-m", "symcnn", "report"], n_cli)
    script = console_script()
    if script:
        rows["symcnn report (console script)"] = repeat([script, "report"], n_cli)
        rows["symcnn report (console script)"]["path"] = script
    else:
        res["console_script"] = "not found next to the interpreter nor on PATH"
    rows["python -c 'import torch, torchinfo'"] = repeat(
        [PY, "-c", "import torch, torchinfo"], n_torch)
    for device in ("cpu", "meta"):
        rows[f"torchinfo summary, device={device!r}"] = repeat(
            [PY, "-c", TORCHINFO_CODE, device], n_torch)

    res["symcnn_totals"] = symcnn_totals()
    for device in ("cpu", "meta"):
        row = rows[f"torchinfo summary, device={device!r}"]
        if row["ok"]:
            res[f"torchinfo_totals_{device}"] = torchinfo_totals(row["stdout"])
    for row in rows.values():
        row.pop("stdout", None)
    return res


def bench_deep(depths, n: int) -> dict:
    out = {}
    for depth in depths:
        runs = []
        for _ in range(n):
            r = timed([PY, str(HERE / "deep_network.py"), str(depth)])
            if r["rc"] != 0:
                out[depth] = {"error": last_line(r["stderr"])}
                break
            runs.append(json.loads(r["stdout"]))
        else:
            row = dict(runs[0])
            for key in ("import_s", "build_s", "report_s", "text_s", "json_s", "total_s"):
                row[key] = statistics.median(x[key] for x in runs)
            row["total_min_s"] = min(x["total_s"] for x in runs)
            row["total_max_s"] = max(x["total_s"] for x in runs)
            row["n"] = n
            out[depth] = row
    return out


# ---------------------------------------------------------------- presentation

def fmt_s(x) -> str:
    return "—" if x is None else f"{x:.3f}"


def render(results: dict) -> str:
    cli, deep = results["cli"], results["deep"]
    rows = cli["rows"]
    lines = ["### 1. Cold command line: the lecture network (3,301,651 parameters)", "",
             "Each row is a fresh process; median (min–max) wall time of N runs, peak RSS.", "",
             "| command | N | median s | min–max s | peak RSS MB |",
             "|---|---:|---:|---:|---:|"]
    for name, r in rows.items():
        if r["ok"]:
            lines.append(f"| {name} | {r['n']} | {fmt_s(r['median_s'])} | "
                         f"{fmt_s(r['min_s'])}–{fmt_s(r['max_s'])} | {r['maxrss_mb']:.0f} |")
        else:
            lines.append(f"| {name} | {r['n']} | failed: {r['error']} | | |")
    if "console_script" in cli:
        lines.append(f"| symcnn report (console script) | – | {cli['console_script']} | | |")

    sym = rows["python -m symcnn report"]["median_s"]
    lines += ["", "| ratio (median) | symcnn / torchinfo |", "|---|---:|"]
    for device in ("cpu", "meta"):
        t = rows[f"torchinfo summary, device={device!r}"]
        ratio = f"{sym / t['median_s']:.3f} ({t['median_s'] / sym:.1f}x faster)" \
            if t["ok"] and sym else f"n/a ({t.get('error', '')})"
        lines.append(f"| `python -m symcnn report` / torchinfo `device={device!r}` | {ratio} |")

    st = cli["symcnn_totals"]
    lines += ["", "Same network, same totals (MB = 10^6 B):", "",
              "| figure | symcnn | torchinfo cpu | torchinfo meta |", "|---|---:|---:|---:|"]
    tc, tm = cli.get("torchinfo_totals_cpu", {}), cli.get("torchinfo_totals_meta", {})

    def t(d, k, f="{:,.2f}"):
        return f.format(d[k]) if d.get(k) is not None else "—"
    if "error" not in st:
        mb = lambda v: v / 1e6  # noqa: E731
        fwd_bwd = st["per_sample_bytes"] - st["input_bytes"]
        sym_torchinfo_style = st["params_bytes"] + st["per_sample_bytes"]
        lines += [
            f"| total parameters | {st['total_params']:,} | {t(tc, 'total_params', '{:,.0f}')} "
            f"| {t(tm, 'total_params', '{:,.0f}')} |",
            f"| input (I_1) | {mb(st['input_bytes']):,.2f} | {t(tc, 'input_mb')} "
            f"| {t(tm, 'input_mb')} |",
            f"| activations, value + gradient (2·ΣI_i, i≥2) | {mb(fwd_bwd):,.2f} "
            f"| {t(tc, 'fwd_bwd_mb')} | {t(tm, 'fwd_bwd_mb')} |",
            f"| parameters | {mb(st['params_bytes']):,.2f} | {t(tc, 'params_mb')} "
            f"| {t(tm, 'params_mb')} |",
            f"| gradients of the parameters | {mb(st['grads_bytes']):,.2f} | (not counted) "
            f"| (not counted) |",
            f"| symcnn training at b = 1 / torchinfo Estimated Total Size "
            f"| {mb(st['training_bytes']):,.2f} | {t(tc, 'estimated_total_mb')} "
            f"| {t(tm, 'estimated_total_mb')} |",
            f"| symcnn without gradients (params + per sample) | "
            f"{mb(sym_torchinfo_style):,.2f} | | |",
        ]

    lines += ["", "### 2. Deep symbolic network (Conv2d, C channels, C x H x W input, "
              "stride 2 every 32 layers)", "",
              "Fresh process per run; median of N runs; seconds.  `total` = build + "
              "make_report + render_text + to_json (import not included, shown apart).", "",
              "| depth | strided | N | import | build | make_report | render_text | to_json "
              "| **total** | ms/layer | ops: params / per-sample / out shape "
              "| chars: params / per-sample / out shape |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for depth, r in deep.items():
        if "error" in r:
            lines.append(f"| {depth} | | | failed: {r['error']} |")
            continue
        ops = (f"{r['size_total_params']['count_ops']} / {r['size_per_sample']['count_ops']} / "
               f"{r['size_output_shape']['count_ops']}")
        chars = (f"{r['size_total_params']['chars']} / {r['size_per_sample']['chars']} / "
                 f"{r['size_output_shape']['chars']}")
        lines.append(f"| {depth} | {r['strided_layers']} | {r['n']} | {fmt_s(r['import_s'])} | "
                     f"{fmt_s(r['build_s'])} | {fmt_s(r['report_s'])} | {fmt_s(r['text_s'])} | "
                     f"{fmt_s(r['json_s'])} | **{fmt_s(r['total_s'])}** | "
                     f"{1000 * r['total_s'] / int(depth):.2f} | {ops} | {chars} |")
    ok = [r for r in deep.values() if "error" not in r]
    if len(ok) >= 2:
        a, z = ok[0], ok[-1]
        lines += ["", f"Growth {a['depth']} → {z['depth']} layers ({z['depth'] / a['depth']:g}x): "
                      f"time {z['total_s'] / a['total_s']:.2f}x, per-sample expression "
                      f"{z['size_per_sample']['count_ops'] / a['size_per_sample']['count_ops']:.2f}x "
                      f"ops (one term per stride level), total params and output shape "
                      f"constant in size."]
    last = deep.get(max(deep, key=int)) if deep else None
    if last and "error" not in last:
        lines += ["", f"At depth {last['depth']}: total params `{last['total_params']}`, "
                      f"output shape `({', '.join(last['output_shape'])})`."]

    lines += ["", "### Targets", "", "| target | measured | met |", "|---|---:|:---:|"]
    for t_ in results["targets"]:
        lines.append(f"| {t_['target']} | {fmt_s(t_['measured_s'])} s | "
                     f"{'yes' if t_['met'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def targets(results: dict) -> list[dict]:
    out = []
    cli = results["cli"]["rows"]
    for name in ("python -m symcnn report", "symcnn report (console script)"):
        if name in cli and cli[name]["ok"]:
            m = cli[name]["median_s"]
            out.append({"target": f"cold `{name.split(' (')[0]}` < {TARGET_CLI_S:g} s",
                        "measured_s": m, "met": m < TARGET_CLI_S})
    deep = results["deep"].get(512) or results["deep"].get("512")
    if deep and "error" not in deep:
        out.append({"target": f"512 layers, build + report + text + JSON < {TARGET_DEEP_S:g} s",
                    "measured_s": deep["total_s"], "met": deep["total_s"] < TARGET_DEEP_S})
    return out


def versions() -> dict:
    code = ("import json, sympy, symcnn\n"
            "v = {'sympy': sympy.__version__, 'symcnn': symcnn.__version__}\n"
            "try:\n import torch, torchinfo, importlib.metadata as md\n"
            " v.update(torch=torch.__version__, torchinfo=md.version('torchinfo'))\n"
            "except Exception as e: v['torchinfo'] = f'unavailable: {e}'\n"
            "print(json.dumps(v))")
    r = subprocess.run([PY, "-c", code], capture_output=True, text=True)
    v = json.loads(r.stdout) if r.returncode == 0 else {"error": last_line(r.stderr)}
    v["python"] = platform.python_version()
    return v


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer repetitions")
    p.add_argument("--output", type=Path, default=HERE / "results.json")
    args = p.parse_args(argv)
    n_cli, n_torch, n_deep = (3, 1, 1) if args.quick else (10, 3, 3)

    started = datetime.datetime.now(datetime.UTC)
    print(f"symcnn benchmarks ({'quick' if args.quick else 'full'}) ...", file=sys.stderr)
    results = {"date": started.isoformat(timespec="seconds"), "quick": args.quick,
               "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                           "processor": platform.processor() or platform.machine()},
               "versions": versions(), "python": PY}
    print("  1/2 cold command lines ...", file=sys.stderr)
    results["cli"] = bench_cli(n_cli, n_torch)
    print("  2/2 deep symbolic networks ...", file=sys.stderr)
    results["deep"] = bench_deep(DEPTHS, n_deep)
    results["targets"] = targets(results)
    results["elapsed_s"] = (datetime.datetime.now(datetime.UTC) - started).total_seconds()

    v = results["versions"]
    header = (f"## symcnn benchmarks, {started:%Y-%m-%d}\n\n"
              f"{results['machine']['cpus']} CPUs ({results['machine']['platform']}); "
              f"Python {v.get('python')}, sympy {v.get('sympy')}, symcnn {v.get('symcnn')}, "
              f"torch {v.get('torch', '—')}, torchinfo {v.get('torchinfo', '—')}"
              f"{'; --quick' if args.quick else ''}.\n\n")
    text = header + render(results)
    print(text)
    args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time against depth: does a report cost time linear in the number of layers, for every
convention?  Each figure is a fresh process (imports and sympy's cache cold, as a user's
command is), timed around ``make_report`` + ``render_text`` (import and network building
apart; ``to_json`` apart too); wall and CPU seconds (CPU time is what other processes on a shared
machine disturb least, so the ratios are taken from it).

    python benchmarks/depth_scaling.py              # every case, 3 runs each: ~3 minutes
    python benchmarks/depth_scaling.py -n 1 --json /tmp/depth.json
    python benchmarks/depth_scaling.py --one conv 2048 pytorch   # one child run (JSON line)

Networks:

* ``chain``: ``depth`` layers alternating ``Linear(out_features=8)`` and ``ReLU()`` on an
  8-element input (numbers only); beside it, torchinfo's ``summary`` of the same
  ``nn.Sequential`` on ``device="meta"`` (the same ``depth`` modules).
* ``conv``: ``benchmarks/deep_network.py``'s symbolic network: ``depth`` Conv2d layers on a
  ``C x H x W`` input, stride 2 every 32 layers.  With a fourth argument (``worksheet``) the
  document path instead of the text: ``make_report`` + ``render.documents.render_string``
  of that template (the derivation in named sizes, every live set, the budgets).

Targets (issue 10): a 20,000-layer chain in at most 15x the time of a 2,000-layer one (every
convention); on the conv network, the pytorch convention at 2,048 layers in at most 5x the
lecture convention's time and at most 12x its own time at 256 layers.  Since the symbolic
documents (named sizes, the proved cut of a maximum): the lecture convention at 2,048 layers
in at most 12x its time at 256 (the proofs once grew faster than the depth: 38x), and the
worksheet at 1,024 layers in at most 6x its time at 256.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable

CASES = [("chain", 2000, "lecture"), ("chain", 20000, "lecture"),
         ("chain", 2000, "pytorch"), ("chain", 20000, "pytorch"),
         ("conv", 256, "lecture"), ("conv", 2048, "lecture"),
         ("conv", 256, "pytorch"), ("conv", 512, "pytorch"), ("conv", 1024, "pytorch"),
         ("conv", 2048, "pytorch"),
         ("conv", 256, "lecture", "worksheet"), ("conv", 1024, "lecture", "worksheet")]
TORCHINFO = [2000, 20000]
#: The JSON of the pytorch convention on the symbolic network prints the peak at b = 1 and
#: its formula as the Max over every moment (each a sum with one term per resolution):
#: quadratically many characters in the depth.  It is timed (``json_cpu_s``) up to here.
JSON_UP_TO = {("conv", "pytorch"): 512}


def build(kind: str, depth: int):
    import symcnn
    from symcnn.layers import Linear, ReLU
    if kind == "conv":
        sys.path.insert(0, str(HERE))
        import deep_network
        return deep_network.build(depth)
    layers = [Linear(out_features=8) if i % 2 == 0 else ReLU() for i in range(depth)]
    return symcnn.Network.sequential(f"chain-{depth}", (8,), layers)


def one(kind: str, depth: int, convention: str, document: str | None = None) -> dict:
    """One timed run in this process (``document``: that template instead of the text)."""
    t0 = time.perf_counter()
    import symcnn
    from symcnn.options import MemoryOptions
    from symcnn.render.documents import render_string
    from symcnn.render.jsonreport import to_json
    from symcnn.render.textreport import render_text
    t1 = time.perf_counter()
    net = build(kind, depth)
    w0, c0 = time.perf_counter(), time.process_time()
    report = symcnn.make_report(net, MemoryOptions(convention=convention))
    text = render_string(report, document) if document else render_text(report)
    w1, c1 = time.perf_counter(), time.process_time()
    if document:
        return {"kind": kind, "depth": depth, "convention": f"{convention} + {document}",
                "import_s": t1 - t0, "wall_s": w1 - w0, "cpu_s": c1 - c0,
                "text_chars": len(text), "moments": 0}
    out = {"kind": kind, "depth": depth, "convention": convention, "import_s": t1 - t0,
           "wall_s": w1 - w0, "cpu_s": c1 - c0, "text_chars": len(text),
           "moments": len(report.memory.simulation.moments) if report.memory.simulation else 0}
    if depth <= JSON_UP_TO.get((kind, convention), 10**9):
        doc = json.dumps(to_json(report))
        out.update(json_cpu_s=time.process_time() - c1, json_chars=len(doc))
    return out


def torchinfo_one(depth: int) -> dict:
    """torchinfo's summary of the chain, on the meta device."""
    import torch
    import torchinfo
    layers = [torch.nn.Linear(8, 8) if i % 2 == 0 else torch.nn.ReLU() for i in range(depth)]
    model = torch.nn.Sequential(*layers)
    w0, c0 = time.perf_counter(), time.process_time()
    torchinfo.summary(model, input_size=(1, 8), device="meta", verbose=0)
    w1, c1 = time.perf_counter(), time.process_time()
    return {"kind": "chain", "depth": depth, "convention": "torchinfo (meta)",
            "wall_s": w1 - w0, "cpu_s": c1 - c0}


def run(args: list[str], n: int) -> dict:
    runs = []
    for _ in range(n):
        out = subprocess.run([PY, __file__, "--one", *args], capture_output=True, text=True,
                             timeout=1800)
        if out.returncode:
            return {"args": args, "error": out.stderr.strip().splitlines()[-1:]}
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    med = {k: statistics.median(r[k] for r in runs) for k in ("wall_s", "cpu_s")}
    return {**runs[0], **med, "n": n, "cpu_runs": [r["cpu_s"] for r in runs]}


def table(rows: list[dict]) -> str:
    out = ["| network | layers | convention | moments | median wall s | median CPU s | "
           "JSON CPU s (chars) |", "|---|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            out.append(f"| {' '.join(r['args'])} | | | | failed: {r['error']} | |")
            continue
        js = f"{r['json_cpu_s']:.2f} ({r['json_chars']:,})" if "json_cpu_s" in r else ""
        out.append(f"| {r['kind']} | {r['depth']:,} | {r['convention']} | "
                   f"{r.get('moments', '')} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {js} |")
    return "\n".join(out)


def ratios(rows: list[dict]) -> str:
    cpu = {(r["kind"], r["depth"], r["convention"]): r["cpu_s"] for r in rows if "cpu_s" in r}

    def ratio(a, b):
        return cpu[a] / cpu[b] if a in cpu and b in cpu else float("nan")

    checks = [
        ("chain 20,000 / 2,000 layers, lecture", ratio(("chain", 20000, "lecture"),
                                                        ("chain", 2000, "lecture")), 15),
        ("chain 20,000 / 2,000 layers, pytorch", ratio(("chain", 20000, "pytorch"),
                                                        ("chain", 2000, "pytorch")), 15),
        ("chain 20,000 / 2,000 modules, torchinfo (meta)",
         ratio(("chain", 20000, "torchinfo (meta)"), ("chain", 2000, "torchinfo (meta)")), None),
        ("conv 2,048 layers: pytorch / lecture", ratio(("conv", 2048, "pytorch"),
                                                       ("conv", 2048, "lecture")), 5),
        ("conv pytorch: 2,048 / 256 layers", ratio(("conv", 2048, "pytorch"),
                                                   ("conv", 256, "pytorch")), 12),
        ("conv lecture: 2,048 / 256 layers", ratio(("conv", 2048, "lecture"),
                                                   ("conv", 256, "lecture")), 12),
        ("conv worksheet: 1,024 / 256 layers", ratio(("conv", 1024, "lecture + worksheet"),
                                                     ("conv", 256, "lecture + worksheet")), 6),
    ]
    out = ["| ratio (median CPU seconds) | measured | target | met |", "|---|---:|---:|:---:|"]
    for name, value, target in checks:
        met = "" if target is None else ("yes" if value <= target else "no")
        out.append(f"| {name} | {value:.1f}x | {'' if target is None else f'<= {target}x'} "
                   f"| {met} |")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=3, help="fresh processes per case (median)")
    p.add_argument("--json", help="write the raw figures here")
    p.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    p.add_argument("--no-torchinfo", action="store_true")
    a = p.parse_args(argv)
    if a.one:
        if a.one[0] == "torchinfo":
            print(json.dumps(torchinfo_one(int(a.one[1]))))
        else:
            print(json.dumps(one(a.one[0], int(a.one[1]), *a.one[2:4])))
        return 0
    rows = [run([k, str(d), *rest], a.n) for k, d, *rest in CASES]
    if not a.no_torchinfo:
        rows += [run(["torchinfo", str(d)], a.n) for d in TORCHINFO]
    print(table(rows))
    print()
    print(ratios(rows))
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

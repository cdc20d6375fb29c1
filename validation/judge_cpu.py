"""Predicted against measured training-step peaks on the CPU, one results file at a time, with
the kernel rules of the CPU that file was measured on (its ``environment.cpu_capability``), and
the tallies the README quotes: runs within 4 B, 2 %, 5 %, under-predicted, the worst.

    python -m validation.judge_cpu validation/results/cpu_avx2_zoo.json \
        validation/results/cpu_avx2_heldout.json

Needs no torch (the specs and the committed measurements).  The fitting set (the zoo) and the
held-out set are separate files and are reported apart.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import symcnn
from symcnn.memory.pytorch.timeline import peak, training_moments
from validation import zoo


def load(path) -> dict:
    return json.loads(Path(path).read_text())


def predicted_peak(cfg: dict, cpu: str) -> int:
    """The pytorch convention's peak for one measured configuration, with ``cpu``'s rules."""
    entry = zoo.get(cfg["network"])
    a = symcnn.analyze(symcnn.parse_spec(entry.spec_text).network)
    moments = training_moments(a, optimizer=cfg["optimizer"], foreach=bool(cfg["foreach"]),
                               device="cpu", batch=cfg["batch"], precision=cfg["precision"],
                               cpu=cpu)
    return int(peak(moments, cfg["batch"]))


def node_misses(data: dict, least: int = 256) -> list[tuple]:
    """Per node and phase, predicted minus measured (the node's own peak), where they differ by
    more than ``least`` bytes: ``(network, label, phase, node, difference, measured)``."""
    cpu = data["environment"]["cpu_capability"]
    out = []
    for run in data["results"]:
        cfg = run["config"]
        entry = zoo.get(cfg["network"])
        a = symcnn.analyze(symcnn.parse_spec(entry.spec_text).network)
        moments = training_moments(a, optimizer=cfg["optimizer"], foreach=bool(cfg["foreach"]),
                                   device="cpu", batch=cfg["batch"],
                                   precision=cfg["precision"], cpu=cpu)
        pred: dict = {}
        for m in moments:
            key = (m.phase, m.node)
            pred[key] = max(pred.get(key, 0), int(m.at(cfg["batch"])))
        for n in run["step"]["nodes"]:
            key = (n["phase"], n["node"])
            if key in pred and abs(pred[key] - n["peak"]) > least:
                out.append((cfg["network"], run["label"], *key, pred[key] - n["peak"],
                            n["peak"]))
    return out


def compare(data: dict) -> list[dict]:
    """One row per configuration: measured, predicted, the difference (predicted - measured)."""
    cpu = data["environment"]["cpu_capability"]
    out = []
    for run in data["results"]:
        cfg = run["config"]
        measured = run["step"]["step_peak"]
        pred = predicted_peak(cfg, cpu)
        out.append({"network": cfg["network"], "label": run["label"], "batch": cfg["batch"],
                    "precision": cfg["precision"], "measured": measured, "predicted": pred,
                    "error": (pred - measured) / measured,
                    "peak_at": f"{run['step']['peak_phase']} {run['step']['peak_node'] or ''}"})
    return out


def tally(rows: list[dict]) -> dict:
    n = len(rows)
    return {"runs": n,
            "within_4B": sum(abs(r["predicted"] - r["measured"]) <= 4 for r in rows),
            "within_2pct": sum(abs(r["error"]) <= 0.02 for r in rows),
            "within_5pct": sum(abs(r["error"]) <= 0.05 for r in rows),
            "under": sum(r["predicted"] < r["measured"] - 4 for r in rows),
            "worst": max((r["error"] for r in rows), key=abs, default=0.0)}


def main(argv=None) -> int:
    argv = list(argv if argv is not None else sys.argv[1:])
    nodes = "--nodes" in argv
    for path in [a for a in argv if a != "--nodes"]:
        data = load(path)
        rows = compare(data)
        env = data["environment"]
        print(f"## {Path(path).name}: {env['cpu']}, {env['cpu_capability']}, torch {env['torch']}, "
              f"{env['threads']} threads")
        print("| network | config | b | measured | predicted | error | measured peak at |")
        print("|---|---|--:|--:|--:|--:|---|")
        for r in rows:
            print(f"| {r['network']} | {r['label']} | {r['batch']} | {r['measured']:,} | "
                  f"{r['predicted']:,} | {100 * r['error']:+.2f} % | {r['peak_at']} |")
        for precision in ("fp32", "bf16", "fp16"):
            sub = [r for r in rows if r["precision"] == precision]
            if sub:
                print(f"{precision}: {tally(sub)}")
        print(f"all: {tally(rows)}\n")
        if "heldout" in Path(path).name:
            from validation.heldout import SEEN

            for name, sub in (("unseen", [r for r in rows if r["network"] not in SEEN]),
                              ("seen", [r for r in rows if r["network"] in SEEN])):
                print(f"{name} held-out networks: {tally(sub)}")
        if nodes:
            for miss in node_misses(data):
                print("  node miss: " + " ".join(map(str, miss[:4])) + f" {miss[4]:+,} B "
                      f"(of {miss[5]:,})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

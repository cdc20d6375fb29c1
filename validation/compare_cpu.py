"""Predicted (symcnn.memory.pytorch.timeline) against measured (cpu_zoo.json, cpu_heavy.json) training-step
peaks on the CPU, fp32 and bf16 autocast.

Run from the repository root: ``python -m validation.compare_cpu`` (needs no torch: it reads
the zoo's spec texts and the committed measurements) -> validation/results/cpu_predicted.md
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent

import symcnn  # noqa: E402
from symcnn.memory.pytorch.saved import saved_tensors, total_saved_bytes  # noqa: E402
from symcnn.memory.pytorch.timeline import peak, training_moments  # noqa: E402
from validation import zoo  # noqa: E402

RESULTS = ("cpu_heavy.json", "cpu_zoo.json")


def rows(results: list[dict]) -> list[str]:
    """One table line per measured configuration."""
    lines = []
    for run in results:
        cfg = run["config"]
        entry = zoo.get(cfg["network"])
        a = symcnn.analyze(symcnn.parse_spec(entry.spec_text).network)
        b, precision = cfg["batch"], cfg["precision"]
        saved = int(total_saved_bytes(saved_tensors(a, "cpu", precision), 4, batch=b))
        moments = training_moments(a, optimizer=cfg["optimizer"], foreach=bool(cfg["foreach"]),
                                   device="cpu", batch=b, precision=precision)
        predicted = int(peak(moments, b))
        top = max(moments, key=lambda m: int(m.at(b)))
        measured = run["step"]["step_peak"]
        lines.append(f"| {cfg['network']} | {run['label']} | {b} | {run['saved_dedup']:,} | "
                     f"{saved:,} | {measured:,} | {predicted:,} | "
                     f"{100 * (predicted - measured) / measured:+.1f} % | "
                     f"{run['step']['peak_phase']} {run['step']['peak_node'] or ''} | "
                     f"{top.phase} {top.node} |")
    return lines


def main() -> None:
    lines = ["| network | config | b | saved measured | saved predicted | peak measured | "
             "peak predicted | error | measured peak at | predicted peak at |",
             "|---|---|--:|--:|--:|--:|--:|--:|---|---|"]
    for name in RESULTS:
        path = HERE / "results" / name
        if path.is_file():
            lines += rows(json.loads(path.read_text())["results"])
    out = HERE / "results" / "cpu_predicted.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

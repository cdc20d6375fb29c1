"""The held-out set predicted with calibration profiles made on the machine that measured it
(issue 13, item 4: ``symcnn calibrate``; target: every run within 0.5 %).

    python -m validation.judge_calibrated validation/results/cpu_avx2_heldout.json \
        [--out validation/results] [--only NAME ...] [--batch-sizes 2,4]
    python -m validation.judge_calibrated --from validation/results/cpu_avx2_heldout_calibrated.json

For every network of the results file and each precision in it, :func:`symcnn.memory.calibrate.calibrate`
measures the network's layer configurations one at a time (each alone, on this machine, at the
batch sizes given: never the held-out network itself), and the ``pytorch`` convention predicts
every measured run (training-step peak and inference peak) with that profile in place of the
built-in kernel rules.  The machine must be the one the results name (its CPU capability,
threads and torch version are checked).  Writes ``<stem>_calibrated.json`` (the profiles and
the rows) and ``.md`` (the table and the tallies); ``--from`` re-prints a written file.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import symcnn
from symcnn.memory.calibrate import calibrate
from symcnn.memory.calibrate.probe import _torch
from symcnn.memory.pytorch.inference import inference_moments
from symcnn.memory.pytorch.timeline import peak, training_moments
from symcnn.spec.profile import parse_profile, profile_text
from validation import judge_cpu, measure
from validation.heldout import HELDOUT

HERE = Path(__file__).resolve().parent
ENTRIES = {e.name: e for e in HELDOUT}


def predict(analysis, cfg: dict, cpu: str, threads: int, profile) -> tuple[int, int]:
    """The training-step peak and the inference peak of one measured configuration."""
    b, precision = cfg["batch"], cfg["precision"]
    train = training_moments(analysis, optimizer=cfg["optimizer"], foreach=bool(cfg["foreach"]),
                             device="cpu", batch=b, precision=precision, threads=threads,
                             cpu=cpu, profile=profile)
    infer = inference_moments(analysis, device="cpu", batch=b, precision=precision,
                              threads=threads, cpu=cpu, profile=profile)
    return int(peak(train, b)), int(peak(infer, b))


def run(data: dict, only, batch_sizes) -> dict:
    env = data["environment"]
    here = measure.environment()
    for key in ("cpu_capability", "threads", "torch"):
        if here[key] != env[key]:
            raise SystemExit(f"this machine's {key} is {here[key]}, the measurement's {env[key]}: "
                             "a profile must be made where the runs were measured")
    torch = _torch()
    torch.set_num_threads(env["threads"])
    profiles, rows = {}, []
    t0 = time.perf_counter()
    for run_ in data["results"]:
        cfg = run_["config"]
        name, precision = cfg["network"], cfg["precision"]
        if only and name not in only:
            continue
        analysis = symcnn.analyze(symcnn.parse_spec(ENTRIES[name].spec_text).network)
        key = f"{name}/{precision}"
        if key not in profiles:
            t1 = time.perf_counter()
            doc = calibrate(analysis, precision=precision, batch_sizes=batch_sizes,
                            source=f"{name}.toml")
            doc["calibration_s"] = round(time.perf_counter() - t1, 1)
            profiles[key] = doc
            print(f"calibrated {key}: {len(doc['layers'])} configurations in "
                  f"{doc['calibration_s']} s", flush=True)
        rows.append(row(run_, analysis, env, profiles[key]))
    return {"environment": env, "measured": "cpu_avx2_heldout.json", "batch_sizes": batch_sizes,
            "elapsed_s": round(time.perf_counter() - t0, 1), "rows": rows, "profiles": profiles}


def row(run_: dict, analysis, env: dict, doc: dict) -> dict:
    cfg = run_["config"]
    doc = {k: v for k, v in doc.items() if k != "calibration_s"}
    profile = parse_profile(profile_text(doc), f"{cfg['network']}/{cfg['precision']}")
    step, infer = predict(analysis, cfg, env["cpu_capability"], env["threads"], profile)
    rules, _ = predict(analysis, cfg, env["cpu_capability"], env["threads"], None)
    measured, measured_inf = run_["step"]["step_peak"], run_["inference"]["peak"]
    return {"network": cfg["network"], "label": run_["label"], "batch": cfg["batch"],
            "precision": cfg["precision"], "measured": measured, "predicted": step,
            "error": (step - measured) / measured, "rules": rules,
            "rules_error": (rules - measured) / measured,
            "inference_measured": measured_inf, "inference_predicted": infer,
            "inference_error": (infer - measured_inf) / measured_inf}


def merged(written: dict, new: dict, data: dict) -> dict:
    """``written`` with ``new``'s networks (``--only``) put in, rows in the measured order."""
    if written["environment"] != new["environment"] or written["batch_sizes"] != list(
            new["batch_sizes"]):
        raise SystemExit("the written result was made elsewhere or at other batch sizes")
    redone = {r["network"] for r in new["rows"]}
    rows = [r for r in written["rows"] if r["network"] not in redone] + new["rows"]
    order = [(r["config"]["network"], r["label"]) for r in data["results"]]
    rows.sort(key=lambda r: order.index((r["network"], r["label"])))
    profiles = {k: v for k, v in written["profiles"].items() if k.split("/")[0] not in redone}
    profiles.update(new["profiles"])
    profiles = {k: profiles[k] for k in dict.fromkeys(f"{n}/{p}" for (n, p) in (
        (r["network"], r["precision"]) for r in rows))}
    return {**written, "elapsed_s": round(written["elapsed_s"] + new["elapsed_s"], 1),
            "rows": rows, "profiles": profiles}


def markdown(result: dict) -> str:
    env, rows = result["environment"], result["rows"]
    lines = [f"# Held-out set with calibration profiles ({env['cpu']}, {env['cpu_capability']})",
             "",
             f"torch {env['torch']}, Python {env['python']}, {env['threads']} threads, "
             f"{env['platform']}.  Written by `python -m validation.judge_calibrated`: each "
             "network's layer configurations calibrated alone on this machine (`symcnn "
             f"calibrate`, batch sizes {result['batch_sizes'][0]} and "
             f"{result['batch_sizes'][1]}), then every measured run of `cpu_avx2_heldout.json` "
             "predicted with that profile; `rules`: the built-in AVX2 rules, for comparison.",
             "",
             "| network | config | b | measured | with profile | error | rules | inference "
             "measured | with profile | error |",
             "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rows:
        lines.append(f"| {r['network']} | {r['label']} | {r['batch']} | {r['measured']:,} | "
                     f"{r['predicted']:,} | {_pct(r['error'], r['predicted'] - r['measured'])} | "
                     f"{100 * r['rules_error']:+.2f} % | {r['inference_measured']:,} | "
                     f"{r['inference_predicted']:,} | "
                     f"{_pct(r['inference_error'], r['inference_predicted'] - r['inference_measured'])} |")
    lines.append("")
    for precision in ("fp32", "bf16"):
        sub = [r for r in rows if r["precision"] == precision]
        if sub:
            lines.append(f"- {precision}: {summary(sub)}")
    lines.append(f"- all: {summary(rows)}")
    times = {k: v.get("calibration_s") for k, v in result["profiles"].items()}
    lines.append("- calibration time per network and precision (s, on a shared 2-core machine): "
                 + ", ".join(f"{k} {v}" for k, v in times.items()))
    return "\n".join(lines) + "\n"


def _pct(error: float, diff: int) -> str:
    return f"{diff:+,d} B" if abs(diff) <= 256 else f"{100 * error:+.3f} %"


def summary(rows: list[dict]) -> str:
    step = judge_cpu.tally(rows)
    within = sum(abs(r["error"]) <= 0.005 for r in rows)
    inf = sum(abs(r["inference_error"]) <= 0.005 for r in rows)
    worst_inf = max((r["inference_error"] for r in rows), key=abs, default=0.0)
    return (f"{step['runs']} runs: training peak within 0.5 % {within}, to 4 B "
            f"{step['within_4B']}, worst {100 * step['worst']:+.3f} %; inference within 0.5 % "
            f"{inf}, worst {100 * worst_inf:+.3f} %")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="?", default=str(HERE / "results/cpu_avx2_heldout.json"))
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--batch-sizes", default="2,4")
    ap.add_argument("--from", dest="written", help="re-print a written result")
    args = ap.parse_args(argv)
    if args.written:
        print(markdown(json.loads(Path(args.written).read_text())))
        return 0
    batches = tuple(int(v) for v in args.batch_sizes.split(","))
    path = Path(args.results)
    data = json.loads(path.read_text())
    result = run(data, args.only, batches)
    stem = Path(args.out) / f"{path.stem}_calibrated"
    if args.only and stem.with_suffix(".json").exists():
        result = merged(json.loads(stem.with_suffix(".json").read_text()), result, data)
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    text = markdown(result)
    stem.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

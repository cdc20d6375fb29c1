"""Measure the whole zoo on the CPU: saved tensors, training-step peak, inference peak.

    python -m validation.run_cpu                      # all networks -> validation/results/cpu_zoo.{json,md}
    python -m validation.run_cpu --only resnet vgg2d --out /tmp/zoo
    python -m validation.run_cpu --heavy              # the lecture at full size -> .../cpu_heavy.{json,md}

For every network of ``validation/zoo`` (after checking it against its spec):

* fp32, each batch size of the entry: saved tensors and the inference peak;
* fp32 training steps: SGD, SGD with momentum and Adam at the first batch size, SGD and Adam at the
  second;
* networks marked ``bf16``: SGD and Adam under ``torch.autocast("cpu", dtype=torch.bfloat16)`` at
  the first batch size (saved tensors and inference under autocast as well), and SGD under
  ``torch.autocast("cpu", dtype=torch.float16)``;
* networks marked ``foreach``: Adam and SGD-momentum with ``foreach=True`` at the first batch size.

The SGD records at the first batch size (fp32 and bf16), the fp32 Adam one and the foreach ones
carry the allocation events of each node (forward and backward) and of the loss / optimizer /
zero_grad phases (``events``: ``[bytes, op]``); ``patterns.py`` reads them.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

from validation import measure, zoo  # noqa: E402
from validation.fitting import FITTING  # noqa: E402
from validation.heldout import HELDOUT  # noqa: E402
from validation.measure import Config  # noqa: E402


def plan(entry: zoo.ZooEntry) -> list[tuple[Config, bool]]:
    """(config, with allocation events) for one network."""
    b0, b1 = entry.batches[0], entry.batches[-1]
    out = [(Config(entry.name, b0, opt), opt != "momentum") for opt in ("sgd", "momentum", "adam")]
    if b1 != b0:
        out += [(Config(entry.name, b1, opt), False) for opt in ("sgd", "adam")]
    if entry.bf16:
        out += [(Config(entry.name, b0, opt, "bf16"), opt == "sgd") for opt in ("sgd", "adam")]
        out += [(Config(entry.name, b0, "sgd", "fp16"), False)]
    if entry.foreach:
        out += [(Config(entry.name, b0, opt, foreach=True), True) for opt in ("adam", "momentum")]
    return out


def heldout_plan(entry: zoo.ZooEntry) -> list[tuple[Config, bool]]:
    """(config, with allocation events) for a held-out network: each precision (fp32, bf16
    autocast) with SGD at the first batch size and Adam at the second."""
    b0, b1 = entry.batches[0], entry.batches[-1]
    return [(Config(entry.name, b, opt, precision), opt == "sgd")
            for precision in ("fp32", "bf16") for b, opt in ((b0, "sgd"), (b1, "adam"))]


def results_stem(which: str, capability: str) -> str:
    """The results' file name: ``cpu_zoo`` / ``cpu_heavy`` for the AVX-512 CPU the rules were
    first fitted on (their historical names), ``cpu_<capability>_<set>`` otherwise and for
    the held-out and fitting sets (``cpu_avx2_zoo``, ``cpu_avx512_heldout``)."""
    if capability == "AVX512" and which in ("zoo", "heavy"):
        return f"cpu_{which}"
    return f"cpu_{capability.lower()}_{which}"


def run(names: list[str] | None = None, log=print, networks=zoo.ZOO, plan=plan) -> dict:
    env = measure.environment()
    t0 = time.perf_counter()
    checks = []
    results = []
    for entry in networks:
        if names and entry.name not in names:
            continue
        checks.append(zoo.check(entry))
        cache: dict[tuple, tuple] = {}
        for cfg, events in plan(entry):
            key = (cfg.batch, cfg.precision)
            if key not in cache:
                cache[key] = (measure.measure_saved(entry, cfg.batch, cfg.precision),
                              measure.measure_inference(entry, cfg.batch, cfg.precision))
            saved, inference = cache[key]
            t1 = time.perf_counter()
            r = measure.measure(cfg, saved=saved, inference=inference, events=events)
            results.append(r)
            st = r["step"]
            log(f"{entry.name:10s} b={cfg.batch} {cfg.label:24s} saved {saved['total']['dedup']:>12,d}"
                f"  peak {st['step_peak']:>12,d} ({st['peak_phase']} {st['peak_node']})"
                f"  timeline-allocator {st.get('timeline_peak_minus_allocator_peak')}"
                f"  retained-saved {st['forward_retained_minus_saved']}"
                f"  rules {saved['rules']['difference']:+d}"
                f"  [{time.perf_counter() - t1:.1f} s]")
    if not names and networks is zoo.ZOO:
        from symcnn.layers import LAYER_TYPES

        missing = set(LAYER_TYPES) - zoo.covered_types()
        assert not missing, f"layer types not in the zoo: {sorted(missing)}"
    elapsed = time.perf_counter() - t0
    return {"environment": env, "elapsed_s": round(elapsed, 1), "zoo": checks,
            "method": {
                "saved": "saved_tensors_hooks pack hook; storages deduplicated by data_ptr; "
                         "parameters and buffers excluded",
                "peak": "c10 CPU allocator counter (profiler [memory] events, total_allocated) "
                        "+ bytes alive before the step; categories from the profiler memory "
                        "timeline (with_stack=True)",
                "loss": "torch.nn.functional.mse_loss(output, randn target), mean reduction",
                "step": "warm-up step, then forward, loss, backward, del loss, optimizer.step, "
                        "zero_grad(set_to_none=True)",
                "inference": "model.eval(), torch.no_grad(), fresh model, no optimizer"},
            "results": results}


def dump(data: dict) -> str:
    """The JSON file: each network's saved-tensor record once (``saved``, keyed
    ``network/bB/precision``), one configuration per line in ``results`` (``saved_key`` points to
    its record)."""
    saved, rows = {}, []
    for r in data["results"]:
        key = f"{r['network']}/b{r['batch']}/{r['config']['precision']}"
        saved[key] = r["saved"]
        rows.append({**{k: v for k, v in r.items() if k != "saved"}, "saved_key": key,
                     "saved_dedup": r["saved"]["total"]["dedup"]})
    head = {k: v for k, v in data.items() if k != "results"}
    out = ["{"]
    for k, v in head.items():
        out.append(f"{json.dumps(k)}: {json.dumps(v)},")
    out.append('"results": [')
    out.append(",\n".join(json.dumps(r, separators=(",", ":")) for r in rows))
    out.append('],\n"saved": {')
    out.append(",\n".join(f"{json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}"
                          for k, v in saved.items()))
    out.append("}}")
    return "\n".join(out) + "\n"


def load(path) -> dict:
    """Read ``cpu_zoo.json`` back, with every result's ``saved`` record attached again."""
    data = json.loads(Path(path).read_text())
    for r in data["results"]:
        r["saved"] = data["saved"][r["saved_key"]]
    return data


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="+", metavar="NETWORK",
                    choices=[e.name for e in zoo.ZOO + zoo.HEAVY + HELDOUT + FITTING],
                    help="measure only these networks")
    ap.add_argument("--heavy", action="store_true",
                    help="measure zoo.HEAVY (the lecture network at full size: about a minute "
                         "and 5 GB per configuration) instead of the zoo; writes cpu_heavy.*")
    ap.add_argument("--heldout", action="store_true",
                    help="measure the held-out set (validation/heldout) instead of the zoo; "
                         "writes cpu_<capability>_heldout.*")
    ap.add_argument("--fitting", action="store_true",
                    help="measure the kernel fitting set (validation/fitting) with the held-out "
                         "plan; writes cpu_<capability>_fitting.*")
    ap.add_argument("--out", default=str(HERE / "results"), help="folder for cpu_zoo.json/.md")
    args = ap.parse_args(argv)
    which = ("heldout" if args.heldout else "fitting" if args.fitting
             else "heavy" if args.heavy else "zoo")
    networks = {"heldout": HELDOUT, "fitting": FITTING, "heavy": zoo.HEAVY, "zoo": zoo.ZOO}[which]
    data = run(args.only, networks=networks,
               plan=heldout_plan if which in ("heldout", "fitting") else plan)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = results_stem(which, data["environment"]["cpu_capability"])
    (out / f"{stem}.json").write_text(dump(data))
    (out / f"{stem}.md").write_text(measure.markdown(data["results"], data["environment"],
                                                    data["elapsed_s"]))
    print(f"{len(data['results'])} configurations in {data['elapsed_s']} s -> "
          f"{out / (stem + '.json')}, {out / (stem + '.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

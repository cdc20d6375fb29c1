"""The eval-mode forward's predicted peak against the measured one, for every run of results files
that carry an ``inference`` measurement, with the rules of the file's CPU (``environment``):

    PYTHONPATH=$PWD python -m validation.inference_errors validation/results/cpu_avx2_zoo.json ...

prints the runs off by more than 0.5 % (all of them with ``--all``), with the node of the
predicted and of the measured peak, and per file how many are within 0.5 %.
"""

from __future__ import annotations

import argparse
import json

import symcnn
from symcnn.memory.pytorch.inference import inference_moments
from validation import zoo


def errors(data: dict):
    """``(run, predicted, measured, node of the predicted peak)`` for each run of ``data``."""
    env = data["environment"]
    for run in data["results"]:
        cfg, b = run["config"], run["config"]["batch"]
        if "inference" not in run:
            continue
        a = symcnn.analyze(symcnn.parse_spec(zoo.get(cfg["network"]).spec_text).network)
        moments = inference_moments(a, device="cpu", batch=b, precision=cfg["precision"],
                                    cpu=env["cpu_capability"], threads=env["threads"])
        top = max(moments, key=lambda m: int(m.at(b)))
        yield run, int(top.at(b)), run["inference"]["peak"], top.node


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--all", action="store_true", help="print every run")
    args = parser.parse_args(argv)
    for path in args.files:
        data = json.load(open(path))
        print("##", path, data["environment"]["cpu_capability"])
        n = good = 0
        for run, p, m, node in errors(data):
            e, n = (p - m) / m, n + 1
            good += abs(e) <= 0.005
            if args.all or abs(e) > 0.005:
                print(f"{run['config']['network']:22s} {run['label']:16s} "
                      f"b={run['config']['batch']} {e * 100:+7.2f}% {p - m:+10d} B  pred@{node}"
                      f"  meas@{run['inference'].get('peak_at')}")
        print(f"{good}/{n} within 0.5%")


if __name__ == "__main__":
    main()

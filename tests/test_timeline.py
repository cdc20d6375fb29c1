"""The training-step timeline against the CPU measurements committed in validation/.

The measurements (``validation/results/cpu_zoo.json``) were taken with torch 2.13.0 on the
CPU allocator's own byte counter; the timeline does not model convolution workspaces yet,
so it must be a lower bound everywhere and exact where there are none (the MLP).
"""

import json
import sys
from pathlib import Path

import pytest

import symcnn
from symcnn.timeline import peak, training_moments

VALIDATION = Path(__file__).parent.parent / "validation"
sys.path.insert(0, str(VALIDATION))
import zoo  # noqa: E402

RUNS = [r for r in json.loads((VALIDATION / "results" / "cpu_zoo.json").read_text())["results"]
        if r["config"]["precision"] == "fp32"]
SPECS = {name: text for name, text, _, _ in zoo.entries()}


def predicted(run):
    cfg = run["config"]
    a = symcnn.analyze(symcnn.parse_spec(SPECS[cfg["network"]]).network)
    moments = training_moments(a, optimizer=cfg["optimizer"], foreach=bool(cfg["foreach"]),
                               device="cpu")
    return int(peak(moments, cfg["batch"]))


@pytest.mark.parametrize("run", RUNS, ids=[f"{r['config']['network']}-{r['label']}-b"
                                           f"{r['config']['batch']}" for r in RUNS])
def test_peak_is_a_lower_bound(run):
    assert predicted(run) <= run["step"]["step_peak"]


@pytest.mark.parametrize("run", [r for r in RUNS if r["config"]["network"] == "mlp"],
                         ids=lambda r: f"{r['label']}-b{r['config']['batch']}")
def test_peak_exact_without_convolutions(run):
    # the optimizer's 4-byte step counters and scalar temporaries are below the model's grain
    assert abs(predicted(run) - run["step"]["step_peak"]) <= 64

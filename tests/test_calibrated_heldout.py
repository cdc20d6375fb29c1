"""The held-out set with calibration profiles (``validation/judge_calibrated.py``): the profiles
that ``symcnn calibrate`` made on the AVX2 machine, read back through the profile parser, put
every measured training-step peak and eval-mode inference peak of
``results/cpu_avx2_heldout.json`` within 0.5 % (issue 13, item 4).  Recounted here from the committed files: no torch needed."""

import json
from pathlib import Path

import pytest

import symcnn
from symcnn.memory.pytorch.inference import inference_moments
from symcnn.memory.pytorch.timeline import peak, training_moments
from symcnn.spec.profile import parse_profile, profile_text
from validation.heldout import HELDOUT

RESULTS = Path(__file__).resolve().parent.parent / "validation" / "results"
CALIBRATED = json.loads((RESULTS / "cpu_avx2_heldout_calibrated.json").read_text())
MEASURED = json.loads((RESULTS / "cpu_avx2_heldout.json").read_text())
SPECS = {e.name: e.spec_text for e in HELDOUT}
ENTRIES = {e.name: e for e in HELDOUT}
ATTENTION = ("vit_small", "vit_wide", "mixer")


@pytest.mark.parametrize("name", ATTENTION)
def test_calibrate_builds_every_node_of_the_attention_networks(name):
    """Each one-input node of the imported attention networks (Permute, Parameter,
    MultiheadAttention, Select, Narrow, Mean, LayerNorm, ...) built alone as a torch module
    gives symcnn's output shape, and the modules' parameters add up to the PyTorch model's."""
    torch = pytest.importorskip("torch")
    from symcnn.memory.calibrate.modules import torch_module

    analysis = symcnn.analyze(symcnn.parse_spec(SPECS[name]).network)
    total = 0
    for row in analysis.rows:
        if row.layer.arity != 1:
            continue
        shape = tuple(int(v) for v in row.input_shapes[0])
        module = torch_module(row.layer, shape, torch)
        with torch.no_grad():
            out = module(torch.randn(2, *shape))
        assert tuple(out.shape) == (2, *(int(v) for v in row.output_shape)), row.name
        total += sum(p.numel() for p in module.parameters())
    model = ENTRIES[name].builder()
    assert total == sum(p.numel() for p in model.parameters())


CALIBRATED_RUNS = MEASURED["results"]


def runs():
    for run in CALIBRATED_RUNS:
        cfg = run["config"]
        yield pytest.param(run, id=f"{cfg['network']}-{cfg['precision']}-{cfg['optimizer']}"
                                   f"-b{cfg['batch']}")


def test_every_held_out_run_was_calibrated_on_the_measuring_machine():
    assert CALIBRATED["environment"] == MEASURED["environment"]
    assert len(CALIBRATED["rows"]) == len(CALIBRATED_RUNS) == 68
    for doc in CALIBRATED["profiles"].values():
        assert doc["cpu"] == MEASURED["environment"]["cpu_capability"]
        assert doc["threads"] == MEASURED["environment"]["threads"]
        assert doc["torch"] == MEASURED["environment"]["torch"]


def calibrated(run):
    """The committed profile of ``run``'s network and precision, and the network's analysis."""
    cfg = run["config"]
    doc = dict(CALIBRATED["profiles"][f"{cfg['network']}/{cfg['precision']}"])
    doc.pop("calibration_s", None)
    profile = parse_profile(profile_text(doc), "profile")
    return profile, symcnn.analyze(symcnn.parse_spec(SPECS[cfg["network"]]).network)


@pytest.mark.parametrize("run", list(runs()))
def test_held_out_run_within_half_a_percent(run):
    cfg = run["config"]
    profile, analysis = calibrated(run)
    moments = training_moments(analysis, optimizer=cfg["optimizer"],
                               foreach=bool(cfg["foreach"]), device="cpu", batch=cfg["batch"],
                               precision=cfg["precision"], threads=profile.threads,
                               cpu=profile.cpu, profile=profile)
    predicted = int(peak(moments, cfg["batch"]))
    measured = run["step"]["step_peak"]
    assert abs(predicted - measured) <= 0.005 * measured


@pytest.mark.parametrize("run", list(runs()))
def test_held_out_inference_within_half_a_percent(run):
    """The eval-mode forward pass (``model.eval()``, ``no_grad``) with the same profile."""
    cfg = run["config"]
    profile, analysis = calibrated(run)
    moments = inference_moments(analysis, device="cpu", batch=cfg["batch"],
                                precision=cfg["precision"], threads=profile.threads,
                                cpu=profile.cpu, profile=profile)
    measured = run["inference"]["peak"]
    assert abs(int(peak(moments, cfg["batch"])) - measured) <= 0.005 * measured

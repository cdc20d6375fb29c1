"""``symcnn calibrate`` and ``--profile``: a profile made on this machine against a direct
measurement of the whole network (``validation/measure.py``'s method), the profile file's
schema against hostile files, and the command line."""

import dataclasses
import gc
import json
import subprocess
import sys
from collections import OrderedDict

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import symcnn  # noqa: E402
from symcnn.cli import main  # noqa: E402
from symcnn.errors import SymcnnError  # noqa: E402
from symcnn.memory.calibrate import calibrate, configurations, fit  # noqa: E402
from symcnn.options import MemoryOptions, machine_cpu  # noqa: E402
from symcnn.render.documents import render  # noqa: E402
from symcnn.spec.profile import Profile, parse_profile, profile_text, read_profile  # noqa: E402
from validation import measure  # noqa: E402

SPEC = """
name = "calib"
input = {shape = [3, 16, 16]}
layers = [
  {type = "Conv2d", name = "conv1", out_channels = 8, kernel_size = 3, padding = 1},
  {type = "BatchNorm2d", name = "bn"},
  {type = "ReLU", name = "relu1", inplace = true},
  {type = "Conv2d", name = "dil", out_channels = 16, kernel_size = 3, padding = 2, dilation = 2},
  {type = "ReLU", name = "relu2"},
  {type = "Conv2d", name = "g1", out_channels = 16, kernel_size = 3, padding = 1, groups = 4},
  {type = "Conv2d", name = "g2", out_channels = 16, kernel_size = 3, padding = 1, groups = 4},
  {type = "MaxPool2d", name = "pool", kernel_size = 2},
  {type = "Flatten", name = "flatten"},
  {type = "Linear", name = "fc", out_features = 10},
]
"""


def torch_model():
    """The spec's network, written by hand (not built from the spec)."""
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(3, 8, 3, padding=1), bn=nn.BatchNorm2d(8), relu1=nn.ReLU(inplace=True),
        dil=nn.Conv2d(8, 16, 3, padding=2, dilation=2), relu2=nn.ReLU(),
        g1=nn.Conv2d(16, 16, 3, padding=1, groups=4), g2=nn.Conv2d(16, 16, 3, padding=1, groups=4),
        pool=nn.MaxPool2d(2), flatten=nn.Flatten(), fc=nn.Linear(16 * 8 * 8, 10)))


def measured_peak(batch: int, optimizer: str, precision: str) -> int:
    """The training-step peak as ``validation/measure.py`` takes it: a warm-up step, then one
    step under the profiler, live bytes from the CPU allocator's counter."""
    return step_peak(torch_model(), torch.randn(batch, 3, 16, 16), torch.randn(batch, 10),
                     optimizer, precision)


def step_peak(model, x, y, optimizer: str, precision: str) -> int:
    """The training-step peak of ``model`` on ``x`` against ``y`` (see :func:`measured_peak`)."""
    opt = measure.make_optimizer(optimizer, model.parameters())
    measure.training_step(model, opt, x, y, precision)
    gc.collect()
    steady = measure.unique_bytes(list(model.parameters()) + list(model.buffers())
                                  + measure.optimizer_state_tensors(opt) + [x, y])
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                profile_memory=True) as prof:
        measure.training_step(model, opt, x, y, precision, marks=True)
    return measure.allocator_trace(prof, steady)["peak"]


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("calib") / "calib.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def fp32_profile(spec_path):
    """The profile ``symcnn calibrate`` writes for the spec (fp32, batch sizes 2 and 4)."""
    out = spec_path.parent / "fp32.json"
    assert main(["calibrate", str(spec_path), "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def bf16_profile():
    analysis = symcnn.analyze(symcnn.parse_spec(SPEC).network)
    return parse_profile(profile_text(calibrate(analysis, precision="bf16")), "bf16.json")


def options(profile, precision="fp32", optimizer="sgd"):
    return MemoryOptions("pytorch", device="cpu", cpu=machine_cpu()[0], precision=precision,
                         optimizer=optimizer, threads=torch.get_num_threads(), profile=profile)


def test_configurations_are_distinct_and_shared_by_equal_layers():
    analysis = symcnn.analyze(symcnn.parse_spec(SPEC).network)
    configs, merges = configurations(analysis)
    assert [c.nodes for c in configs][5] == ("g1", "g2")   # equal layer, shape, input: one
    assert len(configs) == 9 and merges == []
    assert configs[0].first and not configs[1].first


@pytest.mark.parametrize("batch, optimizer", [(3, "sgd"), (2, "adam"), (5, "momentum"),
                                              (1, "sgd")])   # b = 1: im2col, measured apart
def test_profile_gives_the_measured_peak_fp32(fp32_profile, batch, optimizer):
    report = symcnn.make_report(symcnn.parse_spec(SPEC), options(str(fp32_profile),
                                                                 optimizer=optimizer),
                                batch_size=batch)
    measured = measured_peak(batch, optimizer, "fp32")
    assert abs(int(report.training_bytes) - measured) <= 0.005 * measured


@pytest.mark.parametrize("batch, optimizer", [(2, "sgd"), (3, "adam"), (1, "sgd")])
def test_profile_gives_the_measured_peak_bf16(bf16_profile, batch, optimizer):
    report = symcnn.make_report(symcnn.parse_spec(SPEC),
                                options(bf16_profile, "bf16", optimizer), batch_size=batch)
    measured = measured_peak(batch, optimizer, "bf16")
    assert abs(int(report.training_bytes) - measured) <= 0.005 * measured


def measured_inference(batch: int, precision: str) -> int:
    """The eval-mode no_grad forward pass's peak, as ``validation/measure.py`` takes it."""
    model = torch_model().eval()
    x = torch.randn(batch, 3, 16, 16)
    steady = measure.unique_bytes(list(model.parameters()) + list(model.buffers()) + [x])
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                profile_memory=True) as prof:
        with torch.no_grad(), measure.autocast_ctx(precision):
            out = model(x)
        del out
    return measure.allocator_trace(prof, steady)["peak"]


def test_profile_gives_the_measured_inference_peak(fp32_profile, bf16_profile):
    for profile, precision in ((str(fp32_profile), "fp32"), (bf16_profile, "bf16")):
        report = symcnn.make_report(symcnn.parse_spec(SPEC), options(profile, precision),
                                    batch_size=3)
        measured = measured_inference(3, precision)
        assert abs(int(report.inference_bytes) - measured) <= 0.005 * measured


def test_documents_say_which_profile(fp32_profile, tmp_path):
    report = symcnn.make_report(symcnn.parse_spec(SPEC), options(str(fp32_profile)))
    [path] = [p for p in render(report, "markdown", tmp_path) if p.suffix == ".md"]
    assert ("Kernel workspace as measured by `symcnn calibrate` for 10 of 10 nodes (profile "
            "fp32.json: cpu ") in path.read_text()


def test_profile_matches_equal_configurations_in_another_spec(fp32_profile):
    other = SPEC.replace('name = "calib"', 'name = "other"').replace(
        'out_features = 10', 'out_features = 7')            # the last layer differs
    report = symcnn.make_report(symcnn.parse_spec(other), options(str(fp32_profile)))
    covered, rest = report.memory.simulation.profiled_nodes
    assert rest == ("fc",) and len(covered) == 9


def test_report_says_which_profile(fp32_profile, capsys):
    assert main(["report", str(fp32_profile.parent / "calib.toml"), "--profile",
                 str(fp32_profile), "-b", "3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)["memory"]
    assert doc["convention"] == "pytorch" and doc["device"] == "cpu"
    assert doc["profile"]["file"] == str(fp32_profile)
    assert doc["profile"]["rules_for"] == [] and len(doc["profile"]["nodes"]) == 10
    assert doc["training_bytes"] == pytest.approx(measured_peak(3, "sgd", "fp32"), rel=0.005)
    assert main(["report", str(fp32_profile.parent / "calib.toml"), "--profile",
                 str(fp32_profile)]) == 0
    assert f"profile {fp32_profile} (cpu " in capsys.readouterr().out


@pytest.mark.parametrize("flags, message", [
    (["--precision", "bf16"], "--precision: {p} was measured with precision fp32, not bf16"),
    (["--device", "cuda"], "--device: {p} was measured with device cpu, not cuda"),
    (["--threads", "97"], "--threads: {p} was measured on {t} threads, not 97"),
    (["--convention", "lecture"], "--profile: the lecture convention has no kernel workspace"),
])
def test_profile_made_elsewhere_is_refused(fp32_profile, capsys, flags, message):
    assert main(["report", "--profile", str(fp32_profile), *flags]) == 2
    err = capsys.readouterr().err
    text = message.format(p=fp32_profile, t=torch.get_num_threads())
    assert err.startswith(f"symcnn: error: {text}") and err.count("\n") == 1


def test_profile_of_another_cpu_is_refused(fp32_profile):
    other = "AVX512" if machine_cpu()[0] == "AVX2" else "AVX2"
    with pytest.raises(SymcnnError, match=f"measured with cpu {machine_cpu()[0]}, not {other}"):
        MemoryOptions("pytorch", device="cpu", cpu=other, profile=str(fp32_profile))


def test_profile_file_round_trip(fp32_profile):
    text = fp32_profile.read_text()
    profile = read_profile(fp32_profile)
    assert all(len(w) == 6 and w[0] is not None and w[3] is not None
               for _, w in profile.entries)   # forward (and at batch 1), backward, inference
    assert profile.device == "cpu" and profile.batch_sizes == (2, 4)
    assert profile.threads == torch.get_num_threads() and len(profile.entries) == 9
    assert json.loads(text)["torch"] == torch.__version__
    assert text.count("\n") == len(profile.entries) + 14      # a line per configuration


def test_fit_reaches_both_points():
    for points in ([100, 180], [100, 181], [5, -3], [0, 0]):
        fixed, per = fit((2, 5), points)
        assert fixed + per * 2 >= points[0] and fixed + per * 5 >= points[1]
        assert min(fixed + per * 2 - points[0], fixed + per * 5 - points[1]) == 0


# ---------------------------------------------------------------- the profile file's schema

GOOD = {"symcnn_profile": 1, "device": "cpu", "precision": "fp32", "cpu": "AVX2", "threads": 2,
        "torch": "2.13.0", "batch_sizes": [2, 4], "layers": [
            {"type": "ReLU", "fields": {"inplace": False}, "input_shapes": [[8]],
             "input_bytes": 4, "first": False, "forward": [0, 0], "backward": [0, 32]}]}


def changed(path, value):
    doc = json.loads(json.dumps(GOOD))
    *where, last = path
    target = doc
    for key in where:
        target = target[key]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return json.dumps(doc)


@pytest.mark.parametrize("text, message", [
    (changed(["threads"], "two"), "field 'threads': expected a whole number or null, got 'two'"),
    (changed(["device"], KeyError), "field 'device': missing"),
    (changed(["layers"], {"a": 1}), "field 'layers': expected a list"),
    (changed(["layers", 0, "backward"], [0, 10**30]), "layers[1] (ReLU): field 'backward': must "
     "be between"),
    (changed(["layers", 0, "forward"], [0.5, 1]), "field 'forward': expected a whole number"),
    (changed(["layers", 0, "forward"], [1]), "field 'forward': expected [fixed, per_sample]"),
    (changed(["layers", 0, "input_shapes"], [[0]]), "field 'input_shapes': must be between 1"),
    (changed(["layers", 0, "input_shapes"], [[2**60]]), "field 'input_shapes': must be between"),
    (changed(["layers", 0, "first"], 1), "layers[1]: field 'first': expected true or false"),
    (changed(["layers", 0, "type"], "Evil"), "field 'type': unknown layer type 'Evil'"),
    (changed(["layers", 0, "type"], ["ReLU"]), "field 'type': expected a string"),
    (changed(["layers", 0], "ReLU"), "layers[1]: expected a table, got 'ReLU'"),
    (changed(["layers", 0, "extra"], 1), "field 'extra': not a field of a layer configuration"),
    (changed(["layers", 0, "measured"], {"forward": [1, -1]}), "field 'measured': must be"),
    (changed(["layers", 0, "batch_1"], {"forward": "x"}), "field 'batch_1': expected a whole"),
    (changed(["layers", 0, "batch_1"], {"sideways": 1}), "field 'batch_1': expected forward,"),
    (changed(["symcnn_profile"], 2), "field 'symcnn_profile': format 2 is not one"),
    (changed(["precision"], "fp8"), "field 'precision': expected one of fp32, bf16, fp16"),
    (changed(["batch_sizes"], [2]), "field 'batch_sizes': expected two batch sizes"),
    (changed(["batch_sizes"], [True, 2]), "field 'batch_sizes': expected a whole number"),
    (changed(["machine"], {"x": "y" * 500}), "field 'machine': expected at most 32 names"),
    (changed(["surprise"], 1), "field 'surprise': not a field of a profile"),
    (json.dumps(GOOD).replace('"threads": 2', '"threads": NaN'), "not a profile: NaN is not"),
    (json.dumps(GOOD).replace('"threads": 2', '"threads": 2, "threads": 3'),
     "not a profile: the key 'threads' appears twice"),
    ("[" * 100_000 + "]" * 100_000, "not a profile: nested too deeply"),
    ("{\"a\": ", "not a profile: Expecting value"),
    ("[1, 2]", "not a profile: expected a JSON object, got [1, 2]"),
    ("1" * 5000, "not a profile"),
])
def test_hostile_profile_is_a_one_line_error(text, message):
    with pytest.raises(SymcnnError) as info:
        parse_profile(text, "p.json")
    line = str(info.value)
    assert line.startswith("p.json: ") and message in line and "\n" not in line


def test_profile_file_not_readable_or_too_large(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (16 * 2**20 + 1))
    with pytest.raises(SymcnnError, match="a profile of more than 16,777,216 bytes"):
        read_profile(big)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SymcnnError, match="bin.json: not UTF-8 text"):
        read_profile(binary)
    with pytest.raises(SymcnnError, match="cannot read the profile"):
        read_profile(tmp_path)


def test_hostile_profile_on_the_command_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(changed(["layers", 0, "backward"], [0, "lots"]))
    assert main(["report", "--profile", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == (f"symcnn: error: {bad}: layers[1] (ReLU): field 'backward': expected a "
                   "whole number, got 'lots'\n")


# ---------------------------------------------------------------- the command line


def test_calibrate_needs_every_symbol(tmp_path, capsys):
    spec = tmp_path / "sym.toml"
    spec.write_text(SPEC.replace("shape = [3, 16, 16]", 'shape = [3, "H", "H"]'))
    assert main(["calibrate", str(spec), "-o", str(tmp_path / "p.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"symcnn: error: {spec}: --set: node 'conv1': its input shape")
    assert err.count("\n") == 1 and not (tmp_path / "p.json").exists()


@pytest.mark.parametrize("sizes, message", [("2", "expected two batch sizes"),
                                            ("4,2", "expected two batch sizes"),
                                            ("a,b", "expected two whole numbers")])
def test_calibrate_batch_sizes(spec_path, tmp_path, capsys, sizes, message):
    assert main(["calibrate", str(spec_path), "-o", str(tmp_path / "p.json"),
                 "--batch-sizes", sizes]) == 2
    err = capsys.readouterr().err
    assert "--batch-sizes: " + message in err and err.count("\n") == 1


def test_calibrate_needs_an_output(spec_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["calibrate", str(spec_path)])
    assert info.value.code == 2 and "--out/-o" in capsys.readouterr().err


def test_calibrate_without_torch(spec_path, tmp_path):
    code = ("import sys; sys.modules['torch'] = None; from symcnn.cli import main; "
            f"sys.exit(main(['calibrate', {str(spec_path)!r}, '-o', 'p.json']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 2 and not (tmp_path / "p.json").exists()
    assert done.stderr == (f"symcnn: error: {spec_path}: calibrate measures in PyTorch, which "
                           'is not installed: pip install "symcnn[torch]"\n')


def test_progress_bar_only_when_asked(spec_path, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("symcnn.memory.calibrate._calibrate_one", lambda *a: None)
    assert main(["calibrate", str(spec_path), "-o", str(tmp_path / "p.json")]) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.startswith(f"wrote {tmp_path / 'p.json'}: 0 layer configurations")
    assert main(["calibrate", str(spec_path), "-o", str(tmp_path / "p.json"), "--progress"]) == 0
    err = capsys.readouterr().err
    assert err.count("\rcalibrating [") == 10 and "9/9" in err and err.endswith("\n")


def test_a_measured_layer_is_no_allowance():
    """A layer the rules only bound from above (grouped and dilated) is measured once a profile
    holds it: the report no longer lists it as an allowance."""
    spec = symcnn.parse_spec(SPEC.replace("dilation = 2}", "dilation = 2, groups = 2}"))
    plain = MemoryOptions("pytorch", device="cpu", cpu="AVX2", threads=2)
    assert [n for n, _ in symcnn.make_report(spec, plain).memory.simulation.upper_bound] == ["dil"]
    analysis = symcnn.analyze(spec.network)
    [dil] = [c for c in configurations(analysis)[0] if c.nodes == ("dil",)]
    measured = ((dil.key, ((0, 0),) * 3 + (None,) * 3),)
    profile = Profile("cpu", "fp32", "AVX2", 2, torch.__version__, (2, 4), measured, "p.json")
    sim = symcnn.make_report(spec, dataclasses.replace(plain, profile=profile)).memory.simulation
    assert sim.upper_bound == () and sim.profiled_nodes[0] == ("dil",)


TOKENS = """
name = "tokens"
input = {shape = [8, 12]}
layers = [
  {type = "Linear", name = "fc1", out_features = 16},
  {type = "LayerNorm", name = "ln", normalized_shape = [8, 16]},
  {type = "MultiheadAttention", embed_dim = 16, num_heads = 2, batch_first = true, need_weights = false},
  {type = "Permute", name = "perm", dims = [0, 2, 1]},
  {type = "Contiguous", name = "cont"},
  {type = "Unflatten", name = "unf", dim = 1, unflattened_size = [4, 4]},
  {type = "Mean", name = "mean", dim = [2]},
  {type = "Narrow", name = "nar", dim = 1, start = 1, length = 2},
  {type = "Select", name = "sel", dim = 1, index = 0},
  {type = "Parameter", name = "scale", shape = [8]},
  {type = "Mul", name = "mul", inputs = ["sel", "scale"]},
  {type = "Linear", name = "head", out_features = 4},
]
"""


class TokensModel(nn.Module):
    """The TOKENS spec's network, written by hand (not built from the spec)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.ln = nn.Linear(12, 16), nn.LayerNorm([8, 16])
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.scale, self.head = nn.Parameter(torch.randn(8)), nn.Linear(8, 4)

    def forward(self, x):
        x = self.ln(self.fc1(x))
        x = self.attn(x, x, x, need_weights=False)[0]
        x = x.permute(0, 2, 1).contiguous().unflatten(1, (4, 4)).mean([2])
        return self.head(x.narrow(1, 1, 2).select(1, 0) * self.scale)


@pytest.mark.parametrize("precision, batch, optimizer", [("fp32", 3, "sgd"), ("fp32", 2, "adam"),
                                                         ("bf16", 3, "sgd")])
def test_profile_of_tensor_operations_gives_the_measured_peak(precision, batch, optimizer):
    """Every tensor operation of an attention network built alone (calibrate's modules) and
    profiled: the profile's prediction of the whole network is its measured peak."""
    analysis = symcnn.analyze(symcnn.parse_spec(TOKENS).network)
    profile = parse_profile(profile_text(calibrate(analysis, precision=precision)), "t.json")
    report = symcnn.make_report(symcnn.parse_spec(TOKENS),
                                options(profile, precision, optimizer), batch_size=batch)
    model = TokensModel()
    assert int(report.total_params) == sum(p.numel() for p in model.parameters())
    measured = step_peak(model, torch.randn(batch, 8, 12), torch.randn(batch, 4), optimizer,
                         precision)
    assert abs(int(report.training_bytes) - measured) <= 0.005 * measured

"""Memory presets against the tools they are named after, run on the same networks."""

import contextlib
import io
import re

import pytest

import symcnn
from symcnn import analyze, estimate_memory, make_report
from symcnn.memory.estimate import CONVENTIONS
from symcnn.options import MemoryOptions


def lecture_torch(nn, c=30):
    layers = []
    channels = [1, c, c, 2 * c, 2 * c, 4 * c, 4 * c, 8 * c, 8 * c]
    for i in range(8):
        layers.append(nn.Conv3d(channels[i], channels[i + 1], 3, stride=1 + i % 2))
    return layers


def test_lecture_preset_is_the_seed():
    m = estimate_memory(analyze(symcnn.example_spec().network), MemoryOptions("lecture"))
    assert m.training(1) == 2_937_313_940


def test_every_preset_has_a_summary():
    assert set(CONVENTIONS) == {"lecture", "torchinfo", "torchsummary", "cs231n", "pytorch"}
    for c in CONVENTIONS.values():
        assert c.summary


def test_cs231n_by_hand():
    m = estimate_memory(analyze(symcnn.example_spec().network), MemoryOptions("cs231n"))
    acts = [193 * 229 * 193, 30 * 191 * 227 * 191, 30 * 95 * 113 * 95, 60 * 93 * 111 * 93,
            60 * 46 * 55 * 46, 120 * 44 * 53 * 44, 120 * 21 * 26 * 21, 240 * 19 * 24 * 19,
            240 * 9 * 11 * 9, 1]
    assert m.per_sample == 4 * 2 * sum(acts)
    assert m.fixed == 3 * 3_301_651 * 4


def test_presets_refuse_options_they_do_not_model():
    with pytest.raises(symcnn.SymcnnError, match="counts no optimizer state"):
        make_report(symcnn.example_spec(), MemoryOptions("torchinfo", optimizer="adam"))


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def test_torchinfo_printed_totals_on_the_lecture_network(torch):
    torchinfo = pytest.importorskip("torchinfo")
    nn = torch.nn
    model = nn.Sequential(*lecture_torch(nn), nn.Flatten(), nn.Linear(213840, 1))
    stats = str(torchinfo.summary(model, input_size=(1, 1, 193, 229, 193), device="meta",
                                  verbose=0))
    printed = re.search(r"Estimated Total Size \(MB\): ([\d.,]+)", stats).group(1)
    assert printed == "2924.11"
    r = make_report(symcnn.example_spec(), MemoryOptions("torchinfo"))
    assert f"{int(r.training_bytes) / 1e6:.2f}" == printed
    for label, figure in [("Input size", r.memory.activations[0].bytes),
                          ("Params size", r.memory.params.bytes)]:
        shown = re.search(label + r" \(MB\): ([\d.]+)", stats).group(1)
        assert f"{int(figure) / 1e6:.2f}" == shown


def torchsummary_total(model, shape):
    from torchsummary import summary
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        summary(model, shape, device="cpu")
    return re.search(r"Estimated Total Size \(MB\): ([\d.]+)", out.getvalue()).group(1)


def test_torchsummary_printed_total(torch):
    pytest.importorskip("torchsummary")
    nn = torch.nn
    # the lecture's network on a smaller volume (torchsummary runs a real forward, batch 2)
    model = nn.Sequential(*lecture_torch(nn), nn.Flatten(), nn.Linear(240 * 2 * 3 * 2, 1))
    printed = torchsummary_total(model, (1, 77, 93, 77))
    spec = symcnn.example_spec("lecture_symbolic", overrides=symcnn.spec.parse.parse_assignments(
        ["C=30", "D=77", "H=93", "W=77"]))
    r = make_report(spec, MemoryOptions("torchsummary"))
    assert f"{int(r.training_bytes) / 2**20:.2f}" == printed


def test_torchsummary_counts_block_containers(torch):
    pytest.importorskip("torchsummary")
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(8, 8, 3, padding=1)
            self.relu = nn.ReLU(inplace=True)

        def forward(self, x):
            return self.relu(self.conv(x) + x)

    model = nn.Sequential(nn.Conv2d(3, 8, 1), Block(), Block(), nn.Flatten())
    printed = torchsummary_total(model, (3, 16, 16))
    spec = symcnn.parse_spec("""
name = "blocks"
[input]
shape = [3, 16, 16]
[blocks.b]
[[blocks.b.layers]]
type = "Conv2d"
name = "conv"
out_channels = 8
kernel_size = 3
padding = 1
[[blocks.b.layers]]
type = "Add"
inputs = ["conv", "in"]
[[blocks.b.layers]]
type = "ReLU"
inplace = true
[[layers]]
type = "Conv2d"
out_channels = 8
kernel_size = 1
[[layers]]
block = "b"
repeat = 2
[[layers]]
type = "Flatten"
""")
    r = make_report(spec, MemoryOptions("torchsummary"))
    assert f"{int(r.training_bytes) / 2**20:.2f}" == printed


def h100_run():
    import json
    from pathlib import Path
    path = Path(__file__).parent.parent / "validation" / "results" / \
        "gpu_lecture_h100_expandable_segments.json"
    return json.loads(path.read_text())


def test_pytorch_preset_against_the_h100_measurement():
    """The lecture's network trained on an H100 (validation/README.md): where memory is tight
    cuDNN runs without workspace, and the simulated step's peak is the measured one; the
    largest batch that trained is the one the preset solves for."""
    run = h100_run()
    r = make_report(symcnn.example_spec(), MemoryOptions("pytorch"),
                    memory=run["environment"]["mem_get_info_at_start"]["free"])
    assert r.limits[0][1].value == run["max_batch"]["largest_batch_without_oom"] == 39
    for t in run["max_batch"]["tries"]:
        if not t["ok"]:
            continue
        predicted = int(r.memory.training(t["batch"]))
        measured = t["max_memory_allocated"]
        assert predicted <= measured
        if t["batch"] >= 36:  # no cuDNN workspace this close to the limit
            assert abs(predicted - measured) / measured < 1e-5


def test_allocator_rounding_against_the_h100_measurement():
    """max_memory_allocated counts the caching allocator's 512-byte blocks: rounding every
    allocation brings the prediction from about 18.5 KB to about 11 KB below the measured peak
    where cuDNN takes no workspace (the rest: cuBLAS's and the loss's small buffers)."""
    run = h100_run()
    budget = run["environment"]["mem_get_info_at_start"]["free"]
    plain = make_report(symcnn.example_spec(), MemoryOptions("pytorch"), memory=budget)
    rounded = make_report(symcnn.example_spec(), MemoryOptions("pytorch", allocator_block=512),
                          memory=budget)
    assert rounded.limits[0][1].value == 39
    for t in run["max_batch"]["tries"]:
        if t["ok"] and t["batch"] >= 36:
            measured = t["max_memory_allocated"]
            gap = measured - int(rounded.memory.training(t["batch"]))
            assert 0 <= gap <= 12 * 1024
            assert gap < measured - int(plain.memory.training(t["batch"]))


def test_pytorch_preset_saved_terms_and_moments():
    r = make_report(symcnn.example_spec(), MemoryOptions("pytorch"))
    m = r.memory
    assert m.peak_moment(1).phase == "backward" and m.peak_moment(1).node == "L2"
    # the saved storages: the input and the outputs of L1..L8 (each read by the next layer)
    assert sum(int(t.bytes) for t in m.activations) == 4 * (
        193 * 229 * 193 + 30 * 191 * 227 * 191 + 30 * 95 * 113 * 95 + 60 * 93 * 111 * 93
        + 60 * 46 * 55 * 46 + 120 * 44 * 53 * 44 + 120 * 21 * 26 * 21 + 240 * 19 * 24 * 19
        + 240 * 9 * 11 * 9)

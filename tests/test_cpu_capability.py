"""The CPU capability whose kernel rules a CPU figure uses (``MemoryOptions.cpu``, ``--cpu``):
checked when made, resolved from the machine for ``auto``, recorded in the reports, and the
rules that differ between AVX-512 and AVX2 (oneDNN's channel block; bf16 convolutions and
matmuls outside oneDNN without AVX-512)."""

import json

import pytest

import symcnn
from symcnn.cli import main
from symcnn.errors import SymcnnError
from symcnn.memory.estimate import estimate_memory
from symcnn.memory.pytorch.workspace import transient
from symcnn.options import CpuCapability, MemoryOptions, machine_cpu

CONV = """
name = "c"
input = {shape = [20, 8, 8]}
layers = [
  {type = "Conv2d", name = "conv", out_channels = 20, kernel_size = 3, padding = 1},
  {type = "ReLU", name = "relu"},
  {type = "Linear", name = "fc", out_features = 64},
]
"""


def rows():
    return {r.name: r for r in symcnn.analyze(symcnn.parse_spec(CONV).network).rows}


def test_option_values():
    assert MemoryOptions("pytorch").cpu is CpuCapability.AVX512
    assert MemoryOptions("pytorch", cpu="avx2").cpu is CpuCapability.AVX2
    assert MemoryOptions("pytorch", cpu=CpuCapability.AVX2).cpu == "AVX2"
    with pytest.raises(SymcnnError, match="argument 'cpu'.*unknown cpu 'SSE'"):
        MemoryOptions("pytorch", cpu="sse")


def test_auto_is_this_machine():
    torch = pytest.importorskip("torch")
    found, note = machine_cpu()
    if torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"):
        assert found == torch.backends.cpu.get_cpu_capability() and note is None
    else:
        assert note and found in CpuCapability
    assert MemoryOptions("pytorch", cpu="auto").cpu is found


def test_channel_block_follows_the_cpu():
    """20 channels are 32 in oneDNN's 16-channel blocks (AVX-512), 24 in 8-channel blocks
    (AVX2): the forward's blocked weight ``Cp_out Cp_in 9 4`` and its bias padded to ``Cp``
    (``4 Cp + 128``), and per sample the blocked input and output less the plain output,
    ``(2 Cp - 20) 64 4``."""
    conv = rows()["conv"]
    for cpu, cp in (("AVX512", 32), ("AVX2", 24)):
        first = transient(conv, "forward", "cpu", batch=2, cpu=cpu)[0]
        assert first == (cp * cp * 9 * 4 + 4 * cp + 128, (2 * cp - 20) * 64 * 4)
    assert transient(conv, "forward", "cpu", batch=2, cpu="AVX2", channel_block=16) \
        == transient(conv, "forward", "cpu", batch=2)


def test_bf16_without_avx512_is_pytorchs_own_kernel():
    """Without AVX-512, bf16 autocast convolutions take the im2col path of fp16 (column buffer
    ``C_in 9 n(O) 2`` per sample) and a bf16 Linear packs no weights."""
    r = rows()
    col = 20 * 9 * 64 * 2
    for phase in ("forward", "backward"):
        assert transient(r["conv"], phase, "cpu", 2, batch=2, precision="bf16", cpu="AVX2") \
            == transient(r["conv"], phase, "cpu", 2, batch=2, precision="fp16")
    assert transient(r["conv"], "forward", "cpu", 2, batch=2, precision="bf16",
                     cpu="AVX2") == ((0, col),)
    assert transient(r["fc"], "forward", "cpu", 2, batch=2, precision="bf16", cpu="AVX2") == ()
    assert transient(r["fc"], "forward", "cpu", 2, batch=2, precision="bf16") != ()


def test_estimate_memory_takes_it():
    a = symcnn.analyze(symcnn.parse_spec(CONV).network)
    sims = {cpu: estimate_memory(a, MemoryOptions("pytorch", device="cpu", cpu=cpu),
                                 batch=2).simulation for cpu in ("AVX512", "AVX2")}
    assert sims["AVX2"].cpu is CpuCapability.AVX2 and sims["AVX512"].cpu is CpuCapability.AVX512
    assert sims["AVX2"].moments != sims["AVX512"].moments
    on_cuda = estimate_memory(a, MemoryOptions("pytorch", cpu="avx2"), batch=2).simulation
    assert on_cuda.cpu is None and on_cuda.moments == estimate_memory(
        a, MemoryOptions("pytorch"), batch=2).simulation.moments


def test_command_line(capsys, tmp_path):
    spec = tmp_path / "c.toml"
    spec.write_text(CONV)
    base = ["report", str(spec), "--convention", "pytorch", "--device", "cpu",
            "--batch-size", "2"]
    peaks = {}
    for flag in ("avx512", "AVX2"):
        assert main(base + ["--cpu", flag, "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)["memory"]
        assert doc["cpu"] == flag.upper()
        peaks[flag.upper()] = doc["training_bytes"]
    a = symcnn.analyze(symcnn.parse_spec(CONV).network)
    for cpu, figure in peaks.items():
        m = estimate_memory(a, MemoryOptions("pytorch", device="cpu", cpu=cpu), batch=2)
        assert figure == int(m.training(2))
    assert main(base + ["--cpu", "avx2"]) == 0
    assert "CPU kernel rules for AVX2" in capsys.readouterr().out
    assert main(base[:-4] + ["--json"]) == 0           # CUDA: no CPU recorded
    assert "cpu" not in json.loads(capsys.readouterr().out)["memory"]
    with pytest.raises(SystemExit):
        main(base + ["--cpu", "sse"])
    assert "--cpu" in capsys.readouterr().err

"""Activation checkpointing (``checkpoint_sequential(model, k, x, use_reentrant=False)``)
against measurements made here, on the CPU, with ``validation/checkpoint.py``: what the forward
pass leaves alive for the backward pass (exact) and the step's peak (the allocator's counter).
"""

from pathlib import Path

import pytest

import symcnn
from symcnn.errors import SymcnnError
from symcnn.memory.estimate import estimate_memory
from symcnn.memory.pytorch.timeline import CPU_RNG_STATE, peak, segments, training_moments
from symcnn.memory.pytorch.workspace import RULES_CPU_CAPABILITY
from symcnn.options import CpuCapability, MemoryOptions

torch = pytest.importorskip("torch")

from validation import checkpoint, zoo  # noqa: E402  (after torch: checkpoint needs it)

VALIDATION = Path(__file__).parent.parent / "validation"

SPECS = {name: text for name, text, _, _ in zoo.entries()}


def analysis(name):
    return symcnn.analyze(symcnn.parse_spec(SPECS[name]).network)


def moments(name, batch, k, cpu=RULES_CPU_CAPABILITY):
    return training_moments(analysis(name), device="cpu", batch=batch, checkpoint_segments=k,
                            cpu=cpu)


def after_loss(ms, batch):
    return int(next(m for m in ms if m.phase == "loss").at(batch))


#: (network, batch, segments, what the model may miss at the peak: oneDNN's weight-gradient
#: scratchpad of vgg2d's conv1_2, tests/test_timeline.py)
RUNS = [("plain2d", 2, 2, 0), ("plain2d", 2, 3, 0), ("plain2d", 4, 4, 0),
        ("lecture3d", 1, 3, 0), ("vgg2d", 2, 3, 29_952)]


@pytest.fixture(scope="module")
def plain_runs():
    return {(n, b): checkpoint.measure_checkpoint(n, b, 0) for n, b, _, _ in RUNS}


@pytest.mark.parametrize("net,batch,k,scratchpad", RUNS)
def test_retained_on_any_cpu(net, batch, k, scratchpad, plain_runs):
    """What the forward pass leaves for the backward pass does not depend on the kernels."""
    m = checkpoint.measure_checkpoint(net, batch, k)
    base = plain_runs[(net, batch)]
    assert m["after_forward"] - base["after_forward"] == \
        after_loss(moments(net, batch, k), batch) - after_loss(moments(net, batch, 0), batch)
    assert m["after_forward"] != base["after_forward"] or k == 3 and net == "plain2d"
    # what saved_tensors_hooks see under checkpointing: the kept tensors but the generator states
    assert m["hooked"] == kept_bytes(analysis(net), k, batch, rng=False)
    # the kernels' buffers are a small part of the step on any x86-64 CPU (AVX2: vgg2d +1.6 %)
    missing = m["step_peak"] - int(peak(moments(net, batch, k), batch))
    assert abs(missing) <= 0.02 * m["step_peak"]


@pytest.mark.parametrize("net,batch,k,scratchpad", RUNS)
def test_peak_on_the_rules_cpu(net, batch, k, scratchpad, cpu_capability):
    """The step's peak to the byte (less a scratchpad the model may miss) with the kernel
    rules of the CPU it runs on (AVX512, where they were first derived, or AVX2: 8-channel
    blocks, ``jit:avx2``, where the model misses nothing on these runs)."""
    if cpu_capability not in CpuCapability.__members__:
        pytest.skip(f"this CPU dispatches {cpu_capability}; symcnn has kernel rules for "
                    f"{', '.join(CpuCapability)} (the within-2 % bound is checked above)")
    m = checkpoint.measure_checkpoint(net, batch, k)
    missing = m["step_peak"] - int(peak(moments(net, batch, k, cpu_capability), batch))
    assert 0 <= missing <= (scratchpad if cpu_capability == RULES_CPU_CAPABILITY else 0) + 8


def kept_bytes(a, k, batch, rng=True):
    from symcnn.memory.pytorch.checkpointing import kept_tensors
    return sum(int(t.elements * (t.element_bytes or 4) * (batch if t.per_sample else 1))
               for t in kept_tensors(a, k, "cpu") if rng or t.kind != "rng state")


def test_full_size_lecture_checkpointed():
    """The lecture network at 1 x 193 x 229 x 193 under checkpoint_sequential with 2 and 3
    segments (validation/results/cpu_heavy_checkpoint.json, measured as the tests here do):
    the tensors kept exact, the peak to 4 B, and not lower than without checkpointing (the
    peak is L2's backward, after its segment has been run again)."""
    import json
    runs = json.loads((VALIDATION / "results" / "cpu_heavy_checkpoint.json").read_text())["runs"]
    from symcnn.spec.builtin import example_spec
    a = symcnn.analyze(example_spec("lecture").network)
    for run in runs:
        k = run["segments"]
        assert run["hooked"] == kept_bytes(a, k, 1, rng=False)
        predicted = int(peak(training_moments(a, device="cpu", batch=1,
                                              checkpoint_segments=k), 1))
        assert 0 <= run["step_peak"] - predicted <= 4
    assert [r["step_peak"] for r in runs] == [4_157_781_384, 4_157_786_440, 4_157_786_440]


def test_report_lists_the_kept_tensors():
    a = analysis("lecture3d")
    m = estimate_memory(a, MemoryOptions("pytorch", device="cpu", checkpoint_segments=3))
    assert m.simulation.checkpoint_segments == 3
    assert sum(int(t.bytes) for t in m.activations) == kept_bytes(a, 3, 1)
    assert estimate_memory(a, MemoryOptions("pytorch", checkpoint_segments=1)) \
        .simulation.checkpoint_segments == 0


def test_the_generator_state_kept_per_segment():
    assert torch.get_rng_state().numel() == CPU_RNG_STATE


def test_segments_as_checkpoint_sequential_cuts():
    a = analysis("vgg2d")                          # 15 layers
    assert [len(g) for g in segments(a, 4)] == [3, 3, 3, 6]
    assert [len(g) for g in segments(a, 15)] == [1] * 15


def test_off_and_one_segment_are_the_plain_step():
    a = analysis("plain2d")
    plain = training_moments(a, device="cpu", batch=2)
    assert training_moments(a, device="cpu", batch=2, checkpoint_segments=1) == plain
    assert estimate_memory(a, MemoryOptions("pytorch", device="cpu"),
                           batch=2).simulation.moments == plain


def test_refusals():
    with pytest.raises(SymcnnError, match="sequential"):
        training_moments(analysis("resnet"), checkpoint_segments=2)
    with pytest.raises(SymcnnError, match="checkpoint_segments"):
        training_moments(analysis("plain2d"), checkpoint_segments=9)
    with pytest.raises(SymcnnError, match="checkpoint"):
        estimate_memory(analysis("plain2d"), MemoryOptions(checkpoint_segments=2))


def test_estimate_memory_threads_it():
    a = analysis("lecture3d")
    m = estimate_memory(a, MemoryOptions("pytorch", device="cpu", checkpoint_segments=3))
    assert m.simulation.moments == training_moments(a, device="cpu", checkpoint_segments=3)
    assert any(x.phase == "recompute" for x in m.simulation.moments)

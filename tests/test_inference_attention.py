"""Self-attention in the eval-mode forward (symcnn.memory.pytorch.evalkernels): the one-layer
networks of validation/attention_inference.py measured on an AMD EPYC (AVX2, 2 threads,
torch 2.13.0+cpu), and each stage rule against byte counts worked out by hand from the
allocator traces."""

import json
from pathlib import Path

import pytest
import sympy

import symcnn
from symcnn import layers
from symcnn.memory.pytorch.evalkernels import (EVAL_KERNELS, EvalCall, as_in_training,
                                               attention, fast_path, flash_buffers,
                                               out_projection_cast)
from symcnn.memory.pytorch.inference import inference_moments
from symcnn.memory.pytorch.timeline import peak

RESULTS = Path(__file__).parent.parent / "validation" / "results"
MEASURED = json.loads((RESULTS / "cpu_avx2_attention_inference.json").read_text())
RUNS = MEASURED["results"]


@pytest.mark.parametrize("run", RUNS, ids=[
    f"{r['name']}-{r['batch']}-{r['precision']}-t{r['threads']}" for r in RUNS])
def test_measured_attention_peak_to_the_byte(run):
    env = MEASURED["environment"]
    a = symcnn.analyze(symcnn.parse_spec(run["spec"]).network)
    b = run["batch"]
    moments = inference_moments(a, device="cpu", batch=b, precision=run["precision"],
                                cpu=env["cpu_capability"], threads=run["threads"])
    assert int(peak(moments, b)) == run["peak"]


def _call(length, embed, heads, *, need_weights=True, bias=True, in_bytes=4, out_bytes=4,
          batch=2, cast=False):
    net = symcnn.parse_spec(f"""
[input]
shape = [{length}, {embed}]
[[layers]]
type = "MultiheadAttention"
embed_dim = {embed}
num_heads = {heads}
batch_first = true
bias = {str(bias).lower()}
need_weights = {str(need_weights).lower()}
""").network
    row = symcnn.analyze(net).rows[0]
    return EvalCall(row, in_bytes, out_bytes, batch, 2, cast)


def _most(stages):
    """The largest stage (its per-sample bytes; the fixed ones separately)."""
    return max(stages, key=lambda s: s[1])


def test_fast_path_conditions():
    """activation.py's fast path: even heads, biases, an fp32 query (batch-first self-attention
    is all symcnn has); otherwise the explicit path."""
    layer = _call(64, 96, 4).row.layer
    assert fast_path(layer, 4)
    assert not fast_path(layer, 2)                                  # a bf16 query
    assert not fast_path(_call(50, 48, 3).row.layer, 4)             # odd heads
    assert not fast_path(_call(64, 32, 2, bias=False).row.layer, 4)
    symbolic = layers.MultiheadAttention(embed_dim=sympy.Symbol("E"),
                                         num_heads=sympy.Symbol("h"), batch_first=True)
    assert not fast_path(symbolic, 4)                               # parity unknown


def test_fast_path_with_weights_fp32():
    """fit_mha's attention (L 64, E 96, 4 heads), fp32, per sample: the projection's per-head
    copy 3 x 6144 x 4 B, the scores 4 x 64 x 64 x 4 B = 65,536, the heads' outputs and the
    projected output 2 x 24,576 (the trace's peak at addmm); less the output the moment
    counts: 98,304 + 65,536 = 163,840 B."""
    stages = attention(_call(64, 96, 4))
    assert _most(stages) == (0, 163_840)
    assert (0, 5 * 24_576) in stages                   # projection and its copy, 6 Q


def test_fast_path_under_autocast_casts_query_key_and_value():
    """fit_sdpa's attention (L 81, E 64, 2 heads, no weights) under bf16 autocast with an fp32
    query: three bf16 casts of the input (the moment counts one), three projections and
    their concatenation 6 Q: 2 x 5184 x 2 + 5 x 5184 x 2 = 72,576 B per sample."""
    stages = attention(_call(81, 64, 2, need_weights=False, in_bytes=4, out_bytes=2, cast=True))
    assert _most(stages) == (0, 72_576)


def test_explicit_path_with_weights_fp32():
    """Odd heads (L 50, E 48, 3 heads), fp32: at the softmax the per-head copy 3 Q and two
    score tensors, 3 x 2400 x 4 + 2 x 7500 x 4 = 88,800 B per sample (the trace's peak,
    177,600 B at batch 2), less the output 9,600."""
    assert _most(attention(_call(50, 48, 3))) == (0, 79_200)


def test_explicit_path_with_weights_bf16_upcasts_the_mean():
    """The same under bf16 (query bf16): at the mean the per-head copy, the softmax, the
    output, the 2-byte mean (3 x 2400 + 7500 + 2400 + 2500) x 2 = 39,200, and the mean's
    fp32 copy of the weights and fp32 result (7500 + 2500) x 4 = 40,000 B per sample (the
    trace: 177,216 B at batch 2 with 18,816 B of cached bf16 parameters), less the output."""
    stages = attention(_call(50, 48, 3, in_bytes=2, out_bytes=2))
    assert _most(stages) == (0, 39_200 + 40_000 - 2 * 2400)


def test_flash_buffers():
    """Per thread, fp32: a 32 x 50 block of scores, 2 x 32 maxima and sums, a 32 x 16 output;
    2 threads: 2 x 4 x (1600 + 64 + 512) = 17,408 B (measured), and 2 x 2 x 1600 = 6,400 B
    more for a bf16 input (measured).  800 tokens: blocks of 256 queries and 512 keys,
    2 x 4 x (131,072 + 512 + 4096) = 1,085,440 B."""
    layer = _call(50, 48, 3).row.layer
    assert flash_buffers(layer, 50, 2, 4) == 17_408
    assert flash_buffers(layer, 50, 2, 2) == 17_408 + 6_400
    assert flash_buffers(_call(800, 16, 1).row.layer, 800, 2, 4) == 1_085_440


def test_explicit_path_without_weights():
    """Odd heads, no weights, fp32: the per-head copy 3 Q with the flash kernel's output Q
    and log-sum-exp (3 x 50 x 4 B), less the output: 3 x 9600 + 600 per sample, and its
    buffers (17,408 B); under autocast (query bf16) the output projection's bf16 weight and
    bias (48 x 48 + 48) x 2 = 4,704 B, cast only after the kernel, come off."""
    assert out_projection_cast(_call(50, 48, 3).row.layer, 2) == 4_704
    assert out_projection_cast(_call(50, 48, 3).row.layer, 4) == 0
    stages = attention(_call(50, 48, 3, need_weights=False))
    assert (17_408, 3 * 9_600 + 600) in stages
    bf16 = attention(_call(50, 48, 3, need_weights=False, in_bytes=2, out_bytes=2))
    assert (17_408 + 6_400 - 4_704, 3 * 4_800 + 600) in bf16


def test_other_layers_keep_the_training_forward_rules():
    assert EVAL_KERNELS[layers.Linear] is as_in_training
    assert EVAL_KERNELS[layers.MultiheadAttention] is attention


def _layer_norm_call_peak(shape, permuted):
    """PyTorch's own count: the most bytes a LayerNorm call holds on top of what was alive
    before it (eval, no_grad, fp32), the input (b, L, E) or a permuted (b, E, L) view."""
    torch = pytest.importorskip("torch")
    from torch.profiler import ProfilerActivity, profile

    from validation.measure import profiler_events

    b, length, embed = shape
    ln = torch.nn.LayerNorm(embed).eval()
    x = torch.randn(b, embed, length).permute(0, 2, 1) if permuted \
        else torch.randn(b, length, embed)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof, \
            torch.no_grad():
        y = ln(x)
    del y
    events = profiler_events(prof)
    allocation = torch._C._profiler._EventType.Allocation
    sizes = [e.extra_fields.alloc_size for e in sorted(events, key=lambda e: e.start_time_ns)
             if e.tag == allocation]
    live = high = 0
    for s in sizes:
        live += s
        high = max(high, live)
    return high


@pytest.mark.parametrize("permuted", [False, True])
def test_layer_norm_keeps_its_statistics_for_the_call(permuted):
    """Eval-mode LayerNorm: its output, the fp32 mean and reciprocal deviation of each of the
    b L rows, and a permuted input's contiguous copy, alive at once.  Hand count for b 2,
    L 100, E 48: output 38,400 B, statistics 2 x 200 x 4 = 1,600 B, copy 38,400 B."""
    expected = 38_400 + 1_600 + (38_400 if permuted else 0)
    assert _layer_norm_call_peak((2, 100, 48), permuted) == expected
    net = symcnn.parse_spec(f"""
[input]
shape = [{'48, 100' if permuted else '100, 48'}]
{'[[layers]]' + chr(10) + 'type = "Permute"' + chr(10) + 'dims = [0, 2, 1]' if permuted else ''}
[[layers]]
type = "LayerNorm"
name = "ln"
normalized_shape = [48]
""").network
    a = symcnn.analyze(net)
    ln = [m for m in inference_moments(a, device="cpu", batch=2, cpu="AVX2") if m.node == "ln"]
    before = 4 * (48 + 48) + 4 * 2 * 4800                  # parameters and input
    assert max(int(m.at(2)) for m in ln) - before == expected

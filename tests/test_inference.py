"""The eval-mode forward pass (symcnn.memory.pytorch.inference) against the CPU measurements committed in
validation/: ``model.eval()``, ``torch.no_grad()`` (and bf16 autocast), the CPU allocator's
own counter, torch 2.13.0."""

import json
from pathlib import Path

import pytest

import symcnn
from symcnn.memory.estimate import estimate_memory
from symcnn.memory.pytorch.inference import inference_moments
from symcnn.memory.pytorch.timeline import peak
from symcnn.options import MemoryOptions
from validation import zoo

VALIDATION = Path(__file__).parent.parent / "validation"

RUNS = {}
for name in ("cpu_zoo.json", "cpu_heavy.json"):
    for r in json.loads((VALIDATION / "results" / name).read_text())["results"]:
        c = r["config"]
        RUNS.setdefault((c["network"], c["batch"], c["precision"]), r["inference"])
KEYS = sorted(RUNS)


def predicted(network, batch, precision):
    a = symcnn.analyze(symcnn.parse_spec(zoo.get(network).spec_text).network)
    return int(peak(inference_moments(a, device="cpu", batch=batch, precision=precision), batch))


def unet_locals(batch, element_bytes=4):
    """The zoo's U-Net keeps x2 and x3 (``x2 = self.down1(x1)``...) in local variables until
    its forward returns, after up1, their last reader, has returned: 16x16x16 + 32x8x8
    elements per sample, fp32 (2 bytes under autocast: BatchNorm and ReLU keep the convolutions'
    dtype).  (x1 and up1's output are arguments of up2, alive until it returns:
    :mod:`symcnn.analysis.liveness`.)"""
    return batch * element_bytes * (16 * 16 * 16 + 32 * 8 * 8)


@pytest.mark.parametrize("key", KEYS, ids=["-".join(map(str, k)) for k in KEYS])
def test_inference_peak(key):
    network, batch, precision = key
    measured = RUNS[key]["peak"]
    if network == "unet2d":
        if precision != "bf16":          # bf16 on AVX-512 (oneDNN's kernels): 79,300 B under
            assert predicted(*key) + unet_locals(batch, 4 if precision == "fp32" else 2) \
                == measured
        return
    assert abs(predicted(*key) - measured) <= 0.02 * measured


def test_inference_full_size_lecture_to_the_byte():
    """1 x 193 x 229 x 193, b = 1: 2,231,709,512 B measured in fp32, 1,139,568,504 B in bf16,
    at L2's oneDNN stage, with the small buffer oneDNN allocates before its blocked copies
    there: L2's bias padded from 30 to 32 channels, 4 x 32 + 128 = 256 B in fp32 and 2 x 32 +
    128 = 192 B in bf16, seen in the allocation trace (AVX-512)."""
    assert RUNS[("lecture3d-full", 1, "fp32")]["peak"] == predicted("lecture3d-full", 1, "fp32")
    assert RUNS[("lecture3d-full", 1, "bf16")]["peak"] == predicted("lecture3d-full", 1, "bf16")


def test_estimate_memory_uses_the_simulated_forward():
    a = symcnn.analyze(symcnn.parse_spec(zoo.get("vgg2d").spec_text).network)
    m = estimate_memory(a, MemoryOptions("pytorch", device="cpu"))
    assert m.inference(2) == RUNS[("vgg2d", 2, "fp32")]["peak"]
    lecture = estimate_memory(a, MemoryOptions("lecture"))
    assert lecture.simulation is None and lecture.inference(2) < m.inference(2)


def test_eval_dropout_allocates_nothing():
    net = symcnn.parse_spec("""
[input]
shape = [10]
[[layers]]
type = "Linear"
out_features = 20
[[layers]]
type = "Dropout"
[[layers]]
type = "Linear"
out_features = 5
""").network
    a = symcnn.analyze(net)
    moments = {m.node: m for m in inference_moments(a)}
    # during the last Linear: x (10), the first Linear's output (20, read through the dropout),
    # and its own output (5), per sample; parameters 220 + 105
    assert moments["linear_3"].at(1) == 4 * (10 + 20 + 5 + 220 + 105)


# ---- the AVX2 CPU (AMD EPYC, torch 2.13.0+cpu, 2 threads): the zoo and the kernel fitting set

#: The fitting networks of attention and token operations (fit_mha, fit_sdpa, fit_patches):
#: asserted below, with the attention rules (symcnn.memory.pytorch.evalkernels).
TOKEN_FITTING = {"fit_mha", "fit_sdpa", "fit_patches"}
AVX2 = {}
for name in ("cpu_avx2_zoo.json", "cpu_avx2_fitting.json"):
    data = json.loads((VALIDATION / "results" / name).read_text())
    assert data["environment"]["cpu_capability"] == "AVX2"
    for r in data["results"]:
        c = r["config"]
        if c["network"] not in TOKEN_FITTING:
            AVX2.setdefault((c["network"], c["batch"], c["precision"]),
                            (r["inference"], data["environment"]["threads"]))
AVX2_KEYS = sorted(AVX2)


@pytest.mark.parametrize("key", AVX2_KEYS, ids=["-".join(map(str, k)) for k in AVX2_KEYS])
def test_inference_peak_avx2_to_the_byte(key):
    """Every inference run of the zoo and of the convolution fitting set measured on the AVX2
    CPU, to the byte: the patch embeddings (fit_patch8, fit_patch16: first-layer weights),
    the MLP's BatchNorm (scale and shift), the U-Net in bf16/fp16 (no cached BatchNorm
    parameters; with its forward's locals, as in fp32)."""
    network, batch, precision = key
    run, threads = AVX2[key]
    a = symcnn.analyze(symcnn.parse_spec(zoo.get(network).spec_text).network)
    got = int(peak(inference_moments(a, device="cpu", batch=batch, precision=precision,
                                     cpu="AVX2", threads=threads), batch))
    if network == "unet2d":
        got += unet_locals(batch, 4 if precision == "fp32" else 2)
    assert got == run["peak"]


def _net(text):
    return symcnn.analyze(symcnn.parse_spec(text).network)


def _moments_at(analysis, node, batch=2, **options):
    return sorted(int(m.at(batch)) for m in inference_moments(analysis, device="cpu",
                                                              batch=batch, **options)
                  if m.node == node)


PATCH = """
input = {shape = [3, 80, 80]}
layers = [{type = "Conv2d", name = "patch", out_channels = 20, kernel_size = 16, stride = 16}]
"""


def test_first_layer_weight_not_padded_in_its_input_channels():
    """Conv2d 3 -> 20, 16x16, stride 16 on 80 x 80, b = 2, on AVX2: oneDNN books the bias
    padded to 24 channels, 4 x 24 + 128 = 224 B, reorders the weight to Ohwi8o, 3 x 24 x 256
    x 4 = 73,728 B (not 8 x 24 x 256 x 4 with the input channels padded), and writes the
    blocked output, 2 x 24 x 25 x 4 = 4,800 B: 78,752 B above parameters and input, as the
    allocator counted (+224 +73,728 +4,800)."""
    a = _net(PATCH)
    resident = 4 * (20 * 3 * 256 + 20) + 4 * 2 * 3 * 80 * 80
    assert _moments_at(a, "patch", cpu="AVX2")[-1] == resident + 78_752


CHANNELS_LAST = """
input = {shape = [16, 4, 4]}
layers = [
  {type = "Permute", name = "to_nhwc", dims = [0, 2, 3, 1]},
  {type = "LayerNorm", name = "ln", normalized_shape = [16]},
  {type = "Permute", name = "to_nchw", dims = [0, 3, 1, 2]},
  {type = "Conv2d", name = "down", out_channels = OUT, kernel_size = 2, stride = 2},
]
"""


def test_channels_last_convolution_forward():
    """A Conv2d 16 -> 96, 2x2, stride 2 reading ConvNeXt's LayerNorm2d (permute, LayerNorm,
    permute back) at b = 2 on AVX2: the weight's channels-last copy 96 x 16 x 4 x 4 = 24,576 B,
    the scratchpad 4,096 + 2 x 4,120 = 12,336 B, the weight reordered to Acdb{8..32}a with the
    96 output channels (a multiple of every block) 24,576 B; beside the output 2 x 96 x 4 x 4
    = 3,072 B and the input 2 x 16 x 16 x 4 = 2,048 B that LayerNorm made.  With 25 output
    channels the blocks 8, 16, 24, 32 pad them to 32, 32, 48, 32: the rule takes 48 (an upper
    bound: oneDNN took 32 for 16 -> 25, measured)."""
    from symcnn.memory.pytorch.layout import channels_last_inputs

    a = _net(CHANNELS_LAST.replace("OUT", "96"))
    assert channels_last_inputs(a) == {"down"}
    resident = 4 * (2 * 16 + 96 * 16 * 4 + 96) + 4 * 2 * 16 * 16
    assert _moments_at(a, "down", cpu="AVX2") == [resident + 2_048 + 3_072,
                                                  resident + 2_048 + 3_072 + 24_576 + 12_336
                                                  + 24_576]
    narrow = _net(CHANNELS_LAST.replace("OUT", "25"))
    extra = _moments_at(narrow, "down", cpu="AVX2")[-1] - _moments_at(narrow, "down",
                                                                       cpu="AVX2")[0]
    assert extra == 25 * 16 * 4 * 4 + 12_336 + 48 * 16 * 4 * 4


def test_back_to_back_permutes_are_not_channels_last():
    """permute(0, 2, 3, 1) then permute(0, 3, 1, 2) gives the contiguous tensor back."""
    from symcnn.memory.pytorch.layout import channels_last_inputs

    text = CHANNELS_LAST.replace("OUT", "96").replace(
        '  {type = "LayerNorm", name = "ln", normalized_shape = [16]},\n', "")
    assert channels_last_inputs(_net(text)) == frozenset()


BN = """
input = {shape = [64]}
layers = [{type = "Linear", name = "fc", out_features = 256},
          {type = "BatchNorm1d", name = "bn"}]
"""


def test_batch_norm_eval_scale_and_shift():
    """BatchNorm1d(256) in eval mode on the CPU: its output and, during the call, a 256-element
    fp32 scale and shift, 2 x 1,024 B (the allocator, b = 2: +2,048 +1,024 +1,024)."""
    a = _net(BN)
    resident = 4 * (64 * 256 + 256 + 4 * 256) + 8 + 4 * 2 * 64   # + num_batches_tracked
    assert _moments_at(a, "bn") == [resident + 2 * 2_048 + 2_048]
    cuda = {m.node: int(m.at(2)) for m in inference_moments(a, batch=2)}   # not measured there
    assert cuda["bn"] == resident + 2 * 2_048


CONV_BN = """
input = {shape = [3, 8, 8]}
layers = [
  {type = "Conv2d", name = "c1", out_channels = 16, kernel_size = 3, padding = 1, bias = false},
  {type = "BatchNorm2d", name = "bn"},
  {type = "Conv2d", name = "c2", out_channels = 16, kernel_size = 1, bias = false},
]
"""


def test_autocast_caches_only_the_parameters_it_casts():
    """bf16 autocast on the CPU caches the 2-byte copies of c1's (16 x 3 x 9) and c2's
    (16 x 16) weights, not BatchNorm's: it runs on the bf16 input with its fp32 parameters
    (measured: no allocation of BatchNorm outlives its call).  At c2, b = 2 (AVX2: PyTorch's
    own 1x1 kernel, no columns): parameters 4 x (432 + 32 + 256) and buffers 4 x 32 + 8, x in
    fp32, c1's and c2's copies 2 x (432 + 256), bn's output 2 x 16 x 64 x 2 and c2's the same."""
    a = _net(CONV_BN)
    resident = 4 * (432 + 32 + 256) + 4 * 32 + 8 + 4 * 2 * 3 * 64
    assert _moments_at(a, "c2", precision="bf16", cpu="AVX2")[-1] \
        == resident + 2 * (432 + 256) + 2 * (2 * 16 * 64 * 2)


#: Single layers traced on the AVX2 EPYC (``validation/inference_kernels.py``, its table
#: ``results/cpu_avx2_inference_kernels.md``): case -> (spec layers, input shape, batch,
#: precision); the spec has the layers the case's module runs.
TRACED = {
    "first layer 3->96 16x16/16": ('{type = "Conv2d", out_channels = 96, kernel_size = 16, '
                                   'stride = 16}', [3, 80, 80], 2, "fp32"),
    "first layer 3->20 16x16/16": ('{type = "Conv2d", out_channels = 20, kernel_size = 16, '
                                   'stride = 16}', [3, 80, 80], 2, "fp32"),
    "first layer 5->20 8x8/8": ('{type = "Conv2d", out_channels = 20, kernel_size = 8, '
                                'stride = 8}', [5, 48, 48], 2, "fp32"),
    "first layer Conv1d 1->32 16/8": ('{type = "Conv1d", out_channels = 32, kernel_size = 16, '
                                      'stride = 8}', [1, 2000], 2, "fp32"),
    "first layer Conv3d 3->16 3x3x3": ('{type = "Conv3d", out_channels = 16, kernel_size = 3, '
                                       'padding = 1}', [3, 8, 8, 8], 2, "fp32"),
    "channels-last LN + 384->768 2x2/2": (
        '{type = "LayerNorm", normalized_shape = [384]}, '
        '{type = "Permute", dims = [0, 3, 1, 2]}, '
        '{type = "Conv2d", out_channels = 768, kernel_size = 2, stride = 2}', [14, 14, 384], 2,
        "fp32"),
    "channels-last 16->64 2x2/2": ('{type = "Permute", dims = [0, 3, 1, 2]}, {type = "Conv2d", '
                                   'out_channels = 64, kernel_size = 2, stride = 2}',
                                   [8, 8, 16], 2, "fp32"),
    "channels-last 64->64 3x3 pad 1": ('{type = "Permute", dims = [0, 3, 1, 2]}, {type = '
                                       '"Conv2d", out_channels = 64, kernel_size = 3, '
                                       'padding = 1}', [16, 16, 64], 2, "fp32"),
    "padded bias Conv3d 16->4": ('{type = "Conv3d", out_channels = 4, kernel_size = 3, '
                                 'stride = 2, padding = 1}', [16, 8, 8, 8], 2, "fp32"),
    "BatchNorm1d(256) eval": ('{type = "BatchNorm1d"}', [256], 2, "fp32"),
    "BatchNorm2d(13) eval": ('{type = "BatchNorm2d"}', [13, 5, 5], 3, "fp32"),
    "BatchNorm3d(8) eval": ('{type = "BatchNorm3d"}', [8, 4, 4, 4], 2, "fp32"),
    "conv + BN + 1x1 conv, bf16": (
        '{type = "Conv2d", out_channels = 16, kernel_size = 3, padding = 1, bias = false}, '
        '{type = "BatchNorm2d"}, {type = "Conv2d", out_channels = 16, kernel_size = 1, '
        'bias = false}', [3, 8, 8], 2, "bf16"),
    "Conv3d 16->8 1x1, fp16": ('{type = "Conv3d", out_channels = 8, kernel_size = 1}',
                               [16, 4, 4, 4], 2, "fp16"),
}
#: Where oneDNN's block leaves fewer padded channels than the rule's worst candidate: 25
#: output channels in a block of 32 (the rule: 48, 16 x 16 x 4 x 4 B more), 64 in blocks of 8 to
#: 32 (the rule: 72 with the block of 24, 8 x 64 x 4 B more).
TRACED_BOUND = {
    "channels-last 16->25 2x2/2": ('{type = "Permute", dims = [0, 3, 1, 2]}, {type = "Conv2d", '
                                   'out_channels = 25, kernel_size = 2, stride = 2}',
                                   [8, 8, 16], 2, "fp32", 16 * 16 * 4 * 4),
    "channels-last 64->64 1x1": ('{type = "Permute", dims = [0, 3, 1, 2]}, {type = "Conv2d", '
                                 'out_channels = 64, kernel_size = 1}', [8, 8, 64], 2, "fp32",
                                 8 * 64 * 4),
}


def _traced_peaks():
    lines = (VALIDATION / "results" / "cpu_avx2_inference_kernels.md").read_text().splitlines()
    assert "AVX2" in lines[0]
    return {cells[1].strip(): int(cells[-2].strip().replace(",", ""))
            for cells in (line.split("|") for line in lines if line.startswith("| ")
                          and not line.startswith("| case"))}


def _predicted_above_resident(layers, shape, batch, precision):
    a = _net(f"input = {{shape = {shape}}}\nlayers = [{layers}]\n")
    moments = inference_moments(a, device="cpu", batch=batch, precision=precision,
                                cpu="AVX2", threads=2)
    resident = sum(int(f + p * batch) for group in moments[0].parts[:2] for f, p in group)
    return max(int(m.at(batch)) for m in moments) - resident


@pytest.mark.parametrize("case", sorted(TRACED))
def test_single_layers_as_traced_on_avx2(case):
    """The peak of one eval forward above parameters, buffers and input, to the byte."""
    assert _predicted_above_resident(*TRACED[case]) == _traced_peaks()[case]


@pytest.mark.parametrize("case", sorted(TRACED_BOUND))
def test_channels_last_block_is_an_upper_bound(case):
    *spec, over = TRACED_BOUND[case]
    assert _predicted_above_resident(*spec) == _traced_peaks()[case] + over


# ---- the fitting set's token networks on an AVX2 CPU (AMD EPYC, 2 threads, torch 2.13.0+cpu)

AVX2_FITTING = json.loads((VALIDATION / "results" / "cpu_avx2_fitting.json").read_text())
AVX2_RUNS = {(r["config"]["network"], r["config"]["batch"], r["config"]["precision"]):
             r["inference"]["peak"] for r in AVX2_FITTING["results"]
             if r["config"]["network"] in ("fit_mha", "fit_sdpa", "fit_patches")}


def predicted_avx2(network, batch, precision):
    env = AVX2_FITTING["environment"]
    a = symcnn.analyze(symcnn.parse_spec(zoo.get(network).spec_text).network)
    return int(peak(inference_moments(a, device="cpu", batch=batch, precision=precision,
                                      cpu=env["cpu_capability"], threads=env["threads"]),
                    batch))


ATTENTION_KEYS = sorted(k for k in AVX2_RUNS if k[0] != "fit_patches")
PATCH_KEYS = sorted(k for k in AVX2_RUNS if k[0] == "fit_patches")


@pytest.mark.parametrize("key", ATTENTION_KEYS, ids=["-".join(map(str, k)) for k in ATTENTION_KEYS])
def test_attention_inference_peak_to_the_byte(key):
    """fit_mha (the fast path with need_weights in fp32; the explicit path under bf16
    autocast, its query bf16) and fit_sdpa (the fast path, under autocast too: its query is
    fp32), eval mode under no_grad: the measured peak, to the byte."""
    assert predicted_avx2(*key) == AVX2_RUNS[key]


def patches_local(batch, precision):
    """FitPatches' forward keeps its LayerNorm's output in the local ``x`` (read by ``fc``
    and ``gate``) until it returns: 100 tokens x 48 features per sample, 2-byte elements
    under bf16 autocast (the LayerNorm reads the convolution's bf16 output)."""
    return batch * 100 * 48 * (4 if precision == "fp32" else 2)


@pytest.mark.parametrize("key", PATCH_KEYS, ids=["-".join(map(str, k)) for k in PATCH_KEYS])
def test_patch_tokens_inference_peak_but_a_local(key):
    assert predicted_avx2(*key) + patches_local(key[1], key[2]) == AVX2_RUNS[key]


def test_autocast_caches_only_the_parameters_it_casts():
    """bf16 autocast casts a Linear's weight and bias (cached until the forward ends), not a
    LayerNorm's: ``native_layer_norm`` takes a bf16 input with fp32 parameters (allocator
    traces of fit_mha and fit_patches, AVX2, torch 2.13.0)."""
    net = symcnn.parse_spec("""
[input]
shape = [4, 8]
[[layers]]
type = "Linear"
name = "fc"
out_features = 16
[[layers]]
type = "LayerNorm"
name = "ln"
normalized_shape = [16]
""").network
    at = {}                              # each node's first moment: before its kernel's buffers
    for m in inference_moments(symcnn.analyze(net), device="cpu", batch=1, precision="bf16",
                               cpu="AVX2"):
        at.setdefault(m.node, int(m.at(1)))
    resident = 4 * (8 * 16 + 16 + 16 + 16) + 4 * 4 * 8      # fp32 parameters, the input
    cached = 2 * (8 * 16 + 16)                               # fc's bf16 weight and bias
    assert at["ln"] == resident + cached + 2 * 4 * 16 + 2 * 4 * 16   # fc's and ln's outputs

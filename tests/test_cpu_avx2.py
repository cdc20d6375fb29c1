"""The kernel rules of an AVX2 CPU against measurements made on one (AMD EPYC, AVX2 only,
torch 2.13.0+cpu, 2 threads): the zoo, the fitting set (``results/cpu_avx2_zoo.json``), and
the held-out set (``results/cpu_avx2_heldout.json``, never used to derive a rule).  Each file
is predicted with the rules of the capability it names in its ``environment``."""

from pathlib import Path

import pytest

from validation import judge_cpu

RESULTS = Path(__file__).parent.parent / "validation" / "results"
ZOO = judge_cpu.load(RESULTS / "cpu_avx2_zoo.json")
ZOO_ROWS = judge_cpu.compare(ZOO)
IDS = [f"{r['network']}-{r['label']}-b{r['batch']}" for r in ZOO_ROWS]


def test_the_data_names_its_cpu():
    assert ZOO["environment"]["cpu_capability"] == "AVX2"
    assert ZOO["environment"]["torch"].startswith("2.13.0")


@pytest.mark.parametrize("row", ZOO_ROWS, ids=IDS)
def test_zoo_peak_on_avx2(row):
    """Every zoo peak to 4 B (a 4-byte tensor the model does not know), in fp32, bf16 and
    fp16, but unet2d's fp32 runs: their peak is the backward of ``outc``, a 1x1 convolution
    whose ``jit_1x1:avx2`` weight kernel is not derived; the AVX-512 kernel's buffers stand
    for it, 572 B above the measurement (an upper bound)."""
    over = row["predicted"] - row["measured"]
    if row["network"] == "unet2d" and row["precision"] == "fp32":
        assert over == 572
    else:
        assert -4 <= over <= 0


def test_bf16_is_fp16_without_avx512():
    """The measured fact the AVX2 bf16 rule rests on: without AVX-512, bf16 autocast takes
    PyTorch's own kernels as fp16 does, and the peaks are the same to the byte."""
    peaks = {(r["config"]["network"], r["config"]["optimizer"], r["config"]["precision"]):
             r["step"]["step_peak"] for r in ZOO["results"]
             if not r["config"]["foreach"] and r["config"]["precision"] != "fp32"}
    fp16 = [k for k in peaks if k[2] == "fp16"]
    assert len(fp16) == 13
    assert all(peaks[(n, o, "bf16")] == peaks[(n, o, "fp16")] for n, o, _ in fp16)


def test_avx512_rules_are_not_avx2_rules():
    """Predicted with the AVX-512 rules, the same AVX2 measurements of unet2d miss by more
    than 5 %: 16-channel padding in fp32 (above), oneDNN's bf16 kernels assumed where PyTorch's
    im2col ran (below); with the AVX2 rules they are within 572 B.  The capability matters."""
    runs = [r for r in ZOO["results"] if r["config"]["network"] == "unet2d"
            and r["config"]["precision"] in ("fp32", "bf16")]
    assert len(runs) == 7
    for run in runs:
        cfg, measured = run["config"], run["step"]["step_peak"]
        assert abs(judge_cpu.predicted_peak(cfg, "AVX2") - measured) <= 572
        error = (judge_cpu.predicted_peak(cfg, "AVX512") - measured) / measured
        assert error > 0.05 if cfg["precision"] == "fp32" else error < -0.05


HELDOUT = judge_cpu.load(RESULTS / "cpu_avx2_heldout.json")
HELDOUT_ROWS = judge_cpu.compare(HELDOUT)
#: The attention networks of the held-out set, written and measured after the attention rules
#: were fixed on ``validation/fitting`` (never looked at before).
ATTENTION = {"vit_small", "vit_wide", "mixer"}


def test_heldout_names_its_cpu_and_stays_apart():
    from validation.fitting import FITTING
    from validation.heldout import HELDOUT as NETWORKS
    from validation.heldout import SEEN
    assert HELDOUT["environment"]["cpu_capability"] == "AVX2"
    names = {e.name for e in NETWORKS}
    assert not names & ({e.name for e in judge_cpu.zoo.ZOO} | {e.name for e in FITTING})
    assert {r["network"] for r in HELDOUT_ROWS} == names
    assert SEEN < names and len(names - SEEN) == 11
    assert max(r["measured"] for r in HELDOUT_ROWS if r["network"] == "medium") > 50_000_000


@pytest.mark.parametrize("row", HELDOUT_ROWS,
                         ids=lambda r: f"{r['network']}-{r['label']}-b{r['batch']}")
def test_heldout_within_two_percent(row):
    """Held out, on AVX2, fp32 and bf16, SGD at b = 2 and Adam at b = 3 (issue 13's targets:
    90 % within 2 %, none beyond 5 %): every run within 2 %.  To 4 B but: the first layer's
    2-byte backward of wide1d and pool1d (PyTorch's own im2col, under by 0.14-1.52 %), the
    transposed convolution with output_padding of deconvodd (fp32, over by 0.01-0.26 %), the
    dilated bf16 layers' bias sums (68 B under), the attention networks (to 12 B under)."""
    assert abs(row["error"]) <= 0.02
    over = row["predicted"] - row["measured"]
    if row["network"] in ("wide1d", "pool1d", "deconvodd"):
        return
    if row["network"] in ("dilated", "dilated2") and row["precision"] == "bf16":
        assert -68 <= over <= 0
    elif row["network"] in ATTENTION:
        assert -12 <= over <= 0
    else:
        assert -4 <= over <= 0


def test_heldout_tallies():
    """The issue's targets on the held-out set, and apart on the networks added after the
    rules were fixed (never looked at before)."""
    from validation.heldout import SEEN
    every = judge_cpu.tally(HELDOUT_ROWS)
    unseen = judge_cpu.tally([r for r in HELDOUT_ROWS if r["network"] not in SEEN])
    assert every["runs"] == 68 and every["within_2pct"] == 68 and every["within_5pct"] == 68
    assert unseen["runs"] == 44 and unseen["within_4B"] == 38 and unseen["within_2pct"] == 44
    attention = judge_cpu.tally([r for r in HELDOUT_ROWS if r["network"] in ATTENTION])
    assert attention["runs"] == 12 and attention["within_2pct"] == 12
    assert abs(attention["worst"]) < 2e-5          # 12 B of 902,812 (mixer bf16)

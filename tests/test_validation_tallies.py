"""The accuracy tallies of the CPU kernel rules, as validation/README.md states them, recounted
from the measurements in validation/results/ and the rules in symcnn.memory.pytorch: the table
there is checked here, so it cannot drift from the code or the data.  No torch needed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import symcnn
from symcnn.layers import Linear
from symcnn.memory.pytorch.onednn import bf16, bf16_1x1, fp32
from symcnn.memory.pytorch.workspace import _packed_matmul

VALIDATION = Path(__file__).resolve().parent.parent / "validation"
TABLE = re.compile(r"<!-- tallies -->\n(.*?)<!-- /tallies -->", re.S)


def rows(name):
    return json.loads((VALIDATION / "results" / name).read_text())["rows"]


def args(r):
    return (r["c_in"], r["c_out"], r["kernel"], r["stride"], r["padding"], tuple(r["spatial"]),
            r["batch"], r["threads"])


def tally(pairs):
    """(exact, of) over (predicted, measured) pairs."""
    pairs = list(pairs)
    return sum(p == m for p, m in pairs), len(pairs)


def fp32_tallies():
    conv = [r for r in rows("cpu_conv_fp32.json") if r["kind"] in ("conv", "conv_random")]
    tconv = [r for r in rows("cpu_conv_fp32.json") if r["kind"] == "transposed"]
    weight = [r for r in conv if r["impl_backward_weights"]
              in ("jit:avx512_core", "jit_1x1:avx512_core", "jit:avx2")]
    data = [r for r in conv if r["impl_backward_data"] is not None]
    return {
        "fp32 implementation names, convolutions": tally(
            (fp32.implementation(*args(r)[:6], threads=r["threads"], batch=r["batch"]),
             (r["impl_backward_data"], r["impl_backward_weights"])) for r in conv),
        "fp32 weight gradient": tally((fp32.weight_scratch(*args(r)), r["weight_scratch"])
                                      for r in weight),
        "fp32 data gradient, stride 1": tally((fp32.data_scratch(*args(r)), r["data_scratch"])
                                              for r in data if r["stride"] == 1),
        "fp32 data gradient, strided": tally((fp32.data_scratch(*args(r)), r["data_scratch"])
                                             for r in data if r["stride"] != 1),
        "fp32 ConvTranspose forward": tally(
            ((fp32.transposed_implementation(*args(r)[:6]),
              fp32.transposed_forward_scratch(*args(r))),
             (r["impl_forward"], r["transposed_scratch"])) for r in tconv),
    }


def bf16_tallies():
    grid = rows("cpu_conv_bf16.json")
    impl = "avx512_core_bf16"
    return {
        "bf16 implementation names": tally(
            (bf16.implementation(*args(r)[:6]),
             (r["impl_backward_data"], r["impl_backward_weights"])) for r in grid),
        "bf16 weight gradient": tally(
            (bf16.weight_scratch(*args(r)), r["weight_scratch"]) for r in grid
            if r["impl_backward_weights"] == f"jit_bf16:{impl}"),
        "bf16 data gradient, stride 1": tally(
            (bf16.data_scratch(*args(r)), r["data_scratch"]) for r in grid
            if r["impl_backward_data"] == f"jit_bf16:{impl}"),
        "bf16 data gradient, strided": tally(
            (bf16.data_scratch(*args(r)), r["data_scratch"]) for r in grid
            if r["impl_backward_data"] == f"brgconv_strided:{impl}"),
    }


def bf16_1x1_tallies():
    grid = rows("cpu_conv_bf16_1x1.json")
    impl = "jit_bf16_1x1:avx512_core_bf16"
    stages = {"forward": "impl_forward", "backward_data": "impl_backward_data",
              "backward_weights": "impl_backward_weights"}
    return {
        "bf16 1x1 implementation names": tally(
            (bf16_1x1.implementation(*args(r)[:6]), {k: r[v] for k, v in stages.items()})
            for r in grid),
        "bf16 1x1 forward": tally(
            (bf16_1x1.forward_scratch(*args(r), bias=r["bias"]), r["forward_scratch"])
            for r in grid if r["impl_forward"] == impl),
        "bf16 1x1 data gradient, stride 1": tally(
            (bf16_1x1.data_scratch(*args(r)), r["data_scratch"]) for r in grid
            if r["impl_backward_data"] == impl),
        "bf16 1x1 weight gradient": tally(
            (bf16_1x1.weight_scratch(*args(r), bias=r["bias"]), r["weight_scratch"])
            for r in grid if r["impl_backward_weights"] == impl),
        "bf16 1x1 data gradient, strided": tally(
            (bf16.data_scratch(*args(r)), r["data_scratch"]) for r in grid if r["stride"] > 1),
    }


def linear_tallies():
    def predicted(r):
        a = symcnn.analyze(symcnn.Network.sequential("l", (r["k"],),
                                                      [Linear(out_features=r["n"])]))
        alt = _packed_matmul(a.rows[0], r["m"], r["threads"])
        return int(alt[0][0]) if alt else 0
    return {"bf16 Linear packed weights": tally(
        (predicted(r), r["scratch"][0] if r["scratch"] else 0)
        for r in rows("cpu_linear_bf16.json"))}


def avx2_network_tallies():
    """The AVX2 fitting and held-out sets' training-step peaks (``validation/judge_cpu.py``)."""
    from validation import judge_cpu

    fit = judge_cpu.compare(judge_cpu.load(VALIDATION / "results" / "cpu_avx2_fitting.json"))
    held = judge_cpu.compare(judge_cpu.load(VALIDATION / "results" / "cpu_avx2_heldout.json"))
    return {
        "AVX2 kernel fitting set, peaks to 4 B": tally(
            (abs(r["predicted"] - r["measured"]) <= 4, True) for r in fit),
        "AVX2 held-out set, peaks to 4 B": tally(
            (abs(r["predicted"] - r["measured"]) <= 4, True) for r in held),
        "AVX2 held-out set, peaks within 2 %": tally(
            (abs(r["error"]) <= 0.02, True) for r in held),
    }


def stated():
    """{rule: (exact, of)} from the table in validation/README.md."""
    text = TABLE.search((VALIDATION / "README.md").read_text()).group(1)
    found = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        m = re.fullmatch(r"\*{0,2}([\d,]+) of ([\d,]+)\*{0,2}", cells[-1]) if len(cells) > 2 \
            else None
        if m:
            found[cells[0]] = tuple(int(x.replace(",", "")) for x in m.groups())
    return found


def test_the_readme_table_is_the_recount():
    counted = {**fp32_tallies(), **bf16_tallies(), **bf16_1x1_tallies(), **linear_tallies(),
               **avx2_network_tallies()}
    assert stated() == counted


def test_the_table_parser_reads_a_row():
    assert tally([(1, 1), (2, 3)]) == (1, 2)
    assert re.fullmatch(r"\*{0,2}([\d,]+) of ([\d,]+)\*{0,2}", "**1,234 of 1,300**")

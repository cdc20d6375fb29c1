"""symcnn solve and symcnn sweep: against the seed lecture's numbers, hand formulas and
brute force (a network analysed with each number put in), and their one-line errors."""

import csv
import json
from pathlib import Path

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symcnn
from symcnn.analysis.rows import analyze
from symcnn.cli import main
from symcnn.errors import SymcnnError
from symcnn.explore import solve_for, sweep
from symcnn.explore.monotone import nondecreasing
from symcnn.intdiv import FloorDiv
from symcnn.memory.estimate import estimate_memory
from symcnn.options import MemoryOptions
from symcnn.report import make_report
from symcnn.spec.builtin import example_spec
from symcnn.spec.parse import load_spec, parse_assignments, parse_spec
from symcnn.symbols import size

SLOW = settings(max_examples=8, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# The seed lecture (/work/shared/seed/README.md): the output sizes of L1..L8 on the
# 193 x 229 x 193 input, and each layer's channels as a multiple of C (30 in the lecture).
SPATIAL = [(191, 227, 191), (95, 113, 95), (93, 111, 93), (46, 55, 46), (44, 53, 44),
           (21, 26, 21), (19, 24, 19), (9, 11, 9)]
TIMES = [1, 1, 2, 2, 4, 4, 8, 8]


def lecture_params(c: int) -> int:
    channels = [1] + [t * c for t in TIMES]
    convs = sum((27 * cin + 1) * cout for cin, cout in zip(channels, channels[1:]))
    return convs + 8 * c * 9 * 11 * 9 + 1                     # + Linear(8C*9*11*9 -> 1)


def lecture_training(c: int, b: int) -> int:
    """The lecture's Batch mem, by hand: Params + Grads + b (I_1 + 2 sum of the outputs)."""
    outputs = sum(t * c * x * y * z for t, (x, y, z) in zip(TIMES, SPATIAL)) + 1
    return 4 * 2 * lecture_params(c) + b * 4 * (193 * 229 * 193 + 2 * outputs)


def widths():
    return example_spec("lecture_symbolic", parse_assignments(["D=193", "H=229", "W=193"]))


def test_the_hand_formula_is_the_seeds():
    assert lecture_params(30) == 3_301_651
    assert lecture_training(30, 1) == 2_937_313_940


def test_solve_for_the_width_at_the_seeds_memory():
    """At exactly the lecture's 2,937,313,940 B (b = 1), C = 30 is the widest; a byte less, 29."""
    s = solve_for(widths(), "C", 2_937_313_940)
    assert (s.largest, s.memory_at_largest, s.next) == (30, 2_937_313_940, 31)
    assert s.memory_at_next == lecture_training(31, 1)
    assert s.monotone is True and s.all_fit_up_to == 30 and s.smallest == 1
    assert solve_for(widths(), "C", 2_937_313_939).largest == 29


def test_solve_agrees_with_the_seeds_largest_batches():
    """The seed: with C = 30, 4 samples fit 12 GB and 5 do not; so at b = 4 C = 30 fits, and
    at b = 5 it does not."""
    assert solve_for(widths(), "C", "12GB", batch_size=4).largest >= 30
    assert solve_for(widths(), "C", "12GB", batch_size=5).largest < 30


@SLOW
@given(st.integers(1, 8), st.integers(1, 10**6))
def test_solve_against_brute_force_on_the_width(b, fraction):
    low, high = lecture_training(1, b), lecture_training(200, b)
    budget = low + (high - low) * fraction // 10**6
    c = 1
    while lecture_training(c + 1, b) <= budget:
        c += 1
    s = solve_for(widths(), "C", budget, batch_size=b)
    assert (s.largest, s.memory_at_largest) == (c, lecture_training(c, b))
    assert (s.next, s.memory_at_next) == (c + 1, lecture_training(c + 1, b))


def unet(extra=()):
    return load_spec("examples/unet2d.toml", parse_assignments(["C=4", "W=H", *extra]))


def numeric_training(spec, values, options, b):
    network = spec.network.subs({size(k): v for k, v in values.items()})
    return int(estimate_memory(analyze(network), options, batch=b).training(b))


CONVENTIONS = [MemoryOptions("lecture"), MemoryOptions("torchinfo"), MemoryOptions("cs231n"),
               MemoryOptions("torchsummary"), MemoryOptions("pytorch"),
               MemoryOptions("pytorch", allocator_block=512),
               MemoryOptions("pytorch", precision="bf16", optimizer="adam")]


@SLOW
@given(st.sampled_from(CONVENTIONS), st.integers(1, 4), st.integers(0, 10**6))
def test_solve_against_brute_force_on_the_unet_input(options, b, fraction):
    """The U-Net takes only multiples of 16: the answer is one, and so is the next value."""
    spec = unet()
    memory = {h: numeric_training(spec, {"H": h}, options, b) for h in range(16, 177, 16)}
    budget = memory[16] + (memory[160] - memory[16]) * fraction // 10**6
    largest = max(h for h, m in memory.items() if m <= budget)
    s = solve_for(spec, "H", budget, options, b)
    assert (s.largest, s.memory_at_largest) == (largest, memory[largest])
    assert (s.next, s.memory_at_next) == (largest + 16, memory[largest + 16])
    assert s.smallest == 16 and s.monotone is not False
    if s.monotone is None:            # not proven (rounded allocations): every value was tried
        assert s.scanned[0] == 16 and s.scanned[1] > largest + 16


NOT_MONOTONE = """
name = "not-monotone"
[input]
shape = [1, 8, 8]
[[layers]]
type = "Conv2d"
name = "wide"
out_channels = "C"
kernel_size = 3
padding = 1
[[layers]]
type = "Conv2d"
name = "narrow"
out_channels = "floor(1024/C)"
kernel_size = 3
padding = 1
"""


def not_monotone_training(c: int) -> int:
    k = 1024 // c                                        # channels of the second layer
    params = 10 * c + (9 * c + 1) * k
    return 8 * params + 4 * (64 + 2 * (64 * c + 64 * k))


@settings(max_examples=10, deadline=None)
@given(st.integers(110_000, 680_000))
def test_solve_scans_a_memory_that_is_not_monotone(budget):
    """Where a width shrinks as C grows, memory falls and rises: solve says so, with a real
    decrease, and gives the largest C below which every C fits (C <= 1024: the second layer
    needs a channel)."""
    memory = [not_monotone_training(c) for c in range(1, 1025)]
    fitting = [c for c, m in zip(range(1, 1025), memory) if m <= budget]
    s = solve_for(parse_spec(NOT_MONOTONE), "C", budget)
    assert s.monotone is False
    v, m, w, n = s.decrease
    assert (m, n) == (not_monotone_training(v), not_monotone_training(w)) and n < m and v < w
    assert s.largest == fitting[-1] and s.memory_at_largest == memory[s.largest - 1]
    below = 0
    while below < 1024 and memory[below] <= budget:
        below += 1
    assert s.all_fit_up_to == (below or None)
    assert s.scanned[0] == 1 and s.scanned[1] >= 1024


def test_solve_on_the_cpu_evaluates_each_value_as_a_number():
    """The simulated step on the CPU has no exact closed form in the sizes: each value is a
    network with that number, and the answer is checked against them."""
    options = MemoryOptions("pytorch", device="cpu")
    spec = unet()
    memory = {h: numeric_training(spec, {"H": h}, options, 2) for h in range(16, 145, 16)}
    budget = (memory[80] + memory[96]) // 2
    s = solve_for(spec, "H", budget, options, 2)
    assert not s.closed_form and s.monotone is None
    assert (s.largest, s.memory_at_largest, s.next, s.memory_at_next) == \
        (80, memory[80], 96, memory[96])


@pytest.mark.parametrize("text,name", [("-D", "D"), ("D - 7", "D"), ("3*D", "D")])
def test_a_polynomial_with_negative_terms_is_proven_by_its_slope(text, name):
    expr = sympy.expand((size(name) - 5) ** 3 + size(name))
    assert nondecreasing(expr, size(name), 5)
    assert not nondecreasing(expr - 2 * size(name) ** 2, size(name), 1)


def expressions():
    d = size("D")
    leaves = st.sampled_from([d, d - 3, sympy.Integer(2), sympy.Integer(-3), sympy.Integer(0)])

    def grow(children):
        return st.one_of(
            st.tuples(children, children).map(lambda t: t[0] + t[1]),
            st.tuples(children, children).map(lambda t: t[0] * t[1]),
            st.tuples(children, st.integers(-3, 3)).map(lambda t: t[1] * t[0]),
            st.tuples(children, st.integers(1, 4)).map(lambda t: FloorDiv(t[0], t[1])),
            st.tuples(children, children).map(lambda t: sympy.Max(*t)),
            st.tuples(children, children).map(lambda t: sympy.Min(*t)),
            children.map(lambda e: e**2))
    return st.recursive(leaves, grow, max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(expressions(), st.integers(1, 20))
def test_the_monotonicity_proof_is_sound(expr, start):
    """Whatever the prover calls nondecreasing never decreases (checked with sympy's own
    substitution on 60 values)."""
    d = size("D")
    if nondecreasing(expr, d, start):
        values = [expr.subs(d, v) for v in range(start, start + 60)]
        assert all(a <= b for a, b in zip(values, values[1:]))


# sweep


def test_sweep_gives_the_seeds_figures():
    budgets = ["8GB", "12GB", "16GB", "24GB", "40GB", "80GB"]
    batches = [sweep(widths(), {"C": [30]}, memory=m)["max_batch"][0] for m in budgets]
    assert batches == [2, 4, 5, 8, 13, 27]
    table = sweep(widths(), {"C": [30, 1]}, batch_size=3)
    assert table["total_params"] == [3_301_651, lecture_params(1)]
    assert table["training_bytes"] == [lecture_training(30, 3), lecture_training(1, 3)]
    assert list(table) == ["C", "total_params", "total_macs", "training_bytes", "inference_bytes"]
    assert table["total_macs"][0] == 121_987_539_810  # fvcore's count at C = 30


@SLOW
@given(st.sampled_from(CONVENTIONS), st.integers(1, 4),
       st.lists(st.integers(1, 40), min_size=1, max_size=3, unique=True),
       st.lists(st.integers(61, 120), min_size=1, max_size=3, unique=True),
       st.sampled_from(["300MB", "2GB", "12GB"]))
def test_sweep_against_a_report_per_point(options, b, cs, ds, budget):
    spec = example_spec("lecture_symbolic", parse_assignments(["H=D", "W=D"]))
    table = sweep(spec, {"C": cs, "D": ds}, options, b, budget)
    assert list(zip(table["C"], table["D"])) == [(c, d) for c in cs for d in ds]
    for i, (c, d) in enumerate(zip(table["C"], table["D"])):
        r = make_report(spec.network.subs({size("C"): c, size("D"): d}), options,
                        batch_size=b, memory=budget)
        assert table["total_params"][i] == r.total_params
        assert table["total_macs"][i] == r.total_macs
        assert table["training_bytes"][i] == r.training_bytes
        assert table["inference_bytes"][i] == r.inference_bytes
        assert table["max_batch"][i] == max(int(r.limits[0][1].value), 0)


def test_sweep_leaves_out_the_points_where_the_network_does_not_build():
    table = sweep(unet(), {"H": range(1, 65)})
    assert table["H"] == [16, 32, 48, 64]


def test_sweep_refuses_the_cpu_step_and_a_symbol_without_a_value():
    with pytest.raises(SymcnnError, match="no closed form"):
        sweep(unet(), {"H": [16]}, MemoryOptions("pytorch", device="cpu"))
    with pytest.raises(SymcnnError, match="C needs a value"):
        sweep(load_spec("examples/unet2d.toml"), {"H": [16], "W": [16]})


def test_public_api():
    assert {"sweep", "solve_for"} <= set(symcnn.__all__)
    assert symcnn.sweep is sweep and symcnn.solve_for is solve_for


# the command line

CUBE = ["examples/lecture_symbolic.toml", "--set", "C=30", "--set", "H=D", "--set", "W=D"]


def test_cli_solve_text_and_json(capsys):
    assert main(["solve", *CUBE, "--for", "D", "--memory", "12GB"]) == 0
    out = capsys.readouterr().out
    assert "D = 324" in out and "proven" in out
    assert main(["solve", *CUBE, "--for", "D", "--memory", "12GB", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"symbol", "largest", "memory_at_largest", "memory_at_next"} <= set(doc)
    assert doc["symbol"] == "D" and doc["memory_at_largest"] <= 12 * 10**9 < doc["memory_at_next"]
    network = example_spec("lecture_symbolic").network
    for value, key in ((doc["largest"], "memory_at_largest"), (doc["largest"] + 1, "memory_at_next")):
        values = {size("C"): 30, size("D"): value, size("H"): value, size("W"): value}
        assert make_report(network.subs(values)).training_bytes == doc[key]


def test_cli_sweep_writes_csv_and_json(capsys, tmp_path):
    out = tmp_path / "grid.csv"
    args = ["sweep", "examples/lecture_symbolic.toml", "--set", "D=193", "--set", "H=229",
            "--set", "W=193", "--vary", "C=10:30:10", "--memory", "12GB"]
    assert main([*args, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"wrote 3 points to {out}\n" and captured.err == ""   # no progress
    rows = list(csv.DictReader(out.open()))
    assert [r["C"] for r in rows] == ["10", "20", "30"]
    assert rows[2]["total_params"] == "3301651" and rows[2]["training_bytes"] == "2937313940"
    assert rows[2]["max_batch"] == "4"
    assert [p.name for p in tmp_path.iterdir()] == ["grid.csv"]        # no temporary file left
    assert main([*args, "--out", str(tmp_path / "grid.json"), "--progress"]) == 0
    assert "3/3 points" in capsys.readouterr().err
    doc = json.loads((tmp_path / "grid.json").read_text())
    assert doc["columns"]["max_batch"][2] == 4 and doc["points"] == 3


def test_cli_sweep_says_which_points_were_left_out(capsys, tmp_path):
    args = ["sweep", "examples/unet2d.toml", "--set", "C=4", "--set", "W=H", "--vary", "H=1:32",
            "--out", str(tmp_path / "u.csv")]
    assert main(args) == 0
    assert "wrote 2 points" in capsys.readouterr().out


ERRORS = [
    (["solve", *CUBE, "--for", "D", "--memory", "1MB"], "--memory: nothing fits"),
    (["solve", *CUBE, "--for", "Z", "--memory", "12GB"], "--for: Z: no such symbol"),
    (["solve", "examples/lecture_symbolic.toml", "--for", "D", "--memory", "12GB"],
     "--set: C, H, W need values"),
    (["solve", *CUBE, "--for", "D"], "--memory: give the budget"),
    (["solve", *CUBE, "--for", "D", "-m", "8GB", "-m", "12GB"], "--memory: give one budget"),
    (["solve", *CUBE, "--for", "D", "-m", "12GB", "-b", "b"], "--batch-size: must be a number"),
    (["solve", *CUBE, "--for", "D", "-m", "12GB", "--sizes", "D=1:9"], "--sizes: applies to"),
    (["sweep", *CUBE, "--vary", "D=61:9", "--out", "x.csv"], "--vary: 'D=61:9': need 1 <= START"),
    (["sweep", *CUBE, "--vary", "D=61:70", "--out", "x.txt"], "x.txt: name a .csv or a .json file"),
    (["sweep", *CUBE, "--vary", "Q=1:2", "--out", "x.csv"], "--vary: Q: no such symbol"),
    (["sweep", "examples/lecture_symbolic.toml", "--set", "H=D", "--set", "W=D", "--vary",
      "D=1:2000", "--vary", "C=1:1000", "--out", "x.csv"],
     "--vary: 2,000,000 points, at most 1,000,000"),
    (["sweep", *CUBE, "--vary", "D=61:62", "--out", "x.csv", "--convention", "pytorch",
      "--device", "cpu"], "--device: the simulated step on the CPU has no closed form"),
]


@pytest.mark.parametrize("args,message", ERRORS, ids=[m for _, m in ERRORS])
def test_cli_errors_are_one_line(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    args = [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def spec_with(fields: str) -> str:
    return f"""
name = "t"
[input]
shape = [1, "H", "H"]
[[layers]]
type = "Conv2d"
name = "c"
{fields}
"""


def test_cli_errors_without_a_bound(capsys, tmp_path):
    """A symbol memory does not depend on (a 1x1 kernel's dilation), and one it stops growing
    with (``min(C, 8)`` channels): no largest value, in one line."""
    flat = tmp_path / "flat.toml"
    flat.write_text(spec_with('out_channels = 4\nkernel_size = 1\ndilation = "K"'))
    assert main(["solve", str(flat), "--set", "H=32", "--for", "K", "-m", "1GB"]) == 2
    assert "training memory does not depend on K" in capsys.readouterr().err
    capped = tmp_path / "capped.toml"
    capped.write_text(spec_with('out_channels = "min(C, 8)"\nkernel_size = 3'))
    assert main(["solve", str(capped), "--set", "H=32", "--for", "C", "-m", "1GB"]) == 2
    err = capsys.readouterr().err
    assert "--memory: no largest C: training memory stays within" in err and err.count("\n") == 1

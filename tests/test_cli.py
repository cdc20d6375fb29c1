"""The command line as a user runs it: output, JSON, and one-line errors with exit code 2."""

import json
import subprocess
import sys
import textwrap

import pytest
import sympy

from symcnn.cli import main
from symcnn.options import MemoryOptions
from tests.test_report_fields import column as fields_column

LECTURE_TOTAL = 3_301_651


def run(*args):
    return subprocess.run([sys.executable, "-m", "symcnn", *args], capture_output=True,
                          text=True)


def test_report_default_is_the_lecture(capsys):
    assert main(["report"]) == 0
    out = capsys.readouterr().out
    assert "3,301,651" in out
    assert "(27*30 + 1)*30 = 24,330" in out
    assert "2,937.31 MB" in out
    assert "80GB: b_max = 27" in out
    assert "I_5: printed 51.50 MB, but 46*55*46*60*4 = 27,931,200 B = 27.93 MB" in out


def test_json_document(capsys):
    assert main(["report", "--json", "--memory", "12GB", "--batch-size", "2"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["total_params"] == LECTURE_TOTAL
    assert [layer["params"] for layer in doc["layers"] if layer["params"]][:2] == [840, 24_330]
    assert doc["layers"][0]["output_shape"] == [30, 191, 227, 191]
    assert doc["layers"][0]["activation_bytes"] == 191 * 227 * 191 * 30 * 4
    mem = doc["memory"]
    assert mem["params_bytes"] == mem["grads_bytes"] == LECTURE_TOTAL * 4
    assert mem["per_sample_bytes"] == 2_910_900_732
    assert mem["training_bytes"] == 26_413_208 + 2 * 2_910_900_732
    assert mem["max_batch_size"] == 4
    bad = [p for p in doc["published"] if not p["agrees"]]
    assert [p["key"] for p in bad] == ["memory.I_5"]


def test_json_symbolic_strings_parse_back(capsys, tmp_path):
    assert main(["report", "examples/lecture_symbolic.toml", "--json", "--memory", "24GB"]) == 0
    doc = json.loads(capsys.readouterr().out)
    total = sympy.sympify(doc["total_params"])
    values = {"C": 30, "D": 193, "H": 229, "W": 193}
    assert total.subs(values) == LECTURE_TOTAL
    assert sympy.sympify(doc["memory"]["training_bytes"]).subs(values) == 2_937_313_940
    assert sympy.sympify(doc["memory"]["max_batch_size"]).subs(values) == 8


def test_set_substitutes_symbols(capsys):
    args = ["report", "examples/lecture_symbolic.toml", "--json", "--memory", "80GB",
            "--set", "C=30", "--set", "D=193", "--set", "H=229", "--set", "W=193"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["total_params"] == LECTURE_TOTAL
    assert doc["memory"]["max_batch_size"] == 27


def test_units_mib_and_dtype(capsys):
    assert main(["report", "--units", "MiB", "--dtype", "float16", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["memory"]["params_bytes"] == LECTURE_TOTAL * 2
    assert main(["report", "--units", "MiB"]) == 0
    assert "12.59 MiB" in capsys.readouterr().out  # 3,301,651 * 4 / 2**20


def test_optimizer_state(capsys):
    assert main(["report", "--optimizer", "adam", "--json"]) == 0
    mem = json.loads(capsys.readouterr().out)["memory"]
    assert mem["optimizer_bytes"] == 2 * LECTURE_TOTAL * 4
    assert mem["fixed_bytes"] == 4 * LECTURE_TOTAL * 4


def test_does_not_fit_says_by_how_much(capsys):
    assert main(["report", "--memory", "2GB"]) == 0
    out = capsys.readouterr().out
    # 2,937,313,940 B needed for one sample; 937,313,940 B short
    assert "does not fit even at b = 1; 937.31 MB short" in out


def spec(tmp_path, body):
    path = tmp_path / "net.toml"
    path.write_text(textwrap.dedent(body))
    return str(path)


HEAD = """
name = "t"
[input]
shape = [3, 8, 8]
"""


@pytest.mark.parametrize("body, expected", [
    (HEAD + '[[layers]]\ntype = "Conv9d"\nout_channels = 4\n',
     "layer 1: field 'type': unknown layer type 'Conv9d' (did you mean Conv1d or Conv2d or Conv3d?)"),
    (HEAD + '[[layers]]\ntype = "Conv2d"\nout_channels = 4\nkernal_size = 3\n',
     "layer 1 (Conv2d): field 'kernal_size': unknown field for Conv2d"),
    (HEAD + '[[layers]]\ntype = "Conv2d"\nout_channels = 4\n',
     "layer 1 (Conv2d): field 'kernel_size': missing"),
    (HEAD + '[[layers]]\ntype = "Conv2d"\nout_channels = 4\nkernel_size = 9\n',
     "layer 1 (Conv2d 'conv2d_1'): field 'kernel_size': output size along spatial axis 1 is "
     "floor((8 + 2*0 - 1*(9 - 1) - 1)/1) + 1 = 0, not positive"),
    (HEAD + '[[layers]]\ntype = "Conv2d"\nout_channels = 4\nkernel_size = 3\ngroups = 2\n',
     "field 'groups': groups=2 does not divide the 3 input channels"),
    (HEAD + '[[layers]]\ntype = "Conv2d"\nout_channels = -4\nkernel_size = 3\n',
     "layer 1 (Conv2d): field 'out_channels': must be at least 1, got -4"),
    (HEAD + '[[layers]]\ntype = "Conv2d"\nout_channels = "__import__(\'os\')"\nkernel_size = 3\n',
     "layer 1 (Conv2d): field 'out_channels': unexpected character \"_\""),
    (HEAD + '[[layers]]\ntype = "Conv2d"\nout_channels = "C.__class__"\nkernel_size = 3\n',
     "field 'out_channels': unexpected character \".\""),
    ('name = "t"\n[input]\nshape = [3, 0, 8]\n[[layers]]\ntype = "ReLU"\n',
     "input: field 'shape': must be at least 1, got 0"),
    ("name = 't'\n[input\n", "invalid TOML"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, body, expected):
    path = spec(tmp_path, body)
    result = run("report", path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"symcnn: error: {path}: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_bad_options_exit_2():
    for args, expected in [(("--memory", "lots"), "cannot read memory size 'lots'"),
                           (("--set", "Q=3", "examples/lecture_symbolic.toml"), "no such symbol"),
                           (("--batch-size", "0"), "--batch-size: must be at least 1"),
                           (("missing.toml",), "missing.toml: cannot read spec")]:
        result = run("report", *args)
        assert result.returncode == 2, args
        assert expected in result.stderr and "Traceback" not in result.stderr


def test_sizes_lists_valid_input_sizes(tmp_path, capsys):
    path = spec(tmp_path, """
name = "tiny-unet"
[input]
shape = [1, "H", "H"]
[[layers]]
type = "Conv2d"
name = "enc"
out_channels = 4
kernel_size = 3
padding = 1
[[layers]]
type = "MaxPool2d"
kernel_size = 2
[[layers]]
type = "ConvTranspose2d"
name = "up"
out_channels = 4
kernel_size = 2
stride = 2
[[layers]]
type = "Concat"
inputs = ["up", "enc"]
""")
    assert main(["report", path, "--json", "--sizes", "H=1:12"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid_sizes"] == {"H": [2, 4, 6, 8, 10, 12]}  # the pool's floor must undo exactly
    assert [c["relation"] for c in doc["conditions"]] == ["Eq(2*floor(H/2), H)"]
    assert doc["layers"][3]["inputs"] == ["up", "enc"]
    result = run("report", path, "--sizes", "H=9")
    assert result.returncode == 2 and "write NAME=START:STOP" in result.stderr


def test_precision_bf16_pytorch_convention(capsys):
    """--precision bf16: the saved tensors of the lecture network under autocast are half the
    fp32 ones (x's bf16 copy instead of x, every output in bf16) plus the bf16 copies of every
    weight (the 901 biases are not saved)."""
    docs = {}
    for precision in ("fp32", "bf16"):
        assert main(["report", "--json", "--convention", "pytorch", "--device", "cpu",
                     "--precision", precision]) == 0
        docs[precision] = json.loads(capsys.readouterr().out)["memory"]
    assert docs["fp32"]["precision"] == "fp32" and docs["bf16"]["precision"] == "bf16"
    assert docs["bf16"]["saved_bytes"] == docs["fp32"]["saved_bytes"] // 2 \
        + 2 * (LECTURE_TOTAL - 901)
    assert docs["bf16"]["input_bytes"] == docs["fp32"]["input_bytes"] == 193 * 229 * 193 * 4
    assert docs["bf16"]["training_bytes"] < docs["fp32"]["training_bytes"]
    assert main(["report", "--convention", "pytorch", "--precision", "bf16"]) == 0
    out = capsys.readouterr().out
    assert "under bf16 autocast" in out and "(weight copies once)" in out


def test_precision_needs_the_pytorch_convention():
    r = run("report", "--precision", "fp16")
    assert r.returncode == 2 and "no mixed precision" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_checkpoint_segments_option(capsys):
    from symcnn import example_spec, make_report
    assert main(["report", "--convention", "pytorch", "--checkpoint-segments", "5", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    plain = make_report(example_spec(), MemoryOptions("pytorch"))
    checkpointed = make_report(example_spec(), MemoryOptions("pytorch", checkpoint_segments=5))
    assert doc["memory"]["training_bytes"] == int(checkpointed.training_bytes)
    assert checkpointed.memory.simulation.moments != plain.memory.simulation.moments
    result = run("report", "--checkpoint-segments", "2")
    assert result.returncode == 2 and "use the pytorch convention" in result.stderr


def test_allocator_block_option(capsys):
    assert main(["report", "--convention", "pytorch", "--allocator-block", "512", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)["memory"]
    assert doc["allocator_block"] == 512
    # the lecture network at b = 1: 2,170,393,820 B requested, each allocation rounded up
    assert 2_170_393_820 < doc["training_bytes"] < 2_170_393_820 + 512 * 64
    assert doc["training_bytes"] % 512 == 0
    for args in (["--allocator-block", "512"],
                 ["--convention", "pytorch", "--allocator-block", "-1"]):
        r = run("report", *args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
        assert "--allocator-block" in r.stderr    # the library names allocator_block


def test_threads_option(capsys, tmp_path):
    """oneDNN's per-thread buffers follow --threads: inplace2d's bf16 peak is its fc1's
    forward, where a 2-byte Linear packs its weights per thread."""
    from symcnn import analyze, parse_spec
    from symcnn.memory.pytorch.workspace import _packed_matmul
    from validation import zoo

    text = zoo.get("inplace2d").spec_text
    spec = tmp_path / "inplace2d.toml"
    spec.write_text(text)
    peaks = {}
    for t in (2, 4):
        assert main(["report", str(spec), "--convention", "pytorch", "--device", "cpu",
                     "--precision", "bf16", "--batch-size", "2", "--threads", str(t),
                     "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)["memory"]
        assert doc["threads"] == t
        peaks[t] = doc["training_bytes"]
    fc1 = next(r for r in analyze(parse_spec(text).network).rows if r.name == "fc1")
    assert peaks[4] - peaks[2] == int(_packed_matmul(fc1, 2, 4)[0][0]) \
        - int(_packed_matmul(fc1, 2, 2)[0][0]) > 0
    r = run("report", "--convention", "pytorch", "--device", "cpu", "--threads", "0")
    assert r.returncode == 2 and "threads" in r.stderr


def test_symbolic_pytorch_figures_are_named_not_dumped(capsys):
    """With symbols the simulated step's peak is a maximum of 19 moments, of which one is
    proved the largest for every valid size: the text and the JSON give that one; a maximum
    that stays long is named in the text, not printed."""
    from symcnn.render.textreport import _figure
    from symcnn.spec.builtin import examples_dir
    spec = str(examples_dir() / "lecture_symbolic.toml")
    assert main(["report", spec, "--convention", "pytorch"]) == 0
    text = capsys.readouterr().out
    line = next(x for x in text.splitlines() if "training at b = 1" in x)
    assert "Max(" not in line and "floor((D - 61)/16)" in line
    assert main(["report", spec, "--convention", "pytorch", "--json"]) == 0
    assert "Max(" not in json.loads(capsys.readouterr().out)["memory"]["training_bytes"]
    x, y = sympy.symbols("x y", positive=True)
    many = sympy.Max(*(x + i * y for i in range(19)), evaluate=False)
    assert _figure(many, "B").startswith("the largest of 19 expressions")


def test_report_shows_the_receptive_field(capsys):
    """The lecture's L4 sees 13 pixels, L8 61, on each axis (issue 14; by hand: 3x3x3
    convolutions add 2 jumps each, every second one doubles the jump)."""
    assert main(["report"]) == 0
    column = fields_column(capsys.readouterr().out)
    assert column["L1"] == "3"
    assert column["L4"] == "13, jump 4"
    assert column["L8"] == "61, jump 16"


def test_report_receptive_field_per_axis(capsys, tmp_path):
    """Axes that differ get one value each: a (3, 5) kernel with stride (2, 1), then a 3x3."""
    spec = tmp_path / "axes.toml"
    spec.write_text(textwrap.dedent("""
        name = "axes"
        [input]
        shape = [1, 32, 32]
        [[layers]]
        type = "Conv2d"
        out_channels = 2
        kernel_size = [3, 5]
        stride = [2, 1]
        [[layers]]
        type = "Conv2d"
        out_channels = 2
        kernel_size = 3
        stride = 2
    """))
    assert main(["report", str(spec)]) == 0
    column = fields_column(capsys.readouterr().out)
    assert list(column.values()) == ["3 x 5, jump 2 x 1", "7, jump 4 x 2"]  # 3 + 2*2 and 5 + 2*1


def test_readme_report_excerpt_is_the_output():
    """Every table line the README shows under ``symcnn report --memory 24GB`` is a line of
    that command's output."""
    from pathlib import Path
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("$ symcnn report --memory 24GB\n", 1)[1].split("```", 1)[0]
    out = run("report", "--memory", "24GB").stdout.splitlines()
    shown = [line for line in block.splitlines() if line and line != "..."]
    assert "receptive field" in shown[0]
    assert [line for line in shown if line not in out] == []


def test_exam_macs_convention(tmp_path):
    """``symcnn exam --macs-convention torchinfo``: the lecture's MACs as torchinfo's Mult-Adds
    (122,347,137,391, issue 14), in answers.csv; an unknown tool is refused in one line."""
    family = tmp_path / "f.toml"
    family.write_text(open("examples/lecture_symbolic.toml").read() + textwrap.dedent("""
        [variables]
        C = 30
        D = 193
        H = 229
        W = 193
        [[exam.questions]]
        kind = "macs"
        choices = 4
    """))
    out = tmp_path / "exam"
    assert main(["exam", str(family), "-n", "1", "--out", str(out),
                 "--macs-convention", "torchinfo"]) == 0
    rows = (out / "answers.csv").read_text().splitlines()
    assert rows[1].split(",")[2:6] == ["macs", "", "1", "122347137391"]
    bad = run("exam", str(family), "--macs-convention", "thop", "--out", str(out))
    assert bad.returncode == 2 and "invalid choice: 'thop'" in bad.stderr
    assert "Traceback" not in bad.stderr

"""The options object: validated once when made, read by every convention; library errors
name the argument, and only the command line turns it into a flag."""

import ast
import dataclasses
from pathlib import Path

import pytest

import symcnn
from symcnn import SymcnnError, analyze, estimate_memory, make_report
from symcnn.cli import FLAGS, main
from symcnn.cli.parser import build_parser
from symcnn.memory.estimate import CONVENTIONS
from symcnn.options import Convention, Device, MemoryOptions, Optimizer, Precision
from symcnn.spec.builtin import example_spec
from symcnn.symbols import size

PACKAGE = Path(symcnn.__file__).parent
LECTURE_PARAMS = 3_301_651


def test_strings_become_members_and_keep_comparing_equal():
    o = MemoryOptions("pytorch", device="cpu", precision="bf16", optimizer="adam")
    assert o.convention is Convention.PYTORCH and o.device is Device.CPU
    assert o.precision is Precision.BF16 and o.optimizer is Optimizer.ADAM
    assert o.convention == "pytorch" and f"{o.device}" == "cpu"
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.device = "cuda"


def test_every_convention_has_counting_rules():
    assert set(Convention) == set(CONVENTIONS)


@pytest.mark.parametrize("given, argument", [
    ({"convention": "vibes"}, "convention"),
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"dtype": "int4"}, "dtype"),
    ({"convention": "pytorch", "device": "tpu"}, "device"),
    ({"convention": "pytorch", "precision": "fp8"}, "precision"),
    ({"convention": "pytorch", "threads": 0}, "threads"),
    ({"convention": "pytorch", "threads": True}, "threads"),
    ({"convention": "pytorch", "allocator_block": -1}, "allocator_block"),
    ({"convention": "pytorch", "allocator_block": 1.5}, "allocator_block"),
    ({"convention": "pytorch", "checkpoint_segments": -2}, "checkpoint_segments"),
    ({"convention": "pytorch", "foreach": "yes"}, "foreach"),
    # what a convention does not model
    ({"convention": "torchinfo", "optimizer": "adam"}, "optimizer"),
    ({"convention": "torchsummary", "optimizer": "sgd"}, "optimizer"),
    ({"precision": "bf16"}, "precision"),
    ({"convention": "cs231n", "allocator_block": 512}, "allocator_block"),
    ({"checkpoint_segments": 2}, "checkpoint_segments"),
])
def test_each_mistake_is_one_line_naming_the_argument(given, argument):
    with pytest.raises(SymcnnError) as caught:
        MemoryOptions(**given)
    text = str(caught.value)
    assert text.startswith(f"argument '{argument}': ") and "\n" not in text
    assert "--" not in text


def test_what_a_convention_accepts():
    assert MemoryOptions("torchinfo", optimizer="none").resolved_optimizer is Optimizer.NONE
    assert MemoryOptions("cs231n").resolved_optimizer is Optimizer.MOMENTUM
    assert MemoryOptions("pytorch").resolved_optimizer is Optimizer.SGD
    assert MemoryOptions("pytorch", threads=4, allocator_block=512, checkpoint_segments=3,
                         foreach=False).threads == 4


def test_the_simulation_only_for_the_pytorch_convention():
    a = analyze(example_spec().network)
    assert estimate_memory(a).simulation is None
    cuda = estimate_memory(a, MemoryOptions("pytorch")).simulation
    assert (cuda.device, cuda.precision, cuda.threads) == (Device.CUDA, Precision.FP32, None)
    cpu = estimate_memory(a, MemoryOptions("pytorch", device="cpu", threads=3)).simulation
    assert cpu.device is Device.CPU and cpu.threads == 3
    assert estimate_memory(a, MemoryOptions("pytorch", device="cpu")).simulation.threads == 2


def test_the_old_keywords_still_work_with_a_warning():
    with pytest.warns(DeprecationWarning, match=r"MemoryOptions\(optimizer=\.\.\.\)"):
        adam = make_report(example_spec(), optimizer="adam")
    # Adam keeps two fp32 tensors per parameter
    assert adam.memory.fixed - make_report(example_spec()).memory.fixed == 2 * 4 * LECTURE_PARAMS
    with pytest.warns(DeprecationWarning):
        assert estimate_memory(analyze(example_spec().network),
                               convention="torchinfo").training(1) == 2_924_107_336
    with pytest.raises(TypeError, match="not both"):
        make_report(example_spec(), MemoryOptions("pytorch"), device="cpu")
    with pytest.raises(TypeError, match="unexpected keyword argument 'devise'"):
        make_report(example_spec(), devise="cpu")
    with pytest.raises(TypeError, match="must be a MemoryOptions"):
        make_report(example_spec(), "pytorch")


# ------------------------------------------------------------------ arguments, not flags

def test_a_python_caller_is_told_the_argument():
    with pytest.raises(SymcnnError) as caught:
        make_report(example_spec(), batch_size=0)
    assert str(caught.value) == "argument 'batch_size': must be at least 1, got 0"
    with pytest.raises(SymcnnError, match=r"^argument 'sizes': Q: no such symbol"):
        make_report(example_spec(), sizes={"Q": range(1, 4)})
    with pytest.raises(SymcnnError, match=r"lecture_symbolic.toml: argument 'overrides': "
                       "Q: no such symbol"):
        symcnn.load_spec(PACKAGE.parent / "examples" / "lecture_symbolic.toml", {size("Q"): 3})


def test_the_command_line_names_the_flag(capsys):
    assert main(["report", "--batch-size", "0"]) == 2
    assert capsys.readouterr().err == "symcnn: error: --batch-size: must be at least 1, got 0\n"
    assert main(["report", "--precision", "bf16"]) == 2
    assert capsys.readouterr().err.startswith("symcnn: error: --precision: the lecture "
                                              "convention has no mixed precision")


def _message_texts(call: ast.Call):
    """The literal text of a SymcnnError's message (f-string parts included)."""
    if not call.args:
        return []
    first = call.args[0]
    nodes = first.values if isinstance(first, ast.JoinedStr) else [first]
    return [n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_no_library_error_names_a_flag():
    """Only the command line (the ``symcnn/cli/`` package) knows its flags (cli.FLAGS)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "SymcnnError":
                text = "".join(_message_texts(node))
                if text.lstrip().startswith("--") or " --" in text:
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []


def _flags_and_choices():
    flags, choices = set(), {}
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for command in sub.choices.values():
        for action in command._actions:
            flags |= set(action.option_strings)
            for s in action.option_strings:
                choices[s] = action.choices
    return flags, choices


def test_every_flag_the_cli_names_exists_and_choices_come_from_the_enums():
    flags, choices = _flags_and_choices()
    assert set(FLAGS.values()) <= flags
    fields = {f.name for f in dataclasses.fields(MemoryOptions)} - {"foreach"}
    assert fields <= set(FLAGS)                    # every option a user sets has its flag
    for flag, enum in (("--convention", Convention), ("--device", Device),
                       ("--precision", Precision), ("--optimizer", Optimizer)):
        assert list(choices[flag]) == list(enum)

"""Hostile input (issue 12): every file of ``tests/hostile/`` (one hostile input each: a
spec, or an exam family with ``# command: exam``, run with the ``# args:`` it names) gives
exit 2 and exactly the one-line error its ``# expect:`` line names, and writes nothing."""

import shlex
import signal
from pathlib import Path

import pytest

from symcnn import cli

CORPUS = sorted((Path(__file__).parent / "hostile").glob("*.toml"))


def header(path: Path) -> dict[str, str]:
    """The ``# key: value`` lines at the top of a corpus file."""
    meta = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("# "):
            break
        key, _, value = line[2:].partition(": ")
        meta[key] = value
    return meta


def run_main(argv: list[str], seconds: int = 30) -> int:
    """``symcnn.cli.main(argv)``'s exit status, with argparse's ``SystemExit`` as a status,
    and a hang as a failure."""
    def hung(*_):
        raise AssertionError(f"symcnn {' '.join(argv)[:200]} ran for more than {seconds} s")
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        return cli.main(argv)
    except SystemExit as exit_:
        return exit_.code
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_the_corpus_covers_every_class():
    names = {p.stem.split("_")[0] for p in CORPUS}
    assert len(CORPUS) >= 200
    assert {"nan", "name", "deep", "digits", "power", "degree", "repeat", "layers", "sizes",
            "variants", "tries", "invalid", "set", "batch", "option", "family", "latex"} <= names


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_hostile_input_is_one_line(path, tmp_path, capsys):
    meta = header(path)
    command = meta.get("command", "report")
    out = tmp_path / "out"
    argv = [command, str(path), *shlex.split(meta.get("args", ""))]
    if command in ("exam", "render"):
        argv += ["--out", str(out)]
    status = run_main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 2, captured.out[-300:]
    assert len(lines) == 1, captured.err[-2000:]
    assert "error: " in lines[0] and meta["expect"] in lines[0], lines[0]
    assert len(lines[0]) < 400
    assert not out.exists()


MODELS = """import os, sys
import torch.nn as nn

def sysexit():
    sys.exit(3)

def osexit():
    os._exit(7)
"""


@pytest.mark.parametrize("ref, message", [
    ("models:sysexit", "symcnn: error: calling sysexit() called sys.exit(3)\n"),
    ("models:osexit", "symcnn: error: the model's code ended the import without an answer "
                      "(exit status 7: os._exit, a signal or a crash)\n"),
    ("atimport:x", "symcnn: error: module 'atimport' called sys.exit(5) while being imported\n"),
    ("osatimport:x", "symcnn: error: the model's code ended the import without an answer "
                     "(exit status 9: os._exit, a signal or a crash)\n"),
])
def test_a_model_that_exits_cannot_end_symcnn(tmp_path, ref, message):
    import subprocess
    import sys
    pytest.importorskip("torch")
    (tmp_path / "models.py").write_text(MODELS)
    (tmp_path / "atimport.py").write_text("import sys\nsys.exit(5)\n")
    (tmp_path / "osatimport.py").write_text("import os\nos._exit(9)\n")
    done = subprocess.run([sys.executable, "-m", "symcnn", "import", ref, "--input-shape",
                           "3,8,8"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == message


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "_run", interrupted)
    assert cli.main(["report"]) == 130
    captured = capsys.readouterr()
    assert captured.err == "symcnn: interrupted\n" and captured.out == ""

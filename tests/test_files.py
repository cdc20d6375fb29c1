"""Output as a transaction (issue 12, class 7): a run's files appear together or not at all,
a later run leaves none of an earlier run's files that it does not write, and two runs into
one folder do not interleave."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import symcnn
import symcnn.exam.output as exam_output
import symcnn.files as files
import symcnn.render.documents as documents
from symcnn import SymcnnError
from symcnn.cli import main
from symcnn.exam.build import make_exam
from symcnn.exam.family import load_family
from symcnn.files import MANIFEST, OutputTransaction
from symcnn.report import make_report
from symcnn.spec.builtin import examples_dir

FAMILY = examples_dir() / "lecture_family.toml"


@pytest.fixture(scope="module")
def lecture():
    return make_report(symcnn.example_spec())


def snapshot(folder: Path) -> dict:
    """Every entry of ``folder`` (hidden ones included) with its bytes and modification time."""
    if not folder.exists():
        return {}
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def fake_compile(tex, **_):
    """Stands in for latexmk: a 'PDF' that records which source it was made from."""
    pdf = Path(tex).with_suffix(".pdf")
    pdf.write_bytes(b"%PDF " + Path(tex).read_bytes()[:40])
    return pdf


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


# ---- render -----------------------------------------------------------------------------------

def test_failed_compile_leaves_the_previous_tex_and_pdf(tmp_path, lecture, monkeypatch):
    monkeypatch.setattr(documents, "require_latexmk", lambda: "latexmk")
    monkeypatch.setattr(documents, "compile_pdf", fake_compile)
    tex, pdf = documents.render(lecture, "worksheet", tmp_path, pdf=True)
    assert (tex.name, pdf.name) == ("lecture-3d-cnn-worksheet.tex", "lecture-3d-cnn-worksheet.pdf")
    before = snapshot(tmp_path)

    def failing(tex, **_):
        Path(tex).with_suffix(".pdf").write_bytes(b"half")  # a compile that fails midway
        raise SymcnnError("LaTeX failed: Undefined control sequence", source=str(tex))

    monkeypatch.setattr(documents, "compile_pdf", failing)
    other = make_report(symcnn.example_spec(), batch_size=7)  # a different .tex
    with pytest.raises(SymcnnError) as info:
        documents.render(other, "worksheet", tmp_path, pdf=True)
    assert snapshot(tmp_path) == before  # the old pair, byte for byte; no temporary folder
    # the error names the file where it was to go, not the temporary folder
    assert str(info.value).startswith(f"{tmp_path / 'lecture-3d-cnn-worksheet.tex'}: ")


def test_render_without_pdf_removes_the_pdf_of_the_old_source(tmp_path, lecture, monkeypatch):
    monkeypatch.setattr(documents, "require_latexmk", lambda: "latexmk")
    monkeypatch.setattr(documents, "compile_pdf", fake_compile)
    documents.render(lecture, "slides", tmp_path, pdf=True)
    documents.render(lecture, "worksheet", tmp_path)  # another file: its own kind of run
    assert visible(tmp_path) == ["lecture-3d-cnn-slides.pdf", "lecture-3d-cnn-slides.tex",
                                 "lecture-3d-cnn-worksheet.tex"]
    (tex,) = documents.render(lecture, "slides", tmp_path)
    # no PDF older than its source is left beside it; the worksheet is not this run's
    assert visible(tmp_path) == ["lecture-3d-cnn-slides.tex", "lecture-3d-cnn-worksheet.tex"]
    assert tex == tmp_path / "lecture-3d-cnn-slides.tex"


# ---- exam -------------------------------------------------------------------------------------

def test_exam_with_fewer_variants_leaves_only_its_own_keys(tmp_path, capsys):
    assert main(["exam", "--variants", "5", "--seed", "1", "--out", str(tmp_path), "--moodle"]) == 0
    assert len([n for n in visible(tmp_path) if n.startswith("key-")]) == 5
    assert main(["exam", "--variants", "3", "--seed", "2", "--out", str(tmp_path)]) == 0
    names = visible(tmp_path)
    assert [n for n in names if n.startswith("key-")] == ["key-001.tex", "key-002.tex",
                                                           "key-003.tex"]
    assert "exam-004.tex" not in names and "variant-005.toml" not in names
    assert "moodle.xml" not in names  # the first run's bank belongs to other variants
    exam = make_exam(load_family(FAMILY), variants=3, seed=2)
    expected = exam_output.exam_files(exam)
    assert names == sorted(expected)
    for name, text in expected.items():
        assert (tmp_path / name).read_text() == text, name


def test_exam_keeps_files_that_are_not_its_own(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["exam", "--variants", "2", "--out", str(tmp_path)]) == 0
    assert main(["exam", "--variants", "1", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert "key-002.tex" not in visible(tmp_path)


def test_failed_exam_pdf_run_leaves_the_folder_as_it_was(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(exam_output, "require_latexmk", lambda: "latexmk")
    monkeypatch.setattr(exam_output, "compile_pdf", fake_compile)
    assert main(["exam", "--variants", "2", "--seed", "4", "--out", str(tmp_path), "--pdf",
                 "--jobs", "1"]) == 0
    assert len([n for n in visible(tmp_path) if n.endswith(".pdf")]) == 5
    before = snapshot(tmp_path)

    def third_fails(tex, **_):
        if Path(tex).name == "exam-003.tex":
            raise SymcnnError("LaTeX failed: Missing $ inserted", source=str(tex))
        return fake_compile(tex)

    monkeypatch.setattr(exam_output, "compile_pdf", third_fails)
    capsys.readouterr()
    assert main(["exam", "--variants", "4", "--seed", "5", "--out", str(tmp_path), "--pdf",
                 "--jobs", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"symcnn: error: {tmp_path / 'exam-003.tex'}: LaTeX failed: Missing $ inserted"
    assert snapshot(tmp_path) == before  # no new PDF beside old ones, no temporary folder


def test_ctrl_c_leaves_no_temporary_folder(tmp_path, monkeypatch, capsys):
    assert main(["exam", "--variants", "2", "--out", str(tmp_path)]) == 0
    before = snapshot(tmp_path)

    def interrupted(tex, **_):
        raise KeyboardInterrupt

    monkeypatch.setattr(exam_output, "require_latexmk", lambda: "latexmk")
    monkeypatch.setattr(exam_output, "compile_pdf", interrupted)
    capsys.readouterr()
    assert main(["exam", "--variants", "3", "--out", str(tmp_path), "--pdf", "--jobs", "1"]) == 130
    assert capsys.readouterr().err == "symcnn: interrupted\n"
    assert snapshot(tmp_path) == before
    new = tmp_path / "new" / "deeper"
    with pytest.raises(KeyboardInterrupt), OutputTransaction(new, "demo") as tx:
        tx.path("a.txt").write_text("a")
        raise KeyboardInterrupt
    assert not (tmp_path / "new").exists()  # the folders this run made go again


# ---- concurrent runs --------------------------------------------------------------------------

def hold_lock(folder: Path, seconds: float) -> subprocess.Popen:
    """Another process that holds ``folder``'s lock for ``seconds`` (once it printed 'held')."""
    code = textwrap.dedent(f"""
        import fcntl, os, sys, time
        fd = os.open({str(folder)!r}, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        print("held", flush=True)
        time.sleep({seconds})
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "held\n"
    return proc


def test_a_run_into_a_locked_folder_stops_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(files, "LOCK_TIMEOUT_S", 0.5)
    holder = hold_lock(tmp_path, 30)
    try:
        start = time.monotonic()
        assert main(["exam", "--variants", "1", "--out", str(tmp_path)]) == 2
        assert time.monotonic() - start >= 0.5  # it waited before it gave up
        err = capsys.readouterr().err
        assert err == (f"symcnn: error: {tmp_path}: another symcnn run is writing into this "
                       "folder (waited 0.5 s); try again when it has finished\n")
        assert list(tmp_path.iterdir()) == []  # nothing written, not even a temporary folder
    finally:
        holder.kill()
        holder.wait()


def test_a_run_waits_for_the_lock(tmp_path, lecture):
    holder = hold_lock(tmp_path, 1.0)
    try:
        start = time.monotonic()
        written = documents.render(lecture, "markdown", tmp_path)  # with its charts' SVGs
        assert time.monotonic() - start >= 0.5  # it waited for the other run to finish
        assert all(p.is_file() for p in written)
    finally:
        holder.kill()
        holder.wait()
    assert {p.name for p in tmp_path.iterdir()} == {p.name for p in written} | {MANIFEST}

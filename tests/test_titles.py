"""Title pages a lecturer sets (--title, --author, --date, --institute), titles that follow
the device, and file names that keep renders under other conventions apart."""

import pytest

import symcnn
from symcnn import make_report
from symcnn.cli import main
from symcnn.options import MemoryOptions
from symcnn.render.documents import TitlePage, render, render_string

TITLES = TitlePage("CNN Memory", "A. Lecturer", "May 2026", "Deep Learning 101 & Co")


@pytest.fixture(scope="module")
def lecture():
    return make_report(symcnn.example_spec())


def test_slides_title_page(lecture):
    tex = render_string(lecture, "slides", TITLES)
    for line in [r"\title{CNN Memory}", r"\author{A. Lecturer}",
                 r"\institute{Deep Learning 101 \& Co}", r"\date{May 2026}"]:
        assert line in tex
    assert r"\subtitle{3-D CNN of the lecture" in tex  # the network stays the subtitle


def test_defaults_leave_the_title_page_as_it_was(lecture):
    tex = render_string(lecture, "slides")
    assert r"\title{Parameters and Memory Consumption}" in tex
    assert r"\author{}" in tex and r"\date{}" in tex and r"\institute" not in tex


def test_worksheet_and_markdown_title(lecture):
    tex = render_string(lecture, "worksheet", TITLES)
    assert r"\title{CNN Memory\\[0.5ex]" in tex
    assert r"\author{A. Lecturer\\ Deep Learning 101 \& Co}" in tex and r"\date{May 2026}" in tex
    md = render_string(lecture, "markdown", TITLES)
    assert md.startswith("# CNN Memory\n")
    assert "A. Lecturer, Deep Learning 101 & Co, May 2026" in md


def test_memory_title_follows_the_device():
    spec = symcnn.example_spec()
    gpu = render_string(make_report(spec, MemoryOptions("pytorch")), "slides")
    cpu = render_string(make_report(spec, MemoryOptions("pytorch", device="cpu")), "slides")
    assert r"\begin{frame}{GPU Memory Consumption" in gpu
    assert "GPU" not in cpu and r"\begin{frame}{Memory Consumption" in cpu


def test_renders_under_other_conventions_do_not_overwrite(tmp_path):
    spec = symcnn.example_spec()
    names = set()
    for options in [MemoryOptions(), MemoryOptions("torchinfo"), MemoryOptions("pytorch"),
                    MemoryOptions("pytorch", device="cpu"),
                    MemoryOptions("pytorch", precision="bf16")]:
        (path,) = render(make_report(spec, options), "slides", tmp_path)
        names.add(path.name)
    assert names == {"lecture-3d-cnn-slides.tex", "lecture-3d-cnn-slides-torchinfo.tex",
                     "lecture-3d-cnn-slides-pytorch.tex", "lecture-3d-cnn-slides-pytorch-cpu.tex",
                     "lecture-3d-cnn-slides-pytorch-bf16.tex"}
    assert len([p for p in tmp_path.iterdir() if not p.name.startswith(".")]) == 5
    assert {p.name for p in tmp_path.iterdir() if p.name.startswith(".")} == {".symcnn.json"}


def test_cli_render_and_exam_take_the_title_options(tmp_path, capsys):
    flags = ["--title", "Quiz 3", "--author", "A. Lecturer", "--date", "May 2026",
             "--institute", "DL 101"]
    assert main(["render", "--out", str(tmp_path), *flags]) == 0
    tex = (tmp_path / "lecture-3d-cnn-slides.tex").read_text()
    assert r"\title{Quiz 3}" in tex and r"\institute{DL 101}" in tex
    assert main(["exam", "--variants", "1", "--out", str(tmp_path / "exam"), *flags]) == 0
    for name in ["exam-001.tex", "key-001.tex", "keys.tex"]:
        text = (tmp_path / "exam" / name).read_text()
        assert r"\runningheader{Quiz 3}" in text
        assert "A. Lecturer --- DL 101 --- May 2026" in text


def test_exam_title_defaults_to_the_family(tmp_path):
    assert main(["exam", "--variants", "1", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "exam-001.tex").read_text()
    assert r"\runningheader{Parameters and Memory of a 3-D CNN}" in text
    assert " --- " not in text.split(r"\begin{document}")[1].split("Variant")[0]

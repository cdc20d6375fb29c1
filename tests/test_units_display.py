"""Units in documents (issue 11, items 8 and 10): B, kB, KiB and ``auto``, fixed significant
figures, no exponent notation; ``--pdf`` with Markdown refused before anything is written."""

import re

import pytest

import symcnn
from symcnn import SymcnnError, make_report, parse_spec
from symcnn.cli import main
from symcnn.render.documents import render, render_string
from symcnn.render.textreport import render_text
from symcnn.units import canonical_unit, format_bytes, parse_size

LENET = """
name = "lenet"
[input]
shape = [1, 28, 28]
[[layers]]
type = "Conv2d"
out_channels = 6
kernel_size = 5
padding = 2
[[layers]]
type = "MaxPool2d"
kernel_size = 2
[[layers]]
type = "Conv2d"
out_channels = 16
kernel_size = 5
[[layers]]
type = "Flatten"
[[layers]]
type = "Linear"
out_features = 10
"""
EXPONENT = re.compile(r"\d[eE][-+]?\d")


@pytest.mark.parametrize("text, unit, nbytes", [("3kB", "kB", 3000), ("3KB", "kB", 3000),
                                                ("3KiB", "KiB", 3072), ("3 b", "B", 3)])
def test_small_units_read_and_named(text, unit, nbytes):
    assert parse_size(text) == nbytes
    assert canonical_unit(text[1:].strip()) == unit


@pytest.mark.parametrize("nbytes, expected", [
    (4, "4 B"), (999, "999 B"), (1000, "1.000 kB"), (4704, "4.704 kB"),
    (13_206_604, "13.21 MB"), (2_937_313_940, "2.937 GB"), (999_960_000, "1.000 GB")])
def test_auto_takes_the_largest_unit_at_least_one_with_four_figures(nbytes, expected):
    # by hand: 4704 B = 4.704 kB; 2,937,313,940 B = 2.937313940 GB -> 2.937 GB
    assert format_bytes(nbytes, "auto") == expected


@pytest.mark.parametrize("nbytes, unit, expected", [
    (4, "MB", "0.0000040 MB"), (4704, "MB", "0.0047 MB"), (40, "MB", "0.000040 MB"),
    (18_816, "MB", "0.02 MB"), (1536, "KiB", "1.50 KiB"), (3, "kB", "0.0030 kB")])
def test_a_fixed_unit_never_uses_exponents(nbytes, unit, expected):
    assert format_bytes(nbytes, unit) == expected


@pytest.mark.parametrize("units", ["B", "kB", "KiB", "MB", "auto"])
def test_no_exponent_in_any_document(units):
    report = make_report(parse_spec(LENET), units=units)
    for text in [render_text(report), *(render_string(report, t)
                                         for t in ("slides", "worksheet", "markdown"))]:
        assert not EXPONENT.search(text), EXPONENT.search(text)


def test_auto_in_the_text_report():
    report = make_report(parse_spec(LENET), units="auto")
    text = render_text(report)
    # the input: 1*28*28 floats = 3,136 B = 3.136 kB
    assert "I_1 = 3.136 kB" in text
    assert "kB = 10^3, MB = 10^6, GB = 10^9 bytes" in text


def test_a_symbolic_report_gives_every_figure_in_bytes():
    text = render_text(make_report(symcnn.example_spec("lecture_symbolic")))
    assert "I_10 = 4 B" in text and "MB" not in text


def test_pdf_of_markdown_is_refused_before_writing(tmp_path, capsys):
    report = make_report(parse_spec(LENET))
    with pytest.raises(SymcnnError):
        render(report, "markdown", tmp_path, pdf=True)
    assert list(tmp_path.iterdir()) == []
    out = tmp_path / "cli"
    assert main(["render", "--template", "markdown", "--pdf",
                 "--out", str(out)]) == 2
    assert not out.exists() or list(out.iterdir()) == []

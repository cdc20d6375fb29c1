"""Moodle and CSV output of hostile names (issue 12, class 5): control characters leave
the bank well-formed, Moodle's embedded-answer syntax in a name adds no answer field, and a
name that a spreadsheet would run as a formula is written as text (OWASP)."""

import csv
import io
import re
import xml.etree.ElementTree as ET

import pytest

from symcnn.cli import main
from symcnn.exam.build import make_exam
from symcnn.exam.family import load_family
from symcnn.exam.moodle import moodle_xml
from symcnn.exam.output import answers_csv, csv_cell
from symcnn.spec.builtin import examples_dir

CLOZE_NAME = "{1:NUMERICAL:=5:0}{:SHORTANSWER:=x}"
FORMULA_NAME = '=HYPERLINK("http://evil/", "click")'
CONTROL_NAME = "@SUM(1)\u0007\u001b[31m\u0000"
#: Moodle's own pattern of an embedded answer (question/type/multianswer/questiontype.php)
EMBEDDED = re.compile(r"\{[0-9]*:(?:NUMERICAL|NM|SHORTANSWER|SA|MW|MULTICHOICE|MC|MULTIRESPONSE"
                      r"|MR|MCV|MCH|MCS|MCVS|MCHS|MRS|MRH|MRHS|MRVS):", re.I)


@pytest.fixture(scope="module")
def exam(tmp_path_factory):
    text = (examples_dir() / "lecture_family.toml").read_text()
    toml_str = lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"')  # noqa: E731
    text = (text.replace('"L4"', toml_str(CLOZE_NAME) + '"')
            .replace('"L3"', toml_str(FORMULA_NAME) + '"')
            .replace('"L2"', toml_str(CONTROL_NAME).replace("\u0007", "\\u0007")
                     .replace("\u001b", "\\u001b").replace("\u0000", "\\u0000") + '"'))
    path = tmp_path_factory.mktemp("family") / "family.toml"
    path.write_text(text)
    return make_exam(load_family(path), 2, seed=3)


def test_moodle_bank_is_well_formed_xml(exam):
    root = ET.fromstring(moodle_xml(exam).encode("utf-8"))
    assert root.tag == "quiz"
    assert "@SUM(1)[31m" in moodle_xml(exam)  # the name, its control characters left out


def test_a_name_adds_no_embedded_answer_field(exam):
    root = ET.fromstring(moodle_xml(exam).encode("utf-8"))
    clozes = root.findall("question[@type='cloze']")
    assert len(clozes) == 2 * 2  # output_shape and symbolic_total, two variants
    questions = {(v.index, q.number): q for v in exam.variants for q in v.questions}
    for el in clozes:
        text = el.find("questiontext/text").text
        name = el.find("name/text").text  # "<family> v001 q4 output_shape"
        v, q = re.search(r"v(\d+) q(\d+)", name).groups()
        question = questions[(int(v), int(q))]
        fields = (len(question.answer.value) if question.answer.form == "shape"
                  else len(question.work.coefficients))
        assert len(EMBEDDED.findall(text)) == fields  # only the fields symcnn wrote
    assert "&#123;1:NUMERICAL:=5:0&#125;" in moodle_xml(exam).replace("&amp;", "&")


def test_csv_cells_are_never_formulas(exam):
    rows = list(csv.DictReader(io.StringIO(answers_csv(exam))))
    layers = {r["layer"] for r in rows}
    assert "'" + FORMULA_NAME in layers and FORMULA_NAME not in layers
    assert any(name.startswith("'@SUM(1)") for name in layers)
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "@", "\t", "\r")) \
                and (not cell.startswith("-") or re.fullmatch(r"-[0-9.]+", cell)), row


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+1+1", "'+1+1"), ("-1+1", "'-1+1"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("-3", "-3"), ("-2.5", "-2.5"), ("conv=1", "conv=1"),
    (12, 12),
])
def test_csv_cell(value, expected):
    assert csv_cell(value) == expected


def test_cli_exam_with_hostile_names(exam, tmp_path):
    out = tmp_path / "out"
    assert main(["exam", exam.family.source, "--variants", "1", "--out", str(out),
                 "--moodle"]) == 0
    ET.parse(out / "moodle.xml")
    rows = list(csv.DictReader(io.StringIO((out / "answers.csv").read_text())))
    assert rows[0]["layer"] == "'" + FORMULA_NAME

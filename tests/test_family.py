"""Question families: draws (inclusive ranges, choices, reproducible streams), the TOML a
draw makes, and one-line errors for every malformed part of a family file."""

import textwrap
import tomllib

import pytest

from symcnn import SymcnnError
from symcnn.exam.build import make_exam
from symcnn.exam.family import KINDS, load_family, parse_family
from symcnn.spec.builtin import examples_dir

EXAMPLE = examples_dir() / "lecture_family.toml"

BASE = """
name = "t"
[variables]
C = {choices = [4, 8]}
[input]
shape = [1, {range = [8, 12, 2]}, 8]
[[layers]]
type = "Conv2d"
name = "conv"
out_channels = "C"
kernel_size = 3
"""
QUESTION = """
[[exam.questions]]
kind = "total_params"
"""


def family(text=BASE + QUESTION):
    return parse_family(textwrap.dedent(text), "fam.toml")


def test_example_family_loads():
    fam = load_family(EXAMPLE)
    assert {q.kind for q in fam.exam.questions} == set(KINDS)
    assert fam.kept_symbols == ("C",)
    assert fam.exam.title == "Parameters and Memory of a 3-D CNN"


def test_range_stop_is_inclusive_and_choices_are_all_drawn():
    fam = family()
    seen_sizes, seen_c = set(), set()
    for index in range(1, 60):
        first = next(fam.candidates(seed=3, index=index))
        seen_sizes.add(first.draws["input.shape[2]"])
        seen_c.add(first.values["C"])
    assert seen_sizes == {8, 10, 12}
    assert seen_c == {4, 8}


def test_streams_are_reproducible_per_seed_and_variant():
    fam = family()
    a = [c.draws for c in fam.candidates(seed=1, index=4)]
    b = [c.draws for c in fam.candidates(seed=1, index=4)]
    assert a == b and len(a) == fam.tries
    assert [c.attempt for c in fam.candidates(seed=1, index=4)][:3] == [1, 2, 3]
    others = {str(next(fam.candidates(seed=s, index=4)).draws) for s in range(20)}
    assert len(others) > 1


def test_candidate_spec_is_the_family_with_values_put_in():
    first = next(family().candidates(seed=2, index=1))
    data = tomllib.loads(first.text)
    assert data["input"]["shape"] == [1, first.draws["input.shape[2]"], 8]
    assert data["layers"][0] == {"type": "Conv2d", "name": "conv", "out_channels": "C",
                                 "kernel_size": 3}
    net = first.network()
    assert net.nodes[0].layer.out_channels == first.values["C"]
    assert str(first.network(keep=("C",)).nodes[0].layer.out_channels) == "C"


def test_draws_anywhere_in_lists_and_layer_fields():
    fam = family(BASE.replace("kernel_size = 3", "kernel_size = [3, {choices = [1, 3]}]")
                 + QUESTION)
    first = next(fam.candidates(seed=0, index=1))
    assert first.draws["layers[1].kernel_size[2]"] in (1, 3)


def bad(body: str, expected: str):
    with pytest.raises(SymcnnError) as info:
        family(body)
    message = str(info.value)
    assert message.startswith("fam.toml: "), message
    assert expected in message, message
    assert "\n" not in message


@pytest.mark.parametrize("body, expected", [
    ("published = 1\n" + BASE + QUESTION, "field 'published': unknown top-level key"),
    (BASE.replace("[4, 8]", "[4, 8], range = [1, 2, 1]") + QUESTION,
     "field 'C': a draw is {choices = [...]} or {range = [start, stop, step]}"),
    (BASE.replace("{range = [8, 12, 2]}", "{range = [8, 12]}") + QUESTION,
     "field 'input.shape[2]': range must be three whole numbers"),
    (BASE.replace("{range = [8, 12, 2]}", "{range = [12, 8, 2]}") + QUESTION,
     "needs step >= 1 and start <= stop"),
    (BASE.replace("{range = [8, 12, 2]}", "{range = [8, 12, 0]}") + QUESTION,
     "needs step >= 1"),
    (BASE.replace("{range = [8, 12, 2]}", "{choices = []}") + QUESTION,
     "choices must be a non-empty list"),
    (BASE.replace("[4, 8]", "[4, 8.5]") + QUESTION,
     "field 'C': a variable's choices must be whole numbers"),
    (BASE.replace('C = {choices = [4, 8]}', 'C = "x"') + QUESTION,
     "variables: field 'C': must be a whole number or a draw"),
    (BASE, "field 'exam': no [exam] table"),
    (BASE + "[exam]\ntitle = 'x'\n", "exam: field 'questions': no [[exam.questions]] given"),
    (BASE + "[exam]\ntitel = 'x'\n", "exam: field 'titel': unknown field"),
    (BASE + '[[exam.questions]]\nkind = "flops"\n',
     "question 1: field 'kind': unknown kind 'flops' (known: params, total_params"),
    (BASE + QUESTION + '[[exam.questions]]\nkind = "params"\n',
     "question 2 (params): field 'layer': missing"),
    (BASE + '[[exam.questions]]\nkind = "total_params"\nlayer = "conv"\n',
     "question 1 (total_params): field 'layer': not a field of a total_params question"),
    (BASE + '[[exam.questions]]\nkind = "max_batch"\n',
     "question 1 (max_batch): field 'memory': missing"),
    (BASE + '[[exam.questions]]\nkind = "max_batch"\nmemory = "lots"\n',
     "question 1 (max_batch): field 'memory': cannot read memory size 'lots'"),
    (BASE + '[[exam.questions]]\nkind = "training_memory"\nunit = "MiBB"\n',
     "question 1 (training_memory): field 'unit': unknown unit 'MiBB'"),
    (BASE + '[[exam.questions]]\nkind = "training_memory"\ndecimals = 9\n',
     "field 'decimals': must be a whole number from 0 to 6, got 9"),
    (BASE + '[[exam.questions]]\nkind = "training_memory"\nbatch_size = 0\n',
     "field 'batch_size': must be a whole number >= 1, got 0"),
    (BASE + '[[exam.questions]]\nkind = "total_params"\nchoices = 1\n',
     "field 'choices': a multiple-choice question needs at least 2 choices"),
    (BASE + '[[exam.questions]]\nkind = "total_params"\nchoices = 9\n',
     "field 'choices': must be a whole number from 0 to 8, got 9"),
    (BASE + '[[exam.questions]]\nkind = "total_params"\npoints = 0\n',
     "field 'points': must be a whole number >= 1, got 0"),
    (BASE + '[[exam.questions]]\nkind = "symbolic_total"\nsymbol = "D"\n',
     "question 1 (symbolic_total): field 'symbol': must name a drawn variable (the "
     "[variables]: C)"),
    (BASE + QUESTION + "[draw]\nexact_division = 1\n",
     "draw: field 'exact_division': expected true or false"),
    (BASE + QUESTION + "[draw]\ntries = 0\n", "draw: field 'tries': must be a whole number"),
    (BASE + QUESTION + "[draw]\nretries = 3\n", "field 'draw': a table with exact_division"),
    ("name = 't'\n[input\n", "invalid TOML"),
])
def test_bad_family_is_one_line(body, expected):
    bad(body, expected)


def test_unreadable_family(tmp_path):
    with pytest.raises(SymcnnError, match="missing.toml: cannot read family"):
        load_family(tmp_path / "missing.toml")
    path = tmp_path / "latin1.toml"
    path.write_bytes(b"name = '\xe9'\n")
    with pytest.raises(SymcnnError, match="not a UTF-8 text file"):
        load_family(path)


def test_undrawn_and_unused_variables_are_named():
    fam = family(BASE.replace('out_channels = "C"', 'out_channels = "K"') + QUESTION)
    with pytest.raises(SymcnnError, match="^fam.toml: field 'variables': 'K' is used but not "
                       "drawn: add it to \\[variables\\]$"):
        next(fam.candidates(0, 1)).check_variables()
    fam = family(BASE.replace("[variables]", "[variables]\nE = 3") + QUESTION)
    with pytest.raises(SymcnnError, match="'E' is drawn but no size uses it"):
        make_exam(fam)

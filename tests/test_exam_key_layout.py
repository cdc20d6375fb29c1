"""The answer key's layout: a lone kernel size ``k`` in the feedback is math, and a ResNet's
total MACs are written compactly, each computation once with how many layers make it."""

from __future__ import annotations

import re

import pytest

from symcnn.analysis.macs import count_macs
from symcnn.analysis.rows import analyze
from symcnn.exam.build import make_exam
from symcnn.exam.family import parse_family
from symcnn.exam.output import exam_files
from symcnn.files import shipped_dir
from symcnn.render.latex import prose_with_symbols


def test_a_lone_kernel_size_in_feedback_is_math():
    assert prose_with_symbols("kernel volume k instead of k^2 in every layer") == \
        r"kernel volume $k$ instead of $k^{2}$ in every layer"
    # a k inside a word or a name stays text; other text is still escaped
    assert prose_with_symbols("rank_k & kb, layer k.1") == r"rank\_k \& kb, layer k.1"


@pytest.fixture(scope="module")
def resnet18_key():
    spec = (shipped_dir("examples", "lecture.toml") / "resnet18.toml").read_text()
    family = parse_family(spec + '[[exam.questions]]\nkind = "macs"\nchoices = 4\n'
                          '[[exam.questions]]\nkind = "params"\nlayer = "layer1.0.conv1"\n'
                          'choices = 4\n', "resnet18")
    exam = make_exam(family, variants=1)
    return exam, exam_files(exam)["key-001.tex"]


def _number(tex: str) -> int:
    return int(tex.replace("{,}", "").strip("$ "))


def test_resnet18_total_macs_fit_a_page(resnet18_key):
    """Every layer that counts is in one row of the table, each row's count times its MACs is
    its total, and the totals sum to the whole network's count (count_macs, checked against
    fvcore in test_macs.py): 20 rows for 42 layers, not a 14-line sum of 42 terms."""
    exam, key = resnet18_key
    analysis = analyze(exam.variants[0].report.network)
    counting = [r for r in analysis.rows if r.type_name in
                ("Conv2d", "BatchNorm2d", "Linear", "AdaptiveAvgPool2d")]
    rows = re.findall(r"^(.+) & \$[^$]* = ([0-9{},]+)\$ & \$(\d+)\$ & \$([0-9{},]+)\$ \\\\$",
                      key, re.M)
    assert rows
    assert all(_number(each) * int(n) == _number(together) for _, each, n, together in rows)
    assert sum(int(n) for _, _, n, _ in rows) == len(counting) == 42
    total = int(count_macs(analysis).total)
    assert sum(_number(together) for *_, together in rows) == total
    assert f"= {total:,}".replace(",", "{,}") in key
    assert len(rows) <= 25  # a page at \small
    assert not re.search(r"\\\\ &\\quad", key.split("How many multiply")[1].split("\\question")[0])


def test_resnet18_feedback_sets_k_as_math(resnet18_key):
    _, key = resnet18_key
    assert "kernel volume $k$ instead of $k^{2}$" in key
    assert not re.search(r"volume k ", key)

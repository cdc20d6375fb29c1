"""Printed figures are checked at the precision they were printed with."""

import pytest

from symcnn import SymcnnError, analyze, estimate_memory, parse_spec
from symcnn.published import check_published

SPEC = """
name = "tiny"
[input]
shape = [1, 10]
[[layers]]
type = "Linear"
name = "fc"
out_features = 1000
"""  # 11,000 parameters; I_2 = 4,000 B


def checks(published):
    spec = parse_spec(SPEC)
    a = analyze(spec.network)
    return check_published(published, a, estimate_memory(a))


@pytest.mark.parametrize("printed, agrees", [
    ("0.004 MB", True), ("0.0040 MB", True), ("4e-3 MB", True), ("4000 B", True),
    ("3.91 KiB", True), ("3.9 KiB", True), ("3.92 KiB", False), ("4 KiB", True),
    ("0.005 MB", False), ("4.0e-3 MB", True), ("4.1e-3 MB", False),
])
def test_rounding(printed, agrees):
    (c,) = checks({"memory": {"I_2": printed}})
    assert c.agrees is agrees


def test_counts_exact():
    assert [c.agrees for c in checks({"total_params": 11000, "params": {"fc": "11,000"}})] \
        == [True, True]
    assert not checks({"total_params": 11001})[0].agrees


@pytest.mark.parametrize("published, message", [
    ({"params": {"nope": 3}}, "published.params.nope"),
    ({"memory": {"I_9": "1 MB"}}, "no memory term of that name"),
    ({"memory": {"I_2": "4 parsecs"}}, "unknown unit"),
    ({"memory": {"I_2": "lots"}}, "cannot read 'lots'"),
    ({"flops": 3}, "unknown entry"),
])
def test_bad_published(published, message):
    with pytest.raises(SymcnnError, match=message):
        checks(published)

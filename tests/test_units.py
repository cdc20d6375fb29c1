import pytest

from symcnn import SymcnnError, parse_size
from symcnn.units import canonical_unit, format_bytes


@pytest.mark.parametrize("text, expected", [
    ("12GB", 12 * 10**9), ("12 GB", 12 * 10**9), ("11GiB", 11 * 2**30), ("80gb", 80 * 10**9),
    ("512MiB", 512 * 2**20), ("1.5GB", 1_500_000_000), ("4096", 4096), ("4096B", 4096),
    ("2TB", 2 * 10**12), (1000, 1000),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "GB", "12 XB", "-1GB", "0", "1e9", "twelve"])
def test_parse_size_refuses(text):
    with pytest.raises(SymcnnError):
        parse_size(text)


def test_format_bytes_labels_units():
    assert format_bytes(13_206_604, "MB") == "13.21 MB"
    assert format_bytes(13_206_604, "MiB") == "12.59 MiB"
    assert format_bytes(2_937_313_940, "GB") == "2.94 GB"
    assert format_bytes(4, "MB") == "0.0000040 MB"  # 4 B, written out (issue 11: no exponents)
    assert format_bytes(0, "MB") == "0.00 MB"
    assert format_bytes(1234, "B") == "1,234 B"


def test_canonical_unit():
    assert canonical_unit("mib") == "MiB"
    with pytest.raises(SymcnnError):
        canonical_unit("MiG")

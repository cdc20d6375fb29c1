"""The one-line error message: what it keeps whole and what it shortens."""

from symcnn.errors import NAME_WIDTH, SymcnnError


def test_a_long_path_with_a_quote_is_shown_whole():
    # a quote in the file's path must not pair with a quote in the message and hide what
    # lies between them
    path = "/home/o'brien/" + "d" * 80 + "/spec.toml"
    line = str(SymcnnError("unknown field 'x'", source=path, layer="layer 2 (Conv3d)"))
    assert line == f"{path}: layer 2 (Conv3d): unknown field 'x'"


def test_a_long_quoted_name_is_shortened_and_the_rest_kept():
    name = "block." * 30 + "conv"
    line = str(SymcnnError(f"layer '{name}' is not defined", field="inputs"))
    quoted = line.split("'")[3]
    assert len(quoted) == NAME_WIDTH and quoted.startswith("block.") and quoted.endswith("conv")
    assert line.startswith("field 'inputs': layer '") and line.endswith("' is not defined")


def test_a_message_stays_one_line():
    line = str(SymcnnError("bad\nvalue\r\tx", source="a\nb.toml"))
    assert "\n" not in line and "\r" not in line
    assert line == "a b.toml: bad value  x"

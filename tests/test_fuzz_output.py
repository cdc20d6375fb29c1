"""Hostile input against symcnn's outputs (issue 12, continued): hypothesis writes names,
descriptions, symbols and arguments; a document, a JSON report or a text report is written
from them, or one ``SymcnnError`` line is; never another exception, never a hang, and no
user text reaches LaTeX or Markdown unescaped (pdflatex, without shell escape, judges)."""

import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sympy.printing.latex import greek_letters_set, modifier_dict, other_symbols

from tests.test_hostile import run_main

HAVE_TEX = shutil.which("latexmk") is not None
needs_tex = pytest.mark.skipif(not HAVE_TEX, reason="latexmk not installed")
FEW = settings(max_examples=4, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

#: Pieces of symbol names that sympy's LaTeX printer turns into commands: a Greek letter,
#: a sign (``hbar``), a modifier at the end (``Xbar``, ``Hscr``), ``_`` and ``__`` for sub-
#: and superscripts.
PIECES = sorted(greek_letters_set | set(other_symbols) | set(modifier_dict)) + \
    ["x", "H", "C", "_", "__", "1"]
SYMBOL_NAMES = st.lists(st.sampled_from(PIECES), min_size=1, max_size=4).map(
    lambda parts: "S" + "".join(parts)).filter(lambda n: not n.endswith("_"))


def spec_text(out_channels: str, name: str = "fuzz", description: str = "") -> str:
    from tomli_w import dumps
    return dumps({"name": name, "description": description, "input": {"shape": [3, 8, 8]},
                  "layers": [{"type": "Conv2d", "out_channels": out_channels, "kernel_size": 3},
                             {"type": "Flatten"}, {"type": "Linear", "out_features": 2}]})


@needs_tex
@FEW
@given(st.lists(SYMBOL_NAMES, min_size=8, max_size=16, unique=True))
def test_any_symbol_name_compiles(tmp_path_factory, names):
    """A spec's symbol is typeset by sympy's printer: ``Hscr`` was ``\\mathscr{H}``, which
    the templates' packages (amsmath, amssymb) do not define, so pdflatex stopped."""
    tmp = tmp_path_factory.mktemp("symbols")
    spec = tmp / "s.toml"
    spec.write_text(spec_text(" + ".join(names)), encoding="utf-8")
    assert run_main(["render", str(spec), "-t", "worksheet", "--out", str(tmp / "out"),
                     "--pdf"], seconds=120) == 0
    assert (tmp / "out" / "fuzz-worksheet.pdf").stat().st_size > 0


@needs_tex
def test_a_script_modifier_compiles(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text(spec_text("Cscr + xhatscr + yscr_zcal"), encoding="utf-8")
    assert run_main(["render", str(spec), "-t", "worksheet", "--out", str(tmp_path / "out"),
                     "--pdf"], seconds=120) == 0, capsys.readouterr().err


#: Any character a TOML string can hold, the controls and format characters included.
ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)


@FEW
@given(st.lists(ANY_TEXT, min_size=1, max_size=3, unique=True))
def test_svg_charts_stay_xml_whatever_the_layer_names(tmp_path_factory, names):
    """The Markdown's charts label the bars with the layer names: an escape or a backspace
    in one made the SVG file ill-formed (XML 1.0 has no such characters)."""
    pytest.importorskip("matplotlib")
    from tomli_w import dumps
    from xml.dom.minidom import parseString
    tmp = tmp_path_factory.mktemp("svg")
    layers = [{"type": "Conv2d", "out_channels": 2, "kernel_size": 1, "name": n} for n in names]
    spec = tmp / "s.toml"
    spec.write_text(dumps({"name": "svg", "input": {"shape": [1, 4, 4]}, "layers": layers}),
                    encoding="utf-8")
    status = run_main(["render", str(spec), "-t", "markdown", "--out", str(tmp / "out")])
    if status == 2:  # two names the same once made one line, or a name symcnn refuses
        return
    assert status == 0
    svgs = sorted((tmp / "out").glob("*.svg"))
    assert len(svgs) == 3
    for svg in svgs:
        parseString(svg.read_bytes())  # raises on a character XML does not allow


def test_an_escape_in_a_layer_name_leaves_the_svg_well_formed(tmp_path):
    pytest.importorskip("matplotlib")
    from xml.dom.minidom import parseString
    spec = tmp_path / "s.toml"
    spec.write_text('name = "n"\n[input]\nshape = [1, 4, 4]\n[[layers]]\ntype = "Conv2d"\n'
                    'name = "c\\u001b[2J\\b\\uffff"\nout_channels = 2\nkernel_size = 1\n',
                    encoding="utf-8")
    assert run_main(["render", str(spec), "-t", "markdown", "--out", str(tmp_path)]) == 0
    for svg in tmp_path.glob("*.svg"):
        text = svg.read_bytes()
        parseString(text)
        assert b"c[2J" in text or svg.name.endswith("memory.svg")

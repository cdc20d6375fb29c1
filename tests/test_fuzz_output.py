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


def sympy_rational(p: int, q: int):
    import sympy
    return sympy.Rational(p, q)

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


HUGE = st.one_of(st.integers(1, 10**8), st.sampled_from([10**8, 10**8 - 1, 10**8 + 1, 99_999_989]))
SPREADING_LAYERS = st.one_of(
    st.builds(lambda k, s, d: {"type": "ConvTranspose1d", "out_channels": 1, "kernel_size": k,
                               "stride": s, "dilation": d}, HUGE, HUGE, st.integers(1, 5)),
    st.builds(lambda n: {"type": "AdaptiveAvgPool1d", "output_size": n}, HUGE),
    st.builds(lambda n, m: {"type": "Upsample", "size": n, "mode": m}, HUGE,
              st.sampled_from(["nearest", "linear", "nearest-exact"])),
    st.builds(lambda f: {"type": "Upsample", "scale_factor": f}, st.sampled_from([1.5, 2.5, 0.3])),
    st.builds(lambda k, s: {"type": "MaxPool1d", "kernel_size": k, "stride": s},
              st.integers(1, 9), st.integers(1, 9)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 10**8), st.lists(SPREADING_LAYERS, min_size=1, max_size=3))
def test_receptive_fields_take_bounded_time(length, layers):
    """Receptive fields after layers whose field differs by output element (a transposed
    convolution, an upsampling, an adaptive pooling that does not divide) were followed
    element by element: an adaptive pooling of 10^6 positions to 7, a kernel or a stride of
    10^8 ran for minutes.  Now: a field, or an unknown one ('?'), within seconds."""
    from tomli_w import dumps

    from symcnn import SymcnnError, analyze, parse_spec, receptive_fields
    text = dumps({"name": "wide", "input": {"shape": [1, length]}, "layers": layers})
    seconds = 20

    def hung(*_):
        raise AssertionError(f"receptive fields ran for more than {seconds} s: {layers}")
    import signal
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        fields = receptive_fields(analyze(parse_spec(text, "wide.toml").network))
    except SymcnnError as err:
        assert "\n" not in str(err)
        return
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert len(fields) == len(layers)


@pytest.mark.parametrize("layer, field", [
    # bins floor(i n/7) to ceil((i + 1) n/7) - 1 of n = 1,000,001: at most ceil(n/7) + 1 wide
    ({"type": "AdaptiveAvgPool1d", "output_size": 7}, (142_859, sympy_rational(1_000_001, 7))),
    # output o reads the inputs i = (o - t)/2 for the 10^6 taps t: 500,000 of them
    ({"type": "ConvTranspose1d", "out_channels": 1, "kernel_size": 10**6, "stride": 2},
     (500_000, sympy_rational(1, 2))),
])
def test_wide_fields_are_exact(layer, field):
    from tomli_w import dumps

    from symcnn import analyze, parse_spec, receptive_fields
    text = dumps({"name": "wide", "input": {"shape": [1, 1_000_001]}, "layers": [layer]})
    axis, = receptive_fields(analyze(parse_spec(text).network))[0]
    assert (axis.size, axis.jump) == field


@FEW
@given(st.lists(st.integers(10**35, 10**39 - 1), min_size=8, max_size=9),
       st.sampled_from(["markdown", "worksheet", "slides", "exercise"]))
def test_documents_of_enormous_networks(tmp_path_factory, capsys, shape, template):
    """The charts' coordinates are floats: a training memory beyond 10^308 bytes (nine axes
    of 10^39) stopped every document with an OverflowError.  Now the charts say why they
    are not drawn, and the rest of the document is written."""
    from tomli_w import dumps
    tmp = tmp_path_factory.mktemp("huge")
    spec = tmp / "s.toml"
    spec.write_text(dumps({"name": "huge", "input": {"shape": shape},
                           "layers": [{"type": "ReLU"}]}), encoding="utf-8")
    status = run_main(["render", str(spec), "-t", template, "--out", str(tmp / "out")])
    err = capsys.readouterr().err
    assert status == 0, err


@needs_tex
def test_a_document_beyond_a_floats_range_compiles(tmp_path, capsys):
    from tomli_w import dumps
    spec = tmp_path / "s.toml"
    spec.write_text(dumps({"name": "huge", "input": {"shape": [10**39 - 1] * 9},
                           "layers": [{"type": "ReLU"}]}), encoding="utf-8")
    assert run_main(["render", str(spec), "-t", "worksheet", "--out", str(tmp_path),
                     "--pdf"], seconds=120) == 0, capsys.readouterr().err
    assert run_main(["render", str(spec), "-t", "markdown", "--out", str(tmp_path)]) == 0
    markdown = (tmp_path / "huge-markdown.md").read_text(encoding="utf-8")
    assert "are not drawn: the training memory is more than 10^300 TB" in markdown
    assert not list(tmp_path.glob("*.svg"))


MODEL = "import torch.nn as nn\n\ndef net():\n    return nn.Sequential(nn.Conv1d(1, 2, 1), nn.ReLU())\n"


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.integers(1, 16), st.integers(2**63 - 2, 10**45)), min_size=2,
                max_size=2))
def test_import_input_shapes(tmp_path, monkeypatch, capsys, shape):
    """A size past an int64 reached torch.empty inside the trace: "importing the model failed:
    TypeError: ... Overflow when unpacking long long".  Now the flag is named."""
    pytest.importorskip("torch")
    (tmp_path / "fuzzmodels.py").write_text(MODEL)
    monkeypatch.chdir(tmp_path)
    text = ",".join(map(str, shape))
    status = run_main(["import", "fuzzmodels:net", "--input-shape", text], seconds=120)
    captured = capsys.readouterr()
    if max(shape) > 2**63 - 1:
        assert status == 2 and captured.err.startswith("symcnn: error: --input-shape: ")
        assert "a size of more than 2^63 - 1" in captured.err and captured.err.count("\n") == 1
    else:  # a spec, or PyTorch's own one line (a storage of more than 2^63 bytes)
        assert status == 0 or captured.err.count("\n") == 1, captured.err


SUMS = st.lists(st.sampled_from(["C", "D", "H", "W", "E", "1", "2*C"]), min_size=1,
                max_size=5).map(lambda terms: "(" + " + ".join(terms) + ")")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SUMS, st.integers(0, 64))
def test_an_expression_that_multiplies_out_to_many_terms_is_refused(base, exponent):
    """``(C + D + H + W)**64`` was within the digits and the degree allowed, yet sympy's
    expansions of the sizes it reached ran for minutes.  Now it is one line, or a value
    with at most 1,000 terms once multiplied out, and the spec is read within seconds."""
    import math
    import signal

    import sympy

    from symcnn import SymcnnError, parse_spec
    text = ('name = "t"\n[input]\nshape = [1, 8, 8]\n[[layers]]\ntype = "Conv2d"\n'
            f'out_channels = "{base}**{exponent}"\nkernel_size = 3\n')

    def hung(*_):
        raise AssertionError(f"reading {base}**{exponent} took more than 20 s")
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        spec = parse_spec(text, "t.toml")
        channels = spec.network.nodes[0].layer.out_channels
        assert len(sympy.expand(channels).as_ordered_terms()) <= 1_000
    except SymcnnError as err:
        # independently: the monomials of degree n in t distinct symbols (and 1)
        parts = {t.replace("2*C", "C") for t in base.strip("()").split(" + ")}
        distinct = len(parts)  # the symbols, and 1 where a constant is among them
        assert math.comb(exponent + distinct - 1, distinct - 1) > 1_000 \
            or "degree" in str(err), str(err)
        assert "terms once multiplied out" in str(err) or "degree" in str(err)
        assert str(err).startswith("t.toml: layer 1 (Conv2d): field 'out_channels': ")
        return
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_the_kernel_rules_of_an_enormous_convolution_end(tmp_path):
    """A 1x1 convolution on a 1 x 10^37 map under PyTorch's convention on the CPU: oneDNN's
    blocking search (``best_divider``) stepped through the whole width and never ended; past
    ``RULE_SIZE_LIMIT`` the rules are not evaluated.  The saved input and output still count:
    3 and 4 channels of 10^37 fp32 elements, 28 x 10^37 B per sample at least."""
    import signal

    from symcnn import analyze, parse_spec
    from symcnn.memory.pytorch.timeline import peak, training_moments

    spec = parse_spec('[input]\nshape = [3, 1, 10000000000000000000000000000000000000]\n'
                      '[[layers]]\ntype = "Conv2d"\nname = "c"\nout_channels = 4\n'
                      'kernel_size = 1\n')

    def hung(*_):
        raise AssertionError("the kernel rules ran for more than 20 s")
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        moments = training_moments(analyze(spec.network), device="cpu", batch=1, cpu="AVX2")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert int(peak(moments, 1)) >= 28 * 10**37

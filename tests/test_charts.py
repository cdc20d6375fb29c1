"""Charts: memory against batch size with each budget and its largest batch, and each layer's
share of the parameters and of the stored activations, as pgfplots in the slides and the
worksheet and as SVG (matplotlib) for Markdown and notebooks.

The figures asserted are the lecture's own (its slides: M(1) = 2,937.31 MB, c = 26,413,208 B,
a = 2,910,900,732 B per sample, N = 3,301,651 with L8 = 1,555,440) and PyTorch's counts
(torchvision's ResNet-152: 60,192,808 parameters); the largest batches are checked against
the definition (M(b) fits, M(b + 1) does not) as well as against solve.
"""

import math
import re
import shutil
import subprocess
import sys

import pytest

import symcnn
from symcnn import make_report, parse_spec
from symcnn.options import MemoryOptions
from symcnn.render.charts import MAX_BARS, MAX_BUDGETS, chart_data
from symcnn.render.documents import render, render_string
from symcnn.render.svg import PLOT_INSTALL, chart_images, draw_svgs
from symcnn.spec.parse import parse_assignments
from symcnn.units import parse_size

HAVE_TEX = shutil.which("latexmk") is not None and shutil.which("pdftotext") is not None
needs_tex = pytest.mark.skipif(not HAVE_TEX, reason="latexmk/pdftotext not installed")

#: The lecture's slides: M(b) = c + a b.
C, A = 26_413_208, 2_910_900_732
GPUS = ["8GB", "12GB", "16GB", "24GB", "40GB", "80GB"]


@pytest.fixture(scope="module")
def lecture():
    return make_report(symcnn.example_spec())


def test_the_memory_line_is_the_lectures(lecture):
    charts = chart_data(lecture)
    assert charts.drawn and charts.unit == "GB" and not charts.simulated
    assert charts.curve[0] == (1, 2_937_313_940)            # M(1) on the lecture's slide
    assert all(m == C + A * b for b, m in charts.curve)     # every point on M(b) = c + a b
    assert charts.curve[-1][0] == charts.xmax >= max(b.largest for b in charts.budgets)
    assert [float(y) for _, y in charts.points] == pytest.approx(
        [(C + A * b) / 1e9 for b, _ in charts.curve], rel=1e-5)


def test_the_largest_batch_marked_is_solves(lecture):
    charts = chart_data(lecture)
    assert [b.name for b in charts.budgets] == GPUS
    by_hand = [(int(parse_size(g)) - C) // A for g in GPUS]
    assert [b.largest for b in charts.budgets] == by_hand == [2, 4, 5, 8, 13, 27]
    assert [b.largest for b in charts.budgets] == [int(lim.value) for _, lim in lecture.limits]
    for budget in charts.budgets:
        assert budget.bytes == int(parse_size(budget.name))
        assert budget.memory_at_largest == C + A * budget.largest <= budget.bytes
        assert C + A * (budget.largest + 1) > budget.bytes
        assert (budget.largest, budget.memory_at_largest) in charts.curve  # the dot is on the line


def test_a_simulated_step_marks_the_batch_that_fits():
    report = make_report(symcnn.example_spec("resnet18"), MemoryOptions("pytorch"),
                         memory=["8GB", "24GB"])
    charts = chart_data(report)
    assert charts.simulated
    for budget, (_, limit) in zip(charts.budgets, report.limits):
        assert budget.largest == int(limit.value) >= 1
        assert budget.memory_at_largest == int(report.memory.training(budget.largest)) <= budget.bytes
        assert int(report.memory.training(budget.largest + 1)) > budget.bytes
    # the peak of the step at every point drawn, more points than a line needs
    assert len(charts.curve) > 4
    assert all(m == int(report.memory.training(b)) for b, m in charts.curve)


def test_a_budget_one_sample_does_not_fit_has_no_dot():
    charts = chart_data(make_report(symcnn.example_spec(), memory=["1GB", "12GB"]))
    small, big = charts.budgets
    assert (small.largest, small.memory_at_largest) == (0, None)
    assert big.largest == 4
    tex = render_string(make_report(symcnn.example_spec(), memory=["1GB", "12GB"]), "slides")
    assert "1 GB: does not fit" in tex
    assert tex.count("only marks") == 1


def test_at_most_eight_budgets_are_drawn():
    budgets = [f"{g}GB" for g in range(8, 8 + 10 * 8, 8)]
    report = make_report(symcnn.example_spec(), memory=budgets)
    charts = chart_data(report)
    assert len(charts.budgets) == MAX_BUDGETS and charts.all_budgets == 10
    assert "the first 8 of 10 budgets" in render_string(report, "slides")


def test_parameter_shares_are_the_layers_counts(lecture):
    params = chart_data(lecture).params
    counts = {"L1": 840, "L2": 24_330, "L3": 48_660, "L4": 97_260, "L5": 194_520,
              "L6": 388_920, "L7": 777_840, "L8": 1_555_440, "L9": 213_841}
    assert {b.label: b.value for b in params} == counts     # flatten has none: no bar
    assert params.total == sum(counts.values()) == 3_301_651
    assert [b.percent_text for b in params][-2:] == ["47.1", "6.5"]
    assert params.bars[0].percent_text == "<0.1"            # 840 of 3.3 million
    assert params.rest == 0 and not params.by_stage


def test_activation_shares_count_what_training_keeps(lecture):
    acts = chart_data(lecture).activations
    # the input once, every later activation twice: their sum is a, the bytes per sample
    assert acts.total == A
    assert acts.bars[0].label == "input" and acts.bars[0].value == 34_120_084
    assert acts.bars[1].label == "L1" and acts.bars[1].value == 2 * 993_742_440


def test_resnet152_is_summed_per_stage():
    report = make_report(symcnn.example_spec("resnet152"))
    params, acts = chart_data(report).params, chart_data(report).activations
    assert params.total == 60_192_808                        # torchvision's resnet152
    assert sum(b.value for b in params) == params.total
    assert params.by_stage and len(params) <= MAX_BARS
    assert [b.label for b in params] == ["conv1", "bn1", "layer1", "layer2", "layer3",
                                         "layer4", "fc"]
    assert sum(b.value for b in acts) == acts.total == int(report.memory.per_sample)
    assert len(acts) <= MAX_BARS and acts.by_stage


def test_many_layers_without_stages_show_the_largest_and_the_rest():
    layers = "".join(f'[[layers]]\ntype = "Linear"\nname = "fc{i}"\nout_features = {10 + i}\n'
                     for i in range(15))
    report = make_report(parse_spec(f'name = "deep"\n[input]\nshape = [8]\n{layers}'))
    params = chart_data(report).params
    assert len(params) == MAX_BARS and params.rest == 15 - (MAX_BARS - 1)
    assert params.bars[-1].label == f"other {params.rest}"
    # the largest layers kept, in network order; the rest summed
    kept = [b.label for b in params.bars[:-1]]
    assert kept == [f"fc{i}" for i in range(15 - (MAX_BARS - 1), 15)]
    assert sum(b.value for b in params) == params.total == int(report.total_params)


def test_a_symbolic_network_has_no_chart_frame_or_section():
    """Nothing to draw without sizes: no frame or section that would stand nearly empty
    (the slides had a frame "Charts" with one sentence in it)."""
    report = make_report(symcnn.example_spec("lecture_symbolic"))
    charts = chart_data(report)
    assert not charts.drawn and charts.needs == ("C", "D", "H", "W")
    for template in ("slides", "worksheet"):
        tex = render_string(report, template)
        assert "tikzpicture" not in tex and r"\usepackage{pgfplots}" not in tex
        assert "{Charts}" not in tex and "need a value" not in tex


def test_a_symbolic_network_with_its_sizes_set_is_drawn(lecture):
    sizes = parse_assignments(["C=30", "D=193", "H=229", "W=193"])  # --set C=30 ...
    report = make_report(symcnn.example_spec("lecture_symbolic", overrides=sizes))
    charts = chart_data(report)
    assert charts.drawn and charts.curve == chart_data(lecture).curve


# ---- LaTeX --------------------------------------------------------------------------------

def test_the_slides_plot_the_numbers(lecture):
    tex = render_string(lecture, "slides")
    assert r"\usepackage{pgfplots}" in tex
    assert "( 1,2.93731)" in tex and "( 27,78.6207)" in tex      # M(1), M(27) in GB
    assert "80 GB: $b_{\\max} = 27$" in tex
    assert "(0,80) ( 30,80)" in tex                              # the 80 GB budget
    assert "( 47.11,7) [47.1\\,\\%]" in tex                      # L8's share, the 8th bar


@needs_tex
def test_the_pdf_shows_the_charts(tmp_path, lecture):
    pdf = [p for p in render(lecture, "slides", tmp_path, pdf=True) if p.suffix == ".pdf"][0]
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    words = " ".join(text.split())
    for expected in ("Training Memory against Batch Size", "batch size b",
                     "share of the parameters in %", "47.1 %", "68.3 %"):
        assert expected in words


# ---- SVG ------------------------------------------------------------------------------------

def test_markdown_writes_its_charts_beside_it(tmp_path, lecture):
    pytest.importorskip("matplotlib")  # CI installs the plot extra, so this runs there
    paths = render(lecture, "markdown", tmp_path)
    names = sorted(p.name for p in paths)
    assert names == ["lecture-3d-cnn-markdown-activations.svg", "lecture-3d-cnn-markdown-memory.svg",
                     "lecture-3d-cnn-markdown-params.svg", "lecture-3d-cnn-markdown.md"]
    md = (tmp_path / "lecture-3d-cnn-markdown.md").read_text()
    assert "![Training memory against batch size](lecture-3d-cnn-markdown-memory.svg)" in md
    memory = (tmp_path / "lecture-3d-cnn-markdown-memory.svg").read_text()
    assert 'id="memory-curve"' in memory
    for i, (gpu, b) in enumerate(zip(GPUS, [2, 4, 5, 8, 13, 27]), start=1):
        assert f'id="budget-{i}"' in memory and f'id="largest-{i}"' in memory
        assert re.search(rf"{gpu}: \$b_{{\\max}} = {b}\$", memory)
    params = (tmp_path / "lecture-3d-cnn-markdown-params.svg").read_text()
    assert all(f'id="bar-{i}"' in params for i in range(1, 10)) and 'id="bar-10"' not in params
    assert "47.1 %" in params and ">L8<" in params


def test_svgs_are_the_same_bytes_each_time(lecture):
    pytest.importorskip("matplotlib")
    assert draw_svgs(chart_data(lecture)) == draw_svgs(chart_data(lecture))


def test_a_notebook_shows_the_charts_inline(lecture):
    pytest.importorskip("matplotlib")
    md = lecture._repr_markdown_()
    assert md.count("](data:image/svg+xml;base64,") == 3


def test_without_matplotlib_one_line_says_how_to_get_them(tmp_path, lecture, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)     # import matplotlib fails
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    images, files = chart_images(chart_data(lecture), "x")
    assert files == {} and images.install == PLOT_INSTALL == "pip install symcnn[plot]"
    paths = render(lecture, "markdown", tmp_path)
    assert [p.suffix for p in paths] == [".md"]
    for md in (paths[0].read_text(), lecture._repr_markdown_()):
        lines = [line for line in md.splitlines() if "symcnn[plot]" in line]
        assert len(lines) == 1 and "`pip install symcnn[plot]`" in lines[0]
        assert "svg" not in md


def test_markdown_of_a_symbolic_network_says_it_needs_sizes(tmp_path):
    report = make_report(symcnn.example_spec("lecture_symbolic"))
    paths = render(report, "markdown", tmp_path)
    assert [p.suffix for p in paths] == [".md"]
    assert "need a value for $C, D, H, W$" in paths[0].read_text()


def test_names_are_text_in_the_svg(tmp_path):
    pytest.importorskip("matplotlib")
    spec = """name = "odd"
[input]
shape = [3, 16, 16]
[[layers]]
type = "Conv2d"
name = "conv $x^ & <b>"
out_channels = 4
kernel_size = 3
[[layers]]
type = "Flatten"
[[layers]]
type = "Linear"
name = "fc $2$"
out_features = 2
"""
    render(make_report(parse_spec(spec)), "markdown", tmp_path)
    params = (tmp_path / "odd-markdown-params.svg").read_text()
    assert "conv $x^ &amp; &lt;b&gt;" in params and "fc $2$" in params


#: xcolor's base colours (xcolor.sty, its dvipsnames-free core), RGB in [0, 1].
XCOLOR = {"red": (1, 0, 0), "green": (0, 1, 0), "blue": (0, 0, 1), "cyan": (0, 1, 1),
          "magenta": (1, 0, 1), "yellow": (1, 1, 0), "black": (0, 0, 0), "white": (1, 1, 1),
          "gray": (.5, .5, .5), "orange": (1, .5, 0), "violet": (.5, 0, .5),
          "brown": (.75, .5, .25), "purple": (.75, 0, .25), "olive": (.5, .5, 0),
          "teal": (0, .5, .5), "lime": (.75, 1, 0), "pink": (1, .75, .75)}


def xcolor_rgb(expression: str) -> tuple[float, ...]:
    """xcolor's mixing rule: ``a!p!b`` is p % of a and the rest b; ``a!p`` mixes with white."""
    parts = expression.split("!")
    rgb = XCOLOR[parts[0]]
    for i in range(1, len(parts), 2):
        other = XCOLOR[parts[i + 1]] if i + 1 < len(parts) else XCOLOR["white"]
        p = float(parts[i]) / 100
        rgb = tuple(p * a + (1 - p) * b for a, b in zip(rgb, other))
    return rgb


def test_every_budget_line_has_a_colour_of_its_own(lecture):
    """The six default budgets of the memory chart: no two lines a reader could confuse
    (the 16 GB and 80 GB lines were two oranges); the colours read from the slides."""
    tex = render_string(lecture, "slides")
    colours = re.findall(r"\\addplot\[([^,\]]+), thick, dashed\]", tex)
    assert len(colours) == len(GPUS)
    rgb = [xcolor_rgb(c) for c in colours]
    distances = [math.dist(a, b) for i, a in enumerate(rgb) for b in rgb[i + 1:]]
    assert min(distances) > 0.4
    assert all(max(c) <= 0.9 for c in rgb)        # none washed out on a projector

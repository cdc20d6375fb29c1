"""Documents a lecturer can hand out as they are: every shipped LaTeX template (slides,
worksheet, the exercise blank and with its solutions, exam, its key, the combined keys) with
every example network compiles with no line wider than the page (1 pt) and no frame or page
too high (beamer clips a frame silently), and every layer or block is in the architecture
table, read back from the PDF.
An example network's exam is the example as a question family (its symbols fixed); the
lecture's is the shipped family, examples/lecture_family.toml.

All documents are compiled once, two at a time (module fixture); each combination is then
its own test case.
"""

import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import symcnn
from symcnn import make_report
from symcnn.exam.build import make_exam
from symcnn.exam.family import load_family, parse_family
from symcnn.exam.output import exam_files
from symcnn.files import shipped_dir
from symcnn.render.documents import reader_name, render, templates_dir
from symcnn.render.notation import shown_names

pytestmark = pytest.mark.skipif(
    shutil.which("pdflatex") is None or shutil.which("pdftotext") is None,
    reason="pdflatex/pdftotext not installed")

EXAMPLES = ["lecture", "lecture_symbolic", "resnet18", "resnet50", "resnet152", "vgg16",
            "unet2d", "unet3d"]
DOCUMENTS = ["slides", "worksheet", "exercise", "solutions", "exam", "key", "keys"]
#: Values for a symbolic example's symbols, so that its exam has numbers to ask about.
EXAM_SIZES = {"lecture_symbolic": {"C": 4, "D": 96, "H": 96, "W": 96},
              "unet2d": {"C": 8, "H": 64, "W": 64},
              "unet3d": {"C": 4, "D": 32, "H": 32, "W": 32}}
QUESTIONS = """
[[exam.questions]]
kind = "total_params"
[[exam.questions]]
kind = "training_memory"
batch_size = 8
unit = "MB"
decimals = 2
[[exam.questions]]
kind = "max_batch"
memory = "12GB"
choices = 4
[[exam.questions]]
kind = "macs"
choices = 4
[[exam.questions]]
kind = "receptive_field"
layer = 1
choices = 4
"""
#: Each compiled document's .tex, by (example, document): filled by the `compiled` fixture.
SOURCES: dict[tuple[str, str], Path] = {}
OVERFULL = re.compile(r"Overfull \\([hv])box \(([\d.]+)pt too (?:wide|high)\)[^\n]*")


def example_family(name: str):
    """An example network as a question family: its spec, its symbols fixed, five questions
    (seven with a symbol C: its closed form and its largest value in 12 GB)."""
    text = (shipped_dir("examples", "lecture.toml") / f"{name}.toml").read_text()
    sizes = EXAM_SIZES.get(name, {})
    if sizes:
        text += "\n[variables]\n" + "".join(f"{k} = {{choices = [{v}]}}\n" for k, v in sizes.items())
    extra = ('[[exam.questions]]\nkind = "symbolic_total"\nsymbol = "C"\n'
             '[[exam.questions]]\nkind = "largest_symbol"\nsymbol = "C"\nmemory = "12GB"\n'
             'choices = 4\n') if "C" in sizes else ""
    return parse_family(text + QUESTIONS + extra, name)


def _sources(name: str, out: Path) -> dict[str, tuple[Path, list[str]]]:
    """Each document of an example: its .tex and the names its architecture table lists."""
    report = make_report(symcnn.example_spec(name))
    listed = ([r.name for r in report.analysis.rows] if report.network.is_sequential
              else [g.name for g in report.groups])
    # a name the spec did not give (flatten_9): the slides write it Flatten 9, the tables
    # that number the layers leave it out (the number and the type say which layer it is)
    made_up = shown_names(report.network)
    docs = {}
    for template in ("slides", "worksheet"):
        (tex,) = render(report, template, out, name=name)
        numbered = template == "worksheet" and report.network.is_sequential
        docs[template] = (tex, [n for n in listed if n not in made_up] if numbered
                          else [made_up.get(n, n) for n in listed])
    # the exercise lists every layer (a student needs each one), blank and with solutions,
    # each in a file of its own
    every = [r.name for r in report.analysis.rows if r.name not in made_up]
    for doc, solutions in (("exercise", False), ("solutions", True)):
        (tex,) = render(report, "exercise", out, name=name, solutions=solutions)
        docs[doc] = (tex, every)
    if name == "lecture":  # the shipped family on the lecture's network
        exam = make_exam(load_family(shipped_dir("examples", "lecture.toml")
                                     / "lecture_family.toml"), variants=3, seed=2025)
    else:
        exam = make_exam(example_family(name), variants=1)
    nodes = [reader_name(n, i) for i, n in enumerate(exam.variants[0].shown.nodes, start=1)]
    nodes = [n for n in nodes if n]  # a made-up name (flatten_9) is not printed
    files = exam_files(exam)
    for doc, file in (("exam", "exam-001.tex"), ("key", "key-001.tex"), ("keys", "keys.tex")):
        tex = out / f"{name}-{file}"
        tex.write_text(files[file])
        docs[doc] = (tex, nodes)
    return docs


def _compile(tex: Path) -> tuple[str, str]:
    """pdflatex (again while it asks for a rerun, as longtable does): the log and the text."""
    cmd = ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", tex.name]
    for _ in range(3):
        proc = subprocess.run(cmd, cwd=tex.parent, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=300)
        log = tex.with_suffix(".log").read_text(errors="replace")
        if proc.returncode != 0 or "Rerun LaTeX" not in log and "Rerun to get" not in log:
            break
    assert proc.returncode == 0, f"{tex.name} failed:\n{log[-2000:]}"
    text = subprocess.run(["pdftotext", "-layout", str(tex.with_suffix(".pdf")), "-"],
                          capture_output=True, text=True, check=True).stdout
    return log, text


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("layout")
    docs = {}
    for name in EXAMPLES:
        for doc, (tex, shown) in _sources(name, out).items():
            docs[name, doc] = (tex, shown)
    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(docs, pool.map(_compile, [tex for tex, _ in docs.values()])))
    SOURCES.update({key: tex for key, (tex, _) in docs.items()})
    return {key: (*results[key], docs[key][1]) for key in docs}


def _readable(name: str) -> str:
    # the default OT1 font draws \_ as a rule, which pdftotext reads as a space
    return name.replace("_", " ")


@pytest.mark.parametrize("doc", DOCUMENTS)
@pytest.mark.parametrize("name", EXAMPLES)
def test_nothing_off_the_page(compiled, name, doc):
    log, _, _ = compiled[name, doc]
    # a line more than 1 pt too wide; a frame (beamer clips it silently) or a page too high
    # at all: TeX's page builder never overfills a page, so a page too high is something
    # cut to size by hand (the exam class's solution box was, before keys set answers as text)
    limit = {"h": 1.0, "v": 0.0}
    over = [m.group(0) for m in OVERFULL.finditer(log) if float(m.group(2)) > limit[m.group(1)]]
    assert not over, f"{name} {doc}: " + "; ".join(over)


@pytest.mark.parametrize("doc", DOCUMENTS)
@pytest.mark.parametrize("name", EXAMPLES)
def test_every_layer_in_the_architecture_table(compiled, name, doc):
    _, text, shown = compiled[name, doc]
    words = " ".join(text.split())
    missing = [n for n in shown
               if not re.search(r"(?<![\w.])" + re.escape(_readable(n)) + r"(?![\w.])", words)]
    assert not missing, f"{name} {doc}: {len(missing)} of {len(shown)} missing: {missing[:8]}"


def test_templates_never_shrink_type():
    """No scaling of content, and no type below \\scriptsize (unreadable in a room)."""
    for path in templates_dir().glob("*.j2"):
        text = path.read_text()
        for banned in (r"\resizebox", r"\scalebox", "adjustbox", r"\tiny", r"\scriptsize"):
            assert banned not in text, f"{path.name} uses {banned}"


def _heading_text(tex_heading: str) -> str:
    """A heading's words as pdftotext reads them: commands and braces out."""
    text = re.sub(r"\\[a-zA-Z]+\s*", " ", tex_heading).replace("{", "").replace("}", "")
    return " ".join(_readable(text).split())


@pytest.mark.parametrize("doc", ["worksheet", "exercise", "solutions"])
@pytest.mark.parametrize("name", EXAMPLES)
def test_no_heading_left_at_the_foot_of_a_page(compiled, name, doc):
    """A section heading is followed by its text on the same page (the worksheet's
    "5 Charts" stood alone at the foot of page 4 of ResNet-50's, its chart on page 5)."""
    _, text, _ = compiled[name, doc]
    source = SOURCES[name, doc].read_text()
    headings = [_heading_text(h) for h in
                re.findall(r"\\(?:sub)*section\*?\{((?:[^{}]|\{[^{}]*\})*)\}", source)]
    headings = [h for h in headings if h]
    for number, page in enumerate(text.split("\f"), start=1):
        lines = [" ".join(_readable(line).split()) for line in page.splitlines() if line.strip()]
        if len(lines) < 2:
            continue
        last = lines[-2]   # the line above the page number
        stuck = [h for h in headings if last.endswith(h)]
        assert not stuck, f"{name} {doc}: page {number} ends with the heading {stuck[0]!r}"


@pytest.mark.skipif(shutil.which("pdffonts") is None, reason="poppler's pdffonts not installed")
@pytest.mark.parametrize("name", EXAMPLES)
def test_slides_set_upright_names_in_sans_serif(compiled, name):
    """Beamer writes prose and math letters in sans serif (Computer Modern Sans, CMSS);
    an upright name in a formula (\\mathrm{L1}, the "in" of C_in, the unit B) must not fall
    back to the serif roman (CMR) on a slide."""
    pdf = SOURCES[name, "slides"].with_suffix(".pdf")
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True,
                           check=True).stdout.splitlines()[2:]
    names = [line.split()[0].split("+")[-1] for line in fonts if line.strip()]
    assert any(n.startswith("CMSS") for n in names), names  # the test reads the fonts
    assert not [n for n in names if re.fullmatch(r"CMR\d+", n)], names

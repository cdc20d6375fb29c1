"""An exam as a Moodle XML question bank: one category per variant; numerical questions
(tolerance: half a unit of the last place the question asks for), multiple choice, and
embedded-answer (cloze) questions for shapes and closed forms.  Presentation only.

>>> from symcnn.spec.builtin import examples_dir
>>> from symcnn.exam.build import make_exam
>>> from symcnn.exam.family import load_family
>>> xml = moodle_xml(make_exam(load_family(examples_dir() / "lecture_family.toml"), 1, seed=3))
>>> xml.splitlines()[0]
'<?xml version="1.0" encoding="UTF-8"?>'
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

from symcnn.exam.build import Exam, Question, Variant
from symcnn.exam.text import answer_plain, answer_text, prompt_pieces
from symcnn.render.documents import reader_name
from symcnn.render.formatting import shape as text_shape
from symcnn.render.notation import layer_notation_html

#: Characters XML 1.0 cannot hold, even as a reference: control characters other than tab,
#: newline and carriage return, surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """``text`` without the characters XML cannot hold (a name's bell or escape character),
    so the bank stays well-formed whatever the names hold."""
    return _NOT_XML.sub("", text)


def _html(text) -> str:
    """User text (a name, a prompt that quotes one) as HTML for a question: escaped, and with
    ``{`` and ``}`` as character references, so that a name such as ``{1:NUMERICAL:=5}``
    cannot add an answer field to an embedded-answer (cloze) question."""
    return html.escape(str(text)).replace("{", "&#123;").replace("}", "&#125;")


def _text(parent: ET.Element, tag: str, text: str, fmt: str | None = "html") -> ET.Element:
    el = ET.SubElement(parent, tag, {"format": fmt} if fmt else {})
    ET.SubElement(el, "text").text = xml_safe(text)
    return el


def _tag(parent: ET.Element, tag: str, text: str) -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = xml_safe(text)
    return el


def network_html(variant: Variant) -> str:
    """The variant's network as an HTML paragraph and table."""
    net, mem = variant.shown, variant.report.memory
    shape = text_shape(net.input_shape)
    kept = "".join(f" The numeric questions take <i>{_html(k)}</i> = {v}."
                   for k, v in variant.kept.items())
    graph = not net.is_sequential
    rows = "".join(f"<tr><td>{i}</td><td>{_html(reader_name(n, i))}</td>"
                   + (f"<td>{_html(', '.join(n.inputs))}</td>" if graph else "")
                   + f"<td>{_html(n.layer.type_name)}</td>"
                   f"<td>{layer_notation_html(n.layer)}</td></tr>"
                   for i, n in enumerate(net.nodes, start=1))
    return (f"<p>Input: {_html(shape)} (channels first, one sample), {mem.dtype}, "
            f"<i>s</i> = {mem.element_bytes} bytes per element.{kept}</p>"
            "<table><tr><th>#</th><th>layer</th>" + ("<th>inputs</th>" if graph else "")
            + "<th>type</th><th>arguments</th></tr>"
            f"{rows}</table>"
            "<p>Conventions: parameters are weights and biases; along an axis of input size "
            "<i>n</i>, a convolution with kernel <i>k</i>, padding <i>p</i>, dilation <i>d</i> "
            "and stride <i>S</i> gives the output size "
            "&lfloor;(<i>n</i> + 2<i>p</i> &minus; <i>d</i>(<i>k</i> &minus; 1) &minus; 1)/<i>S</i>"
            "&rfloor; + 1; training memory <i>M</i>(<i>b</i>) = Params + Grads + "
            "<i>b</i> (<i>I</i><sub>1</sub> + 2 &sum;<sub><i>i</i> &ge; 2</sub> "
            "<i>I</i><sub><i>i</i></sub>): the input stored once, every later activation twice; "
            "1 MB = 10<sup>6</sup>, 1 MiB = 2<sup>20</sup>, 1 GB = 10<sup>9</sup>, "
            "1 GiB = 2<sup>30</sup> bytes; round half up.</p>" + _cost_conventions(variant))


_KERNEL = "<i>k</i><sup><i>n</i></sup> <i>C</i><sub>in</sub>/<i>g</i>"
#: What each MACs convention counts, as the LaTeX exams say it (templates/exam_parts.tex.j2).
_MACS_HTML = {
    "fvcore": f"a convolution <i>C</i><sub>out</sub> &times; (output positions) &times; {_KERNEL}, "
              "a linear layer <i>n</i><sub>in</sub> <i>n</i><sub>out</sub>; biases, activations "
              "and a Flatten are not counted",
    "torchinfo": f"its Mult-Adds, a convolution's parameters, weights and bias, ({_KERNEL} + 1) "
                 "<i>C</i><sub>out</sub>, at each of its output positions; any other layer's "
                 "parameters once (a linear layer (<i>n</i><sub>in</sub> + 1) "
                 "<i>n</i><sub>out</sub>); a layer without parameters counts nothing",
    "ptflops": f"a convolution <i>C</i><sub>out</sub> &times; (output positions) &times; {_KERNEL}"
               ", plus one per output element for its bias; a linear layer (<i>n</i><sub>in</sub>"
               " + 1) <i>n</i><sub>out</sub>; a ReLU 2 per element, a pooling 2 per input "
               "element, BatchNorm 2 per element; a Flatten is not counted",
}


def _cost_conventions(variant: Variant) -> str:
    """How MACs and receptive fields are counted, for a variant that asks about them."""
    kinds = {q.kind for q in variant.questions}
    out = ""
    if "macs" in kinds:
        tool = variant.report.macs_convention.value
        out += ("<p>A multiply-accumulate (MAC) is one multiplication and one addition, counted "
                f"as {tool} counts them: {_MACS_HTML[tool]}. FLOPs = 2 &times; MACs.</p>")
    if "receptive_field" in kinds:
        out += ("<p>The receptive field <i>r</i> of a layer along an axis is the number of input "
                "positions one of its output elements sees; the jump <i>j</i> is how far apart "
                "the fields of neighbouring output elements start. At the input <i>r</i> = "
                "<i>j</i> = 1; a window of kernel <i>k</i>, dilation <i>d</i> and stride "
                "<i>S</i> makes <i>r</i> + <i>d</i>(<i>k</i> &minus; 1) <i>j</i> and <i>j S</i>; "
                "padding changes neither.</p>")
    return out


def _head(q: Question, variant: Variant, kind: str, body: str, family: str) -> ET.Element:
    el = ET.Element("question", {"type": kind})
    _text(el, "name", f"{family} v{variant.index:03d} q{q.number} {q.kind}", None)
    _text(el, "questiontext", body)
    _text(el, "generalfeedback", "Answer: " + _html(answer_text(q.answer.value, q.answer))
          + f" (worked solution: answer key of variant {variant.index}, question {q.number}).")
    if kind != "cloze":
        _tag(el, "defaultgrade", str(q.spec.points))
    _tag(el, "penalty", "0")
    _tag(el, "hidden", "0")
    return el


def _numerical(q: Question, variant: Variant, body: str, family: str) -> ET.Element:
    el = _head(q, variant, "numerical", body, family)
    ans = ET.SubElement(el, "answer", {"fraction": "100", "format": "moodle_auto_format"})
    _tag(ans, "text", answer_plain(q.answer.value, q.answer))
    _text(ans, "feedback", "")
    _tag(ans, "tolerance", str(q.answer.tolerance))
    for tag, value in (("unitgradingtype", "0"), ("unitpenalty", "0"), ("showunits", "3"),
                       ("unitsleft", "0")):
        _tag(el, tag, value)
    return el


def _multichoice(q: Question, variant: Variant, body: str, family: str) -> ET.Element:
    el = _head(q, variant, "multichoice", body, family)
    for tag, value in (("single", "true"), ("shuffleanswers", "true"),
                       ("answernumbering", "ABCD")):
        _tag(el, tag, value)
    for c in q.choices:
        ans = ET.SubElement(el, "answer", {"fraction": "100" if c.correct else "0",
                                           "format": "html"})
        _tag(ans, "text", _html(answer_text(c.value, q.answer)))
        _text(ans, "feedback", "Right." if c.correct else _html(f"Wrong: {c.mistake}."))
    return el


def _field(value) -> str:
    return f"{{1:NUMERICAL:={value}:0}}"


def _cloze_or_essay(q: Question, variant: Variant, body: str, family: str) -> ET.Element:
    if q.answer.form == "shape":
        fields = " x ".join(_field(v) for v in q.answer.value)
        return _head(q, variant, "cloze", f"{body}<p>{fields}</p>", family)
    coeffs = q.work.coefficients
    if coeffs is not None:
        sym, top = _html(str(q.work.symbol)), len(coeffs) - 1
        power = lambda n: "" if n == 0 else sym if n == 1 else f"{sym}<sup>{n}</sup>"  # noqa: E731
        terms = " + ".join(_field(c) + (f" {power(top - i)}" if top - i else "")
                           for i, c in enumerate(coeffs))
        return _head(q, variant, "cloze", f"{body}<p>N({sym}) = {terms}</p>", family)
    el = _head(q, variant, "essay", body, family)
    for tag, value in (("responseformat", "editor"), ("responserequired", "1"),
                       ("responsefieldlines", "5"), ("attachments", "0")):
        _tag(el, tag, value)
    _text(el, "graderinfo", _html(answer_text(q.answer.value, q.answer)))
    return el


def prompt_html(q: Question) -> str:
    """The question as HTML: text escaped, ``<i>b</i> = 8`` and ``<i>C</i>`` set as symbols."""
    out = []
    for piece, is_math in prompt_pieces(q):
        name, _, value = piece.partition("=") if is_math else (piece, "", "")
        out.append(f"<i>{_html(name)}</i>" + (f" = {_html(value)}" if value else "")
                   if is_math else _html(piece))
    return "".join(out)


def question_element(q: Question, variant: Variant, family: str) -> ET.Element:
    body = network_html(variant) + f"<p>{prompt_html(q)}</p>"
    if q.choices:
        return _multichoice(q, variant, body, family)
    if q.answer.form in ("count", "size"):
        return _numerical(q, variant, body, family)
    return _cloze_or_essay(q, variant, body, family)


def moodle_xml(exam: Exam) -> str:
    """The question bank as XML text (UTF-8, the same bytes for the same exam)."""
    quiz = ET.Element("quiz")
    name = exam.family.name
    for v in exam.variants:
        cat = ET.SubElement(quiz, "question", {"type": "category"})
        _text(cat, "category", f"$course$/top/symcnn/{name}/variant {v.index:03d}", None)
        for q in v.questions:
            quiz.append(question_element(q, v, name))
    ET.indent(quiz, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(quiz, encoding="unicode") + "\n"

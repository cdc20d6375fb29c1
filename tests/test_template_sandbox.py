"""User templates (issue 12, class 6): Jinja2's sandbox, so a shared template reads the
report and cannot reach Python; every template failure is one line naming the file and line."""

import pytest

from symcnn.cli import main
from symcnn.errors import SymcnnError
from symcnn.render.documents import render
from symcnn.report import make_report
from symcnn.spec.builtin import example_spec


@pytest.fixture(scope="module")
def lecture():
    return make_report(example_spec())


ESCAPES = [
    # the classic ways out of a template to os.system and friends
    '((( cycler.__init__.__globals__.os.popen("touch {marker}").read() )))',
    '((( "".__class__.__mro__[1].__subclasses__() )))',
    '((( lipsum.__globals__["os"].system("touch {marker}") )))',
    '((( report.__class__.__init__.__globals__ )))',
    '((( net.__dict__ )))',
    '((( joiner.__init__.__globals__.__builtins__.open("{marker}", "w") )))',
    '((( namespace.__init__.__globals__ )))',
    '((( report.analysis.rows.__class__.__base__.__subclasses__() )))',
]


@pytest.mark.parametrize("body", ESCAPES)
def test_a_template_cannot_reach_python(tmp_path, lecture, body):
    marker = tmp_path / "pwned"
    template = tmp_path / "evil.tex.j2"
    template.write_text("x\n" + body.format(marker=marker) + "\n")
    with pytest.raises(SymcnnError) as info:
        render(lecture, str(template), tmp_path / "out")
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(template)) and "(line 2)" in message
    assert "unsafe" in message or "undefined" in message or "no attribute" in message
    assert not marker.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("body, expected", [
    ("((( 1 // 0 )))", "ZeroDivisionError: integer division or modulo by zero (line 3)"),
    ("((( net.name|int + none )))", "TypeError: unsupported operand"),
    ('((* extends "self.tex.j2" *))', "extends or includes itself"),
    ('((* include "self.tex.j2" *))', "extends or includes itself"),
    ('((* include "no-such.tex.j2" *))', "TemplateNotFound: 'no-such.tex.j2' not found"),
    ("((( no_such_name )))", "UndefinedError: 'no_such_name' is undefined (line 3)"),
    ("((* for x in *))", "TemplateSyntaxError: "),
    ("((( range(10**9)|list|length )))", "OverflowError: "),
])
def test_template_errors_are_one_line(tmp_path, lecture, body, expected, capsys):
    template = tmp_path / "self.tex.j2"
    template.write_text("a\nb\n" + body + "\n")
    assert main(["render", "--template", str(template), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "self.tex.j2" in err and expected in err, err
    assert not (tmp_path / "out").exists()


def test_shipped_templates_run_in_the_sandbox(tmp_path, lecture):
    import jinja2.sandbox

    from symcnn.render.documents import template_environment, templates_dir
    assert isinstance(template_environment("tex", [templates_dir()]),
                      jinja2.sandbox.SandboxedEnvironment)
    assert [p.suffix for p in render(lecture, "slides", tmp_path)] == [".tex"]

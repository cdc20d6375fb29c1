"""Reports into documents: Jinja2 templates for LaTeX slides, worksheets and Markdown.

Templates use LaTeX-safe delimiters (as nbconvert does): ``((( value )))``,
``((* block *))`` and ``((= comment =))``.  Every value a template prints goes through
an escaper unless a math filter made it; templates lay out, they never compute.
"""

from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from pathlib import Path

import jinja2
import jinja2.sandbox
import sympy

from symcnn.analysis.letters import Notation
from symcnn.analysis.field_forms import named_fields
from symcnn.errors import SymcnnError, shorten
from symcnn.files import OutputTransaction, shipped_dir, write_atomic
from symcnn.render.charts import chart_data
from symcnn.render.exercise import exercise_parts
from symcnn.render.formatting import figure_units, spaced_size
from symcnn.render.latex import (
    TeX,
    breakable,
    cannot_set,
    escape_latex,
    escape_markdown,
    factor,
    field_cell,
    field_part,
    formula,
    math,
    math_name,
    prose_with_symbols,
    shape,
    sum_lines,
    visible_length,
    written,
)
from symcnn.render.notation import layer_arguments, layer_notation, shown_names
from symcnn.render.pdf import compile_pdf, require_latexmk
from symcnn.render.svg import ChartImages, chart_images
from symcnn.render.texchars import unsettable
from symcnn.report import Report
from symcnn.solve import M as BUDGET
from symcnn.symbols import size
from symcnn.units import AUTO, canonical_unit, format_bytes, unit_power

BUILTIN = ("slides", "worksheet", "exercise", "markdown")
DEFAULT_TITLE = "Parameters and Memory Consumption"


@dataclass(frozen=True)
class TitlePage:
    """What a document's title says besides the network (``--title``, ``--author``,
    ``--date``, ``--institute``): prose, escaped when printed; empty means left out (the
    title: the template's own, ``Parameters and Memory Consumption`` or the exam's)."""

    title: str = ""
    author: str = ""
    date: str = ""
    institute: str = ""


def templates_dir() -> Path:
    """The folder of the shipped templates (copy one to start your own)."""
    return shipped_dir("templates", "base.tex.j2")


def slug(name: str) -> str:
    """A file-name-safe form of a network name: ``"Lecture 3-D CNN"`` -> ``lecture-3-d-cnn``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "network"


# ---- filters: formatting only ------------------------------------------------------------

def _num(value) -> TeX:
    """A value as math; a long symbolic product may break between its bracketed factors."""
    return breakable(math(value))


def _many(value) -> str | None:
    """A symbolic maximum of many expressions (a simulated step's peak) is described, not
    printed: ``"the largest of 19 expressions in the symbols"``."""
    if isinstance(value, sympy.Max) and len(value.args) > 3:
        return f"the largest of {len(value.args)} expressions in the symbols"
    return None


def _sum_lines(value, *args) -> TeX:
    value = sympy.sympify(value)
    many = _many(value)
    return TeX(rf"\text{{{many}, counted in}}") if many else sum_lines(value, *args)


def _bytes_tex(value, unit: str = "MB", allow_breaks: bool = False) -> TeX:
    value = sympy.sympify(value)
    unit = canonical_unit(unit, allow_auto=True)
    if _many(value):
        return TeX(rf"\text{{{_many(value)}}}")
    if value.is_number:
        number, label = format_bytes(value, unit).rsplit(" ", 1)
        return TeX(number.replace(",", "{,}") + rf"\,\mathrm{{{label}}}")
    tex = breakable(math(value)) if allow_breaks else math(value)
    return TeX(tex + r"\,\mathrm{B}")


def _breakable_bytes(value, unit: str = "MB") -> TeX:
    """A size for LaTeX, where a long symbolic product may break between its factors."""
    return _bytes_tex(value, unit, allow_breaks=True)


def _bytes_text(value, unit: str = "MB") -> TeX:
    value = sympy.sympify(value)
    if _many(value):
        return TeX(_many(value))
    return TeX(format_bytes(value, unit) if value.is_number else f"{value} B")


@jinja2.pass_context
def _label(ctx, name: str) -> TeX:
    """``I_5`` -> ``I_{5}``: a memory term's label as math, in the document's activation
    letter (``X_{5}`` for a network with a symbol ``I``, as the text report writes it)."""
    base, _, sub = str(name).partition("_")
    if base == "I":
        base = (ctx.get("notation") or Notation()).activation
    base = base if len(base) == 1 or base.startswith("\\") else rf"\text{{{escape_latex(base)}}}"
    return TeX(f"{base}_{{{sub}}}" if sub else base)


def _path_in(name: str, group: str) -> str:
    """A layer's name as its block knows it: ``layer1.0.downsample.0`` in ``layer1.0`` is
    ``downsample.0`` (the path PyTorch prints), not its last part ``0``."""
    return name[len(group) + 1:] if name.startswith(group + ".") else name


@jinja2.pass_context
def _budget_formula(ctx, expr) -> TeX:
    """The largest batch's closed form with the budget written ``M_avail`` (or the
    notation's letter), distinct from the memory ``M(b)`` it bounds."""
    notation = ctx.get("notation")
    tex = notation.budget if notation is not None else r"M_{\mathrm{avail}}"
    return math(sympy.sympify(expr).subs(BUDGET, size("M_avail")), {"M_avail": tex})


@jinja2.pass_context
def _letter(ctx, name: str) -> TeX:
    """A generic letter of the formulas as LaTeX, ``"S"|letter`` (the stride): the
    notation's, never written like a symbol of the network."""
    return TeX((ctx.get("notation") or Notation()).letter(name))


@jinja2.pass_context
def _layer_notation(ctx, layer) -> TeX:
    """A layer's arguments in the formulas' notation, with the notation's renamed letters."""
    notation = ctx.get("notation")
    return layer_notation(layer, notation.renames if notation is not None else None)


@jinja2.pass_context
def _formula(ctx, expr) -> TeX:
    """A general formula, its generic symbols renamed where the network uses them
    (``notation.renames``)."""
    notation = ctx.get("notation")
    return formula(expr, notation.renames if notation is not None else None)


def _block_args(group) -> TeX:
    """A block use's parameters as math: ``$(C = 64)$``."""
    if not group.args:
        return TeX("")
    return TeX("$(" + ", ".join(f"{math_name(k)} = {math(v)}" for k, v in group.args) + ")$")


def chunks(items, most: int) -> list[list]:
    """``items`` in as few chunks of at most ``most`` as it takes, of sizes that differ by at
    most one: a table of 12 rows over frames of 11 is 6 and 6, not 11 and a near-empty 1.

    >>> [len(c) for c in chunks(range(12), 11)], [len(c) for c in chunks(range(10), 7)]
    ([6, 6], [5, 5])
    """
    items = list(items)
    count = max(1, -(-len(items) // most))
    size, extra = divmod(len(items), count)
    out, start = [], 0
    for i in range(count):
        end = start + size + (i < extra)
        out.append(items[start:end])
        start = end
    return out


def _unit_note(unit: str) -> TeX:
    """What the document's unit means: ``$1\\,\\mathrm{MB} = 10^{6}$ bytes``; for ``auto``
    each decimal unit."""
    unit = canonical_unit(unit, allow_auto=True)
    if unit == "B":
        return TeX("sizes in bytes")
    units = ("kB", "MB", "GB") if unit == AUTO else (unit,)
    notes = [rf"$1\,\mathrm{{{u}}} = {_power(u)}$" for u in units]
    return TeX(", ".join(notes) + " bytes")


def _power(unit: str) -> str:
    base, _, exponent = unit_power(unit).partition("^")
    return f"{base}^{{{exponent}}}"


def reader_name(node, index: int) -> str:
    """A node's name as a reader knows it: empty where the spec gave none (``flatten_9``,
    made up from the type and position, is code, not a name)."""
    return "" if node.name == f"{node.layer.type_name.lower()}_{index}" else node.name


def _shown(ctx, name):
    """A name as the document writes it (:func:`shown_names`, the context's ``shown_names``)."""
    return ctx.get("shown_names", {}).get(name, name) if isinstance(name, str) else name


@jinja2.pass_context
def _shown_filter(ctx, name):
    return _shown(ctx, name)


@jinja2.pass_context
def _math_name(ctx, name) -> TeX:
    """:func:`math_name` of a name as the document writes it."""
    return math_name(_shown(ctx, name))


class _Block:
    """``super()`` in a template: the parent block's output is already laid out, not prose."""

    def __init__(self, ref) -> None:
        self._ref = ref

    def __call__(self) -> TeX:
        return TeX(self._ref())


class _Context(jinja2.runtime.Context):
    def super(self, name, current):
        ref = super().super(name, current)
        return _Block(ref) if isinstance(ref, jinja2.runtime.BlockReference) else ref


def template_environment(kind: str, search: list[Path]) -> jinja2.Environment:
    escape = escape_latex if kind == "tex" else escape_markdown

    @jinja2.pass_context
    def finalize(ctx, value):
        if isinstance(value, TeX):
            return value
        if isinstance(value, sympy.Basic):
            return math(value)
        return escape(_shown(ctx, value))

    # sandboxed: a template shared by a colleague reads the report, it cannot reach Python
    # (no attributes starting with "_", no unsafe callables: the README invites sharing them)
    env = jinja2.sandbox.SandboxedEnvironment(
        loader=jinja2.FileSystemLoader([str(p) for p in search]),
        block_start_string="((*", block_end_string="*))",
        variable_start_string="(((", variable_end_string=")))",
        comment_start_string="((=", comment_end_string="=))",
        line_comment_prefix="%#" if kind == "tex" else None,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        autoescape=False, undefined=jinja2.StrictUndefined, finalize=finalize)
    env.context_class = _Context
    env.globals["reader_name"] = reader_name
    env.filters.update({
        "math": math, "formula": _formula, "written": written, "sum_lines": _sum_lines,
        "num": _num if kind == "tex" else math, "factor": factor,
        "budget_formula": _budget_formula, "path_in": _path_in,
        "prose": prose_with_symbols if kind == "tex" else escape,
        "shape": (lambda dims: shape(dims, allow_breaks=True)) if kind == "tex" else shape,
        "label": _label, "visible_length": visible_length, "mathname": _math_name,
        "shown": _shown_filter, "unit_note": _unit_note, "unit_bytes": lambda u: TeX(_power(u)),
        "arguments": layer_arguments, "notation": _layer_notation, "letter": _letter,
        "block_args": _block_args,
        "bytes": _breakable_bytes if kind == "tex" else _bytes_text,
        "texbytes": _breakable_bytes if kind == "tex" else _bytes_tex,
        "escape": escape, "e": escape, "raw": TeX, "axes": field_part, "axes_cell": field_cell,
        "chunks": chunks, "spaced_size": spaced_size,
    })
    return env


def _resolve(template: str) -> tuple[jinja2.Template, str, str]:
    """A template by name (``slides``) or path (``my/slides.tex.j2``): the template, its
    kind (``tex`` or ``md``) and the suffix of the file it writes."""
    builtin = templates_dir()
    if template in BUILTIN:
        name = f"{template}.md.j2" if template == "markdown" else f"{template}.tex.j2"
        path = builtin / name
    else:
        path = Path(template)
        if not path.is_file():
            raise SymcnnError(f"no template {template!r} (built-in: {', '.join(BUILTIN)}; or a "
                              "path to a .tex.j2 or .md.j2 file)", argument="template")
    kind = "md" if path.name.endswith((".md.j2", ".md")) else "tex"
    env = template_environment(kind, [path.parent, builtin])
    try:
        return env.get_template(path.name), kind, ".md" if kind == "md" else ".tex"
    except (jinja2.TemplateError, RecursionError) as err:
        raise template_error(err, str(path)) from None


def template_error(err: BaseException, template: str) -> SymcnnError:
    """Any failure of a template (its syntax, an undefined name, the sandbox refusing an
    attribute, a template that extends itself, an error while it runs) as one line naming
    the template file and its line."""
    where, line = getattr(err, "filename", None) or getattr(err, "name", None), \
        getattr(err, "lineno", None)
    for frame in traceback.extract_tb(err.__traceback__):
        if frame.filename.endswith(".j2"):  # the template's own line, as Jinja2 reports it
            where, line = frame.filename, frame.lineno
    if isinstance(err, RecursionError):
        message = "the template extends or includes itself (nested too deeply)"
    else:
        message = f"{type(err).__name__}: {getattr(err, 'message', None) or err}"
    return SymcnnError(shorten(message, 300) + (f" (line {line})" if line else ""),
                       source=str(where or template))


def check_typesettable(network, source: str | None = None) -> None:
    """Refuse, in one line naming the layer and field, a name or description with a
    character LaTeX cannot set (an emoji, CJK): before anything is written, instead of a
    LaTeX failure after."""
    named = [(None, "name", network.name), (None, "description", network.description)]
    for node in network.nodes:
        # the block first: a use's layers are named after it
        named += [(f"layer '{node.name}'", "block", node.block_type),
                  (f"layer '{node.name}'", "name", node.name)]
    for layer, field, text in named:
        char = unsettable(text or "")
        if char is not None:
            raise cannot_set(text, char).within(source=source, layer=layer, field=field)


def memory_heading(report: Report) -> str:
    """``GPU Memory Consumption``, or ``Memory Consumption`` for a step simulated on the CPU."""
    sim = report.memory.simulation
    on_cpu = sim is not None and str(getattr(sim.device, "value", sim.device)) == "cpu"
    return "Memory Consumption" if on_cpu else "GPU Memory Consumption"


def options_suffix(report: Report) -> str:
    """What sets a document's figures apart from the default's, for its file name:
    ``-pytorch-cpu-bf16``; empty for the lecture convention."""
    memory, parts = report.memory, []
    if memory.convention != "lecture":
        parts.append(str(memory.convention))
    if memory.simulation is not None:
        for value, default in ((memory.simulation.device, "cuda"),
                               (memory.simulation.precision, "fp32")):
            value = str(getattr(value, "value", value))
            if value != default:
                parts.append(value)
    return "".join(f"-{p}" for p in parts)


def context(report: Report, titles: TitlePage | None = None, solutions: bool = False,
            images: ChartImages | None = None) -> dict:
    """What a template sees: the report and short names for its parts; ``doc`` the title
    page (``title`` its title or the default), ``memory_heading`` the memory frames' title;
    ``exercise`` what the exercise asks (None for a simulated step), ``solutions`` whether
    its worked answers are filled in; ``charts`` the charts' numbers
    (:mod:`symcnn.render.charts`), ``chart_images`` the charts as SVG for Markdown (None:
    not drawn)."""
    titles = titles or TitlePage()
    exercise = exercise_parts(report) if report.memory.simulation is None else None
    fields = _field_rows(report)
    return {"doc": titles, "title": titles.title or DEFAULT_TITLE,
            "solutions": solutions, "exercise": exercise,
            "memory_heading": memory_heading(report),
            "report": report, "net": report.network, "analysis": report.analysis,
            "memory": report.memory, "rows": report.analysis.rows,
            # the convention in words, its activations in the document's letter (X_1 where
            # the network has a symbol I)
            "rules_summary": report.notation.relabel(report.memory.rules.summary),
            "terms": report.memory.activations, "limits": report.limits,
            "checks": report.checks, "mismatches": report.mismatches,
            "misprinted": {c.key: c for c in report.mismatches},
            "units": figure_units(report), "symbols": sorted(map(str, report.network.free_symbols)),
            "symbols_math": TeX(", ".join(math(s) for s in sorted(report.network.free_symbols,
                                                                   key=str))),
            # compute cost and receptive fields (templates/compute_*.j2): per node, and per
            # group; MACs in the named sizes where the network has them
            "compute_rows": tuple(zip(report.analysis.rows, _macs_rows(report), fields)),
            "compute_groups": tuple(zip(report.groups,
                                        report.named_group_macs or report.group_macs,
                                        (fields[g.rows[-1].index - 1] for g in report.groups))),
            "charts": images.charts if images else chart_data(report), "chart_images": images,
            "derivation": report.derivation, "notation": report.notation,
            "IL": TeX(report.notation.activation),
            # a name the spec did not give (flatten_9) as the documents write it (Flatten 9)
            "shown_names": shown_names(report.network)}


def _field_rows(report: Report):
    """Each node's receptive field, in the named sizes of a symbolic network (a linear
    layer's ``16 D_8 + 45``, not the closed form of ``D``)."""
    d = report.derivation
    return named_fields(report.analysis, d.sizes) if d is not None else report.receptive_fields


def _macs_rows(report: Report):
    """Each node's MACs, in the named sizes of a symbolic network where it has them."""
    named = report.derivation.macs if report.derivation is not None else None
    return (named or report.macs).rows


def render_string(report: Report, template: str = "worksheet",
                  titles: TitlePage | None = None, solutions: bool = False, *,
                  images: ChartImages | None = None) -> str:
    """The document text of ``report`` through a built-in template or a template file;
    ``solutions``: the exercise with its worked answers (only the exercise, or a template
    of yours that reads ``solutions``, has them); ``images``: the charts as SVG for the
    Markdown (:func:`symcnn.render.svg.chart_images`; without them the Markdown has no
    charts, having no files to point to)."""
    if solutions and template in BUILTIN and template != "exercise":
        raise SymcnnError(f"only the exercise has solutions, not the {template} (the worksheet "
                          "is the fully worked version)", argument="solutions")
    tpl, kind, _ = _resolve(template)
    if template == "exercise":
        exercise_parts(report)  # a simulated step is refused in one line, naming the convention
    if kind == "tex":
        check_typesettable(report.network, report.source)
    try:
        return tpl.render(context(report, titles, solutions, images))
    except SymcnnError:
        raise  # a name LaTeX cannot set, found by an escaper: already one line
    except Exception as err:  # noqa: BLE001 - a user template may fail in any way
        raise template_error(err, template) from None


def render(report: Report, template: str = "worksheet", out_dir="output", *, pdf: bool = False,
           name: str | None = None, titles: TitlePage | None = None,
           solutions: bool = False) -> list[Path]:
    """Write ``report`` through ``template`` into ``out_dir``; with ``pdf`` also compile it.

    Returns the written files, written whole or not at all (:class:`OutputTransaction`):
    the document, its PDF, and for Markdown its charts (``<stem>-memory.svg``, ...) when
    matplotlib is installed;
    a failed compile leaves ``out_dir`` as it was.  The file name is
    ``<network>-<template>.tex`` (or ``.md``), with the convention and the simulated device
    and precision where they are not the default (``<network>-slides-pytorch-cpu.tex``), so
    that renders do not overwrite each other; the exercise with ``solutions`` is
    ``<network>-exercise-solutions.tex``, beside the blank one.
    """
    tpl_name = template if template in BUILTIN else Path(template).name.split(".")[0]
    suffix = ".md" if template == "markdown" or template.endswith((".md.j2", ".md")) else ".tex"
    if pdf and suffix != ".tex":  # refused before anything is written
        raise SymcnnError("a PDF needs a LaTeX template, not Markdown", argument="template")
    if pdf:
        require_latexmk()
    stem = (f"{name or slug(report.network.name)}-{tpl_name}{options_suffix(report)}"
            + ("-solutions" if solutions else ""))
    # Markdown points to its charts, SVG files written beside it (with matplotlib)
    images, svgs = chart_images(chart_data(report), stem) if suffix == ".md" else (None, {})
    text = render_string(report, template, titles, solutions, images=images)
    # all or nothing: the .tex and its PDF move into place together, and a PDF of an
    # earlier render of the same file that this render does not make is removed
    with OutputTransaction(out_dir, f"render {stem}{suffix}") as tx:
        write_atomic(tx.path(f"{stem}{suffix}"), text)
        written_files = [tx.final(f"{stem}{suffix}")]
        for file, svg in svgs.items():
            write_atomic(tx.path(file), svg)
            written_files.append(tx.final(file))
        if pdf:
            compile_pdf(tx.path(f"{stem}{suffix}"))
            written_files.append(tx.final(f"{stem}.pdf"))
    return written_files


def summary_math(report: Report) -> str:
    """The report's totals as one LaTeX display formula (``_repr_latex_``)."""
    mem = report.memory
    lines = [rf"N &= {math(report.total_params)}",
             rf"M(b) &= {math(mem.fixed)} + {factor(mem.per_sample)}\,b\ \mathrm{{B}}",
             rf"M({math(report.batch_size)}) &= {_bytes_tex(report.training_bytes, report.units)}"]
    return "$$\\begin{aligned}" + r" \\ ".join(lines) + "\\end{aligned}$$"


def notebook_markdown(report: Report) -> str:
    """A notebook's view of a report (``_repr_markdown_``): the Markdown worksheet with its
    charts inline as SVG (or the one line that says how to get them)."""
    images, _ = chart_images(chart_data(report))
    return render_string(report, "markdown", images=images)

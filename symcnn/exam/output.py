"""An exam's files: per variant the exam, its answer key and its drawn spec; one combined
key; a CSV of all answers; optionally a Moodle question bank; optionally their PDFs.

Everything is rendered in memory first, then written (and compiled) in a temporary folder
and moved into place only when all succeeded (:class:`symcnn.files.OutputTransaction`), so
an error leaves the output folder as it was.  The same
exam gives the same bytes.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from functools import cache
from pathlib import Path

import jinja2

from symcnn.errors import SymcnnError
from symcnn.exam.build import Exam, Variant
from symcnn.exam.moodle import moodle_xml
from symcnn.exam.text import answer_plain, answer_tex, kind_name, prompt_tex
from symcnn.files import OutputTransaction, write_atomic
from symcnn.render.documents import (
    TitlePage,
    check_typesettable,
    shown_names,
    template_environment,
    template_error,
    templates_dir,
)
from symcnn.render.formatting import spaced_size
from symcnn.render.latex import cannot_set
from symcnn.render.notation import layer_notation
from symcnn.render.pdf import compile_pdf, require_latexmk
from symcnn.render.texchars import unsettable
from symcnn.spec.toml_writer import comment_lines

CSV_COLUMNS = ("variant", "question", "kind", "layer", "points", "answer", "unit", "decimals",
               "tolerance", "choice")


@cache
def _templates() -> jinja2.Environment:
    env = template_environment("tex", [templates_dir()])
    env.filters.update({"prompt": prompt_tex, "answer": answer_tex, "notation": layer_notation,
                        "kind_name": kind_name, "spaced_size": spaced_size})
    return env


def _render(name: str, **context) -> str:
    try:
        return _templates().get_template(name).render(context)
    except SymcnnError:
        raise
    except Exception as err:  # noqa: BLE001 - one line, naming the template and its line
        raise template_error(err, name) from None


def _titles(exam: Exam, titles: TitlePage | None) -> dict:
    """The title page: ``--title`` or the family's ``[exam] title``, author, date, institute."""
    titles = titles or TitlePage()
    return {"doc": titles, "title": titles.title or exam.family.exam.title}


def exam_tex(exam: Exam, variant: Variant, *, key: bool = False,
             titles: TitlePage | None = None) -> str:
    """One variant's exam (or with ``key``, its answer key) as LaTeX."""
    return _render("exam_key.tex.j2" if key else "exam.tex.j2", exam=exam, family=exam.family,
                   variant=variant, key=key, shown_names=shown_names(variant.shown),
                   **_titles(exam, titles))


def keys_tex(exam: Exam, titles: TitlePage | None = None) -> str:
    """Every variant's answers in one LaTeX document."""
    return _render("exam_keys.tex.j2", exam=exam, family=exam.family, variants=exam.variants,
                   shown_names=shown_names(exam.variants[0].shown), **_titles(exam, titles))


#: How a spreadsheet cell that is read as a formula begins (OWASP, "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def csv_cell(value):
    """A cell that a spreadsheet shows as text, never runs as a formula: text beginning with
    ``= + - @``, a tab or a carriage return gets a leading ``'``, as OWASP recommends (a
    number, negative or not, stays a number).

    >>> csv_cell("=HYPERLINK(1)"), csv_cell("conv1"), csv_cell("-3"), csv_cell(7)
    ("'=HYPERLINK(1)", 'conv1', '-3', 7)
    """
    if not isinstance(value, str) or not value.startswith(_FORMULA_START) \
            or _NUMBER.fullmatch(value):
        return value
    return "'" + value


def answers_csv(exam: Exam) -> str:
    """One row per variant and question, in :data:`CSV_COLUMNS` order; text cells
    neutralised (:func:`csv_cell`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for v in exam.variants:
        for q in v.questions:
            a = q.answer
            writer.writerow(map(csv_cell, [
                v.index, q.number, q.kind, q.row.name if q.row else "", q.spec.points,
                answer_plain(a.value, a), a.unit, a.decimals if a.form == "size" else "",
                a.tolerance if a.form in ("size", "count") else "", q.correct_letter]))
    return out.getvalue()


def variant_toml(exam: Exam, variant: Variant) -> str:
    """The drawn spec of a variant, ready for ``symcnn report``."""
    sets = "".join(f" --set {k}={v}" for k, v in variant.values.items())
    return comment_lines([f"Variant {variant.index} of {Path(exam.family.source).name} "
                          f"(seed {exam.seed}).",
                          f"symcnn report variant-{variant.index:03d}.toml{sets}"]) \
        + variant.candidate.text


def _check_typesettable(exam: Exam) -> None:
    """Names and text LaTeX cannot set are refused in one line before anything is made."""
    settings = exam.family.exam
    for field in ("title", "instructions"):
        char = unsettable(getattr(settings, field))
        if char is not None:
            raise cannot_set(getattr(settings, field), char).within(
                source=exam.family.source, layer="exam", field=field)
    for v in exam.variants:
        check_typesettable(v.report.network, exam.family.source)


def exam_files(exam: Exam, *, moodle: bool = False,
               titles: TitlePage | None = None) -> dict[str, str]:
    """File name -> text of everything ``symcnn exam`` writes (PDFs aside)."""
    files = {}
    _check_typesettable(exam)
    for v in exam.variants:
        files[f"exam-{v.index:03d}.tex"] = exam_tex(exam, v, titles=titles)
        files[f"key-{v.index:03d}.tex"] = exam_tex(exam, v, key=True, titles=titles)
        files[f"variant-{v.index:03d}.toml"] = variant_toml(exam, v)
    files["keys.tex"] = keys_tex(exam, titles)
    files["answers.csv"] = answers_csv(exam)
    if moodle:
        files["moodle.xml"] = moodle_xml(exam)
    return files


def write_exam(exam: Exam, out_dir, *, moodle: bool = False, titles: TitlePage | None = None,
               pdf: bool = False, jobs: int = 1,
               progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Write the exam's files into ``out_dir`` (with ``pdf`` also every exam's and key's
    PDF, ``jobs`` compilations at a time); returns their paths.

    All or nothing (:class:`~symcnn.files.OutputTransaction`): the files, PDFs included, are
    made in a temporary folder and moved into place only when all succeeded; files an earlier
    exam run wrote into ``out_dir`` that this one does not (the keys of variants it no longer
    has, PDFs of sources it replaced) are removed.  On any failure ``out_dir`` stays as it was.
    """
    if pdf:
        require_latexmk()
    files = exam_files(exam, moodle=moodle, titles=titles)
    with OutputTransaction(out_dir, "exam") as tx:
        for name, text in files.items():
            write_atomic(tx.path(name), text)  # a SymcnnError naming the file
        names = list(files)
        if pdf:
            tex = [name for name in names if name.endswith(".tex")]
            compile_all([tx.path(name) for name in tex], jobs=jobs, progress=progress)
            names += [name.removesuffix(".tex") + ".pdf" for name in tex]
        paths = [tx.final(name) for name in names]
    return paths


def compile_all(tex_files: list[Path], *, jobs: int = 1,
                progress: Callable[[int, int], None] | None = None) -> list[Path]:
    """Compile LaTeX files to PDF, ``jobs`` at a time; ``progress(done, total)`` after each.

    Reproducible: the PDFs carry no date.  On the first failure the files not yet started are
    skipped and its error is raised.
    """

    total, done = len(tex_files), 0
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(compile_pdf, p, reproducible=True) for p in tex_files]
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            failed = [f for f in finished if f.exception() is not None]
            if failed:
                for f in pending:
                    f.cancel()
                raise failed[0].exception()
            done += len(finished)
            if progress:
                progress(done, total)
    return [f.result() for f in futures]

"""Compile LaTeX to PDF with latexmk (pdflatex, no shell escape), all or nothing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from symcnn.errors import SymcnnError
from symcnn.files import write_atomic

INSTALL_HINT = ("install TeX Live, e.g. on Debian/Ubuntu: apt-get install latexmk "
                "texlive-latex-recommended texlive-pictures texlive-latex-extra")


_ERROR = re.compile(r"^(?:!|\S*\.tex:\d+:)\s*(.*)")


def first_error(log: str) -> str:
    """The first error of a LaTeX log (``! ...`` or ``file.tex:12: ...``), with the
    ``l.<n>`` line that caused it.

    >>> first_error("x\\n./a.tex:12: Undefined control sequence.\\nl.12 \\\\foo\\nmore")
    'Undefined control sequence. (l.12 \\\\foo)'
    """
    lines = log.splitlines()
    for i, line in enumerate(lines):
        m = _ERROR.match(line)
        if m:
            where = next((x.strip() for x in lines[i + 1:i + 12] if x.startswith("l.")), "")
            return m.group(1).strip() + (f" ({where})" if where else "")
    return "see the LaTeX log"


def require_latexmk() -> str:
    """The path of latexmk; without it a one-line error saying how to install TeX (checked
    before a ``--pdf`` run writes anything)."""
    latexmk = shutil.which("latexmk")
    if latexmk is None:
        raise SymcnnError(f"latexmk not found, so nothing was written ({INSTALL_HINT}; "
                          "the LaTeX source alone needs no TeX)")
    return latexmk


def compile_pdf(tex: Path, *, timeout: int = 300, reproducible: bool = False) -> Path:
    """Compile ``tex`` in a temporary folder and move the PDF next to it.

    On failure nothing is left beside ``tex`` (no PDF, no auxiliary files) and the error
    says the first LaTeX error.  Without latexmk the error says how to install TeX.
    With ``reproducible`` the PDF carries no date (``SOURCE_DATE_EPOCH=0``), so the same
    source gives the same bytes.
    """
    tex = Path(tex)
    latexmk = require_latexmk()
    with tempfile.TemporaryDirectory(prefix="symcnn-tex-") as tmp:
        work = Path(tmp) / tex.name
        shutil.copyfile(tex, work)
        cmd = [latexmk, "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
               "-pdflatex=pdflatex -no-shell-escape %O %S", work.name]
        env = {**os.environ, "openout_any": "p", "shell_escape": "f"}
        if reproducible:
            env.update(SOURCE_DATE_EPOCH="0", FORCE_SOURCE_DATE="1")
        try:
            proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL, env=env)
        except subprocess.TimeoutExpired:
            raise SymcnnError(f"LaTeX took longer than {timeout} s", source=str(tex)) from None
        pdf = work.with_suffix(".pdf")
        if proc.returncode != 0 or not pdf.is_file():
            log = work.with_suffix(".log")
            text = log.read_text(errors="replace") if log.is_file() else proc.stdout
            raise SymcnnError(f"LaTeX failed: {first_error(text)}", source=str(tex))
        target = tex.with_suffix(".pdf")
        write_atomic(target, pdf.read_bytes())
    return target

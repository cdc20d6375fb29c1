"""The ``symcnn`` command line, the only part of symcnn that knows flag names.

``main`` parses the flags (:mod:`~symcnn.cli.parser`), runs the command's module and prints
the text it returns; a :class:`~symcnn.errors.SymcnnError` becomes one line naming the flag
(:mod:`~symcnn.cli.flags`) and exit status 2. Each command family is a module with
``add_parser`` (its flags) and ``run`` (its text): :mod:`~symcnn.cli.report`,
:mod:`~symcnn.cli.documents` (``render``), :mod:`~symcnn.cli.exam`,
:mod:`~symcnn.cli.importer` (``import``), :mod:`~symcnn.cli.solve`, :mod:`~symcnn.cli.sweep`
and :mod:`~symcnn.cli.calibrate`. They import what they run inside ``run``: importing the
command line never imports torch (``tests/test_importer.py`` checks it), which ``import`` and
``calibrate`` need only when they run.
"""

from __future__ import annotations

import sys

from symcnn.cli import calibrate, documents, exam, importer, report, solve, sweep
from symcnn.cli.flags import FLAGS, flag
from symcnn.cli.parser import build_parser
from symcnn.errors import SymcnnError
from symcnn.render.formatting import visible

__all__ = ["FLAGS", "main"]

#: What runs each command: its text for stdout, files written through ``files.write_atomic``.
RUNS = {"report": report.run, "render": documents.run, "exam": exam.run,
        "import": importer.run, "solve": solve.run, "sweep": sweep.run,
        "calibrate": calibrate.run}


def _run(args) -> str:
    return RUNS[args.command](args)


def main(argv=None) -> int:
    """The command line's exit status: 0, 2 for bad input (one line on stderr), 130 for Ctrl-C."""
    try:
        args = build_parser().parse_args(argv)
        text = _run(args)
    except SymcnnError as err:
        print(f"symcnn: error: {visible(err.describe(flag))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # output is a transaction: nothing is left half-written
        print("symcnn: interrupted", file=sys.stderr)
        return 130
    sys.stdout.write(text)
    return 0

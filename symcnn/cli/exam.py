"""``symcnn exam``: variants of a question family, each an exam and its answer key, written
as one transaction (``exam.output.write_exam``)."""

from __future__ import annotations

import os
import sys

from symcnn.cli.groups import macs_option, title_options, titles
from symcnn.errors import SymcnnError


def add_parser(sub) -> None:
    """``exam``: the family, how many variants from which seed, where, and the title page."""
    e = sub.add_parser("exam", parents=[title_options()],
                       help="randomized exams with answer keys from a question family",
                       description="Draw variants of a question family (a spec whose values are "
                       "choices or ranges, with an [exam] table) and write, per variant, an exam "
                       "and its worked answer key, plus a combined key and a CSV of all answers.")
    e.add_argument("family", nargs="?", metavar="FAMILY",
                   help="family file (.toml); examples/lecture_family.toml when left out")
    e.add_argument("--variants", "-n", type=int, default=10, metavar="N",
                   help="number of variants (default 10)")
    e.add_argument("--seed", "-s", type=int, default=0, metavar="S",
                   help="random seed: the same seed gives the same files (default 0)")
    e.add_argument("--out", "-o", default="output/exam", metavar="DIR",
                   help="output folder (default: output/exam)")
    e.add_argument("--pdf", action="store_true",
                   help="also compile every exam and key with latexmk")
    e.add_argument("--moodle", action="store_true",
                   help="also write moodle.xml, a Moodle XML question bank")
    macs_option(e)
    e.add_argument("--jobs", "-j", type=int, default=min(4, os.cpu_count() or 1), metavar="J",
                   help="LaTeX compilations at a time with --pdf (default: up to 4)")


def run(args) -> str:
    from pathlib import Path

    from symcnn.exam.build import make_exam
    from symcnn.exam.family import load_family
    from symcnn.exam.output import write_exam
    from symcnn.spec.builtin import examples_dir

    if args.jobs < 1:
        raise SymcnnError(f"must be at least 1, got {args.jobs}", argument="jobs")
    family = load_family(args.family or examples_dir() / "lecture_family.toml")
    exam = make_exam(family, args.variants, args.seed, args.macs_convention)
    paths = write_exam(exam, args.out, moodle=args.moodle, titles=titles(args), pdf=args.pdf,
                       jobs=args.jobs,
                       progress=lambda done, total: print(f"compiled {done}/{total}",
                                                          file=sys.stderr, flush=True))
    out = Path(args.out)
    lines = [f"wrote {len(exam.variants)} exams and answer keys (exam-NNN.tex, key-NNN.tex, "
             f"variant-NNN.toml), keys.tex, answers.csv{', moodle.xml' if args.moodle else ''} "
             f"to {out}\n"]
    if args.pdf:
        lines.append(f"compiled {sum(p.suffix == '.pdf' for p in paths)} PDFs in {out}\n")
    return "".join(lines)

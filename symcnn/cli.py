"""The ``symcnn`` command line."""

from __future__ import annotations

import argparse
import json
import os
import sys

from symcnn import __version__
from symcnn.analysis.macs import MacsConvention
from symcnn.errors import SymcnnError
from symcnn.network import DTYPE_BYTES
from symcnn.options import (
    Convention,
    CpuCapability,
    Device,
    MemoryOptions,
    Optimizer,
    Precision,
    machine_cpu,
)
from symcnn.spec.profile import profile_text, read_profile

#: The flag of each library argument or option a user can get wrong: errors name the
#: argument (``batch_size``), the command line prints the flag.
FLAGS = {"batch_size": "--batch-size", "memory": "--memory", "dtype": "--dtype",
         "optimizer": "--optimizer", "convention": "--convention", "device": "--device",
         "precision": "--precision", "checkpoint_segments": "--checkpoint-segments",
         "threads": "--threads", "cpu": "--cpu", "allocator_block": "--allocator-block", "units": "--units",
         "sizes": "--sizes", "overrides": "--set", "template": "--template",
         "variants": "--variants", "jobs": "--jobs", "input_shape": "--input-shape",
         "symbolic": "--symbolic", "solutions": "--solutions", "symbol": "--for",
         "vary": "--vary", "out": "--out", "macs_convention": "--macs-convention",
         "profile": "--profile", "batch_sizes": "--batch-sizes"}


class _OneLineParser(argparse.ArgumentParser):
    """argparse, with a mistyped option reported in one line (not the whole usage block)."""

    def error(self, message: str):
        message = message if len(message) <= 300 else message[:297] + "..."
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _title_options() -> argparse.ArgumentParser:
    """Options shared by ``render`` and ``exam``: what the title page says."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--title", default="", metavar="TEXT",
                   help="the document's title (default: 'Parameters and Memory Consumption'; "
                   "an exam: its family's [exam] title)")
    p.add_argument("--author", default="", metavar="TEXT", help="author on the title page")
    p.add_argument("--date", default="", metavar="TEXT", help="date on the title page")
    p.add_argument("--institute", default="", metavar="TEXT",
                   help="institute or course on the title page")
    return p


def _titles(args):
    from symcnn.render.documents import TitlePage
    return TitlePage(args.title, args.author, args.date, args.institute)


def _network_options() -> argparse.ArgumentParser:
    """Options shared by ``report`` and ``render``: which network, and the memory question."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("spec", nargs="?", metavar="SPEC",
                   help="spec file (.toml); the lecture's 3-D CNN when left out")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="substitute a symbol, e.g. --set C=30 (repeatable)")
    p.add_argument("--batch-size", "-b", default="1", metavar="B",
                   help="batch size for the memory figures (default 1; may be a symbol)")
    p.add_argument("--memory", "-m", action="append", metavar="SIZE",
                   help="memory budget for the largest batch: 12GB (10^9 B), 11GiB (2^30 B) or "
                   "bytes; repeatable (default: 8, 12, 16, 24, 40 and 80 GB)")
    p.add_argument("--dtype", choices=list(DTYPE_BYTES), help="element type (default: the spec's)")
    p.add_argument("--optimizer", choices=list(Optimizer),
                   help="optimizer state to add (momentum 1x, adam/adamw 2x the parameters; "
                   "default: the convention's)")
    p.add_argument("--convention", choices=list(Convention),
                   help="what the memory figure counts: lecture (default), torchinfo, "
                   "torchsummary, cs231n, or pytorch (the peak of a simulated training step; "
                   "see README; the default with --profile)")
    p.add_argument("--device", choices=list(Device),
                   help="for --convention pytorch: where the step runs (dropout masks and CPU "
                   "kernel workspaces differ; default cuda, or the profile's)")
    p.add_argument("--precision", choices=list(Precision),
                   help="for --convention pytorch: fp32 (default, or the profile's), or the "
                   "forward pass under torch.autocast to bf16/fp16: activations, their "
                   "gradients and the saved tensors in autocast's dtypes (see README)")
    p.add_argument("--checkpoint-segments", type=int, default=0, metavar="K",
                   help="for --convention pytorch on a sequential network: activation "
                   "checkpointing as torch.utils.checkpoint.checkpoint_sequential with K "
                   "segments (default 0: off)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="for --convention pytorch --device cpu: the CPU's intra-op threads "
                   "(torch.get_num_threads()), which oneDNN's buffers follow (default 2)")
    p.add_argument("--cpu", type=str.upper, choices=["AUTO", *(c.value for c in CpuCapability)],
                   help="for --convention pytorch --device cpu: the CPU capability whose kernel "
                   "rules apply (torch.backends.cpu.get_cpu_capability(); AUTO: this machine's "
                   "when torch is importable; default AVX512, or the profile's)")
    p.add_argument("--profile", metavar="PROFILE.json",
                   help="for --convention pytorch: the kernel workspace that symcnn calibrate "
                   "measured, in place of the built-in rules for every layer it holds; its "
                   "device, CPU, precision and threads are the defaults of those flags")
    p.add_argument("--allocator-block", type=int, default=0, metavar="BYTES",
                   help="for --convention pytorch: round every allocation up to a multiple of "
                   "BYTES, as PyTorch's CUDA caching allocator does (512; default 0: the "
                   "requested sizes)")
    p.add_argument("--units", choices=["B", "kB", "KiB", "MB", "MiB", "GB", "GiB", "auto"],
                   help="units for printed sizes (kB = 10^3 B, MB = 10^6 B, KiB = 2^10 B, "
                   "MiB = 2^20 B; auto: per figure, the largest decimal unit in which it is at "
                   "least 1; default: the convention's)")
    _macs_option(p)
    p.add_argument("--sizes", action="append", default=[], metavar="NAME=START:STOP[:STEP]",
                   help="list the values of a size symbol (e.g. H=1:512) for which every layer "
                   "size is positive and all branches meet (repeatable)")
    return p


def _parser() -> argparse.ArgumentParser:
    p = _OneLineParser(prog="symcnn", description="Closed-form parameter counts and "
                                "memory of convolutional networks.")
    p.add_argument("--version", action="version", version=f"symcnn {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    shared = _network_options()
    r = sub.add_parser("report", parents=[shared],
                       help="per-layer shapes, parameters, memory and largest batch",
                       description="Derive parameters and memory of a network described in a "
                       "TOML spec (the lecture's 3-D CNN when no SPEC is given).")
    r.add_argument("--json", action="store_true", help="print one JSON document")
    d = sub.add_parser("render", parents=[shared, _title_options()],
                       help="write slides, a worksheet, an exercise or Markdown",
                       description="Write the derivations as a LaTeX beamer deck, a LaTeX "
                       "worksheet, a student exercise or Markdown, through a Jinja2 template; "
                       "optionally compile.")
    d.add_argument("--template", "-t", default="slides", metavar="NAME",
                   help="slides, worksheet, exercise (the questions, with space to work them "
                   "out), markdown, or a path to your own .tex.j2/.md.j2 (default: slides)")
    d.add_argument("--solutions", action="store_true",
                   help="with --template exercise: the same exercise with every step worked "
                   "and answered (<network>-exercise-solutions.tex)")
    d.add_argument("--out", "-o", default="output", metavar="DIR",
                   help="output folder (default: output)")
    d.add_argument("--pdf", action="store_true",
                   help="also compile the .tex with latexmk (pdflatex, no shell escape)")
    _exam_parser(sub)
    _import_parser(sub)
    _solve_parser(sub, shared)
    _sweep_parser(sub, shared)
    _calibrate_parser(sub)
    return p


def _calibrate_parser(sub) -> None:
    c = sub.add_parser("calibrate", help="measure each layer's kernel buffers in PyTorch "
                       "(needs torch) and write a profile for --profile",
                       description="Run each distinct layer configuration of a spec alone in "
                       "PyTorch on this machine (a training step and an eval-mode forward pass "
                       "at two batch sizes), measure what its kernels take beyond what the "
                       "pytorch convention counts, and write it as a profile that report and "
                       "render use with --profile.")
    c.add_argument("spec", metavar="SPEC", help="spec file (.toml); every symbol needs --set")
    c.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="substitute a symbol, e.g. --set C=30 (repeatable)")
    c.add_argument("--device", choices=list(Device), default=Device.CPU,
                   help="where to measure (default cpu)")
    c.add_argument("--precision", choices=list(Precision), default=Precision.FP32,
                   help="fp32 (default), or the forward pass under torch.autocast to bf16/fp16")
    c.add_argument("--batch-sizes", default="2,4", metavar="B1,B2",
                   help="the two batch sizes each layer is measured at (default 2,4)")
    c.add_argument("--out", "-o", required=True, metavar="PROFILE.json",
                   help="the profile to write")
    c.add_argument("--progress", action="store_true",
                   help="show the progress bar on stderr even when it is not a terminal")


def _calibration_bar(done: int, total: int, node: str) -> None:
    """``calibrate``'s progress on stderr, redrawn in place."""
    filled = 30 * done // max(total, 1)
    sys.stderr.write(f"\rcalibrating [{'#' * filled}{'.' * (30 - filled)}] {done}/{total} "
                     f"{node[:24]:<24}" + ("\n" if done == total else ""))
    sys.stderr.flush()


def _run_calibrate(args) -> str:
    from pathlib import Path

    from symcnn.analysis.rows import analyze
    from symcnn.files import write_atomic
    from symcnn.memory.calibrate import calibrate
    from symcnn.spec.parse import load_spec, parse_assignments

    try:
        batches = tuple(int(v) for v in args.batch_sizes.split(","))
    except ValueError:
        raise SymcnnError(f"expected two whole numbers B1,B2, got {args.batch_sizes!r}",
                          argument="batch_sizes") from None
    spec = load_spec(args.spec, parse_assignments(args.set))
    show = args.progress or sys.stderr.isatty()
    try:
        doc = calibrate(analyze(spec.network), device=args.device, precision=args.precision,
                        batch_sizes=batches, source=Path(args.spec).name,
                        progress=_calibration_bar if show else None)
    except SymcnnError as err:
        raise err.within(source=spec.source) from None
    write_atomic(Path(args.out), profile_text(doc))
    where = f"{doc['cpu']}, {doc['threads']} threads" if doc["cpu"] else doc["machine"]["gpu"]
    return (f"wrote {args.out}: {len(doc['layers'])} layer configurations of "
            f"{len(spec.network.nodes)} nodes, {args.precision}, measured on {args.device} "
            f"({where}), torch {doc['torch']}\n")


def _macs_option(p) -> None:
    p.add_argument("--macs-convention", choices=[c.value for c in MacsConvention],
                   default=MacsConvention.FVCORE, help="count multiply-accumulates as fvcore (default: "
                   "convolutions and linear layers without bias), torchinfo (Mult-Adds: "
                   "parameters times output positions) or ptflops (bias, activations and "
                   "pooling too) count them")


def _exam_parser(sub) -> None:
    e = sub.add_parser("exam", parents=[_title_options()],
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
    _macs_option(e)
    e.add_argument("--jobs", "-j", type=int, default=min(4, os.cpu_count() or 1), metavar="J",
                   help="LaTeX compilations at a time with --pdf (default: up to 4)")


def _run_exam(args) -> str:
    from pathlib import Path

    from symcnn.exam.build import make_exam
    from symcnn.exam.family import load_family
    from symcnn.exam.output import write_exam
    from symcnn.spec.builtin import examples_dir

    if args.jobs < 1:
        raise SymcnnError(f"must be at least 1, got {args.jobs}", argument="jobs")
    family = load_family(args.family or examples_dir() / "lecture_family.toml")
    exam = make_exam(family, args.variants, args.seed, args.macs_convention)
    paths = write_exam(exam, args.out, moodle=args.moodle, titles=_titles(args), pdf=args.pdf,
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


def _import_parser(sub) -> None:
    i = sub.add_parser("import", help="a spec from a PyTorch model (needs torch)",
                       description="Trace a PyTorch nn.Module with torch.fx (on the meta device) "
                       "and write its spec: each torch.nn module a layer named by its path, "
                       "additions, torch.cat and flattens as Add, Concat and Flatten.")
    i.add_argument("model", metavar="MODULE:CALLABLE",
                   help="a class or function returning an nn.Module (called without arguments), "
                   "or an nn.Module; MODULE is imported from the current directory")
    i.add_argument("--input-shape", required=True, metavar="C,H,W",
                   help="input shape, channels first, no batch axis, e.g. 3,224,224")
    i.add_argument("--out", "-o", metavar="FILE", help="write the spec here (default: stdout)")
    i.add_argument("--symbolic", action="append", default=[], metavar="KEY=NAMES",
                   help="channels=C: out_channels that are multiples of the first "
                   "convolution's as k*C; input=H,W: the input's spatial sizes as symbols "
                   "(repeatable)")


def _run_import(args) -> str:
    from pathlib import Path

    from symcnn.files import write_atomic
    from symcnn.importers.isolated import import_isolated

    text = import_isolated(args.model, args.input_shape, args.symbolic)
    if args.out is None:
        return text
    try:
        write_atomic(Path(args.out), text)
    except OSError as err:
        raise SymcnnError(f"cannot write {args.out}: {err.strerror}") from None
    return f"wrote {args.out}\n"


def _load(args):
    """The spec (with ``--set``) and the memory options the flags ask for."""
    from symcnn.spec.builtin import example_spec
    from symcnn.spec.parse import load_spec, parse_assignments
    overrides = parse_assignments(args.set)
    spec = load_spec(args.spec, overrides) if args.spec else example_spec(overrides=overrides)
    options = _memory_options(args)
    return spec, options


def _make_report(args):
    from symcnn.report import make_report
    from symcnn.spec.parse import parse_size_range
    from symcnn.units import parse_size
    for budget in args.memory or ():
        try:
            parse_size(budget)
        except SymcnnError as err:
            raise SymcnnError(err.message, argument="memory") from None
    sizes = dict(parse_size_range(item) for item in args.sizes)
    spec, options = _load(args)
    return make_report(spec, options, batch_size=args.batch_size, memory=args.memory,
                       units=args.units, sizes=sizes, macs_convention=args.macs_convention)


def _solve_parser(sub, shared) -> None:
    s = sub.add_parser("solve", parents=[shared],
                       help="the largest value of a symbol (a width, an input size) that fits",
                       description="The largest whole value of one symbol for which training "
                       "memory at the batch size fits the budget (--memory), from the closed "
                       "form; every other symbol needs a value (--set; --set H=D ties two).")
    s.add_argument("--for", dest="symbol", required=True, metavar="NAME",
                   help="the symbol to solve for, e.g. C or D")
    s.add_argument("--json", action="store_true", help="print one JSON document")


def _sweep_parser(sub, shared) -> None:
    s = sub.add_parser("sweep", parents=[shared],
                       help="parameters, memory and largest batch on a grid of symbol values",
                       description="Evaluate the closed forms at every point of a grid of "
                       "values of the symbols (--vary) and write one row per point: the "
                       "symbols, total_params, training_bytes, inference_bytes and, with "
                       "--memory, max_batch.")
    s.add_argument("--vary", action="append", default=[], required=True,
                   metavar="NAME=START:STOP[:STEP]",
                   help="a symbol and its values, ends included (repeatable: a grid)")
    s.add_argument("--out", "-o", required=True, metavar="FILE",
                   help="the table: FILE.csv, or FILE.json")
    s.add_argument("--progress", action="store_true",
                   help="show progress on stderr (by default only when it is a terminal)")


def _single_budget(args, required: bool):
    """The one ``--memory`` of solve and sweep; the report's own flags refused."""
    if args.sizes:
        raise SymcnnError(f"applies to report and render, not {args.command}", argument="sizes")
    if len(args.memory or ()) > 1:
        raise SymcnnError("give one budget", argument="memory")
    if required and not args.memory:
        raise SymcnnError("give the budget, e.g. --memory 12GB", argument="memory")
    return args.memory[0] if args.memory else None


def _run_solve(args) -> str:
    from symcnn.explore import solve_for
    from symcnn.render.explore import solve_json, solve_text
    from symcnn.units import canonical_unit

    budget = _single_budget(args, required=True)
    spec, options = _load(args)
    try:
        solution = solve_for(spec, args.symbol, budget, options, args.batch_size)
    except SymcnnError as err:
        raise err.within(source=spec.source) from None
    if args.json:
        return json.dumps(solve_json(solution), indent=2) + "\n"
    from symcnn.memory.estimate import CONVENTIONS
    unit = canonical_unit(args.units or CONVENTIONS[options.convention].units, allow_auto=True)
    return solve_text(solution, unit, budget)


def _run_sweep(args) -> str:
    from pathlib import Path

    from symcnn.explore import sweep
    from symcnn.files import write_atomic
    from symcnn.render.explore import sweep_csv, sweep_json
    from symcnn.spec.parse import parse_size_range

    budget = _single_budget(args, required=False)
    if args.units:
        raise SymcnnError("the sweep writes bytes", argument="units")
    out = Path(args.out)
    if out.suffix.lower() not in (".csv", ".json"):
        raise SymcnnError(f"{args.out}: name a .csv or a .json file", argument="out")
    vary = {}
    for item in args.vary:
        try:
            name, values = parse_size_range(item)
        except SymcnnError as err:
            raise SymcnnError(err.message, argument="vary") from None
        if name in vary:
            raise SymcnnError(f"{name} is given twice", argument="vary")
        vary[name] = values
    spec, options = _load(args)
    show = args.progress or sys.stderr.isatty()
    try:
        columns = sweep(spec, vary, options, args.batch_size, budget,
                        progress=_progress_bar if show else None)
    except SymcnnError as err:
        raise err.within(source=spec.source) from None
    if show:
        print(file=sys.stderr)
    from symcnn.expressions import read_expression
    about = {"network": spec.network.name, "convention": str(options.convention),
             "batch_size": int(read_expression(args.batch_size)), "budget": budget}
    text = sweep_csv(columns) if out.suffix.lower() == ".csv" else sweep_json(columns, about)
    write_atomic(out, text)
    points = len(next(iter(columns.values())))
    grid = 1
    for values in vary.values():
        grid *= len(values)
    left = f" ({grid - points:,} of {grid:,} left out: the network does not build there)" \
        if points < grid else ""
    return f"wrote {points:,} points to {out}{left}\n"


def _progress_bar(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} points",
          end="", file=sys.stderr, flush=True)
def _memory_options(args) -> MemoryOptions:
    """The options of the memory figure: the flags given, then a profile's (``--profile``:
    the pytorch convention, its device, CPU and precision), then the defaults."""
    profile = read_profile(args.profile) if args.profile else None
    own = {} if profile is None else {"convention": Convention.PYTORCH,
                                      "device": profile.device, "precision": profile.precision,
                                      "cpu": profile.cpu}
    given = {name: getattr(args, name) for name in ("convention", "device", "precision", "cpu")}
    chosen = {name: value if value is not None else own.get(name) for name, value in given.items()}
    cpu, note = machine_cpu() if chosen["cpu"] == "AUTO" else (chosen["cpu"], None)
    if note:
        print(f"symcnn: note: {note}", file=sys.stderr)
    return MemoryOptions(chosen["convention"] or Convention.LECTURE, dtype=args.dtype,
                         optimizer=args.optimizer, device=chosen["device"] or Device.CUDA,
                         precision=chosen["precision"] or Precision.FP32,
                         cpu=cpu or CpuCapability.AVX512, threads=args.threads,
                         allocator_block=args.allocator_block,
                         checkpoint_segments=args.checkpoint_segments, profile=profile)


def _run(args) -> str:
    if args.command == "import":
        return _run_import(args)
    if args.command == "exam":
        return _run_exam(args)
    if args.command == "solve":
        return _run_solve(args)
    if args.command == "sweep":
        return _run_sweep(args)
    if args.command == "calibrate":
        return _run_calibrate(args)
    report = _make_report(args)
    if args.command == "render":
        from symcnn.render.documents import render
        paths = render(report, args.template, args.out, pdf=args.pdf, titles=_titles(args),
                       solutions=args.solutions)
        return "".join(f"wrote {p}\n" for p in paths)
    if args.json:
        from symcnn.render.jsonreport import to_json
        return json.dumps(to_json(report), indent=2) + "\n"
    from symcnn.render.textreport import render_text
    return render_text(report)


def _flag(argument: str) -> str:
    """The flag that sets a library argument, for error messages."""
    return FLAGS.get(argument, f"argument '{argument}'")


def main(argv=None) -> int:
    try:
        args = _parser().parse_args(argv)
        text = _run(args)
    except SymcnnError as err:
        print(f"symcnn: error: {err.describe(_flag)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # output is a transaction: nothing is left half-written
        print("symcnn: interrupted", file=sys.stderr)
        return 130
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

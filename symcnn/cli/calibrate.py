"""``symcnn calibrate``: each distinct layer configuration measured alone in PyTorch
(``memory.calibrate``), written atomically as a profile for ``--profile``."""

from __future__ import annotations

import sys

from symcnn.errors import SymcnnError
from symcnn.options import Device, Precision
from symcnn.spec.profile import profile_text


def add_parser(sub) -> None:
    """``calibrate``: the spec, where and at which precision and batch sizes to measure."""
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


def run(args) -> str:
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

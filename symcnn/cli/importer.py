"""``symcnn import``: a spec from a PyTorch model, traced in a child process
(``importers.isolated``: a model's ``sys.exit`` cannot end symcnn)."""

from __future__ import annotations


def add_parser(sub) -> None:
    """``import``: the model, its input shape, where the spec goes and what is symbolic."""
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


def run(args) -> str:
    """The spec on stdout, or written atomically to ``--out`` (``write_atomic`` names the file
    in the error when it cannot)."""
    from pathlib import Path

    from symcnn.files import write_atomic
    from symcnn.importers.isolated import import_isolated

    text = import_isolated(args.model, args.input_shape, args.symbolic)
    if args.out is None:
        return text
    write_atomic(Path(args.out), text)
    return f"wrote {args.out}\n"

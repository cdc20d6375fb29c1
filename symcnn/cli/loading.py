"""What the shared network flags (:func:`symcnn.cli.groups.network_options`) ask for: the
spec with ``--set``, the memory options, and the one budget of ``solve`` and ``sweep``."""

from __future__ import annotations

import sys

from symcnn.errors import SymcnnError
from symcnn.options import Convention, CpuCapability, Device, MemoryOptions, Precision, machine_cpu
from symcnn.spec.profile import read_profile


def load(args):
    """The spec (with ``--set``) and the memory options the flags ask for."""
    from symcnn.spec.builtin import example_spec
    from symcnn.spec.parse import load_spec, parse_assignments
    overrides = parse_assignments(args.set)
    spec = load_spec(args.spec, overrides) if args.spec else example_spec(overrides=overrides)
    options = memory_options(args)
    return spec, options


def memory_options(args) -> MemoryOptions:
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


def single_budget(args, required: bool):
    """The one ``--memory`` of solve and sweep; the report's own flags refused."""
    if args.sizes:
        raise SymcnnError(f"applies to report and render, not {args.command}", argument="sizes")
    if len(args.memory or ()) > 1:
        raise SymcnnError("give one budget", argument="memory")
    if required and not args.memory:
        raise SymcnnError("give the budget, e.g. --memory 12GB", argument="memory")
    return args.memory[0] if args.memory else None

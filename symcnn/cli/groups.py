"""Option groups that several commands share, as argparse parents: the network and the memory
question (``report``, ``render``, ``solve``, ``sweep``), the title page (``render``, ``exam``)
and the MACs convention (those and ``exam``). One definition each, so a flag means the same
in every command that takes it."""

from __future__ import annotations

import argparse

from symcnn.analysis.macs import MacsConvention
from symcnn.network import DTYPE_BYTES
from symcnn.options import Convention, CpuCapability, Device, Optimizer, Precision


def title_options() -> argparse.ArgumentParser:
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


def titles(args):
    """The title page that the :func:`title_options` given ask for."""
    from symcnn.render.documents import TitlePage
    return TitlePage(args.title, args.author, args.date, args.institute)


def network_options() -> argparse.ArgumentParser:
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
    macs_option(p)
    p.add_argument("--sizes", action="append", default=[], metavar="NAME=START:STOP[:STEP]",
                   help="list the values of a size symbol (e.g. H=1:512) for which every layer "
                   "size is positive and all branches meet (repeatable)")
    return p


def macs_option(p) -> None:
    """``--macs-convention`` on ``p``: whose count of multiply-accumulates the figures follow."""
    p.add_argument("--macs-convention", choices=[c.value for c in MacsConvention],
                   default=MacsConvention.FVCORE, help="count multiply-accumulates as fvcore (default: "
                   "convolutions and linear layers without bias), torchinfo (Mult-Adds: "
                   "parameters times output positions) or ptflops (bias, activations and "
                   "pooling too) count them")

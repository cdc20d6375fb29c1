"""Calibration: each distinct layer configuration of a network measured alone in PyTorch, its
kernels' buffers written as a profile (:mod:`symcnn.spec.profile`) that the ``pytorch``
convention uses in place of its built-in kernel rules (``symcnn calibrate``; needs torch).

For every configuration (:func:`configurations`: the nodes with equal
:func:`~symcnn.spec.profile.node_key`), at two batch sizes:

1. its calibration network (:mod:`symcnn.memory.calibrate.modules`: the node alone, or behind
   a ``pre`` node that makes its input) runs a training step and an eval-mode forward pass in
   PyTorch; :func:`symcnn.memory.calibrate.probe.measure` gives the live bytes at the highest
   point inside the node's forward call, its backward functions and its eval-mode call;
2. symcnn simulates the same network (:func:`~symcnn.memory.pytorch.timeline.training_moments`,
   :func:`~symcnn.memory.pytorch.inference.inference_moments`) with a workspace of 0 for the
   node: what it counts there (saved tensors, outputs, gradients, ...) without kernel buffers;
3. the difference is the kernels' workspace at that batch size.

Per phase the two differences make ``fixed + per_sample * b`` (``per_sample`` rounded up, and
``fixed`` the least that reaches both), the entry the profile holds.  The node is measured at
batch 1 as well, where PyTorch may pick other kernels (fp32 convolutions as im2col): a report
at batch 1 takes that measurement.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from symcnn.analysis.rows import Analysis, analyze
from symcnn.errors import SymcnnError
from symcnn.layers import Layer
from symcnn.memory.calibrate import probe
from symcnn.memory.calibrate.modules import LAYER, calibration_network, torch_network
from symcnn.memory.pytorch.inference import inference_moments
from symcnn.memory.pytorch.saved import activation_widths
from symcnn.memory.pytorch.timeline import training_moments
from symcnn.network import DTYPE_BYTES
from symcnn.options import machine_cpu
from symcnn.spec.profile import PHASES, VERSION, Profile, layer_fields, node_key

#: The batch sizes a configuration is measured at unless told.
BATCH_SIZES = (2, 4)


@dataclass(frozen=True)
class Configuration:
    """A distinct layer configuration of a network, and the nodes that have it."""

    key: str
    layer: Layer
    input_shape: tuple[int, ...]
    input_bytes: int
    first: bool
    nodes: tuple[str, ...]


def configurations(analysis: Analysis, device: str = "cpu",
                   precision: str = "fp32") -> tuple[list[Configuration], list[str]]:
    """The distinct configurations of ``analysis``'s one-input nodes, in order of first use,
    and the nodes that cannot be calibrated (merges)."""
    s = DTYPE_BYTES[analysis.network.dtype]
    width = activation_widths(analysis, device, precision, s)
    live = analysis.liveness
    found: dict[str, Configuration] = {}
    merges = []
    for r in analysis.rows:
        if r.layer.arity != 1:
            merges.append(r.name)
            continue
        shape = r.input_shapes[0]
        if not all(v.is_Integer for v in shape):
            raise SymcnnError(f"node {r.name!r}: its input shape {tuple(shape)} has symbols; "
                              "give every symbol a value", argument="overrides")
        in_bytes, first = width[r.inputs[0]], live.reads_input(r)
        key = node_key(r.layer, r.input_shapes, in_bytes, first)
        if key in found:
            c = found[key]
            found[key] = Configuration(key, c.layer, c.input_shape, in_bytes, first,
                                       c.nodes + (r.name,))
        else:
            found[key] = Configuration(key, r.layer, tuple(int(v) for v in shape), in_bytes,
                                       first, (r.name,))
    return list(found.values()), merges


def calibrate(analysis: Analysis, *, device: str = "cpu", precision: str = "fp32",
              batch_sizes: tuple[int, int] = BATCH_SIZES, source: str = "",
              progress: Callable[[int, int, str], None] | None = None) -> dict:
    """The profile document (JSON-ready, :mod:`symcnn.spec.profile`'s format) of
    ``analysis``'s layer configurations on this machine's ``device``, under ``precision``;
    ``progress(done, total, node)`` is called before and after each configuration."""
    torch = probe._torch()
    if analysis.network.dtype != "float32":
        raise SymcnnError(f"calibrate measures float32 networks (with autocast for bf16 and "
                          f"fp16), not {analysis.network.dtype}", argument="dtype")
    if device == "cuda" and not torch.cuda.is_available():
        raise SymcnnError("no CUDA device is available to this PyTorch", argument="device")
    sizes = tuple(batch_sizes)
    if len(sizes) != 2 or not all(type(v) is int for v in sizes) \
            or not 1 <= sizes[0] < sizes[1] <= 4096:
        raise SymcnnError(f"expected two batch sizes 1 <= b1 < b2 <= 4096, got "
                          f"{', '.join(map(str, sizes))}", argument="batch_sizes")
    b1, b2 = sizes
    configs, merges = configurations(analysis, device, precision)
    cpu = machine_cpu()[0].value if device == "cpu" else None
    threads = torch.get_num_threads() if device == "cpu" else None
    entries = []
    for i, config in enumerate(configs):
        if progress:
            progress(i, len(configs), config.nodes[0])
        entry = _calibrate_one(config, device, precision, (b1, b2), cpu, threads, torch)
        if entry is not None:
            entries.append(entry)
    if progress:
        progress(len(configs), len(configs), "")
    return {"symcnn_profile": VERSION, "device": device, "precision": precision, "cpu": cpu,
            "threads": threads, "torch": torch.__version__, "batch_sizes": [b1, b2],
            "machine": _machine(torch, device), "spec": source,
            "note": ("workspace per phase as [fixed, per_sample] bytes: what the kernels take "
                     "beyond what symcnn's pytorch convention counts; not calibrated (the "
                     "built-in rules apply): " + (", ".join(merges) or "none")),
            "layers": entries}


def _calibrate_one(config: Configuration, device, precision, batches, cpu, threads,
                   torch) -> dict | None:
    """One configuration's profile entry (None when no calibration network makes its input)."""
    network = calibration_network(config.layer, config.input_shape, config.input_bytes,
                                  config.first, precision)
    if network is None:
        return None
    analysis = analyze(network)
    zero = Profile(device, precision, cpu, threads, torch.__version__, batches,
                   ((config.key, ((0, 0),) * len(PHASES) + (None,) * len(PHASES)),))
    configs, _ = configurations(analysis, device, precision)
    if config.key not in {c.key for c in configs}:
        return None                              # the pre node gave another input
    measured, modelled = {}, {}
    for b in ((1,) if batches[0] > 1 else ()) + tuple(batches):
        torch.manual_seed(0)
        model = torch_network(network, torch)
        try:
            peaks = probe.measure(model, LAYER, config.input_shape, b, device, precision)
        except (RuntimeError, ValueError) as err:
            if b == 1 and batches[0] > 1:
                continue                         # batch 1 is extra: leave it out
            text = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise SymcnnError(f"node {config.nodes[0]!r}: PyTorch failed at batch {b}: "
                              f"{text}") from None
        base = _modelled(analysis, device, precision, b, cpu, threads, zero)
        measured[b] = {phase: peaks[phase] for phase in base}
        modelled[b] = base
    entry = {"type": config.layer.type_name, "fields": layer_fields(config.layer),
             "input_shapes": [list(config.input_shape)], "input_bytes": config.input_bytes,
             "first": config.first, "nodes": list(config.nodes)}
    b1, b2 = batches
    phases = [p for p in PHASES if p in modelled[b1]]
    for phase in phases:
        entry[phase] = fit(batches, [measured[b][phase] - modelled[b][phase] for b in batches])
    if 1 in measured and batches[0] > 1:
        entry["batch_1"] = {p: measured[1][p] - modelled[1][p] for p in phases}
    entry["measured"] = {p: [measured[b1][p], measured[b2][p]] for p in phases}
    entry["modelled"] = {p: [modelled[b1][p], modelled[b2][p]] for p in phases}
    return entry


def _modelled(analysis, device, precision, batch, cpu, threads, zero) -> dict[str, int]:
    """What symcnn counts inside the calibrated node's forward call, backward and eval-mode
    call at ``batch``, with a workspace of 0: the last moment of each (the workspace's)."""
    moments = training_moments(analysis, optimizer="sgd", device=device, batch=batch,
                               precision=precision, threads=threads or 2,
                               cpu=cpu or "AVX512", profile=zero)
    moments += inference_moments(analysis, device=device, batch=batch, precision=precision,
                                 threads=threads or 2, cpu=cpu or "AVX512", profile=zero)
    out = {}
    for m in moments:
        if m.node == LAYER:
            out[m.phase] = int(m.at(batch))
    return out


def fit(batches, workspace) -> list[int]:
    """``[fixed, per_sample]`` through two measured points, never below either:
    ``per_sample`` rounded up, ``fixed`` the least that reaches both.

    >>> fit((2, 4), [100, 180]), fit((2, 4), [100, 181])
    ([20, 40], [18, 41])
    """
    (b1, b2), (w1, w2) = batches, workspace
    per = -((w1 - w2) // (b2 - b1))
    return [max(w1 - per * b1, w2 - per * b2), per]


def _machine(torch, device: str) -> dict:
    """Where the profile was measured, in words."""
    out = {"python": platform.python_version(), "platform": platform.platform(),
           "torch_cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
           "cpu_name": cpu_name()}
    if device == "cuda":
        out.update(gpu=torch.cuda.get_device_name(), cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version())
    return out


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what ``platform`` knows of it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()

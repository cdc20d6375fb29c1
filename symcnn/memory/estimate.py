"""Memory of training and inference, as expressions affine in the batch size.

Every convention has the form ``M(b) = fixed + b * per_sample``; they differ in what
they count (:data:`CONVENTIONS`):

``lecture`` (the seed lecture's, and the one taught in most courses)::

    M(b) = Params + Grads + b * (I_1 + 2 * sum_{i>=2} I_i)

  ``I_1`` is the input, stored once; every later activation ``I_i`` (the output of a
  layer that allocates one: views such as Flatten and in-place layers do not) is counted
  twice, once for its value and once for its gradient.  Optimizer state (SGD momentum 1x,
  Adam/AdamW 2x the parameters) and BatchNorm buffers are added when present.

``torchinfo``: torchinfo's "Estimated Total Size": input + 2 x the outputs of the layers
  that have parameters + the parameters; no gradients, no buffers, no optimizer state;
  MB = 10^6 bytes.

``torchsummary``: torchsummary's "Estimated Total Size": input + 2 x the output of every
  module (views and in-place layers included; ``Add``/``Concat`` are functions, not
  modules) + parameters, always at 4 bytes per element, in MiB (which it labels "MB").

``cs231n``: the CS231n notes' rule: every activation, the input included, twice (forward
  value and backward gradient), and the parameters three times (values, gradients and
  momentum), in binary units.

The inference figure keeps no gradients and counts, per sample, the largest set of tensors
that must be alive at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import sympy

from symcnn.analysis.rows import Analysis, LayerRow
from symcnn.layers import Derivation, Shape
from symcnn.memory.pytorch.checkpointing import kept_tensors
from symcnn.memory.pytorch.inference import inference_moments
from symcnn.memory.pytorch.moments import Moment, peak
from symcnn.memory.pytorch.saved import activation_widths, saved_tensors
from symcnn.memory.pytorch.timeline import training_moments
from symcnn.memory.pytorch.workspace import THREADS, allowance_layers
from symcnn.network import DTYPE_BYTES
from symcnn.options import (
    CpuCapability,
    Device,
    MemoryOptions,
    Optimizer,
    Precision,
    options_from,
)
from symcnn.spec.profile import Profile, node_key
from symcnn.symbols import b, size


@dataclass(frozen=True)
class ConventionRules:
    """What a memory convention counts (which options it accepts:
    :class:`symcnn.options.Convention`).

    ``stores(row)`` says whether a node's output counts as an activation; the input counts
    ``input_times`` and each stored output ``output_times``.
    """

    name: str
    summary: str
    stores: Callable[[LayerRow], bool]
    input_times: int = 1
    output_times: int = 2
    grads: bool = True
    buffers: bool = True
    element_bytes: int | None = None
    units: str = "MB"
    #: Count each block's output once more, as hooks on container modules do.
    containers: bool = False


CONVENTIONS: dict[str, ConventionRules] = {c.name: c for c in (
    ConventionRules("lecture", "Params + Grads + b (I_1 + 2 sum of the allocated outputs)",
                    lambda r: r.allocates),
    ConventionRules("torchinfo", "torchinfo's Estimated Total Size: input + 2 x outputs of the "
                    "layers with parameters + parameters", lambda r: r.params != 0, grads=False,
                    buffers=False),
    ConventionRules("torchsummary", "torchsummary's Estimated Total Size: input + 2 x every "
                    "module output + parameters, 4 bytes per element, in MiB",
                    lambda r: r.layer.arity == 1, grads=False, buffers=False,
                    element_bytes=4, units="MiB", containers=True),
    ConventionRules("cs231n", "CS231n's rule: every activation twice (forward and backward), "
                    "the parameters three times (values, gradients, momentum)",
                    lambda r: r.allocates, input_times=2, units="MiB"),
    ConventionRules("pytorch", "the peak of a PyTorch training step: parameters, gradients, "
                    "optimizer state, what autograd saves, the gradients in flight, the CPU "
                    "kernels' buffers (on CUDA, cuDNN's workspaces and the CUDA context, about "
                    "0.5-1 GB, are not included)", lambda r: False),
)}


@dataclass(frozen=True)
class Term:
    """One named amount of memory in bytes, with how it was derived."""

    label: str
    source: str
    derivation: Derivation
    times: int = 1

    @property
    def bytes(self) -> sympy.Expr:
        return self.derivation.value


@dataclass(frozen=True)
class Simulation:
    """What only the ``pytorch`` convention has: the moments of the simulated training step
    and eval-mode forward pass, and the options they were simulated with."""

    #: The moments of the training step (:mod:`symcnn.memory.pytorch.timeline`).
    moments: tuple[Moment, ...]
    #: The moments of an eval-mode, no_grad forward pass (:mod:`symcnn.memory.pytorch.inference`).
    inference_moments: tuple[Moment, ...]
    device: Device
    #: ``fp32``, or the autocast dtype of the forward pass.
    precision: Precision
    #: Every allocation rounded up to a multiple of this many bytes (512: PyTorch's CUDA
    #: caching allocator), or 0 for the requested sizes.
    allocator_block: int = 0
    #: On the CPU: the intra-op threads of the kernels' buffers; None on CUDA.
    threads: int | None = None
    #: ``k`` for a forward pass through ``checkpoint_sequential(model, k, x)``, 0 without
    #: activation checkpointing.
    checkpoint_segments: int = 0
    #: On the CPU: the capability whose kernel rules were applied; None on CUDA.
    cpu: CpuCapability | None = None
    #: ``(node, why)`` of the layers whose kernel buffers are an allowance (no rule known to
    #: hold on this CPU): the figure is an upper bound
    #: (:func:`symcnn.memory.pytorch.workspace.allowance_layers`).
    upper_bound: tuple[tuple[str, str], ...] = ()
    #: The calibration profile whose measured workspace replaced the rules, if any.
    profile: Profile | None = None
    #: With a profile: the nodes it held a configuration for, and those it did not (the
    #: built-in rules gave theirs).
    profiled_nodes: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())

    def rounding(self, batch) -> int:
        """The allocator block at ``batch``: rounding applies to a number of samples; in
        ``b`` the formula stays the affine one."""
        return self.allocator_block if sympy.sympify(batch).is_number else 0


@dataclass(frozen=True)
class Memory:
    """Memory of a network as ``fixed + per_sample * b`` (training) and its inference peak."""

    analysis: Analysis
    rules: ConventionRules
    dtype: str
    optimizer: Optimizer
    params: Term
    grads: Term
    buffers: Term
    optimizer_state: Term
    activations: tuple[Term, ...]
    inference_per_sample: sympy.Expr
    #: For the ``pytorch`` convention: the simulated step; None for the summed conventions.
    simulation: Simulation | None = None

    @property
    def convention(self) -> str:
        return self.rules.name

    @property
    def element_bytes(self) -> int:
        """Bytes per element the convention counts (the dtype's, unless it fixes one)."""
        return self.rules.element_bytes or DTYPE_BYTES[self.dtype]

    @property
    def fixed(self) -> sympy.Expr:
        """Bytes that do not grow with the batch: parameters, gradients, buffers, optimizer state.

        For a simulated step (``pytorch``): those of the moment that grows fastest with the
        batch, the one that decides large batches."""
        if self.simulation:
            return self.asymptote.fixed
        return sympy.Add(self.params.bytes, self.grads.bytes, self.buffers.bytes,
                         self.optimizer_state.bytes)

    @property
    def per_sample(self) -> sympy.Expr:
        """Training bytes per sample: ``I_1 + 2 * sum_{i>=2} I_i`` (lecture convention)."""
        if self.simulation:
            return self.asymptote.per_sample
        return sympy.Add(*(t.times * t.bytes for t in self.activations))

    @functools.cached_property
    def asymptote(self) -> Moment:
        """The moment of the simulated step that grows fastest with the batch."""
        moments = self.simulation.moments
        numeric = all(m.per_sample.is_number and m.fixed.is_number for m in moments)
        if not numeric:
            return max(moments, key=lambda m: count_ops(m.per_sample))
        return max(moments, key=lambda m: (int(m.per_sample), int(m.fixed)))

    def training(self, batch=b) -> sympy.Expr:
        """Training memory at batch size ``batch`` (the symbol ``b`` by default); for a
        simulated step, the largest of its moments (with ``allocator_block``, rounded, when
        ``batch`` is a number)."""
        sim = self.simulation
        if sim:
            return sympy.sympify(peak(sim.moments, batch, sim.rounding(batch)))
        return self.fixed + self.per_sample * batch

    def peak_moment(self, batch) -> Moment | None:
        """The moment of the simulated step that holds the most at ``batch`` (None when the
        convention sums, or sizes are symbolic)."""
        sim = self.simulation
        if not sim or not sympy.sympify(batch).is_number or not all(
                m.fixed.is_number and m.per_sample.is_number for m in sim.moments):
            return None
        values = [m.at(batch, sim.allocator_block) for m in sim.moments]
        if not all(v.is_number for v in values):
            return None
        return max(zip(values, sim.moments), key=lambda vm: int(vm[0]))[1]

    @property
    def inference_fixed(self) -> sympy.Expr:
        return self.params.bytes + self.buffers.bytes

    def inference(self, batch=b) -> sympy.Expr:
        """Inference memory: weights and buffers, plus the largest live input + output pair;
        for a simulated step (``pytorch``), the peak of the simulated eval-mode forward pass
        (:mod:`symcnn.memory.pytorch.inference`)."""
        sim = self.simulation
        if sim:
            return sympy.sympify(peak(sim.inference_moments, batch, sim.rounding(batch)))
        return self.inference_fixed + self.inference_per_sample * batch


def count_ops(expr: sympy.Expr) -> int:
    """``sympy.count_ops(expr)`` of a sum, from its terms: each term without its positive
    integer coefficient is counted once however many sums hold it (the moments of a deep
    symbolic network share their terms, with other coefficients), and the coefficient adds
    its multiplication; one ``ADD``/``SUB`` between terms, one ``NEG`` if every term is
    negative (what ``count_ops`` counts for an ``Add``)."""
    if not expr.is_Add:
        return _count_ops(expr)
    out, negative = len(expr.args) - 1, 0
    for term in expr.args:
        c, m = term.as_coeff_Mul()
        if c.is_negative:
            negative += 1
            c, term = -c, -term
        if not c.is_Integer or any(f.is_Pow and f.exp.is_negative for f in sympy.Mul.make_args(m)):
            out += _count_ops(term)                # a division: counted as sympy does
        elif m is sympy.S.One:
            out += 0                               # a positive integer: no operation
        else:
            out += _count_ops(m) + (c != 1)
    return out + (negative == len(expr.args))


@functools.lru_cache(maxsize=65536)
def _count_ops(expr: sympy.Expr) -> int:
    return int(sympy.count_ops(expr))


def _product_term(label: str, source: str, shape: Shape, nbytes: int, times: int) -> Term:
    """``I_i = D H W C s`` in the lecture's written order: spatial axes, channels, bytes; the
    general formula is left unevaluated so that its letters stand in the order of the
    numbers.  Its letters are the general ones: where a network uses one as a symbol of its
    own, the documents write it otherwise (:mod:`symcnn.analysis.letters`)."""
    channels, spatial = shape[0], tuple(shape[1:])
    names = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}.get(len(spatial))
    letters = [*(names or [f"n_{i + 1}" for i in range(len(spatial))]), "C"]
    general = sympy.Mul(*map(size, letters), size("s"), evaluate=False)
    value = sympy.Mul(*shape) * nbytes
    substituted = sympy.Mul(*spatial, channels, sympy.Integer(nbytes), evaluate=False)
    return Term(label, source, Derivation(general, substituted, value), times)


def _scaled_term(label: str, count: sympy.Expr, nbytes: int, symbol: str = "N") -> Term:
    substituted = sympy.Mul(count, sympy.Integer(nbytes), evaluate=False)
    return Term(label, "", Derivation(size(symbol) * size("s"), substituted,
                                      count * nbytes))


def live_elements(analysis: Analysis) -> list[sympy.Expr]:
    """Elements alive while each node that allocates runs, without gradients: every tensor
    from the node that makes it until its last reader (the network's output until the end;
    one that nothing reads while its node runs).  Views and in-place layers share their
    input's storage.  A skip connection stays alive across its branch
    (:mod:`symcnn.analysis.liveness`)."""
    live = analysis.liveness
    size = {"input": sympy.Mul(*analysis.input_shape),
            **{r.name: r.activation for r in analysis.rows if live.born_here(r)}}
    numeric = all(v.is_Integer for v in size.values())
    if numeric:
        size = {k: int(v) for k, v in size.items()}
    steps = [r.index for r in analysis.rows if live.born_here(r)] or [0]
    if numeric:
        return [sympy.Integer(sum(size[s] for s in live.alive[i])) for i in steps]
    return [sympy.Add(*(size[s] for s in live.alive[i])) for i in steps]


def estimate_memory(analysis: Analysis, options: MemoryOptions | None = None, *, batch=None,
                    **deprecated) -> Memory:
    """Memory terms of ``analysis`` counted as ``options`` say (the lecture convention by
    default; :data:`CONVENTIONS`, :class:`symcnn.options.MemoryOptions`).

    For the simulated ``pytorch`` convention: ``precision`` changes the saved storages (their
    dtypes and autocast's saved copies) and nothing else (:mod:`symcnn.memory.pytorch.timeline`);
    ``checkpoint_segments`` (sequential networks only) simulates a forward pass through
    ``checkpoint_sequential(model, k, x, use_reentrant=False)``; ``allocator_block`` rounds
    every allocation as PyTorch's CUDA caching allocator does (512) and as
    ``torch.cuda.max_memory_allocated`` counts: the moments stay affine, and
    :meth:`Memory.training` and the batch limits apply the rounding.

    ``batch`` (``pytorch`` convention): the batch size the kernels' regimes are taken at
    (PyTorch's im2col at batch 1, oneDNN's thread split; :mod:`symcnn.memory.pytorch.workspace`);
    None: the regime of large batches.

    The options used to be loose keywords (``convention="pytorch"``): those still work, with
    a :class:`DeprecationWarning`.

    >>> from symcnn.analysis.rows import analyze
    >>> from symcnn.spec.builtin import lecture_network
    >>> m = estimate_memory(analyze(lecture_network()))
    >>> m.fixed, m.per_sample, m.training(1)
    (26413208, 2910900732, 2937313940)
    >>> estimate_memory(analyze(lecture_network()), MemoryOptions("torchinfo")).training(1)
    2924107336
    """
    options = options_from(options, deprecated, "estimate_memory")
    rules = CONVENTIONS[options.convention]
    optimizer = options.resolved_optimizer
    dtype = options.dtype or analysis.network.dtype
    s = rules.element_bytes or DTYPE_BYTES[dtype]
    n_params = analysis.total_params
    params = _scaled_term("Params", n_params, s)
    grads = _scaled_term("Grads", n_params if rules.grads else sympy.Integer(0), s)
    state = _scaled_term("Optimizer", optimizer.states * n_params, s)
    buffers_bytes = sympy.Add(*(r.layer.buffer_bytes(r.input_shapes[0], s)
                                for r in analysis.rows if r.buffers != 0 and rules.buffers))
    buffers = Term("Buffers", "", Derivation(size("N_buf") * size("s"), buffers_bytes,
                                             sympy.expand(buffers_bytes)))
    live = live_elements(analysis)
    numeric = all(p.is_number for p in live)
    inference_peak = sympy.Integer(max(int(p) for p in live)) if numeric \
        else sympy.Max(*dict.fromkeys(live), evaluate=False)
    simulation = None
    if options.convention.simulated:
        simulation = _simulate(analysis, options, optimizer, s, batch)
        acts = _saved_terms(analysis, options, s)
    else:
        acts = _activation_terms(analysis, rules, s)
    return Memory(analysis, rules, dtype, optimizer, params, grads, buffers, state, acts,
                  inference_peak * s, simulation)


def _activation_terms(analysis: Analysis, rules: ConventionRules, s: int) -> tuple[Term, ...]:
    """The input and the outputs a summed convention stores, ``I_1``, ``I_2``, ..."""
    acts = [_product_term("I_1", "input", analysis.input_shape, s, rules.input_times)]
    rows = analysis.rows
    for i, row in enumerate(rows):
        if rules.stores(row):
            acts.append(_product_term(f"I_{len(acts) + 1}", row.name, row.output_shape, s,
                                      rules.output_times))
        if rules.containers and row.block and (i + 1 == len(rows) or rows[i + 1].block != row.block):
            acts.append(_product_term(f"I_{len(acts) + 1}", row.block, row.output_shape, s,
                                      rules.output_times))
    return tuple(acts)


def _simulate(analysis: Analysis, options: MemoryOptions, optimizer: Optimizer, s: int,
              batch) -> Simulation:
    """The ``pytorch`` convention's training step and eval-mode forward pass."""
    device, precision = options.device, options.precision
    threads = THREADS if options.threads is None else options.threads
    segments = options.checkpoint_segments
    foreach = device is Device.CUDA if options.foreach is None else options.foreach
    moments = training_moments(analysis, element_bytes=s, optimizer=optimizer, device=device,
                               precision=precision, batch=batch, threads=threads,
                               foreach=foreach, checkpoint_segments=segments, cpu=options.cpu,
                               profile=options.profile)
    inference = inference_moments(analysis, element_bytes=s, device=device,
                                  precision=precision, batch=batch, threads=threads,
                                  cpu=options.cpu, profile=options.profile)
    on_cpu = device is Device.CPU
    bound = allowance_layers(analysis.rows, str(precision), options.cpu) if on_cpu else ()
    coverage = profile_coverage(analysis, options.profile, device, precision, s)
    bound = tuple((n, why) for n, why in bound if n not in coverage[0])   # measured instead
    return Simulation(moments, inference, device, precision, options.allocator_block,
                      threads if on_cpu else None, segments if segments != 1 else 0,
                      options.cpu if on_cpu else None, bound, options.profile, coverage)


def profile_coverage(analysis: Analysis, profile: Profile | None, device, precision,
                     s: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The nodes whose configuration ``profile`` holds, and the others (whose kernel
    workspace the built-in rules give); both empty without a profile."""
    if profile is None:
        return (), ()
    width = activation_widths(analysis, device, precision, s)
    live = analysis.liveness
    held = {r.name: profile.holds(node_key(r.layer, r.input_shapes,
                                           max(width[i] for i in r.inputs),
                                           live.reads_input(r)))
            for r in analysis.rows}
    return (tuple(n for n, h in held.items() if h), tuple(n for n, h in held.items() if not h))


def _saved_terms(analysis: Analysis, options: MemoryOptions, s: int) -> tuple[Term, ...]:
    """The storages the simulated step keeps for backward, ``S_1``, ``S_2``, ..."""
    k, device, precision = options.checkpoint_segments, options.device, options.precision
    kept = kept_tensors(analysis, k, device, precision) if k \
        else saved_tensors(analysis, device, precision)
    return tuple(
        Term(f"S_{i}", t.node if t.kind == "activation" else f"{t.saved_by} ({t.kind})",
             Derivation(size("n") * size("s"), sympy.Mul(
                 t.elements, sympy.Integer(t.element_bytes or s), evaluate=False),
                 t.elements * (t.element_bytes or s)))
        for i, t in enumerate(kept, start=1))

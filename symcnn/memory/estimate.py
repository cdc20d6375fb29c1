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

from collections.abc import Callable
from dataclasses import dataclass

import sympy

from symcnn.analysis.rows import Analysis, LayerRow
from symcnn.errors import SymcnnError
from symcnn.layers import Derivation, Shape
from symcnn.memory.pytorch.checkpointing import kept_tensors
from symcnn.memory.pytorch.inference import inference_moments
from symcnn.memory.pytorch.moments import peak
from symcnn.memory.pytorch.saved import saved_tensors
from symcnn.memory.pytorch.timeline import training_moments
from symcnn.memory.pytorch.workspace import THREADS
from symcnn.network import DTYPE_BYTES
from symcnn.options import DEVICES, OPTIMIZER_STATES, PRECISIONS
from symcnn.symbols import axis_symbols, b, size


@dataclass(frozen=True)
class Convention:
    """What a memory convention counts.

    ``stores(row)`` says whether a node's output counts as an activation; the input counts
    ``input_times`` and each stored output ``output_times``.  ``optimizer`` is the state it
    assumes by default, or None when it models no training state (then none may be asked).
    """

    name: str
    summary: str
    stores: Callable[[LayerRow], bool]
    input_times: int = 1
    output_times: int = 2
    grads: bool = True
    buffers: bool = True
    optimizer: str | None = "none"
    element_bytes: int | None = None
    units: str = "MB"
    #: Count each block's output once more, as hooks on container modules do.
    containers: bool = False
    #: The peak of a simulated training step (:mod:`symcnn.memory.pytorch.timeline`), not a sum.
    timeline: bool = False


CONVENTIONS: dict[str, Convention] = {c.name: c for c in (
    Convention("lecture", "Params + Grads + b (I_1 + 2 sum of the allocated outputs)",
               lambda r: r.allocates),
    Convention("torchinfo", "torchinfo's Estimated Total Size: input + 2 x outputs of the "
               "layers with parameters + parameters", lambda r: r.params != 0, grads=False,
               buffers=False, optimizer=None),
    Convention("torchsummary", "torchsummary's Estimated Total Size: input + 2 x every module "
               "output + parameters, 4 bytes per element, in MiB",
               lambda r: r.layer.arity == 1, grads=False, buffers=False, optimizer=None,
               element_bytes=4, units="MiB", containers=True),
    Convention("cs231n", "CS231n's rule: every activation twice (forward and backward), the "
               "parameters three times (values, gradients, momentum)", lambda r: r.allocates,
               input_times=2, optimizer="momentum", units="MiB"),
    Convention("pytorch", "the peak of a PyTorch training step: parameters, gradients, "
               "optimizer state, what autograd saves, the gradients in flight, the CPU "
               "kernels' buffers (on CUDA, cuDNN's workspaces and the CUDA context, about "
               "0.5-1 GB, are not included)", lambda r: False, optimizer="sgd",
               timeline=True),
)}


def dtype_bytes(dtype: str) -> int:
    if dtype not in DTYPE_BYTES:
        raise SymcnnError(f"unknown dtype {dtype!r} (known: {', '.join(DTYPE_BYTES)})",
                          field="dtype")
    return DTYPE_BYTES[dtype]


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
class Memory:
    """Memory of a network as ``fixed + per_sample * b`` (training) and its inference peak."""

    analysis: Analysis
    rules: Convention
    dtype: str
    optimizer: str
    params: Term
    grads: Term
    buffers: Term
    optimizer_state: Term
    activations: tuple[Term, ...]
    inference_per_sample: sympy.Expr
    #: For the ``pytorch`` convention: the moments of the simulated step.
    moments: tuple = ()
    device: str = ""
    #: For the ``pytorch`` convention: ``fp32``, or the autocast dtype of the forward pass.
    precision: str = "fp32"
    #: For the ``pytorch`` convention: every allocation rounded up to a multiple of this many
    #: bytes (512: PyTorch's CUDA caching allocator), or 0 for the requested sizes.
    allocator_block: int = 0
    #: For the ``pytorch`` convention: the moments of an eval-mode, no_grad forward pass.
    inference_moments: tuple = ()
    #: For the ``pytorch`` convention on the CPU: the intra-op threads of the kernels' buffers.
    threads: int = 0
    #: For the ``pytorch`` convention: ``k`` for a forward pass through
    #: ``checkpoint_sequential(model, k, x)``, 0 without activation checkpointing.
    checkpoint_segments: int = 0

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
        if self.moments:
            return self.asymptote.fixed
        return sympy.Add(self.params.bytes, self.grads.bytes, self.buffers.bytes,
                         self.optimizer_state.bytes)

    @property
    def per_sample(self) -> sympy.Expr:
        """Training bytes per sample: ``I_1 + 2 * sum_{i>=2} I_i`` (lecture convention)."""
        if self.moments:
            return self.asymptote.per_sample
        return sympy.Add(*(t.times * t.bytes for t in self.activations))

    @property
    def asymptote(self):
        """The moment of the simulated step that grows fastest with the batch."""
        numeric = all(m.per_sample.is_number and m.fixed.is_number for m in self.moments)
        if not numeric:
            return max(self.moments, key=lambda m: sympy.count_ops(m.per_sample))
        return max(self.moments, key=lambda m: (int(m.per_sample), int(m.fixed)))

    def training(self, batch=b) -> sympy.Expr:
        """Training memory at batch size ``batch`` (the symbol ``b`` by default); for a
        simulated step, the largest of its moments (with ``allocator_block``, rounded, when
        ``batch`` is a number)."""
        if self.moments:
            # rounding applies to a number of samples; in b the formula stays the affine one
            block = self.allocator_block if sympy.sympify(batch).is_number else 0
            return sympy.sympify(peak(self.moments, batch, block))
        return self.fixed + self.per_sample * batch

    def peak_moment(self, batch):
        """The moment of the simulated step that holds the most at ``batch`` (None when the
        convention sums, or sizes are symbolic)."""
        if not self.moments or not sympy.sympify(batch).is_number:
            return None
        values = [m.at(batch, self.allocator_block) for m in self.moments]
        if not all(v.is_number for v in values):
            return None
        return max(zip(values, self.moments), key=lambda vm: int(vm[0]))[1]

    @property
    def inference_fixed(self) -> sympy.Expr:
        return self.params.bytes + self.buffers.bytes

    def inference(self, batch=b) -> sympy.Expr:
        """Inference memory: weights and buffers, plus the largest live input + output pair;
        for a simulated step (``pytorch``), the peak of the simulated eval-mode forward pass
        (:mod:`symcnn.memory.pytorch.inference`)."""
        if self.inference_moments:
            block = self.allocator_block if sympy.sympify(batch).is_number else 0
            return sympy.sympify(peak(self.inference_moments, batch, block))
        return self.inference_fixed + self.inference_per_sample * batch


def _product_term(label: str, source: str, shape: Shape, nbytes: int, times: int) -> Term:
    """``I_i = D*H*W*C*s`` in the lecture's written order: spatial axes, channels, bytes."""
    channels, spatial = shape[0], tuple(shape[1:])
    names = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}.get(len(spatial))
    axes = tuple(map(size, names)) if names else axis_symbols("n", len(spatial))
    general = sympy.Mul(*axes, size("C"), size("s"))
    value = sympy.Mul(*shape) * nbytes
    substituted = sympy.Mul(*spatial, channels, sympy.Integer(nbytes), evaluate=False)
    return Term(label, source, Derivation(general, substituted, value), times)


def _scaled_term(label: str, count: sympy.Expr, nbytes: int, symbol: str = "N") -> Term:
    substituted = sympy.Mul(count, sympy.Integer(nbytes), evaluate=False)
    return Term(label, "", Derivation(size(symbol) * size("s"), substituted,
                                      count * nbytes))


def live_elements(analysis: Analysis) -> list[sympy.Expr]:
    """Elements alive while each node runs, without gradients: every tensor from the node
    that makes it until its last reader (the network's output until the end).  Views and
    in-place layers share their input's storage.  A skip connection stays alive across its
    branch."""
    storage = {"input": "input"}                    # node -> the node whose memory it uses
    size = {"input": sympy.Mul(*analysis.input_shape)}
    last_use = {"input": 0}
    for r in analysis.rows:
        storage[r.name] = r.name if r.allocates else storage[r.inputs[0]]
        if r.allocates:
            size[r.name] = r.activation
        for i in r.inputs:
            last_use[storage[i]] = r.index
        last_use[storage[r.name]] = max(last_use.get(storage[r.name], 0), r.index)
    last_use[storage[analysis.rows[-1].name] if analysis.rows else "input"] = len(analysis.rows) + 1
    born = {"input": 0, **{r.name: r.index for r in analysis.rows if r.allocates}}
    steps = [r.index for r in analysis.rows if r.allocates] or [0]
    return [sympy.Add(*(size[s] for s in size if born[s] <= i <= last_use[s])) for i in steps]


def estimate_memory(analysis: Analysis, *, dtype: str | None = None,
                    optimizer: str | None = None, convention: str = "lecture",
                    device: str = "cuda", precision: str = "fp32",
                    checkpoint_segments: int = 0, allocator_block: int = 0,
                    batch=None, threads: int | None = None,
                    foreach: bool | None = None) -> Memory:
    """Memory terms of ``analysis`` under ``convention`` (see :data:`CONVENTIONS`).

    ``precision`` (``pytorch`` convention only): ``fp32``, or ``bf16``/``fp16`` for a forward
    pass under ``torch.autocast``, which changes the saved storages (their dtypes and
    autocast's saved copies) and nothing else (:mod:`symcnn.memory.pytorch.timeline`).

    ``checkpoint_segments`` (``pytorch`` convention, sequential networks only): 0 (off), or
    ``k`` for a forward pass ``checkpoint_sequential(model, k, x, use_reentrant=False)``
    (:func:`symcnn.memory.pytorch.timeline.training_moments`).

    ``allocator_block`` (``pytorch`` convention): round every allocation up to a multiple of
    this many bytes, as PyTorch's CUDA caching allocator does (512) and as
    ``torch.cuda.max_memory_allocated`` counts; 0 (the default) counts the requested sizes.
    The moments stay affine; :meth:`Memory.training` and the batch limits apply the rounding.

    ``batch`` (``pytorch`` convention): the batch size the kernels' regimes are taken at
    (PyTorch's im2col at batch 1, oneDNN's thread split; :mod:`symcnn.memory.pytorch.workspace`); None: the
    regime of large batches.  ``threads`` (``pytorch`` convention, ``device="cpu"``): the
    intra-op threads oneDNN's per-thread buffers follow (default 2, as measured).
    ``foreach`` (``pytorch`` convention): the optimizer's multi-tensor implementation; None
    is PyTorch's default, ``foreach`` on CUDA and the per-tensor loop on the CPU.

    >>> from symcnn.analysis.rows import analyze
    >>> from symcnn.spec.builtin import lecture_network
    >>> m = estimate_memory(analyze(lecture_network()))
    >>> m.fixed, m.per_sample, m.training(1)
    (26413208, 2910900732, 2937313940)
    >>> estimate_memory(analyze(lecture_network()), convention="torchinfo").training(1)
    2924107336
    """
    if convention not in CONVENTIONS:
        raise SymcnnError(f"unknown convention {convention!r} (known: {', '.join(CONVENTIONS)})",
                          field="convention")
    rules = CONVENTIONS[convention]
    if optimizer is not None and optimizer not in OPTIMIZER_STATES:
        raise SymcnnError(f"unknown optimizer {optimizer!r} (known: "
                          f"{', '.join(OPTIMIZER_STATES)})", field="optimizer")
    if rules.optimizer is None and optimizer not in (None, "none"):
        raise SymcnnError(f"the {convention} convention counts no optimizer state; use the "
                          "lecture or cs231n convention for that", field="optimizer")
    optimizer = optimizer or rules.optimizer or "none"
    dtype = dtype or analysis.network.dtype
    dtype_bytes(dtype)
    s = rules.element_bytes or DTYPE_BYTES[dtype]
    n_params = analysis.total_params
    params = _scaled_term("Params", n_params, s)
    grads = _scaled_term("Grads", n_params if rules.grads else sympy.Integer(0), s)
    state = _scaled_term("Optimizer", OPTIMIZER_STATES[optimizer] * n_params, s)
    buffers_bytes = sympy.Add(*(r.layer.buffer_bytes(r.input_shapes[0], s)
                                for r in analysis.rows if r.buffers != 0 and rules.buffers))
    buffers = Term("Buffers", "", Derivation(size("N_buf") * size("s"), buffers_bytes,
                                             sympy.expand(buffers_bytes)))

    acts = [_product_term("I_1", "input", analysis.input_shape, s, rules.input_times)]
    rows = analysis.rows
    for i, row in enumerate(rows):
        if rules.stores(row):
            acts.append(_product_term(f"I_{len(acts) + 1}", row.name, row.output_shape, s,
                                      rules.output_times))
        if rules.containers and row.block and (i + 1 == len(rows) or rows[i + 1].block != row.block):
            acts.append(_product_term(f"I_{len(acts) + 1}", row.block, row.output_shape, s,
                                      rules.output_times))

    live = live_elements(analysis)
    numeric = all(p.is_number for p in live)
    peak = sympy.Integer(max(int(p) for p in live)) if numeric \
        else sympy.Max(*dict.fromkeys(live), evaluate=False)
    moments = inference = ()
    if precision not in PRECISIONS:
        raise SymcnnError(f"unknown precision {precision!r} (known: {', '.join(PRECISIONS)})",
                          field="precision")
    if precision != "fp32" and not rules.timeline:
        raise SymcnnError(f"the {convention} convention has no mixed precision; use the "
                          "pytorch convention (or dtype for one element size)", field="precision")
    if not isinstance(allocator_block, int) or allocator_block < 0:
        raise SymcnnError(f"allocator_block must be a whole number of bytes >= 0, not "
                          f"{allocator_block!r}", field="allocator_block")
    if threads is None:
        threads = THREADS
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise SymcnnError(f"threads must be a whole number >= 1, not {threads!r}",
                          field="threads")
    if allocator_block and not rules.timeline:
        raise SymcnnError(f"the {convention} convention does not simulate allocations; use the "
                          "pytorch convention for allocator rounding", field="allocator_block")
    if checkpoint_segments and not rules.timeline:
        raise SymcnnError(f"the {convention} convention has no activation checkpointing; use "
                          "the pytorch convention", field="checkpoint_segments")
    if rules.timeline:
        if device not in DEVICES:
            raise SymcnnError(f"unknown device {device!r} (known: {', '.join(DEVICES)})",
                              field="device")
        moments = training_moments(analysis, element_bytes=s, optimizer=optimizer, device=device,
                                   precision=precision, batch=batch, threads=threads,
                                   foreach=device == "cuda" if foreach is None else foreach,
                                   checkpoint_segments=checkpoint_segments)
        inference = inference_moments(analysis, element_bytes=s, device=device,
                                      precision=precision, batch=batch, threads=threads)
        acts = [Term(f"S_{i}", t.node if t.kind == "activation" else f"{t.saved_by} ({t.kind})",
                     Derivation(size("n") * size("s"), sympy.Mul(
                         t.elements, sympy.Integer(t.element_bytes or s), evaluate=False),
                         t.elements * (t.element_bytes or s)))
                for i, t in enumerate(kept_tensors(analysis, checkpoint_segments, device,
                                                   precision) if checkpoint_segments
                                      else saved_tensors(analysis, device, precision), start=1)]
    return Memory(analysis, rules, dtype, optimizer, params, grads, buffers, state,
                  tuple(acts), peak * s, moments, device if rules.timeline else "", precision,
                  allocator_block, inference,
                  threads if rules.timeline and device == "cpu" else 0,
                  checkpoint_segments if checkpoint_segments not in (0, 1) else 0)

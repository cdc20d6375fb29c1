"""The options of a memory figure: one frozen object, :class:`MemoryOptions`, validated once.

Which conventions, devices, precisions and optimizers exist is said here, as enums whose
values are the strings users write (``"pytorch"``, ``"cpu"``), so a string works wherever a
member does.  A :class:`MemoryOptions` checks every value and every rule between values
(mixed precision only with the simulated ``pytorch`` convention, ...) when it is made; the
memory model below trusts it.  Errors name the field as an argument (``allocator_block``);
only the command line turns it into its flag.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, fields
from enum import StrEnum

from symcnn.errors import SymcnnError
from symcnn.network import DTYPE_BYTES
from symcnn.spec.profile import Profile, read_profile


class Convention(StrEnum):
    """What the memory figure counts (:data:`symcnn.memory.estimate.CONVENTIONS` says how)."""

    LECTURE = "lecture"
    TORCHINFO = "torchinfo"
    TORCHSUMMARY = "torchsummary"
    CS231N = "cs231n"
    PYTORCH = "pytorch"

    @property
    def simulated(self) -> bool:
        """Whether it simulates a PyTorch training step (:mod:`symcnn.memory.pytorch`), the
        only convention with devices, mixed precision, allocator rounding and checkpointing."""
        return self is Convention.PYTORCH

    @property
    def default_optimizer(self) -> Optimizer | None:
        """The optimizer state it counts unless told; None when it counts none (and then
        none may be asked for)."""
        return _DEFAULT_OPTIMIZER[self]


class Device(StrEnum):
    """Where the simulated step runs (dropout masks and the kernels' buffers differ)."""

    CUDA = "cuda"
    CPU = "cpu"


class Precision(StrEnum):
    """``fp32``, or autocast to a 2-byte float: ``bf16`` (``torch.autocast(device,
    dtype=torch.bfloat16)``), ``fp16`` (``dtype=torch.float16``)."""

    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"


class CpuCapability(StrEnum):
    """The CPU whose kernel rules a ``device="cpu"`` figure uses, as PyTorch names the level it
    dispatches on (``torch.backends.cpu.get_cpu_capability()``).  oneDNN picks its kernels by
    the same instruction set: on ``AVX512`` (measured with avx512_bf16, no AMX) it blocks
    channels by 16 and runs bf16 convolutions and matmuls itself; on ``AVX2`` it blocks by 8 and
    leaves bf16 convolutions and matmuls to PyTorch's own kernels (as fp16).
    ``validation/README.md`` says which networks were measured on which."""

    AVX512 = "AVX512"
    AVX2 = "AVX2"


class Optimizer(StrEnum):
    """The optimizer whose state is counted (:attr:`states` tensors per parameter)."""

    NONE = "none"
    SGD = "sgd"
    MOMENTUM = "momentum"
    ADAM = "adam"
    ADAMW = "adamw"

    @property
    def states(self) -> int:
        """Extra tensors per parameter it keeps (momentum buffers, Adam's two moments)."""
        return OPTIMIZER_STATES[self]


#: Extra tensors per parameter each optimizer keeps (momentum buffers, Adam's two moments).
OPTIMIZER_STATES = {"none": 0, "sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}
#: Devices the pytorch convention simulates.
DEVICES = tuple(d.value for d in Device)
#: The precisions of the forward pass (:class:`Precision`).
PRECISIONS = tuple(p.value for p in Precision)

_DEFAULT_OPTIMIZER = {Convention.LECTURE: Optimizer.NONE, Convention.TORCHINFO: None,
                      Convention.TORCHSUMMARY: None, Convention.CS231N: Optimizer.MOMENTUM,
                      Convention.PYTORCH: Optimizer.SGD}


def machine_cpu() -> tuple[CpuCapability, str | None]:
    """The capability of the CPU symcnn runs on (``cpu="auto"``) and a note when it is not
    one with rules: PyTorch's own answer when torch can be imported, else the default
    (:attr:`CpuCapability.AVX512`)."""
    try:
        import torch
    except ImportError:
        return CpuCapability.AVX512, ("cpu auto: torch is not importable, so this machine's "
                                      "CPU is unknown; using the AVX512 rules")
    found = str(torch.backends.cpu.get_cpu_capability()).upper()
    if found in CpuCapability.__members__:
        return CpuCapability(found), None
    fallback = CpuCapability.AVX2 if found.startswith("AVX") else CpuCapability.AVX512
    return fallback, (f"cpu auto: this CPU dispatches {found}, for which symcnn has no "
                      f"measured kernel rules; using the {fallback} rules")


def _member(enum: type[StrEnum], value, name: str):
    """``value`` as a member of ``enum``, or an error listing the known values."""
    try:
        return enum(value)
    except ValueError:
        raise SymcnnError(f"unknown {name} {value!r} (known: {', '.join(enum)})",
                          argument=name) from None


def _whole(value, name: str, least: int, what: str) -> None:
    """Refuse ``value`` unless it is a whole number (not a bool) ``>= least``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise SymcnnError(f"must be {what}, not {value!r}", argument=name)


@dataclass(frozen=True)
class MemoryOptions:
    """How to count a network's memory: which convention, and the options of its simulated
    step.  Checked when made (an invalid value, or one the convention does not model, is a
    :class:`~symcnn.errors.SymcnnError` naming the field); strings become enum members.

    >>> MemoryOptions("pytorch", device="cpu").device
    <Device.CPU: 'cpu'>
    >>> MemoryOptions("pytorch", allocator_block=-512)
    Traceback (most recent call last):
      ...
    symcnn.errors.SymcnnError: argument 'allocator_block': must be a whole number of bytes >= 0, not -512
    """

    convention: Convention = Convention.LECTURE
    #: The element type (a key of :data:`symcnn.network.DTYPE_BYTES`); None: the network's.
    dtype: str | None = None
    #: The optimizer state to count; None: the convention's default.
    optimizer: Optimizer | None = None
    #: ``pytorch`` convention: where the step runs.
    device: Device = Device.CUDA
    #: ``pytorch`` convention: ``fp32``, or the autocast dtype of the forward pass.
    precision: Precision = Precision.FP32
    #: ``pytorch`` convention on the CPU: the intra-op threads oneDNN's per-thread buffers
    #: follow (``torch.get_num_threads()``); None: 2, as measured.
    threads: int | None = None
    #: ``pytorch`` convention on the CPU: the capability whose kernel rules apply
    #: (:class:`CpuCapability`; case does not matter); ``"auto"``: this machine's
    #: (:func:`machine_cpu`).
    cpu: CpuCapability = CpuCapability.AVX512
    #: ``pytorch`` convention: round every allocation up to a multiple of this many bytes
    #: (512: PyTorch's CUDA caching allocator); 0: the requested sizes.
    allocator_block: int = 0
    #: ``pytorch`` convention, sequential networks: ``k`` for a forward pass through
    #: ``checkpoint_sequential(model, k, x)``; 0 (or 1): no activation checkpointing.
    checkpoint_segments: int = 0
    #: ``pytorch`` convention: the optimizer's multi-tensor implementation; None: PyTorch's
    #: default (``foreach`` on CUDA, the per-tensor loop on the CPU).
    foreach: bool | None = None
    #: ``pytorch`` convention: a calibration profile (:class:`symcnn.spec.profile.Profile`, or
    #: the path of its file), whose measured kernel workspace replaces the built-in rules for
    #: every node whose configuration it holds; it must have been measured on this device,
    #: CPU and precision (and thread count, which it gives when ``threads`` is None).
    profile: Profile | None = None

    def __post_init__(self) -> None:
        def put(name, value):
            object.__setattr__(self, name, value)

        put("convention", _member(Convention, self.convention, "convention"))
        if self.optimizer is not None:
            put("optimizer", _member(Optimizer, self.optimizer, "optimizer"))
        if self.dtype is not None and self.dtype not in DTYPE_BYTES:
            raise SymcnnError(f"unknown dtype {self.dtype!r} (known: {', '.join(DTYPE_BYTES)})",
                              argument="dtype")
        put("device", _member(Device, self.device, "device"))
        put("precision", _member(Precision, self.precision, "precision"))
        cpu = self.cpu.upper() if isinstance(self.cpu, str) else self.cpu
        put("cpu", machine_cpu()[0] if cpu == "AUTO" else _member(CpuCapability, cpu, "cpu"))
        if self.threads is not None:
            _whole(self.threads, "threads", 1, "a whole number >= 1")
        _whole(self.allocator_block, "allocator_block", 0, "a whole number of bytes >= 0")
        _whole(self.checkpoint_segments, "checkpoint_segments", 0,
               "0 (off) or a whole number of segments >= 1")
        if self.foreach not in (None, True, False):
            raise SymcnnError(f"must be True, False or None, not {self.foreach!r}",
                              argument="foreach")
        self._check_convention()
        if self.profile is not None:
            self._check_profile(put)

    def _check_profile(self, put) -> None:
        """Read the profile if it is a path, and refuse one measured elsewhere."""
        profile = self.profile
        if isinstance(profile, (str, os.PathLike)):
            profile = read_profile(profile)
        elif not isinstance(profile, Profile):
            raise SymcnnError(f"expected a Profile or the path of its file, not "
                              f"{type(profile).__name__}", argument="profile")
        put("profile", profile)
        if not self.convention.simulated:
            raise SymcnnError(f"the {self.convention} convention has no kernel workspace; use "
                              "the pytorch convention with a profile", argument="profile")
        mine = {"device": self.device.value, "precision": self.precision.value,
                "cpu": self.cpu.value if self.device is Device.CPU else None}
        theirs = {"device": profile.device, "precision": profile.precision,
                  "cpu": profile.cpu if profile.device == "cpu" else None}
        for name in mine:
            if mine[name] != theirs[name] and (name != "cpu" or mine["device"] == "cpu"):
                raise SymcnnError(f"{profile.source or 'the profile'} was measured with "
                                  f"{name} {theirs[name]}, not {mine[name]}", argument=name)
        if self.device is Device.CPU and profile.threads is not None:
            if self.threads is None:
                put("threads", profile.threads)
            elif self.threads != profile.threads:
                raise SymcnnError(f"{profile.source or 'the profile'} was measured on "
                                  f"{profile.threads} threads, not {self.threads}",
                                  argument="threads")

    def _check_convention(self) -> None:
        """Refuse what the chosen convention does not model."""
        name = self.convention
        if name.default_optimizer is None and self.optimizer not in (None, Optimizer.NONE):
            raise SymcnnError(f"the {name} convention counts no optimizer state; use the "
                              "lecture or cs231n convention for that", argument="optimizer")
        if name.simulated:
            return
        if self.precision is not Precision.FP32:
            raise SymcnnError(f"the {name} convention has no mixed precision; use the "
                              "pytorch convention (or dtype for one element size)",
                              argument="precision")
        if self.allocator_block:
            raise SymcnnError(f"the {name} convention does not simulate allocations; use the "
                              "pytorch convention for allocator rounding",
                              argument="allocator_block")
        if self.checkpoint_segments:
            raise SymcnnError(f"the {name} convention has no activation checkpointing; use "
                              "the pytorch convention", argument="checkpoint_segments")

    @property
    def resolved_optimizer(self) -> Optimizer:
        """The optimizer whose state is counted: the one asked for, or the convention's."""
        return self.optimizer or self.convention.default_optimizer or Optimizer.NONE


#: The fields of :class:`MemoryOptions`, which callers used to pass as loose keywords.
OPTION_FIELDS = tuple(f.name for f in fields(MemoryOptions))


def options_from(options: MemoryOptions | None, keywords: dict, caller: str) -> MemoryOptions:
    """``options`` (the defaults when None), or one made of the loose keywords ``caller``
    took before it took a :class:`MemoryOptions` (deprecated: a warning says so)."""
    unknown = [k for k in keywords if k not in OPTION_FIELDS]
    if unknown:
        raise TypeError(f"{caller}() got an unexpected keyword argument {unknown[0]!r}")
    if options is not None and not isinstance(options, MemoryOptions):
        raise TypeError(f"{caller}(): options must be a MemoryOptions, not "
                        f"{type(options).__name__}")
    if not keywords:
        return options or MemoryOptions()
    if options is not None:
        raise TypeError(f"{caller}(): give a MemoryOptions or the keywords "
                        f"{', '.join(keywords)}, not both")
    given = ", ".join(f"{k}=..." for k in keywords)
    warnings.warn(f"{caller}(..., {given}) is deprecated: pass MemoryOptions({given}) instead",
                  DeprecationWarning, stacklevel=3)
    return MemoryOptions(**keywords)

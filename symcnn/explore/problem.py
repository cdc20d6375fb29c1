"""One network analysed once with some of its symbols left free: what ``solve`` and ``sweep``
evaluate at many values of those symbols."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy

from symcnn.analysis.rows import Analysis, analyze, size_conditions
from symcnn.errors import SymcnnError
from symcnn.layers.base import check_size, to_expr
from symcnn.memory.estimate import Memory, estimate_memory
from symcnn.network import Network
from symcnn.options import Device, MemoryOptions
from symcnn.spec.parse import Spec
from symcnn.symbols import size


@dataclass(frozen=True)
class Problem:
    """A network whose only symbols are ``symbols``, its analysis, and its memory at the
    batch size ``batch`` (a number)."""

    spec: Spec
    symbols: tuple[sympy.Symbol, ...]
    analysis: Analysis
    memory: Memory
    options: MemoryOptions
    batch: int

    @property
    def network(self) -> Network:
        return self.analysis.network

    @property
    def closed_form(self) -> bool:
        """Whether the memory figures in the symbols are the figures at each of their values.
        Not so for the simulated step on the CPU: the kernels' buffers follow oneDNN's rules,
        which need the sizes as numbers (in symbols, a rule of thumb stands in)."""
        sim = self.memory.simulation
        return not (sim and sim.device is Device.CPU)

    @functools.cached_property
    def training(self) -> sympy.Expr:
        """Training memory at the batch size, in the symbols."""
        return sympy.sympify(self.memory.training(self.batch))

    @functools.cached_property
    def inference(self) -> sympy.Expr:
        return sympy.sympify(self.memory.inference(self.batch))

    @functools.cached_property
    def conditions(self) -> tuple[list, list]:
        """The sizes that must be at least 1 and the relations that must hold."""
        return size_conditions(self.analysis, set(self.symbols))

    def training_at(self, values: dict[sympy.Symbol, int]) -> int:
        """Training memory with the symbols at ``values``, from the network with those
        numbers put in (not from the closed form: for :attr:`closed_form` False)."""
        network = self.network.subs(values)
        memory = estimate_memory(analyze(network), self.options, batch=self.batch)
        return int(memory.training(self.batch))


def prepare(spec: Spec | Network, names, options: MemoryOptions | None = None,
            batch_size=1, argument: str = "symbol") -> Problem:
    """``spec`` analysed with the symbols ``names`` free (every other symbol must have been
    given a value); errors name ``argument`` (the symbol's) or ``batch_size``."""
    spec = spec if isinstance(spec, Spec) else Spec(spec)
    options = options or MemoryOptions()
    network = spec.network
    known = ", ".join(sorted(map(str, network.free_symbols))) or "none"
    symbols = []
    for name in names:
        if not isinstance(name, str) or size(name) not in network.free_symbols:
            raise SymcnnError(f"{name}: no such symbol in the network (its symbols: {known})",
                              argument=argument)
        if size(name) in symbols:
            raise SymcnnError(f"{name} is given twice", argument=argument)
        symbols.append(size(name))
    left = sorted(map(str, network.free_symbols - set(symbols)))
    if left:
        raise SymcnnError(f"{', '.join(left)} {'needs a value' if len(left) == 1 else 'need values'}"
                          f": only {', '.join(names)} may stay a symbol", argument="overrides")
    try:
        batch = check_size(to_expr(batch_size, "batch_size"), "batch_size")
    except SymcnnError as err:
        raise SymcnnError(err.message, argument="batch_size") from None
    if not batch.is_number:
        raise SymcnnError("must be a number here", argument="batch_size")
    try:
        analysis = analyze(network)
        memory = estimate_memory(analysis, options, batch=int(batch))
    except SymcnnError as err:
        raise err.within(source=spec.source) from None
    return Problem(spec, tuple(symbols), analysis, memory, options, int(batch))

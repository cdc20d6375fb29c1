"""Wrong answers a student typically gives, for multiple-choice distractors.

Each method returns ``(mistake, value)`` pairs in the raw form of its question (a count,
bytes, a shape, an expression); :mod:`symcnn.exam.build` rounds them as the question states,
drops those equal to the right answer or to each other, and keeps as many as it needs, in
the order given here.
"""

from __future__ import annotations

import dataclasses
import re
from fractions import Fraction
from functools import cached_property

import sympy

from symcnn.analysis.rows import Analysis, LayerRow
from symcnn.errors import SymcnnError
from symcnn.exam.sizes import SIZE_MISTAKES, mistaken_analysis
from symcnn.memory.estimate import Memory, estimate_memory
from symcnn.options import MemoryOptions
from symcnn.units import UNITS, parse_size

_OTHER_UNIT = {"kB": "KiB", "MB": "MiB", "GB": "GiB", "TB": "TiB"}
_OTHER_UNIT.update({v: k for k, v in _OTHER_UNIT.items()})


def _params_with(row: LayerRow, **changes) -> sympy.Expr | None:
    try:
        return dataclasses.replace(row.layer, **changes).params(row.input_shapes[0])
    except (SymcnnError, TypeError):
        return None


def _params_of(row: LayerRow, in_shape) -> sympy.Expr | None:
    try:
        return row.layer.params(in_shape)
    except SymcnnError:
        return None


def layer_mistakes(row: LayerRow) -> list[tuple[str, sympy.Expr]]:
    """One layer's parameter count with each typical mistake that applies to it."""
    layer, shape = row.layer, row.input_shapes[0]
    fields = {f.name for f in dataclasses.fields(layer)}
    out = []
    no_bias = _params_with(row, bias=False) if getattr(layer, "bias", False) is True else None
    if no_bias is not None:
        out.append(("bias forgotten", no_bias))
    no_cin, label = None, ""
    if "in_channels" in fields and getattr(layer, "groups", 1) == 1:
        no_cin, label = _params_of(row, (1, *shape[1:])), "C_in"
    elif "in_features" in fields:
        no_cin, label = _params_of(row, (*shape[:-1], 1)), "n_in"
    if no_cin is not None:
        out.append((f"{label} forgotten", no_cin))
        if no_bias is not None:
            out.append((f"bias and {label} forgotten", no_cin - (row.params - no_bias)))
    kernel = getattr(layer, "kernel_size", None)
    if "in_channels" in fields and isinstance(kernel, tuple) and len(kernel) > 1:
        n = len(kernel)
        flat = _params_with(row, kernel_size=(*kernel[:-1], 1))
        if flat is not None:
            smaller = "k" if n == 2 else f"k^{n - 1}"
            out.append((f"kernel volume {smaller} instead of k^{n}", flat))
    return out


def other_budget(label: str) -> int | None:
    """``12GB`` read as ``12GiB`` and the other way round (None for a byte count)."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]i?B)\s*", label, re.IGNORECASE)
    if not m:
        return None
    unit = m.group(2)
    unit = unit[0].upper() + ("i" if len(unit) == 3 else "") + "B"
    return int(parse_size(m.group(1) + _OTHER_UNIT[unit]))


def _unit_swapped(nbytes: int, unit: str) -> Fraction | None:
    """Bytes that, divided by ``unit``, give ``nbytes`` divided by the other unit (MB/MiB)."""
    other = _OTHER_UNIT.get(unit)
    return None if other is None else Fraction(nbytes) * UNITS[unit] / UNITS[other]


class Mistakes:
    """The typical mistakes for one analysed network (and its memory, for memory questions)."""

    def __init__(self, analysis: Analysis, memory: Memory | None = None) -> None:
        self.analysis = analysis
        self.memory = memory

    @cached_property
    def sized(self) -> list[tuple[str, Analysis]]:
        """The analysis redone with each size mistake that still makes a network."""
        out = []
        for key, (label, _) in SIZE_MISTAKES.items():
            wrong = mistaken_analysis(self.analysis, key)
            if wrong is not None:
                out.append((label, wrong))
        return out

    @cached_property
    def sized_memory(self) -> list[tuple[str, Memory]]:
        mem = self.memory
        options = MemoryOptions(mem.convention, dtype=mem.dtype, optimizer=mem.optimizer)
        return [(label, estimate_memory(a, options)) for label, a in self.sized]

    def params(self, row: LayerRow) -> list[tuple[str, sympy.Expr]]:
        """Distractors for one layer's parameter count."""
        return layer_mistakes(row) + [(label, a.rows[row.index - 1].params)
                                      for label, a in self.sized]

    def total_params(self) -> list[tuple[str, sympy.Expr]]:
        """Each layer mistake made in every layer, the size mistakes, the last layer left out."""
        total = self.analysis.total_params
        totals: dict[str, sympy.Expr] = {}
        for row in self.analysis.rows:
            for label, value in layer_mistakes(row):
                key = label.replace("n_in", "C_in")
                totals[key] = totals.get(key, total) + value - row.params
        out = [(f"{label} in every layer", v) for label, v in totals.items()]
        out += [(label, a.total_params) for label, a in self.sized]
        with_params = [r for r in self.analysis.rows if r.params != 0]
        if len(with_params) > 1:
            last = with_params[-1]
            out.append((f"layer {last.name} left out", total - last.params))
        return out

    def symbolic_total(self) -> list[tuple[str, sympy.Expr]]:
        return [(label, sympy.expand(v)) for label, v in self.total_params()]

    def output_shape(self, row: LayerRow) -> list[tuple[str, tuple]]:
        """The size mistakes, and the input's channel count kept."""
        out = [(label, a.rows[row.index - 1].output_shape) for label, a in self.sized]
        ins = row.input_shapes[0]
        if len(ins) == len(row.output_shape) and ins[0] != row.output_shape[0]:
            out.append(("the input's channel count kept", (ins[0], *row.output_shape[1:])))
        return out

    def activation(self, row: LayerRow, batch: int, unit: str) -> list[tuple[str, Fraction]]:
        """Distractors, in bytes, for one layer's activation memory at a batch size."""
        s = self.memory.element_bytes
        nbytes = int(row.activation) * s * batch
        out = []
        swapped = _unit_swapped(nbytes, unit)
        if swapped is not None:
            out.append((f"{unit} and {_OTHER_UNIT[unit]} confused", swapped))
        out.append(("counted twice (value and gradient)", 2 * nbytes))
        out.append(("bytes per element forgotten", Fraction(nbytes, s)))
        if batch > 1:
            out.append(("batch size forgotten", Fraction(nbytes, batch)))
        out += [(label, int(a.rows[row.index - 1].activation) * s * batch)
                for label, a in self.sized]
        return out

    def training(self, batch: int, unit: str) -> list[tuple[str, int | Fraction]]:
        """Distractors, in bytes, for the training memory at a batch size."""
        mem = self.memory
        right = int(mem.training(batch))
        once = sum(int(t.bytes) for t in mem.activations)
        out: list[tuple[str, int | Fraction]] = [
            ("activations counted once instead of twice", int(mem.fixed) + batch * once)]
        swapped = _unit_swapped(right, unit)
        if swapped is not None:
            out.append((f"{unit} and {_OTHER_UNIT[unit]} confused", swapped))
        out.append(("gradients of the parameters forgotten", right - int(mem.grads.bytes)))
        out.append(("the input counted twice", right + batch * int(mem.activations[0].bytes)))
        if batch > 1:
            out.append(("batch size forgotten", int(mem.training(1))))
        out += [(label, int(m.training(batch))) for label, m in self.sized_memory]
        return out

    def max_batch(self, budget_label: str) -> list[tuple[str, int]]:
        """Distractors for the largest batch that fits a budget."""
        mem = self.memory
        budget = int(parse_size(budget_label))
        fixed, per_sample = int(mem.fixed), int(mem.per_sample)
        once = sum(int(t.bytes) for t in mem.activations)
        out = [("activations counted once instead of twice", (budget - fixed) // once)]
        other = other_budget(budget_label)
        if other is not None:
            out.append(("decimal and binary units confused (GB, GiB)",
                        (other - fixed) // per_sample))
        out.append(("rounded up instead of down", -((fixed - budget) // per_sample)))
        out.append(("parameters and gradients forgotten", budget // per_sample))
        out.append(("gradients of the parameters forgotten",
                    (budget - fixed + int(mem.grads.bytes)) // per_sample))
        out += [(label, (budget - int(m.fixed)) // int(m.per_sample))
                for label, m in self.sized_memory]
        return out

"""The numbers of the documents' charts, picked from a :class:`~symcnn.report.Report`:
training memory against the batch size with each memory budget and its largest batch, and
each layer's share of the parameters and of the stored activations.  The pgfplots partial
(``templates/charts.tex.j2``) and the SVG charts (:mod:`symcnn.render.svg`) lay out the
same :class:`Charts`; neither computes.

Presentation only: every figure is one the report holds (``M(b)`` is
``report.memory.training(b)``, the largest batches are ``report.limits``), chosen and scaled
for a chart.

>>> import symcnn
>>> charts = chart_data(symcnn.make_report(symcnn.example_spec(), memory="24GB"))
>>> charts.unit, charts.xmax, [(b.name, b.largest) for b in charts.budgets]
('GB', 10, [('24GB', 8)])
>>> charts.curve[0], charts.budgets[0].memory_at_largest
((1, 2937313940), 23313619064)
>>> [(bar.label, bar.percent_text) for bar in charts.params][-2:]
[('L8', '47.1'), ('L9', '6.5')]
>>> chart_data(symcnn.make_report(symcnn.example_spec("lecture_symbolic"))).needs
('C', 'D', 'H', 'W')
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from symcnn.render.notation import shown_names
from symcnn.report import Report
from symcnn.units import UNITS

#: At most this many bars in a share chart: the largest ``MAX_BARS - 1`` and one for the rest.
MAX_BARS = 10
#: At most this many budgets in the memory chart (the first ones given).
MAX_BUDGETS = 8
#: Points of the curve of a simulated step (a maximum of lines, not one line).
SIMULATED_POINTS = 12
#: The budgets' colours in the memory chart, as xcolor writes them, in order: hues far apart
#: (no two oranges or browns side by side), dark enough for a projector and for print.
BUDGET_COLORS = ("blue!80!black", "red!80!black", "green!50!black", "orange!90!black",
                 "violet", "cyan!60!black", "magenta!80!black", "black!55")
#: The largest memory a chart draws, in its unit (TB at most): its coordinates are floats, and
#: pgfplots and matplotlib compute ticks beyond them.  A network of 10^39-wide axes needs
#: more than a float holds (10^308), which stopped the documents with an OverflowError.
MAX_DRAWN = 10**300
_NICE = (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)
_STEPS = (1, 2, 2.5, 5, 10)


@dataclass(frozen=True)
class Budget:
    """A memory budget: its name (``"12GB"``), its bytes, the largest batch that fits
    (``report.limits``; 0 when one sample does not fit), the memory at that batch and the
    colour of its line and dot (one of :data:`BUDGET_COLORS`)."""

    name: str
    bytes: int
    largest: int
    memory_at_largest: int | None
    color: str = BUDGET_COLORS[0]


@dataclass(frozen=True)
class Bar:
    """One bar of a share chart: a layer, a block use, a stage (the layers and blocks whose
    names share their first part, ``layer3``), ``input``, or the rest (``other 12``)."""

    label: str
    value: int
    percent: Fraction
    #: How many layers or blocks the bar stands for.
    count: int = 1

    @property
    def percent_text(self) -> str:
        """``47.1``; ``<0.1`` for a share that rounds to nothing."""
        if 0 < self.percent < Fraction(1, 20):
            return "<0.1"
        return f"{float(self.percent):.1f}"

    @property
    def percent_value(self) -> str:
        """The share as a coordinate: ``47.1`` (rounded, as the bar is drawn)."""
        return f"{float(self.percent):.4g}"


@dataclass(frozen=True)
class Shares:
    """A share chart: its bars in network order, what they add up to, ``by_stage`` when a
    bar sums the layers and blocks whose names share their first part (``layer3`` for
    ``layer3.0``, ``layer3.rest.0``, ...), and ``rest`` the number summed in the last bar
    (``other``) when there were too many to show (0 when every one has its own bar)."""

    bars: tuple[Bar, ...] = ()
    total: int = 0
    by_stage: bool = False
    rest: int = 0

    def __bool__(self) -> bool:
        return bool(self.bars)

    def __len__(self) -> int:
        return len(self.bars)

    def __iter__(self):
        return iter(self.bars)

    @property
    def xmax(self) -> str:
        """The share axis' end: room right of the longest bar for its label."""
        top = max((float(b.percent) for b in self.bars), default=1.0)
        return str(5 * math.ceil(top * 1.2 / 5))

    @property
    def ticks(self) -> str:
        """The share axis' ticks, ``0,10,20``: a few, evenly spaced."""
        return _ticks(int(self.xmax))


@dataclass(frozen=True)
class Charts:
    """What the charts show.  ``needs``: the symbols without a value, when the network has
    any, and ``beyond``: why its figures cannot be drawn (then nothing is drawn); else
    ``curve`` (``(b, M(b))`` in bytes, exactly the report's), ``budgets``, the axes
    (``xmax`` in samples, ``unit`` and ``ymax`` for memory) and the bars of each share
    chart."""

    needs: tuple[str, ...] = ()
    unit: str = "B"
    curve: tuple[tuple[int, int], ...] = ()
    budgets: tuple[Budget, ...] = ()
    #: How many budgets the report has (``budgets`` holds at most :data:`MAX_BUDGETS`).
    all_budgets: int = 0
    xmax: int = 1
    ymax: str = "1"
    params: Shares = Shares()
    activations: Shares = Shares()
    #: Whether ``M(b)`` is a simulated step's peak (the largest of many lines), not one line.
    simulated: bool = False
    #: The letters of the memory ``M(b) = c + a b``, as LaTeX: the document's
    #: (:class:`symcnn.analysis.letters.Notation`)
    letters: tuple[str, str, str] = ("M", "c", "a")
    beyond: str = ""

    @property
    def memory_legend(self) -> str:
        """The memory curve's legend, as LaTeX math: ``M(b) = c + a\\,b``."""
        m, c, a = self.letters
        return f"{m}(b)" if self.simulated else f"{m}(b) = {c} + {a}\\,b"

    @property
    def drawn(self) -> bool:
        return not self.needs and not self.beyond

    @property
    def xticks(self) -> str:
        """The batch axis' ticks, ``0,500,1000``: a few whole numbers, evenly spaced."""
        return _ticks(self.xmax, whole=True)

    def y(self, nbytes: int) -> str:
        """Bytes in the memory axis' unit, as a coordinate (six significant figures)."""
        return f"{nbytes / UNITS[self.unit]:.6g}"

    @property
    def points(self) -> tuple[tuple[int, str], ...]:
        """The curve as coordinates: ``(b, M(b) in unit)``."""
        return tuple((b, self.y(m)) for b, m in self.curve)


def _nice(x: float) -> float:
    """The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten that is >= ``x``."""
    power = 10 ** (len(str(int(x))) - 1) if x >= 1 else 1
    return next(n * power for n in _NICE if n * power >= x)


def _ticks(end: int, whole: bool = False) -> str:
    """Five to seven ticks from 0 to ``end``, a step of 1, 2, 2.5 or 5 times a power of ten."""
    target = end / 6
    power = 10 ** math.floor(math.log10(target)) if target >= 1 else 1
    step = next(n * power for n in _STEPS if n * power >= target)
    if whole and step != int(step):
        step = math.ceil(step)
    count = int(end // step)
    return ",".join(f"{i * step:g}" if step != int(step) else str(i * int(step))
                    for i in range(count + 1))


def _unit(nbytes: int, binary: bool) -> str:
    units = ("TiB", "GiB", "MiB", "KiB") if binary else ("TB", "GB", "MB", "kB")
    return next((u for u in units if nbytes >= UNITS[u]), "B")


def _stages(items: list[tuple[str, int]]) -> list[tuple[str, int, int]]:
    """Consecutive items whose names share their first part (before the first dot) summed:
    ``layer3.0``, ``layer3.rest.0``, ... as ``layer3``."""
    out: list[tuple[str, int, int]] = []
    for label, value in items:
        stage = label.split(".", 1)[0]
        if out and out[-1][0] == stage:
            out[-1] = (stage, out[-1][1] + value, out[-1][2] + 1)
        else:
            out.append((stage, value, 1))
    return out


def _shares(items: list[tuple[str, int]], total: int) -> Shares:
    """Bars in network order, one per item; beyond :data:`MAX_BARS`, one per stage where
    that makes at least three (ResNet's ``layer1`` ... ``layer4``), and beyond that still
    the largest ones and one bar for the rest."""
    items = [(label, value) for label, value in items if value]
    if not total or not items:
        return Shares()
    counted = [(label, value, 1) for label, value in items]
    by_stage = False
    stages = _stages(items)
    if len(counted) > MAX_BARS and 3 <= len(stages) < len(items):
        counted, by_stage = stages, True
    if len(counted) <= MAX_BARS:
        bars = tuple(Bar(label, v, Fraction(100 * v, total), n) for label, v, n in counted)
        return Shares(bars, total, by_stage)
    keep = sorted(sorted(range(len(counted)), key=lambda i: -counted[i][1])[:MAX_BARS - 1])
    rest = [c for i, c in enumerate(counted) if i not in keep]
    bars = [Bar(label, v, Fraction(100 * v, total), n)
            for label, v, n in (counted[i] for i in keep)]
    value, count = sum(c[1] for c in rest), sum(c[2] for c in rest)
    bars.append(Bar(f"other {count}", value, Fraction(100 * value, total), count))
    return Shares(tuple(bars), total, by_stage, count)


_SUFFIX = re.compile(r" \([^()]*\)$")


def _activation_items(report: Report) -> list[tuple[str, int]]:
    """Each layer's (or, for a graph network, each block use's) stored activations in bytes,
    each counted as often as training keeps it (``I_1 + 2 sum I_i`` under the lecture's
    convention); a simulated step's saved tensors (``bn1 (statistics)``) go to their layer."""
    rows = report.analysis.rows
    owner = {r.name: (r.block or r.name) if not report.network.is_sequential else r.name
             for r in rows}
    sums: dict[str, int] = {}
    for term in report.memory.activations:
        name = term.source if term.source in owner else _SUFFIX.sub("", term.source)
        key = owner.get(name, term.source)
        sums[key] = sums.get(key, 0) + term.times * int(term.bytes)
    return list(sums.items())


def _param_items(report: Report) -> list[tuple[str, int]]:
    if report.network.is_sequential:
        return [(r.name, int(r.params)) for r in report.analysis.rows]
    return [(g.name, int(g.params)) for g in report.groups]


def _curve(report: Report, budgets: list[Budget], xmax: int) -> tuple[tuple[int, int], ...]:
    """``(b, M(b))`` at ``b = 1``, ``xmax`` and each largest batch; a simulated step (the
    largest of many lines) also at evenly spaced batches between."""
    batches = {1, xmax, *(b.largest for b in budgets if b.largest >= 1)}
    if report.memory.simulation is not None:
        step = max(1, xmax // SIMULATED_POINTS)
        batches.update(range(1, xmax + 1, step))
    return tuple((b, int(report.memory.training(b))) for b in sorted(batches))


def chart_data(report: Report) -> Charts:
    """The charts of ``report``: for a network with symbols, only which ones need a value."""
    symbols = tuple(sorted(map(str, report.network.free_symbols)))
    if symbols:
        return Charts(needs=symbols)
    limits = report.limits[:MAX_BUDGETS]
    budgets = []
    for index, (name, limit) in enumerate(limits):
        largest = max(int(limit.value), 0)
        at = int(report.memory.training(largest)) if largest >= 1 else None
        color = BUDGET_COLORS[index % len(BUDGET_COLORS)]
        budgets.append(Budget(name, int(limit.budget), largest, at, color))
    most = max((b.largest for b in budgets), default=0)
    xmax = int(_nice(max(most * 1.1, 8)))
    curve = _curve(report, budgets, xmax)
    top = max(max(m for _, m in curve), *(b.bytes for b in budgets))
    unit = _unit(top, binary=report.units.endswith("iB"))
    if top >= MAX_DRAWN * UNITS[unit]:
        return Charts(beyond=f"the training memory is more than 10^{len(str(MAX_DRAWN)) - 1} "
                      f"{unit}, beyond a chart's numbers")
    ymax = f"{top * 1.06 / UNITS[unit]:.3g}"
    names = shown_names(report.network)  # flatten_9 as the documents write it: Flatten 9
    activations = [(names.get(n, n), v) for n, v in _activation_items(report)]
    params = [(names.get(n, n), v) for n, v in _param_items(report)]
    return Charts((), unit, curve, tuple(budgets), len(report.limits), xmax, ymax,
                  _shares(params, int(report.total_params)),
                  _shares(activations, sum(v for _, v in activations)),
                  report.memory.simulation is not None, _letters(report.notation))


def _letters(notation) -> tuple[str, str, str]:
    return notation.memory, notation.fixed, notation.per_sample


__all__ = ["BUDGET_COLORS", "MAX_DRAWN", "Bar", "Budget", "Charts", "Shares", "chart_data"]


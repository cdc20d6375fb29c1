"""What a student exercise asks, chosen from a :class:`~symcnn.report.Report` (the
``exercise`` template lays it out, blank or with its solutions): the parameters of each
layer, each layer's output shape and stored activation ``I_i``, the training memory at the
report's batch size, and the largest batch for one memory budget; for a network with
symbols, each ``I_i`` also in the sizes named one layer at a time.  Presentation only: it
picks figures the report already holds.

>>> import symcnn
>>> ex = exercise_parts(symcnn.make_report(symcnn.example_spec()))
>>> ex.budget, ex.limit.value          # the first budget one sample fits in: 8 GB
('8GB', 2)
>>> [(row.name, term.label if term else None) for row, term in ex.stored][-2:]
[('flatten_9', None), ('L9', 'I_10')]
>>> ex.named_terms                     # no symbols: no named sizes
{}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from symcnn.analysis.rows import LayerRow
from symcnn.analysis.symbolic import NamedTerm
from symcnn.errors import SymcnnError
from symcnn.memory.estimate import Term
from symcnn.report import Report
from symcnn.solve import BatchLimit


@dataclass(frozen=True)
class Exercise:
    """The questions' figures: ``stored`` pairs each layer with the activation ``I_i`` that
    stores its output (None for a view such as Flatten, or a layer the convention does not
    count); ``budget`` names the memory of the largest-batch question, ``limit`` its answer;
    ``named_terms``: each ``I_i`` by its label in the named sizes (empty without them)."""

    input_term: Term
    stored: tuple[tuple[LayerRow, Term | None], ...]
    budget: str
    limit: BatchLimit
    named_terms: Mapping[str, NamedTerm] = field(default_factory=dict)


def _question_limit(report: Report) -> tuple[str, BatchLimit]:
    """The budget asked about: the one given (``--memory``), else the smallest of the common
    GPU sizes that holds one sample (a symbolic answer holds, as far as anyone can tell),
    else the largest of them (the answer then says by how much one sample misses)."""
    limits = report.limits
    if report.budget is not None:
        return limits[0]
    return next(((n, lim) for n, lim in limits if lim.fits is not False), limits[-1])


def exercise_parts(report: Report) -> Exercise:
    """The figures of ``report``'s exercise; a :class:`SymcnnError` (naming the
    convention) for a simulated step, which no one works out by hand."""
    memory = report.memory
    if memory.simulation is not None:
        raise SymcnnError(f"the exercise asks for memory as a sum a student can work out "
                          f"(conventions lecture, torchinfo, torchsummary, cs231n), not "
                          f"{memory.convention}'s simulated step", argument="convention")
    by_source = {t.source: t for t in memory.activations[1:]}
    stored = tuple((row, by_source.get(row.name)) for row in report.analysis.rows)
    budget, limit = _question_limit(report)
    derivation = report.derivation
    named = derivation is not None and derivation.terms is not None and derivation.sizes.names
    named_terms = {t.label: t for t in derivation.terms} if named else {}
    return Exercise(memory.activations[0], stored, budget, limit, named_terms)

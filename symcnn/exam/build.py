"""Exams from a question family: variants, their questions, answers, worked steps and
multiple-choice options.

Variant ``k`` is drawn (:mod:`symcnn.exam.family`) until its network is valid: every size a
whole number of at least 1 (and, with ``exact_division``, every floor division exact) and
every question answerable (at least one sample fits the memory, no size rounds to zero).
Answers come from :func:`symcnn.make_report` and are rounded half up to the decimals the
question states.  Nothing here prints or writes files (see :mod:`symcnn.exam.output`).

>>> from symcnn.exam.family import parse_family
>>> fam = parse_family('''
... [input]
... shape = [1, 10, 10]
... [[layers]]
... type = "Conv2d"
... out_channels = {choices = [4, 8]}
... kernel_size = 3
... [[exam.questions]]
... kind = "params"
... layer = 1
... choices = 3
... ''')
>>> q = make_exam(fam, variants=1, seed=7).variants[0].questions[0]
>>> q.answer.value in (40, 80), len(q.choices), sum(c.correct for c in q.choices)
(True, 3, 1)
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import partial

import sympy

from symcnn.analysis.macs import MacsConvention, as_macs_convention
from symcnn.analysis.rows import Analysis, LayerRow, analyze
from symcnn.errors import SymcnnError
from symcnn.exam.cost import (
    LargestWork,
    field_along,
    field_mistakes,
    field_work,
    largest_mistakes,
    macs_mistakes,
    macs_work,
)
from symcnn.exam.family import Candidate, Family, QuestionSpec
from symcnn.exam.mistakes import Mistakes
from symcnn.exam.sizes import ShapeStep, inexact_division, shape_steps
from symcnn.explore import solve_for
from symcnn.explore.problem import prepare
from symcnn.limits import MAX_VARIANTS
from symcnn.memory.estimate import Memory, Term
from symcnn.network import Network
from symcnn.options import Convention, MemoryOptions
from symcnn.report import Report, make_report
from symcnn.solve import BatchLimit, max_batch_size
from symcnn.spec.parse import Spec
from symcnn.symbols import size
from symcnn.units import UNITS, parse_size

LETTERS = "ABCDEFGH"


def round_half_up(value: Fraction, decimals: int) -> Decimal:
    """``value`` rounded half up to ``decimals`` places, exactly.

    >>> round_half_up(Fraction(2937313940, 10**6), 2), round_half_up(Fraction(5, 1000), 2)
    (Decimal('2937.31'), Decimal('0.01'))
    """
    scaled = value * 10**decimals + Fraction(1, 2)
    return Decimal(scaled.numerator // scaled.denominator).scaleb(-decimals)


@dataclass(frozen=True)
class Answer:
    """A right answer as the question asks for it: a count, a size in ``unit`` rounded to
    ``decimals`` places, a shape, or an expression."""

    form: str  # "count", "size", "shape" or "expression"
    value: int | Decimal | tuple[int, ...] | sympy.Expr
    unit: str = ""
    decimals: int = 0

    @property
    def tolerance(self) -> Decimal:
        """Half a unit of the last stated place: the range that rounds to ``value``."""
        return Decimal(5).scaleb(-self.decimals - 1) if self.form == "size" else Decimal(0)


@dataclass(frozen=True)
class Choice:
    """One multiple-choice option: a value in the answer's form and the mistake that gives it
    (empty for the right answer)."""

    letter: str
    value: object
    correct: bool
    mistake: str = ""


# ---- worked steps, one kind per question kind ------------------------------------------

@dataclass(frozen=True)
class TotalWork:
    rows: tuple[LayerRow, ...]  # the layers with parameters
    total: sympy.Expr


@dataclass(frozen=True)
class ShapeWork:
    steps: tuple[ShapeStep, ...]


@dataclass(frozen=True)
class ActivationWork:
    term: Term
    batch_size: int
    bytes: int


@dataclass(frozen=True)
class TrainingWork:
    memory: Memory
    batch_size: int
    bytes: int


@dataclass(frozen=True)
class BatchWork:
    memory: Memory
    limit: BatchLimit
    budget: str


@dataclass(frozen=True)
class SymbolicWork:
    symbol: sympy.Symbol
    value: int  # the symbol's value in the numeric questions
    rows: tuple[LayerRow, ...]
    total: sympy.Expr
    numeric_total: sympy.Expr  # the total at that value

    @property
    def coefficients(self) -> tuple[int, ...] | None:
        """The total's whole coefficients from the highest power of the symbol down, when it
        is a polynomial with whole coefficients (None otherwise)."""
        if not self.total.is_polynomial(self.symbol):
            return None
        coeffs = sympy.Poly(self.total, self.symbol).all_coeffs()
        return tuple(int(c) for c in coeffs) if all(c.is_Integer for c in coeffs) else None


@dataclass(frozen=True)
class Question:
    """One question of one variant: what it asks, its answer, the worked steps, the options."""

    spec: QuestionSpec
    answer: Answer
    work: object
    row: LayerRow | None = None
    choices: tuple[Choice, ...] = ()

    @property
    def number(self) -> int:
        return self.spec.number

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def correct_letter(self) -> str:
        return next((c.letter for c in self.choices if c.correct), "")


@dataclass(frozen=True)
class Variant:
    """One drawn network and its questions."""

    index: int
    seed: int
    candidate: Candidate
    report: Report
    shown: Network  # the network as the exam shows it: symbolic questions' symbols kept
    kept: dict[str, int]  # those symbols' values in the numeric questions
    questions: tuple[Question, ...]

    @property
    def draws(self) -> dict[str, object]:
        return self.candidate.draws

    @property
    def values(self) -> dict[str, int]:
        return self.candidate.values


@dataclass(frozen=True)
class Exam:
    family: Family
    seed: int
    variants: tuple[Variant, ...]


# ---- answers --------------------------------------------------------------------------------

def _row(analysis: Analysis, q: QuestionSpec) -> LayerRow:
    rows = analysis.rows
    if isinstance(q.layer, int):
        if q.layer <= len(rows):
            return rows[q.layer - 1]
        raise SymcnnError(f"no layer {q.layer}: the network has {len(rows)}", layer=q.where,
                          field="layer")
    for r in rows:
        if r.name == q.layer:
            return r
    raise SymcnnError(f"no layer named {q.layer!r} (its layers: "
                      f"{', '.join(r.name for r in rows)})", layer=q.where, field="layer")


def _in_unit(nbytes, q: QuestionSpec) -> Decimal:
    return round_half_up(Fraction(nbytes) / UNITS[q.unit], q.decimals)


def _as_shape(values) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


@dataclass(frozen=True)
class _Answered:
    """A question answered: ``distractors()`` gives the typical wrong answers, unrounded, and
    ``normalise`` puts one in the answer's form (rounded as the question states)."""

    answer: Answer
    work: object
    row: LayerRow | None
    distractors: Callable[[], list]
    normalise: Callable


def _params(q, report, mistakes, row) -> _Answered:
    if row.params_derivation is None or row.params == 0:
        raise SymcnnError(f"layer {row.name!r} ({row.type_name}) has no parameters",
                          layer=q.where, field="layer")
    return _Answered(Answer("count", int(row.params)), row, row,
                     partial(mistakes.params, row), int)


def _total_params(q, report, mistakes, row) -> _Answered:
    a = report.analysis
    work = TotalWork(tuple(r for r in a.rows if r.params != 0), a.total_params)
    return _Answered(Answer("count", int(a.total_params)), work, None, mistakes.total_params, int)


def _output_shape(q, report, mistakes, row) -> _Answered:
    return _Answered(Answer("shape", _as_shape(row.output_shape)),
                     ShapeWork(shape_steps(report.analysis, row)), row,
                     partial(mistakes.output_shape, row), _as_shape)


def _activation_memory(q, report, mistakes, row) -> _Answered:
    term = next((t for t in report.memory.activations if t.source == row.name), None)
    if term is None:
        raise SymcnnError(f"layer {row.name!r} ({row.type_name}) stores no activation of its "
                          "own (a view or in place)", layer=q.where, field="layer")
    nbytes = int(term.bytes) * q.batch_size
    return _Answered(Answer("size", _in_unit(nbytes, q), q.unit, q.decimals),
                     ActivationWork(term, q.batch_size, nbytes), row,
                     partial(mistakes.activation, row, q.batch_size, q.unit),
                     partial(_in_unit, q=q))


def _training_memory(q, report, mistakes, row) -> _Answered:
    nbytes = int(report.memory.training(q.batch_size))
    return _Answered(Answer("size", _in_unit(nbytes, q), q.unit, q.decimals),
                     TrainingWork(report.memory, q.batch_size, nbytes), None,
                     partial(mistakes.training, q.batch_size, q.unit), partial(_in_unit, q=q))


def _max_batch(q, report, mistakes, row) -> _Answered:
    mem = report.memory
    limit = max_batch_size(mem.fixed, mem.per_sample, parse_size(q.memory))
    return _Answered(Answer("count", int(limit.value)), BatchWork(mem, limit, q.memory), None,
                     partial(mistakes.max_batch, q.memory), int)


def _macs(q, report, mistakes, row) -> _Answered:
    convention = report.macs_convention
    work = macs_work(report.analysis, row, convention)
    if work.value == 0:
        raise SymcnnError(f"layer {row.name!r} ({row.type_name}) has no multiply-accumulates "
                          f"({convention.value} counts none)", layer=q.where, field="layer")
    return _Answered(Answer("count", work.value), work, row,
                     partial(macs_mistakes, report.analysis, row, convention), int)


def _receptive_field(q, report, mistakes, row) -> _Answered:
    a = report.analysis
    axes = len(a.input_shape) - 1
    if q.axis > axes:
        raise SymcnnError(f"no spatial axis {q.axis}: the input has {axes}", layer=q.where,
                          field="axis")
    value = field_along(a, row, q.axis - 1)
    if value is None:
        raise SymcnnError(f"layer {row.name!r} ({row.type_name}) has no receptive field to ask "
                          "about (its spatial axes are flattened or mixed whole, or it is a "
                          "learned tensor)", layer=q.where, field="layer")
    return _Answered(Answer("count", value), field_work(a, row, q.axis - 1), row,
                     partial(field_mistakes, a, row, q.axis - 1), int)


def _largest_symbol(q: QuestionSpec, candidate: Candidate) -> _Answered:
    """The largest value of the question's symbol whose training memory fits, the other sizes
    as drawn; a draw where none or every value fits gives 0 (the draw is rejected)."""
    network = candidate.network(keep=(q.symbol,))
    options = MemoryOptions(Convention.LECTURE)
    try:
        solution = solve_for(network, q.symbol, q.memory, options, q.batch_size)
    except SymcnnError as err:
        return _Answered(Answer("count", 0), err.message, None, list, int)
    if solution.monotone is not True:
        return _Answered(Answer("count", 0), f"training memory is not proven never to decrease "
                         f"as {q.symbol} grows", None, list, int)
    problem = prepare(network, [q.symbol], options, q.batch_size)
    work = LargestWork(size(q.symbol), sympy.expand(problem.training), q.batch_size, q.memory,
                       solution)
    return _Answered(Answer("count", solution.largest), work, None,
                     partial(largest_mistakes, problem.memory, work), int)


_ANSWER = {"params": _params, "total_params": _total_params, "output_shape": _output_shape,
           "activation_memory": _activation_memory, "training_memory": _training_memory,
           "max_batch": _max_batch, "macs": _macs, "receptive_field": _receptive_field}


def _answer(q: QuestionSpec, report: Report, mistakes: Mistakes,
            candidate: Candidate) -> _Answered:
    """One question of a variant, answered from its report (``symbolic_total`` from the
    network with the question's symbol kept)."""
    if q.kind == "largest_symbol":
        return _largest_symbol(q, candidate)
    if q.kind == "symbolic_total":
        analysis = analyze(candidate.network(keep=(q.symbol,)))
        total = sympy.expand(analysis.total_params)
        symbol, value = size(q.symbol), candidate.values[q.symbol]
        work = SymbolicWork(symbol, value, tuple(r for r in analysis.rows if r.params != 0),
                            total, total.subs(symbol, value))
        return _Answered(Answer("expression", total), work, None,
                         Mistakes(analysis).symbolic_total, sympy.expand)
    try:
        row = _row(report.analysis, q) if q.layer is not None else None
        return _ANSWER[q.kind](q, report, mistakes, row)
    except SymcnnError as err:
        raise err.within(source=candidate.source) from None


def _degenerate(q: QuestionSpec, done: _Answered) -> str | None:
    """Why a right answer makes a poor question (the draw is then rejected)."""
    answer = done.answer
    if q.kind == "largest_symbol" and answer.value < 1:
        return f"{q.where}: {done.work}"
    if q.kind == "max_batch" and answer.value < 1:
        return f"{q.where}: not even one sample fits in {q.memory}"
    if answer.form == "size" and answer.value <= 0:
        return f"{q.where}: the answer rounds to 0 {q.unit}"
    return None


def _valid(value, form: str) -> bool:
    if form == "shape":
        return all(v >= 1 for v in value)
    if form == "expression":
        return True
    return value > 0


def _fallbacks(answer: Answer):
    """Values near the right one, for when the typical mistakes give too few options."""
    v = answer.value
    for k in range(1, 50):
        if answer.form == "shape":
            yield tuple(x + k if i else x for i, x in enumerate(v))
        elif answer.form == "expression":
            yield v + k * next(iter(sorted(v.free_symbols, key=str)), 1)
        elif answer.form == "size":
            step = max(Decimal(1).scaleb(-answer.decimals), (v / 10).quantize(v))
            yield v + k * step
        else:
            yield v + k * max(1, v // 10)


def _choices(q: QuestionSpec, done: _Answered, rng: random.Random,
             source: str) -> tuple[Choice, ...]:
    """The right answer and ``q.choices - 1`` wrong ones, distinct after rounding, shuffled."""
    if q.choices == 0:
        return ()
    answer = done.answer
    seen = {answer.value}
    picked: list[tuple[object, str]] = []
    for mistake, value in done.distractors():
        try:
            value = done.normalise(value)
        except (TypeError, ValueError):
            continue
        if value not in seen and _valid(value, answer.form):
            seen.add(value)
            picked.append((value, mistake))
    for value in _fallbacks(answer):
        if len(picked) >= q.choices - 1:
            break
        if value not in seen and _valid(value, answer.form):
            seen.add(value)
            picked.append((value, "a nearby value"))
    if len(picked) < q.choices - 1:
        raise SymcnnError(f"only {len(picked) + 1} different options for {q.choices} choices",
                          source=source, layer=q.where, field="choices")
    options = [(answer.value, "")] + picked[:q.choices - 1]
    rng.shuffle(options)
    return tuple(Choice(LETTERS[i], value, not mistake, mistake)
                 for i, (value, mistake) in enumerate(options))


# ---- variants -------------------------------------------------------------------------------

def _try(family: Family, candidate: Candidate, macs_convention: MacsConvention):
    """The report of a candidate's network, or a SymcnnError saying why it is invalid."""
    numeric = candidate.network()
    report = make_report(Spec(numeric, family.source), MemoryOptions(Convention.LECTURE),
                         memory=[q.memory for q in family.exam.questions if q.memory] or None,
                         units="MB", macs_convention=macs_convention)
    if family.exact_division:
        where = inexact_division(report.analysis)
        if where:
            raise SymcnnError(where)
    return report


def make_variant(family: Family, seed: int, index: int,
                 macs_convention: MacsConvention | str = MacsConvention.FVCORE) -> Variant:
    """Variant ``index`` (from 1) of ``family`` for ``seed``: the first valid draw; its MACs
    questions count as ``macs_convention`` (fvcore, torchinfo or ptflops) does."""
    macs_convention = as_macs_convention(macs_convention)
    failures: list[SymcnnError] = []
    for candidate in family.candidates(seed, index):
        try:
            candidate.symbolic  # noqa: B018 - the drawn values may make no network
        except SymcnnError as err:
            failures.append(err)
            continue
        candidate.check_variables()
        try:
            report = _try(family, candidate, macs_convention)
        except SymcnnError as err:
            failures.append(err)
            continue
        questions, reason = [], None
        mistakes = Mistakes(report.analysis, report.memory)
        for q in family.exam.questions:
            done = _answer(q, report, mistakes, candidate)
            reason = _degenerate(q, done)
            if reason:
                break
            rng = random.Random(f"symcnn-exam:{seed}:{index}:question:{q.number}")
            choices = _choices(q, done, rng, family.source)
            questions.append(Question(q, done.answer, done.work, done.row, choices))
        if reason:
            failures.append(SymcnnError(reason))
            continue
        kept = {k: candidate.values[k] for k in family.kept_symbols}
        shown = candidate.network(keep=tuple(kept)) if kept else report.network
        return Variant(index, seed, candidate, report, shown, kept, tuple(questions))
    raise _no_variant(family, index, failures)


def _no_variant(family: Family, index: int, failures: list[SymcnnError]) -> SymcnnError:
    last = failures[-1]
    if all(str(f) == str(last) for f in failures):  # the same whatever was drawn
        return last.within(source=family.source)
    return SymcnnError(f"variant {index}: all {len(failures)} draws were invalid (raise "
                       f"[draw] tries or widen the choices); the last: {last}",
                       source=family.source)


def make_exam(family: Family, variants: int = 1, seed: int = 0,
              macs_convention: MacsConvention | str = MacsConvention.FVCORE) -> Exam:
    """``variants`` variants of ``family`` (numbered from 1), reproducible from ``seed``; the
    MACs questions count as ``macs_convention`` does."""
    if isinstance(variants, bool) or not isinstance(variants, int) or variants < 1:
        raise SymcnnError(f"must be a whole number >= 1, got {variants!r}", argument="variants")
    if variants > MAX_VARIANTS:
        raise SymcnnError(f"at most {MAX_VARIANTS}, got {variants}", argument="variants")
    convention = as_macs_convention(macs_convention)
    return Exam(family, seed, tuple(make_variant(family, seed, k, convention)
                                    for k in range(1, variants + 1)))

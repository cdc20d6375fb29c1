"""``symcnn solve`` and ``symcnn sweep`` as text, JSON and CSV (presentation only: every
figure is a field of a :class:`~symcnn.explore.Solution` or a column of a sweep)."""

from __future__ import annotations

import csv
import io
import json

from symcnn.explore import Solution
from symcnn.units import format_bytes


def _bytes(value: int, unit: str) -> str:
    text = f"{value:,} B"
    return text if unit == "B" else f"{text} ({format_bytes(value, unit)})"


def solve_text(s: Solution, unit: str, budget: str) -> str:
    """What ``symcnn solve`` prints (``budget``: the budget as given)."""
    name = s.symbol
    given = budget if budget.strip().isdigit() else f"{budget} = {s.budget:,} B"
    lines = [f"largest {name} whose training fits {given} ({s.convention} convention, "
             f"batch size {s.batch}): {name} = {s.largest:,}",
             f"  training at {name} = {s.largest:,}: {_bytes(s.memory_at_largest, unit)}"]
    if s.next is None:
        lines.append(f"  the network takes no larger {name}")
    else:
        lines.append(f"  training at {name} = {s.next:,}: {_bytes(s.memory_at_next, unit)}, "
                     "over the budget")
    lines += _how(s)
    return "\n".join(lines) + "\n"


def _how(s: Solution) -> list[str]:
    """How the answer was found, and what is proven."""
    name = s.symbol
    if s.monotone:
        return [f"  memory never decreases as {name} grows (proven from the closed form), so "
                f"every {name} from {s.smallest:,} to {s.largest:,} fits ({s.evaluations} "
                "values evaluated: doubling, then narrowing)"]
    if not s.closed_form:
        return [f"  the simulated step on the CPU has no closed form in {name} (oneDNN's "
                f"buffers follow the numbers): {s.evaluations} values of {name} evaluated, "
                "by doubling and bisection; that memory never decreases as "
                f"{name} grows is assumed, not proven"]
    first, last = s.scanned
    out = []
    if s.decrease:
        v, m, w, n = s.decrease
        out.append(f"  memory is not monotone in {name}: {m:,} B at {name} = {v:,}, "
                   f"{n:,} B at {name} = {w:,}")
    else:
        out.append(f"  that memory never decreases as {name} grows is not proven from the "
                   f"closed form (none decreases from {first:,} to {last:,})")
    fit = (f"every value up to {s.all_fit_up_to:,} fits" if s.all_fit_up_to is not None
           else f"{name} = {first:,} does not fit")
    out.append(f"  every {name} from {first:,} to {last:,} evaluated: {fit}; the largest that "
               f"fits is {s.largest:,}; values above {last:,} were not evaluated")
    return out


def solve_json(s: Solution) -> dict:
    """``symcnn solve --json``."""
    return {"symbol": s.symbol, "largest": s.largest, "memory_at_largest": s.memory_at_largest,
            "next": s.next, "memory_at_next": s.memory_at_next, "budget": s.budget,
            "convention": s.convention, "batch_size": s.batch, "smallest": s.smallest,
            "monotone": s.monotone, "all_fit_up_to": s.all_fit_up_to,
            "scanned": list(s.scanned) if s.scanned else None,
            "decrease": list(s.decrease) if s.decrease else None,
            "closed_form": s.closed_form, "evaluations": s.evaluations}


def sweep_csv(columns: dict[str, list[int]]) -> str:
    """A sweep's columns as CSV: a header row, then one row a point."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*columns.values()))
    return out.getvalue()


def sweep_json(columns: dict[str, list[int]], about: dict) -> str:
    """A sweep as JSON: what was asked (``about``), then the columns, each a list."""
    return json.dumps({**about, "points": len(next(iter(columns.values()), [])),
                       "columns": columns}) + "\n"

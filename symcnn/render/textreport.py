"""The terminal table of a :class:`~symcnn.report.Report` (presentation only)."""

from __future__ import annotations

import sympy

from symcnn.analysis.field_forms import sees_whole_axis, shared_pixels
from symcnn.layers import BatchNormNd
from symcnn.render.formatting import (budget_text, expr_text, factor, figure_units, number,
                                      shape, visible, written)
from symcnn.report import Report
from symcnn.units import format_bytes, unit_note


def nbytes(value, unit: str) -> str:
    value = sympy.sympify(value)
    return format_bytes(value, unit) if value.is_number else f"{expr_text(value)} B"


def _table(rows: list[list[str]]) -> list[str]:
    rows = [[visible(c) for c in r] for r in rows]          # aligned as printed
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def _activation_cell(r, term, report: Report, unit) -> str:
    """A node's stored activation and its size; else why it adds none to the sum: a learned
    tensor (a parameter), a view or an in-place layer (no new memory), or an output the
    convention does not count (PyTorch's: one that nothing saves for backward)."""
    if term is not None:
        return f"{report.notation.text_label(term.label)} = {nbytes(term.bytes, unit)}"
    if not r.layer.reads_inputs:
        return "(learned tensor)"
    if r.allocates:
        return "(not saved)"
    return "(in place, no new memory)" if getattr(r.layer, "inplace", False) \
        else "(view, no new memory)"


def _layer_rows(report: Report) -> list[list[str]]:
    mem, unit = report.memory, figure_units(report)
    labels = {t.source: t for t in mem.activations}
    first = labels.get("input")  # autocast saves a 2-byte copy of x, not x
    graph = not report.network.is_sequential
    rows = [["#", "layer", "type", *(["inputs"] if graph else []), "output shape", "parameters",
             "MACs", "receptive field", "activation (per sample)"],
            ["", "input", "", *([""] if graph else []), shape(report.analysis.input_shape), "", "",
             "", f"{report.notation.text_label(first.label)} = {nbytes(first.bytes, unit)}"
             if first else "(not saved)"]]
    for r, macs, field in zip(report.analysis.rows, report.macs.rows, report.receptive_fields):
        d = r.params_derivation
        params = number(r.params)
        if d is not None:
            text = written(d.substituted)
            if d.value.is_number or len(text) <= 32:
                params = f"{text} = {number(d.value)}"
        act = _activation_cell(r, labels.get(r.name) if r.allocates else None, report, unit)
        inputs = [", ".join(r.inputs) if r.layer.reads_inputs else ""] if graph else []
        rows.append([str(r.index), r.name, r.type_name, *inputs, shape(r.output_shape), params,
                     _macs(macs.value), receptive_field(field, report.analysis.input_shape), act])
    return rows


def receptive_field(axes, input_shape=None) -> str:
    """A node's receptive field: its size, and its jump where that is not 1, written once
    where every spatial axis has the same (``61, jump 16``), else one value per axis
    (``5 x 3, jump 2 x 1``); ``?`` where it is not known, empty where there is none (no
    spatial axes, a learned tensor).  Where every output element sees the same pixels (jump
    0 on every axis: a linear layer, a global pool, attention), the jump is not written: the
    field is ``whole input`` where it covers every input pixel, else the input pixels it
    covers of the input's (``189 x 221 x 189 of 193 x 229 x 193``, the padding not counted);
    the JSON keeps the numbers (``size`` with padding, ``jump`` 0) and marks the first
    ``whole_input``.  ``input_shape``: the network's (channels first)."""
    if axes is None:
        return "?"
    if not axes:
        return ""

    def per_axis(values) -> str:
        texts = [number(v) for v in values]
        return texts[0] if len(set(texts)) == 1 else " x ".join(texts)

    spatial = input_shape[1:] if input_shape is not None else None
    if spatial is not None and all(a.jump == 0 and a.phases is None for a in axes):
        if all(sees_whole_axis(a, n) for a, n in zip(axes, spatial)):
            return "whole input"
        text = f"{per_axis(map(shared_pixels, axes, spatial))} of {per_axis(spatial)}"
    else:
        size, jump = per_axis(a.size for a in axes), per_axis(a.jump for a in axes)
        text = size if jump == "1" else f"{size}, jump {jump}"
    return text if len(text) <= 40 else "(closed form: --json)"


def _macs(value) -> str:
    """A layer's MACs: the number, a short expression, or where to find a long one."""
    text = number(value)
    return text if value.is_number or len(text) <= 40 else "(closed form: --json)"


def relation(rel) -> str:
    """``Eq(a, b)`` as ``a = b``."""
    return f"{expr_text(rel.lhs)} = {expr_text(rel.rhs)}" if isinstance(rel, sympy.Eq) \
        else expr_text(rel)


def _values(values) -> str:
    shown = ", ".join(map(str, values[:12]))
    return shown + (f", ... ({len(values)} values)" if len(values) > 12 else "")


def _conditions(report: Report) -> list[str]:
    conditions = report.analysis.conditions
    out = []
    if conditions:
        out.append("Branches meet only if:")
        out += [f"  {relation(c.relation)}   (at {c.node})" for c in conditions]
    for name, values, valid in report.valid_sizes:
        out.append(f"Valid {name} in {values.start}..{values[-1]}"
                   + (f" step {values.step}" if values.step != 1 else "") + ": "
                   + (_values(valid) if valid else "none"))
    return [*out, ""] if out else []


def _moments(report: Report) -> list[str]:
    """The simulated step (``pytorch`` convention): what is saved and where the peak is."""
    mem, unit, b = report.memory, figure_units(report), report.batch_size
    sim = mem.simulation
    saved = sympy.Add(*(t.bytes for t in mem.activations))
    batch_norm = any(isinstance(r.layer, BatchNormNd) for r in report.analysis.rows)
    once = [name for key, name in (("statistics", "BatchNorm statistics"),
                                   ("weight copy", "weight copies"),
                                   ("rng state", "generator states"))
            if any(f"({key})" in t.source for t in mem.activations)
            and (key != "statistics" or batch_norm)]
    kept = "kept for backward by checkpointing (segment inputs, the last segment's saves)" \
        if sim.checkpoint_segments else "saved for backward"
    out = [f"  {kept} ({len(mem.activations)} storages) = {nbytes(saved, unit)}"
           + " per sample"
           + (f" ({' and '.join(once)} once)" if once else "")]
    if sim.precision != "fp32":
        out.append(f"  under {sim.precision} autocast: activations, their gradients and the saved "
                   "tensors in autocast's dtypes, with its saved copies of x and the weights; "
                   f"parameters, their gradients and optimizer state at {mem.element_bytes} B "
                   "per element")
    out.append("  peak of the step = max over its moments t of F_t + A_t*b "
               f"({len(sim.moments)} moments: forward, loss, each backward, optimizer)")
    if sim.threads:
        out.append(f"  CPU kernels (oneDNN) with {sim.threads} intra-op thread"
                   f"{'s' if sim.threads != 1 else ''}: their per-thread buffers follow it")
    if sim.cpu is not None:
        out.append(f"  CPU kernel rules for {sim.cpu} (the capability PyTorch dispatches on)")
    if sim.upper_bound:
        names = ", ".join(f"{n} ({why})" for n, why in sim.upper_bound)
        out.append(f"  upper bound: an allowance for the buffers of {names}; use `symcnn "
                   "calibrate` for an exact figure")
    if sim.profile is not None:
        covered, rest = sim.profiled_nodes
        others = ", ".join(rest[:8]) + (f" and {len(rest) - 8} more" if len(rest) > 8 else "")
        out.append(f"  kernel workspace measured by symcnn calibrate for {len(covered)} of "
                   f"{len(covered) + len(rest)} nodes, profile {sim.profile.describe()}"
                   + (f"; the built-in rules for {others}" if rest else ""))
    if sim.checkpoint_segments:
        out.append(f"  forward pass through checkpoint_sequential(model, {sim.checkpoint_segments}"
                   ", x, use_reentrant=False): each checkpointed segment is run again before "
                   "its backward")
    if sim.allocator_block:
        out.append(f"  every allocation rounded up to a multiple of {sim.allocator_block} B "
                   "(caching allocator) in the figures at a batch size and in b_max")
    top = mem.peak_moment(b)
    if top is not None:
        where = f"{top.phase} of {top.node}" if top.node else top.phase
        out.append(f"  peak at b = {number(b)}: during the {where}")
    a = mem.asymptote
    out.append(f"  large batches: {number(a.fixed)} + {factor(a.per_sample)}*b bytes "
               f"({a.phase} of {a.node})")
    return out


def render_text(report: Report) -> str:
    """The report as it is printed by ``symcnn report``: names and descriptions from the spec
    with their control characters escaped (:func:`symcnn.render.formatting.visible`)."""
    return visible(_report_text(report))


def _report_text(report: Report) -> str:
    net, mem, unit = report.network, report.memory, figure_units(report)
    a = report.analysis
    out = [f"{net.name}" + (f": {net.description}" if net.description else ""),
           f"input {shape(net.input_shape)} (channels first, per sample), {mem.dtype} "
           f"({mem.element_bytes} B per element)"]
    symbols = sorted(map(str, net.free_symbols))
    if symbols:
        out.append(f"symbols {', '.join(symbols)}: positive integers (substitute with --set NAME=VALUE)")
    out += ["", *_table(_layer_rows(report)), ""]
    named = "" if a.total_params.is_number else f" {report.notation.text['params']}"
    out.append(f"Total parameters{named}: {number(report.total_params)}")
    if a.total_buffers != 0:
        out.append(f"Buffers (BatchNorm running statistics): {number(a.total_buffers)} elements")
    macs = report.total_macs
    out += [f"MACs per sample: {number(macs)}"
            + (f" (FLOPs = 2 x MACs = {number(2 * macs)})" if macs.is_number else ""),
            f"  {report.macs_convention.summary}"]
    act = mem.activations
    labels = [report.notation.text_label(t.label) for t in act[1:]]
    later = " + ".join(labels) if len(labels) <= 6 else f"{labels[0]} + ... + {labels[-1]}"
    later = later or "0"
    s = mem.element_bytes

    letters = report.notation.text  # never written like one of the network's symbols
    letters_in = report.notation.relabel

    def product(term) -> str:
        return written(term.derivation.substituted) if a.total_params.is_number \
            else f"{letters['params']}*{s}"

    out += ["", f"Memory, {mem.convention} convention ({letters_in(mem.rules.summary)}), "
                f"{unit_note(unit)}:",
            f"  Params      = {product(mem.params)} B = {nbytes(mem.params.bytes, unit)}"]
    if mem.grads.bytes != 0:
        out.append(f"  Grads       = {product(mem.grads)} B = {nbytes(mem.grads.bytes, unit)}")
    if mem.buffers.bytes != 0:
        out.append(f"  Buffers     = {nbytes(mem.buffers.bytes, unit)}")
    if mem.optimizer_state.bytes != 0:
        out.append(f"  Optimizer   = {mem.optimizer} state, "
                   f"{written(mem.optimizer_state.derivation.substituted)} B = "
                   f"{nbytes(mem.optimizer_state.bytes, unit)}")
    if mem.simulation:
        out += _moments(report)
    else:
        i_1 = report.notation.text_label("I_1")
        first = f"{act[0].times}*{i_1}" if act[0].times != 1 else i_1
        rest = f" + {mem.rules.output_times}*({later})" if len(act) > 1 else ""
        out.append(f"  per sample  = {first}{rest} = {nbytes(mem.per_sample, unit)}")
        if mem.per_sample.is_number and mem.fixed.is_number:
            out.append(f"  Batch mem   = {number(mem.fixed)} + {factor(mem.per_sample)}*b bytes")
        else:
            c, a_ = letters["fixed"], letters["per_sample"]
            out += [f"  Batch mem   = {c} + {a_}*b bytes, with", f"    {c} = {number(mem.fixed)}",
                    f"    {a_} = {number(mem.per_sample)}"]
    out += [f"  training at b = {number(report.batch_size)}: "
            f"{_figure(report.training_bytes, unit)}"
            + (f" ({number(report.training_bytes)} B)" if report.training_bytes.is_number else ""),
            f"  inference at b = {number(report.batch_size)} "
            + ("(eval mode, no_grad: the peak of the simulated forward pass)"
               if mem.simulation else
               "(no gradients, largest set of tensors alive at once)")
            + f": {_figure(report.inference_bytes, unit)}", ""]
    out += _conditions(report)
    if not all(limit.numeric for _, limit in report.limits):
        return "\n".join(out + _symbolic_limits(report) + _checks(report)) + "\n"
    m = letters["budget"]
    out.append(f"Largest batch: b_max = min over the step's moments of floor(({m} - F_t)/A_t)"
               if mem.simulation else "Largest batch: b_max = "
               f"{budget_text(report.limits[0][1].formula, m)}  ({m} = memory in bytes)")
    for name, limit in report.limits:
        if limit.fits is False:
            out.append(f"  {name}: does not fit even at b = 1; "
                       f"{nbytes(limit.shortfall, unit)} short")
        else:
            out.append(f"  {name}: b_max = {number(limit.value)}")
    return "\n".join(out + _checks(report)) + "\n"


def _symbolic_limits(report: Report) -> list[str]:
    """The largest batch with symbols: its formula, and a row for each budget (written out
    in the symbols where few remain, :class:`symcnn.analysis.symbolic.BudgetRow`)."""
    t = report.notation.text
    if report.memory.simulation:
        m = t["budget"]
        out = [f"Largest batch: b_max = min over the step's moments t of floor(({m} - F_t)/A_t)"
               f"  ({m} = memory in bytes)"]
        rows = [(name, f"min_t floor(({number(limit.budget)} - F_t)/A_t)")
                for name, limit in report.limits]
    else:
        c, a, m = t["fixed"], t["per_sample"], t["budget"]
        out = [f"Largest batch: b_max = floor(({m} - {c})/{a})  ({m} = memory in bytes; "
               f"{c}, {a} as above)"]
        budgets = report.derivation.budgets if report.derivation else ()
        rows = [(row.name, f"floor(({number(row.budget)} - ({number(row.fixed)}))/"
                           f"({number(row.per_sample)}))" if row.fixed is not None
                 else f"floor(({number(row.budget)} - {c})/{a})") for row in budgets] or \
            [(name, f"floor(({number(limit.budget)} - {c})/{a})") for name, limit in report.limits]
    width = max(len(name) for name, _ in rows)
    out += [f"  {name:<{width}}  b_max = {formula}" for name, formula in rows]
    out.append("  (substitute the symbols with --set for numbers)")
    return out


def _checks(report: Report) -> list[str]:
    out = []
    if report.checks:
        good = sum(c.agrees for c in report.checks)
        out += ["", f"Checked against {report.published_source}: {good} of "
                    f"{len(report.checks)} printed figures agree."]
        for c in report.mismatches:
            d = c.derivation
            value = nbytes(d.value, c.unit) if c.unit else number(d.value)
            exact = f"{number(d.value)} B = " if c.unit else ""
            out.append(f"  {c.key.split('.')[-1]}: printed {c.printed}, but "
                       f"{written(d.substituted)} = {exact}{value}")
    return out


def _figure(value, unit: str) -> str:
    """A size; the largest of many symbolic moments is named, not printed (``--json`` and
    the documents carry the expression)."""
    if isinstance(value, sympy.Max) and len(value.args) > 3:
        return (f"the largest of {len(value.args)} expressions in the symbols (give them "
                "values with --set for a number; --json has the expression)")
    return nbytes(value, unit)

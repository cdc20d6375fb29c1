"""A :class:`~symcnn.report.Report` as one JSON document (presentation only).

Numbers are JSON integers; symbolic values are strings that ``symcnn.parse_expression`` reads
back (``sympy.sympify`` would read a symbol named E, I, S, N or pi as a constant).
"""

from __future__ import annotations

import sympy

from symcnn.analysis.field_forms import sees_whole_axis
from symcnn.network import DTYPE_BYTES
from symcnn.render.formatting import budget_text, expr_text, generic_text, written
from symcnn.render.formatting import json_value as value
from symcnn.report import Report


def _layer(r, macs, field, term, s: int, notation, input_shape) -> dict:
    """One node: its shapes, parameters, MACs, receptive field and stored activation."""
    d, m = r.params_derivation, macs.derivation
    return {
        "index": r.index, "name": r.name, "type": r.type_name,
        "input_shape": [value(x) for x in r.input_shapes[0]],
        "output_shape": [value(x) for x in r.output_shape],
        "params": value(r.params),
        "params_formula": generic_text(d.formula, notation) if d else None,
        "params_substituted": written(d.substituted) if d else None,
        "buffers": value(r.buffers),
        "activation_elements": value(r.activation),
        "activation_bytes": value(r.activation * s) if r.allocates else 0,
        "activation_label": notation.text_label(term.label) if term else None,
        "macs": value(macs.value),
        "macs_formula": generic_text(m.formula, notation, written) if m else None,
        "macs_substituted": written(m.substituted) if m else None,
        "receptive_field": None if field is None else [_axis_field(f, n) for f, n in
                                                       zip(field, input_shape[1:])],
        "inputs": list(r.inputs),
        **({"block": r.block, "block_type": r.block_type} if r.block else {}),
    }


def _axis_field(f, n) -> dict:
    """Size, jump and start along an input axis of ``n`` pixels; ``whole_input`` where every
    output element sees all of them (jump 0: a linear layer, a global pool); where the
    elements' fields differ (a fractional jump), each phase's first and last pixel: element
    ``q P + r`` sees ``phases[r]`` moved by ``q P jump`` (None: no pixel)."""
    out = {"size": value(f.size), "jump": value(f.jump), "start": value(f.start)}
    if sees_whole_axis(f, n):
        out["whole_input"] = True
    if f.phases is not None:
        out["phases"] = [None if b is None else [value(b[0]), value(b[1])]
                         for b in f.phases.bounds]
    return out


def to_json(report: Report) -> dict:
    a, mem = report.analysis, report.memory
    s = DTYPE_BYTES[mem.dtype]
    terms = {t.source: t for t in mem.activations}
    layers = [_layer(r, macs, field, terms.get(r.name) if r.allocates else None, s,
                     report.notation, a.input_shape)
              for r, macs, field in zip(a.rows, report.macs.rows, report.receptive_fields)]
    memory = {
        "convention": mem.convention, "dtype": mem.dtype, "bytes_per_element": s,
        "optimizer": mem.optimizer.value,
        "params_bytes": value(mem.params.bytes), "grads_bytes": value(mem.grads.bytes),
        "buffers_bytes": value(mem.buffers.bytes),
        "optimizer_bytes": value(mem.optimizer_state.bytes),
        "input_bytes": value(terms["input"].bytes if "input" in terms else
                             sympy.Mul(*report.analysis.input_shape) * mem.element_bytes),
        "fixed_bytes": value(mem.fixed), "per_sample_bytes": value(mem.per_sample),
        "training_formula": expr_text(mem.training()),
        "batch_size": value(report.batch_size),
        "training_bytes": value(report.training_bytes),
        "inference_bytes": value(report.inference_bytes),
    }
    sim = mem.simulation
    if sim:
        top = mem.peak_moment(report.batch_size)
        memory["device"] = sim.device.value
        memory["precision"] = sim.precision.value
        memory["allocator_block"] = sim.allocator_block
        memory["checkpoint_segments"] = sim.checkpoint_segments
        memory["threads"] = sim.threads
        if sim.cpu is not None:
            memory["cpu"] = sim.cpu.value
            if sim.upper_bound:
                memory["upper_bound_layers"] = [{"node": n, "why": why}
                                                for n, why in sim.upper_bound]
        if sim.profile is not None:
            memory["profile"] = _profile(sim)
        memory["peak_at"] = f"{top.phase} {top.node}".strip() if top else None
        memory["saved_bytes"] = value(sympy.Add(*(t.bytes for t in mem.activations)))
    if report.budget is not None:
        limit = report.limits[0][1]
        memory.update({"budget": report.budget, "budget_bytes": value(limit.budget),
                       "max_batch_size": value(limit.value),
                       "max_batch_size_formula": budget_text(limit.formula,
                                                             report.notation.text["budget"]),
                       "shortfall_bytes": value(limit.shortfall)})
        if len(report.limits) > 1:
            memory["max_batch_sizes"] = {name: value(lim.value) for name, lim in report.limits}
    out = {"name": report.network.name, "source": report.source,
           "input_shape": [value(x) for x in a.input_shape],
           "symbols": sorted(map(str, report.network.free_symbols)),
           "total_params": value(report.total_params),
           "total_buffers": value(a.total_buffers),
           "macs_convention": report.macs_convention.value,
           "total_macs": value(report.total_macs),
           "total_flops": value(report.total_flops),
           "layers": layers, "memory": memory}
    if a.conditions:
        out["conditions"] = [{"node": c.node, "relation": expr_text(c.relation)}
                             for c in a.conditions]
    if report.valid_sizes:
        out["valid_sizes"] = {name: list(valid) for name, _, valid in report.valid_sizes}
    if report.checks:
        out["published"] = [{"key": c.key, "printed": c.printed, "value": value(c.value),
                             "agrees": c.agrees} for c in report.checks]
    return out


def _profile(sim) -> dict:
    """The calibration profile a simulation used, and the nodes it covered."""
    prof = sim.profile
    return {"file": prof.source, "device": prof.device, "cpu": prof.cpu,
            "threads": prof.threads, "precision": prof.precision, "torch": prof.torch,
            "batch_sizes": list(prof.batch_sizes), "configurations": len(prof.entries),
            "nodes": list(sim.profiled_nodes[0]), "rules_for": list(sim.profiled_nodes[1])}

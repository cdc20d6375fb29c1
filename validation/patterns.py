"""Allocation patterns per layer type, read from ``results/cpu_zoo.json``.

    python -m validation.patterns [results/cpu_zoo.json] > validation/results/cpu_patterns.md

For every node of the SGD runs that carry allocation events (first batch size, fp32 and bf16),
the allocations and frees the CPU allocator saw during the node's forward call and during its
backward function are written with symbols instead of byte counts, and identical sequences are
merged.  Symbols (bytes): ``I`` (``I0``, ``I1``) the input, ``O`` the output, ``W``/``B`` the fp32
weight/bias, ``W2`` a bf16 copy of the weight, ``Cf`` C fp32 values (C = channels of the input),
``X8`` int64 per output element (``8 n(O)``), ``Ip``/``Op`` the input/output with the channels
padded to a multiple of 16 (oneDNN's blocked layout on this AVX-512 machine), ``I4``/``I2`` the
input's elements at 4 / 2 bytes (a dtype cast), ``G`` the sum of all parameters' bytes.  Numbers
are sizes that match none of these (oneDNN scratchpads, im2col buffers, scalars).  ``+`` is an
allocation, ``-`` a free; ``[op]`` the ATen op that allocated (``raw``: no ATen op, e.g. a
buffer oneDNN took from the allocator, or the free of a tensor released by autograd).

``peak`` is the highest point above the node's start, ``net`` the change from start to end.
"""

from __future__ import annotations

import collections
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

from validation import run_cpu  # noqa: E402

ES = {"torch.float32": 4, "torch.bfloat16": 2, "torch.int64": 8}


def _n(shape) -> int:
    return math.prod(shape) if shape else 1


def names_for(call: dict) -> dict[int, str]:
    """Byte size -> symbol for one node call (first match wins)."""
    out: dict[int, str] = {}

    def put(v, name):
        if v and v not in out:
            out[v] = name

    ins, o = call["in"], call["out"]
    dts = call["in_dtype"]
    for i, (s, dt) in enumerate(zip(ins, dts)):
        put(_n(s) * ES.get(dt, 4), "I" if len(ins) == 1 else f"I{i}")
    if o is not None:
        put(_n(o) * ES.get(call["out_dtype"], 4), "O")
    p = call.get("params", {})
    if "weight" in p:
        put(p["weight"] * 4, "W")
        put(p["weight"] * 2, "W2")
    if "bias" in p:
        put(p["bias"] * 4, "B")
    if ins and len(ins[0]) >= 2:
        c = ins[0][1]
        put(c * 4, "Cf")
        put(2 * c * 4, "2Cf")
    if o is not None:
        put(_n(o) * 8, "X8")
    if ins and len(ins[0]) > 2 and o is not None and len(o) > 2:
        e = ES.get(dts[0], 4)
        ci, co = ins[0][1], o[1]
        put(_n(ins[0]) // ci * (-(-ci // 16) * 16) * e, "Ip")
        put(_n(o) // co * (-(-co // 16) * 16) * ES.get(call["out_dtype"], 4), "Op")
    if ins:
        put(_n(ins[0]) * 4, "I4")
        put(_n(ins[0]) * 2, "I2")
    return out


def symbolic(events, names) -> str:
    return " ".join(f"{'+' if b > 0 else '-'}{names.get(abs(b), str(abs(b)))}[{op}]"
                    for b, op in events)


def rel(v: int, call: dict) -> str:
    i = _n(call["in"][0]) * ES.get(call["in_dtype"][0], 4) if call["in"] else 0
    return f"{v:,d} B" + (f" = {v / i:.2f} I" if i else "")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else HERE / "results" / "cpu_zoo.json"
    data = run_cpu.load(path)
    groups: dict[tuple, dict] = collections.OrderedDict()
    for r in data["results"]:
        c = r["config"]
        if c["optimizer"] != "sgd" or c["foreach"] is not None:
            continue
        calls = {k["node"]: k for k in r["saved"]["calls"]}
        for n in r["step"]["nodes"]:
            if "events" not in n:
                continue
            call = calls.get(n["node"])
            if call is None:
                continue
            text = symbolic(n["events"], names_for(call))
            key = (call["type"], c["precision"], n["phase"], text)
            g = groups.setdefault(key, {"nodes": [], "peak": [], "net": []})
            g["nodes"].append(f"{r['network']}.{n['node']} (b={r['batch']}) {call['module']}")
            g["peak"].append(rel(n["peak"] - n["start"], call))
            g["net"].append(rel(n["end"] - n["start"], call))
    print("# Allocation patterns per layer type (CPU, torch "
          f"{data['environment']['torch']})\n")
    print(__doc__.split("\n\n", 2)[2].strip() + "\n")
    by_type = collections.defaultdict(list)
    for key, g in groups.items():
        by_type[key[0]].append((key, g))
    for typ in sorted(by_type):
        print(f"## {typ}\n")
        for (t, prec, phase, text), g in by_type[typ]:
            print(f"- **{phase}, {prec}** ({len(g['nodes'])} node(s), e.g. `{g['nodes'][0]}`): "
                  f"peak {g['peak'][0]}, net {g['net'][0]}")
            print(f"  `{text or '(nothing)'}`")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

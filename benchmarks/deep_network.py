"""A deep, fully symbolic 2-D CNN, timed phase by phase in this (fresh) process.

    python benchmarks/deep_network.py 512            # one JSON line on stdout
    python benchmarks/deep_network.py 512 --profile  # cProfile of the timed phases (stderr)

The network: ``depth`` Conv2d layers with ``C`` output channels, kernel 3, padding 1, on a
``C x H x W`` input (all three symbols); the last layer of every block of 32 has stride 2,
so a 512-layer network divides each spatial axis 16 times (floor((H - 1)/2**16) + 1 at the
end).  ``benchmarks/run.py`` starts this script once per measurement, so every run starts
with sympy's cache empty, as a user's program would.
"""

from __future__ import annotations

import json
import sys
import time

BLOCK = 32  # layers per stride-2 step


def build(depth: int):
    import symcnn
    from symcnn.layers import Conv2d
    from symcnn.symbols import size

    C, H, W = size("C"), size("H"), size("W")
    layers = [Conv2d(out_channels=C, kernel_size=3, padding=1,
                     stride=2 if i % BLOCK == BLOCK - 1 else 1) for i in range(depth)]
    return symcnn.Network.sequential(f"deep-{depth}", (C, H, W), layers)


def measure(depth: int) -> dict:
    t0 = time.perf_counter()
    import sympy

    import symcnn
    from symcnn.render.jsonreport import to_json
    from symcnn.render.textreport import render_text
    t1 = time.perf_counter()
    net = build(depth)
    t2 = time.perf_counter()
    report = symcnn.make_report(net)
    t3 = time.perf_counter()
    text = render_text(report)
    t4 = time.perf_counter()
    doc = json.dumps(to_json(report))
    t5 = time.perf_counter()

    def size_of(expr) -> dict:
        expr = sympy.sympify(expr)
        return {"count_ops": int(sympy.count_ops(expr)), "chars": len(str(expr))}

    last = report.analysis.output_shape
    return {
        "depth": depth,
        "strided_layers": sum(1 for i in range(depth) if i % BLOCK == BLOCK - 1),
        "import_s": t1 - t0, "build_s": t2 - t1, "report_s": t3 - t2,
        "text_s": t4 - t3, "json_s": t5 - t4, "total_s": t5 - t1,
        "text_chars": len(text), "json_chars": len(doc),
        "total_params": str(report.total_params),
        "per_sample_bytes": str(report.memory.per_sample),
        "output_shape": [str(x) for x in last],
        "size_total_params": size_of(report.total_params),
        "size_per_sample": size_of(report.memory.per_sample),
        "size_output_shape": {
            "count_ops": sum(int(sympy.count_ops(x)) for x in last),
            "chars": len(", ".join(map(str, last)))},
    }


def profile(depth: int, top: int = 25) -> None:
    """cProfile of build + make_report + render_text + to_json, to stderr."""
    import cProfile
    import pstats

    import symcnn  # noqa: F401  (imports are not what we profile)
    from symcnn.render.jsonreport import to_json
    from symcnn.render.textreport import render_text

    prof = cProfile.Profile()
    prof.enable()
    report = symcnn.make_report(build(depth))
    render_text(report)
    json.dumps(to_json(report))
    prof.disable()
    stats = pstats.Stats(prof, stream=sys.stderr)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


if __name__ == "__main__":
    args = sys.argv[1:]
    depth = int(args[0]) if args else 512
    if "--profile" in args:
        profile(depth)
    else:
        print(json.dumps(measure(depth)))

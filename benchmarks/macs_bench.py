"""MACs of the examples: symcnn's closed forms against fvcore, torchinfo and ptflops, the
totals (equal or not) and the time each takes, in one run.

    python benchmarks/macs_bench.py           # every example; fvcore runs the lecture's
                                              # full-size forward pass (~20 s on one core)
    python benchmarks/macs_bench.py --quick   # the lecture at full size left out of fvcore

Each tool counts the same torch model (the hand-written modules of tests/test_architectures.py
and validation/zoo/models.py) as its users call it: fvcore ``FlopCountAnalysis(model.eval(),
x).total()`` (a traced forward pass on the CPU), torchinfo ``summary(...).total_mult_adds`` on
the meta device, ptflops ``get_model_complexity_info(..., as_strings=False)`` on the CPU.
symcnn's time is the whole way from the spec's text: parse, analyze, count (sympy's cache
cleared first), under the same convention.  The symbolic U-Nets are evaluated at the sizes the
torch model is built with.  Median of the repetitions; writes ``benchmarks/macs.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import sympy  # noqa: E402
import torch  # noqa: E402

import symcnn  # noqa: E402
from symcnn.analysis.macs import total_macs  # noqa: E402
from symcnn.symbols import size  # noqa: E402

torch.set_num_threads(1)


def examples():
    """(name, spec text, values for its symbols, torch builder, input shape)."""
    from tests.test_architectures import RESNETS, VGG, VGG16_CFG, ResNet, UNet
    from validation.zoo import models
    text = lambda name: (ROOT / "examples" / f"{name}.toml").read_text()  # noqa: E731
    out = [("lecture", text("lecture"), {}, models.build_lecture3d_full, (1, 193, 229, 193))]
    for name, (block, layers, _) in RESNETS.items():
        out.append((name, text(name), {}, lambda b=block, n=layers: ResNet(b, n), (3, 224, 224)))
    out.append(("vgg16", text("vgg16"), {}, lambda: VGG(VGG16_CFG), (3, 224, 224)))
    out.append(("unet2d", text("unet2d"), {"C": 16, "H": 128, "W": 128},
                lambda: UNet(2, 4, 16), (1, 128, 128)))
    out.append(("unet3d", text("unet3d"), {"C": 8, "D": 32, "H": 32, "W": 32},
                lambda: UNet(3, 3, 8), (1, 32, 32, 32)))
    return out


def fvcore_total(model, shape):
    from fvcore.nn import FlopCountAnalysis
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = FlopCountAnalysis(model.eval(), torch.zeros((1, *shape)))
        a.unsupported_ops_warnings(False)
        a.uncalled_modules_warnings(False)
        return int(a.total())


def torchinfo_total(model, shape):
    import torchinfo
    return torchinfo.summary(model.to("meta"), input_size=(1, *shape), device="meta",
                             verbose=0).total_mult_adds


def ptflops_total(model, shape):
    from ptflops import get_model_complexity_info
    with contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
        return get_model_complexity_info(model, tuple(shape), as_strings=False,
                                         print_per_layer_stat=False)[0]


TOOLS = {"fvcore": fvcore_total, "torchinfo": torchinfo_total, "ptflops": ptflops_total}


def symcnn_total(text: str, values: dict, convention: str) -> int:
    sympy.core.cache.clear_cache()
    network = symcnn.parse_spec(text).network
    total = total_macs(symcnn.analyze(network), convention)
    return int(total.subs({size(k): v for k, v in values.items()}))


def median_time(fn, repeat: int):
    times, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return value, statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="skip fvcore on the full-size lecture")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    rows = []
    print("| example | tool | tool's MACs | symcnn's | equal | tool s | symcnn s | tool/symcnn |")
    print("|---|---|---:|---:|---|---:|---:|---:|")
    for name, text, values, build, shape in examples():
        for tool, count in TOOLS.items():
            if args.quick and tool == "fvcore" and name == "lecture":
                continue
            torch.manual_seed(0)
            model = build()
            heavy = tool != "torchinfo" and name in ("lecture", "unet3d", "vgg16", "resnet152")
            theirs, t_tool = median_time(lambda: count(model, shape), 1 if heavy else args.repeat)
            ours, t_ours = median_time(lambda: symcnn_total(text, values, tool), args.repeat)
            rows.append({"example": name, "tool": tool, "tool_macs": theirs, "symcnn_macs": ours,
                         "equal": theirs == ours, "tool_s": t_tool, "symcnn_s": t_ours})
            print(f"| {name} | {tool} | {theirs:,} | {ours:,} | {theirs == ours} | "
                  f"{t_tool:.3f} | {t_ours:.3f} | {t_tool / t_ours:.1f} |", flush=True)
    (HERE / "macs.json").write_text(json.dumps({
        "python": sys.version.split()[0], "torch": torch.__version__, "sympy": sympy.__version__,
        "threads": torch.get_num_threads(), "rows": rows}, indent=2) + "\n")
    return 0 if all(r["equal"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

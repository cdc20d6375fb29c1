"""symcnn: closed-form parameter counts and memory of convolutional networks, with sympy.

>>> import symcnn
>>> report = symcnn.make_report(symcnn.example_spec(), memory="12GB")
>>> report.total_params, report.limits[0][1].value
(3301651, 4)

Many configurations at once (closed forms built once, evaluated exactly at every point):

>>> from symcnn.spec.parse import parse_assignments
>>> wide = symcnn.example_spec("lecture_symbolic", parse_assignments(["D=193", "H=229", "W=193"]))
>>> symcnn.sweep(wide, {"C": [30, 60]}, memory="12GB")["max_batch"]
[4, 2]
>>> symcnn.solve_for(wide, "C", "12GB", batch_size=4).largest
30

Compute cost and receptive fields of a network's analysis (the lecture's L8 sees 61 pixels on
each axis, 16 apart):

>>> lecture = symcnn.analyze(symcnn.example_spec().network)
>>> symcnn.count_macs(lecture).total, symcnn.total_macs(lecture, "torchinfo")
(121987539810, 122347137391)
>>> symcnn.receptive_fields(lecture)[7][0]
AxisField(size=61, jump=16, start=0)
"""

from symcnn import render as _render  # noqa: F401  (registers how a notebook shows a report)
from symcnn.analysis import analyze
from symcnn.analysis.macs import count_macs, total_macs
from symcnn.analysis.receptive import receptive_fields
from symcnn.errors import SymcnnError
from symcnn.explore import solve_for, sweep
from symcnn.expressions import read_expression as parse_expression
from symcnn.memory import estimate_memory
from symcnn.network import Network
from symcnn.options import MemoryOptions
from symcnn.report import make_report
from symcnn.solve import max_batch_size
from symcnn.spec import example_spec, load_spec, parse_spec
from symcnn.units import parse_size

__version__ = "0.1.0"

__all__ = ["MemoryOptions", "Network", "SymcnnError", "__version__", "analyze", "count_macs",
           "estimate_memory", "example_spec", "load_spec", "make_report", "max_batch_size",
           "parse_expression", "parse_size", "parse_spec", "receptive_fields", "solve_for",
           "sweep", "total_macs"]

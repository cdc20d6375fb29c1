"""symcnn: closed-form parameter counts and memory of convolutional networks, with sympy.

>>> import symcnn
>>> report = symcnn.make_report(symcnn.example_spec(), memory="12GB")
>>> report.total_params, report.limits[0][1].value
(3301651, 4)
"""

from .analysis import analyze
from .builtin import example_spec
from .errors import SymcnnError
from .memory import estimate_memory
from .network import Network
from .report import make_report
from .solve import max_batch_size
from .spec import load_spec, parse_spec
from .units import parse_size

__version__ = "0.1.0"

__all__ = ["Network", "SymcnnError", "__version__", "analyze", "estimate_memory",
           "example_spec", "load_spec", "make_report", "max_batch_size", "parse_size",
           "parse_spec"]

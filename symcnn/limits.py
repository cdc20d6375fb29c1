"""The documented bounds on what symcnn reads, so that hostile input fails in one line.

Each bound limits the size of a *result*, not of one operator: a number in a spec, an
expression, ``--set``, ``--batch-size``, ``--memory`` or ``--sizes`` may have at most
:data:`MAX_DIGITS` decimal digits whichever way it was written (``2**2**2**2**2`` is refused
while it is being computed, as soon as an intermediate value passes the bound), and a
symbolic value at most degree :data:`MAX_DEGREE`.  Nesting is bounded well before Python's
recursion limit.  The README's "Limits" section lists the same numbers.

>>> check_integer(10**30, "batch_size")
>>> check_integer(10**40, "batch_size")
Traceback (most recent call last):
...
symcnn.errors.SymcnnError: field 'batch_size': a number of more than 40 digits (limit: 10^40)
"""

from __future__ import annotations

from symcnn.errors import SymcnnError

#: The largest magnitude of any whole number symcnn reads or computes while reading
#: (a size, a budget, an intermediate value of an expression): below 10**MAX_DIGITS.
MAX_DIGITS = 40
MAX_INTEGER = 10**MAX_DIGITS
#: The largest exponent of one ``**``, and the largest degree of a symbolic value.
MAX_EXPONENT = 64
MAX_DEGREE = 64
#: Terms of one symbolic value once multiplied out (``(C + D + H + W)**64`` has 47,905:
#: sympy's expansions of the sizes then ran for minutes).
MAX_TERMS = 1_000
#: Characters in one expression string.
MAX_EXPRESSION_LENGTH = 500
#: Parentheses, signs and powers inside one another in an expression.
MAX_EXPRESSION_DEPTH = 50
#: Arrays and tables inside one another in a spec or family file.
MAX_TOML_DEPTH = 12
#: Bytes of a spec or family file.
MAX_FILE_BYTES = 4 * 2**20
#: Nodes of a network, after blocks are expanded and repeated.
MAX_LAYERS = 5_000
#: The ``repeat`` of one block use.
MAX_REPEAT = 1_000
#: Values in one ``--sizes`` range.
MAX_SIZES_VALUES = 10**6
#: Variants of one exam, and draws per variant (a family's ``[draw] tries``).
MAX_VARIANTS = 1_000
MAX_TRIES = 100_000


def too_large(value: int) -> bool:
    """True when a whole number is outside what symcnn accepts (``|value| >= 10**MAX_DIGITS``)."""
    return abs(value) >= MAX_INTEGER


def check_integer(value: int, field: str | None = None, *, argument: str | None = None) -> None:
    """A :class:`SymcnnError` naming ``field`` (or ``argument``) when ``value`` is too large."""
    if too_large(value):
        raise SymcnnError(f"a number of more than {MAX_DIGITS} digits (limit: 10^{MAX_DIGITS})",
                          field=field, argument=argument)

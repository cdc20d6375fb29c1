"""The flag of each library argument or option a user can get wrong.

The library's errors name the argument (``batch_size``) and know no flags, so that the API
and the command line share them; the command line prints the flag (``--batch-size``).
``tests/test_options.py`` checks that every flag named here exists and that every field of
``MemoryOptions`` has one.
"""

from __future__ import annotations

FLAGS = {"batch_size": "--batch-size", "memory": "--memory", "dtype": "--dtype",
         "optimizer": "--optimizer", "convention": "--convention", "device": "--device",
         "precision": "--precision", "checkpoint_segments": "--checkpoint-segments",
         "threads": "--threads", "cpu": "--cpu", "allocator_block": "--allocator-block", "units": "--units",
         "sizes": "--sizes", "overrides": "--set", "template": "--template",
         "variants": "--variants", "jobs": "--jobs", "input_shape": "--input-shape",
         "symbolic": "--symbolic", "solutions": "--solutions", "symbol": "--for",
         "vary": "--vary", "out": "--out", "macs_convention": "--macs-convention",
         "profile": "--profile", "batch_sizes": "--batch-sizes"}


def flag(argument: str) -> str:
    """The flag that sets a library argument, for error messages."""
    return FLAGS.get(argument, f"argument '{argument}'")

"""oneDNN's verbose output from inside a Python process: which implementation ran.

``torch.backends.mkldnn.verbose(VERBOSE_ON)`` makes oneDNN print a line per primitive
execution to the C-level stdout; :class:`Capture` redirects that into a string and
:func:`implementations` reads the convolution lines of it.  Used by ``conv_fp32.py`` and
``conv_bf16.py``.
"""

from __future__ import annotations

import ctypes
import os
import sys
import tempfile

_LIBC = ctypes.CDLL(None)


class Capture:
    """Redirect the C-level stdout (oneDNN's verbose lines) into a temporary file."""

    def __enter__(self):
        sys.stdout.flush()
        _LIBC.fflush(None)
        self.tmp = tempfile.TemporaryFile(mode="w+b")
        self.saved = os.dup(1)
        os.dup2(self.tmp.fileno(), 1)
        return self

    def __exit__(self, *exc):
        _LIBC.fflush(None)
        os.dup2(self.saved, 1)
        os.close(self.saved)
        self.tmp.seek(0)
        self.text = self.tmp.read().decode(errors="replace")
        self.tmp.close()
        return False


def implementations(text: str) -> dict:
    """``{propagation kind: implementation}`` of the (de)convolutions in verbose ``text``."""
    out = {}
    for line in text.splitlines():
        f = line.split(",")
        if len(f) > 7 and f[0] == "onednn_verbose" and f[2] == "primitive" and f[3] == "exec" \
                and f[5] in ("convolution", "deconvolution"):
            out[f[7]] = f[6]
    return out

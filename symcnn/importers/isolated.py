"""``symcnn import`` in a child process, so that the user's model cannot end symcnn.

Importing a module runs its code.  ``sys.exit`` there is caught in
:mod:`symcnn.importers.torch_fx` (a one-line error), but ``os._exit`` (or a crash in a
native extension) ends the process at once, with no exception to catch.  The command line
therefore imports and traces the model in a child Python; the child sends back the spec text
or the error (its message and context) through a pipe of its own, so that what the model
prints cannot mix with it.  A child that ends without an answer is a one-line error naming
its exit status.  The library function :func:`~symcnn.importers.torch_fx.import_ref` stays
in-process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from symcnn.errors import SymcnnError
from symcnn.importers.torch_fx import _torch, import_ref, parse_shape, parse_symbolic

_CHILD = "from symcnn.importers.isolated import _child; _child()"


def _torch_missing() -> bool:
    try:
        return importlib.util.find_spec("torch") is None
    except (ImportError, ValueError):  # sys.modules["torch"] is None: blocked
        return True


def import_isolated(ref: str, input_shape, symbolic=None) -> str:
    """:func:`~symcnn.importers.torch_fx.import_ref` run in a child process."""
    if _torch_missing():
        _torch()  # the one-line "install the torch extra" error
    parse_shape(input_shape)
    parse_symbolic(symbolic)
    read, write = os.pipe()
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [package_root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    request = json.dumps([ref, input_shape, list(symbolic or ())])
    try:
        child = subprocess.Popen([sys.executable, "-c", _CHILD, str(write), request],
                                 pass_fds=(write,), env=env)
    finally:
        os.close(write)
    try:
        with os.fdopen(read, "rb") as answers:
            answer = answers.read()
        status = child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    if not answer:
        raise SymcnnError(f"the model's code ended the import without an answer (exit status "
                          f"{status}: os._exit, a signal or a crash)")
    result = json.loads(answer)
    if "error" in result:
        raise SymcnnError(result["error"], **result["context"])
    return result["text"]


def _child() -> None:
    """The child's side: run the import, write one JSON answer to the pipe, and exit."""
    fd, request = int(sys.argv[1]), json.loads(sys.argv[2])
    try:
        answer = {"text": import_ref(*request)}
    except SymcnnError as err:
        ctx = err.context
        answer = {"error": err.message, "context": {"source": ctx.source, "layer": ctx.layer,
                                                    "field": ctx.field, "argument": ctx.argument}}
    except BaseException as err:  # noqa: BLE001 - anything the model raises is reported
        answer = {"error": f"importing the model failed: {type(err).__name__}: "
                           f"{str(err).splitlines()[0][:200] if str(err) else ''}",
                  "context": {}}
    with os.fdopen(fd, "wb") as out:
        out.write(json.dumps(answer).encode())

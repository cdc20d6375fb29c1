"""Files written whole or not at all, and the data folders shipped with symcnn."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from symcnn.errors import SymcnnError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write through a temporary file in the same folder, then rename: never a partial file.

    A folder that cannot be made or written to is a :class:`SymcnnError` naming the path.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise SymcnnError(f"cannot write there: {err.strerror or err}", source=str(path)) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise SymcnnError(f"cannot write: {err.strerror or err}", source=str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def shipped_dir(folder: str, marker: str) -> Path:
    """A data folder shipped with symcnn: inside the installed package (the wheel maps the
    checkout's top-level ``examples/`` and ``templates/`` there), or in the checkout when
    running from source."""
    here = Path(__file__).resolve().parent  # the symcnn package
    for candidate in (here / folder, here.parent / folder):
        if (candidate / marker).is_file():
            return candidate
    raise SymcnnError(f"the shipped {folder}/ folder is missing from this installation")

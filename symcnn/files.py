"""Files written whole or not at all, and the data folders shipped with symcnn."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

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


#: How long a run waits for another run writing into the same folder before it stops.
LOCK_TIMEOUT_S = 5.0
#: The file in an output folder that lists, per kind of run, the files its last run wrote.
MANIFEST = ".symcnn.json"


class OutputTransaction:
    """A run's output written whole or not at all: files go into a temporary folder inside
    ``out_dir`` (the same file system) and move into place with :func:`os.replace` only when
    the ``with`` block ends without an error (a failed compile, Ctrl-C, anything); then the
    files the last run of the same ``kind`` wrote and this one did not (an old variant's key,
    a PDF now older than its source) are removed, so the folder never mixes two runs.  On
    failure the temporary folder goes and ``out_dir`` is left as it was.  Another run into the
    same folder waits for it (a lock on the folder) or stops after :data:`LOCK_TIMEOUT_S`.

    >>> import tempfile; out = Path(tempfile.mkdtemp()) / "out"
    >>> with OutputTransaction(out, "demo") as tx:
    ...     write_atomic(tx.path("a.txt"), "a")
    >>> [p.name for p in out.iterdir() if not p.name.startswith(".")]
    ['a.txt']
    """

    def __init__(self, out_dir, kind: str, *, lock_timeout: float | None = None) -> None:
        self.out = Path(out_dir)
        self.kind = kind
        self.lock_timeout = LOCK_TIMEOUT_S if lock_timeout is None else lock_timeout
        self.tmp: Path | None = None
        self._lock: int | None = None
        self._made: Path | None = None  # the outermost folder this run created

    def path(self, name: str) -> Path:
        """Where to write ``name`` during the run (in the temporary folder)."""
        assert self.tmp is not None, "use inside the with block"
        return self.tmp / name

    def final(self, name: str) -> Path:
        """Where ``name`` lies once the run succeeded."""
        return self.out / name

    def __enter__(self) -> OutputTransaction:
        missing = [p for p in (self.out, *self.out.parents) if not p.exists()]
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            self._made = missing[-1] if missing else None
            self._lock = os.open(self.out, os.O_RDONLY)
        except OSError as err:
            raise SymcnnError(f"cannot write there: {err.strerror or err}",
                              source=str(self.out)) from None
        try:
            self._acquire()
            self.tmp = Path(tempfile.mkdtemp(dir=self.out, prefix=".symcnn-tmp-"))
        except BaseException:
            self._release(failed=True)
            raise
        return self

    def _acquire(self) -> None:
        if fcntl is None:  # pragma: no cover - no flock (Windows): no waiting either
            return
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise SymcnnError(
                        f"another symcnn run is writing into this folder (waited "
                        f"{self.lock_timeout:g} s); try again when it has finished",
                        source=str(self.out)) from None
                time.sleep(0.05)

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc is None:
                self._commit()
            elif isinstance(exc, SymcnnError) and self.tmp is not None:
                _name_final_paths(exc, self.tmp, self.out)
        finally:
            self._release(failed=exc is not None)
        return False

    def _commit(self) -> None:
        written = sorted(p.name for p in self.tmp.iterdir() if p.is_file())
        manifest = _read_manifest(self.out / MANIFEST)
        try:
            for name in written:
                os.replace(self.tmp / name, self.out / name)
            for name in set(manifest.get(self.kind, ())) - set(written):
                if name == Path(name).name and not name.startswith("."):  # ours, nothing else
                    (self.out / name).unlink(missing_ok=True)
        except OSError as err:
            raise SymcnnError(f"cannot write: {err.strerror or err}",
                              source=str(self.out)) from None
        manifest[self.kind] = written
        write_atomic(self.out / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")

    def _release(self, *, failed: bool) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None
        if self._lock is not None:
            os.close(self._lock)  # closing releases the lock
            self._lock = None
        if failed and self._made is not None:  # a folder this failed run made goes again
            for folder in (self.out, *self.out.parents):
                try:
                    folder.rmdir()
                except OSError:
                    break
                if folder == self._made:
                    break


def _read_manifest(path: Path) -> dict:
    """The kinds of run and the files each last wrote; empty when missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: [n for n in v if isinstance(n, str)] for k, v in data.items()
            if isinstance(k, str) and isinstance(v, list)}


def _name_final_paths(err: SymcnnError, tmp: Path, out: Path) -> None:
    """An error about a file in the temporary folder names where that file was to go."""
    def fix(text):
        return text.replace(str(tmp), str(out)) if text else text
    err.message = fix(err.message)
    err.args = (err.message,)
    err.context = replace(err.context, source=fix(err.context.source))

"""torchvision's model definitions, from its wheel's Python source, without installing it.

The pinned torch (2.13.0, CPU) cannot load the compiled operators of PyPI's torchvision 0.29.1
wheel (``operator torchvision::nms does not exist``), and the classification models need none
of them.  :func:`load` takes the wheel (``pip download torchvision==0.29.1 --no-deps``: pip
finds it on this machine's disk, and ``.ci/run`` fetches it before the tests), unpacks only its
``.py`` files into ``.cache/torchvision/0.29.1/`` (git-ignored), empties the two modules that
register fake kernels and autograd formulas for those compiled operators
(``_meta_registrations.py``, ``_autograd_registrations.py``), and imports that ``torchvision``
ahead of any installed one.  Nothing goes into the virtual environment's site-packages.

The classification models of the issue (``tests/test_torchvision.py``) and the held-out
networks :mod:`validation.heldout.torchvision` use it.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

VERSION = "0.29.1"
ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "torchvision"
#: Modules that register kernels of the compiled operators: emptied.
EMPTIED = ("torchvision/_meta_registrations.py", "torchvision/_autograd_registrations.py")


class Unavailable(RuntimeError):
    """The wheel could not be found nor downloaded."""


def wheel(cache: Path = CACHE) -> Path:
    """The torchvision wheel in ``cache``, downloaded there by pip if it is not yet."""
    found = sorted(cache.glob(f"torchvision-{VERSION}-*.whl"))
    if found:
        return found[0]
    cache.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "pip", "download", f"torchvision=={VERSION}",
                           "--no-deps", "--quiet", "-d", str(cache)],
                          capture_output=True, text=True, check=False)
    found = sorted(cache.glob(f"torchvision-{VERSION}-*.whl"))
    if not found:
        raise Unavailable(f"pip download torchvision=={VERSION} failed: "
                          f"{(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    return found[0]


def source(cache: Path = CACHE) -> Path:
    """The folder holding the wheel's ``torchvision`` package, Python files only."""
    target = cache / VERSION
    marker = target / ".complete"
    if not marker.exists():
        with zipfile.ZipFile(wheel(cache)) as z:
            names = [n for n in z.namelist() if n.startswith("torchvision/") and n.endswith(".py")]
            z.extractall(target, names)
        for name in EMPTIED:
            (target / name).write_text("")
        marker.write_text("")
    return target


def load(cache: Path = CACHE):
    """``torchvision`` (its Python source from the wheel), imported."""
    loaded = sys.modules.get("torchvision")
    folder = str(source(cache))
    if loaded is not None:
        if str(Path(loaded.__file__).resolve()).startswith(folder):
            return loaded
        raise Unavailable(f"another torchvision is imported already ({loaded.__file__})")
    sys.path.insert(0, folder)
    import torchvision

    return torchvision

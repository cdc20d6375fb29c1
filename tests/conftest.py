import os

import pytest
from hypothesis import settings

#: Under CI (CI=true) every hypothesis test draws the same examples on every run, so whether a
#: change lands never depends on which examples a run happened to draw; run locally, the draws
#: are random and keep exploring (a failure found there is kept in .hypothesis/ and replayed).
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/* from the current output instead of comparing")


@pytest.fixture
def update_golden(request):
    return request.config.getoption("--update-golden")


@pytest.fixture(scope="session")
def cpu_capability():
    """The level PyTorch dispatches CPU kernels on here (``AVX2``, ``AVX512``, ...): tests
    that compare with bytes measured on this machine check the kernel rules only where they
    were derived for it (``symcnn.memory.pytorch.workspace.RULES_CPU_CAPABILITY``)."""
    torch = pytest.importorskip("torch")
    return torch.backends.cpu.get_cpu_capability()


@pytest.fixture(scope="session", autouse=True)
def measured_threads():
    """Every live measurement runs with the intra-op threads the kernel rules were measured
    with (``workspace.THREADS``), whatever the core count of the machine: oneDNN's and
    PyTorch's per-thread buffers follow the thread count, and the predictions assume it."""
    try:
        import torch
    except ImportError:
        yield None
        return
    from symcnn.memory.pytorch.workspace import THREADS
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield THREADS
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def per_core_l2_bytes() -> int | None:
    """The per-core L2 cache of this CPU (Linux sysfs), or None where it cannot be read:
    oneDNN's gemm forward blocks by it (``onednn.gemm.L2_BYTES``)."""
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index2/size") as f:
            text = f.read().strip()
    except OSError:
        return None
    scale = {"K": 1024, "M": 1024 ** 2}.get(text[-1:], 1)
    return int(text.rstrip("KM")) * scale

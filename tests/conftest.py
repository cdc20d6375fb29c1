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

import os
from pathlib import Path

import pytest
import torch

# One thread per test process: under pytest-xdist two workers share the two cores.
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo_root() -> Path:
    return ROOT


def pytest_configure(config):
    config.addinivalue_line("markers", "colab: executes every student notebook on a simulated bare Colab runtime "
                                       "(slow; make colab)")

"""Device choice and seeding: the one place that decides CPU vs CUDA."""

from __future__ import annotations

import random

import numpy as np
import torch

_KNOWN = ("cpu", "cuda")


def get_device(name: str | None = None) -> torch.device:
    """Return the torch device the course runs on.

    ``name=None`` picks CUDA when a GPU is visible, else the CPU. ``"cpu"``, ``"cuda"`` or
    ``"cuda:N"`` ask for one explicitly; asking for CUDA on a machine without it is an error
    that says so, instead of a failure deep inside the first tensor op.
    """
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(name, str) or name.split(":")[0] not in _KNOWN:
        raise ValueError(f"name must be None, 'cpu', 'cuda' or 'cuda:N', got {name!r}")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"name={name!r} asks for a CUDA GPU, but none is available on this machine; "
                "use get_device() to fall back to the CPU, or get_device('cpu')"
            )
        index = name.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise ValueError(
                f"name={name!r}: CUDA device index must be 0..{torch.cuda.device_count() - 1}"
            )
    return torch.device(name)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Turn a user's ``device`` argument (None, a string or a ``torch.device``) into a device."""
    if isinstance(device, torch.device):
        return device
    return get_device(device)


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and torch's generators (all devices) so runs repeat exactly."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

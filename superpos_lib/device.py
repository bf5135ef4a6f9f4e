"""Device choice and seeding: the one place that decides CPU vs CUDA."""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["get_device", "resolve_device", "seed_everything"]

_KNOWN = ("cpu", "cuda")


def _parse(value, arg: str) -> torch.device:
    """The device ``value`` asks for; errors name ``arg`` (the caller's parameter)."""
    if value is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(value, torch.device):
        value = str(value)
    if not isinstance(value, str) or value.split(":")[0] not in _KNOWN:
        raise ValueError(f"{arg} must be None, 'cpu', 'cuda', 'cuda:N' or a torch.device, "
                         f"got {value!r} ({type(value).__name__})")
    kind, _, index = value.partition(":")
    if kind == "cpu":
        if index not in ("", "0"):
            raise ValueError(f"{arg}={value!r}: the CPU has no device index other than 0")
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(
            f"{arg}={value!r} asks for a CUDA GPU, but none is available on this machine; "
            f"use {arg}=None to fall back to the CPU, or {arg}='cpu'"
        )
    if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
        raise ValueError(f"{arg}={value!r}: CUDA device index must be 0..{torch.cuda.device_count() - 1}")
    return torch.device(value)


def get_device(name: str | None = None) -> torch.device:
    """Return the torch device the course runs on.

    ``name=None`` picks CUDA when a GPU is visible, else the CPU. ``"cpu"``, ``"cuda"`` or
    ``"cuda:N"`` ask for one explicitly; asking for CUDA on a machine without it is an error
    that says so, instead of a failure deep inside the first tensor op.
    """
    return _parse(name, "name")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Turn a user's ``device`` argument (None, a string or a ``torch.device``) into a device.

    Errors name ``device`` (the argument every library function takes), and a ``torch.device`` is
    checked like a string: ``torch.device("cuda")`` on a machine without a GPU is an error here,
    not deep inside the first tensor op."""
    return _parse(device, "device")


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and torch's generators (all devices) so runs repeat exactly."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

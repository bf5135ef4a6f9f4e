"""What the first code cell of every chapter calls."""

from __future__ import annotations

import torch

from . import __version__
from .device import get_device, seed_everything
from .plots import use_course_style


def setup_notebook(seed: int = 0, device: str | None = None) -> torch.device:
    """Seed every generator, apply the course's figure style, pick and print the device.

    Returns the ``torch.device`` chosen by :func:`superpos_lib.device.get_device`.
    """
    seed_everything(seed)
    use_course_style()
    chosen = get_device(device)
    print(f"superpos_lib {__version__} | torch {torch.__version__} | device: {chosen} | seed: {seed}")
    return chosen

"""Masking by the sign of another tensor, for the hand-derived training steps."""

from __future__ import annotations

import torch


def where_positive(x: torch.Tensor, ref: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """``x * (ref > 0)`` written into ``out`` (default: ``x`` itself), same shapes. One pass
    (``threshold_backward``), with no boolean mask to build and convert to float."""
    return torch.ops.aten.threshold_backward.grad_input(x, ref, 0.0, grad_input=x if out is None else out)

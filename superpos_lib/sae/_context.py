"""What one training step needs besides the SAE and the batch."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class StepContext:
    """``lam (I,)``: the sparsity coefficient after warm-up (L1 for ``"relu"`` and ``"gated"``, L0 for
    ``"jumprelu"``; unused by TopK and BatchTopK). ``dead (I, d_sae)`` bool or None: latents counted
    dead (AuxK). ``aux_coeff``, ``k_aux``: AuxK weight and size. ``aux_scale``: the variance of the
    data, ``mean_b ||x_b - mean(x)||^2`` measured once before training (see :func:`auxk_loss`).
    ``bandwidth``: the JumpReLU straight-through estimators' kernel width."""

    lam: torch.Tensor
    dead: torch.Tensor | None = None
    aux_coeff: float = 1 / 32
    k_aux: int = 1
    aux_scale: float = 1.0
    bandwidth: float = 0.05

"""Buffers reused across the steps of the fast (hand-derived) training paths."""

from __future__ import annotations

import torch


class _Workspace:
    """Augmented matrices ``[x - b_dec, 1]``, ``[W_enc; b_enc]``, ``[W_dec, c]`` and, for the dense
    paths (ReLU, JumpReLU), the latents and their gradient ``(I, batch, d_sae)``."""

    def __init__(self, sae, batch: int):
        I, d, m = sae.n_instances, sae.d_in, sae.d_sae
        dev, dt = sae.W_enc.device, sae.W_enc.dtype
        self.xa = torch.empty(I, batch, d + 1, device=dev, dtype=dt)
        self.xa[..., d] = 1.0
        self.A_enc = torch.empty(I, d + 1, m, device=dev, dtype=dt)
        self.A_dec = torch.empty(I, m, d + 1, device=dev, dtype=dt)
        self.G_dec = torch.empty(I, m, d + 1, device=dev, dtype=dt)
        dense = sae.activation in ("relu", "jumprelu")
        self.g = torch.empty(I, batch, m, device=dev, dtype=dt) if dense else None
        self.z = torch.empty(I, batch, m, device=dev, dtype=dt) if dense else None

    def load_encoder(self, sae, x: torch.Tensor) -> None:
        """Fill ``xa[..., :d] = x - b_dec`` and ``A_enc = [W_enc; b_enc]``."""
        d = sae.d_in
        torch.sub(x.unsqueeze(0), sae.b_dec.detach().unsqueeze(1), out=self.xa[..., :d])
        self.A_enc[:, :d].copy_(sae.W_enc.detach())
        self.A_enc[:, d].copy_(sae.b_enc.detach())

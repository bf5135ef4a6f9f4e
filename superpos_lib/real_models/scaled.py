"""An SAE trained on rescaled activations, used on the model's own scale."""

from __future__ import annotations

import torch
from torch import nn

from .. import _validate as v

__all__ = ["ScaledSAE", "norm_scale"]


def norm_scale(acts: torch.Tensor) -> float:
    """The factor ``c`` with ``E||x / c|| = sqrt(d)`` over the rows of ``acts (n, d)``: dividing by it
    gives activations of unit size per coordinate (as SAELens normalises them), so SAE settings such
    as a threshold, a penalty or a learning rate mean the same at every layer and in every model."""
    acts = v.non_empty("acts", v.tensor("acts", acts, ndim=2), what="row and column")
    scale = float(acts.norm(dim=1).mean() / acts.shape[1] ** 0.5)
    if scale == 0:
        raise ValueError("acts must not be all zeros (there is no scale to divide by)")
    return scale


class ScaledSAE(nn.Module):
    """Wrap a :class:`superpos_lib.sae.SparseAutoencoder` trained on ``x / scale`` so that it reads
    and writes the model's activations ``x``: ``encode(x) = sae.encode(x / scale)``,
    ``decode(z) = scale * sae.decode(z)``, ``W_dec = scale * sae.W_dec`` (so ``z_j W_dec[j]`` is latent
    ``j``'s term in the model's units). ``d_in``, ``d_sae``, ``n_instances``, ``activation`` as the SAE's.
    """

    def __init__(self, sae: nn.Module, scale: float):
        super().__init__()
        if not isinstance(sae, nn.Module) or not all(hasattr(sae, a) for a in ("encode", "decode", "d_in", "W_dec")):
            raise ValueError(f"sae must be a SparseAutoencoder, got {type(sae).__name__}")
        self.sae = sae
        self.scale = v.positive_float("scale", scale)

    d_in = property(lambda self: self.sae.d_in)
    d_sae = property(lambda self: self.sae.d_sae)
    n_instances = property(lambda self: self.sae.n_instances)
    activation = property(lambda self: self.sae.activation)

    @property
    def W_dec(self) -> torch.Tensor:
        return self.sae.W_dec * self.scale

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        v.tensor("x", x, ndim=(2, 3))
        return self.sae.encode(x / self.scale)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.sae.decode(z) * self.scale

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encode(x)
        return self.decode(z), z

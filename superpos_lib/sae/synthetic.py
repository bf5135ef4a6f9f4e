"""Synthetic ground truth for SAE experiments: known unit directions with decaying probabilities."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import _validate as V
from ..device import resolve_device

__all__ = ["SyntheticFeatures", "synthetic_features"]

_FEATURE_SEED_OFFSET = 0x5EED_0000


@dataclass
class SyntheticFeatures:
    """Known features in superposition: ``n_features`` unit directions in ``d`` dimensions.

    A sample is ``x = sum_i c_i * directions[i]`` where feature ``i`` is active with probability
    ``probabilities[i]`` and, when active, has a magnitude uniform on (0, 1] (as in the toy models
    of chapter 1). Calling the object, ``features(batch_size)``, draws a fresh batch ``(batch_size,
    d)``, so it can be passed to :func:`train_sae` as ``data``.

    Attributes: ``directions (n_features, d)`` unit rows; ``probabilities (n_features,)``;
    ``generator`` (the sampler's own ``torch.Generator``).
    """

    directions: torch.Tensor
    probabilities: torch.Tensor
    generator: torch.Generator

    def __post_init__(self):
        V.non_empty("directions", V.tensor("directions", self.directions, ndim=2))
        V.tensor("probabilities", self.probabilities, ndim=1)
        if self.probabilities.shape[0] != self.directions.shape[0]:
            raise ValueError(f"probabilities must have one entry per direction ({self.directions.shape[0]}), "
                             f"got shape {tuple(self.probabilities.shape)}")
        if ((self.probabilities < 0) | (self.probabilities > 1)).any():
            raise ValueError("probabilities must lie in [0, 1]")
        if self.probabilities.device != self.directions.device:
            raise ValueError(f"probabilities must be on the device of directions ({self.directions.device}), "
                             f"got {self.probabilities.device}")
        V.required_generator_on("generator", self.generator, self.directions.device)

    @property
    def d(self) -> int:
        return self.directions.shape[1]

    @property
    def n_features(self) -> int:
        return self.directions.shape[0]

    def sample_coefficients(self, batch_size: int) -> torch.Tensor:
        """Feature coefficients ``c``: ``(batch_size, n_features)``, mostly zeros, others in (0, 1]."""
        V.positive_int("batch_size", batch_size)
        u = torch.rand(batch_size, self.n_features, generator=self.generator, device=self.directions.device)
        p = self.probabilities
        # one uniform draw gives both: active when u < p, and then u / p is uniform on (0, 1)
        return torch.where(u < p, u / p, torch.zeros((), device=u.device))

    def __call__(self, batch_size: int) -> torch.Tensor:
        """A batch of activations ``x``: ``(batch_size, d)``."""
        return self.sample_coefficients(batch_size) @ self.directions


def synthetic_features(
    n_features: int = 512,
    d: int = 128,
    *,
    mean_active: float = 5.0,
    decay: float = 0.5,
    seed: int = 0,
    device=None,
) -> SyntheticFeatures:
    """Ground truth for SAE experiments: random unit directions and decaying feature probabilities.

    ``directions``: ``(n_features, d)`` Gaussian rows normalised to unit length. Feature ``i``
    (counting from 0) is active with probability ``p_i`` proportional to ``(i + 1) ** -decay``,
    scaled so that on average ``mean_active`` features are active per sample (``sum_i p_i =
    mean_active``). Returns a :class:`SyntheticFeatures`, callable as a batch sampler.
    """
    V.positive_int("n_features", n_features)
    V.positive_int("d", d)
    V.positive_float("mean_active", mean_active)
    V.non_negative_float("decay", decay)
    V.non_negative_int("seed", seed)
    if mean_active > n_features:
        raise ValueError(f"mean_active must be at most n_features={n_features}, got {mean_active}")
    dev = V.device("device", device)
    # a stream of its own: seeded like SparseAutoencoder(seed=seed), the SAE would start at the answer
    gen = torch.Generator(device="cpu").manual_seed(_FEATURE_SEED_OFFSET + seed)
    directions = torch.randn(n_features, d, generator=gen)
    directions = directions / directions.norm(dim=1, keepdim=True)
    weights = torch.arange(1, n_features + 1, dtype=torch.float64) ** -decay
    p = weights * (mean_active / weights.sum())
    if p.max() > 1:
        raise ValueError(
            f"decay={decay} with mean_active={mean_active} gives feature probabilities above 1; "
            "use a smaller decay or mean_active"
        )
    sampler_gen = torch.Generator(device=dev).manual_seed(_FEATURE_SEED_OFFSET + seed + 1)
    return SyntheticFeatures(directions.to(dev), p.float().to(dev), sampler_gen)

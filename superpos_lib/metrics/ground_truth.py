"""Scoring an SAE against known features beyond recall: precision, correlation, firing F1, shrinkage.

MMCS and recovery (:mod:`superpos_lib.metrics.dictionary`) average over the *true* features, so
extra latents cost nothing. The measures here look from the other side (the live latents), at the
activations rather than the directions, and at the size of the activations.

Shapes: ``learned (d_sae, d)`` or ``(I, d_sae, d)`` (decoder rows), ``true (n_true, d)``,
``latents (n, d_sae)`` or ``(I, n, d_sae)`` (activations on ``n`` samples), ``coefficients
(n, n_true)`` (the true features' coefficients on the same samples).
"""

from __future__ import annotations

import torch

from .. import _validate as V
from .dictionary import cosine_matrix

__all__ = ["matched_latents", "latent_precision", "mean_max_correlation", "firing_f1", "activation_slope"]


def _threshold(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not -1 <= value <= 1:
        raise ValueError(f"threshold must be a number in [-1, 1], got {value!r}")
    return float(value)


def _activations(latents, coefficients, learned=None, true=None):
    V.tensor("latents", latents, ndim=(2, 3))
    V.tensor("coefficients", coefficients, ndim=2)
    if latents.shape[-2] < 2:
        raise ValueError(f"latents must hold at least 2 samples, got shape {tuple(latents.shape)}")
    if learned is not None:
        V.tensor("learned", learned, ndim=(2, 3))
    if true is not None:
        V.tensor("true", true, ndim=(2, 3))
        if true.shape[-2] != coefficients.shape[1]:
            raise ValueError(f"true must have one row per column of coefficients ({coefficients.shape[1]} features), "
                             f"got shape {tuple(true.shape)}")
    if latents.shape[-2] != coefficients.shape[0]:
        raise ValueError(f"coefficients must have one row per sample ({latents.shape[-2]}), got shape {tuple(coefficients.shape)}")
    if latents.shape[-2] < 2:
        raise ValueError("latents must hold at least 2 samples")
    if learned is not None and learned.shape[-2] != latents.shape[-1]:
        raise ValueError(f"learned must have one row per latent ({latents.shape[-1]}), got shape {tuple(learned.shape)}")


def matched_latents(learned: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """For each true feature, the index of the latent whose decoder row has the largest cosine with
    it: ``(n_true,)`` or ``(I, n_true)`` (long)."""
    return cosine_matrix(learned, true).argmax(-1)


def latent_precision(learned: torch.Tensor, true: torch.Tensor, latents: torch.Tensor, threshold: float = 0.9,
                     weighted: bool = False) -> torch.Tensor:
    """The precision side of recovery: the share of *live* latents (firing at least once in
    ``latents``) whose decoder row has cosine ``>= threshold`` with some true feature. With
    ``weighted=True`` each live latent counts as often as it fires. Returns a scalar or ``(I,)``;
    0 when no latent fires."""
    threshold = _threshold(threshold)
    V.tensor("latents", latents, ndim=(2, 3))
    matched = cosine_matrix(learned, true).amax(-2) >= threshold          # (..., d_sae)
    if matched.shape[-1] != latents.shape[-1]:
        raise ValueError(f"latents must have d_sae={matched.shape[-1]} columns like learned, got shape {tuple(latents.shape)}")
    fires = (latents != 0).sum(-2).to(latents.dtype)
    w = fires if weighted else (fires > 0).to(latents.dtype)
    return (w * matched).sum(-1) / w.sum(-1).clamp_min(1)


def _standardise(a: torch.Tensor) -> torch.Tensor:
    a = a - a.mean(-2, keepdim=True)
    norm = a.norm(dim=-2, keepdim=True)
    return torch.where(norm > 0, a / norm.clamp_min(1e-12), torch.zeros((), dtype=a.dtype, device=a.device))


def mean_max_correlation(latents: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    """For each true feature, the largest Pearson correlation (over samples) of its coefficient with
    any latent's activation, averaged over the true features. A latent that never fires has
    correlation 0. Returns a scalar or ``(I,)``; 1 when every feature has a latent that tracks it
    exactly (up to an affine map)."""
    _activations(latents, coefficients)
    zc = _standardise(coefficients.to(latents.dtype))                   # (n, n_true)
    zl = _standardise(latents)                                          # (..., n, d_sae)
    corr = zc.transpose(-1, -2) @ zl                                    # (..., n_true, d_sae)
    return corr.amax(-1).mean(-1)


def firing_f1(latents: torch.Tensor, coefficients: torch.Tensor, learned: torch.Tensor, true: torch.Tensor,
              per_feature: bool = False) -> torch.Tensor:
    """F1 of "the matched latent fires" against "the feature is present", per true feature (the
    matched latent is the one with the best decoder cosine), averaged over features unless
    ``per_feature``. Returns a scalar or ``(I,)`` (``(…, n_true)`` with ``per_feature``)."""
    _activations(latents, coefficients, learned, true)
    idx = matched_latents(learned, true)                                # (..., n_true)
    fired = torch.gather(latents, -1, idx.unsqueeze(-2).expand(*latents.shape[:-1], idx.shape[-1])) > 0
    present = coefficients > 0
    tp = (fired & present).sum(-2).float()
    fp = (fired & ~present).sum(-2).float()
    fn = (~fired & present).sum(-2).float()
    f1 = 2 * tp / (2 * tp + fp + fn).clamp_min(1)
    return f1 if per_feature else f1.mean(-1)


def activation_slope(latents: torch.Tensor, coefficients: torch.Tensor, learned: torch.Tensor,
                     true: torch.Tensor, condition: str = "present") -> torch.Tensor:
    """The matched latent's activation against the true coefficient: for each true feature, the
    least-squares slope through the origin ``sum z c / sum c^2`` of its matched latent's activation
    on its true coefficient. The matched latent's decoder row is scaled by its cosine with the
    feature (``z`` is multiplied by ``cos``), so 1 means the feature is reconstructed at its full size.

    ``condition="present"``: over the samples where the feature is present, so a present feature whose
    latent stays silent counts as activation 0 (the slope mixes misses with shrinkage).
    ``condition="fired"``: over the samples where the feature is present *and* its latent fires: the
    size of the activations alone; below 1 is shrinkage. Returns ``(n_true,)`` or ``(I, n_true)`` (NaN
    for a feature with no such sample)."""
    if condition not in ("present", "fired"):
        raise ValueError(f"condition must be 'present' or 'fired', got {condition!r}")
    _activations(latents, coefficients, learned, true)
    cos = cosine_matrix(learned, true)                                  # (..., n_true, d_sae)
    best, idx = cos.max(-1)                                             # (..., n_true)
    z = torch.gather(latents, -1, idx.unsqueeze(-2).expand(*latents.shape[:-1], idx.shape[-1]))
    c = coefficients.to(latents.dtype)
    present = c > 0
    if condition == "fired":
        present = present & (z > 0)
    num = (z * c * present).sum(-2) * best
    den = (c.pow(2) * present).sum(-2)
    return torch.where(den > 0, num / den.clamp_min(1e-12), torch.full_like(num, float("nan")))

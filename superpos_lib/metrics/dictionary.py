"""Dictionary metrics for sparse autoencoders: how well learned directions match known features,
how much variance a reconstruction keeps, how sparse and how alive the latents are."""

from __future__ import annotations

import torch

from .. import _validate as V

__all__ = ["cosine_matrix", "mmcs", "feature_recovery", "explained_variance", "reconstruction_scale",
           "relative_reconstruction_bias", "l0", "dead_fraction"]


def _directions(name: str, value) -> torch.Tensor:
    V.tensor(name, value, ndim=(2, 3))
    if value.shape[-2] < 1 or value.shape[-1] < 1:
        raise ValueError(f"{name} must hold at least one direction of dimension >= 1, got shape {tuple(value.shape)}")
    return value


def cosine_matrix(learned: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every true direction with every learned one.

    ``learned``: ``(n_learned, d)`` or ``(I, n_learned, d)``; ``true``: ``(n_true, d)`` or
    ``(I, n_true, d)`` (rows are directions). Returns ``(..., n_true, n_learned)``. Zero rows
    have cosine 0 with everything.
    """
    _directions("learned", learned)
    _directions("true", true)
    if learned.shape[-1] != true.shape[-1]:
        raise ValueError(f"true must have the same dimension d={learned.shape[-1]} as learned, got shape {tuple(true.shape)}")
    if learned.ndim == 3 and true.ndim == 3:
        V.same_size("true", true, 0, "learned", learned, what="instances")
    V.same_dtype("true", true, "learned", learned)
    a = true / true.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    b = learned / learned.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return a @ b.transpose(-1, -2)


def mmcs(learned: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Mean max cosine similarity: for each true direction, the largest cosine similarity with any
    learned direction, averaged over the true directions (Sharkey et al. 2022).

    ``learned``: ``(n_learned, d)`` or ``(I, n_learned, d)``; ``true``: ``(n_true, d)`` or
    ``(I, n_true, d)``. Returns a scalar tensor, or ``(I,)``. 1 means every true feature has an
    exact copy in the dictionary (up to scale; the sign counts).
    """
    return cosine_matrix(learned, true).amax(-1).mean(-1)


def feature_recovery(learned: torch.Tensor, true: torch.Tensor, threshold: float = 0.9) -> torch.Tensor:
    """Fraction of true directions whose best learned match has cosine similarity ``>= threshold``.

    Shapes as :func:`mmcs`; returns a scalar tensor or ``(I,)``.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not -1 <= threshold <= 1:
        raise ValueError(f"threshold must be a number in [-1, 1], got {threshold!r}")
    return (cosine_matrix(learned, true).amax(-1) >= threshold).float().mean(-1)


def explained_variance(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Fraction of variance explained: ``1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2``.

    ``x``: ``(n_samples, d)``; ``x_hat``: ``(n_samples, d)`` or ``(I, n_samples, d)``. The mean is
    over samples. Returns a scalar tensor or ``(I,)``. 1 is perfect; 0 is no better than
    predicting the mean; it can be negative.
    """
    V.tensor("x", x, ndim=2)
    V.tensor("x_hat", x_hat, ndim=(2, 3))
    if x_hat.shape[-2:] != x.shape:
        raise ValueError(f"x_hat must have shape (..., {x.shape[0]}, {x.shape[1]}) like x, got {tuple(x_hat.shape)}")
    V.same_dtype("x_hat", x_hat, "x", x)
    total = (x - x.mean(0)).pow(2).sum()
    if total <= 0:
        raise ValueError("x must vary across samples (its variance is 0, so the fraction is undefined)")
    return 1 - (x - x_hat).pow(2).sum((-1, -2)) / total


def reconstruction_scale(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """How large reconstructions are along the inputs: ``sum_b <x_hat_b, x_b> / sum_b ||x_b||^2``.

    ``x``: ``(n_samples, d)``; ``x_hat``: ``(n_samples, d)`` or ``(I, n_samples, d)``. Returns a scalar
    or ``(I,)``. 1 for a perfect reconstruction; below 1 when the code *shrinks* (an L1 penalty pulls
    every active latent towards 0), but also when it simply leaves variance out: an orthogonal
    projection with no shrinkage scores ``1 - sum ||x - x_hat||^2 / sum ||x||^2``. To measure shrinkage
    alone use :func:`relative_reconstruction_bias`.
    """
    V.tensor("x", x, ndim=2)
    V.tensor("x_hat", x_hat, ndim=(2, 3))
    if x_hat.shape[-2:] != x.shape:
        raise ValueError(f"x_hat must have shape (..., {x.shape[0]}, {x.shape[1]}) like x, got {tuple(x_hat.shape)}")
    V.same_dtype("x_hat", x_hat, "x", x)
    total = x.pow(2).sum()
    if total <= 0:
        raise ValueError("x must not be all zeros")
    return (x_hat * x).sum((-1, -2)) / total


def relative_reconstruction_bias(x: torch.Tensor, x_hat: torch.Tensor, offset: torch.Tensor | None = None) -> torch.Tensor:
    """Shrinkage: ``gamma = E ||x_hat||^2 / E <x, x_hat>`` (Rajamanoharan et al. 2024a; SAELens and
    dictionary_learning call it ``relative_reconstruction_bias``).

    ``gamma`` is the factor that, multiplying ``x_hat``, would minimise the squared error; so
    ``gamma < 1`` means reconstructions are too *short* (shrinkage), ``gamma > 1`` too long. An
    orthogonal projection of ``x`` (dropped features, no shrinkage) has ``gamma = 1``. With
    ``offset`` (``(d,)`` or ``(I, d)``, e.g. the decoder bias) both vectors are measured from it:
    ``E ||x_hat - b||^2 / E <x - b, x_hat - b>`` (the Gated SAE paper's form).

    ``x``: ``(n_samples, d)``; ``x_hat``: ``(n_samples, d)`` or ``(I, n_samples, d)``. Returns a scalar
    or ``(I,)``.
    """
    V.tensor("x", x, ndim=2)
    V.tensor("x_hat", x_hat, ndim=(2, 3))
    if x_hat.shape[-2:] != x.shape:
        raise ValueError(f"x_hat must have shape (..., {x.shape[0]}, {x.shape[1]}) like x, got {tuple(x_hat.shape)}")
    if offset is not None:
        V.tensor("offset", offset, ndim=(1, 2))
        if offset.shape[-1] != x.shape[-1] or (offset.ndim == 2 and (x_hat.ndim != 3 or offset.shape[0] != x_hat.shape[0])):
            raise ValueError(f"offset must have shape (d,) or (I, d) matching x_hat, got {tuple(offset.shape)}")
        b = offset.unsqueeze(-2)
        x, x_hat = x - b, x_hat - b
    cross = (x * x_hat).sum((-1, -2))
    if bool((cross <= 0).any()):
        raise ValueError("x_hat must point along x on average (E <x, x_hat> > 0); the ratio is undefined otherwise")
    return x_hat.pow(2).sum((-1, -2)) / cross


def l0(latents: torch.Tensor) -> torch.Tensor:
    """Mean number of non-zero latents per sample.

    ``latents``: ``(n_samples, d_sae)`` or ``(I, n_samples, d_sae)``. Returns a scalar or ``(I,)``.
    """
    V.tensor("latents", latents, ndim=(2, 3))
    V.non_empty("latents", latents, -2, "sample (the mean over no samples is undefined)")
    return (latents != 0).sum(-1).float().mean(-1)


def dead_fraction(latents: torch.Tensor) -> torch.Tensor:
    """Fraction of latents that are zero on every sample (they never fire on this data).

    ``latents``: ``(n_samples, d_sae)`` or ``(I, n_samples, d_sae)``. Returns a scalar or ``(I,)``.
    """
    V.tensor("latents", latents, ndim=(2, 3))
    if latents.shape[-2] < 1:
        raise ValueError("latents must hold at least one sample, got 0")
    return (~(latents != 0).any(-2)).float().mean(-1)

"""Synthetic data for the toy models: sparse, non-negative features.

Each feature is present independently with its *feature probability* ``p`` (the course's convention;
Toy Models of Superposition calls ``S = 1 - p`` the sparsity) and, when present, has a magnitude drawn
uniformly from [0, 1]; otherwise it is exactly 0.

Sampling uses a single uniform draw per entry: with ``w ~ U[0, 1)``, the feature is present when
``w > 1 - p`` and its magnitude is ``(w - (1 - p)) / p``, which given presence is uniform on (0, 1].
This is exactly the distribution above at half the cost of drawing a mask and a magnitude separately
(random number generation dominates a toy model's training step).
"""

from __future__ import annotations

import torch

from . import _validate
from .device import resolve_device

__all__ = ["sparse_features"]


def sparse_features(
    batch_size: int,
    n_instances: int,
    n_features: int,
    feature_probability=1.0,
    *,
    generator: torch.Generator | None = None,
    device=None,
    dtype: torch.dtype = torch.float32,
    correlated_pairs: int = 0,
    anticorrelated_pairs: int = 0,
) -> torch.Tensor:
    """Sample a batch of sparse features for ``n_instances`` independent toy models.

    Args:
        batch_size, n_instances, n_features: positive integers.
        feature_probability: probability that each feature is non-zero, in (0, 1]: a scalar, a
            per-feature vector ``(n_features,)`` or a tensor ``(n_instances, n_features)`` (anything
            that broadcasts to it).
        generator: a ``torch.Generator`` on ``device`` for reproducible draws.
        device: ``None`` (course default), ``"cpu"``, ``"cuda"`` or a ``torch.device``.
        dtype: floating dtype of the result.
        correlated_pairs: ``c >= 0``. Features ``(0, 1), (2, 3), ..., (2c - 2, 2c - 1)`` come in
            correlated pairs: one shared draw decides presence, so a pair with equal probabilities is
            always both on or both off (unequal ones co-occur as often as possible). Magnitudes are
            independent, uniform on (0, 1].
        anticorrelated_pairs: ``a >= 0``. The next ``a`` pairs ``(2c, 2c + 1), ...`` are
            anticorrelated: at most one feature of a pair is on (each still with its own probability,
            so the pair's two probabilities must sum to at most 1). The remaining
            ``n_features - 2 (c + a)`` features are independent, as without these options.

    Returns:
        ``(batch_size, n_instances, n_features)``: each entry is 0 with probability ``1 - p``,
        else uniform on (0, 1].
    """
    _validate.positive_int("batch_size", batch_size)
    _validate.positive_int("n_instances", n_instances)
    _validate.positive_int("n_features", n_features)
    device = resolve_device(device) if generator is None else torch.device(generator.device)
    p = _validate.probability_tensor("feature_probability", feature_probability, (n_instances, n_features),
                                     dtype=dtype, device=device)
    _validate.non_negative_int("correlated_pairs", correlated_pairs)
    _validate.non_negative_int("anticorrelated_pairs", anticorrelated_pairs)
    paired = 2 * (correlated_pairs + anticorrelated_pairs)
    if paired > n_features:
        raise ValueError(f"correlated_pairs + anticorrelated_pairs must be at most n_features // 2 = "
                         f"{n_features // 2}, got {correlated_pairs} + {anticorrelated_pairs}")
    anti = p[:, 2 * correlated_pairs:paired]
    if anticorrelated_pairs and (anti[:, 0::2] + anti[:, 1::2] > 1).any():
        raise ValueError("feature_probability of the two features of an anticorrelated pair must sum to at most 1")
    shape = (batch_size, n_instances, n_features)
    inv_p = (1.0 / p).expand(shape).contiguous()
    out = fill_sparse_features_(torch.empty(shape, dtype=dtype, device=device), inv_p, 1.0 - inv_p, generator)
    if paired:
        _fill_pairs_(out, p, correlated_pairs, anticorrelated_pairs, generator)
    return out


def _fill_pairs_(out: torch.Tensor, p: torch.Tensor, correlated: int, anticorrelated: int, generator) -> None:
    """Overwrite the paired features of ``out`` (see :func:`sparse_features`). ``p``: ``(n_instances, n)``."""
    batch, k = out.shape[:2]
    c = 2 * correlated
    if correlated:
        w = torch.rand(batch, k, correlated, generator=generator, dtype=out.dtype, device=out.device)
        magnitude = 1.0 - torch.rand(batch, k, c, generator=generator, dtype=out.dtype, device=out.device)
        on = torch.stack([w > 1 - p[:, 0:c:2], w > 1 - p[:, 1:c:2]], dim=-1).flatten(-2)
        out[..., :c] = magnitude * on
    if anticorrelated:
        pa, pb = p[:, c:c + 2 * anticorrelated:2], p[:, c + 1:c + 2 * anticorrelated:2]
        w = torch.rand(batch, k, anticorrelated, generator=generator, dtype=out.dtype, device=out.device)
        first = torch.where(w > 1 - pa, (w - (1 - pa)) / pa, torch.zeros_like(w))
        second_on = (w > 1 - pa - pb) & (w <= 1 - pa)
        second = torch.where(second_on, (w - (1 - pa - pb)) / pb, torch.zeros_like(w))
        out[..., c:c + 2 * anticorrelated] = torch.stack([first, second], dim=-1).flatten(-2)


def fill_sparse_features_(out: torch.Tensor, inv_probability: torch.Tensor, offset: torch.Tensor,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """In-place sampler used by the training kernel: fill ``out`` with sparse features.

    ``out``: ``(..., n_features)`` float tensor, overwritten. ``inv_probability``: ``1 / p`` and
    ``offset``: ``1 - 1 / p``, both the shape of ``out`` (contiguous: broadcasting is several times
    slower for these tiny feature axes). With ``w ~ U[0, 1)``, ``x = w / p + 1 - 1 / p`` is positive
    exactly when ``w > 1 - p`` (probability ``p``) and is then uniform on (0, 1]; negative values are
    set to 0. One uniform draw and two cheap in-place ops per entry. Returns ``out``.
    No argument checks: this is the hot loop; :func:`sparse_features` is the checked entry point.
    """
    out.uniform_(0.0, 1.0, generator=generator)
    torch.addcmul(offset, out, inv_probability, out=out)
    return torch.nn.functional.threshold_(out, 0.0, 0.0)

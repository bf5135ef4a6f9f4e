"""Synthetic data for the toy models: sparse, non-negative features.

Each feature is present independently with its *feature probability* ``p`` (the course's convention;
Toy Models of Superposition calls ``S = 1 - p`` the sparsity) and, when present, has a magnitude drawn
uniformly from [0, 1]; otherwise it is exactly 0.

Sampling uses a single uniform number per entry: with ``w ~ U[0, 1]``, the feature is present when
``w > 1 - p`` and its magnitude is ``(w - (1 - p)) / p``, which given presence is uniform on (0, 1].
This is exactly the distribution above at half the cost of drawing a mask and a magnitude separately
(random number generation dominates a toy model's training step); see :class:`_Sampler`.
"""

from __future__ import annotations

import math

import torch

from . import _validate

__all__ = ["sparse_features"]


def _check_batch_args(batch_size, n_instances, n_features, feature_probability, generator, device, dtype):
    """Validate the arguments every sparse-feature sampler shares; returns ``(device, p)`` with the
    feature probabilities ``p`` broadcast to ``(n_instances, n_features)`` on the generator's device."""
    _validate.positive_int("batch_size", batch_size)
    _validate.positive_int("n_instances", n_instances)
    _validate.positive_int("n_features", n_features)
    device = _validate.sampling_device(device, generator)
    p = _validate.probability_tensor("feature_probability", feature_probability, (n_instances, n_features),
                                     dtype=dtype, device=device)
    return device, p


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
    device, p = _check_batch_args(batch_size, n_instances, n_features, feature_probability, generator, device, dtype)
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
    out = _Sampler(shape, p, dtype, device).fill_(torch.empty(shape, dtype=dtype, device=device), generator)
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


class _Sampler:
    """Preallocated, in-place sampler of sparse features for a fixed shape (used by the training
    kernel, where sampling is the largest cost of a step).

    Random bits come from one full-range ``int64`` draw per *two* entries, read as two ``int32``
    values ``i`` (uniform on [-2^31, 2^31)), so ``w = i / 2^32 + 1/2`` is uniform on [0, 1] (float32
    resolution); this is about twice as fast on the CPU as ``uniform_``, which spends one 32-bit draw
    per float. Then ``x = w / p + 1 - 1 / p`` (one ``addcmul`` with precomputed constants) is positive
    exactly when ``w > 1 - p`` and is then uniform on (0, 1]; ``threshold_`` zeroes the rest.
    Constants are full-size and contiguous: broadcasting over a tiny feature axis is several times
    slower on the CPU.
    """

    def __init__(self, shape: tuple[int, ...], probability: torch.Tensor, dtype, device):
        inv_p = (1.0 / probability.to(device=device, dtype=dtype)).expand(shape)
        self.numel = math.prod(shape)
        self.scale = (inv_p * 2.0 ** -32).contiguous().view(-1)
        self.offset = (0.5 * inv_p + 1.0 - inv_p).contiguous().view(-1)
        self.bits = torch.empty((self.numel + 1) // 2, dtype=torch.int64, device=device)

    def fill_(self, out: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Overwrite the contiguous tensor ``out`` (the sampler's shape) with sparse features."""
        flat = out.view(-1)
        self.bits.random_(-2 ** 63, None, generator=generator)  # full 64-bit range
        flat.copy_(self.bits.view(torch.int32)[: self.numel])
        torch.addcmul(self.offset, flat, self.scale, out=flat)
        torch.nn.functional.threshold_(flat, 0.0, 0.0)
        return out

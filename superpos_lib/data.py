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
    shape = (batch_size, n_instances, n_features)
    inv_p = (1.0 / p).expand(shape).contiguous()
    return fill_sparse_features_(torch.empty(shape, dtype=dtype, device=device), inv_p, 1.0 - inv_p, generator)


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

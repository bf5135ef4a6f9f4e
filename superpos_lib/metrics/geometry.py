"""Geometry of the features a toy model learned: norms, angles, interference, dimensionality.

``W`` always has shape ``(..., d, n)``: column ``i`` (``W[..., :, i]``) is feature ``i``'s direction
``W_i`` in the ``d``-dimensional hidden space; leading axes (e.g. instances) are kept.
"""

from __future__ import annotations

import torch

from .. import _validate

__all__ = ["feature_norms", "feature_angles", "feature_interference", "feature_dimensionality",
           "dimensions_per_feature", "represented_features", "feature_groups"]

_EPS = 1e-12


def _check_W(W) -> torch.Tensor:
    _validate.tensor("W", W, ndim=tuple(range(2, 9)))
    if W.shape[-1] < 1 or W.shape[-2] < 1:
        raise ValueError(f"W must have shape (..., d, n) with d >= 1 and n >= 1, got {tuple(W.shape)}")
    return W


def feature_norms(W: torch.Tensor) -> torch.Tensor:
    """Length ``||W_i||`` of each feature's direction: ``(..., d, n)`` -> ``(..., n)``."""
    return _check_W(W).norm(dim=-2)


def _overlaps(W: torch.Tensor) -> torch.Tensor:
    """``O[..., i, j] = W_i_hat . W_j`` (0 in row i when ``W_i`` is zero): ``(..., n, n)``."""
    norms = W.norm(dim=-2)
    unit = W / norms.clamp_min(_EPS).unsqueeze(-2)
    unit = torch.where((norms > _EPS).unsqueeze(-2), unit, torch.zeros_like(unit))
    return unit.transpose(-1, -2) @ W


def feature_angles(W: torch.Tensor) -> torch.Tensor:
    """Angle in degrees between every pair of feature directions: ``(..., d, n)`` -> ``(..., n, n)``.

    NaN where either feature has zero norm (the angle is undefined)."""
    W = _check_W(W)
    norms = W.norm(dim=-2)
    cos = (W.transpose(-1, -2) @ W) / (norms.unsqueeze(-1) * norms.unsqueeze(-2))
    return torch.rad2deg(torch.arccos(cos.clamp(-1.0, 1.0)))


def feature_interference(W: torch.Tensor) -> torch.Tensor:
    """How much each feature shares its direction with the others, as in TMS's bar charts:
    ``sum_{j != i} (W_i_hat . W_j)^2``. ``(..., d, n)`` -> ``(..., n)``; 0 for a zero feature.

    0 means feature ``i`` is orthogonal to all others (a dedicated dimension); large values mean
    it is in superposition."""
    O2 = _overlaps(_check_W(W)).pow(2)
    return O2.sum(-1) - O2.diagonal(dim1=-2, dim2=-1)


def feature_dimensionality(W: torch.Tensor) -> torch.Tensor:
    """Feature dimensionality ``D_i = ||W_i||^2 / sum_j (W_i_hat . W_j)^2`` (TMS, "Feature geometry").

    ``(..., d, n)`` -> ``(..., n)``. ``D_i`` is the fraction of a dimension feature ``i`` gets: 1 for a
    dedicated dimension, 1/2 for an antipodal pair, 2/5 for a pentagon, 0 when not represented (a
    zero-norm feature gives exactly 0, never NaN). The sum over ``j`` includes ``j = i``.
    """
    W = _check_W(W)
    norms2 = W.pow(2).sum(-2)
    denom = _overlaps(W).pow(2).sum(-1)
    return torch.where(norms2 > _EPS ** 2, norms2 / denom.clamp_min(_EPS), torch.zeros_like(norms2))


def dimensions_per_feature(W: torch.Tensor) -> torch.Tensor:
    """How many hidden dimensions the model spends per feature: ``d / ||W||_F^2``.

    ``(..., d, n)`` -> ``(...)``. ``||W||_F^2`` counts represented features (a unit-norm feature adds
    1), so this is 1 with ``d`` orthogonal unit features and 2/5 for a pentagon in 2 dimensions.
    """
    W = _check_W(W)
    return W.shape[-2] / W.pow(2).sum(dim=(-2, -1)).clamp_min(_EPS)


def represented_features(W: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Number of features whose norm exceeds ``threshold``: ``(..., d, n)`` -> ``(...)`` (int64)."""
    _validate.positive_float("threshold", threshold)
    return (feature_norms(W) > threshold).sum(-1)


def feature_groups(W: torch.Tensor, *, overlap: float = 0.05, min_norm: float = 0.5) -> list[tuple[list[int], int]]:
    """Split one model's represented features into groups that do not interfere with each other.

    ``W``: ``(d, n)`` (one instance). Features with norm > ``min_norm`` are linked when
    ``|cos(W_i, W_j)| > overlap``; a group is a connected set of linked features. Returns a list of
    ``(feature indices, dimension of their span)`` sorted by first index (the span's dimension counts
    singular values above 0.2 times the largest), e.g. a pentagon is
    ``([...5 indices...], 2)`` and a square antiprism ``([...8 indices...], 3)``.
    """
    W = _check_W(W)
    if W.ndim != 2:
        raise ValueError(f"W must have shape (d, n) (one instance), got {tuple(W.shape)}")
    _validate.finite_float("overlap", overlap, low=0, high=1, low_open=True, high_open=True)
    _validate.positive_float("min_norm", min_norm)
    norms = W.norm(dim=0)
    keep = (norms > min_norm).nonzero().flatten()
    if keep.numel() == 0:
        return []
    unit = W[:, keep] / norms[keep]
    linked = (unit.T @ unit).abs() > overlap  # (k, k), reflexive
    reach = linked.clone()
    for _ in range(keep.numel()):  # transitive closure by repeated squaring until stable
        new = (reach.float() @ reach.float()) > 0
        if torch.equal(new, reach):
            break
        reach = new
    groups, seen = [], set()
    for a in range(keep.numel()):
        if a in seen:
            continue
        members = reach[a].nonzero().flatten().tolist()
        seen.update(members)
        idx = keep[members]
        sv = torch.linalg.svdvals(W[:, idx].double())
        rank = int((sv > 0.2 * sv[0]).sum())  # dimensions that carry a real share of the group
        groups.append((idx.tolist(), rank))
    return groups

"""How sparse is a vector? Three measures, each computed over the last axis.

Conventions (the course's glossary uses the same ones):

* :func:`l0_sparsity` is the *fraction of zeros*, ``1 - ||a||_0 / d``. It is the empirical
  counterpart of the Toy Models paper's ``S`` (the probability that a feature is zero); the
  course plots against the *feature probability* ``p = 1 - S`` instead.
* :func:`gini` and :func:`effective_dimension` are defined for non-negative numbers, so both use
  ``|a|``. Gini sorts ``|a|`` ascending; effective dimension is ``exp(H)`` with the natural log,
  which equals ``2**H`` when ``H`` is measured in bits (the base cancels).

A row of zeros has no distribution of mass: :func:`gini` and :func:`effective_dimension`
return NaN for it (use ``torch.nanmean`` to average), :func:`l0_sparsity` returns 1.
"""

from __future__ import annotations

import torch

from .. import _validate as v

__all__ = ["l0_sparsity", "gini", "effective_dimension"]


def _vectors(name: str, a) -> torch.Tensor:
    a = v.tensor(name, a)
    if a.ndim < 1 or a.shape[-1] < 1:
        raise ValueError(f"{name} must have at least one dimension with at least one entry on the last axis, "
                         f"got shape {tuple(a.shape)}")
    return a


def l0_sparsity(a: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """Fraction of entries of each vector that are zero (``|a_i| <= eps``).

    ``a``: ``(..., d)``; returns ``(...)`` with values in [0, 1]. 1 means all zeros (maximally
    sparse), 0 means no zeros. This is ``1 - ||a||_0 / d``; the number of active entries is
    ``d * (1 - l0_sparsity(a))``. ``eps >= 0`` treats tiny values as zero.
    """
    a = _vectors("a", a)
    eps = v.non_negative_float("eps", eps)
    return (a.abs() <= eps).to(a.dtype).mean(dim=-1)


def gini(a: torch.Tensor) -> torch.Tensor:
    """Gini coefficient of ``|a|`` over the last axis (Hurley & Rickard's sparsity measure).

    With ``c_(1) <= ... <= c_(d)`` the entries of ``|a|`` sorted ascending,

    ``G = sum_k (2k - d - 1) c_(k) / (d * sum_k c_(k))``,  k = 1..d.

    ``a``: ``(..., d)``; returns ``(...)`` in [0, 1 - 1/d]: 0 when all entries are equal,
    ``1 - 1/d`` for a one-hot vector (as sparse as a non-zero vector gets). NaN for a row of zeros.
    """
    a = _vectors("a", a)
    d = a.shape[-1]
    c = a.abs().sort(dim=-1).values
    k = torch.arange(1, d + 1, dtype=a.dtype, device=a.device)
    weights = 2 * k - d - 1
    total = c.sum(dim=-1)
    return (c * weights).sum(dim=-1) / (d * total)


def effective_dimension(a: torch.Tensor) -> torch.Tensor:
    """Effective number of active entries: ``exp(H)`` of the distribution ``q = |a| / sum |a|``.

    ``H = -sum_i q_i ln q_i`` (with ``0 ln 0 = 0``); ``exp(H)`` with the natural log equals
    ``2**H`` with ``H`` in bits. ``a``: ``(..., d)``; returns ``(...)`` in [1, d]: 1 for a one-hot
    vector, ``d`` for a vector whose entries all have the same magnitude, ``k`` for ``k`` equal
    non-zero entries. NaN for a row of zeros.
    """
    a = _vectors("a", a)
    c = a.abs()
    q = c / c.sum(dim=-1, keepdim=True)
    q_log_q = torch.where(q > 0, q * torch.log(torch.where(q > 0, q, torch.ones_like(q))), torch.zeros_like(q))
    entropy = -q_log_q.sum(dim=-1)
    return torch.where(torch.isnan(q).any(dim=-1), torch.full_like(entropy, float("nan")), entropy.exp())

"""The LASSO, ``min 0.5 ||A x - y||^2 + lam ||x||_1``, by FISTA, and the soft threshold (its proximal map)."""

from __future__ import annotations

import math

import torch

from .. import _validate as V

__all__ = ["soft_threshold"]


def soft_threshold(v: torch.Tensor, t) -> torch.Tensor:
    """The proximal map of ``t ||.||_1``: ``sign(v) * max(|v| - t, 0)``, elementwise.

    ``v``: any shape; ``t``: a non-negative number or a tensor broadcastable to ``v``.
    """
    V.tensor("v", v)
    if isinstance(t, torch.Tensor):
        if (t < 0).any():
            raise ValueError("t must be >= 0 everywhere")
    else:
        t = V.non_negative_float("t", t)
    return torch.sign(v) * (v.abs() - t).clamp_min(0)


def _lasso_fista(A: torch.Tensor, Y: torch.Tensor, lam: float, *, max_iter: int, tol: float) -> torch.Tensor:
    """min 0.5 ||A x - y||^2 + lam ||x||_1 for groups, by FISTA with step 1 / ||A||_2^2."""
    G, m, n = A.shape
    L = torch.linalg.matrix_norm(A, ord=2).pow(2).clamp_min(1e-30).view(G, 1, 1)
    AtY = A.transpose(1, 2) @ Y
    x = torch.zeros(G, n, Y.shape[2], dtype=A.dtype, device=A.device)
    z, t = x.clone(), 1.0
    for _ in range(max_iter):
        grad = A.transpose(1, 2) @ (A @ z) - AtY
        x_new = soft_threshold(z - grad / L, lam / L)
        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
        z = x_new + ((t - 1) / t_new) * (x_new - x)
        change = (x_new - x).norm(dim=1).max()
        scale = x_new.norm(dim=1).max().clamp_min(1e-12)
        x, t = x_new, t_new
        if change <= tol * scale:
            break
    return x

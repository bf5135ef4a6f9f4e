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
    V.non_empty("v", v)
    if isinstance(t, torch.Tensor):
        V.tensor("t", t)
        if (t < 0).any():
            raise ValueError("t must be >= 0 everywhere")
        try:
            torch.broadcast_shapes(t.shape, v.shape)
        except RuntimeError:
            raise ValueError(f"t has shape {tuple(t.shape)}, which does not broadcast with v {tuple(v.shape)}") from None
        if torch.broadcast_shapes(t.shape, v.shape) != v.shape:
            raise ValueError(f"t has shape {tuple(t.shape)}, which would enlarge v {tuple(v.shape)}: it must broadcast to v's shape")
    else:
        t = V.non_negative_float("t", t)
    return torch.sign(v) * (v.abs() - t).clamp_min(0)


def _lasso_fista(A: torch.Tensor, Y: torch.Tensor, lam: float, *, max_iter: int, tol: float,
                 nonnegative: bool = False, stats: dict | None = None) -> torch.Tensor:
    """min 0.5 ||A x - y||^2 + lam ||x||_1 (and x >= 0 with ``nonnegative``) for groups A (G, m, n),
    Y (G, m, r), by FISTA with step 1 / ||A||_2^2 and adaptive (gradient) restart (O'Donoghue and
    Candes 2015). Each problem stops on its own when its relative change is at most ``tol``."""
    G, m, n = A.shape
    r = Y.shape[2]
    L = torch.linalg.matrix_norm(A, ord=2).pow(2).clamp_min(1e-30).view(G, 1, 1)
    AtY = A.transpose(1, 2) @ Y
    x = torch.zeros(G, n, r, dtype=A.dtype, device=A.device)
    z = x.clone()
    t = torch.ones(G, 1, r, dtype=A.dtype, device=A.device)
    running = torch.ones(G, r, dtype=torch.bool, device=A.device)
    iters = torch.full((G, r), max_iter, dtype=torch.int64, device=A.device)
    for it in range(1, max_iter + 1):
        grad = A.transpose(1, 2) @ (A @ z) - AtY
        v = z - grad / L
        x_new = (v - lam / L).clamp_min(0) if nonnegative else soft_threshold(v, lam / L)
        x_new = torch.where(running.unsqueeze(1), x_new, x)  # finished problems stay where they stopped
        step = x_new - x
        restart = ((z - x_new) * step).sum(dim=1, keepdim=True) > 0  # momentum points uphill: reset it
        t = torch.where(restart, torch.ones_like(t), t)
        t_new = (1 + torch.sqrt(1 + 4 * t * t)) / 2
        z = x_new + ((t - 1) / t_new) * step
        change = step.norm(dim=1)
        scale = x_new.norm(dim=1).clamp_min(torch.finfo(A.dtype).tiny)
        x, t = x_new, t_new
        stop = running & (change <= tol * scale)
        iters = torch.where(stop, torch.full_like(iters, it), iters)
        running = running & ~stop
        z = torch.where(running.unsqueeze(1), z, x)
        if not running.any():
            break
    if stats is not None:
        stats["converged"] = ~running
        stats["iters"] = iters
    return x

"""Iterative hard thresholding (normalised step), keeping k entries, with a final least-squares refit."""

from __future__ import annotations

import torch

from ._groups import _refit

__all__: list[str] = []


def _hard_threshold(v: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Keep the K largest |entries| of each column. v (G, n, r), K (G, r)."""
    sorted_abs = v.abs().sort(dim=1, descending=True).values  # (G, n, r)
    kth = torch.gather(sorted_abs, 1, (K - 1).clamp_min(0).unsqueeze(1)).squeeze(1)  # (G, r)
    keep = (v.abs() >= kth.unsqueeze(1)) & (K > 0).unsqueeze(1)
    return v * keep


def _iht(A: torch.Tensor, Y: torch.Tensor, K: torch.Tensor, *, max_iter: int, tol: float) -> torch.Tensor:
    """Normalised iterative hard thresholding (Blumensath & Davies) with a final refit."""
    G, m, n = A.shape
    r = Y.shape[2]
    At = A.transpose(1, 2)
    x = torch.zeros(G, n, r, dtype=A.dtype, device=A.device)
    g = At @ Y
    support = _hard_threshold(g, K) != 0
    for _ in range(max_iter):
        g = At @ (Y - A @ x)  # negative gradient of 0.5 ||y - A x||^2
        gs = g * support
        step = gs.pow(2).sum(dim=1) / (A @ gs).pow(2).sum(dim=1).clamp_min(1e-30)  # (G, r)
        x_new = _hard_threshold(x + step.unsqueeze(1) * g, K)
        change = (x_new - x).norm(dim=1)
        x = x_new
        support = x != 0
        if (change <= tol * x.norm(dim=1).clamp_min(1e-30)).all():
            break
    # refit: least squares on the kept support
    kmax = max(int(K.max().item()), 1)
    idx = x.abs().topk(kmax, dim=1).indices.transpose(1, 2)  # (G, r, kmax)
    mask = torch.arange(kmax, device=A.device).view(1, 1, kmax) < K.unsqueeze(-1)
    mask = mask & (torch.gather(x.transpose(1, 2), 2, idx) != 0)
    x_fit, _, _, _, ok = _refit(A.double(), Y.double(), idx, mask)
    return torch.where(ok.unsqueeze(1), x_fit.to(A.dtype), x)

"""Iterative hard thresholding (normalised step), keeping k entries, with a final least-squares refit."""

from __future__ import annotations

import torch

from ._groups import _refit

__all__: list[str] = []


def _hard_threshold(v: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Keep the K largest |entries| of each column (exactly K; ties broken by ``topk``).
    v (G, n, r), K (G, r) with K <= n."""
    kmax = int(K.max().item()) if K.numel() else 0
    if kmax == 0:
        return torch.zeros_like(v)
    idx = v.abs().topk(kmax, dim=1).indices  # (G, kmax, r)
    rank_ok = torch.arange(kmax, device=v.device).view(1, kmax, 1) < K.unsqueeze(1)
    keep = torch.zeros_like(v, dtype=torch.bool).scatter_(1, idx, rank_ok)
    return v * keep


def _iht(A: torch.Tensor, Y: torch.Tensor, K: torch.Tensor, *, max_iter: int, tol: float,
         shrink: float = 2.0, c: float = 0.01, stats: dict | None = None) -> torch.Tensor:
    """Normalised iterative hard thresholding (Blumensath and Davies 2010) with its step-size
    safeguard, then a least-squares refit on the kept support (the refit makes the last step an HTP
    step, Foucart 2011). A (G, m, n), Y (G, m, r), K (G, r) -> X (G, n, r).

    Step ``mu = ||g_S||^2 / ||A g_S||^2`` (the exact line search along the gradient restricted to
    the current support S); where the thresholded point changes the support, the step must satisfy
    ``mu <= (1 - c) ||x_new - x||^2 / ||A (x_new - x)||^2``, else it is divided by ``shrink``
    (at most 6 times) and the point recomputed.
    """
    G, m, n = A.shape
    r = Y.shape[2]
    At = A.transpose(1, 2)
    x = torch.zeros(G, n, r, dtype=A.dtype, device=A.device)
    g = At @ Y
    support = _hard_threshold(g, K) != 0
    running = torch.ones(G, r, dtype=torch.bool, device=A.device)
    iters = torch.full((G, r), max_iter, dtype=torch.int64, device=A.device)
    tiny = torch.finfo(A.dtype).tiny
    for it in range(1, max_iter + 1):
        g = At @ (Y - A @ x)  # negative gradient of 0.5 ||y - A x||^2
        gs = g * support
        step = gs.pow(2).sum(dim=1) / (A @ gs).pow(2).sum(dim=1).clamp_min(tiny)  # (G, r)
        x_new = _hard_threshold(x + step.unsqueeze(1) * g, K)
        for _ in range(6):  # safeguard: only where the support changed and the step is too long
            diff = x_new - x
            omega = (1 - c) * diff.pow(2).sum(dim=1) / (A @ diff).pow(2).sum(dim=1).clamp_min(tiny)
            bad = running & ((x_new != 0) != support).any(dim=1) & (step > omega)
            if not bad.any():
                break
            step = torch.where(bad, step / shrink, step)
            x_new = torch.where(bad.unsqueeze(1), _hard_threshold(x + step.unsqueeze(1) * g, K), x_new)
        x_new = torch.where(running.unsqueeze(1), x_new, x)
        change = (x_new - x).norm(dim=1)
        x = x_new
        support = x != 0
        stop = running & (change <= tol * x.norm(dim=1).clamp_min(tiny))
        iters = torch.where(stop, torch.full_like(iters, it), iters)
        running = running & ~stop
        if not running.any():
            break
    if stats is not None:
        stats["converged"] = ~running
        stats["iters"] = iters
    # refit: least squares on the kept support
    kmax = max(int(K.max().item()), 1)
    idx = x.abs().topk(kmax, dim=1).indices.transpose(1, 2)  # (G, r, kmax)
    mask = torch.arange(kmax, device=A.device).view(1, 1, kmax) < K.unsqueeze(-1)
    mask = mask & (torch.gather(x.transpose(1, 2), 2, idx) != 0)
    x_fit, _, _, _, ok = _refit(A.double(), Y.double(), idx, mask)
    return torch.where(ok.unsqueeze(1), x_fit.to(A.dtype), x)

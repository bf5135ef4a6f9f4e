"""Orthogonal matching pursuit, batched: incremental QR for one matrix per problem, Batch-OMP
(Gram matrix and a growing inverse Cholesky factor) for many problems sharing a matrix."""

from __future__ import annotations

import torch

from ._groups import _scatter

__all__: list[str] = []


def _omp(A: torch.Tensor, Y: torch.Tensor, K: torch.Tensor, stats: dict | None = None) -> torch.Tensor:
    """Orthogonal matching pursuit for groups. K (G, r): steps per problem. Returns (G, n, r).

    Each step picks the column with the largest normalised correlation ``|a_j^T r| / ||a_j||``.
    Incremental QR: Qs holds an orthonormal basis of the chosen columns (classical Gram–Schmidt,
    applied twice in float32), Rt the triangular factor, so the residual update and the final
    coefficients cost O(m k) per step instead of a new least-squares solve.
    """
    G, m, n = A.shape
    r = Y.shape[2]
    kmax = int(K.max().item()) if K.numel() else 0
    dtype, device = A.dtype, A.device
    if kmax == 0:
        if stats is not None:
            stats["steps"] = torch.zeros(G, r, dtype=torch.int64, device=device)
        return torch.zeros(G, n, r, dtype=dtype, device=device)
    At = A.transpose(1, 2).reshape(G * n, m)  # row g n + j is column j of A[g]
    inv_norm = (1.0 / At.view(G, n, m).norm(dim=2).clamp_min(torch.finfo(dtype).tiny)).unsqueeze(1)  # (G, 1, n)
    Yt = Y.transpose(1, 2)  # (G, r, m)
    resid = Yt.clone()
    Qs = torch.zeros(G, r, kmax, m, dtype=dtype, device=device)
    Rt = torch.zeros(G, r, kmax, kmax, dtype=dtype, device=device)
    chosen = torch.zeros(G, r, kmax, dtype=torch.int64, device=device)
    used = torch.zeros(G, r, kmax, dtype=torch.bool, device=device)
    taken = torch.zeros(G, r, n, dtype=torch.bool, device=device)
    rows = torch.arange(G, device=device).view(G, 1) * n
    passes = 1 if dtype == torch.float64 else 2
    for t in range(kmax):
        live = K > t  # (G, r)
        corr = torch.bmm(resid, A).abs_().mul_(inv_norm).masked_fill_(taken, -1.0)  # |A^T r| / ||a_j||
        j = corr.argmax(dim=2)  # (G, r)
        a = At.index_select(0, (rows + j).view(-1)).view(G, r, m)
        Qp = Qs[:, :, :t].reshape(G * r, t, m)
        q, proj = a, None
        for _ in range(passes):  # Gram–Schmidt against the chosen columns (twice in float32)
            c = torch.bmm(Qp, q.reshape(G * r, m, 1))  # (G r, t, 1)
            q = q - torch.bmm(c.transpose(1, 2), Qp).view(G, r, m)
            proj = c.view(G, r, t) if proj is None else proj + c.view(G, r, t)
        nrm = q.norm(dim=2)
        good = live & (nrm > 1e-10 * a.norm(dim=2).clamp_min(1e-30))
        q = q * torch.where(good, 1.0 / nrm.clamp_min(1e-30), torch.zeros_like(nrm)).unsqueeze(-1)
        Qs[:, :, t] = q
        Rt[:, :, :t, t] = proj * good.unsqueeze(-1)
        Rt[:, :, t, t] = torch.where(good, nrm, torch.ones_like(nrm))
        chosen[:, :, t] = j * good
        used[:, :, t] = good
        taken.scatter_(2, j.unsqueeze(-1), good.unsqueeze(-1) | torch.gather(taken, 2, j.unsqueeze(-1)))
        resid = resid - (resid * q).sum(dim=2, keepdim=True) * q
    b = (Qs @ Yt.unsqueeze(-1))  # (G, r, kmax, 1): Q^T y
    coef = torch.linalg.solve_triangular(Rt, b, upper=True)[..., 0]
    if stats is not None:
        stats["steps"] = used.sum(dim=2)
    return _scatter(chosen, coef, n)


def _omp_gram(A: torch.Tensor, Y: torch.Tensor, K: torch.Tensor, stats: dict | None = None) -> torch.Tensor:
    """OMP for groups of problems sharing a matrix (Batch-OMP, Rubinstein et al. 2008).

    Uses the Gram matrix ``A^T A`` of each group and the inverse ``M = L^{-1}`` of the Cholesky
    factor of ``A_S^T A_S``, grown by one row per step; the correlations
    ``A^T (y - A x) = A^T y - (A^T A) x`` are one matrix product for the whole group. Columns are
    selected by normalised correlation ``|a_j^T r| / ||a_j||``.
    A (G, m, n), Y (G, m, r), K (G, r) -> X (G, n, r).
    """
    G, m, n = A.shape
    r = Y.shape[2]
    kmax = int(K.max().item()) if K.numel() else 0
    dtype, device = A.dtype, A.device
    Xt = torch.zeros(G, r, n, dtype=dtype, device=device)  # the estimates, one row per problem
    if kmax == 0:
        if stats is not None:
            stats["steps"] = torch.zeros(G, r, dtype=torch.int64, device=device)
        return Xt.transpose(1, 2)
    gram = A.transpose(1, 2) @ A  # (G, n, n), symmetric
    AtY = A.transpose(1, 2) @ Y  # (G, n, r)
    AtYt = AtY.transpose(1, 2).contiguous()  # (G, r, n)
    M = torch.zeros(G, r, kmax, kmax, dtype=dtype, device=device)  # L^{-1}, lower triangular
    h = torch.zeros(G, r, kmax, dtype=dtype, device=device)  # L^{-1} A_S^T y
    chosen = torch.zeros(G, r, kmax, dtype=torch.int64, device=device)
    used = torch.zeros(G, r, kmax, dtype=torch.bool, device=device)
    taken = torch.zeros(G, r, n, dtype=torch.bool, device=device)
    diag = torch.diagonal(gram, dim1=1, dim2=2)  # (G, n)
    gram_flat = gram.reshape(G, n * n)
    inv_norm = (1.0 / diag.clamp_min(torch.finfo(dtype).tiny).sqrt()).unsqueeze(1)  # (G, 1, n)
    for t in range(kmax):
        live = K > t
        corr = torch.baddbmm(AtYt, Xt, gram, alpha=-1).abs_().mul_(inv_norm).masked_fill_(taken, -1.0)  # (G, r, n)
        j = corr.argmax(dim=2)  # (G, r)
        # A_S^T a_j = gram[chosen, j], gathered from the flattened Gram matrix, (G, r, t)
        v = torch.gather(gram_flat, 1, (chosen[:, :, :t] * n + j.unsqueeze(-1)).view(G, -1)).view(G, r, t)
        v = v * used[:, :, :t]
        Mt = M[:, :, :t, :t]
        w = (Mt @ v.unsqueeze(-1))[..., 0]  # L^{-1} A_S^T a_j
        gjj = torch.gather(diag, 1, j)
        d2 = gjj - w.pow(2).sum(dim=2)
        good = live & (d2 > 1e-6 * gjj.clamp_min(1e-30))
        d = d2.clamp_min(1e-30).sqrt()
        new_row = -(w.unsqueeze(-2) @ Mt)[..., 0, :] / d.unsqueeze(-1)  # row t of the new L^{-1}
        M[:, :, t, :t] = torch.where(good.unsqueeze(-1), new_row, torch.zeros_like(new_row))
        M[:, :, t, t] = torch.where(good, 1.0 / d, torch.zeros_like(d))
        bt = torch.gather(AtYt, 2, j.unsqueeze(-1))[..., 0]
        h[:, :, t] = torch.where(good, (bt - (w * h[:, :, :t]).sum(dim=2)) / d, torch.zeros_like(d))
        chosen[:, :, t] = torch.where(good, j, torch.zeros_like(j))
        used[:, :, t] = good
        taken.scatter_(2, j.unsqueeze(-1), good.unsqueeze(-1) | torch.gather(taken, 2, j.unsqueeze(-1)))
        # x_S = L^{-T} h = M^T h; the new row of M and the new entry of h add h_t M[t, :] to it
        Xt.scatter_add_(2, chosen[:, :, :t + 1], h[:, :, t:t + 1] * M[:, :, t, :t + 1])
    if stats is not None:
        stats["steps"] = used.sum(dim=2)
    return Xt.transpose(1, 2)

"""Orthogonal matching pursuit, batched: incremental QR for one matrix per problem, Batch-OMP
(Gram matrix and a growing inverse Cholesky factor) for many problems sharing a matrix.

Both loop over the greedy steps only; every step is a fixed number of batched tensor operations
over all problems. A column is "taken" by giving it a score of ``-inf`` (``pen``), so the
selection is one fused multiply-add and one ``max``."""

from __future__ import annotations

import torch

from ._groups import _scatter

__all__: list[str] = []

_DGKS = 0.7071067811865476  # re-orthogonalise when Gram-Schmidt has removed more than 1 - 1/sqrt(2) of a column


def _column_norms(A: torch.Tensor, chunk: int = 8) -> torch.Tensor:
    """Column norms of each matrix, (G, 1, n), squaring a few matrices at a time (a full-size
    temporary costs more in page faults than the arithmetic)."""
    G, m, n = A.shape
    out = torch.empty(G, 1, n, dtype=A.dtype, device=A.device)
    tmp = torch.empty(min(chunk, G), m, n, dtype=A.dtype, device=A.device)
    for i in range(0, G, chunk):
        block = A[i:i + chunk]
        sq = tmp[:block.shape[0]]
        torch.mul(block, block, out=sq)
        torch.sum(sq, dim=1, keepdim=True, out=out[i:i + chunk])
    return out.sqrt_()


def _omp(A: torch.Tensor, Y: torch.Tensor, K: torch.Tensor, stats: dict | None = None) -> torch.Tensor:
    """Orthogonal matching pursuit for groups. K (G, r): steps per problem. Returns (G, n, r).

    Each step picks the column with the largest normalised correlation ``|a_j^T r| / ||a_j||``.
    Incremental QR: Q holds an orthonormal basis of the chosen columns (classical Gram–Schmidt,
    repeated in float32 where the first pass removed more than 1 - 1/sqrt(2) of the column's
    norm, the DGKS criterion), R the triangular factor, so the final coefficients are one
    triangular solve. The correlations are updated rather than recomputed:
    ``A^T r_{t+1} = A^T r_t - (q_t^T y) A^T q_t``; the rows ``C[s] = A^T q_s`` also give the first
    Gram–Schmidt projections ``Q a_j`` as a gather, so each step reads A once (one batched
    matrix-vector product) and does O(m k) work per problem besides.
    """
    G, m, n = A.shape
    r = Y.shape[2]
    P = G * r  # problems; problem p = g r + i uses A[g]
    kmax = int(K.max().item()) if K.numel() else 0
    dtype, device = A.dtype, A.device
    if kmax == 0:
        if stats is not None:
            stats["steps"] = torch.zeros(G, r, dtype=torch.int64, device=device)
        return torch.zeros(G, n, r, dtype=dtype, device=device)
    A = A.contiguous()
    norm = _column_norms(A).expand(G, r, n)
    inv_norm = norm.clamp_min(torch.finfo(dtype).tiny).reciprocal()
    # per column: re-orthogonalise below _DGKS ||a_j||; a_j counts as dependent below 1e-10 ||a_j||
    thresholds = torch.stack([_DGKS * norm, 1e-10 * norm.clamp_min(1e-30)], dim=-1)  # (G, r, n, 2)
    Yt = Y.transpose(1, 2)  # (G, r, m)
    y_col = Yt.reshape(P, m, 1)
    # flat offset of A[g, i, 0] for each problem and row, to read the chosen column with one index_select
    base = (torch.arange(P, device=device).div(r, rounding_mode="floor") * (m * n)).view(P, 1) \
        + torch.arange(m, device=device) * n
    A_flat = A.view(-1)
    Q = torch.zeros(P, kmax, m, dtype=dtype, device=device)  # row s: q_s (zero until chosen)
    C = torch.zeros(P, kmax, n, dtype=dtype, device=device)  # row s: A^T q_s
    corr = torch.bmm(Yt, A)  # (G, r, n): A^T r with r = y - Q Q^T y
    pen = torch.zeros(G, r, n, dtype=dtype, device=device)  # 0, or -inf for a column already taken
    reorth = dtype != torch.float64
    js, nrms, goods, projs = [], [], [], []
    for t in range(kmax):
        j = torch.addcmul(pen, corr.abs(), inv_norm).max(dim=2, keepdim=True).indices  # (G, r, 1)
        jp = j.view(P, 1)
        a = A_flat.index_select(0, (base + jp).view(-1)).view(P, 1, m)
        proj = torch.gather(C, 2, jp.unsqueeze(1).expand(P, kmax, 1)).view(P, 1, kmax)  # Q a (0 beyond t)
        q = torch.baddbmm(a, proj, Q, alpha=-1)
        nrm = torch.linalg.vector_norm(q, dim=2, keepdim=True)  # (P, 1, 1)
        thr = torch.gather(thresholds, 2, j.unsqueeze(-1).expand(G, r, 1, 2)).view(P, 2)
        low = nrm.view(P, 1) < thr  # (P, 2): needs a second pass, is dependent
        again, dependent = low.any(dim=0).tolist()  # one synchronisation per step
        if reorth and again:
            c = torch.bmm(q, Q.transpose(1, 2))
            q = torch.baddbmm(q, c, Q, alpha=-1)
            proj = proj + c
            nrm = torch.linalg.vector_norm(q, dim=2, keepdim=True)
            dependent = True  # recheck below with the new norms
        if dependent:
            good = nrm.view(P, 1) > thr[:, 1:]
            q = torch.mul(q, good.view(P, 1, 1) / nrm.clamp_min(1e-30), out=Q[:, t:t + 1])
            pen.scatter_reduce_(2, j, torch.where(good.view(G, r, 1), float("-inf"), 0.0).to(dtype), "amin")
        else:  # every column independent: the common case, two operations
            good = None
            q = torch.div(q, nrm, out=Q[:, t:t + 1])
            pen.scatter_(2, j, float("-inf"))
        js.append(jp)
        nrms.append(nrm.view(P, 1))
        goods.append(good)
        projs.append(proj.view(P, kmax, 1))
        if t + 1 < kmax:
            Cq = torch.bmm(q.view(G, r, m), A, out=C[:, t].view(G, r, n))
            corr.addcmul_(torch.bmm(q, y_col).view(G, r, 1), Cq, value=-1)
    # steps past a problem's own k are dropped here (they never influence its earlier steps)
    used = K.reshape(P, 1) > torch.arange(kmax, device=device)
    R = torch.cat(projs, dim=2) * used.unsqueeze(1)  # column t: Q_{<t} a_{j_t}, zero below the diagonal
    if any(g is not None for g in goods):
        used &= torch.cat([torch.ones(P, 1, dtype=torch.bool, device=device) if g is None else g for g in goods], dim=1)
    R.diagonal(dim1=1, dim2=2).copy_(torch.where(used, torch.cat(nrms, dim=1), 1.0))
    b = torch.bmm(Q, y_col) * used.unsqueeze(-1)  # Q^T y
    coef = torch.linalg.solve_triangular(R, b, upper=True)[..., 0]
    if stats is not None:
        stats["steps"] = used.sum(dim=1).view(G, r)
    chosen = torch.cat(js, dim=1) * used
    return _scatter(chosen.view(G, r, kmax), coef.view(G, r, kmax), n)


def _omp_gram(A: torch.Tensor, Y: torch.Tensor, K: torch.Tensor, stats: dict | None = None) -> torch.Tensor:
    """OMP for groups of problems sharing a matrix (Batch-OMP, Rubinstein et al. 2008).

    Uses the Gram matrix ``A^T A`` of each group and the inverse ``M = L^{-1}`` of the Cholesky
    factor of ``A_S^T A_S``, grown by one row per step (kept with its transpose, so both products
    with it are row vector times matrix); the correlations ``A^T (y - A x) = A^T y - (A^T A) x``
    are one matrix product for the whole group. Columns are selected by normalised correlation
    ``|a_j^T r| / ||a_j||``. A (G, m, n), Y (G, m, r), K (G, r) -> X (G, n, r).

    A step whose column is (numerically) dependent on the chosen ones adds a zero row to ``M``;
    the zero column that row leaves in every later row of ``M`` keeps that column out of ``x``.
    """
    G, m, n = A.shape
    r = Y.shape[2]
    P = G * r
    kmax = int(K.max().item()) if K.numel() else 0
    dtype, device = A.dtype, A.device
    Xt = torch.zeros(G, r, n, dtype=dtype, device=device)  # the estimates, one row per problem
    if kmax == 0:
        if stats is not None:
            stats["steps"] = torch.zeros(G, r, dtype=torch.int64, device=device)
        return Xt.transpose(1, 2)
    gram = A.transpose(1, 2) @ A  # (G, n, n), symmetric
    AtYt = (A.transpose(1, 2) @ Y).transpose(1, 2).contiguous()  # (G, r, n)
    M = torch.zeros(P, kmax, kmax, dtype=dtype, device=device)  # L^{-1}, lower triangular
    MT = torch.zeros(P, kmax, kmax, dtype=dtype, device=device)  # its transpose
    h = torch.zeros(P, kmax, 1, dtype=dtype, device=device)  # L^{-1} A_S^T y
    chosen = torch.zeros(P, kmax, dtype=torch.int64, device=device)
    pen = torch.zeros(G, r, n, dtype=dtype, device=device)
    live = (K.reshape(P, 1) > torch.arange(kmax, device=device)).to(dtype)  # (P, kmax)
    diag = torch.diagonal(gram, dim1=1, dim2=2)  # (G, n)
    gram_rows = gram.reshape(G * n, n)  # row g n + j: column j of gram[g]
    group_row = (torch.arange(P, device=device).div(r, rounding_mode="floor") * n).view(P, 1)
    diag_r = diag.unsqueeze(1).expand(G, r, n)
    inv_norm = (1.0 / diag.clamp_min(torch.finfo(dtype).tiny).sqrt()).unsqueeze(1)  # (G, 1, n)
    ninf = torch.tensor(float("-inf"), dtype=dtype, device=device)
    zero = torch.zeros((), dtype=dtype, device=device)
    minus_one = torch.full((P, 1, 1), -1.0, dtype=dtype, device=device)
    goods = []
    for t in range(kmax):
        corr = torch.baddbmm(AtYt, Xt, gram, alpha=-1)  # (G, r, n)
        j = torch.addcmul(pen, corr.abs_(), inv_norm).max(dim=2, keepdim=True).indices  # (G, r, 1)
        jp = j.view(P, 1)
        chosen[:, t:t + 1] = jp
        g_j = gram_rows.index_select(0, (group_row + jp).view(P))  # (P, n): A^T a_j
        v = torch.gather(g_j, 1, chosen[:, :t]).view(P, 1, t)  # A_S^T a_j
        w = torch.bmm(v, MT[:, :t, :t])  # (L^{-1} A_S^T a_j)^T, (P, 1, t)
        gjj = torch.gather(diag_r, 2, j).view(P, 1, 1)
        d2 = gjj - torch.bmm(w, w.transpose(1, 2))
        good = (d2 > 1e-6 * gjj.clamp_min(1e-30)) & (live[:, t:t + 1] > 0).view(P, 1, 1)
        d = d2.clamp_min(1e-30).sqrt_()
        scale = good / d  # 1/d, or 0 for a dependent column or a finished problem
        # row t of the new L^{-1}: [-(w^T M) / d, 1 / d]
        row = torch.cat([torch.bmm(w, M[:, :t, :t]), minus_one], dim=2).mul_(-scale)  # (P, 1, t + 1)
        M[:, t, :t + 1] = row.view(P, t + 1)
        MT[:, :t + 1, t] = row.view(P, t + 1)
        # h_t = (a_j^T y - w^T h) / d
        h_t = (torch.gather(AtYt, 2, j).view(P, 1, 1) - torch.bmm(w, h[:, :t])) * scale
        h[:, t:t + 1] = h_t.view(P, 1, 1)
        goods.append(good.view(P, 1))
        pen.scatter_reduce_(2, j, torch.where(good.view(G, r, 1), ninf, zero), "amin")
        # x_S = L^{-T} h = M^T h; the new row of M and the new entry of h add h_t M[t, :] to it
        Xt.scatter_add_(2, chosen[:, :t + 1].view(G, r, t + 1), (h_t * row).view(G, r, t + 1))
    if stats is not None:
        stats["steps"] = torch.cat(goods, dim=1).sum(dim=1).view(G, r)
    return Xt.transpose(1, 2)

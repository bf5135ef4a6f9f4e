"""Basis pursuit, ``min ||x||_1 subject to A x = y``: batched over-relaxed ADMM, a least-squares
refit on the detected support and a KKT (dual) certificate of optimality."""

from __future__ import annotations

import torch

__all__: list[str] = []


def _certify(A64: torch.Tensor, Y64: torch.Tensor, g: torch.Tensor, j: torch.Tensor, z: torch.Tensor,
             W0: torch.Tensor, feas_tol: float = 1e-8):
    """Refit and certify the problems (g, j) of a group layout (all float64).

    A64 (G, m, n), Y64 (G, m, r); g, j (P,) which problems; z (P, n) their sparse ADMM iterate;
    W0 (P, m) an approximate dual vector; feas_tol: relative residual that counts as A x = y (the
    rounding level of the caller's data). Returns (x_c (P, n), feasible (P,), certified (P,)).
    Certified means: A x_c = y, and w = W0 + correction satisfies A_S^T w = sign(x_S) exactly and
    ||A^T w||_inf <= 1, the optimality (KKT) conditions of basis pursuit.
    """
    m, n = A64.shape[1], A64.shape[2]
    count = (z != 0).sum(dim=1).clamp_max(m)  # (P,)
    s = max(int(count.max().item()), 1)
    idx = z.abs().topk(s, dim=1).indices  # (P, s)
    mask = torch.arange(s, device=z.device).view(1, s) < count.unsqueeze(1)
    At = A64.transpose(1, 2)
    cols = At[g.unsqueeze(1), idx] * mask.unsqueeze(-1)  # (P, s, m)
    gram = cols @ cols.transpose(1, 2) + torch.diag_embed((~mask).to(A64.dtype))
    y = Y64[g, :, j]  # (P, m)
    L, info = torch.linalg.cholesky_ex(gram)
    ok = info == 0
    L = torch.where(ok[:, None, None], L, torch.eye(s, dtype=L.dtype, device=L.device))
    coef = torch.cholesky_solve((cols @ y.unsqueeze(-1)), L)[..., 0] * mask  # (P, s)
    x_c = torch.zeros(len(g), n, dtype=A64.dtype, device=A64.device).scatter_add(1, idx, coef)
    res = ((cols.transpose(1, 2) @ coef.unsqueeze(-1))[..., 0] - y).norm(dim=1)
    feasible = ok & (res <= feas_tol * y.norm(dim=1))
    sig = torch.sign(coef) * mask
    d = (sig - (cols @ W0.unsqueeze(-1))[..., 0]) * mask
    w1 = W0 + (cols.transpose(1, 2) @ torch.cholesky_solve(d.unsqueeze(-1), L))[..., 0]  # (P, m)
    W = torch.zeros(A64.shape[0], m, Y64.shape[2], dtype=A64.dtype, device=A64.device)
    W[g, :, j] = w1
    dual_norm = (At @ W)[g, :, j].abs().amax(dim=1)  # ||A^T w||_inf, one product per matrix
    certified = feasible & (dual_norm <= 1 + 1e-7)
    return x_c, feasible, certified


def _l1_admm(A: torch.Tensor, Y: torch.Tensor, *, max_iter: int, check_every: int = 10,
             rho_scale: float = 3.0, relax: float = 1.7, progress: bool = False,
             iter_dtype: torch.dtype = torch.float32, stats: dict | None = None) -> torch.Tensor:
    """Basis pursuit for groups: A (G, m, n), Y (G, m, r) -> X (G, n, r) (iterations in ``iter_dtype``, refit and certificate in float64).

    Over-relaxed ADMM on ``min ||z||_1 + indicator(A x = y)`` subject to ``x = z``. Every
    ``check_every`` iterations, each problem whose support has not changed since the previous
    check is refitted on that support and certified (see :func:`_certify`); certified problems
    stop. Problems never certified return the feasible ADMM iterate (or its refit if feasible and
    of smaller l1 norm).
    """
    dtype = torch.float64
    feas_tol = max(1e-8, 50 * torch.finfo(A.dtype).eps)  # float32 data: y = A x holds to ~1e-7 only
    A64 = A.to(dtype)
    Y64 = Y.to(dtype)
    G, m, n = A64.shape
    r = Y64.shape[2]
    device = A64.device
    Q, R = torch.linalg.qr(A64.transpose(1, 2))  # A^T = Q R, Q (G, n, m): the row space of A
    x_ls = Q @ torch.linalg.solve_triangular(R.transpose(1, 2), Y64, upper=False)  # min-norm solution
    scale = x_ls.abs().amax(dim=1, keepdim=True)
    rho = rho_scale / scale.clamp_min(1e-300)  # soft threshold 1/rho: a fraction of the entries' size

    result = x_ls.clone()
    Q, R, x_ls, rho = (t.to(iter_dtype) for t in (Q, R, x_ls, rho))  # iterate in iter_dtype
    done = Y64.norm(dim=1) == 0  # (G, r): y = 0 has the solution x = 0
    result = torch.where(done.unsqueeze(1), torch.zeros_like(result), result)
    iters = torch.full((G, r), max_iter, dtype=torch.int64)
    wait = torch.full((G, r), check_every, dtype=torch.int64, device=device)
    next_check = torch.zeros((G, r), dtype=torch.int64, device=device)

    # working set: rows ga (groups) and columns ja (problems within a group) still running
    ga = torch.arange(G, device=device)
    ja = torch.arange(r, device=device)
    Q_a, R_a, xls_a, rho_a = Q, R, x_ls, rho
    z = x_ls.clone()
    u = torch.zeros_like(z)
    prev_support = torch.zeros_like(z, dtype=torch.bool)
    streak = torch.zeros(G, r, dtype=torch.int64, device=device)  # checks with an unchanged support
    z_check = z
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=max_iter, desc="basis pursuit (ADMM)", leave=False)
    it = 0
    while it < max_iter and ga.numel() and ja.numel():
        it += 1
        # x: projection of z - u onto {A x = y};  z: soft threshold;  u: scaled dual variable
        v = z - u
        x = v - Q_a @ (Q_a.transpose(1, 2) @ v) + xls_a
        w = relax * x + (1 - relax) * z + u
        z = torch.sign(w) * (w.abs() - 1.0 / rho_a).clamp_min(0)
        u = w - z
        if bar is not None:
            bar.update(1)
        if it % check_every:
            continue
        support = z != 0
        live = ~done[ga][:, ja]
        same = (support == prev_support).all(dim=1)
        prev_support = support
        streak = torch.where(same, streak + 1, torch.zeros_like(streak))
        # large supports cost O(s^3) to refit: try them only once they held for 3 checks
        count = support.sum(dim=1)
        same = same & ((streak >= 3) | (count <= m // 4))
        # a support that failed certification is re-tried after a wait that doubles each time
        wait_a = wait[ga][:, ja]
        wait_a = torch.where(same, wait_a, torch.full_like(wait_a, check_every))
        due = next_check[ga][:, ja] <= it
        stable = same & due & (count <= m) & live
        wait_a = torch.where(stable, (wait_a * 2).clamp_max(16 * check_every), wait_a)
        nc = torch.where(stable | ~same, it + wait_a, next_check[ga][:, ja])
        wait[ga.unsqueeze(1), ja.unsqueeze(0)] = wait_a
        next_check[ga.unsqueeze(1), ja.unsqueeze(0)] = nc
        if stable.any():
            gi, jj = stable.nonzero(as_tuple=True)
            lam = rho_a * u  # in [-1, 1]^n and equal to sign(z) on the support of z
            W0 = torch.linalg.solve_triangular(R_a, Q_a.transpose(1, 2) @ lam, upper=True)  # (Ga, m, ra)
            g_full, j_full = ga[gi], ja[jj]
            if stats is not None:
                stats["attempts"] = stats.get("attempts", 0) + int(stable.sum())
            x_c, _, cert = _certify(A64, Y64, g_full, j_full, z[gi, :, jj].to(dtype), W0[gi, :, jj].to(dtype),
                                    feas_tol)
            if cert.any():
                gc, jc = g_full[cert], j_full[cert]
                result[gc, :, jc] = x_c[cert]
                done[gc, jc] = True
                iters[gc.cpu(), jc.cpu()] = it
        # problems whose ADMM iterate has stopped moving cannot be certified by more iterations
        stalled = ((x - z).norm(dim=1) <= 1e-9 * z.norm(dim=1)) & ((z - z_check).norm(dim=1) <= 1e-9 * z.norm(dim=1))
        z_check = z
        if stalled.any():
            gi, jj = stalled.nonzero(as_tuple=True)
            result[ga[gi], :, ja[jj]] = torch.where(done[ga[gi], ja[jj]].unsqueeze(1), result[ga[gi], :, ja[jj]],
                                                     x[gi, :, jj].to(dtype))
            done[ga[gi], ja[jj]] = True
        # drop finished groups, or finished problems when all share one matrix
        keep_g = ~done[ga][:, ja].all(dim=1)
        if not keep_g.all():
            ga = ga[keep_g]
            Q_a, R_a, xls_a, rho_a, z, u, prev_support, z_check, streak = (
                t[keep_g] for t in (Q_a, R_a, xls_a, rho_a, z, u, prev_support, z_check, streak))
        if ga.numel() == 1:
            keep_j = ~done[ga[0], ja]
            if not keep_j.all():
                ja = ja[keep_j]
                xls_a, rho_a, z, u, prev_support, z_check = (
                    t[:, :, keep_j] for t in (xls_a, rho_a, z, u, prev_support, z_check))
                streak = streak[:, keep_j]
    if bar is not None:
        bar.close()
    if ga.numel() and ja.numel():  # never certified: the ADMM point, or its refit if better
        live = ~done[ga][:, ja]
        gi, jj = live.nonzero(as_tuple=True)
        g_full, j_full = ga[gi], ja[jj]
        v = z - u
        x = v - Q_a @ (Q_a.transpose(1, 2) @ v) + xls_a
        x_end = x[gi, :, jj].to(dtype)
        W0 = torch.zeros(len(gi), m, dtype=dtype, device=device)
        x_c, feasible, _ = _certify(A64, Y64, g_full, j_full, z[gi, :, jj].to(dtype), W0, feas_tol)
        better = feasible & (x_c.abs().sum(dim=1) <= x_end.abs().sum(dim=1))
        result[g_full, :, j_full] = torch.where(better.unsqueeze(1), x_c, x_end)
    if stats is not None:
        stats["iterations"] = it
        stats["certified"] = done.clone()
        stats["iters"] = iters
    return result

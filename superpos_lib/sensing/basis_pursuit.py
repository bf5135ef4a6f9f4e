"""Basis pursuit, ``min ||x||_1 subject to A x = y`` (and its non-negative form, ``min 1^T x subject
to A x = y, x >= 0``): batched over-relaxed ADMM, a least-squares refit on the detected support and a
KKT (dual) certificate of optimality.

The certificate proves that the returned point is *a* minimiser of the linear program (to a relative
1e-7 in objective); it does not prove that the minimiser is unique."""

from __future__ import annotations

import torch

__all__: list[str] = []


def _certify(A64: torch.Tensor, Y64: torch.Tensor, g: torch.Tensor, j: torch.Tensor, z: torch.Tensor,
             W0: torch.Tensor, feas_tol: float = 1e-8, nonnegative: bool = False):
    """Refit and certify the problems (g, j) of a group layout (all float64).

    A64 (G, m, n), Y64 (G, m, r); g, j (P,) which problems; z (P, n) their sparse ADMM iterate;
    W0 (P, m) an approximate dual vector; feas_tol: relative residual that counts as A x = y (the
    rounding level of the caller's data). Returns (x_c (P, n), feasible (P,), certified (P,)).
    Certified means: A x_c = y, and w = W0 + correction satisfies A_S^T w = sign(x_S) exactly and
    ||A^T w||_inf <= 1, the optimality (KKT) conditions of basis pursuit. With ``nonnegative``:
    x_c >= 0, A_S^T w = 1 and max(A^T w) <= 1, the KKT conditions of non-negative basis pursuit.
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
    if nonnegative:
        feasible = feasible & ((coef >= 0) | ~mask).all(dim=1)
        sig = mask.to(coef.dtype)
    else:
        sig = torch.sign(coef) * mask
    d = (sig - (cols @ W0.unsqueeze(-1))[..., 0]) * mask
    w1 = W0 + (cols.transpose(1, 2) @ torch.cholesky_solve(d.unsqueeze(-1), L))[..., 0]  # (P, m)
    W = torch.zeros(A64.shape[0], m, Y64.shape[2], dtype=A64.dtype, device=A64.device)
    W[g, :, j] = w1
    AtW = (At @ W)[g, :, j]  # one product per matrix
    dual_norm = AtW.amax(dim=1) if nonnegative else AtW.abs().amax(dim=1)  # max(A^T w) or ||A^T w||_inf
    certified = feasible & (dual_norm <= 1 + 1e-7)
    return x_c, feasible, certified


def _row_space(A: torch.Tensor, Y: torch.Tensor, dtype: torch.dtype):
    """An orthonormal basis of the row space of each A (G, m, n), by Cholesky QR in ``dtype``:
    A A^T = L L^T, Q^T = L^{-1} A. Returns (Qt (G, m, n), R = L^T (G, m, m), x_ls (G, n, r)) with
    x_ls = A^+ Y the minimum-norm solutions. Falls back to Householder QR in float64 where A A^T is
    too ill-conditioned for Cholesky QR (orthogonality error ~ cond(A)^2 eps)."""
    Ad, Yd = A.to(dtype), Y.to(dtype)
    gram = Ad @ Ad.transpose(1, 2)
    L, info = torch.linalg.cholesky_ex(gram)
    diag = torch.diagonal(L, dim1=1, dim2=2)
    well = (info == 0).all() and bool(((diag.amin(1) / diag.amax(1)) ** 2 > 1e4 * torch.finfo(dtype).eps).all())
    if well:
        Qt = torch.linalg.solve_triangular(L, Ad, upper=False)
        x_ls = Qt.transpose(1, 2) @ torch.linalg.solve_triangular(L, Yd, upper=False)
        return Qt, L.transpose(1, 2), x_ls
    Q, R = torch.linalg.qr(A.to(torch.float64).transpose(1, 2))
    x_ls = Q @ torch.linalg.solve_triangular(R.transpose(1, 2), Y.to(torch.float64), upper=False)
    return Q.transpose(1, 2).to(dtype).contiguous(), R.to(dtype), x_ls.to(dtype)


def _l1_admm(A: torch.Tensor, Y: torch.Tensor, *, max_iter: int, check_every: int = 10,
             rho_scale: float = 3.0, relax: float = 1.7, progress: bool = False,
             iter_dtype: torch.dtype = torch.float32, nonnegative: bool = False,
             stats: dict | None = None) -> torch.Tensor:
    """Basis pursuit for groups: A (G, m, n), Y (G, m, r) -> X (G, n, r) (iterations in ``iter_dtype``, refit and certificate in float64).

    Over-relaxed ADMM on ``min ||z||_1 + indicator(A x = y)`` subject to ``x = z``. Every
    ``check_every`` iterations, each problem whose support has not changed since the previous
    check is refitted on that support and certified (see :func:`_certify`); certified problems
    stop. Problems never certified return the feasible ADMM iterate (or its refit if feasible and
    of smaller l1 norm). ``nonnegative``: the z-step is ``max(w - 1/rho, 0)``, the proximal map of
    ``1^T z`` plus the indicator of ``z >= 0``, and the certificate is the non-negative one.

    ``stats`` (a dict), if given, receives ``certified`` (G, r) bool, ``iters`` (G, r) the iteration
    at which each problem was certified or stopped, ``hit_max_iter`` (G, r) bool (still running at
    ``max_iter``), ``stalled`` (G, r) bool and ``iterations`` (the loop's last iteration).
    """
    dtype = torch.float64
    feas_tol = max(1e-8, 50 * torch.finfo(A.dtype).eps)  # float32 data: y = A x holds to ~1e-7 only
    A64 = A.to(dtype)
    Y64 = Y.to(dtype)
    G, m, n = A64.shape
    r = Y64.shape[2]
    device = A64.device
    Qt, R, x_ls = _row_space(A, Y, iter_dtype)  # A^T = Q R, Qt = Q^T (G, m, n) orthonormal rows
    scale = x_ls.abs().amax(dim=1, keepdim=True)
    rho = rho_scale / scale.clamp_min(torch.finfo(iter_dtype).tiny)  # soft threshold 1/rho: a fraction of the entries' size
    stall_tol = max(1e-9, 10 * torch.finfo(iter_dtype).eps)  # the iterates cannot move less than rounding

    result = x_ls.to(dtype)
    Q = Qt.transpose(1, 2).contiguous()  # (G, n, m); both layouts so that each product reads rows
    done = Y64.norm(dim=1) == 0  # (G, r): y = 0 has the solution x = 0
    certified = done.clone()
    stalled_any = torch.zeros_like(done)
    result = torch.where(done.unsqueeze(1), torch.zeros_like(result), result)
    iters = torch.full((G, r), max_iter, dtype=torch.int64)
    wait = torch.full((G, r), check_every, dtype=torch.int64, device=device)
    next_check = torch.zeros((G, r), dtype=torch.int64, device=device)

    # working set: rows ga (groups) and columns ja (problems within a group) still running
    ga = torch.arange(G, device=device)
    ja = torch.arange(r, device=device)
    Q_a, Qt_a, R_a, xls_a, rho_a = Q, Qt, R, x_ls, rho
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
        x = v - ((v.transpose(1, 2) @ Q_a) @ Qt_a).transpose(1, 2) + xls_a
        w = relax * x + (1 - relax) * z + u
        if nonnegative:
            z = (w - 1.0 / rho_a).clamp_min(0)
        else:
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
            W0 = torch.linalg.solve_triangular(R_a, Qt_a @ lam, upper=True)  # (Ga, m, ra)
            g_full, j_full = ga[gi], ja[jj]
            if stats is not None:
                stats["attempts"] = stats.get("attempts", 0) + int(stable.sum())
            x_c, _, cert = _certify(A64, Y64, g_full, j_full, z[gi, :, jj].to(dtype), W0[gi, :, jj].to(dtype),
                                    feas_tol, nonnegative)
            if cert.any():
                gc, jc = g_full[cert], j_full[cert]
                result[gc, :, jc] = x_c[cert]
                done[gc, jc] = True
                certified[gc, jc] = True
                iters[gc.cpu(), jc.cpu()] = it
        # problems whose ADMM iterate has stopped moving cannot be certified by more iterations
        znorm = z.norm(dim=1)
        stalled = ((x - z).norm(dim=1) <= stall_tol * znorm) & ((z - z_check).norm(dim=1) <= stall_tol * znorm)
        stalled = stalled & ~done[ga][:, ja]
        z_check = z
        if stalled.any():
            gi, jj = stalled.nonzero(as_tuple=True)
            stalled_any[ga[gi], ja[jj]] = True
            iters[ga[gi].cpu(), ja[jj].cpu()] = it
            result[ga[gi], :, ja[jj]] = torch.where(done[ga[gi], ja[jj]].unsqueeze(1), result[ga[gi], :, ja[jj]],
                                                     x[gi, :, jj].to(dtype))
            done[ga[gi], ja[jj]] = True
        # drop finished groups, or finished problems when all share one matrix
        keep_g = ~done[ga][:, ja].all(dim=1)
        if not keep_g.all():
            ga = ga[keep_g]
            Q_a, Qt_a, R_a, xls_a, rho_a, z, u, prev_support, z_check, streak = (
                t[keep_g] for t in (Q_a, Qt_a, R_a, xls_a, rho_a, z, u, prev_support, z_check, streak))
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
        x = v - ((v.transpose(1, 2) @ Q_a) @ Qt_a).transpose(1, 2) + xls_a
        x_end = x[gi, :, jj].to(dtype)
        if nonnegative:
            x_end = x_end.clamp_min(0)
        W0 = torch.zeros(len(gi), m, dtype=dtype, device=device)
        x_c, feasible, _ = _certify(A64, Y64, g_full, j_full, z[gi, :, jj].to(dtype), W0, feas_tol, nonnegative)
        better = feasible & (x_c.abs().sum(dim=1) <= x_end.abs().sum(dim=1))
        result[g_full, :, j_full] = torch.where(better.unsqueeze(1), x_c, x_end)
    if stats is not None:
        stats["iterations"] = it
        stats["certified"] = certified
        stats["iters"] = iters
        stats["stalled"] = stalled_any
        stats["hit_max_iter"] = ~done
    return result

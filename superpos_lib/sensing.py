"""Compressed sensing: batched sparse recovery and the Donoho–Tanner phase transition.

The sensing problem: an unknown ``k``-sparse signal ``x`` in ``R^n`` is observed through
``m < n`` linear measurements ``y = A x``. Every function here is batched: a sensing matrix
``A`` is ``(m, n)`` (shared by every problem) or ``(batch, m, n)`` (one per problem), signals
are ``(batch, n)`` and measurements ``(batch, m)``. One tensor program solves all problems at
once; the only Python loops run over iterations of an algorithm.

Methods of :func:`recover`:

- ``"l1"``: basis pursuit, ``min ||x||_1 subject to A x = y``, solved by ADMM followed by a
  least-squares refit on the detected support; a problem stops as soon as its refit is
  *certified* optimal by a dual vector ``w`` with ``A_S^T w = sign(x_S)`` and
  ``||A^T w||_inf <= 1`` (the KKT conditions of the linear program). Where a linear-programming
  solver finds the sparse solution, the result matches it to rounding error.
- ``"lasso"``: ``min 0.5 ||A x - y||^2 + lam ||x||_1`` by FISTA, for noisy measurements.
- ``"omp"``: orthogonal matching pursuit, ``k`` greedy steps with an incremental QR
  factorisation (Gram–Schmidt) of the chosen columns.
- ``"iht"``: normalised iterative hard thresholding, keeping ``k`` entries, with a final
  least-squares refit on the kept support.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from . import _validate as V
from .device import resolve_device

__all__ = [
    "gaussian_matrix",
    "sparse_signals",
    "soft_threshold",
    "recover",
    "relative_error",
    "recovery_success",
    "phase_transition",
    "transition_point",
    "dt_curve",
    "capacity_asymptotic",
    "METHODS",
]

METHODS = ("l1", "lasso", "omp", "iht")
AMPLITUDES = ("rademacher", "gaussian", "uniform")


# --------------------------------------------------------------------------------------------
# Problem generators
# --------------------------------------------------------------------------------------------
def gaussian_matrix(m: int, n: int, *, batch: int | None = None, generator: torch.Generator | None = None,
                    device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A random sensing matrix with i.i.d. ``N(0, 1/m)`` entries, so every column has expected
    squared norm 1.

    Returns ``(m, n)``, or ``(batch, m, n)`` when ``batch`` is given.
    """
    V.positive_int("m", m)
    V.positive_int("n", n)
    if batch is not None:
        V.positive_int("batch", batch)
    device = resolve_device(device)
    shape = (m, n) if batch is None else (batch, m, n)
    return torch.randn(shape, generator=generator, device=device, dtype=dtype) / math.sqrt(m)


def _k_tensor(name: str, k: Any, batch: int, *, upper: int, upper_name: str, device) -> torch.Tensor:
    """``k`` as an int64 tensor of shape ``(batch,)``; each entry in ``[0, upper]``."""
    if isinstance(k, torch.Tensor):
        if k.ndim != 1 or k.shape[0] != batch or k.dtype.is_floating_point or k.dtype == torch.bool:
            raise ValueError(f"{name} must be an int or an integer tensor of shape ({batch},), "
                             f"got {k.dtype} tensor of shape {tuple(k.shape)}")
        kt = k.to(device=device, dtype=torch.int64)
    else:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise ValueError(f"{name} must be a non-negative integer, got {k!r}")
        kt = torch.full((batch,), int(k), dtype=torch.int64, device=device)
    if batch and kt.min().item() < 0:
        raise ValueError(f"{name} must be >= 0, got {kt.min().item()}")
    if batch and kt.max().item() > upper:
        raise ValueError(f"{name} must be <= {upper_name} = {upper}, got {kt.max().item()}")
    return kt


def sparse_signals(batch: int, n: int, k, *, signed: bool = True, amplitudes: str = "rademacher",
                   generator: torch.Generator | None = None, device=None,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Random ``k``-sparse signals: the support is a uniformly random ``k``-subset of ``n``.

    ``amplitudes`` of the non-zero entries: ``"rademacher"`` (+-1), ``"gaussian"`` (N(0, 1)) or
    ``"uniform"`` (U(-1, 1)); with ``signed=False`` their absolute values are taken (non-negative
    signals). ``k`` is an int or an integer tensor ``(batch,)`` (one sparsity per signal).

    Returns ``(batch, n)``.
    """
    V.positive_int("batch", batch)
    V.positive_int("n", n)
    V.one_of("amplitudes", amplitudes, AMPLITUDES)
    if not isinstance(signed, bool):
        raise ValueError(f"signed must be True or False, got {signed!r}")
    device = resolve_device(device)
    kt = _k_tensor("k", k, batch, upper=n, upper_name="n", device=device)
    # a uniformly random k-subset: the positions whose rank in a random permutation is < k
    ranks = torch.rand(batch, n, generator=generator, device=device).argsort(dim=1).argsort(dim=1)
    support = ranks < kt[:, None]
    if amplitudes == "rademacher":
        values = torch.randint(0, 2, (batch, n), generator=generator, device=device).to(dtype) * 2 - 1
    elif amplitudes == "gaussian":
        values = torch.randn(batch, n, generator=generator, device=device, dtype=dtype)
    else:
        values = torch.rand(batch, n, generator=generator, device=device, dtype=dtype) * 2 - 1
    if not signed:
        values = values.abs()
    return torch.where(support, values, torch.zeros((), dtype=dtype, device=device))


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


def relative_error(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``||x_hat - x|| / ||x||`` per signal (``||x_hat||`` where ``x = 0``).

    ``x_hat``, ``x``: ``(batch, n)``. Returns ``(batch,)``.
    """
    V.tensor("x_hat", x_hat, ndim=2, finite=False)
    V.tensor("x", x, ndim=2)
    if x_hat.shape != x.shape:
        raise ValueError(f"x_hat must have the shape of x {tuple(x.shape)}, got {tuple(x_hat.shape)}")
    diff = (x_hat - x).norm(dim=1)
    norm = x.norm(dim=1)
    return torch.where(norm > 0, diff / norm.clamp_min(torch.finfo(norm.dtype).tiny), diff)


def recovery_success(x_hat: torch.Tensor, x: torch.Tensor, tol: float = 1e-4) -> torch.Tensor:
    """The success criterion of the phase-transition experiments: relative error ``< tol``.

    ``x_hat``, ``x``: ``(batch, n)``. Returns a bool tensor ``(batch,)`` (NaN counts as failure).
    """
    tol = V.positive_float("tol", tol)
    return relative_error(x_hat, x) < tol


# --------------------------------------------------------------------------------------------
# Solvers. Internally every solver works on groups: A (G, m, n) and Y (G, m, r), i.e. G sensing
# matrices each shared by r problems, so that A^T Y is a batched matrix product.
# --------------------------------------------------------------------------------------------
def _gather_columns(A: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """A (G, m, n), idx (G, r, s) -> the chosen columns as rows, (G, r, s, m)."""
    G, m, n = A.shape
    r, s = idx.shape[1], idx.shape[2]
    At = A.transpose(1, 2).unsqueeze(1).expand(G, r, n, m)
    return torch.gather(At, 2, idx.unsqueeze(-1).expand(G, r, s, m))


def _scatter(idx: torch.Tensor, values: torch.Tensor, n: int) -> torch.Tensor:
    """idx, values (G, r, s) -> dense (G, n, r) (duplicates add up)."""
    G, r, _ = idx.shape
    out = torch.zeros(G, r, n, dtype=values.dtype, device=values.device)
    return out.scatter_add(2, idx, values).transpose(1, 2)


def _refit(A: torch.Tensor, Y: torch.Tensor, idx: torch.Tensor, mask: torch.Tensor):
    """Least squares on a support given per problem.

    A (G, m, n), Y (G, m, r), idx (G, r, s) column indices, mask (G, r, s) which of them are
    used. Returns (x (G, n, r), coef (G, r, s), cols (G, r, s, m), cholesky factor, ok (G, r)).
    """
    cols = _gather_columns(A, idx) * mask.unsqueeze(-1)
    eye_pad = torch.diag_embed((~mask).to(A.dtype))
    gram = cols @ cols.transpose(-1, -2) + eye_pad
    rhs = cols @ Y.transpose(1, 2).unsqueeze(-1)  # (G, r, s, 1)
    L, info = torch.linalg.cholesky_ex(gram)
    ok = info == 0
    L = torch.where(ok[..., None, None], L, torch.eye(L.shape[-1], dtype=L.dtype, device=L.device))
    coef = torch.cholesky_solve(rhs, L)[..., 0] * mask
    return _scatter(idx, coef, A.shape[2]), coef, cols, L, ok


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


def _omp(A: torch.Tensor, Y: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Orthogonal matching pursuit for groups. K (G, r): steps per problem. Returns (G, n, r).

    Incremental QR: Qs holds an orthonormal basis of the chosen columns (modified Gram–Schmidt,
    applied twice in float32), Rt the triangular factor, so the residual update and the final coefficients
    cost O(m k) per step instead of a new least-squares solve.
    """
    G, m, n = A.shape
    r = Y.shape[2]
    kmax = int(K.max().item()) if K.numel() else 0
    dtype, device = A.dtype, A.device
    if kmax == 0:
        return torch.zeros(G, n, r, dtype=dtype, device=device)
    At = A.transpose(1, 2)
    Yt = Y.transpose(1, 2)  # (G, r, m)
    resid = Yt.clone()
    Qs = torch.zeros(G, r, kmax, m, dtype=dtype, device=device)
    Rt = torch.zeros(G, r, kmax, kmax, dtype=dtype, device=device)
    chosen = torch.zeros(G, r, kmax, dtype=torch.int64, device=device)
    taken = torch.zeros(G, r, n, dtype=torch.bool, device=device)
    for t in range(kmax):
        live = (K > t)  # (G, r)
        corr = (resid @ A).abs()  # (G, r, n) = |A^T r|
        corr = corr.masked_fill(taken, -1.0)
        j = corr.argmax(dim=2)  # (G, r)
        a = torch.gather(At, 1, j.unsqueeze(-1).expand(G, r, m))  # (G, r, m)
        q = a
        proj = torch.zeros(G, r, t, dtype=dtype, device=device)
        for _ in range(1 if dtype == torch.float64 else 2):  # Gram–Schmidt (twice in float32)
            c = (Qs[:, :, :t] @ q.unsqueeze(-1))[..., 0]  # (G, r, t)
            q = q - (c.unsqueeze(-2) @ Qs[:, :, :t])[..., 0, :]
            proj = proj + c
        nrm = q.norm(dim=2)
        good = live & (nrm > 1e-10 * a.norm(dim=2).clamp_min(1e-30))
        q = torch.where(good.unsqueeze(-1), q / nrm.clamp_min(1e-30).unsqueeze(-1), torch.zeros_like(q))
        Qs[:, :, t] = q
        Rt[:, :, :t, t] = torch.where(good.unsqueeze(-1), proj, torch.zeros_like(proj))
        Rt[:, :, t, t] = torch.where(good, nrm, torch.ones_like(nrm))
        chosen[:, :, t] = torch.where(good, j, torch.zeros_like(j))
        taken = taken | (torch.nn.functional.one_hot(j, n).bool() & good.unsqueeze(-1))
        resid = resid - (resid * q).sum(dim=2, keepdim=True) * q
    b = (Qs @ Yt.unsqueeze(-1))  # (G, r, kmax, 1): Q^T y
    coef = torch.linalg.solve_triangular(Rt, b, upper=True)[..., 0]
    return _scatter(chosen, coef, n)


def _omp_gram(A: torch.Tensor, Y: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """OMP for groups of problems sharing a matrix (Batch-OMP, Rubinstein et al. 2008).

    Uses the Gram matrix ``A^T A`` of each group and the inverse ``M = L^{-1}`` of the Cholesky
    factor of ``A_S^T A_S``, grown by one row per step; the correlations
    ``A^T (y - A x) = A^T y - (A^T A) x`` are one matrix product for the whole group.
    A (G, m, n), Y (G, m, r), K (G, r) -> X (G, n, r).
    """
    G, m, n = A.shape
    r = Y.shape[2]
    kmax = int(K.max().item()) if K.numel() else 0
    dtype, device = A.dtype, A.device
    Xt = torch.zeros(G, r, n, dtype=dtype, device=device)  # the estimates, one row per problem
    if kmax == 0:
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
    for t in range(kmax):
        live = K > t
        corr = torch.baddbmm(AtYt, Xt, gram, alpha=-1).abs_().masked_fill_(taken, -1.0)  # |A^T r|, (G, r, n)
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
    return Xt.transpose(1, 2)


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


def _to_groups(A: torch.Tensor, y: torch.Tensor):
    if A.ndim == 2:
        return A.unsqueeze(0), y.T.contiguous().unsqueeze(0)  # (1, m, n), (1, m, batch)
    return A, y.unsqueeze(-1)  # (batch, m, n), (batch, m, 1)


def _from_groups(X: torch.Tensor, shared: bool) -> torch.Tensor:
    return X[0].T if shared else X[..., 0]


def _check_problem(A: Any, y: Any) -> tuple[int, int, int]:
    V.tensor("A", A, ndim=(2, 3))
    V.tensor("y", y, ndim=2)
    m, n = A.shape[-2], A.shape[-1]
    if A.ndim == 3 and A.shape[0] != y.shape[0]:
        raise ValueError(f"A has {A.shape[0]} matrices but y has {y.shape[0]} rows: "
                         f"y must have shape ({A.shape[0]}, {m}) to match A {tuple(A.shape)}")
    if y.shape[1] != m:
        raise ValueError(f"y must have shape (batch, {m}) to match A {tuple(A.shape)} (m = {m} "
                         f"measurements), got {tuple(y.shape)}")
    if m < 1 or n < 1 or y.shape[0] < 1:
        raise ValueError(f"A and y must be non-empty, got A {tuple(A.shape)} and y {tuple(y.shape)}")
    return y.shape[0], m, n


def recover(A: torch.Tensor, y: torch.Tensor, *, method: str, k=None, lam: float | None = None,
            max_iter: int | None = None, tol: float = 1e-7, progress: bool = False) -> torch.Tensor:
    """Recover sparse signals from measurements ``y = A x`` (all problems at once).

    ``A``: ``(m, n)`` shared by every problem, or ``(batch, m, n)`` one matrix per problem.
    ``y``: ``(batch, m)``. Returns ``x_hat``: ``(batch, n)`` in the dtype of ``A``.

    ``method``:

    - ``"l1"``: basis pursuit ``min ||x||_1 s.t. A x = y`` (ADMM, then a least-squares refit on
      the support certified optimal by a dual vector; ``max_iter`` defaults to 1500). Exact to
      rounding error wherever the linear program's solution is the sparse one.
    - ``"lasso"``: ``min 0.5 ||A x - y||^2 + lam ||x||_1`` (FISTA; needs ``lam >= 0``).
    - ``"omp"``: orthogonal matching pursuit, ``k`` greedy steps (needs ``k``).
    - ``"iht"``: normalised iterative hard thresholding keeping ``k`` entries (needs ``k``).

    ``k``: an int or an integer tensor ``(batch,)`` with ``0 <= k <= m``. ``tol``: relative change
    at which the iterative ``"lasso"`` and ``"iht"`` stop. ``progress``: a tqdm bar for ``"l1"``.
    """
    V.one_of("method", method, METHODS)
    batch, m, n = _check_problem(A, y)
    if y.dtype != A.dtype or y.device != A.device:
        raise ValueError(f"y must have the dtype and device of A ({A.dtype}, {A.device}), got {y.dtype}, {y.device}")
    if max_iter is not None:
        V.positive_int("max_iter", max_iter)
    tol = V.positive_float("tol", tol)
    shared = A.ndim == 2
    if method in ("omp", "iht"):
        if k is None:
            raise ValueError(f"k must be given for method={method!r} (the number of non-zeros to find)")
        K = _k_tensor("k", k, batch, upper=m, upper_name="m (the number of measurements)", device=A.device)
    elif k is not None:
        _k_tensor("k", k, batch, upper=n, upper_name="n", device=A.device)
    if method == "lasso":
        if lam is None:
            raise ValueError("lam must be given for method='lasso' (the weight of the l1 penalty)")
        lam = V.non_negative_float("lam", lam)
    Ag, Yg = _to_groups(A, y)
    if method == "l1":
        X = _l1_admm(Ag, Yg, max_iter=max_iter or 1500, progress=progress).to(A.dtype)
    elif method == "lasso":
        X = _lasso_fista(Ag, Yg, lam, max_iter=max_iter or 2000, tol=tol)
    else:
        Kg = K.view(1, batch) if shared else K.view(batch, 1)
        if method == "omp":
            X = _omp_gram(Ag, Yg, Kg) if shared and batch >= 8 else _omp(Ag, Yg, Kg)
        else:
            X = _iht(Ag, Yg, Kg, max_iter=max_iter or 500, tol=tol)
    return _from_groups(X, shared)


# --------------------------------------------------------------------------------------------
# Phase transitions
# --------------------------------------------------------------------------------------------
def _unit_interval(name: str, values: Any) -> torch.Tensor:
    try:
        t = torch.as_tensor(values, dtype=torch.float64).flatten()
    except Exception:
        raise ValueError(f"{name} must be a number or a sequence of numbers in (0, 1], got {type(values).__name__}") from None
    if t.numel() == 0:
        raise ValueError(f"{name} must hold at least one value in (0, 1]")
    if not (torch.isfinite(t).all() and (t > 0).all() and (t <= 1).all()):
        raise ValueError(f"{name} must lie in (0, 1], got values from {t.min().item():g} to {t.max().item():g}")
    return t


def phase_transition(n: int, deltas: Sequence[float], rhos: Sequence[float], *, trials: int, method: str,
                     success_tol: float = 1e-4, signed: bool = True, amplitudes: str = "rademacher",
                     group_size: int = 1, generator: torch.Generator | None = None, device=None,
                     dtype: torch.dtype = torch.float64, progress: bool = True) -> torch.Tensor:
    """Empirical success rate of a recovery method over a grid of undersampling and sparsity.

    For each ``delta = m / n`` and ``rho = k / m`` (both in (0, 1]), ``m = round(delta n)`` and
    ``k = round(rho m)``; ``trials`` problems ``y = A x`` with Gaussian ``A`` and random
    ``k``-sparse ``x`` are solved, and a trial succeeds when ``||x_hat - x|| / ||x|| <
    success_tol``. ``"omp"`` and ``"iht"`` are told the true ``k``; ``"lasso"`` is not allowed
    here (it is for noisy data). Every ``group_size`` consecutive trials share one matrix
    (``1``: a fresh matrix per trial, as in Donoho and Tanner's experiments).

    All sparsities of one ``delta`` are solved in one batched call. Returns the success rates,
    shape ``(len(rhos), len(deltas))`` (rows: rho, columns: delta).
    """
    V.positive_int("n", n)
    d = _unit_interval("deltas", deltas)
    rh = _unit_interval("rhos", rhos)
    V.positive_int("trials", trials)
    V.one_of("method", method, ("l1", "omp", "iht"))
    success_tol = V.positive_float("success_tol", success_tol)
    V.positive_int("group_size", group_size)
    if trials % group_size:
        raise ValueError(f"group_size must divide trials ({trials}), got {group_size}")
    V.one_of("amplitudes", amplitudes, AMPLITUDES)
    device = resolve_device(device)
    rates = torch.zeros(len(rh), len(d), dtype=torch.float64)
    cols = list(enumerate(d.tolist()))
    if progress:
        from tqdm.auto import tqdm
        cols = tqdm(cols, desc=f"phase transition ({method})", leave=False)
    for j, delta in cols:  # one batched solve per delta (each delta has its own m)
        m = max(1, round(delta * n))
        ks = torch.tensor([round(r * m) for r in rh.tolist()], dtype=torch.int64, device=device)
        K = ks.repeat_interleave(trials)  # (len(rhos) * trials,)
        batch = K.numel()
        x = sparse_signals(batch, n, K, signed=signed, amplitudes=amplitudes, generator=generator,
                           device=device, dtype=dtype)
        G = batch // group_size
        A = gaussian_matrix(m, n, batch=G, generator=generator, device=device, dtype=dtype)
        Y = (A @ x.view(G, group_size, n).transpose(1, 2))  # (G, m, group_size)
        if method == "l1":
            X = _l1_admm(A, Y, max_iter=1500)
        elif method == "omp":
            X = _omp(A, Y, K.view(G, group_size))
        else:
            X = _iht(A, Y, K.view(G, group_size), max_iter=500, tol=1e-7)
        x_hat = X.to(dtype).transpose(1, 2).reshape(batch, n)
        ok = recovery_success(x_hat, x, success_tol).view(len(rh), trials)
        rates[:, j] = ok.double().mean(dim=1).cpu()
    return rates


def transition_point(rhos: Sequence[float], rates: torch.Tensor, trials: int) -> torch.Tensor:
    """Where the empirical success rate crosses 50%, for each column of a phase-transition grid.

    Fits a logistic curve ``P(success) = 1 / (1 + exp(a (rho - rho_50)))`` to each column of
    ``rates`` (``(len(rhos), n_deltas)``, as returned by :func:`phase_transition`) by maximum
    likelihood (``trials`` problems per cell), and returns ``rho_50``, shape ``(n_deltas,)``.
    """
    rh = _unit_interval("rhos", rhos)
    V.tensor("rates", rates, ndim=2)
    V.positive_int("trials", trials)
    if rates.shape[0] != len(rh):
        raise ValueError(f"rates must have one row per rho ({len(rh)}), got shape {tuple(rates.shape)}")
    if ((rates < 0) | (rates > 1)).any():
        raise ValueError("rates must lie in [0, 1]")
    p = rates.to(torch.float64).T  # (D, R)
    center, spread = rh.mean(), rh.std().clamp_min(1e-6) if len(rh) > 1 else torch.tensor(1.0)
    x = ((rh - center) / spread).view(1, -1)  # standardised rho: a well-conditioned Newton system
    X = torch.stack([torch.ones_like(x).expand_as(p), x.expand_as(p)], dim=-1)  # (D, R, 2)
    theta = torch.zeros(p.shape[0], 2, dtype=torch.float64)  # logit P = b0 + b1 * x
    for _ in range(100):  # Newton's method on the binomial log-likelihood, all deltas at once
        q = torch.sigmoid((X @ theta.unsqueeze(-1))[..., 0])
        grad = (X * (p - q).unsqueeze(-1)).sum(1) * trials
        hess = -(X.transpose(1, 2) @ (X * (q * (1 - q)).unsqueeze(-1))) * trials
        hess = hess - 1e-9 * torch.eye(2, dtype=torch.float64)
        step = torch.linalg.solve(hess, grad.unsqueeze(-1))[..., 0]
        theta = theta - step.clamp(-5, 5)  # damped: all-0 or all-1 columns push theta to infinity
    return center - theta[:, 0] / theta[:, 1] * spread


def _normal_pdf(z):
    return np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _normal_sf(z):
    from scipy.special import ndtr
    return ndtr(-z)


def _dmm_objective(z: np.ndarray, delta: np.ndarray, kappa: float) -> np.ndarray:
    G = (1 + z * z) * _normal_sf(z) - z * _normal_pdf(z)
    return (1 - (kappa / delta) * G) / (1 + z * z - kappa * G)


def dt_curve(delta, signal: str = "signed"):
    """The Donoho–Tanner weak threshold ``rho_W(delta)`` of l1 recovery (Gaussian matrices,
    ``n -> infinity``): below it basis pursuit recovers almost every ``k``-sparse signal with
    ``k = rho m``, ``m = delta n``; above it, almost none.

    Computed by the equivalent Donoho–Maleki–Montanari minimax formula
    ``rho(delta) = max_{z >= 0} [1 - (kappa/delta) G(z)] / [1 + z^2 - kappa G(z)]`` with
    ``G(z) = (1 + z^2) Phi(-z) - z phi(z)``, ``kappa = 2`` for signed signals and ``1`` for
    non-negative ones (``phi``, ``Phi``: standard normal density and distribution function);
    the maximum over ``z`` is found numerically (grid, then golden-section refinement).

    ``delta``: a number in (0, 1] (returns a float) or a sequence/array/tensor of them (returns a
    float64 tensor of the same shape). ``signal``: ``"signed"`` or ``"nonnegative"``.
    """
    V.one_of("signal", signal, ("signed", "nonnegative"))
    scalar = isinstance(delta, (int, float)) and not isinstance(delta, bool)
    d = _unit_interval("delta", delta)
    shape = torch.as_tensor(delta).shape
    kappa = 2.0 if signal == "signed" else 1.0
    dn = d.numpy()[:, None]
    grid = np.linspace(1e-6, 12.0, 2401)[None, :]
    values = _dmm_objective(grid, dn, kappa)
    best = values.argmax(axis=1)
    step = grid[0, 1] - grid[0, 0]
    lo = np.clip(grid[0, best] - step, 0.0, None)[:, None]
    hi = (grid[0, best] + step)[:, None]
    golden = (math.sqrt(5) - 1) / 2
    for _ in range(60):  # golden-section search on [lo, hi] for every delta at once
        a = hi - golden * (hi - lo)
        b = lo + golden * (hi - lo)
        fa, fb = _dmm_objective(a, dn, kappa), _dmm_objective(b, dn, kappa)
        left = fa > fb
        hi = np.where(left, b, hi)
        lo = np.where(left, lo, a)
    rho = np.clip(_dmm_objective((lo + hi) / 2, dn, kappa)[:, 0], 0.0, 1.0)
    if scalar:
        return float(rho[0])
    return torch.from_numpy(rho).reshape(shape)


def capacity_asymptotic(delta, n: int | None = None):
    """The small-``delta`` leading term of the l1 phase transition, ``rho ~ 1 / (2 ln(1/delta))``,
    i.e. ``k_max ~ m / (2 ln(n/m))`` (natural log): the outline's ``s_max ~ d / (2 ln(n/d))``.

    ``delta``: a number in (0, 1) or a sequence/tensor of them. Returns ``rho`` (a float, or a
    float64 tensor of the same shape); with ``n`` given, returns ``k_max = rho * delta * n``.
    """
    scalar = isinstance(delta, (int, float)) and not isinstance(delta, bool)
    d = _unit_interval("delta", delta)
    if (d >= 1).any():
        raise ValueError("delta must lie in (0, 1) (the formula diverges at delta = 1)")
    rho = 1.0 / (2.0 * torch.log(1.0 / d))
    if n is not None:
        V.positive_int("n", n)
        rho = rho * d * n
    rho = rho.reshape(torch.as_tensor(delta).shape)
    return float(rho.item()) if scalar else rho

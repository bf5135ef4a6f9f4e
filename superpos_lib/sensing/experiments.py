"""Empirical phase transitions: success rates over a grid of undersampling and sparsity, and the
fitted 50% point."""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch

from .. import _validate as V
from ..device import resolve_device
from .basis_pursuit import _l1_admm
from .iht import _iht
from .omp import _omp
from .problems import AMPLITUDES, gaussian_matrix, recovery_success, sparse_signals

__all__ = ["phase_transition", "transition_point"]


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
                     dtype: torch.dtype = torch.float64, progress: bool = True, return_info: bool = False):
    """Empirical success rate of a recovery method over a grid of undersampling and sparsity.

    For each ``delta = m / n`` and ``rho = k / m`` (both in (0, 1]), ``m = round(delta n)`` and
    ``k = max(1, floor(rho m + 1/2))`` (never 0: ``x = 0`` would count as a success); ``trials`` problems ``y = A x`` with Gaussian ``A`` and random
    ``k``-sparse ``x`` are solved, and a trial succeeds when ``||x_hat - x|| / ||x|| <
    success_tol``. ``"omp"`` and ``"iht"`` are told the true ``k`` (``"iht"`` runs 100 iterations and the final refit); ``"lasso"`` is not allowed
    here (it is for noisy data). Every ``group_size`` consecutive trials share one matrix
    (``1``: a fresh matrix per trial, as in Donoho and Tanner's experiments).

    All sparsities of one ``delta`` are solved in one batched call. Returns the success rates,
    shape ``(len(rhos), len(deltas))`` (rows: rho, columns: delta). With ``return_info=True``,
    ``(rates, info)``: ``info["k"]`` the integer sparsity of each cell (int64), ``info["rho"]`` the
    ratio ``k / m`` actually used (plot and fit at these, not at the nominal ``rhos``) and
    ``info["se"]`` the binomial standard error ``sqrt(rate (1 - rate) / trials)`` of each rate
    (all ``(len(rhos), len(deltas))``). Nominal ``rhos`` that round to the same ``k`` (at small ``m``)
    are one cell: their trials are pooled, every such row gets the pooled rate, and ``info["trials"]``
    counts the pooled trials (the ``se`` uses that count). For ``method="l1"`` it also has
    ``info["uncertified"]``, the number of a cell's trials whose basis pursuit solution came without
    an optimality certificate (the solver stopped at its iteration limit), and
    ``info["uncertified_successes"]``, how many of those still counted as successes (int64, same shape).
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
    V.dtype("dtype", dtype)
    device = V.sampling_device(device, generator)
    rates = torch.zeros(len(rh), len(d), dtype=torch.float64)
    k_used = torch.zeros(len(rh), len(d), dtype=torch.int64)
    rho_used = torch.zeros(len(rh), len(d), dtype=torch.float64)
    n_trials = torch.zeros(len(rh), len(d), dtype=torch.int64)
    uncertified = torch.zeros(len(rh), len(d), dtype=torch.int64)
    uncertified_ok = torch.zeros(len(rh), len(d), dtype=torch.int64)
    cols = list(enumerate(d.tolist()))
    if progress:
        from tqdm.auto import tqdm
        cols = tqdm(cols, desc=f"phase transition ({method})", leave=False)
    for j, delta in cols:  # one batched solve per delta (each delta has its own m)
        m = max(1, round(delta * n))
        ks = torch.tensor([min(m, max(1, math.floor(r * m + 0.5))) for r in rh.tolist()], dtype=torch.int64,
                          device=device)
        k_used[:, j] = ks.cpu()
        rho_used[:, j] = ks.cpu().double() / m
        K = ks.repeat_interleave(trials)  # (len(rhos) * trials,)
        batch = K.numel()
        x = sparse_signals(batch, n, K, signed=signed, amplitudes=amplitudes, generator=generator,
                           device=device, dtype=dtype)
        G = batch // group_size
        A = gaussian_matrix(m, n, batch=G, generator=generator, device=device, dtype=dtype)
        Y = (A @ x.view(G, group_size, n).transpose(1, 2))  # (G, m, group_size)
        stats = {}
        if method == "l1":
            X = _l1_admm(A, Y, max_iter=1500, stats=stats)
        elif method == "omp":
            X = _omp(A, Y, K.view(G, group_size))
        else:
            X = _iht(A, Y, K.view(G, group_size), max_iter=100, tol=1e-7)  # success rates unchanged from 50 to 300
        x_hat = X.to(dtype).transpose(1, 2).reshape(batch, n)
        ok = recovery_success(x_hat, x, success_tol).view(len(rh), trials).double().cpu()
        loose = (~stats["certified"]).reshape(len(rh), trials).cpu() if method == "l1" else torch.zeros_like(ok, dtype=torch.bool)
        for k in k_used[:, j].unique():  # rows whose rho rounds to the same k are one cell: pool their trials
            rows = (k_used[:, j] == k).nonzero().flatten()
            rates[rows, j] = ok[rows].mean()
            n_trials[rows, j] = len(rows) * trials
            uncertified[rows, j] = int(loose[rows].sum())
            uncertified_ok[rows, j] = int((loose[rows] & ok[rows].bool()).sum())
    if return_info:
        info = {"k": k_used, "rho": rho_used, "trials": n_trials, "se": (rates * (1 - rates) / n_trials).sqrt()}
        if method == "l1":
            info.update(uncertified=uncertified, uncertified_successes=uncertified_ok)
        return rates, info
    return rates


def transition_point(rhos, rates: torch.Tensor, trials: int, *, return_se: bool = False):
    """Where the empirical success rate crosses 50%, for each column of a phase-transition grid.

    Fits a logistic curve ``P(success) = 1 / (1 + exp(a (rho - rho_50)))`` to each column of
    ``rates`` (``(len(rhos), n_deltas)``, as returned by :func:`phase_transition`) by maximum
    likelihood (``trials`` problems per cell), and returns ``rho_50``, shape ``(n_deltas,)``.
    ``rhos``: one value per row, or a ``(len(rhos), n_deltas)`` tensor of the ratios actually used
    in each cell (``info["rho"]`` of :func:`phase_transition`). With ``return_se=True``, returns
    ``(rho_50, se, width)``: the standard error of ``rho_50`` by the delta method from the inverse
    Fisher information of the fit, and the fitted logistic scale ``width = 1/a`` (the success rate
    is ``sigmoid(-(rho - rho_50) / width)``; it falls from 90% to 10% over ``4.39 width``).
    """
    V.tensor("rates", rates, ndim=2)
    V.positive_int("trials", trials)
    if isinstance(rhos, torch.Tensor) and rhos.ndim == 2:
        if rhos.shape != rates.shape:
            raise ValueError(f"rhos given per cell must have the shape of rates {tuple(rates.shape)}, got {tuple(rhos.shape)}")
        rh2 = _unit_interval("rhos", rhos).view(rhos.shape).T  # (D, R)
    else:
        rh = _unit_interval("rhos", rhos)
        if rates.shape[0] != len(rh):
            raise ValueError(f"rates must have one row per rho ({len(rh)}), got shape {tuple(rates.shape)}")
        rh2 = rh.view(1, -1).expand(rates.shape[1], -1)
    if ((rates < 0) | (rates > 1)).any():
        raise ValueError("rates must lie in [0, 1]")
    p = rates.to(torch.float64).T  # (D, R)
    center = rh2.mean(dim=1, keepdim=True)
    spread = rh2.std(dim=1, keepdim=True).clamp_min(1e-6) if rh2.shape[1] > 1 else torch.ones_like(center)
    x = (rh2 - center) / spread  # standardised rho: a well-conditioned Newton system
    X = torch.stack([torch.ones_like(x), x], dim=-1)  # (D, R, 2)
    theta = torch.zeros(p.shape[0], 2, dtype=torch.float64)  # logit P = b0 + b1 * x
    for _ in range(100):  # Newton's method on the binomial log-likelihood, all deltas at once
        q = torch.sigmoid((X @ theta.unsqueeze(-1))[..., 0])
        grad = (X * (p - q).unsqueeze(-1)).sum(1) * trials
        hess = -(X.transpose(1, 2) @ (X * (q * (1 - q)).unsqueeze(-1))) * trials
        hess = hess - 1e-9 * torch.eye(2, dtype=torch.float64)
        step = torch.linalg.solve(hess, grad.unsqueeze(-1))[..., 0]
        theta = theta - step.clamp(-5, 5)  # damped: all-0 or all-1 columns push theta to infinity
    b0, b1 = theta[:, 0], theta[:, 1]
    rho50 = center[:, 0] - b0 / b1 * spread[:, 0]
    if not return_se:
        return rho50
    q = torch.sigmoid((X @ theta.unsqueeze(-1))[..., 0])
    info = (X.transpose(1, 2) @ (X * (q * (1 - q)).unsqueeze(-1))) * trials  # Fisher information
    cov = torch.linalg.pinv(info)
    grad = torch.stack([-1 / b1, b0 / b1 ** 2], dim=1) * spread  # d rho50 / d (b0, b1)
    se = ((grad.unsqueeze(1) @ cov @ grad.unsqueeze(-1))[:, 0, 0]).clamp_min(0).sqrt()
    return rho50, se, spread[:, 0] / b1.abs()

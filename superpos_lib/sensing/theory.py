"""Phase-transition theory: the Donoho–Tanner weak threshold (by the Donoho–Maleki–Montanari
minimax formula) and its small-delta asymptotic."""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import _validate as V
from .experiments import _unit_interval

__all__ = ["dt_curve", "capacity_asymptotic", "strong_threshold_asymptotic"]


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
    float64 tensor of the same shape). ``signal``: ``"signed"`` or ``"nonnegative"``. The search
    over ``z`` ends at 12, which is accurate for ``delta`` down to about ``1e-30`` (the maximiser
    grows like ``sqrt(2 ln(1/delta))``).
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


def strong_threshold_asymptotic(delta):
    """The small-``delta`` leading term of the Donoho–Tanner *strong* threshold of l1 recovery,
    ``rho_S ~ 1 / (2 e ln(1/delta))`` (Donoho and Tanner 2009, JAMS): below it one Gaussian matrix
    recovers *every* ``k``-sparse signal (w.h.p.), a factor ``e`` below the weak threshold's
    ``1 / (2 ln(1/delta))``. Only the leading term: not accurate at moderate ``delta``.

    ``delta``: a number in (0, 1) or a sequence/tensor of them. Returns a float or a float64 tensor.
    """
    scalar = isinstance(delta, (int, float)) and not isinstance(delta, bool)
    d = _unit_interval("delta", delta)
    if (d >= 1).any():
        raise ValueError("delta must lie in (0, 1) (the formula diverges at delta = 1)")
    rho = (1.0 / (2.0 * math.e * torch.log(1.0 / d))).reshape(torch.as_tensor(delta).shape)
    return float(rho.item()) if scalar else rho

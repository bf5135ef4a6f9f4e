"""Problem generators and success criteria of sparse recovery: Gaussian sensing matrices, random
k-sparse signals, the relative error and the success test of the phase-transition experiments."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .. import _validate as V
from ..device import resolve_device

__all__ = ["gaussian_matrix", "sparse_signals", "relative_error", "recovery_success", "AMPLITUDES"]

AMPLITUDES = ("rademacher", "gaussian", "uniform")


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
    V.dtype("dtype", dtype)
    device = V.sampling_device(device, generator)
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
    V.dtype("dtype", dtype)
    device = V.sampling_device(device, generator)
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

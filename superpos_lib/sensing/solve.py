"""One entry point for every solver: :func:`recover`."""

from __future__ import annotations

from typing import Any

import torch

from .. import _validate as V
from ._groups import _from_groups, _to_groups
from .basis_pursuit import _l1_admm
from .iht import _iht
from .lasso import _lasso_fista
from .omp import _omp, _omp_gram
from .problems import _k_tensor

__all__ = ["recover", "METHODS"]

METHODS = ("l1", "lasso", "omp", "iht")


def _check_problem(A: Any, y: Any) -> tuple[int, int, int]:
    V.tensor("A", A, ndim=(2, 3), finite=False)
    V.tensor("y", y, ndim=2, finite=False)
    for name, t in (("A", A), ("y", y)):  # a finite sum means finite entries (NaN and inf propagate); recheck an overflow
        if t.numel() and not torch.isfinite(t.sum()) and not torch.isfinite(t.abs().amax()):
            raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
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
            max_iter: int | None = None, tol: float = 1e-7, nonnegative: bool = False,
            return_info: bool = False, progress: bool = False):
    """Recover sparse signals from measurements ``y = A x`` (all problems at once).

    ``A``: ``(m, n)`` shared by every problem, or ``(batch, m, n)`` one matrix per problem.
    ``y``: ``(batch, m)``. Returns ``x_hat``: ``(batch, n)`` in the dtype of ``A``; with
    ``return_info=True``, ``(x_hat, info)`` where ``info`` is a dict of ``(batch,)`` tensors:

    - ``"l1"``: ``certified`` (bool: the KKT certificate proved ``x_hat`` optimal for the linear
      program), ``hit_max_iter`` (bool: still running at ``max_iter``), ``stalled`` (bool: ADMM
      stopped moving before a certificate), ``iterations`` (int);
    - ``"lasso"``, ``"iht"``: ``converged`` (bool: relative change ``<= tol``), ``iterations``;
    - ``"omp"``: ``steps`` (int: columns chosen; fewer than ``k`` where the rest were dependent).

    ``method``:

    - ``"l1"``: basis pursuit ``min ||x||_1 s.t. A x = y`` (ADMM, then a least-squares refit on
      the support certified optimal by a dual vector; ``max_iter`` defaults to 1500). Exact to
      rounding error wherever the linear program's solution is the sparse one.
      Uncertified problems return the last ADMM iterate (or its refit, if feasible and of smaller
      l1 norm): check ``info["certified"]``.
    - ``"lasso"``: ``min 0.5 ||A x - y||^2 + lam ||x||_1`` (FISTA with adaptive restart, each
      problem stopped on its own relative change; needs ``lam >= 0``).
    - ``"omp"``: orthogonal matching pursuit, ``k`` greedy steps (needs ``k``); columns are
      selected by normalised correlation ``|a_j^T r| / ||a_j||``.
    - ``"iht"``: normalised iterative hard thresholding keeping ``k`` entries (needs ``k``), with
      the step-size safeguard of Blumensath and Davies (2010) and a final least-squares refit.

    ``nonnegative``: for ``"l1"`` and ``"lasso"``, add the constraint ``x >= 0`` (non-negative basis
    pursuit ``min 1^T x s.t. A x = y, x >= 0``; non-negative LASSO).

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
    for name, flag in (("nonnegative", nonnegative), ("return_info", return_info), ("progress", progress)):
        if not isinstance(flag, bool):
            raise ValueError(f"{name} must be True or False, got {flag!r}")
    if nonnegative and method not in ("l1", "lasso"):
        raise ValueError(f"nonnegative=True is available for method='l1' and 'lasso', not {method!r}")
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
    stats: dict = {}
    if method == "l1":
        X = _l1_admm(Ag, Yg, max_iter=max_iter or 1500, progress=progress, nonnegative=nonnegative,
                     stats=stats).to(A.dtype)
        keys = ("certified", "hit_max_iter", "stalled", "iters")
    elif method == "lasso":
        X = _lasso_fista(Ag, Yg, lam, max_iter=max_iter or 2000, tol=tol, nonnegative=nonnegative, stats=stats)
        keys = ("converged", "iters")
    else:
        Kg = K.view(1, batch) if shared else K.view(batch, 1)
        if method == "omp":
            X = (_omp_gram if shared and batch >= 8 else _omp)(Ag, Yg, Kg, stats=stats)
            keys = ("steps",)
        else:
            X = _iht(Ag, Yg, Kg, max_iter=max_iter or 500, tol=tol, stats=stats)
            keys = ("converged", "iters")
    x_hat = _from_groups(X, shared)
    if not return_info:
        return x_hat
    info = {("iterations" if key == "iters" else key): _from_groups(stats[key].unsqueeze(1), shared).reshape(batch).cpu()
            for key in keys}
    return x_hat, info

"""Checkers for chapter 4 (Compressed sensing): soft thresholding, one ISTA step, OMP's greedy
choice and the success criterion of the phase-transition experiments."""

import torch

from ..sensing import recovery_success, relative_error, soft_threshold
from ._core import Mismatch, call_student, compare, register


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@register("soft_threshold")
def check_soft_threshold(fn):
    """``fn(v, t)`` returns ``sign(v) * max(|v| - t, 0)`` elementwise."""
    v = torch.randn(4, 7, generator=_gen(0)) * 2
    t = 0.7
    expected = soft_threshold(v, t)
    compare(
        call_student(fn, v.clone(), t),
        expected,
        what="your soft threshold",
        diagnoses={
            "you kept entries with |v| > t unchanged (that is hard thresholding): shrink them by t too.":
                v * (v.abs() > t),
            "you forgot the sign: sign(v) * max(|v| - t, 0) shrinks negative entries towards 0 as well.":
                (v.abs() - t).clamp_min(0),
            "you computed max(v - t, 0), which zeroes every negative entry; use |v| and put the sign back.":
                (v - t).clamp_min(0),
        },
    )
    compare(call_student(fn, torch.tensor([0.3, -0.3]), 0.5), torch.zeros(2),
            what="your soft threshold of entries smaller than t")


def ista_step_reference(A, y, x, lam, step):
    """One ISTA step for 0.5 ||A x - y||^2 + lam ||x||_1 (A (m, n), y (batch, m), x (batch, n))."""
    grad = (x @ A.T - y) @ A
    return soft_threshold(x - step * grad, step * lam)


@register("ista_step")
def check_ista_step(fn):
    """``fn(A, y, x, lam, step)`` returns ``soft(x - step * A^T (A x - y), step * lam)`` for a
    batch: ``A (m, n)``, ``y (batch, m)``, ``x (batch, n)``."""
    g = _gen(1)
    A = torch.randn(6, 10, generator=g) / 6 ** 0.5
    y = torch.randn(3, 6, generator=g)
    x = torch.randn(3, 10, generator=g) * (torch.rand(3, 10, generator=g) < 0.4)
    lam, step = 0.3, 0.5
    expected = ista_step_reference(A, y, x, lam, step)
    grad = (x @ A.T - y) @ A
    compare(
        call_student(fn, A.clone(), y.clone(), x.clone(), lam, step),
        expected,
        what="your ISTA step",
        diagnoses={
            "you thresholded at lam instead of step * lam (the threshold scales with the step size).":
                soft_threshold(x - step * grad, lam),
            "you stepped along +gradient: a gradient step goes downhill, x - step * A^T (A x - y).":
                soft_threshold(x + step * grad, step * lam),
            "you forgot the soft threshold: that is a plain gradient step.": x - step * grad,
            "you forgot the step size on the gradient.": soft_threshold(x - grad, step * lam),
        },
    )


@register("omp_select")
def check_omp_select(fn):
    """``fn(A, residual, taken)`` returns, per problem, the index of the column of ``A`` most
    correlated (in absolute value) with the residual, among those not yet taken.
    ``A (m, n)`` with unit columns, ``residual (batch, m)``, ``taken`` bool ``(batch, n)``;
    returns an int64 tensor ``(batch,)``."""
    g = _gen(2)
    A = torch.randn(8, 12, generator=g)
    A = A / A.norm(dim=0)
    r = torch.randn(5, 8, generator=g)
    corr = r @ A
    taken = torch.zeros(5, 12, dtype=torch.bool)
    best = corr.abs().argmax(dim=1)
    taken[torch.arange(5), best] = True  # the best column is already taken: the answer is the runner-up
    taken[0, 0] = True
    expected = corr.abs().masked_fill(taken, -1).argmax(dim=1)
    got = call_student(fn, A.clone(), r.clone(), taken.clone())
    if not isinstance(got, torch.Tensor):
        raise Mismatch(f"return a tensor of indices, got a {type(got).__name__}.")
    if got.shape != expected.shape:
        raise Mismatch(f"your output has shape {tuple(got.shape)}, expected {tuple(expected.shape)} (one index per problem).")
    if torch.equal(got.long(), best):
        raise Mismatch("you picked columns that are already taken: mask them out before the argmax.")
    if torch.equal(got.long(), corr.masked_fill(taken, -float("inf")).argmax(dim=1)) and not torch.equal(got.long(), expected):
        raise Mismatch("you compared signed correlations: a column with a large negative correlation is "
                       "just as good, so take the absolute value.")
    if not torch.equal(got.long(), expected):
        raise Mismatch(f"your indices {got.tolist()} differ from the expected {expected.tolist()}.")


@register("recovery_success")
def check_recovery_success(fn):
    """``fn(x_hat, x, tol)`` returns a bool tensor ``(batch,)``: ``||x_hat - x|| / ||x|| < tol``."""
    x = torch.randn(6, 9, generator=_gen(3))
    noise = torch.randn(6, 9, generator=_gen(4))
    scales = torch.tensor([0.0, 1e-6, 5e-5, 2e-4, 1e-2, 1.0]).unsqueeze(1)
    x_hat = x + scales * noise / noise.norm(dim=1, keepdim=True) * x.norm(dim=1, keepdim=True)
    x_hat = x_hat * 1.0
    x_big = x * 100
    x_hat_big = x_hat * 100
    tol = 1e-4
    got = call_student(fn, x_hat.clone(), x.clone(), tol)
    expected = recovery_success(x_hat, x, tol)
    if not isinstance(got, torch.Tensor) or got.dtype != torch.bool:
        raise Mismatch("return a bool tensor (e.g. error < tol), one entry per problem.")
    if got.shape != expected.shape:
        raise Mismatch(f"your output has shape {tuple(got.shape)}, expected {tuple(expected.shape)}.")
    absolute = (x_hat - x).norm(dim=1) < tol
    if not torch.equal(got, expected):
        if torch.equal(got, absolute):
            raise Mismatch("you used the absolute error ||x_hat - x||; divide by ||x|| (relative error).")
        raise Mismatch(f"got {got.tolist()}, expected {expected.tolist()} for relative errors "
                       f"{[f'{e:.1e}' for e in relative_error(x_hat, x).tolist()]}.")
    if not torch.equal(call_student(fn, x_hat_big, x_big, tol), expected):
        raise Mismatch("scaling both signals by 100 changed your answer: the criterion must be relative.")

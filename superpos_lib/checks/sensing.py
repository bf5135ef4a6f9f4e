"""Checkers for chapter 4 (Compressed sensing): soft thresholding, one ISTA step, OMP's greedy
choice, non-negative basis pursuit and the success criterion of the phase-transition experiments."""

import torch

from ..sensing import recovery_success, relative_error, soft_threshold
from ._answers import register_answer
from ._core import Mismatch, _as_tensor, _shape_hint, call_student, compare, register

__all__ = ["ista_step_reference"]  # the others are reached via reference_implementation()


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def soft_threshold_reference(v, t):
    """``sign(v) * max(|v| - t, 0)`` entrywise; ``v`` any shape, ``t >= 0``."""
    return torch.sign(v) * (v.abs() - t).clamp_min(0)


def omp_select_reference(A, residual, taken):
    """Index of the most correlated untaken column: ``A (m, n)``, ``residual (batch, m)``, ``taken (batch, n)`` -> int64 ``(batch,)``."""
    return (residual @ A).abs().masked_fill(taken, -1.0).argmax(dim=1)


def recovery_success_reference(x_hat, x, tol=1e-4):
    """``||x_hat - x|| / ||x|| < tol`` per row: ``x_hat, x (batch, n)`` -> bool ``(batch,)``."""
    return (x_hat - x).norm(dim=1) / x.norm(dim=1) < tol


@register("soft_threshold", reference=soft_threshold_reference)
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
            "you clipped v to [-t, t]; soft thresholding sets entries with |v| <= t to 0 and moves the others "
            "t closer to 0.": v.clamp(-t, t),
            "you shrank every entry by t, small ones too: entries with |v| <= t must become exactly 0 "
            "(that is the max(|v| - t, 0)).": v - t * torch.sign(v),
        },
    )
    compare(call_student(fn, torch.tensor([0.3, -0.3]), 0.5), torch.zeros(2),
            what="your soft threshold of entries smaller than t")


def ista_step_reference(A, y, x, lam, step):
    """One ISTA step for 0.5 ||A x - y||^2 + lam ||x||_1 (A (m, n), y (batch, m), x (batch, n))."""
    grad = (x @ A.T - y) @ A
    return soft_threshold(x - step * grad, step * lam)


@register("ista_step", reference=ista_step_reference)
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
            "you soft-thresholded before the gradient step; ISTA takes the gradient step first, then "
            "thresholds the result.": soft_threshold(x, step * lam) - step * grad,
            "you soft-thresholded before the gradient step; ISTA takes the gradient step first, then "
            "thresholds the result. ": (lambda u: u - step * ((u @ A.T - y) @ A))(soft_threshold(x, step * lam)),
            "you divided the gradient by m (the gradient of a mean); the objective is 0.5 ||A x - y||^2, "
            "whose gradient is A^T (A x - y).": soft_threshold(x - step * grad / A.shape[0], step * lam),
            "that is a subgradient step (lam * sign(x)); ISTA handles the l1 term with the soft threshold.":
                x - step * (grad + lam * torch.sign(x)),
        },
    )


@register("omp_select", reference=omp_select_reference)
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
    got = _as_tensor(call_student(fn, A.clone(), r.clone(), taken.clone()), "your indices")
    if got.is_floating_point() or got.dtype == torch.bool:
        raise Mismatch(f"return integer indices (argmax gives int64); yours have dtype {got.dtype}.")
    if got.shape != expected.shape:
        raise Mismatch(f"your output has shape {tuple(got.shape)}, expected {tuple(expected.shape)} (one index per problem).")
    if torch.equal(got.long(), best):
        raise Mismatch("you picked columns that are already taken: mask them out before the argmax.")
    if torch.equal(got.long(), corr.masked_fill(taken, -float("inf")).argmax(dim=1)) and not torch.equal(got.long(), expected):
        raise Mismatch("you compared signed correlations: a column with a large negative correlation is "
                       "just as good, so take the absolute value.")
    if not torch.equal(got.long(), expected):
        raise Mismatch(f"your indices {got.tolist()} differ from the expected {expected.tolist()}.")


def _recovery_cases():
    """Two test batches: errors spread around tol = 1e-4, and errors close to tol = 0.3 with directions
    chosen so that other norms (L1, max) or dividing by ||x_hat|| give different answers."""
    x = torch.randn(6, 9, generator=_gen(3))
    noise = torch.randn(6, 9, generator=_gen(4))
    scales = torch.tensor([0.0, 1e-6, 5e-5, 2e-4, 1e-2, 1.0]).unsqueeze(1)
    x[3] *= 0.01  # a small signal: its absolute error is below tol although its relative error is not
    x_hat = x + scales * noise / noise.norm(dim=1, keepdim=True) * x.norm(dim=1, keepdim=True)
    x2 = torch.randn(6, 9, generator=_gen(5))
    spike = torch.zeros(6, 9)
    spike[torch.arange(6), x2.abs().argmin(dim=1)] = 1.0  # the error sits on x's smallest entry
    aligned = x2 / x2.norm(dim=1, keepdim=True)
    direction = torch.stack([spike[0], aligned[1], spike[2], aligned[3], spike[4], aligned[5]])
    eps = torch.tensor([0.25, 0.32, 0.32, 0.2, 0.5, 0.0]).unsqueeze(1)
    x_hat2 = x2 + eps * direction * x2.norm(dim=1, keepdim=True)
    return (x_hat, x, 1e-4), (x_hat2, x2, 0.3)


def _recovery_mistakes(x_hat, x, tol):
    err = x_hat - x
    rel = err.norm(dim=1) / x.norm(dim=1)
    return [
        ("your answer ignores tol (it did not change when tol did): compare with the tol argument.",
         rel < 1e-4),
        ("you used the absolute error ||x_hat - x||; divide by ||x|| (relative error).", err.norm(dim=1) < tol),
        ("divide by ||x||, the norm of the true signal, not by ||x_hat||.", err.norm(dim=1) / x_hat.norm(dim=1) < tol),
        ("use the Euclidean norm (the default of .norm), not the L1 norm.",
         err.abs().sum(1) / x.abs().sum(1) < tol),
        ("use the Euclidean norm (the default of .norm), not the largest entry (max norm).",
         err.abs().amax(1) / x.abs().amax(1) < tol),
        ("you compared the squared relative error with tol; compare the relative error itself.", rel**2 < tol),
        ("you compared entry by entry; the criterion is about whole vectors: ||x_hat - x|| / ||x|| < tol.",
         torch.isclose(x_hat, x, rtol=tol, atol=0).all(1)),
        ("you returned True for failures: success means the relative error is below tol (<, not >).", rel >= tol),
    ]


@register("recovery_success", reference=recovery_success_reference)
def check_recovery_success(fn):
    """``fn(x_hat, x, tol)`` returns a bool tensor ``(batch,)``: ``||x_hat - x|| / ||x|| < tol``."""
    for x_hat, x, tol in _recovery_cases():
        got = _as_tensor(call_student(fn, x_hat.clone(), x.clone(), tol), "your output")
        expected = recovery_success(x_hat, x, tol)
        if got.dtype != torch.bool:
            raise Mismatch("return a bool tensor (e.g. error < tol), one entry per problem.")
        if got.shape != expected.shape:
            raise Mismatch(f"your output has shape {tuple(got.shape)}, expected {tuple(expected.shape)}.")
        if torch.equal(got, expected):
            continue
        for message, wrong in _recovery_mistakes(x_hat, x, tol):
            if torch.equal(got, wrong):
                raise Mismatch(message)
        raise Mismatch(f"with tol = {tol:g} you returned {got.tolist()}, expected {expected.tolist()} for relative "
                       f"errors {[f'{e:.3g}' for e in relative_error(x_hat, x).tolist()]}.")
    x_hat, x, tol = _recovery_cases()[0]
    if not torch.equal(_as_tensor(call_student(fn, x_hat * 100, x * 100, tol), "your output"),
                       recovery_success(x_hat, x, tol)):
        raise Mismatch("scaling both signals by 100 changed your answer: the criterion must be relative.")


def nonneg_basis_pursuit_reference(A, y):
    """Non-negative basis pursuit, ``min 1^T x`` subject to ``A x = y``, ``x >= 0``, one linear program
    per row: ``A (m, n)``, ``y (batch, m)`` -> ``x (batch, n)`` (float64)."""
    import numpy as np
    from scipy.optimize import linprog

    A_np = np.asarray(A, dtype=np.float64)
    rows = [linprog(np.ones(A_np.shape[1]), A_eq=A_np, b_eq=y_i, bounds=(0, None), method="highs").x
            for y_i in np.asarray(y, dtype=np.float64)]
    return torch.tensor(np.stack(rows))


def _nnbp_case():
    """A 10 x 24 problem with 4 non-negative signals (k = 2, 5, 5, 6) that non-negative basis pursuit
    recovers exactly. Signed basis pursuit recovers only the first: on the others its minimiser has
    negative entries, so a solver that drops the sign constraint is caught."""
    A = torch.randn(10, 24, generator=_gen(7), dtype=torch.float64) / 10 ** 0.5
    x = torch.zeros(4, 24, dtype=torch.float64)
    for row, (seed, k) in enumerate([(100, 2), (103, 5), (105, 5), (111, 6)]):
        g = _gen(seed)
        support = torch.randperm(24, generator=g)[:k]
        x[row, support] = 0.2 + 0.8 * torch.rand(k, generator=g, dtype=torch.float64)
    x[0] *= 3  # entries above 1: an upper bound on x is not part of the program
    return A, x @ A.T, x


@register("nonneg_basis_pursuit", reference=nonneg_basis_pursuit_reference)
def check_nonneg_basis_pursuit(fn):
    """``fn(A, y)`` returns, per row of ``y``, a minimiser of ``sum(x)`` subject to ``A x = y`` and
    ``x >= 0``: ``A (m, n)``, ``y (batch, m)`` -> ``(batch, n)``. Any optimal ``x`` passes (the test
    problems have one)."""
    A, y, x_true = _nnbp_case()
    no_solution = Mismatch("linprog found no solution for some row (its .x is None): check res.status. With "
                           "bounds=(None, None) the program is unbounded (sum(x) can fall forever), with an upper "
                           "bound it can be infeasible; use bounds=(0, None).")
    try:
        got = call_student(fn, A.clone(), y.clone())
    except Mismatch as error:
        if any(sign in str(error) for sign in ("object_", "NoneType", "must have the same shape")):  # a None in the rows
            raise no_solution from None
        raise
    if getattr(got, "dtype", None) == object or (isinstance(got, (list, tuple)) and any(r is None for r in got)):
        raise no_solution
    results = got if isinstance(got, (list, tuple)) else [got]
    if results and all(hasattr(r, "status") and hasattr(r, "x") for r in results):
        raise Mismatch("you returned linprog's result object; return the solutions (its .x, one per row of y, "
                       "stacked into a tensor).")
    got = _as_tensor(got, "your x")
    if got.shape != x_true.shape:
        raise Mismatch(f"your x has shape {tuple(got.shape)}, expected {tuple(x_true.shape)}: one solution "
                       f"(n = {A.shape[1]} entries) per row of y." + _nnbp_shape_hint(got, x_true))
    got = got.detach().to(torch.float64).cpu()
    if not bool(torch.isfinite(got).all()):
        raise Mismatch("your x has NaN or infinite entries: did linprog fail (check res.status) and you "
                       "returned res.x anyway?")
    if bool((got.abs() < 1e-9).all()):
        raise Mismatch("you returned x = 0, which does not explain y: the constraint is the equality A x = y, "
                       "passed as A_eq=A, b_eq=y (with A_ub, b_ub the program only asks A x <= y, and x = 0 wins).")
    residual = (got @ A.T - y).norm(dim=1) / y.norm(dim=1)
    if bool((residual > 1e-6).any()):
        row = int(residual.argmax())
        raise Mismatch(f"your x does not satisfy A x = y (relative residual {residual[row]:.2g} in row {row}): "
                       "solve one linear program per row, with A_eq=A and b_eq=that row of y.")
    least_squares = y @ torch.linalg.pinv(A).T
    if torch.allclose(got, least_squares, atol=1e-6):
        raise Mismatch("that is the minimum l2-norm (least-squares) solution; basis pursuit minimises the "
                       "l1 norm, here sum(x) with x >= 0: a linear program (scipy.optimize.linprog).")
    if float(got.min()) < -1e-7:
        raise Mismatch(f"your x has negative entries (smallest {float(got.min()):.3g}): that is signed basis "
                       "pursuit. Non-negative basis pursuit keeps x >= 0: bounds=(0, None) on every entry, "
                       "and no split into u - v.")
    optimum = x_true.sum(1)  # the test signals are the unique minimisers
    if bool((got.sum(1) > optimum + 1e-6 * (1 + optimum)).any()):
        raise Mismatch("your x is feasible and non-negative, but sum(x) is not the smallest possible: minimise "
                       "c @ x with c = ones(n) in linprog (a negated c, least squares or NNLS do not minimise sum(x)).")
    if not torch.allclose(got, x_true, atol=1e-6):
        raise Mismatch(f"your x differs from the minimiser by up to {float((got - x_true).abs().max()):.3g}.")


def _nnbp_shape_hint(got, expected):
    if got.ndim == 1 and got.shape[0] == expected.shape[1]:
        return " You solved only one problem: loop over the rows of y and stack the solutions."
    return _shape_hint(got, expected)


# ---------------------------------------------------------------- predict

register_answer(
    "omp_gaussian_success", tolerance=0.15,
    explanation="With Gaussian magnitudes the non-zeros differ in size, and OMP's greedy choice finds the large ones "
                "first; each correct pick takes its column out of the residual, which makes the smaller ones easier to "
                "find. With +-1 amplitudes no entry stands out, and one wrong early pick cannot be undone. Read the "
                "third panel of the phase diagram at delta = 0.5, rho = 0.34.")

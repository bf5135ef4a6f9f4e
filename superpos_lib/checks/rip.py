"""Checkers for chapter 5 (The restricted isometry property): coherence, the Welch bound and a
sampled RIP lower bound."""

import math

import torch

from ..rip import mutual_coherence, normalize_columns, welch_bound
from ._core import Mismatch, _close, call_student, compare, register

__all__: list[str] = []  # checkers register themselves; references are reached via reference_implementation()


def coherence_reference(A):
    """Mutual coherence of ``A (m, n)``: the largest |cosine| between two distinct columns (0-d tensor)."""
    return mutual_coherence(A)


def welch_bound_reference(m, n):
    """Welch lower bound ``sqrt((n - m) / (m (n - 1)))`` on the coherence of ``n > m`` unit vectors in R^m."""
    return welch_bound(m, n)


def _sampled_delta(A, supports):
    An = A / A.norm(dim=0, keepdim=True)
    cols = An.T[supports]  # (P, s, m)
    eig = torch.linalg.eigvalsh(cols @ cols.transpose(1, 2))  # ascending, (P, s)
    return torch.maximum(1 - eig[:, 0], eig[:, -1] - 1).max()


def sampled_rip_reference(A, supports):
    """Lower bound on ``delta_s`` from the given supports: ``A (m, n)``, ``supports (P, s)`` int -> 0-d tensor."""
    return _sampled_delta(A, supports)


def _matrix():
    g = torch.Generator().manual_seed(0)
    return torch.randn(5, 9, generator=g, dtype=torch.float64) * torch.linspace(0.5, 2, 9, dtype=torch.float64)


def _coherence_matrix():
    """Columns of different lengths whose most coherent pair points in nearly opposite directions."""
    A = _matrix()
    A[:, 7] = -1.5 * A[:, 2] + 0.1 * A[:, 5]  # cosine with column 2 close to -1
    return A


@register("coherence", reference=coherence_reference)
def check_coherence(fn):
    """``fn(A)`` returns the mutual coherence of ``A (m, n)``: the largest |cosine| between two
    distinct columns (a 0-d tensor)."""
    A = _coherence_matrix()
    expected = mutual_coherence(A)
    raw = (A.T @ A).abs().fill_diagonal_(0).max()
    An = normalize_columns(A)
    signed = (An.T @ An).fill_diagonal_(-2).max()
    with_diag = (An.T @ An).abs().max()
    Ar = A / A.norm(dim=1, keepdim=True)
    got = call_student(fn, A.clone())
    compare(
        got,
        expected,
        what="your coherence",
        diagnoses={
            "you included the diagonal (every column has cosine 1 with itself): exclude i == j.": with_diag,
            "you forgot to normalise the columns: coherence uses cosines, <a_i, a_j> / (||a_i|| ||a_j||).": raw,
            "you forgot the absolute value: a cosine of -0.9 is as coherent as +0.9.": signed,
            "you compared rows; the coherence is about the columns of A (A.T @ A after normalising columns).":
                (Ar @ Ar.T).abs().fill_diagonal_(0).max(),
        },
    )


@register("welch_bound", reference=welch_bound_reference)
def check_welch_bound(fn):
    """``fn(m, n)`` returns ``sqrt((n - m) / (m (n - 1)))`` for ``n > m``."""
    for m, n in ((2, 3), (5, 6), (20, 200), (3, 100)):
        got = call_student(fn, m, n)
        expected = welch_bound(m, n)
        if isinstance(got, str):
            raise Mismatch(f"return a number, not a string (you returned {got!r}).")
        try:
            value = float(got)
        except Exception:
            raise Mismatch(f"return a number, got a {type(got).__name__}.") from None
        if math.isclose(value, expected, rel_tol=1e-6):
            continue
        if math.isclose(value, expected ** 2, rel_tol=1e-6):
            raise Mismatch("you forgot the square root.")
        if math.isclose(value, math.sqrt((n - m) / (n * (m - 1))) if m > 1 else -1, rel_tol=1e-6):
            raise Mismatch("you swapped m and n in the denominator: it is m (n - 1).")
        raise Mismatch(f"for m={m}, n={n} you returned {value:.6g}, expected {expected:.6g}.")


def _rip_diagnoses(A, supports):
    """Messages and the values typical mistakes give for ``(A, supports)``."""
    An = normalize_columns(A)
    cols = An.T[supports]  # (P, s, m)
    eig = torch.linalg.eigvalsh(cols @ cols.transpose(1, 2))
    raw_cols = A.T[supports]
    raw_eig = torch.linalg.eigvalsh(raw_cols @ raw_cols.transpose(1, 2))
    sv = torch.linalg.svdvals(cols)
    outer = torch.linalg.eigvalsh(cols.transpose(1, 2) @ cols)  # (P, m, m): the wrong Gram matrix
    return {
        "normalise the columns of A to unit length first: the RIP compares ||A x||^2 with ||x||^2.":
            torch.maximum(1 - raw_eig[:, 0], raw_eig[:, -1] - 1).max(),
        "use the s x s Gram matrix A_S^T A_S (the columns in S against each other), not the m x m matrix "
        "A_S A_S^T: for s < m that one always has an eigenvalue 0.":
            torch.maximum(1 - outer[:, 0], outer[:, -1] - 1).max(),
        "you only used the largest eigenvalue (U_s = lambda_max - 1); delta_s = max(L_s, U_s) with "
        "L_s = 1 - lambda_min.": (eig[:, -1] - 1).max(),
        "you only used the smallest eigenvalue (L_s = 1 - lambda_min); delta_s = max(L_s, U_s) with "
        "U_s = lambda_max - 1.": (1 - eig[:, 0]).max(),
        "you used singular values of A_S; the RIP uses eigenvalues of A_S^T A_S (their squares).":
            torch.maximum(1 - sv[:, -1], sv[:, 0] - 1).max(),
        "you averaged over the supports; the bound is the largest value over them (max).":
            torch.maximum(1 - eig[:, 0], eig[:, -1] - 1).mean(),
    }


def _rip_cases():
    """Two test problems: random supports where U_s dominates, and a matrix with a nearly
    dependent triple of columns (eigenvalues near 0, 3/2, 3/2) where L_s dominates (so using one extreme only fails one of them)."""
    A = _matrix()
    supports = torch.rand(40, 9, generator=torch.Generator().manual_seed(1)).argsort(dim=1)[:, :3]
    g = torch.Generator().manual_seed(2)
    q = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))[0].T  # an orthonormal basis
    noise = 0.15 * torch.randn(3, 6, generator=g, dtype=torch.float64)
    mercedes = [math.cos(t) * q[0] + math.sin(t) * q[1] for t in (0.0, 2 * math.pi / 3, 4 * math.pi / 3)]
    columns = [c + e for c, e in zip(mercedes, noise)] + [q[2], q[3], 2 * q[4], q[5], 0.8 * q[2] + 0.6 * q[3]]
    B = torch.stack(columns, dim=1)  # (6, 8); columns 0, 1, 2 nearly in one plane: eigenvalues ~ 0, 3/2, 3/2
    supports_b = torch.tensor([[0, 1, 2], [3, 4, 5], [4, 5, 6], [3, 6, 7]])
    return (A, supports), (B, supports_b)


@register("sampled_rip", reference=sampled_rip_reference)
def check_sampled_rip(fn):
    """``fn(A, supports)`` returns the lower bound on ``delta_s`` from the given supports: with
    unit-normalised columns, the largest ``max(1 - lambda_min, lambda_max - 1)`` of
    ``A_S^T A_S`` over the rows ``S`` of ``supports`` (an int tensor ``(P, s)``); a 0-d tensor."""
    for i, (A, supports) in enumerate(_rip_cases()):
        expected = _sampled_delta(A, supports)
        # a mistake that happens to give the right value on one case is caught (and named) on the other
        diagnoses = {m: w for m, w in _rip_diagnoses(A, supports).items() if not _close(w, expected, 1e-4, 1e-5)}
        compare(
            call_student(fn, A.clone(), supports.clone()),
            expected,
            what="your sampled delta_s" + ("" if i == 0 else " on a second matrix"),
            diagnoses=diagnoses,
        )
    # the 4 vertices of a regular tetrahedron in R^3: A_S^T A_S has eigenvalues 0, 4/3, 4/3, 4/3,
    # so L_4 = 1 exceeds U_4 = 1/3
    tetra = torch.tensor([[1.0, 1, -1, -1], [1, -1, 1, -1], [1, -1, -1, 1]], dtype=torch.float64)
    got = call_student(fn, tetra.clone(), torch.tensor([[0, 1, 2, 3]]))
    compare(got, torch.tensor(1.0, dtype=torch.float64), what="your sampled delta_4 of the tetrahedron frame",
            atol=1e-6)

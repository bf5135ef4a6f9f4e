"""Checkers for chapter 5 (The restricted isometry property): coherence, the Welch bound and a
sampled RIP lower bound."""

import math

import torch

from ..rip import mutual_coherence, normalize_columns, welch_bound
from ._core import Mismatch, call_student, compare, register


def _matrix():
    g = torch.Generator().manual_seed(0)
    return torch.randn(5, 9, generator=g, dtype=torch.float64) * torch.linspace(0.5, 2, 9, dtype=torch.float64)


@register("coherence")
def check_coherence(fn):
    """``fn(A)`` returns the mutual coherence of ``A (m, n)``: the largest |cosine| between two
    distinct columns (a 0-d tensor)."""
    A = _matrix()
    expected = mutual_coherence(A)
    raw = (A.T @ A).abs().fill_diagonal_(0).max()
    An = normalize_columns(A)
    signed = (An.T @ An).fill_diagonal_(-2).max()
    with_diag = (An.T @ An).abs().max()
    got = call_student(fn, A.clone())
    compare(
        got,
        expected,
        what="your coherence",
        diagnoses={
            "you included the diagonal (every column has cosine 1 with itself): exclude i == j.": with_diag,
            "you forgot to normalise the columns: coherence uses cosines, <a_i, a_j> / (||a_i|| ||a_j||).": raw,
            "you forgot the absolute value: a cosine of -0.9 is as coherent as +0.9.": signed,
        },
    )


@register("welch_bound")
def check_welch_bound(fn):
    """``fn(m, n)`` returns ``sqrt((n - m) / (m (n - 1)))`` for ``n > m``."""
    for m, n in ((2, 3), (5, 6), (20, 200), (3, 100)):
        got = call_student(fn, m, n)
        expected = welch_bound(m, n)
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


@register("sampled_rip")
def check_sampled_rip(fn):
    """``fn(A, supports)`` returns the lower bound on ``delta_s`` from the given supports: with
    unit-normalised columns, the largest ``max(1 - lambda_min, lambda_max - 1)`` of
    ``A_S^T A_S`` over the rows ``S`` of ``supports`` (an int tensor ``(P, s)``); a 0-d tensor."""
    A = _matrix()
    g = torch.Generator().manual_seed(1)
    supports = torch.rand(40, 9, generator=g).argsort(dim=1)[:, :3]
    An = normalize_columns(A)
    cols = An.T[supports]  # (P, s, m)
    eig = torch.linalg.eigvalsh(cols @ cols.transpose(1, 2))
    expected = torch.maximum(1 - eig[:, 0], eig[:, -1] - 1).max()
    raw_cols = A.T[supports]
    raw_eig = torch.linalg.eigvalsh(raw_cols @ raw_cols.transpose(1, 2))
    sv = torch.linalg.svdvals(cols)
    compare(
        call_student(fn, A.clone(), supports.clone()),
        expected,
        what="your sampled delta_s",
        diagnoses={
            "normalise the columns of A to unit length first: the RIP compares ||A x||^2 with ||x||^2.":
                torch.maximum(1 - raw_eig[:, 0], raw_eig[:, -1] - 1).max(),
            "you only used the largest eigenvalue (U_s); delta_s = max(L_s, U_s) with L_s = 1 - lambda_min.":
                (eig[:, -1] - 1).max(),
            "you used singular values of A_S; the RIP uses eigenvalues of A_S^T A_S (their squares).":
                torch.maximum(1 - sv[:, -1], sv[:, 0] - 1).max(),
        },
    )
    # the 4 vertices of a regular tetrahedron in R^3: A_S^T A_S has eigenvalues 0, 4/3, 4/3, 4/3,
    # so L_4 = 1 exceeds U_4 = 1/3
    tetra = torch.tensor([[1.0, 1, -1, -1], [1, -1, 1, -1], [1, -1, -1, 1]], dtype=torch.float64)
    got = call_student(fn, tetra.clone(), torch.tensor([[0, 1, 2, 3]]))
    compare(got, torch.tensor(1.0, dtype=torch.float64), what="your sampled delta_4 of the tetrahedron frame",
            diagnoses={"you only used the largest eigenvalue (U_s = 1/3 here); delta_s = max(L_s, U_s) "
                       "and L_s = 1 - lambda_min = 1.": torch.tensor(1 / 3, dtype=torch.float64)}, atol=1e-6)

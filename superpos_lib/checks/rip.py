"""Checkers for chapter 5 (The restricted isometry property): coherence, the Welch bound, a
sampled RIP lower bound, one step of the greedy support search, and two answer exercises (the learned
pentagon's coherence; which overlaps training keeps small)."""

import math

import torch

from ..rip import mutual_coherence, normalize_columns, welch_bound
from ._answers import register_answer
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


# ---------------------------------------------------------------- the greedy support swap

def greedy_swap_reference(An, S):
    """One step of the greedy search for a large ``lambda_max(A_S^T A_S)``: ``An (m, n)`` has unit columns,
    ``S (s,)`` is a support (int64). With ``v`` the eigenvector of the largest eigenvalue, the entry ``i``
    with the smallest ``|v_i|`` leaves, and the column ``j`` outside ``S`` with the largest
    ``|a_j . u|``, ``u = A_S v - v_i a_i``, takes its place. Returns the new support ``(s,)`` (int64)."""
    cols = An[:, S]  # (m, s)
    vec = torch.linalg.eigh(cols.T @ cols).eigenvectors[:, -1]  # eigh sorts ascending: the last is lambda_max's
    out = vec.abs().argmin()
    u = cols @ vec - vec[out] * cols[:, out]
    score = (An.T @ u).abs()
    score[S] = -math.inf
    new = S.clone()
    new[out] = score.argmax()
    return new


def _swap_variants(An, S):
    """The new support (sorted) that the right rule and typical wrong rules give, as float64 tensors."""
    cols = An[:, S]
    eig, vec = torch.linalg.eigh(cols.T @ cols)

    def swap(v, out, u, signed=False):
        score = (An.T @ u) if signed else (An.T @ u).abs()
        score[S] = -math.inf
        new = S.clone()
        new[out] = score.argmax()
        return new.sort().values.to(torch.float64)

    v_max, v_min = vec[:, -1], vec[:, 0]
    small, large = v_max.abs().argmin(), v_max.abs().argmax()
    u = cols @ v_max - v_max[small] * cols[:, small]
    small_min = v_min.abs().argmin()
    return swap(v_max, small, u), {
        "you swapped out the entry with the LARGEST weight |v_i|; the one that matters least (smallest |v_i|) "
        "should leave.": swap(v_max, large, cols @ v_max - v_max[large] * cols[:, large]),
        "you used the eigenvector of the smallest eigenvalue: eigh sorts eigenvalues in ascending order, so "
        "lambda_max's eigenvector is the last column, eigenvectors[:, -1].":
            swap(v_min, small_min, cols @ v_min - v_min[small_min] * cols[:, small_min]),
        "rank the candidate columns by |a_j . u|: a column pointing against u helps as much, since its "
        "weight can be negative.": swap(v_max, small, u, signed=True),
        "build u from the columns that stay: remove the outgoing column's part, u = A_S v - v_i a_i.":
            swap(v_max, small, cols @ v_max),
    }


def _swap_cases():
    """Three (An, S) problems with clear gaps between the weights |v_i| (at least 0.13)."""
    cases = []
    for seed in (14, 31, 39):  # on each, every wrong rule below gives a support of its own
        g = torch.Generator().manual_seed(seed)
        A = torch.randn(8, 20, generator=g, dtype=torch.float64)
        S = torch.randperm(20, generator=g)[:4]
        cases.append((A / A.norm(dim=0), S))
    return cases


@register("greedy_swap", reference=greedy_swap_reference)
def check_greedy_swap(fn):
    """``fn(An, S)`` returns the support after one greedy swap that pushes ``lambda_max`` up."""
    for i, (An, S) in enumerate(_swap_cases()):
        expected, wrong = _swap_variants(An, S)
        got = call_student(fn, An.clone(), S.clone())
        if got is None:
            raise Mismatch("your function returned None: return the new support (a tensor of s column indices).")
        got = torch.as_tensor(got)
        if got.numel() == 1 and S.numel() > 1:
            raise Mismatch("return the whole new support (s column indices), not only the column that comes in.")
        if got.is_floating_point():
            raise Mismatch("the support should hold integer column indices (int64), not floats.")
        if got.shape != S.shape:
            raise Mismatch(f"your new support has shape {tuple(got.shape)}, expected {tuple(S.shape)} "
                           "(as many indices as the old one).")
        if got.unique().numel() < got.numel():
            raise Mismatch("your new support repeats a column: the incoming column must come from outside S "
                           "(set the scores of the columns in S to -inf before the argmax).")
        if torch.equal(got.sort().values, S.sort().values):
            raise Mismatch("your support did not change: one entry must be replaced by a column from outside S.")
        diagnoses = {m: w for m, w in wrong.items() if not torch.equal(w, expected)}
        compare(got.sort().values.to(torch.float64), expected, what="your new support (sorted)"
                + ("" if i == 0 else f" on test matrix {i + 1}"), diagnoses=diagnoses, atol=0, rtol=0)


# ---------------------------------------------------------------- predict and interpret

register_answer(
    "pentagon_coherence", tolerance=0.03,
    explanation="Coherence counts |cos|, so a direction and its negative are the same line. Five arms 72 degrees "
                "apart give neighbours cos 72 = 0.31, but the next-but-one pair sits at 144 degrees, cos = -0.81: "
                "as lines those two are only 36 degrees apart, and |cos 144| = cos 36 = 0.81 is the coherence.")

register_answer(
    "overlap_sign", choices=["positive", "negative", "mixed"],
    explanation="Compare the columns mu+ (largest positive cosine) and mu- (largest negative one, in size) in the "
                "table: a positive overlap makes an absent feature's read-out positive (a false positive that the "
                "ReLU passes), a negative one is clipped by the ReLU, so training pushes the positive ones down.")

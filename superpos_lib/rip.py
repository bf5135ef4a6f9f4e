"""Coherence and the restricted isometry property (RIP) of a sensing matrix.

For ``A`` with unit-norm columns and sparsity ``s``, the RIP constants are the smallest ``L_s``,
``U_s`` with ``(1 - L_s) ||x||^2 <= ||A x||^2 <= (1 + U_s) ||x||^2`` for every ``s``-sparse
``x``; ``delta_s = max(L_s, U_s)``. Equivalently ``1 - L_s`` and ``1 + U_s`` are the smallest and
largest eigenvalues of ``A_S^T A_S`` over all supports ``|S| = s``. Computing them exactly means
checking all ``C(n, s)`` supports and is NP-hard in general (Tillmann & Pfetsch 2014): any
function here that samples supports returns *lower bounds* on ``L_s``, ``U_s`` and ``delta_s``.

Every function takes ``A`` as ``(m, n)`` or a batch ``(batch, m, n)``; columns are normalised
to unit length first where the definition assumes it (say so in each docstring).
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import torch

from . import _validate as V

__all__ = [
    "normalize_columns",
    "mutual_coherence",
    "welch_bound",
    "coherence_guarantee",
    "RIPBound",
    "rip_lower_bound",
    "extreme_singular_values",
    "rip_exhaustive",
    "scale_optimal_delta",
    "gershgorin_upper_bound",
    "signed_coherence",
    "frame_potential_ratio",
    "rms_coherence",
    "etf_possible",
]


def _matrix(A) -> torch.Tensor:
    V.tensor("A", A, ndim=(2, 3))
    if A.shape[-1] < 1 or A.shape[-2] < 1:
        raise ValueError(f"A must have at least one row and one column, got shape {tuple(A.shape)}")
    if (A.norm(dim=-2) == 0).any():
        raise ValueError("A must not have an all-zero column (its direction is undefined)")
    return A


def normalize_columns(A: torch.Tensor) -> torch.Tensor:
    """``A`` with every column scaled to unit Euclidean norm. ``A``: ``(..., m, n)``."""
    _matrix(A)
    return A / A.norm(dim=-2, keepdim=True)


def mutual_coherence(A: torch.Tensor) -> torch.Tensor:
    """``mu(A) = max_{i != j} |<a_i, a_j>| / (||a_i|| ||a_j||)``: the largest |cosine| between
    two distinct columns.

    ``A``: ``(m, n)`` with ``n >= 2``, or ``(batch, m, n)``. Returns a scalar tensor, or ``(batch,)``.
    """
    _matrix(A)
    if A.shape[-1] < 2:
        raise ValueError(f"A must have at least 2 columns to have a coherence, got {A.shape[-1]}")
    An = normalize_columns(A)
    gram = (An.transpose(-1, -2) @ An).abs()
    eye = torch.eye(A.shape[-1], dtype=torch.bool, device=A.device)
    return gram.masked_fill(eye, 0.0).amax(dim=(-2, -1))


def welch_bound(m: int, n: int) -> float:
    """The Welch bound ``sqrt((n - m) / (m (n - 1)))``: no ``n`` unit vectors in ``R^m`` (``n > m``)
    have a smaller coherence; frames that meet it are equiangular tight frames. Returns 0 for
    ``n <= m`` (orthonormal columns exist)."""
    V.positive_int("m", m)
    V.positive_int("n", n)
    if n < 2:
        raise ValueError(f"n must be at least 2 (two vectors to compare), got {n}")
    if n <= m:
        return 0.0
    return math.sqrt((n - m) / (m * (n - 1)))


def coherence_guarantee(mu) -> float | torch.Tensor:
    """The coherence guarantee (Donoho & Elad 2003; Tropp 2004): if ``k < (1 + 1/mu) / 2``, every
    ``k``-sparse ``x`` is the unique sparsest solution of ``A x = y`` and both basis pursuit and
    OMP recover it. Returns that bound ``(1 + 1/mu) / 2`` (a float for a number, a tensor for a
    tensor; ``inf`` for ``mu = 0``). ``mu`` must lie in [0, 1]."""
    if isinstance(mu, torch.Tensor):
        V.tensor("mu", mu)
        if ((mu < 0) | (mu > 1)).any():
            raise ValueError("mu must lie in [0, 1] (a coherence is a |cosine|)")
        return (1 + 1 / mu) / 2
    if isinstance(mu, bool) or not isinstance(mu, (int, float)) or not math.isfinite(mu) or not 0 <= mu <= 1:
        raise ValueError(f"mu must be a number in [0, 1] (a coherence is a |cosine|), got {mu!r}")
    return math.inf if mu == 0 else (1 + 1 / mu) / 2


class RIPBound(NamedTuple):
    """Lower bounds on the RIP constants found by sampling supports: ``L`` on ``L_s``, ``U`` on
    ``U_s``, ``delta = max(L, U)`` on ``delta_s`` (scalars, or ``(batch,)`` tensors)."""

    L: torch.Tensor
    U: torch.Tensor
    delta: torch.Tensor


def _extremes(An: torch.Tensor, supports: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """An (B, m, n), supports (B, P, s) -> smallest and largest eigenvalue of A_S^T A_S, (B, P)."""
    B, m, n = An.shape
    P, s = supports.shape[1], supports.shape[2]
    cols = torch.gather(An.transpose(1, 2).unsqueeze(1).expand(B, P, n, m), 2,
                        supports.unsqueeze(-1).expand(B, P, s, m))  # (B, P, s, m)
    eig = torch.linalg.eigvalsh(cols @ cols.transpose(-1, -2))  # ascending, (B, P, s)
    return eig[..., 0], eig[..., -1]


def _random_supports(B: int, P: int, n: int, s: int, generator, device) -> torch.Tensor:
    return torch.rand(B, P, n, generator=generator, device=device).argsort(dim=-1)[..., :s]


def rip_lower_bound(A: torch.Tensor, s: int, *, n_supports: int = 1000, method: str = "random",
                    generator: torch.Generator | None = None) -> RIPBound:
    """Lower bounds on the RIP constants ``L_s``, ``U_s``, ``delta_s`` of ``A`` (columns normalised
    to unit norm first), from ``n_supports`` supports of size ``s``.

    These are **lower bounds only**: the true constants are maxima over all ``C(n, s)``
    supports, which no sampling can certify (computing them is NP-hard).

    ``method="random"``: ``n_supports`` uniformly random supports. ``method="greedy"``: the same
    budget of eigenvalue computations spent on local search: 8 random starting supports (per
    bound) are changed one entry at a time, the entry with the least weight in the extreme
    eigenvector ``v`` swapped for the column ``a_j`` with the largest ``|a_j . A_S' v|`` (``S'``:
    the support without that entry), which moves ``lambda_max`` up (for ``U``) or ``lambda_min``
    down (for ``L``) the most to first order; the best value seen is kept. One start contains the
    most coherent pair of columns, so for ``s >= 2`` both bounds are at least the coherence ``mu``
    (exact for ``s = 2``). It finds much larger
    values than random sampling with the same budget.

    ``A``: ``(m, n)`` or ``(batch, m, n)``; ``1 <= s <= min(m, n)``. Returns :class:`RIPBound`
    (scalars, or ``(batch,)`` tensors).
    """
    _matrix(A)
    m, n = A.shape[-2], A.shape[-1]
    V.positive_int("s", s)
    if s > min(m, n):
        raise ValueError(f"s must be <= min(m, n) = {min(m, n)} (with s > m every support's columns are "
                         f"linearly dependent, so L_s = 1 trivially), got {s}")
    V.positive_int("n_supports", n_supports)
    V.one_of("method", method, ("random", "greedy"))
    V.generator_on("generator", generator, A.device)
    single = A.ndim == 2
    An = normalize_columns(A if not single else A.unsqueeze(0)).to(torch.float64)
    B = An.shape[0]
    device = An.device
    if method == "random":
        lo, hi = _extremes(An, _random_supports(B, n_supports, n, s, generator, device))
        lam_min, lam_max = lo.amin(dim=1), hi.amax(dim=1)
    else:
        lam_min, lam_max = _greedy(An, s, n_supports, generator)
    L = (1 - lam_min).clamp_min(0).to(A.dtype)
    U = (lam_max - 1).clamp_min(0).to(A.dtype)
    delta = torch.maximum(L, U)
    if single:
        L, U, delta = L[0], U[0], delta[0]
    return RIPBound(L, U, delta)


def _greedy(An: torch.Tensor, s: int, budget: int, generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Local search for extreme eigenvalues of A_S^T A_S; about ``budget`` eigen-solves per bound."""
    B, m, n = An.shape
    starts = 8
    steps = max(1, budget // (2 * starts))  # each step: one eigen-solve per start and per bound
    device = An.device
    results = []
    for sign in (1.0, -1.0):  # +1: maximise lambda_max; -1: minimise lambda_min
        S = _random_supports(B, starts, n, s, generator, device)  # (B, P, s)
        if s >= 2:  # the first start holds the most coherent pair: then U >= mu and L >= mu
            S[:, 0] = _with_pair(S[:, 0], _most_coherent_pair(An))
        best = torch.full((B, starts), -math.inf, dtype=An.dtype, device=device)
        for _ in range(steps):
            cols = torch.gather(An.transpose(1, 2).unsqueeze(1).expand(B, starts, n, m), 2,
                                S.unsqueeze(-1).expand(B, starts, s, m))  # (B, P, s, m)
            eig, vec = torch.linalg.eigh(cols @ cols.transpose(-1, -2))
            idx = -1 if sign > 0 else 0
            value = sign * eig[..., idx]  # larger is better
            best = torch.maximum(best, value)
            v = vec[..., idx]  # (B, P, s): extreme eigenvector in support coordinates
            # swap out the entry i with the smallest |v_i|; with u = A_S v - v_i a_i, putting
            # column j in its place with the best weight c gives ||u + c a_j||^2 = ||u||^2 +- (a_j . u)^2
            # at the optimum, so the column with the largest |a_j . u| moves lambda furthest
            outgoing = v.abs().argmin(dim=2)  # (B, P)
            v_out = v.scatter(2, outgoing.unsqueeze(-1), 0.0)
            u = (v_out.unsqueeze(-1) * cols).sum(dim=2)  # (B, P, m)
            score = (u @ An).abs().scatter(2, S, -math.inf)  # (B, P, n)
            incoming = score.argmax(dim=2)  # (B, P)
            S = S.scatter(2, outgoing.unsqueeze(-1), incoming.unsqueeze(-1))
        results.append(best.amax(dim=1) * sign)
    lam_max, lam_min = results
    return lam_min, lam_max


def _most_coherent_pair(An: torch.Tensor) -> torch.Tensor:
    """An (B, m, n) unit columns -> indices (B, 2) of the pair with the largest |cosine|."""
    B, m, n = An.shape
    gram = (An.transpose(1, 2) @ An).abs()
    gram = gram.masked_fill(torch.eye(n, dtype=torch.bool, device=An.device), -1.0)
    flat = gram.view(B, -1).argmax(dim=1)
    return torch.stack([flat // n, flat % n], dim=1)


def _with_pair(S: torch.Tensor, pair: torch.Tensor) -> torch.Tensor:
    """S (B, s) supports, pair (B, 2) -> supports that contain the pair (other entries kept)."""
    B, s = S.shape
    rest = S.masked_fill((S.unsqueeze(-1) == pair.unsqueeze(1)).any(-1), -1)  # drop pair members
    order = (rest < 0).to(torch.int64).argsort(dim=1, stable=True)  # kept entries first
    rest = torch.gather(rest, 1, order)[:, : s - 2]
    return torch.cat([pair, rest], dim=1)


def extreme_singular_values(A: torch.Tensor, s: int, n_supports: int, *,
                            generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Smallest and largest singular values of ``n_supports`` random ``m x s`` column
    submatrices ``A_S`` (columns of ``A`` used as they are, not normalised), to compare with the
    Bai–Yin / Gordon prediction ``1 -+ sqrt(s / m)`` for ``N(0, 1/m)`` entries.

    ``A``: ``(m, n)``. Returns ``(sigma_min, sigma_max)``, each ``(n_supports,)``.
    """
    V.tensor("A", A, ndim=2)
    V.non_empty("A", A)
    m, n = A.shape
    V.positive_int("s", s)
    if s > min(m, n):
        raise ValueError(f"s must be <= min(m, n) = {min(m, n)}, got {s}")
    V.positive_int("n_supports", n_supports)
    V.generator_on("generator", generator, A.device)
    S = _random_supports(1, n_supports, n, s, generator, A.device)[0]  # (P, s)
    cols = A.transpose(0, 1)[S]  # (P, s, m)
    sv = torch.linalg.svdvals(cols)  # descending, (P, s)
    return sv[:, -1], sv[:, 0]


def rip_exhaustive(A: torch.Tensor, s: int, *, max_supports: int = 3_000_000, chunk: int = 200_000) -> RIPBound:
    """The exact RIP constants ``L_s``, ``U_s``, ``delta_s`` of ``A`` (columns normalised first), by
    checking every one of the ``C(n, s)`` supports (feasible only for small ``n`` and ``s``).

    ``A``: ``(m, n)``; ``1 <= s <= min(m, n)``; raises if ``C(n, s) > max_supports``. Returns
    :class:`RIPBound` of scalars (here the values are exact, not bounds).
    """
    _matrix(A)
    if A.ndim != 2:
        raise ValueError(f"A must be a single (m, n) matrix, got shape {tuple(A.shape)}")
    m, n = A.shape
    V.positive_int("s", s)
    if s > min(m, n):
        raise ValueError(f"s must be <= min(m, n) = {min(m, n)}, got {s}")
    V.positive_int("max_supports", max_supports)
    V.positive_int("chunk", chunk)
    count = math.comb(n, s)
    if count > max_supports:
        raise ValueError(f"C({n}, {s}) = {count} supports exceed max_supports = {max_supports}; "
                         f"use rip_lower_bound for a (lower) bound")
    At = normalize_columns(A).to(torch.float64).T  # (n, m)
    if s <= 3:
        lam_min, lam_max = _extremes_small(At @ At.T, s)
        L = torch.tensor(max(0.0, 1 - lam_min), dtype=A.dtype)
        U = torch.tensor(max(0.0, lam_max - 1), dtype=A.dtype)
        return RIPBound(L, U, torch.maximum(L, U))
    lam_min, lam_max = math.inf, -math.inf
    combos = itertools.combinations(range(n), s)
    while True:
        block = list(itertools.islice(combos, chunk))
        if not block:
            break
        cols = At[torch.tensor(block, device=A.device)]  # (C, s, m)
        eig = torch.linalg.eigvalsh(cols @ cols.transpose(1, 2))
        lam_min = min(lam_min, eig[:, 0].min().item())
        lam_max = max(lam_max, eig[:, -1].max().item())
    L = torch.tensor(max(0.0, 1 - lam_min), dtype=A.dtype)
    U = torch.tensor(max(0.0, lam_max - 1), dtype=A.dtype)
    return RIPBound(L, U, torch.maximum(L, U))


def _extremes_small(G: torch.Tensor, s: int) -> tuple[float, float]:
    """Smallest and largest eigenvalue of G_SS over all |S| = s <= 3, G a unit-diagonal Gram matrix
    (n, n), in closed form: 1 +- |c| for pairs; for triples the off-diagonal part has the
    characteristic polynomial t^3 - p t - q with p = a^2 + b^2 + c^2, q = 2abc (trigonometric roots)."""
    n = G.shape[0]
    if s == 1:
        return 1.0, 1.0
    iu, ju = torch.triu_indices(n, n, offset=1)
    if s == 2:
        c = G[iu, ju].abs().max().item()
        return 1 - c, 1 + c
    lo, hi = math.inf, -math.inf
    for i in range(n - 2):
        j, k = (torch.triu_indices(n - i - 1, n - i - 1, offset=1) + i + 1)
        a, b, c = G[i, j], G[i, k], G[j, k]
        p = a * a + b * b + c * c
        q = 2 * a * b * c
        r = (p / 3).sqrt()
        cos3 = (q / 2 / r.pow(3).clamp_min(1e-300)).clamp(-1, 1)
        theta = torch.acos(cos3)
        top = 2 * r * torch.cos(theta / 3)
        bottom = 2 * r * torch.cos((theta + 2 * math.pi) / 3)
        lo = min(lo, 1 + bottom.min().item())
        hi = max(hi, 1 + top.max().item())
    return lo, hi


def scale_optimal_delta(L, U):
    """The smallest symmetric RIP constant of ``c A`` over all scalings ``c > 0``, given the
    asymmetric constants ``L``, ``U`` of ``A``: ``(U + L) / (2 + U - L)``.

    Basis pursuit returns the same solution for ``(c A, c y)`` as for ``(A, y)``, so a recovery
    guarantee stated for ``delta_{2s}`` applies as soon as this value satisfies it. It increases
    in both ``L`` and ``U``, so lower bounds on ``L`` and ``U`` give a lower bound on it.
    ``L`` in [0, 1], ``U >= 0``: numbers or tensors of one shape. Returns a float or a tensor.
    """
    tensors = isinstance(L, torch.Tensor) or isinstance(U, torch.Tensor)
    Lt = V.real_values("L", L, finite=False)
    Ut = V.real_values("U", U, finite=False)
    if not (torch.isfinite(Lt).all() and torch.isfinite(Ut).all()):
        raise ValueError("L and U must be finite")
    if ((Lt < 0) | (Lt > 1)).any():
        raise ValueError("L must lie in [0, 1] (1 - L is a smallest eigenvalue of a Gram matrix)")
    if (Ut < 0).any():
        raise ValueError("U must be >= 0")
    try:
        torch.broadcast_shapes(Lt.shape, Ut.shape)
    except RuntimeError:
        raise ValueError(f"U {tuple(Ut.shape)} must broadcast with L {tuple(Lt.shape)}") from None
    out = (Ut + Lt) / (2 + Ut - Lt)
    return out if tensors else float(out)


def gershgorin_upper_bound(mu, s: int) -> float:
    """Gershgorin's upper bound on the RIP constant of unit-column matrices: ``delta_s <= (s - 1) mu``."""
    V.positive_int("s", s)
    mu = V.finite_float("mu", float(mu) if isinstance(mu, torch.Tensor) and mu.numel() == 1 else mu, low=0, high=1)
    return (s - 1) * mu


def _cosines(A: torch.Tensor) -> torch.Tensor:
    """Off-diagonal cosines of the columns of A (m, n), as a vector of the n (n - 1) / 2 pairs."""
    _matrix(A)
    if A.ndim != 2 or A.shape[1] < 2:
        raise ValueError(f"A must be one (m, n) matrix with n >= 2, got shape {tuple(A.shape)}")
    An = normalize_columns(A)
    gram = An.T @ An
    i, j = torch.triu_indices(A.shape[1], A.shape[1], offset=1)
    return gram[i, j]


def signed_coherence(A: torch.Tensor) -> tuple[float, float]:
    """The one-sided coherences ``(mu_plus, mu_minus)``: the largest positive cosine and the largest
    magnitude of a negative cosine between two distinct columns (0 where there is none). For
    non-negative signals read out by thresholding, positive overlaps create false positives and
    negative ones create misses; ``|cos|`` coherence is ``max(mu_plus, mu_minus)``. ``A``: ``(m, n)``."""
    c = _cosines(A)
    return max(0.0, c.max().item()), max(0.0, -c.min().item())


def rms_coherence(A: torch.Tensor) -> float:
    """Root-mean-square cosine between distinct columns, ``sqrt(mean_{i != j} cos^2)``. For ``n > m``
    it is at least the Welch value ``sqrt((n - m) / (m (n - 1)))``, with equality iff the unit-norm
    columns form a tight frame (``A A^T`` proportional to the identity). ``A``: ``(m, n)``."""
    return _cosines(A).pow(2).mean().sqrt().item()


def frame_potential_ratio(A: torch.Tensor) -> float:
    """The frame potential ``sum_{i,j} cos^2(a_i, a_j)`` of the normalised columns divided by its
    minimum ``max(n, n^2 / m)``: 1 exactly for a unit-norm tight frame (``n >= m``). ``A``: ``(m, n)``."""
    _matrix(A)
    if A.ndim != 2:
        raise ValueError(f"A must be one (m, n) matrix, got shape {tuple(A.shape)}")
    m, n = A.shape
    An = normalize_columns(A)
    return ((An.T @ An).pow(2).sum() / max(n, n * n / m)).item()


def etf_possible(m: int, n: int) -> tuple[bool, str]:
    """Whether a real equiangular tight frame of ``n`` unit vectors in ``R^m`` (``m < n``) can exist,
    by the known necessary conditions: Gerzon's bound ``n <= m (m + 1) / 2``; for ``n = m + 1``
    (the simplex) it always exists; for ``n = 2m`` ``m`` must be odd (a conference matrix); otherwise
    ``1 / mu_W`` must be an odd integer (Sustik, Tropp, Dhillon and Heath 2007). Returns
    ``(possible, reason)``; "possible" means "not ruled out" (the conditions are necessary only)."""
    V.positive_int("m", m)
    V.positive_int("n", n)
    if n <= m:
        return True, "n <= m: orthonormal columns"
    if m == 1:
        return False, "n > 1 lines in R^1 coincide"
    if n == m + 1:
        return True, "the simplex frame"
    if n > m * (m + 1) // 2:
        return False, f"Gerzon: n = {n} > m (m + 1) / 2 = {m * (m + 1) // 2}"
    if n == 2 * m:
        return (m % 2 == 1), ("n = 2m with m odd: not ruled out" if m % 2 else "n = 2m needs m odd")
    inv = 1 / welch_bound(m, n)
    odd = abs(inv - round(inv)) < 1e-9 and round(inv) % 2 == 1
    return odd, f"1 / mu_Welch = {inv:.2f}" + (" is an odd integer: not ruled out" if odd else " is not an odd integer")

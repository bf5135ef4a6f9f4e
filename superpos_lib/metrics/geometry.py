"""Geometry of the features a toy model learned: norms, angles, interference, dimensionality.

``W`` always has shape ``(..., d, n)``: column ``i`` (``W[..., :, i]``) is feature ``i``'s direction
``W_i`` in the ``d``-dimensional hidden space; leading axes (e.g. instances) are kept.
"""

from __future__ import annotations

import torch

from .. import _validate

__all__ = ["feature_norms", "feature_angles", "feature_interference", "feature_dimensionality",
           "dimensions_per_feature", "represented_features", "feature_groups", "thomson_points", "cosine_spectrum",
           "polytope_name", "pair_geometry", "PAIR_GEOMETRIES"]

PAIR_GEOMETRIES = ("collapsed", "orthogonal", "antipodal", "dropped", "other")

_EPS = 1e-12


def _check_W(W) -> torch.Tensor:
    _validate.tensor("W", W, ndim=tuple(range(2, 9)))
    if W.shape[-1] < 1 or W.shape[-2] < 1:
        raise ValueError(f"W must have shape (..., d, n) with d >= 1 and n >= 1, got {tuple(W.shape)}")
    return W


def feature_norms(W: torch.Tensor) -> torch.Tensor:
    """Length ``||W_i||`` of each feature's direction: ``(..., d, n)`` -> ``(..., n)``."""
    return _check_W(W).norm(dim=-2)


def _overlaps(W: torch.Tensor) -> torch.Tensor:
    """``O[..., i, j] = W_i_hat . W_j`` (0 in row i when ``W_i`` is zero): ``(..., n, n)``."""
    norms = W.norm(dim=-2)
    unit = W / norms.clamp_min(_EPS).unsqueeze(-2)
    unit = torch.where((norms > _EPS).unsqueeze(-2), unit, torch.zeros_like(unit))
    return unit.transpose(-1, -2) @ W


def feature_angles(W: torch.Tensor) -> torch.Tensor:
    """Angle in degrees between every pair of feature directions: ``(..., d, n)`` -> ``(..., n, n)``.

    NaN where either feature has zero norm (the angle is undefined)."""
    W = _check_W(W)
    norms = W.norm(dim=-2)
    cos = (W.transpose(-1, -2) @ W) / (norms.unsqueeze(-1) * norms.unsqueeze(-2))
    return torch.rad2deg(torch.arccos(cos.clamp(-1.0, 1.0)))


def feature_interference(W: torch.Tensor) -> torch.Tensor:
    """How much each feature shares its direction with the others, as in TMS's bar charts:
    ``sum_{j != i} (W_i_hat . W_j)^2``. ``(..., d, n)`` -> ``(..., n)``; 0 for a zero feature.

    0 means feature ``i`` is orthogonal to all others (a dedicated dimension); large values mean
    it is in superposition."""
    O2 = _overlaps(_check_W(W)).pow(2)
    return O2.sum(-1) - O2.diagonal(dim1=-2, dim2=-1)


def feature_dimensionality(W: torch.Tensor) -> torch.Tensor:
    """Feature dimensionality ``D_i = ||W_i||^2 / sum_j (W_i_hat . W_j)^2`` (TMS, "Feature geometry").

    ``(..., d, n)`` -> ``(..., n)``. ``D_i`` is the fraction of a dimension feature ``i`` gets: 1 for a
    dedicated dimension, 1/2 for an antipodal pair, 2/5 for a pentagon, 0 when not represented (a
    zero-norm feature gives exactly 0, never NaN). The sum over ``j`` includes ``j = i``.
    """
    W = _check_W(W)
    norms2 = W.pow(2).sum(-2)
    denom = _overlaps(W).pow(2).sum(-1)
    return torch.where(norms2 > _EPS ** 2, norms2 / denom.clamp_min(_EPS), torch.zeros_like(norms2))


def dimensions_per_feature(W: torch.Tensor) -> torch.Tensor:
    """How many hidden dimensions the model spends per feature: ``d / ||W||_F^2``.

    ``(..., d, n)`` -> ``(...)``. ``||W||_F^2`` counts represented features (a unit-norm feature adds
    1), so this is 1 with ``d`` orthogonal unit features and 2/5 for a pentagon in 2 dimensions.
    """
    W = _check_W(W)
    return W.shape[-2] / W.pow(2).sum(dim=(-2, -1)).clamp_min(_EPS)


def pair_geometry(W: torch.Tensor, a: int, *, min_norm: float = 0.5) -> str:
    """How features ``a`` and ``a + 1`` of one model ``W (d, n)`` are arranged, one of :data:`PAIR_GEOMETRIES`.

    ``"dropped"`` when either has norm below ``min_norm``; otherwise by the cosine of their directions:
    ``"collapsed"`` above 0.9 (one shared direction), ``"antipodal"`` below -0.9, ``"orthogonal"`` when
    ``|cos| < 0.3``, and ``"other"`` in between.
    """
    W = _check_W(W)
    if W.ndim != 2:
        raise ValueError(f"W must be one model's (d, n) matrix, got shape {tuple(W.shape)}")
    if isinstance(a, bool) or not isinstance(a, int) or not 0 <= a < W.shape[-1] - 1:
        raise ValueError(f"a must be an int from 0 to {W.shape[-1] - 2} (features a and a + 1), got {a!r}")
    _validate.positive_float("min_norm", min_norm)
    norms = W[:, a:a + 2].norm(dim=0)
    if norms.min() < min_norm:
        return "dropped"
    cos = (W[:, a] @ W[:, a + 1] / (norms[0] * norms[1])).item()
    return "collapsed" if cos > 0.9 else "antipodal" if cos < -0.9 else "orthogonal" if abs(cos) < 0.3 else "other"


def represented_features(W: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Number of features whose norm exceeds ``threshold``: ``(..., d, n)`` -> ``(...)`` (int64)."""
    _validate.positive_float("threshold", threshold)
    return (feature_norms(W) > threshold).sum(-1)


def feature_groups(W: torch.Tensor, *, overlap: float = 0.05, min_norm: float = 0.5) -> list[tuple[list[int], int]]:
    """Split one model's represented features into groups that do not interfere with each other.

    ``W``: ``(d, n)`` (one instance). Features with norm > ``min_norm`` are linked when
    ``|cos(W_i, W_j)| > overlap``; a group is a connected set of linked features. Returns a list of
    ``(feature indices, dimension of their span)`` sorted by first index (the span's dimension counts
    singular values above 0.2 times the largest), e.g. a pentagon is ``([...5 indices...], 2)``.
    Eight features in 3 dimensions give ``([...8 indices...], 3)`` whether they form a square
    antiprism, a cube or another configuration: name a group by its angles with :func:`polytope_name`.
    Groups that do not interfere span orthogonal subspaces: the whole configuration is their *tegum
    product*.
    """
    W = _check_W(W)
    if W.ndim != 2:
        raise ValueError(f"W must have shape (d, n) (one instance), got {tuple(W.shape)}")
    _validate.finite_float("overlap", overlap, low=0, high=1, low_open=True, high_open=True)
    _validate.positive_float("min_norm", min_norm)
    norms = W.norm(dim=0)
    keep = (norms > min_norm).nonzero().flatten()
    if keep.numel() == 0:
        return []
    unit = W[:, keep] / norms[keep]
    linked = (unit.T @ unit).abs() > overlap  # (k, k), reflexive
    reach = linked.clone()
    for _ in range(keep.numel()):  # transitive closure by repeated squaring until stable
        new = (reach.float() @ reach.float()) > 0
        if torch.equal(new, reach):
            break
        reach = new
    groups, seen = [], set()
    for a in range(keep.numel()):
        if a in seen:
            continue
        members = reach[a].nonzero().flatten().tolist()
        seen.update(members)
        idx = keep[members]
        sv = torch.linalg.svdvals(W[:, idx].double())
        rank = int((sv > 0.2 * sv[0]).sum())  # dimensions that carry a real share of the group
        groups.append((idx.tolist(), rank))
    return groups


def _unit_columns(X: torch.Tensor) -> torch.Tensor:
    return X / X.norm(dim=0).clamp_min(_EPS)


def thomson_points(k: int, m: int, *, steps: int = 600, restarts: int = 4, seed: int = 0) -> torch.Tensor:
    """A solution of the Thomson problem: ``k`` unit vectors in ``m`` dimensions that minimise the
    electrostatic energy ``sum_{i<j} 1 / ||x_i - x_j||`` (projected gradient descent from
    ``restarts`` random starts at once, the lowest energy kept). Returns ``(m, k)`` float64 (columns
    are the points). Known solutions: a regular k-gon for ``m = 2``; for ``m = 3``, a tetrahedron
    (k = 4), an octahedron (k = 6) and a square antiprism (k = 8, *not* a cube).
    """
    _validate.positive_int("k", k)
    _validate.positive_int("m", m)
    _validate.positive_int("steps", steps)
    _validate.positive_int("restarts", restarts)
    _validate.non_negative_int("seed", seed)
    if k < 2 or m < 2:
        raise ValueError(f"k and m must be at least 2, got k={k}, m={m}")
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(restarts, m, k, generator=gen, dtype=torch.float64)
    X = (X / X.norm(dim=1, keepdim=True)).requires_grad_(True)
    opt = torch.optim.Adam([X], lr=0.05)
    iu = torch.triu_indices(k, k, 1)

    def energy(Y):
        Y = Y / Y.norm(dim=1, keepdim=True)
        dist = (Y.unsqueeze(-1) - Y.unsqueeze(-2)).norm(dim=1)[:, iu[0], iu[1]]
        return (1 / dist.clamp_min(1e-9)).sum(-1)

    with torch.enable_grad():  # it optimises, so it works inside a caller's torch.no_grad() too
        for t in range(steps):
            for g in opt.param_groups:
                g["lr"] = 0.05 * (1 - t / steps) + 1e-4
            opt.zero_grad(set_to_none=True)
            energy(X).sum().backward()
            opt.step()
    with torch.no_grad():
        best = energy(X).argmin()
        Y = X[best]
        return Y / Y.norm(dim=0, keepdim=True)


def cosine_spectrum(W: torch.Tensor) -> torch.Tensor:
    """The sorted cosines between all pairs of columns of ``W`` ``(d, k)`` -> ``(k (k - 1) / 2,)``.

    Two configurations with the same spectrum have the same angles: a cube (8 points in 3-d) has
    cosines -1 (its 4 antipodal pairs along the body diagonals), a square antiprism has none.
    """
    W = _check_W(W)
    if W.ndim != 2 or W.shape[1] < 2:
        raise ValueError(f"W must have shape (d, k) with k >= 2 (one group of features), got {tuple(W.shape)}")
    U = _unit_columns(W.double())
    iu = torch.triu_indices(W.shape[1], W.shape[1], 1)
    return (U.T @ U)[iu[0], iu[1]].sort().values


def _reference_polytopes() -> dict[str, torch.Tensor]:
    def polygon(k):
        a = 2 * torch.pi * torch.arange(k, dtype=torch.float64) / k
        return torch.stack([a.cos(), a.sin()])

    cube = torch.tensor([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=torch.float64).T
    tetra = torch.tensor([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=torch.float64).T
    h2 = 2 ** 0.5 / (4 + 2 ** 0.5)  # an antiprism with equal edges on the unit sphere
    z, rho = h2 ** 0.5, (1 - h2) ** 0.5
    a = torch.pi / 2 * torch.arange(4, dtype=torch.float64)
    antiprism = torch.cat([torch.stack([rho * a.cos(), rho * a.sin(), torch.full((4,), z, dtype=torch.float64)]),
                           torch.stack([rho * (a + torch.pi / 4).cos(), rho * (a + torch.pi / 4).sin(),
                                        torch.full((4,), -z, dtype=torch.float64)])], dim=1)
    octahedron = torch.cat([torch.eye(3, dtype=torch.float64), -torch.eye(3, dtype=torch.float64)], dim=1)
    return {"digon": polygon(2), "triangle": polygon(3), "pentagon": polygon(5), "hexagon": polygon(6),
            "tetrahedron": tetra, "octahedron": octahedron, "cube": cube, "square antiprism": antiprism}


def polytope_name(W: torch.Tensor, *, tol: float = 0.12) -> str:
    """Name the configuration of one group of features by its angles, not by its dimensionality.

    ``W``: ``(d, k)``, the columns of one group (e.g. from :func:`feature_groups`). The group's cosine
    spectrum (:func:`cosine_spectrum`) is compared with those of a digon, triangle, pentagon,
    hexagon, tetrahedron, octahedron, cube and (equal-edged) square antiprism with the same number
    of points and span;
    the name of the closest is returned when every cosine is within ``tol`` of it, else
    ``"k in r dims (unnamed)"`` with ``r`` the dimension of the span. (A cube and a square antiprism
    both give ``D = 3/8``; their angles tell them apart.)
    """
    W = _check_W(W)
    _validate.positive_float("tol", tol)
    if W.ndim != 2:
        raise ValueError(f"W must have shape (d, k) (one group), got {tuple(W.shape)}")
    k = W.shape[1]
    sv = torch.linalg.svdvals(W.double())
    rank = int((sv > 0.2 * sv[0]).sum()) if k else 0
    if k >= 2:
        spec = cosine_spectrum(W)
        best, err = None, float("inf")
        for name, ref in _reference_polytopes().items():
            ref_sv = torch.linalg.svdvals(ref)
            if ref.shape[1] != k or int((ref_sv > 0.2 * ref_sv[0]).sum()) != rank:
                continue
            e = (spec - cosine_spectrum(ref)).abs().max().item()
            if e < err:
                best, err = name, e
        if best is not None and err <= tol:
            return best
    return f"{k} in {rank} dims (unnamed)"

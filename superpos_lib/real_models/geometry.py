"""Cosines between many vectors: all pairs, and each vector's nearest neighbour."""

from __future__ import annotations

import torch

from .. import _validate as v

__all__ = ["pairwise_cosines", "max_abs_cosine"]


def _unit_rows(name: str, x) -> torch.Tensor:
    x = v.non_empty(name, v.tensor(name, x, ndim=2), what="row and column")
    norms = x.norm(dim=1, keepdim=True)
    if (norms == 0).any():
        raise ValueError(f"{name} must have no all-zero rows (the cosine of a zero vector is undefined)")
    return x / norms


def pairwise_cosines(x: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every pair of rows of ``x`` (``(n, d)``, ``n >= 2``, no zero rows):
    the ``n (n - 1) / 2`` entries above the diagonal, ``(n (n - 1) / 2,)``."""
    u = _unit_rows("x", x)
    if u.shape[0] < 2:
        raise ValueError(f"x must have at least 2 rows, got {u.shape[0]}")
    rows, cols = torch.triu_indices(u.shape[0], u.shape[0], offset=1)
    return (u @ u.T)[rows, cols]


def max_abs_cosine(queries: torch.Tensor, keys: torch.Tensor, query_index: torch.Tensor | None = None,
                   *, chunk: int = 1024) -> torch.Tensor:
    """For each query row, the largest ``|cos|`` with any row of ``keys`` (its nearest neighbour's).

    Args:
        queries: ``(m, d)``; keys: ``(n, d)``; no zero rows.
        query_index: optional ``(m,)`` int tensor: query ``i`` is row ``query_index[i]`` of ``keys``,
            and that pair (the vector with itself) is left out.
        chunk: queries per matmul (bounds memory to ``(chunk, n)``).

    Returns:
        ``(m,)``.
    """
    q = _unit_rows("queries", queries)
    k = _unit_rows("keys", keys)
    if q.shape[1] != k.shape[1]:
        raise ValueError(f"keys must have d={q.shape[1]} columns like queries, got {k.shape[1]}")
    v.same_dtype("keys", keys, "queries", queries)
    if query_index is not None:
        if (not isinstance(query_index, torch.Tensor) or query_index.shape != (q.shape[0],)
                or query_index.is_floating_point()):
            raise ValueError(f"query_index must be an integer tensor of shape ({q.shape[0]},), one key row per query")
        if query_index.numel() and (query_index.min() < 0 or query_index.max() >= k.shape[0]):
            raise ValueError(f"query_index must lie in [0, {k.shape[0] - 1}] (rows of keys)")
    chunk = v.positive_int("chunk", chunk)
    out = []
    for start in range(0, q.shape[0], chunk):  # chunks only bound memory
        c = (q[start:start + chunk] @ k.T).abs()  # (chunk, n)
        if query_index is not None:
            c[torch.arange(c.shape[0]), query_index[start:start + chunk]] = 0.0
        out.append(c.max(dim=1).values)
    return torch.cat(out)

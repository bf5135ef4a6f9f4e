"""Internal helpers shared by the solvers. Every solver works on *groups*: A (G, m, n) and
Y (G, m, r), i.e. G sensing matrices each shared by r problems, so that A^T Y is a batched matrix product."""

from __future__ import annotations

import torch


def _gather_columns(A: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """A (G, m, n), idx (G, r, s) -> the chosen columns as rows, (G, r, s, m)."""
    G, m, n = A.shape
    r, s = idx.shape[1], idx.shape[2]
    At = A.transpose(1, 2).unsqueeze(1).expand(G, r, n, m)
    return torch.gather(At, 2, idx.unsqueeze(-1).expand(G, r, s, m))


def _scatter(idx: torch.Tensor, values: torch.Tensor, n: int) -> torch.Tensor:
    """idx, values (G, r, s) -> dense (G, n, r) (duplicates add up)."""
    G, r, _ = idx.shape
    out = torch.zeros(G, r, n, dtype=values.dtype, device=values.device)
    return out.scatter_add(2, idx, values).transpose(1, 2)


def _refit(A: torch.Tensor, Y: torch.Tensor, idx: torch.Tensor, mask: torch.Tensor):
    """Least squares on a support given per problem.

    A (G, m, n), Y (G, m, r), idx (G, r, s) column indices, mask (G, r, s) which of them are
    used. Returns (x (G, n, r), coef (G, r, s), cols (G, r, s, m), cholesky factor, ok (G, r)).
    """
    cols = _gather_columns(A, idx) * mask.unsqueeze(-1)
    eye_pad = torch.diag_embed((~mask).to(A.dtype))
    gram = cols @ cols.transpose(-1, -2) + eye_pad
    rhs = cols @ Y.transpose(1, 2).unsqueeze(-1)  # (G, r, s, 1)
    L, info = torch.linalg.cholesky_ex(gram)
    ok = info == 0
    L = torch.where(ok[..., None, None], L, torch.eye(L.shape[-1], dtype=L.dtype, device=L.device))
    coef = torch.cholesky_solve(rhs, L)[..., 0] * mask
    return _scatter(idx, coef, A.shape[2]), coef, cols, L, ok


def _to_groups(A: torch.Tensor, y: torch.Tensor):
    if A.ndim == 2:
        return A.unsqueeze(0), y.T.contiguous().unsqueeze(0)  # (1, m, n), (1, m, batch)
    return A, y.unsqueeze(-1)  # (batch, m, n), (batch, m, 1)


def _from_groups(X: torch.Tensor, shared: bool) -> torch.Tensor:
    return X[0].T if shared else X[..., 0]

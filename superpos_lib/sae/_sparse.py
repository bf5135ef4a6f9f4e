"""Sparse codes as CSR matrices, for the TopK and BatchTopK paths' sparse-dense products."""

from __future__ import annotations

import warnings

import torch


def _csr(crow: torch.Tensor, col: torch.Tensor, val: torch.Tensor, shape) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.sparse_csr_tensor(crow, col, val, shape, check_invariants=False)


class _SparseCode:
    """The latents of all instances as one block-diagonal sparse matrix ``(I*B, I*m)`` (int32
    indices), plus the transposed pattern ``(I*m, I*B)``. ``cols`` already include the instance
    offset ``i * m``; entries are stored row by row."""

    def __init__(self, crow: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, rows: torch.Tensor,
                 n_rows: int, n_cols: int):
        dev = values.device
        self.crow, self.cols, self.values = crow, cols, values
        self.n_rows, self.n_cols = n_rows, n_cols
        self.perm = torch.argsort(cols, stable=True)  # the transpose: entries grouped by latent
        counts = torch.bincount(cols, minlength=n_cols)
        self.crow_t = torch.zeros(n_cols + 1, dtype=torch.int32, device=dev)
        torch.cumsum(counts, 0, out=self.crow_t[1:])
        self.rows_t = rows[self.perm]

    @classmethod
    def from_topk(cls, values: torch.Tensor, indices: torch.Tensor, m: int) -> "_SparseCode":
        """``values, indices (I, B, k)``: ``k`` stored entries per row (some may be 0)."""
        I, B, k = values.shape
        dev = values.device
        cols = indices.to(torch.int32)
        if I > 1:
            cols = cols + (torch.arange(I, device=dev, dtype=torch.int32) * m).view(I, 1, 1)
        crow = torch.arange(0, I * B * k + 1, k, device=dev, dtype=torch.int32)
        rows = torch.arange(I * B, device=dev, dtype=torch.int32).repeat_interleave(k)
        return cls(crow, cols.reshape(-1), values.reshape(-1), rows, I * B, I * m)

    @classmethod
    def from_mask(cls, pre: torch.Tensor, mask: torch.Tensor) -> "_SparseCode":
        """The entries of ``pre (I, B, m)`` where ``mask`` is true."""
        I, B, m = pre.shape
        flat = mask.reshape(I * B, m)
        rows, cols = flat.nonzero(as_tuple=True)
        values = pre.reshape(I * B, m)[rows, cols]
        crow = torch.zeros(I * B + 1, dtype=torch.int32, device=pre.device)
        torch.cumsum(flat.sum(-1), 0, out=crow[1:])
        inst = torch.div(rows, B, rounding_mode="floor")
        return cls(crow, (cols + inst * m).to(torch.int32), values, rows.to(torch.int32), I * B, I * m)

    def matrix(self, values: torch.Tensor | None = None) -> torch.Tensor:
        return _csr(self.crow, self.cols, self.values if values is None else values, (self.n_rows, self.n_cols))

    def matrix_t(self, values: torch.Tensor | None = None) -> torch.Tensor:
        v = self.values if values is None else values
        return _csr(self.crow_t, self.rows_t, v[self.perm], (self.n_cols, self.n_rows))

    def sampled(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``(a @ b)`` at the stored positions, in storage order."""
        pattern = self.matrix(torch.zeros_like(self.values))  # beta=0 still reads it
        return torch.sparse.sampled_addmm(pattern, a, b, beta=0.0).values()

    def fired(self, live: torch.Tensor, I: int, m: int) -> torch.Tensor:
        """``(I, m)`` bool: latents with a positive stored entry (``live`` flags stored entries)."""
        return torch.bincount(self.cols, weights=live.to(torch.float32), minlength=I * m).view(I, m) > 0

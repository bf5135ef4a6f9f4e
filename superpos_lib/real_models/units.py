"""What a unit responds to: its top activations, shown in context, and how mixed they are."""

from __future__ import annotations

import torch

from .. import _validate as v
from .activations import Activations

__all__ = ["top_activating", "format_top_examples", "token_mixedness", "random_unit_directions",
           "pca_directions"]


def top_activating(acts: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` largest activations of every unit and the tokens they come from.

    Args:
        acts: ``(n_tokens, n_units)``.
        k: ``1 <= k <= n_tokens``.

    Returns:
        ``(values, indices)``, both ``(n_units, k)``, sorted so that ``values[u, 0]`` is unit ``u``'s
        largest activation; ``indices`` index the token axis of ``acts``.
    """
    acts = v.non_empty("acts", v.tensor("acts", acts, ndim=2), what="token and unit")
    k = v.positive_int("k", k)
    if k > acts.shape[0]:
        raise ValueError(f"k must be at most n_tokens={acts.shape[0]}, got {k}")
    values, indices = acts.topk(k, dim=0)  # (k, n_units), sorted descending
    return values.T.contiguous(), indices.T.contiguous()


def format_top_examples(store: Activations, values: torch.Tensor, indices: torch.Tensor, n: int = 5,
                        window: int = 6) -> list[str]:
    """Lines of text, one per example: activation value and the token in context (``[[token]]``).

    ``values``, ``indices``: ``(k,)`` for one unit, as a row of :func:`top_activating`'s output.
    Shows the first ``n`` examples.
    """
    if not isinstance(store, Activations):
        raise ValueError(f"store must be the Activations that values and indices index into, got {type(store).__name__}")
    values = v.tensor("values", values, ndim=1)
    if (not isinstance(indices, torch.Tensor) or indices.shape != values.shape or indices.is_floating_point()
            or indices.dtype == torch.bool):
        raise ValueError(f"indices must be an integer tensor of shape {tuple(values.shape)} (like values)")
    if indices.numel() and (indices.min() < 0 or indices.max() >= len(store)):
        raise ValueError(f"indices must lie in [0, {len(store) - 1}] (positions in store)")
    n = v.positive_int("n", n)
    v.non_negative_int("window", window)
    return [f"{val:7.2f}  {store.context(int(i), window)}" for val, i in zip(values[:n].tolist(), indices[:n].tolist())]


def token_mixedness(values: torch.Tensor, indices: torch.Tensor, token_ids: torch.Tensor,
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """How many different tokens make up each unit's top activations.

    For each unit, take its ``k`` top activations (from :func:`top_activating`) and the token type
    (WordPiece id) each comes from. Returns

    * ``distinct``: the number of distinct token types among the ``k`` (1 = always the same token,
      ``k`` = all different), and
    * ``entropy``: the entropy in bits of the token-type distribution among the ``k``,
      ``H = -sum_t q_t log2 q_t`` with ``q_t`` the fraction of the ``k`` that are token ``t``
      (0 = one token; ``log2 k`` = all different). ``2**H`` is an effective number of token types.

    Units with fewer than ``k`` strictly positive activations (rarely firing SAE latents) get NaN in
    both, since their "top k" would include tokens where they do not fire at all.

    Args:
        values, indices: ``(n_units, k)``.
        token_ids: ``(n_tokens,)`` int token id of every token of the stream ``indices`` points into.

    Returns:
        ``(distinct, entropy)``, each ``(n_units,)`` float.
    """
    values = v.tensor("values", values, ndim=2, finite=False)
    if not isinstance(indices, torch.Tensor) or indices.shape != values.shape or indices.is_floating_point():
        raise ValueError(f"indices must be an integer tensor of shape {tuple(values.shape)} (like values)")
    if not isinstance(token_ids, torch.Tensor) or token_ids.ndim != 1 or token_ids.is_floating_point():
        raise ValueError("token_ids must be a 1-D integer tensor (one id per token of the stream)")
    if indices.numel() and (indices.min() < 0 or indices.max() >= token_ids.shape[0]):
        raise ValueError(f"indices must lie in [0, {token_ids.shape[0] - 1}] (positions in token_ids)")
    k = values.shape[1]
    types = token_ids[indices].sort(dim=1).values  # (n_units, k)
    new = torch.ones_like(types, dtype=torch.bool)
    new[:, 1:] = types[:, 1:] != types[:, :-1]
    distinct = new.sum(dim=1).to(values.dtype)
    run = new.long().cumsum(dim=1) - 1  # which run of equal ids each entry belongs to
    counts = torch.zeros(types.shape, dtype=values.dtype, device=values.device).scatter_add_(
        1, run, torch.ones_like(types, dtype=values.dtype))
    q = counts / k
    entropy = -(q * torch.log2(q.clamp(min=1e-30))).sum(dim=1) + 0.0  # + 0.0 turns -0.0 into 0.0
    valid = (values > 0).all(dim=1)
    nan = torch.full_like(distinct, float("nan"))
    return torch.where(valid, distinct, nan), torch.where(valid, entropy, nan)




def random_unit_directions(n: int, d: int, seed: int = 0) -> torch.Tensor:
    """``n`` random unit vectors in ``R^d`` (Gaussian, normalised), ``(n, d)``: the baseline "dictionary"
    with no structure at all."""
    v.positive_int("n", n)
    v.positive_int("d", d)
    v.non_negative_int("seed", seed)
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(int(seed)))
    return x / x.norm(dim=1, keepdim=True)


def pca_directions(acts: torch.Tensor, n: int) -> torch.Tensor:
    """The top ``n`` principal directions of ``acts (n_tokens, d)`` (after centring), ``(n, d)``, unit
    rows, sign fixed so that each direction's projections have a positive largest value."""
    acts = v.non_empty("acts", v.tensor("acts", acts, ndim=2), what="token and dimension")
    n = v.positive_int("n", n)
    if n > min(acts.shape):
        raise ValueError(f"n must be at most min(n_tokens, d) = {min(acts.shape)}, got {n}")
    centred = acts - acts.mean(0)
    c64 = centred.double()
    if c64.shape[0] >= c64.shape[1]:  # eigenvectors of the d x d covariance: the SVD's, 5x faster
        dirs = torch.linalg.eigh(c64.T @ c64)[1].flip(-1).T[:n]
    else:
        dirs = torch.linalg.svd(c64, full_matrices=False)[2][:n]
    dirs = dirs.to(acts.dtype)
    proj = centred @ dirs.T
    flip = proj.max(0).values < (-proj).max(0).values
    dirs[flip] = -dirs[flip]
    return dirs

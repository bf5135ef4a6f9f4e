"""The AuxK loss (Gao et al. 2024): dead latents are asked to reconstruct the main model's error.

The definition implemented is the one in Gao et al.'s reference code (``openai/sparse_autoencoder``,
``train.py``): the ``k_aux`` largest pre-activations among the *dead* latents, through a ReLU and the
decoder without its bias, give ``e_hat``, compared with the residual ``e = x - x_hat`` (detached) by
a **normalised** squared error, ``normalized_mse(e_hat, e) = mean_b ||e_hat_b - e_b||^2 /
mean_b ||e_b - mean(e)||^2``. The reference code's main term is also normalised, by the variance of
the data, so in the units of this library's raw main term (``mean_b ||x - x_hat||^2``) the total is

    L = mean_b ||x_b - x_hat_b||^2  +  aux_coeff * Var(x) * normalized_mse(e_hat, e),

with ``Var(x) = mean_b ||x_b - mean(x)||^2`` measured once before training (``aux_scale``). The
relative weight of the two terms is then the reference's. (SAELens and EleutherAI's sparsify instead
scale an unnormalised AuxK term by ``min(num_dead / k_aux, 1)``; that is not what is done here.)
"""

from __future__ import annotations

import torch

from .. import _validate as V

__all__ = ["auxk_loss"]


def auxk_loss(e_hat: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """Gao et al.'s normalised AuxK error: ``mean_b ||e_hat_b - e_b||^2 / mean_b ||e_b - mean_b(e)||^2``.

    ``e_hat``, ``e``: ``(batch, d)`` or ``(I, batch, d)`` (the residual ``x - x_hat`` is treated as a
    constant: it is detached). Returns a scalar or ``(I,)``. 0 is a perfect reconstruction of the
    residual; 1 is no better than predicting its mean.
    """
    V.tensor("e_hat", e_hat, ndim=(2, 3))
    V.tensor("e", e, ndim=(2, 3))
    if e_hat.shape != e.shape:
        raise ValueError(f"e must have the shape of e_hat {tuple(e_hat.shape)}, got {tuple(e.shape)}")
    if e.shape[-2] < 2:
        raise ValueError(f"e must hold at least 2 samples (its variance is the denominator), got shape {tuple(e.shape)}")
    e = e.detach()
    var = (e - e.mean(-2, keepdim=True)).pow(2).sum(-1).mean(-1).clamp_min(1e-12)
    return (e_hat - e).pow(2).sum(-1).mean(-1) / var


def _aux_inputs(pre: torch.Tensor, dead: torch.Tensor, k_aux: int):
    """Top-``k_aux`` pre-activations among dead latents, through a ReLU: ``(values, indices, live)``,
    each ``(I, B, k_aux)`` (``live`` flags the positive ones)."""
    masked = pre.masked_fill(~dead.unsqueeze(1), float("-inf"))
    av, ai = masked.topk(min(k_aux, pre.shape[-1]), dim=-1)
    live = av > 0                                               # -inf and negatives give 0
    return torch.where(live, av, torch.zeros((), device=pre.device, dtype=pre.dtype)), ai, live


def _aux_autograd(pre: torch.Tensor, dead: torch.Tensor, W_dec: torch.Tensor, e: torch.Tensor, k_aux: int) -> torch.Tensor:
    """The normalised AuxK error ``(I,)`` written plainly for autograd (``e`` detached)."""
    av, ai, _ = _aux_inputs(pre, dead, k_aux)
    z_aux = torch.zeros_like(pre).scatter(-1, ai, av)
    return auxk_loss(torch.bmm(z_aux, W_dec), e.detach())


def _aux_fast(sae, pre, dead, e, k_aux, coeff, xa_flat, grad_W_dec, G_enc_t, want_stats):
    """AuxK's contribution, by hand, added in place to ``grad_W_dec (I, m, d)`` and ``G_enc_t (I, m, d+1)``.

    ``e = x - x_hat (I, B, d)``; ``coeff = aux_coeff * aux_scale``. Returns the normalised error ``(I,)``
    when ``want_stats``."""
    from ._sparse import _SparseCode

    I, B, d = e.shape
    m = sae.d_sae
    W_flat = sae.W_dec.detach().reshape(I * m, d)
    av, ai, live = _aux_inputs(pre, dead, k_aux)
    aux = _SparseCode.from_topk(av, ai, m)
    e_hat = torch.sparse.mm(aux.matrix(), W_flat).view(I, B, d)
    var = (e - e.mean(1, keepdim=True)).pow(2).sum(-1).mean(-1).clamp_min(1e-12)   # (I,)
    r = e_hat - e
    value = r.pow(2).sum(-1).mean(-1) / var if want_stats else None
    ga = r.mul_((2.0 * coeff / (B * var)).view(I, 1, 1)).reshape(I * B, d)         # d (coeff * L_aux) / d e_hat
    gva = aux.sampled(ga, W_flat.t()) * live.reshape(-1)
    grad_W_dec += torch.sparse.mm(aux.matrix_t(), ga).view(I, m, d)
    G_enc_t += torch.sparse.mm(aux.matrix_t(gva), xa_flat).view(I, m, d + 1)
    return value

"""ReLU SAE (Bricken et al. 2023): ``z = ReLU(pre)``, an L1 penalty on ``z`` in training.

The fast step (:func:`_relu_grads`) does the five matrix products of a step on augmented matrices,
``[x - b_dec, 1]`` and ``[W_enc; b_enc]`` for the encoder, ``[W_dec, l1/2]`` for the decoder, so the
encoder bias, its gradient, the L1 term, its gradient and the per-latent firing counts all come out
of the GEMMs instead of extra passes over the ``(batch, d_sae)`` latents.
"""

from __future__ import annotations

import torch

from ._context import StepContext
from ._masking import where_positive
from ._workspace import _Workspace

# Nothing here is public: SparseAutoencoder(activation=...) and train_sae check their arguments and
# then call these pieces in their hot loops.
__all__: list[str] = []


def activate(pre: torch.Tensor) -> torch.Tensor:
    """``ReLU(pre)``."""
    return torch.relu(pre)


def fast_grads(sae, x, ctx: StepContext, ws: _Workspace, want_stats: bool):
    return _relu_grads(sae, x, ctx.lam, ws, want_stats)


def autograd_loss(sae, x, ctx: StepContext, want_stats: bool):
    """``mean_b ||x - x_hat||^2 + lam * mean_b sum_i z_i ||W_dec[i]||`` per instance, for autograd."""
    pre = sae.pre_activations(x)
    z = torch.relu(pre)
    x_hat = torch.baddbmm(sae.b_dec.unsqueeze(1), z, sae.W_dec)
    sq = (x_hat - x).pow(2).sum(-1)
    l1 = ctx.lam * (z * sae.W_dec.norm(dim=-1).unsqueeze(1)).sum(-1).mean(-1)
    stats = None
    if want_stats:
        stats = {"mse": sq.mean(-1).detach(), "sq_err": sq.detach(), "l0": (z > 0).sum(-1).float().mean(-1),
                 "l1_term": l1.detach(), "penalty": l1.detach()}
    return sq.mean(-1) + l1, (z > 0).any(1), stats


def _relu_grads(sae: SparseAutoencoder, x: torch.Tensor, lam: torch.Tensor, ws: _Workspace, want_stats: bool):
    """One forward + backward of a ReLU SAE with hand-derived gradients (five GEMMs).

    ``x (B, d)``; ``lam (I,)`` L1 coefficients. Assumes unit-norm decoder rows (as :func:`train_sae`
    keeps them): the L1 column is ``lam / 2`` times 1 instead of ``||W_dec[i]||``. The gradient of
    the norm lies along the row, so the decoder-gradient projection removes it anyway; called on
    rows that are not unit norm, this would compute a different L1 term. Returns ``(grads, fired, stats)`` where grads are
    for ``W_enc, b_enc, W_dec, b_dec`` (W_dec's not yet projected), ``fired (I, d_sae)`` bool.
    """
    I, d, m = sae.n_instances, sae.d_in, sae.d_sae
    B = x.shape[0]
    W_enc, b_enc, W_dec, b_dec = sae.W_enc.detach(), sae.b_enc.detach(), sae.W_dec.detach(), sae.b_dec.detach()
    xa, A_enc, A_dec = ws.xa, ws.A_enc, ws.A_dec
    xc = xa[..., :d]
    torch.sub(x.unsqueeze(0), b_dec.unsqueeze(1), out=xc)     # x - b_dec; the last column stays 1
    A_enc[:, :d].copy_(W_enc)
    A_enc[:, d].copy_(b_enc)
    A_dec[..., :d].copy_(W_dec)
    A_dec[..., d].copy_((lam / 2).unsqueeze(1).expand(I, m))  # the L1 term as an extra output column
    z = torch.bmm(xa, A_enc, out=ws.z).relu_()                 # GEMM 1: latents (I, B, m)
    out = torch.bmm(z, A_dec)                                  # GEMM 2: [x_hat - b_dec, (lam/2) sum_i z_i]
    err = out[..., :d].sub_(xc)                                # x_hat - x
    stats = None
    if want_stats:
        sq = err.pow(2).sum(-1)                                # (I, B)
        l1_term = out[..., d].mean(-1) * 2
        stats = {"mse": sq.mean(-1), "l1_term": l1_term, "penalty": l1_term, "sq_err": sq}
    out[..., d] = 1.0
    # d loss / d [x_hat, l1 column] = (2/B) [x_hat - x, 1]: the factor 2/B rides on the GEMMs' alpha
    G_dec = torch.baddbmm(ws.G_dec, z.transpose(1, 2), out, beta=0.0, alpha=2.0 / B)  # GEMM 3: [grad W_dec, (2/B) sum_b z]
    g = torch.baddbmm(ws.g, out, A_dec.transpose(1, 2), beta=0.0, alpha=2.0 / B, out=ws.g)  # GEMM 4: d loss / d z
    g = where_positive(g, z)                                    # through the ReLU, in place
    G_enc = torch.bmm(xa.transpose(1, 2), g)                   # GEMM 5: [grad W_enc; grad b_enc]
    grad_b_enc = G_enc[:, d]
    grad_b_dec = torch.baddbmm(err.sum(1, keepdim=True), grad_b_enc.unsqueeze(1), W_enc.transpose(1, 2),
                               alpha=-1.0, beta=2.0 / B).squeeze(1)
    fired = G_dec[..., d] > 0
    grads = [G_enc[:, :d], grad_b_enc, G_dec[..., :d], grad_b_dec]
    if want_stats:
        stats["l0"] = (z > 0).sum(-1).float().mean(-1)
    return grads, fired, stats

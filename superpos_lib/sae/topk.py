"""TopK SAE (Gao et al. 2024): keep the ``k`` largest pre-activations of each sample, then a ReLU.

No sparsity penalty: L0 is at most ``k`` by construction. Dead latents get the AuxK loss
(:mod:`superpos_lib.sae.auxk`). The fast step (:func:`_topk_grads`) does only the encoder product
and the top-k selection densely; the latents are a sparse CSR matrix with ``k`` entries per row and
the decoder's forward and backward products and the encoder's weight gradient are sparse-dense
products that touch only the active latents.
"""

from __future__ import annotations

import torch

from ._context import StepContext
from ._sparse import _SparseCode
from ._workspace import _Workspace
from .auxk import _aux_autograd, _aux_fast

# Nothing here is public: SparseAutoencoder(activation=...) and train_sae check their arguments and
# then call these pieces in their hot loops.
__all__: list[str] = []


def activate(pre: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """``pre (I, B, m)``, ``k (I,)``: the ``k[i]`` largest entries of each row, through a ReLU; the rest 0."""
    k_max = int(k.max())
    values, indices = pre.topk(k_max, dim=-1)
    keep = torch.arange(k_max, device=pre.device) < k.view(-1, 1, 1)  # (I, 1, k_max)
    values = torch.relu(values) * keep
    return torch.zeros_like(pre).scatter(-1, indices, values)


def _sparse_step(sae, x: torch.Tensor, pre: torch.Tensor, code: _SparseCode, live: torch.Tensor, ws: _Workspace,
                 ctx: StepContext, want_stats: bool):
    """Gradients of ``mean_b ||x - x_hat||^2`` (+ AuxK) for a sparse code; shared by TopK and BatchTopK."""
    I, d, m = sae.n_instances, sae.d_in, sae.d_sae
    B = x.shape[0]
    W_enc, W_dec, b_dec = sae.W_enc.detach(), sae.W_dec.detach(), sae.b_dec.detach()
    W_flat = W_dec.reshape(I * m, d)
    x_hat = torch.sparse.mm(code.matrix(), W_flat).view(I, B, d)
    err = x_hat.add_(b_dec.unsqueeze(1)).sub_(x.unsqueeze(0))  # x_hat - x  (I, B, d)
    stats = None
    if want_stats:
        sq = err.pow(2).sum(-1)
        stats = {"mse": sq.mean(-1), "sq_err": sq,
                 "l0": torch.bincount(torch.div(code.rows_t.long(), B, rounding_mode="floor"),
                                      weights=live[code.perm].float(), minlength=I) / B}
    e = -err if ctx.dead is not None and ctx.aux_coeff > 0 and bool(ctx.dead.any()) else None
    g = err.mul_(2.0 / B) if e is None else err * (2.0 / B)     # d loss / d x_hat
    g_flat = g.reshape(I * B, d)
    gv = code.sampled(g_flat, W_flat.t()) * live               # d loss / d z at active latents
    grad_W_dec = torch.sparse.mm(code.matrix_t(), g_flat).view(I, m, d)
    xa_flat = ws.xa.reshape(I * B, d + 1)
    G_enc_t = torch.sparse.mm(code.matrix_t(gv), xa_flat).view(I, m, d + 1)
    fired = code.fired(live, I, m)
    if e is not None:
        aux = _aux_fast(sae, pre, ctx.dead, e, ctx.k_aux, ctx.aux_coeff * ctx.aux_scale, xa_flat, grad_W_dec,
                        G_enc_t, want_stats)
        if want_stats:
            stats["aux"] = aux
    elif want_stats:
        stats["aux"] = torch.zeros(I, device=x.device)
    grad_W_enc = G_enc_t[..., :d].transpose(1, 2)
    grad_b_enc = G_enc_t[..., d]
    grad_b_dec = g.sum(1) - torch.bmm(grad_b_enc.unsqueeze(1), W_enc.transpose(1, 2)).squeeze(1)
    return [grad_W_enc, grad_b_enc, grad_W_dec, grad_b_dec], fired, stats


def fast_grads(sae, x, ctx: StepContext, ws: _Workspace, want_stats: bool):
    """One forward + backward of a TopK SAE (plus AuxK on ``ctx.dead``) with sparse decoder products.
    Returns ``(grads for W_enc, b_enc, W_dec, b_dec; fired (I, m); stats)``."""
    ws.load_encoder(sae, x)
    pre = torch.bmm(ws.xa, ws.A_enc)                           # the one dense GEMM (I, B, m)
    kmax = sae.k_max
    values, indices = pre.topk(kmax, dim=-1)                   # (I, B, kmax)
    live = values > 0
    if bool((sae.k < kmax).any()):
        live &= torch.arange(kmax, device=x.device) < sae.k.view(-1, 1, 1)
    values = values * live
    code = _SparseCode.from_topk(values, indices, sae.d_sae)
    return _sparse_step(sae, x, pre, code, live.reshape(-1), ws, ctx, want_stats)


def _topk_grads(sae, x, dead, aux_coeff: float, k_aux: int, ws: _Workspace, want_stats: bool, aux_scale: float = 1.0):
    """:func:`fast_grads` with the arguments spelled out (kept for tests and benchmarks)."""
    ctx = StepContext(lam=torch.zeros(sae.n_instances), dead=dead, aux_coeff=aux_coeff, k_aux=k_aux, aux_scale=aux_scale)
    return fast_grads(sae, x, ctx, ws, want_stats)


def _recon_with_aux(sae, x, pre, z, ctx: StepContext, want_stats: bool):
    """Squared error plus AuxK for a code ``z``, for autograd; shared by TopK and BatchTopK."""
    x_hat = torch.baddbmm(sae.b_dec.unsqueeze(1), z, sae.W_dec)
    sq = (x_hat - x).pow(2).sum(-1)
    loss = sq.mean(-1)
    stats = {"mse": sq.mean(-1).detach(), "sq_err": sq.detach(), "l0": (z > 0).sum(-1).float().mean(-1)} if want_stats else None
    if ctx.dead is not None and ctx.aux_coeff > 0 and bool(ctx.dead.any()):
        aux = _aux_autograd(pre, ctx.dead, sae.W_dec, x - x_hat, ctx.k_aux)
        loss = loss + ctx.aux_coeff * ctx.aux_scale * aux
        if want_stats:
            stats["aux"] = aux.detach()
    elif want_stats:
        stats["aux"] = torch.zeros(sae.n_instances, device=x.device)
    return loss, (z > 0).any(1), stats


def autograd_loss(sae, x, ctx: StepContext, want_stats: bool):
    pre = sae.pre_activations(x)
    return _recon_with_aux(sae, x, pre, activate(pre, sae.k), ctx, want_stats)

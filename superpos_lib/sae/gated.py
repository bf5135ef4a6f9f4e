"""Gated SAE (Rajamanoharan et al. 2024a, "Improving dictionary learning with gated sparse autoencoders").

Two paths share the encoder directions. The *gate* decides which latents fire, the *magnitude*
path how strongly:

    pi_gate = (x - b_dec) @ W_enc + b_enc                     (W_enc, b_enc play W_gate, b_gate)
    pi_mag  = (x - b_dec) @ (W_enc * exp(r_mag)) + b_mag
    z       = H(pi_gate) * ReLU(pi_mag)

The L1 penalty sits on ``ReLU(pi_gate)`` (weighted by decoder norms), not on ``z``, so it no longer
shrinks the magnitudes. The step ``H`` passes no gradient, so the gate would learn only from the
penalty; the paper's auxiliary loss gives it a reconstruction signal, decoding ``ReLU(pi_gate)`` with
a frozen (detached) copy of the decoder:

    L = ||x - x_hat||^2 + lam * sum_i ReLU(pi_gate)_i ||W_dec[i]|| + ||x - (ReLU(pi_gate) @ sg(W_dec) + sg(b_dec))||^2

(averaged over the batch). The fast step (:func:`fast_grads`) computes this loss's gradients by hand;
``autograd_loss`` is the reference it is tested against.
"""

from __future__ import annotations

import torch

from ._context import StepContext
from ._masking import where_positive
from ._workspace import _Workspace

# Nothing here is public: SparseAutoencoder(activation=...) and train_sae check their arguments and
# then call these pieces in their hot loops.
__all__: list[str] = []


def activate(pre_gate: torch.Tensor, pre_mag: torch.Tensor) -> torch.Tensor:
    """``H(pre_gate) * ReLU(pre_mag)``; both ``(I, B, d_sae)``."""
    return (pre_gate > 0).to(pre_mag.dtype) * torch.relu(pre_mag)


def autograd_loss(sae, x, ctx: StepContext, want_stats: bool):
    """The gated SAE loss above, per instance ``(I,)``, for autograd."""
    pre_gate = sae.pre_activations(x)
    z = activate(pre_gate, sae.magnitude_pre_activations(x))
    x_hat = torch.baddbmm(sae.b_dec.unsqueeze(1), z, sae.W_dec)
    sq = (x_hat - x).pow(2).sum(-1)
    gate_act = torch.relu(pre_gate)
    penalty = ctx.lam * (gate_act * sae.W_dec.norm(dim=-1).unsqueeze(1)).sum(-1).mean(-1)
    x_gate = torch.baddbmm(sae.b_dec.detach().unsqueeze(1), gate_act, sae.W_dec.detach())
    aux = (x_gate - x).pow(2).sum(-1).mean(-1)
    stats = None
    if want_stats:
        stats = {"mse": sq.mean(-1).detach(), "sq_err": sq.detach(), "l0": (z > 0).sum(-1).float().mean(-1),
                 "penalty": penalty.detach(), "aux": aux.detach()}
    return sq.mean(-1) + penalty + aux, (z > 0).any(1), stats


def fast_grads(sae, x, ctx: StepContext, ws: _Workspace, want_stats: bool):
    """One forward + backward of the gated SAE loss by hand. Both paths share one encoder product
    ``P = (x - b_dec) @ W_enc``: ``pi_gate = P + b_enc``, ``pi_mag = P * exp(r_mag) + b_mag``.
    Assumes unit-norm decoder rows, as ``train_sae`` keeps them: the penalty's weight is then
    ``lam`` and its gradient on ``W_dec`` lies along the rows, which the decoder projection removes.
    Returns grads for ``W_enc, b_enc, W_dec, b_dec, r_mag, b_mag`` (W_dec's not yet projected),
    ``fired (I, m)`` and stats."""
    I, d, m = sae.n_instances, sae.d_in, sae.d_sae
    B = x.shape[0]
    W_enc, W_dec, b_dec = sae.W_enc.detach(), sae.W_dec.detach(), sae.b_dec.detach()
    scale = sae.r_mag.detach().exp().unsqueeze(1)              # (I, 1, m)
    xc = ws.xa[..., :d]
    torch.sub(x.unsqueeze(0), b_dec.unsqueeze(1), out=xc)
    P = torch.bmm(xc, W_enc)                                   # GEMM 1, shared by both paths (I, B, m)
    pi_gate = P + sae.b_enc.detach().unsqueeze(1)
    gate_act = torch.relu(pi_gate)
    z = where_positive(torch.addcmul(sae.b_mag.detach().unsqueeze(1), P, scale).relu_(), pi_gate)  # H(pi_gate) ReLU(pi_mag)
    err = torch.bmm(z, W_dec).add_(b_dec.unsqueeze(1)).sub_(x)            # GEMM 2: x_hat - x
    err_gate = torch.bmm(gate_act, W_dec).add_(b_dec.unsqueeze(1)).sub_(x)  # GEMM 3: x_gate - x (frozen decoder)
    stats = None
    if want_stats:
        sq = err.pow(2).sum(-1)
        penalty = ctx.lam * gate_act.sum(-1).mean(-1)
        stats = {"mse": sq.mean(-1), "sq_err": sq, "l0": (z > 0).sum(-1).float().mean(-1), "penalty": penalty,
                 "aux": err_gate.pow(2).sum(-1).mean(-1)}
    grad_W_dec = torch.baddbmm(W_dec, z.transpose(1, 2), err, beta=0.0, alpha=2.0 / B)  # GEMM 4
    # d loss / d pi_mag: through z, nonzero exactly where z > 0
    g_mag = where_positive(torch.baddbmm(z, err, W_dec.transpose(1, 2), beta=0.0, alpha=2.0 / B), z)  # GEMM 5
    # d loss / d pi_gate: the auxiliary reconstruction and the penalty, through ReLU(pi_gate)
    g_gate = torch.baddbmm((ctx.lam / B).view(I, 1, 1).to(P.dtype), err_gate, W_dec.transpose(1, 2), alpha=2.0 / B)  # GEMM 6
    g_gate = where_positive(g_gate, pi_gate)
    grad_b_mag = g_mag.sum(1)
    grad_r = (g_mag * P).sum(1).mul_(scale.squeeze(1))
    grad_b_enc = g_gate.sum(1)
    g_P = g_gate.addcmul_(g_mag, scale)                        # d loss / d P (in place of g_gate)
    grad_W_enc = torch.bmm(xc.transpose(1, 2), g_P)           # GEMM 7
    grad_b_dec = torch.baddbmm(err.sum(1, keepdim=True), g_P.sum(1, keepdim=True), W_enc.transpose(1, 2),
                               alpha=-1.0, beta=2.0 / B).squeeze(1)
    fired = z.sum(1) > 0                                       # z >= 0, so a positive sum means it fired
    return [grad_W_enc, grad_b_enc, grad_W_dec, grad_b_dec, grad_r, grad_b_mag], fired, stats

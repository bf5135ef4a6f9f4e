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

(averaged over the batch). Trained with autograd (``train_sae`` has no hand-derived path for it).
"""

from __future__ import annotations

import torch

from ._context import StepContext

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

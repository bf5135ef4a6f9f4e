"""JumpReLU SAE (Rajamanoharan et al. 2024b, "Jumping Ahead"): ``z = pre * H(pre - theta)``.

Each latent has its own threshold ``theta > 0`` (stored as ``log_threshold``). Training minimises
``mean_b ||x - x_hat||^2 + lam * mean_b ||z||_0``. The step function has zero derivative almost
everywhere, so the paper trains ``theta`` with straight-through estimators: pseudo-derivatives
taken from a kernel density estimate with a rectangle kernel ``K(u) = 1[|u| < 1/2]`` of bandwidth
``eps``:

    d/d theta  JumpReLU_theta(pre) := -(theta / eps) * K((pre - theta) / eps)
    d/d theta  H(pre - theta)      := -(1 / eps)     * K((pre - theta) / eps)

while ``d/d pre`` is the ordinary one (``H(pre - theta)`` for JumpReLU, 0 for the step). The
decoder rows are kept at unit norm, as for the other architectures here (the L0 penalty does not
depend on their norm). :func:`jumprelu` and :func:`heaviside_step` are these functions as autograd
functions; :func:`_jumprelu_grads` is the same step written by hand (five GEMMs, as for ReLU).
"""

from __future__ import annotations

import torch

from .. import _validate as V
from ._context import StepContext
from ._masking import where_positive
from ._workspace import _Workspace

__all__ = ["jumprelu", "heaviside_step"]


def _rect(pre: torch.Tensor, threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """``K((pre - threshold) / bandwidth)`` with the rectangle kernel, as a float mask."""
    return ((pre - threshold).abs() < bandwidth / 2).to(pre.dtype)


class _JumpReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre, threshold, bandwidth):
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return pre * (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad):
        pre, threshold = ctx.saved_tensors
        eps = ctx.bandwidth
        grad_pre = grad * (pre > threshold).to(grad.dtype)
        grad_threshold = (-(threshold / eps) * _rect(pre, threshold, eps) * grad).sum_to_size(threshold.shape)
        return grad_pre, grad_threshold, None


class _Heaviside(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre, threshold, bandwidth):
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad):
        pre, threshold = ctx.saved_tensors
        eps = ctx.bandwidth
        grad_threshold = (-(1.0 / eps) * _rect(pre, threshold, eps) * grad).sum_to_size(threshold.shape)
        return torch.zeros_like(pre), grad_threshold, None


def _check(pre, threshold, bandwidth):
    V.tensor("pre", pre)
    V.tensor("threshold", threshold)
    V.positive_float("bandwidth", bandwidth)
    try:
        shape = torch.broadcast_shapes(pre.shape, threshold.shape)
    except RuntimeError:
        raise ValueError(f"threshold of shape {tuple(threshold.shape)} does not broadcast to pre {tuple(pre.shape)}") from None
    if shape != pre.shape:
        raise ValueError(f"threshold of shape {tuple(threshold.shape)} must broadcast to pre's shape {tuple(pre.shape)}")


def jumprelu(pre: torch.Tensor, threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """``pre * H(pre - threshold)``, differentiable with the paper's pseudo-derivative for ``threshold``.

    ``pre``: any shape, e.g. ``(I, batch, d_sae)``; ``threshold``: broadcastable to it, e.g.
    ``(I, 1, d_sae)``; ``bandwidth``: ``eps > 0``. Backward: ``d/d pre = H(pre - threshold)``,
    ``d/d threshold = -(threshold / eps) * 1[|pre - threshold| < eps / 2]`` (summed over broadcast
    dimensions). Returns a tensor shaped like ``pre``.
    """
    _check(pre, threshold, bandwidth)
    return _JumpReLU.apply(pre, threshold, float(bandwidth))


def heaviside_step(pre: torch.Tensor, threshold: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """``H(pre - threshold)`` (1 where ``pre > threshold``, else 0), differentiable in ``threshold``.

    Shapes as :func:`jumprelu`. Backward: ``d/d pre = 0``, ``d/d threshold = -(1 / eps) *
    1[|pre - threshold| < eps / 2]``. Summed over latents it is the L0 norm, so this is how the
    L0 penalty of a JumpReLU SAE gets a gradient.
    """
    _check(pre, threshold, bandwidth)
    return _Heaviside.apply(pre, threshold, float(bandwidth))


def activate(pre: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Inference rule: ``pre * H(pre - threshold)``; ``threshold (I, d_sae)``."""
    return pre * (pre > threshold.unsqueeze(1)).to(pre.dtype)


def autograd_loss(sae, x, ctx: StepContext, want_stats: bool):
    """``mean_b ||x - x_hat||^2 + lam * mean_b sum_i H(pre_i - theta_i)`` per instance, for autograd."""
    pre = sae.pre_activations(x)
    theta = sae.log_threshold.exp().unsqueeze(1)
    z = jumprelu(pre, theta, ctx.bandwidth)
    x_hat = torch.baddbmm(sae.b_dec.unsqueeze(1), z, sae.W_dec)
    sq = (x_hat - x).pow(2).sum(-1)
    l0 = heaviside_step(pre, theta, ctx.bandwidth).sum(-1).mean(-1)
    penalty = ctx.lam * l0
    stats = {"mse": sq.mean(-1).detach(), "sq_err": sq.detach(), "l0": l0.detach(), "penalty": penalty.detach()} if want_stats else None
    return sq.mean(-1) + penalty, (z != 0).any(1), stats


def _jumprelu_grads(sae, x: torch.Tensor, lam: torch.Tensor, bandwidth: float, ws: _Workspace, want_stats: bool):
    """One forward + backward of a JumpReLU SAE by hand: the five GEMMs of the ReLU step plus the
    straight-through threshold gradient. Returns grads for ``W_enc, b_enc, W_dec, b_dec,
    log_threshold`` (W_dec's not yet projected), ``fired (I, m)`` and stats."""
    I, d, m = sae.n_instances, sae.d_in, sae.d_sae
    B = x.shape[0]
    W_enc, W_dec = sae.W_enc.detach(), sae.W_dec.detach()
    theta = sae.log_threshold.detach().exp()                   # (I, m)
    ws.load_encoder(sae, x)
    xa, A_dec = ws.xa, ws.A_dec
    xc = xa[..., :d]
    A_dec[..., :d].copy_(W_dec)
    A_dec[..., d] = 0.0
    pre = torch.bmm(xa, ws.A_enc)                              # GEMM 1: pre-activations (I, B, m)
    th = theta.unsqueeze(1)
    diff = pre - th
    z = where_positive(pre, diff, out=ws.z)                    # pre * H(pre - theta)
    out = torch.bmm(z, A_dec)                                  # GEMM 2: [x_hat - b_dec, 0]
    err = out[..., :d].sub_(xc)                                # x_hat - x
    stats = None
    if want_stats:
        sq = err.pow(2).sum(-1)
        l0 = (diff > 0).sum(-1).float().mean(-1)
        stats = {"mse": sq.mean(-1), "sq_err": sq, "l0": l0, "penalty": lam * l0}
    out[..., d] = 1.0
    G_dec = torch.baddbmm(ws.G_dec, z.transpose(1, 2), out, beta=0.0, alpha=2.0 / B)  # GEMM 3: [grad W_dec, (2/B) sum_b z]
    g = torch.baddbmm(ws.g, out[..., :d], W_dec.transpose(1, 2), beta=0.0, alpha=2.0 / B, out=ws.g)  # GEMM 4: d loss / d z
    # threshold: -(1/eps) sum_b K * (theta * g + lam / B), then the chain rule through theta = exp(log theta);
    # K((pre - theta) / eps) = 1 exactly where eps/2 - |pre - theta| > 0
    inside = diff.abs().neg_().add_(bandwidth / 2)
    at_window = torch.addcmul((lam / B).view(I, 1, 1).to(g.dtype), g, th)
    gt = where_positive(at_window, inside).sum(1)
    grad_log_theta = gt * theta * (-1.0 / bandwidth)
    g = where_positive(g, diff)                                # d z / d pre = H(pre - theta)
    G_enc = torch.bmm(xa.transpose(1, 2), g)                   # GEMM 5: [grad W_enc; grad b_enc]
    grad_b_enc = G_enc[:, d]
    grad_b_dec = torch.baddbmm(err.sum(1, keepdim=True), grad_b_enc.unsqueeze(1), W_enc.transpose(1, 2),
                               alpha=-1.0, beta=2.0 / B).squeeze(1)
    fired = G_dec[..., d] > 0
    return [G_enc[:, :d], grad_b_enc, G_dec[..., :d], grad_b_dec, grad_log_theta], fired, stats


def fast_grads(sae, x, ctx: StepContext, ws: _Workspace, want_stats: bool):
    return _jumprelu_grads(sae, x, ctx.lam, ctx.bandwidth, ws, want_stats)

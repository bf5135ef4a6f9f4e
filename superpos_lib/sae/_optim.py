"""Adam on plain tensors with explicit gradients, and the unit-norm decoder constraint."""

from __future__ import annotations

import torch


def _project_decoder_grad(W_dec: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """Remove from each row's gradient its component along the (unit-norm) row."""
    return grad - (grad * W_dec).sum(-1, keepdim=True) * W_dec


class _Adam:
    """``torch.optim.Adam`` (default betas and eps) applied to plain tensors and explicit grads
    (views into the fused step's GEMM outputs), with PyTorch's fused Adam kernel when it exists
    (one pass per tensor instead of seven), else the same update written out. ``lr``: a number, or
    a tensor ``(I,)`` with one learning rate per instance (every parameter's first axis), which the
    written-out update applies."""

    def __init__(self, params: list[torch.Tensor], lr: float | torch.Tensor, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps = params, lr, betas, eps
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in params]
        self._fused = hasattr(torch, "_fused_adam_")

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor]) -> None:
        grads = [g.contiguous() for g in grads]
        b1, b2 = self.betas
        if self._fused and not isinstance(self.lr, torch.Tensor):
            torch._foreach_add_(self.steps, 1.0)
            torch._fused_adam_(self.params, grads, self.m, self.v, [], self.steps, lr=self.lr, beta1=b1,
                               beta2=b2, weight_decay=0.0, eps=self.eps, amsgrad=False, maximize=False)
            return
        for p, g, m, v, s in zip(self.params, grads, self.m, self.v, self.steps):
            s += 1
            t = float(s)
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (v / (1 - b2 ** t)).sqrt_().add_(self.eps)
            if isinstance(self.lr, torch.Tensor):
                p.addcdiv_(m * self.lr.view(-1, *[1] * (p.ndim - 1)), denom, value=-1.0 / (1 - b1 ** t))
            else:
                p.addcdiv_(m, denom, value=-self.lr / (1 - b1 ** t))

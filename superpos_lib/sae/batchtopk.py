"""BatchTopK SAE (Bussmann, Leask and Nanda 2024): top ``k * B`` over a whole batch.

In training, the ``k * B`` largest pre-activations of a batch of ``B`` samples are kept (then a
ReLU), so L0 averages ``k`` over the batch but varies from sample to sample. That rule makes one
sample's code depend on the others, so at inference a fixed threshold replaces it: ``z = pre *
H(pre - threshold)``, with ``threshold`` (one per instance) the running mean, over training steps,
of the smallest kept activation (exponential average, factor 0.95 per step). Dead latents get the
AuxK loss as in TopK (:mod:`superpos_lib.sae.auxk`).

The fast step finds the batch threshold exactly by one selection (``kthvalue``) instead of a top-k
that returns all ``k * B`` entries, then keeps the latents as a sparse matrix.
"""

from __future__ import annotations

import torch

from ._context import StepContext
from ._sparse import _SparseCode
from ._workspace import _Workspace
from .topk import _recon_with_aux, _sparse_step

# Nothing here is public: SparseAutoencoder(activation=...) and train_sae check their arguments and
# then call these pieces in their hot loops.
__all__: list[str] = []

THRESHOLD_DECAY = 0.95


def batch_threshold(pre: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """The ``k[i] * B``-th largest entry of instance ``i``'s ``pre (I, B, m)``: ``(I,)``, exact.

    One selection (``kthvalue``, a quickselect) over the flattened batch per distinct ``k``: much
    cheaper than a top-k that returns all ``k * B`` entries."""
    I, B, m = pre.shape
    flat = pre.reshape(I, B * m)
    n_keep = (k * B).clamp_max(B * m)
    t = torch.empty(I, dtype=pre.dtype, device=pre.device)
    for n in torch.unique(n_keep).tolist():                    # usually one value
        rows = (n_keep == n).nonzero(as_tuple=True)[0]
        t[rows] = flat[rows].kthvalue(B * m - n + 1, dim=-1).values
    return t


def batch_activate(pre: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Training rule: keep the ``k[i] * B`` largest entries of each instance's batch, then a ReLU."""
    t = batch_threshold(pre, k).view(-1, 1, 1)
    return torch.where(pre >= t, torch.relu(pre), torch.zeros((), dtype=pre.dtype, device=pre.device))


def activate(pre: torch.Tensor, k: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Inference rule ``pre * H(pre - threshold)`` (``threshold (I,)``); the batch rule while the
    threshold is not yet estimated (NaN)."""
    if bool(torch.isnan(threshold).any()):
        return batch_activate(pre, k)
    return pre * (pre > threshold.view(-1, 1, 1)).to(pre.dtype)


def _min_kept(t: torch.Tensor) -> torch.Tensor:
    """The smallest kept activation per instance, from the batch threshold ``t (I,)``: ``t`` itself
    when positive (it is one of the entries), NaN otherwise (then only positive entries were kept
    and the step does not update the threshold)."""
    return torch.where(t > 0, t, torch.full_like(t, float("nan")))


@torch.no_grad()
def update_threshold(sae, min_kept: torch.Tensor) -> None:
    """Fold one step's smallest kept activations ``(I,)`` into the inference threshold."""
    t = sae.threshold
    fresh = torch.isnan(t)
    blended = THRESHOLD_DECAY * t + (1 - THRESHOLD_DECAY) * min_kept
    new = torch.where(fresh, min_kept, blended)
    t.copy_(torch.where(torch.isnan(min_kept), t, new))


def autograd_loss(sae, x, ctx: StepContext, want_stats: bool):
    pre = sae.pre_activations(x)
    t = batch_threshold(pre.detach(), sae.k)
    z = torch.where(pre >= t.view(-1, 1, 1), torch.relu(pre), torch.zeros((), dtype=pre.dtype, device=pre.device))
    loss, fired, stats = _recon_with_aux(sae, x, pre, z, ctx, want_stats)
    if stats is None:
        stats = {}
    stats["min_kept"] = _min_kept(t)
    return loss, fired, stats


def fast_grads(sae, x, ctx: StepContext, ws: _Workspace, want_stats: bool):
    """One forward + backward of a BatchTopK SAE (plus AuxK) with sparse decoder products."""
    I = sae.n_instances
    ws.load_encoder(sae, x)
    pre = torch.bmm(ws.xa, ws.A_enc)                           # (I, B, m)
    t = batch_threshold(pre, sae.k)
    code = _SparseCode.from_mask(pre, (pre >= t.view(I, 1, 1)) & (pre > 0))
    live = torch.ones_like(code.values, dtype=torch.bool)
    grads, fired, stats = _sparse_step(sae, x, pre, code, live, ws, ctx, want_stats)
    if stats is None:
        stats = {}
    stats["min_kept"] = _min_kept(t)
    return grads, fired, stats

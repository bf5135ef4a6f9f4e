"""BatchTopK SAE (Bussmann, Leask and Nanda 2024): top ``k * B`` over a whole batch.

In training, the ``k * B`` largest pre-activations of a batch of ``B`` samples are kept (then a
ReLU), so L0 averages ``k`` over the batch but varies from sample to sample. That rule makes one
sample's code depend on the others, so at inference a fixed threshold replaces it: ``z = pre *
H(pre - threshold)``, with ``threshold`` (one per instance) the running mean, over training steps,
of the smallest kept activation (exponential average, factor 0.95 per step). Dead latents get the
AuxK loss as in TopK (:mod:`superpos_lib.sae.auxk`).

The fast step finds the batch threshold exactly without a top-k over all ``B * d_sae`` numbers:
the kept entries of a row are among its ``c`` largest (``c = 2k`` to start with) unless that row has
``c`` entries at or above the threshold, which is checked; then ``c`` grows and the selection is
repeated.
"""

from __future__ import annotations

import torch

from ._context import StepContext
from ._sparse import _SparseCode
from ._workspace import _Workspace
from .topk import _recon_with_aux, _sparse_step

THRESHOLD_DECAY = 0.95


def _kth_largest(flat: torch.Tensor, n_keep: torch.Tensor) -> torch.Tensor:
    """The ``n_keep[i]``-th largest entry of each row of ``flat (I, N)``: ``(I,)``."""
    n_max = int(n_keep.max())
    top = flat.topk(n_max, dim=-1, sorted=False).values      # unsorted top-k is much cheaper
    if bool((n_keep == n_max).all()):
        return top.amin(-1)
    return top.sort(dim=-1, descending=True).values.gather(1, (n_keep - 1).view(-1, 1)).squeeze(1)


def _select(pre: torch.Tensor, k: torch.Tensor):
    """Exact batch threshold ``t (I,)`` and each row's ``c`` largest entries ``(values, indices)``
    ``(I, B, c)``, with ``c`` large enough that every kept entry (``>= t``) is among them."""
    I, B, m = pre.shape
    n_keep = (k * B).clamp_max(B * m)
    c = min(m, 2 * int(k.max()))
    while True:
        values, indices = pre.topk(c, dim=-1)                  # each row sorted, largest first
        t = _kth_largest(values.reshape(I, -1), n_keep)
        if c == m or not bool((values[..., -1] >= t.view(I, 1)).any()):
            return t, values, indices
        c = min(m, 4 * c)                                      # some row holds more than c kept entries


def batch_threshold(pre: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """The ``k[i] * B``-th largest entry of instance ``i``'s ``pre (I, B, m)``: ``(I,)``, exact."""
    return _select(pre, k)[0]


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
    I, m = sae.n_instances, sae.d_sae
    ws.load_encoder(sae, x)
    pre = torch.bmm(ws.xa, ws.A_enc)                           # (I, B, m)
    t, values, indices = _select(pre, sae.k)
    c = values.shape[-1]
    keep = (values >= t.view(I, 1, 1)) & (values > 0)          # a prefix of each sorted row
    counts = keep.reshape(-1, c).sum(-1)
    crow = torch.zeros(counts.numel() + 1, dtype=torch.int32, device=pre.device)
    torch.cumsum(counts, 0, out=crow[1:])
    cols = indices.to(torch.int32)
    if I > 1:
        cols = cols + (torch.arange(I, device=pre.device, dtype=torch.int32) * m).view(I, 1, 1)
    rows = torch.arange(counts.numel(), device=pre.device, dtype=torch.int32).repeat_interleave(counts)
    code = _SparseCode(crow, cols[keep], values[keep], rows, counts.numel(), I * m)
    live = torch.ones_like(code.values, dtype=torch.bool)
    grads, fired, stats = _sparse_step(sae, x, pre, code, live, ws, ctx, want_stats)
    if stats is None:
        stats = {}
    stats["min_kept"] = _min_kept(t)
    return grads, fired, stats

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
GUESS_FRACTION = 0.85  # the training step's guess for the batch threshold: this fraction of the running one


def batch_threshold(pre: torch.Tensor, k: torch.Tensor, guess: torch.Tensor | None = None) -> torch.Tensor:
    """The ``k[i] * B``-th largest entry of instance ``i``'s ``pre (I, B, m)``: ``(I,)``, exact.

    One selection (``kthvalue``, a quickselect) over the flattened batch per distinct ``k``: much
    cheaper than a top-k that returns all ``k * B`` entries. ``guess (I,)``, optional: a value
    believed to lie below the threshold (training passes a fraction of the running inference
    threshold). Where at least ``k * B`` entries reach it, the selection runs over those candidates
    only, which is exact (the answer is among them) and several times cheaper; elsewhere, and for
    NaN guesses, over everything."""
    I, B, m = pre.shape
    flat = pre.reshape(I, B * m)
    n_keep = (k * B).clamp_max(B * m)
    t = torch.empty(I, dtype=pre.dtype, device=pre.device)
    todo = torch.ones(I, dtype=torch.bool, device=pre.device)
    if guess is not None and bool(torch.isfinite(guess).any()):
        g = torch.where(torch.isfinite(guess), guess, torch.full_like(guess, float("inf")))
        mask = flat >= g.view(I, 1)
        counts = mask.sum(1)
        good = counts >= n_keep
        if bool(good.any()):
            mask &= good.view(I, 1)
            t[good] = _select_among(flat[mask], torch.where(good, counts, 0), n_keep)[good]
            todo = ~good
    for n in torch.unique(n_keep[todo]).tolist():               # usually one value
        rows = (todo & (n_keep == n)).nonzero(as_tuple=True)[0]
        t[rows] = flat[rows].kthvalue(B * m - n + 1, dim=-1).values
    return t


def _select_among(values: torch.Tensor, counts: torch.Tensor, n_keep: torch.Tensor) -> torch.Tensor:
    """The ``n_keep[i]``-th largest of each instance's candidates: ``values`` holds ``counts[i]``
    entries per instance, instance by instance (rows with ``counts[i] = 0`` give -inf). One
    ``kthvalue`` at a common rank: row ``i`` is padded with ``n_max - n_keep[i]`` entries of +inf
    (which shifts its rank to ``n_max``) and with -inf up to the common length."""
    I = counts.shape[0]
    dev, dt = values.device, values.dtype
    c_max = int(counts.max())
    n_max = int(n_keep.max())
    width = c_max + n_max - int(n_keep.min())
    inst = torch.repeat_interleave(torch.arange(I, device=dev), counts)
    pos = torch.arange(values.numel(), device=dev) - (counts.cumsum(0) - counts)[inst]
    rows = torch.full((I, width), float("-inf"), dtype=dt, device=dev)
    rows[inst, pos] = values
    col = torch.arange(width - c_max, device=dev).view(1, -1)
    rows[:, c_max:] = torch.where(col < (n_max - n_keep).view(-1, 1), float("inf"), float("-inf"))
    return rows.kthvalue(width - n_max + 1, dim=1).values


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
    t = batch_threshold(pre, sae.k, guess=GUESS_FRACTION * sae.threshold)
    code = _SparseCode.from_mask(pre, (pre >= t.view(I, 1, 1)) & (pre > 0))
    live = torch.ones_like(code.values, dtype=torch.bool)
    grads, fired, stats = _sparse_step(sae, x, pre, code, live, ws, ctx, want_stats)
    if stats is None:
        stats = {}
    stats["min_kept"] = _min_kept(t)
    return grads, fired, stats

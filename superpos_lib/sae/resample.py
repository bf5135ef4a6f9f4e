"""Resampling dead latents (Bricken et al. 2023, "Towards Monosemanticity")."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .. import _validate as V
from .model import SparseAutoencoder

__all__ = ["resample_dead_latents"]


@torch.no_grad()
def resample_dead_latents(sae: SparseAutoencoder, x: torch.Tensor, dead: torch.Tensor, *,
                          generator: torch.Generator | None = None, encoder_scale: float = 0.2,
                          optimizer_state: list[torch.Tensor] | None = None,
                          decoder_rows: Callable | None = None) -> torch.Tensor:
    """Re-initialise dead latents on inputs the SAE reconstructs badly (Bricken et al. 2023).

    ``x``: ``(batch, d_in)``; ``dead``: ``(I, d_sae)`` bool. For every instance, each dead latent
    gets an input ``x_j`` drawn with probability proportional to its squared reconstruction error;
    its decoder row becomes ``(x_j - b_dec) / ||x_j - b_dec||``, its encoder column the same vector
    times ``encoder_scale`` times the mean norm of the live encoder columns, its encoder bias 0.
    ``optimizer_state`` (Adam moments laid out like ``[W_enc, b_enc, W_dec, b_dec]``, repeated) is
    zeroed for those latents. Returns the number of latents resampled per instance ``(I,)``.

    ``decoder_rows``, if given, computes the new decoder instead of the line above, one instance at
    a time: ``decoder_rows(W_dec (m, d), dead (m,), x_chosen (m, d), b_dec (d,)) -> (m, d)`` (chapter
    6b's exercise); the encoder columns of the dead latents follow its rows. Its live rows are
    ignored: only dead latents change.
    """
    if not isinstance(sae, SparseAutoencoder):
        raise ValueError(f"sae must be a SparseAutoencoder, got {type(sae).__name__}")
    I, d, m = sae.n_instances, sae.d_in, sae.d_sae
    V.tensor("x", x, ndim=2)
    if x.shape[-1] != d:
        raise ValueError(f"x must have last dimension d_in={d}, got shape {tuple(x.shape)}")
    V.non_empty("x", x, 0, "sample to draw new directions from")
    if not isinstance(dead, torch.Tensor) or dead.dtype != torch.bool or dead.shape != (I, m):
        raise ValueError(f"dead must be a bool tensor of shape (n_instances, d_sae) = ({I}, {m})")
    V.positive_float("encoder_scale", encoder_scale)
    V.generator_on("generator", generator, torch.device("cpu"))  # the draw runs on the CPU
    if optimizer_state is not None and (isinstance(optimizer_state, torch.Tensor)
                                        or not all(isinstance(s, torch.Tensor) for s in optimizer_state)
                                        or len(optimizer_state) % 4):
        raise ValueError("optimizer_state must be a list of tensors laid out like [W_enc, b_enc, W_dec, b_dec], repeated")
    _check_decoder_rule("decoder_rows", decoder_rows)
    x_hat, _ = sae(x)
    weights = (x_hat - x).pow(2).sum(-1).pow(2) + 1e-12       # (I, B): probability ~ squared loss
    # one candidate input per latent (I, m), drawn on the CPU so a CPU generator works everywhere
    pick = torch.multinomial(weights.cpu(), m, replacement=True, generator=generator).to(x.device)
    if decoder_rows is None:
        xc = x.unsqueeze(0) - sae.b_dec.unsqueeze(1)               # (I, B, d)
        new_dir = torch.gather(xc, 1, pick.unsqueeze(-1).expand(I, m, d))
        new_dir = new_dir / new_dir.norm(dim=-1, keepdim=True).clamp_min(1e-12)   # (I, m, d)
    else:
        new_dir = _rows_from(decoder_rows, sae, dead, x[pick])
    enc_norms = sae.W_enc.norm(dim=1)                          # (I, m)
    alive = (~dead).float()
    mean_alive = (enc_norms * alive).sum(-1) / alive.sum(-1).clamp_min(1)
    mean_alive = torch.where(alive.sum(-1) > 0, mean_alive, torch.ones_like(mean_alive))
    mask = dead.unsqueeze(-1)                                  # (I, m, 1)
    sae.W_dec.copy_(torch.where(mask, new_dir, sae.W_dec))
    new_enc = (new_dir * (encoder_scale * mean_alive).view(I, 1, 1)).transpose(1, 2)
    sae.W_enc.copy_(torch.where(dead.unsqueeze(1), new_enc, sae.W_enc))
    sae.b_enc.masked_fill_(dead, 0.0)
    if optimizer_state is not None:
        for i, s in enumerate(optimizer_state):
            kind = i % 4
            if kind == 0:
                s.masked_fill_(dead.unsqueeze(1), 0.0)
            elif kind == 1:
                s.masked_fill_(dead, 0.0)
            elif kind == 2:
                s.masked_fill_(mask, 0.0)
    return dead.sum(-1)


def _check_decoder_rule(name: str, rule) -> None:
    """``ValueError`` naming ``name`` unless ``rule`` is ``None`` or a function
    ``(W_dec, dead, x_chosen, b_dec) -> new W_dec``."""
    if rule is not None and not callable(rule):
        raise ValueError(f"{name} must be a function (W_dec, dead, x_chosen, b_dec) -> new W_dec, "
                         f"got {type(rule).__name__}")


def _rows_from(decoder_rows: Callable, sae: SparseAutoencoder, dead: torch.Tensor, x_chosen: torch.Tensor) -> torch.Tensor:
    """``decoder_rows`` applied to each instance: ``x_chosen (I, m, d)`` -> new decoder ``(I, m, d)``.

    The rule gets CPU copies (so NumPy code works whatever device the SAE is on) and its dead rows
    must be finite and of unit length: the encoder columns are built along them."""
    rows = []
    shape = tuple(sae.W_dec.shape[1:])
    for i in range(sae.n_instances):  # resampling is rare (every N steps) and I is small
        args = (t[i].detach().cpu().clone() for t in (sae.W_dec, dead, x_chosen, sae.b_dec))
        new = decoder_rows(*args)
        try:
            new = torch.as_tensor(new, dtype=sae.W_dec.dtype).to(sae.W_dec.device)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"decoder_rows must return the new decoder, a tensor of shape {shape}; "
                             f"got a {type(new).__name__}") from None
        if tuple(new.shape) != shape:
            raise ValueError(f"decoder_rows returned shape {tuple(new.shape)}, expected {shape}")
        rows_dead = new[dead[i]]
        if not bool(torch.isfinite(rows_dead).all()):
            raise ValueError("decoder_rows returned NaN or infinite rows for dead latents")
        if rows_dead.numel() and not torch.allclose(rows_dead.norm(dim=-1), torch.ones((), dtype=new.dtype,
                                                                                   device=new.device), atol=1e-3):
            raise ValueError("decoder_rows must return unit-length rows for the dead latents (the encoder columns "
                             "are built along them)")
        rows.append(new)
    return torch.stack(rows)

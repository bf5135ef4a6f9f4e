"""What a direction in the residual stream does to the output: the tokens it pushes up and down
through the unembedding, and generations with the direction added."""

from __future__ import annotations

import torch

from .. import _validate as v
from ._checks import blocks, check_layer, check_tokenizer, family

__all__ = ["logit_effects", "generate", "clamp_latent"]


def logit_effects(model, direction: torch.Tensor, k: int = 10) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The tokens a residual-stream direction boosts and suppresses *directly*: its image under the
    final norm's gain and the unembedding, ``(direction * g) @ W_U^T``. (The final RMSNorm also divides
    by the residual's norm, a positive factor that does not change the ranking.)

    Args:
        direction: ``(d_model,)``; k: how many tokens each way.

    Returns:
        ``(top_ids, top_values, bottom_ids, bottom_values)``, each ``(k,)``: largest first, smallest first.
    """
    if family(model) != "llama":
        raise ValueError("model must be a causal language model with an unembedding (SmolLM2)")
    direction = v.tensor("direction", direction, ndim=1)
    if direction.shape[0] != model.config.hidden_size:
        raise ValueError(f"direction must have shape ({model.config.hidden_size},), got {tuple(direction.shape)}")
    k = v.positive_int("k", k)
    with torch.no_grad():
        effects = model.lm_head.weight @ (direction.to(model.lm_head.weight) * model.model.norm.weight)
    top = effects.topk(k)
    bottom = (-effects).topk(k)
    return top.indices, top.values, bottom.indices, -bottom.values


def clamp_latent(sae, latent: int, value: float, *, scale: float = 1.0, instance: int = 0):
    """An ``edit`` for :func:`generate` that sets one SAE latent to ``value`` at every token and keeps
    everything else, the SAE's error included: ``h -> h + (value - z_j(scale * h)) / scale * d_j``,
    with ``z_j`` latent ``latent``'s activation and ``d_j`` its (unit) decoder row (Templeton et al.
    2024's clamping). ``value`` is in the SAE's units (those of its activations); ``scale`` is the factor
    the SAE's training activations were multiplied by."""
    if not hasattr(sae, "encode") or not hasattr(sae, "W_dec") or not hasattr(sae, "n_instances"):
        raise ValueError(f"sae must be a SparseAutoencoder, got {type(sae).__name__}")
    latent = v.int_in_range("latent", latent, 0, sae.d_sae)
    instance = v.int_in_range("instance", instance, 0, sae.n_instances)
    value = v.finite_float("value", value)
    scale = v.positive_float("scale", scale)
    direction = sae.W_dec[instance, latent].detach()

    def edit(h):
        with torch.no_grad():
            z = sae.encode(h.reshape(-1, h.shape[-1]).to(direction) * scale)[instance, :, latent]
        shift = ((value - z) / scale).reshape(*h.shape[:-1], 1) * direction
        return h + shift.to(h)
    return edit


def generate(model, tokenizer, prompt: str, n_tokens: int = 20, *, layer: int | None = None,
             direction: torch.Tensor | None = None, edit=None) -> str:
    """Greedy continuation of ``prompt`` (``n_tokens`` new tokens), optionally steered at block
    ``layer``'s output, at every position but the first (the attention sink), for the prompt and every
    generated token: ``direction`` (``(d_model,)``) is added, or ``edit``, a function ``h (batch, seq,
    d_model) -> h'`` of the same shape (e.g. :func:`clamp_latent`), replaces the output. Returns the
    continuation only."""
    if family(model) != "llama":
        raise ValueError("model must be a causal language model (SmolLM2)")
    check_tokenizer(tokenizer)
    if not isinstance(prompt, str) or not prompt:
        raise ValueError("prompt must be a non-empty string")
    n_tokens = v.positive_int("n_tokens", n_tokens)
    if direction is not None and edit is not None:
        raise ValueError("give direction or edit, not both")
    if (layer is None) != (direction is None and edit is None):
        raise ValueError("layer and direction (or edit) must be given together (or neither)")
    if edit is not None and not callable(edit):
        raise ValueError(f"edit must be a function h -> h', got {type(edit).__name__}")
    handle = None
    if layer is not None:
        check_layer(model, layer)
        if direction is not None:
            direction = v.tensor("direction", direction, ndim=1)
            if direction.shape[0] != model.config.hidden_size:
                raise ValueError(f"direction must have shape ({model.config.hidden_size},), got {tuple(direction.shape)}")
            edit = lambda h: h + direction.to(h)  # noqa: E731

        def steer(_m, _a, output):
            h = output[0] if isinstance(output, (tuple, list)) else output
            new = edit(h)
            if not isinstance(new, torch.Tensor) or new.shape != h.shape:
                raise ValueError(f"edit must return a tensor of shape {tuple(h.shape)}")
            if h.shape[1] > 1:  # the prompt pass: leave position 0 alone
                new = torch.cat([h[:, :1], new[:, 1:]], dim=1)
            return (new, *output[1:]) if isinstance(output, (tuple, list)) else new

        handle = blocks(model)[layer].register_forward_hook(steer)
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"].to(next(model.parameters()).device)
    try:
        with torch.no_grad():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
    finally:
        if handle is not None:
            handle.remove()
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)

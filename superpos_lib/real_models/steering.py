"""What a direction in the residual stream does to the output: the tokens it pushes up and down
through the unembedding, and generations with the direction added."""

from __future__ import annotations

import torch

from .. import _validate as v
from ._checks import blocks, check_layer, check_tokenizer, family

__all__ = ["logit_effects", "generate"]


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


def generate(model, tokenizer, prompt: str, n_tokens: int = 20, *, layer: int | None = None,
             direction: torch.Tensor | None = None) -> str:
    """Greedy continuation of ``prompt`` (``n_tokens`` new tokens), optionally with ``direction``
    (``(d_model,)``) added to block ``layer``'s output at every position but the first (the attention
    sink), for the prompt and every generated token. Returns the continuation only."""
    if family(model) != "llama":
        raise ValueError("model must be a causal language model (SmolLM2)")
    check_tokenizer(tokenizer)
    if not isinstance(prompt, str) or not prompt:
        raise ValueError("prompt must be a non-empty string")
    n_tokens = v.positive_int("n_tokens", n_tokens)
    if (layer is None) != (direction is None):
        raise ValueError("layer and direction must be given together (or neither)")
    handle = None
    if direction is not None:
        check_layer(model, layer)
        direction = v.tensor("direction", direction, ndim=1)
        if direction.shape[0] != model.config.hidden_size:
            raise ValueError(f"direction must have shape ({model.config.hidden_size},), got {tuple(direction.shape)}")

        def add(_m, _a, output):
            h = output[0] if isinstance(output, (tuple, list)) else output
            shift = direction.to(h).expand_as(h).clone()
            if h.shape[1] > 1:  # the prompt pass: leave position 0 alone
                shift[:, 0] = 0
            h = h + shift
            return (h, *output[1:]) if isinstance(output, (tuple, list)) else h

        handle = blocks(model)[layer].register_forward_hook(add)
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"].to(next(model.parameters()).device)
    try:
        with torch.no_grad():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
    finally:
        if handle is not None:
            handle.remove()
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)

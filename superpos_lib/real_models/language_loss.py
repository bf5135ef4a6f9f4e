"""The field's downstream test of an SAE on a language model: next-token cross-entropy with the SAE's
reconstruction spliced into the residual stream, against ablating the layer.

``CE loss recovered = (L_ablated - L_spliced) / (L_ablated - L_clean)``: 1 means the splice costs
nothing, 0 means it is as bad as deleting what the layer carries (zero ablation) or replacing it by
its average (mean ablation).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from .. import _validate as v
from ._checks import blocks, check_model_layer_texts, check_sae, check_tokenizer, family, reconstruct

__all__ = ["next_token_loss", "spliced_losses", "ce_loss_recovered", "loss_recovered", "sae_splice"]

BASELINES = ("mean", "zero")


def next_token_loss(logits: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed next-token cross-entropy (nats) and the number of predictions it sums.

    Position ``t`` predicts token ``t + 1``; a prediction counts only if both tokens are real (mask 1).

    Args:
        logits: ``(batch, seq, vocab)``; input_ids, attention_mask: ``(batch, seq)``.

    Returns:
        ``(total, count)``: 0-d tensors; the mean loss is ``total / count``.
    """
    logits = v.tensor("logits", logits, ndim=3)
    for name, t in (("input_ids", input_ids), ("attention_mask", attention_mask)):
        if not isinstance(t, torch.Tensor) or t.is_floating_point():
            raise ValueError(f"{name} must be an integer tensor of shape (batch, seq), got "
                             f"{type(t).__name__ if not isinstance(t, torch.Tensor) else t.dtype}")
    if input_ids.shape != logits.shape[:2] or attention_mask.shape != logits.shape[:2]:
        raise ValueError(f"input_ids and attention_mask must have shape {tuple(logits.shape[:2])} (logits' first two)")
    pred = logits[:, :-1].float()
    target = input_ids[:, 1:]
    ok = (attention_mask[:, 1:] * attention_mask[:, :-1]).bool()
    losses = torch.nn.functional.cross_entropy(pred.reshape(-1, pred.shape[-1]), target.reshape(-1), reduction="none")
    return (losses * ok.reshape(-1)).sum(), ok.sum()


def loss_recovered(clean: float, spliced: float, ablated: float) -> float:
    """``(ablated - spliced) / (ablated - clean)``: 1 = no cost, 0 = as bad as the ablation."""
    for name, val in (("clean", clean), ("spliced", spliced), ("ablated", ablated)):
        v.finite_float(name, val)
    if ablated == clean:
        raise ValueError("ablated must differ from clean (the ablation changes nothing, so there is nothing to recover)")
    return (ablated - spliced) / (ablated - clean)


def sae_splice(sae, instance: int = 0, *, scale: float = 1.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """A replacement for :func:`spliced_losses`: ``h -> x_hat(scale * h) / scale``, the reconstruction
    by one instance of the SAE (``0 <= instance < sae.n_instances``) trained on activations
    multiplied by ``scale`` (a positive float; e.g. normalised so that the mean squared norm is ``d``)."""
    if not hasattr(sae, "encode") or not hasattr(sae, "decode") or not hasattr(sae, "n_instances"):
        raise ValueError(f"sae must be a SparseAutoencoder, got {type(sae).__name__}")
    n = sae.n_instances
    if isinstance(instance, bool) or not isinstance(instance, int) or not 0 <= instance < n:
        raise ValueError(f"instance must be an int in [0, {n - 1}], got {instance!r}")
    scale = v.positive_float("scale", scale)

    def replace(h):
        with torch.no_grad():
            return reconstruct(sae, h * scale, instance) / scale
    return replace


def _batches(tokenizer, texts, batch_size, max_length):
    encoded = tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=max_length)["input_ids"]
    order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i]), i))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for start in range(0, len(order), batch_size):
        batch = [encoded[i] for i in order[start:start + batch_size]]
        width = max(len(e) for e in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, e in enumerate(batch):
            ids[row, :len(e)] = torch.tensor(e)
            mask[row, :len(e)] = 1
        yield ids, mask


def spliced_losses(model, tokenizer, texts: Sequence[str], layer: int,
                   replacements: dict[str, Callable[[torch.Tensor], torch.Tensor] | str], *,
                   keep_first: bool = True, keep_norm_above: float | None = None, mean: torch.Tensor | None = None,
                   batch_size: int = 8, max_length: int = 128, progress: bool = True) -> dict[str, float]:
    """Mean next-token loss (nats per token) of a causal LM, clean and with block ``layer``'s output
    replaced, for several replacements at once.

    The clean pass runs once; for each replacement only the blocks after ``layer`` (and the
    unembedding) run again, on the replaced residual stream.

    Args:
        model, tokenizer: from :func:`load_smollm` (a Llama-style causal LM).
        texts: non-empty list of strings (no token is added in front).
        layer: the block whose output is replaced.
        replacements: name -> a function ``h (batch, seq, d) -> h'`` of the same shape, or the strings
            ``"zero"`` (h' = 0) or ``"mean"`` (h' = the mean activation, see ``mean``).
        keep_first: keep every text's first token (the attention sink, with its huge norm) as it was,
            in every replacement; only later tokens are replaced. Padding is never touched.
        keep_norm_above: also keep, in every replacement, each token whose clean output of block
            ``layer`` has a norm above this value (massive activations that are not at position 0).
        mean: ``(d,)`` activation for ``"mean"``; default: the mean of block ``layer``'s output over
            these texts' replaced tokens (the kept ones left out).
        batch_size, max_length: positive ints.

    Returns:
        ``{"clean": L_clean, name: L_name, ...}``, floats in nats per predicted token.
    """
    texts = check_model_layer_texts(model, layer, texts)
    check_tokenizer(tokenizer)
    if family(model) != "llama":
        raise ValueError("model must be a causal language model (SmolLM2 from load_smollm), not an encoder")
    if not isinstance(replacements, dict) or not replacements:
        raise ValueError("replacements must be a non-empty dict of name -> function or 'zero'/'mean'")
    for name, rep in replacements.items():
        if name == "clean":
            raise ValueError("replacements must not use the name 'clean' (it is the unmodified run)")
        if isinstance(rep, str):
            v.one_of(f"replacements[{name!r}]", rep, BASELINES)
        elif not callable(rep):
            raise ValueError(f"replacements[{name!r}] must be a function or one of {BASELINES}")
    v.boolean("keep_first", keep_first)
    if keep_norm_above is not None:
        keep_norm_above = v.positive_float("keep_norm_above", keep_norm_above)
    batch_size = v.positive_int("batch_size", batch_size)
    max_length = v.positive_int("max_length", max_length)
    d = model.config.hidden_size
    if mean is not None:
        mean = v.tensor("mean", mean, ndim=1)
        if mean.shape[0] != d:
            raise ValueError(f"mean must have shape ({d},), got {tuple(mean.shape)}")
    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    layers = blocks(model)
    later = layers[layer + 1:]
    stored = []  # per batch: ids, mask, h, kwargs for the later blocks
    clean_total, count = torch.zeros((), dtype=torch.float64), torch.zeros((), dtype=torch.long)
    batches = list(_batches(tokenizer, texts, batch_size, max_length))
    bar = tqdm(total=len(batches) * (1 + len(replacements)), desc="next-token loss", unit="batch", disable=not progress)
    try:
        for ids, mask in batches:
            ids, mask = ids.to(device), mask.to(device)
            got = {}

            def read(_m, _a, output):
                got["h"] = output[0] if isinstance(output, (tuple, list)) else output

            def read_kwargs(_m, args, kwargs):
                got["kwargs"] = dict(kwargs)

            handles = [layers[layer].register_forward_hook(read)]
            if len(later):
                handles.append(later[0].register_forward_pre_hook(read_kwargs, with_kwargs=True))
            try:
                with torch.no_grad():
                    logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
            finally:
                for h in handles:
                    h.remove()
            total, n = next_token_loss(logits, ids, mask)
            clean_total += total.double()
            count += n.cpu()
            stored.append((ids, mask, got["h"], got.get("kwargs", {})))
            bar.update(1)
        replace_at = [(mask.bool() & (torch.arange(mask.shape[1], device=device) >= (1 if keep_first else 0)))
                      for _, mask, _, _ in stored]
        if keep_norm_above is not None:
            replace_at = [r & (h.norm(dim=-1) <= keep_norm_above) for r, (_, _, h, _) in zip(replace_at, stored)]
        if mean is None:
            mean = torch.cat([h[r] for (_, _, h, _), r in zip(stored, replace_at)]).mean(0)
        mean = mean.to(device)
        losses = {"clean": float(clean_total / count)}
        for name, rep in replacements.items():
            rep_total = torch.zeros((), dtype=torch.float64)
            for (ids, mask, h, kwargs), where in zip(stored, replace_at):
                if rep == "zero":
                    new = torch.zeros_like(h)
                elif rep == "mean":
                    new = mean.to(h.dtype).expand_as(h)
                else:
                    new = rep(h)
                    if not isinstance(new, torch.Tensor) or new.shape != h.shape:
                        raise ValueError(f"replacements[{name!r}] must return a tensor of shape {tuple(h.shape)}")
                x = torch.where(where.unsqueeze(-1), new, h)
                with torch.no_grad():
                    for block in later:
                        out = block(x, **kwargs)
                        x = out[0] if isinstance(out, (tuple, list)) else out
                    logits = model.lm_head(model.model.norm(x))
                rep_total += next_token_loss(logits, ids, mask)[0].double()
                bar.update(1)
            losses[name] = float(rep_total / count)
    finally:
        bar.close()
    return losses


def ce_loss_recovered(model, tokenizer, texts: Sequence[str], sae, layer: int, *, baseline: str = "mean",
                      keep_first: bool = True, keep_norm_above: float | None = None,
                      mean: torch.Tensor | None = None, batch_size: int = 8, max_length: int = 128,
                      progress: bool = False) -> float:
    """CE loss recovered by an SAE spliced in after block ``layer``: ``(L_abl - L_sae) / (L_abl - L_clean)``.

    ``baseline``: ``"mean"`` (replace the layer's output by its mean activation) or ``"zero"``.
    ``keep_first``, ``keep_norm_above``, ``mean``, ``batch_size``, ``max_length``: as for
    :func:`spliced_losses` (the same
    tokens are replaced in the spliced and the ablated run). ``sae``: a
    :class:`superpos_lib.sae.SparseAutoencoder` with ``d_in`` = the model's hidden size (instance 0 is used).

    Returns:
        a float; evaluate it on text the SAE was not trained on.
    """
    texts = check_model_layer_texts(model, layer, texts)
    check_tokenizer(tokenizer)
    v.one_of("baseline", baseline, BASELINES)
    check_sae(sae, model)
    losses = spliced_losses(model, tokenizer, texts, layer, {"sae": sae_splice(sae), "ablated": baseline},
                            keep_first=keep_first, keep_norm_above=keep_norm_above, mean=mean,
                            batch_size=batch_size, max_length=max_length, progress=progress)
    return loss_recovered(losses["clean"], losses["sae"], losses["ablated"])

"""Interventions in the encoder (MiniLM): remove a latent, or a control direction of the same size,
from the residual stream; splice in an SAE's reconstruction; watch the sentence embeddings."""

from __future__ import annotations

from typing import Sequence

import torch

from .. import _validate as v
from ._checks import check_model_layer_texts, check_sae, check_tokenizer, encode, family, reconstruct
from .minilm import sentence_embeddings

__all__ = ["ablate_latent", "latent_activations", "subtract_directions", "latent_ablation_controls", "embedding_similarity_recovered"]


def _bert_only(model):
    if family(model) != "bert":
        raise ValueError("model must be the MiniLM encoder (a BERT-style model) for sentence embeddings")


def _inputs(tokenizer, texts):
    inputs = dict(tokenizer(list(texts), return_tensors="pt", padding=True, truncation=True, max_length=128))
    special = torch.tensor(tokenizer.get_special_tokens_mask(inputs["input_ids"].flatten().tolist(),
                                                             already_has_special_tokens=True)).bool()
    real = inputs["attention_mask"].bool() & ~special.reshape(inputs["input_ids"].shape)
    return inputs, real  # real: (n_texts, seq), True on word pieces (not [CLS]/[SEP]/padding)


def _replace_output(output, h):
    return (h, *output[1:]) if isinstance(output, (tuple, list)) else h


def _hidden(output):
    return output[0] if isinstance(output, (tuple, list)) else output


def ablate_latent(model, tokenizer, texts: Sequence[str], sae, latent: int, layer: int
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sentence embeddings with and without one SAE latent's contribution to the residual stream.

    The ablated run removes, at every word piece (not at ``[CLS]``/``[SEP]``, which the SAE never saw
    in training), the latent's share of the SAE's reconstruction from the output ``h`` of block
    ``layer``: ``h <- h - z_latent(h) * W_dec[latent]`` (instance 0). Everything else, the SAE's
    reconstruction error included, is left in place, so a text on which the latent never fires comes
    out exactly unchanged.

    Returns:
        ``(before, after, peak)``: embeddings ``(n_texts, d_model)`` twice, and ``(n_texts,)`` the
        latent's largest activation on each text's word pieces (0 where it never fires).
    """
    texts = check_model_layer_texts(model, layer, texts)
    check_tokenizer(tokenizer)
    _bert_only(model)
    check_sae(sae, model)
    v.int_in_range("latent", latent, 0, sae.d_sae)
    z = latent_activations(model, tokenizer, texts, sae, layer)[..., latent]  # (n_texts, seq)
    direction = sae.W_dec.detach()[0, latent][None]  # (1, d)
    before, after = subtract_directions(model, tokenizer, texts, layer, direction, z)
    return before, after[0], z.amax(dim=1)


def latent_activations(model, tokenizer, texts, sae, layer) -> torch.Tensor:
    """The SAE's latent activations on the output of block ``layer``, zero at special and padding
    tokens: ``(n_texts, seq, d_sae)`` (``seq`` as the tokenizer pads ``texts``)."""
    from .hooks import record_output

    texts = check_model_layer_texts(model, layer, texts)
    check_tokenizer(tokenizer)
    _bert_only(model)
    check_sae(sae, model)
    inputs, real = _inputs(tokenizer, texts)
    h = record_output(model, model.encoder.layer[layer], inputs)
    with torch.no_grad():
        return encode(sae, h) * real.unsqueeze(-1)


def subtract_directions(model, tokenizer, texts: Sequence[str], layer: int, directions: torch.Tensor,
                        coefficients: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sentence embeddings before and after subtracting ``coefficients * direction`` from block
    ``layer``'s output, once for each direction.

    Args:
        directions: ``(m, d_model)``.
        coefficients: ``(n_texts, seq)`` or ``(m, n_texts, seq)``, how much to subtract at each token
            (zero it at special tokens yourself, e.g. with :func:`latent_activations`).

    Returns:
        ``(before (n_texts, d_model), after (m, n_texts, d_model))``.
    """
    texts = check_model_layer_texts(model, layer, texts)
    check_tokenizer(tokenizer)
    _bert_only(model)
    directions = v.non_empty("directions", v.tensor("directions", directions, ndim=2))
    if directions.shape[1] != model.config.hidden_size:
        raise ValueError(f"directions must have d_model = {model.config.hidden_size} columns, got {directions.shape[1]}")
    coefficients = v.tensor("coefficients", coefficients, ndim=(2, 3))
    inputs, _ = _inputs(tokenizer, texts)
    seq = inputs["input_ids"].shape
    if coefficients.shape[-2:] != seq or (coefficients.ndim == 3 and coefficients.shape[0] != directions.shape[0]):
        raise ValueError(f"coefficients must have shape {tuple(seq)} or ({directions.shape[0]}, *{tuple(seq)})")
    before = sentence_embeddings(model, inputs)
    after = []
    for j in range(directions.shape[0]):
        coeff = coefficients if coefficients.ndim == 2 else coefficients[j]

        def hook(_m, _a, output, coeff=coeff, direction=directions[j]):
            return _replace_output(output, _hidden(output) - coeff.unsqueeze(-1) * direction)

        after.append(sentence_embeddings(model, inputs, hook, layer))
    return before, torch.stack(after)


def latent_ablation_controls(model, tokenizer, texts: Sequence[str], sae, latent: int, layer: int, *,
                             n_controls: int = 20, seed: int = 0) -> dict:
    """Remove a latent, and two kinds of control of the same size at the same tokens.

    The latent's term is ``z_j(h) W_dec[j]`` at every word piece. Controls subtract, at the same tokens
    and with the same magnitude ``z_j(h) ||W_dec[j]||``:

    * ``"random"``: ``n_controls`` random unit directions;
    * ``"latents"``: ``n_controls`` other latents' decoder rows (unit norm), drawn among the latents
      that fire somewhere on ``texts``.

    Returns a dict: ``before (n_texts, d)``, ``latent (n_texts, d)``, ``random (n_controls, n_texts, d)``,
    ``latents (n_controls, n_texts, d)``, ``control_latents (n_controls,)``, ``peak (n_texts,)`` the
    latent's largest activation on each text and ``peak_token`` the word piece where it is reached.
    """
    texts = check_model_layer_texts(model, layer, texts)
    check_tokenizer(tokenizer)
    _bert_only(model)
    check_sae(sae, model)
    v.int_in_range("latent", latent, 0, sae.d_sae)
    n_controls = v.positive_int("n_controls", n_controls)
    v.non_negative_int("seed", seed)
    gen = torch.Generator().manual_seed(int(seed))
    z_all = latent_activations(model, tokenizer, texts, sae, layer)  # (n_texts, seq, d_sae)
    z = z_all[..., latent]
    W = sae.W_dec.detach()[0]
    norm = W[latent].norm()
    random = torch.randn(n_controls, W.shape[1], generator=gen)
    random = random / random.norm(dim=1, keepdim=True) * norm
    fired = (z_all.flatten(0, 1) > 0).any(0)
    fired[latent] = False
    pool = fired.nonzero().flatten()
    if len(pool) == 0:
        raise ValueError("no other latent fires on texts, so there is no latent control to draw")
    picks = pool[torch.randperm(len(pool), generator=gen)[:n_controls]]
    others = W[picks] / W[picks].norm(dim=1, keepdim=True) * norm
    directions = torch.cat([W[latent][None], random, others])
    before, after = subtract_directions(model, tokenizer, texts, layer, directions, z)
    inputs, _ = _inputs(tokenizer, texts)
    arg = z.argmax(dim=1)
    ids = inputs["input_ids"][torch.arange(len(texts)), arg]
    return {"before": before, "latent": after[0], "random": after[1:1 + n_controls],
            "latents": after[1 + n_controls:], "control_latents": picks, "peak": z.amax(dim=1),
            "peak_token": tokenizer.convert_ids_to_tokens(ids.tolist())}


def embedding_similarity_recovered(model, tokenizer, texts: Sequence[str], sae, layer: int, *,
                                   mean: torch.Tensor | None = None) -> dict:
    """The encoder's analogue of "loss recovered": splice the SAE's reconstruction in and compare
    sentence embeddings with the original ones.

    At every word piece (special tokens untouched) the output ``h`` of block ``layer`` is replaced by
    (a) the SAE's reconstruction ``x_hat(h)``, or (b) the mean activation ``mean`` (mean ablation:
    everything the layer says about the token is lost). With ``c`` the cosine between an embedding
    and the original one, averaged over texts, ``recovered = (c_spliced - c_mean) / (1 - c_mean)``:
    1 = the splice changes nothing, 0 = as bad as mean-ablating the layer.

    Args:
        mean: ``(d_model,)`` the mean activation to ablate with (default: the mean over these texts' word pieces).

    Returns:
        dict with ``cos_spliced``, ``cos_mean`` (floats, mean over texts) and ``recovered``.
    """
    from .hooks import record_output

    texts = check_model_layer_texts(model, layer, texts)
    check_tokenizer(tokenizer)
    _bert_only(model)
    check_sae(sae, model)
    if mean is not None:
        mean = v.tensor("mean", mean, ndim=1)
        if mean.shape[0] != model.config.hidden_size:
            raise ValueError(f"mean must have shape ({model.config.hidden_size},), got {tuple(mean.shape)}")
    # Texts in batches of similar length: padding every text to the longest one would multiply the work.
    lengths = [len(ids) for ids in tokenizer(list(texts), truncation=True, max_length=128)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: (lengths[i], i))
    batches = [_inputs(tokenizer, [texts[i] for i in order[start:start + 32]]) for start in range(0, len(order), 32)]
    if mean is None:
        recorded = [record_output(model, model.encoder.layer[layer], inputs) for inputs, _ in batches]
        mean = torch.cat([h[real] for h, (_, real) in zip(recorded, batches)]).mean(0)
    cos_spliced, cos_mean = [], []
    for inputs, real in batches:
        keep = real.unsqueeze(-1)

        def splice(_m, _a, output):
            h = _hidden(output)
            with torch.no_grad():
                return _replace_output(output, torch.where(keep, reconstruct(sae, h), h))

        def ablate(_m, _a, output):
            h = _hidden(output)
            return _replace_output(output, torch.where(keep, mean.to(h.dtype).expand_as(h), h))

        before = sentence_embeddings(model, inputs)
        cos_spliced.append((before * sentence_embeddings(model, inputs, splice, layer)).sum(-1))
        cos_mean.append((before * sentence_embeddings(model, inputs, ablate, layer)).sum(-1))
    c_s = float(torch.cat(cos_spliced).mean())
    c_m = float(torch.cat(cos_mean).mean())
    return {"cos_spliced": c_s, "cos_mean": c_m, "recovered": (c_s - c_m) / (1.0 - c_m)}

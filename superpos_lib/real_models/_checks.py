"""Argument checks shared by the real-model modules: which kind of model, its blocks, texts, SAEs."""

from __future__ import annotations

from typing import Sequence

import torch


def family(model) -> str:
    """``"bert"`` for a BERT-style encoder (``model.encoder.layer``), ``"llama"`` for a Llama-style
    causal LM (``model.model.layers``); anything else is a ``ValueError`` naming ``model``."""
    if hasattr(model, "encoder") and hasattr(model.encoder, "layer"):
        return "bert"
    if hasattr(model, "model") and hasattr(model.model, "layers") and hasattr(model, "lm_head"):
        return "llama"
    raise ValueError("model must be a BERT-style encoder (model.encoder.layer) or a Llama-style causal LM "
                     f"(model.model.layers and model.lm_head), got {type(model).__name__}")


def blocks(model) -> torch.nn.ModuleList:
    return model.encoder.layer if family(model) == "bert" else model.model.layers


def check_layer(model, layer) -> int:
    n_layers = len(blocks(model))
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < n_layers:
        raise ValueError(f"layer must be an int in [0, {n_layers - 1}] (this model has {n_layers} blocks), got {layer!r}")
    return layer


def check_texts(texts) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise ValueError(f"texts must be a list of strings, got {type(texts).__name__}")
    if len(texts) == 0:
        raise ValueError("texts must hold at least one text, got an empty list")
    if not all(isinstance(t, str) and t for t in texts):
        raise ValueError("texts must hold only non-empty strings")
    return list(texts)


def check_tokenizer(tokenizer):
    """A ``transformers`` tokenizer (callable, with ``convert_ids_to_tokens``), e.g. from :func:`load_minilm`."""
    if isinstance(tokenizer, (str, bytes)) or not callable(tokenizer) or not hasattr(tokenizer, "convert_ids_to_tokens"):
        raise ValueError("tokenizer must be the tokenizer that load_minilm or load_smollm returned, "
                         f"got {type(tokenizer).__name__}")
    return tokenizer


def check_model_layer_texts(model, layer, texts) -> list[str]:
    family(model)
    check_layer(model, layer)
    return check_texts(texts)


def check_sae(sae, model, name: str = "sae"):
    """The SAE must read the model's residual width (one instance is used: instance 0)."""
    hidden = model.config.hidden_size
    if getattr(sae, "d_in", None) != hidden:
        raise ValueError(f"{name} must be a SparseAutoencoder with d_in = {hidden} (the model's hidden size), "
                         f"got {type(sae).__name__} with d_in = {getattr(sae, 'd_in', None)}")
    return sae


def reconstruct(sae, h: torch.Tensor, instance: int = 0) -> torch.Tensor:
    """SAE reconstruction of ``h (..., d)`` by one instance, same shape."""
    flat = h.reshape(-1, h.shape[-1])
    return sae.decode(sae.encode(flat))[instance].reshape(h.shape).to(h.dtype)


def encode(sae, h: torch.Tensor, instance: int = 0) -> torch.Tensor:
    """Latent activations of ``h (..., d)`` by one instance: ``(..., d_sae)``."""
    flat = h.reshape(-1, h.shape[-1])
    return sae.encode(flat)[instance].reshape(*h.shape[:-1], -1)

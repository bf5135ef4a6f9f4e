"""Where the real-model chapters keep what is slow to make: activations, the converted model, trained
SAEs and evaluation results."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

import torch

from .. import _validate as v

__all__ = ["cache_dir", "cached", "train_sae_cached"]

_CACHE_VERSION = 3  # 3: AuxK loss change in superpos_lib.sae


def cache_dir() -> Path:
    """The cache folder: ``$SUPERPOS_CACHE`` if set, else ``$XDG_CACHE_HOME/superpos_lib``, else
    ``~/.cache/superpos_lib`` (a user cache folder, so every chapter and every working directory,
    Colab's included, share one cache)."""
    override = os.environ.get("SUPERPOS_CACHE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "superpos_lib"


def _key(settings: dict, *tensors: torch.Tensor) -> str:
    digest = hashlib.sha256(json.dumps({"version": _CACHE_VERSION, **settings}, sort_keys=True, default=repr).encode())
    for t in tensors:
        digest.update(t.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:20]


def _save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def cached(name: str, settings: dict, compute: Callable[[], Any], *, tensors: tuple = (), cache: bool = True):
    """``compute()``, or its stored result if the same ``name`` and ``settings`` (and the bytes of
    ``tensors``) were computed before. Results must be what ``torch.save`` can store with
    ``weights_only=True`` loading (tensors, numbers, strings, lists, dicts)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be an identifier-like string, got {name!r}")
    if not isinstance(settings, dict):
        raise ValueError(f"settings must be a dict, got {type(settings).__name__}")
    if not callable(compute):
        raise ValueError(f"compute must be a function of no arguments, got {type(compute).__name__}")
    if not isinstance(tensors, (tuple, list)) or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise ValueError("tensors must be a tuple of tensors (their bytes are part of the key)")
    path = cache_dir() / f"{name}_{_key(settings, *tensors)}.pt"
    if cache and path.is_file():
        return torch.load(path, map_location="cpu", weights_only=True)
    result = compute()
    if cache:
        _save(result, path)
    return result


def train_sae_cached(data: torch.Tensor, d_sae: int, *, activation: str = "relu", k: int | None = None,
                     seed: int = 0, cache: bool = True, progress: bool = True, sae_kwargs: dict | None = None,
                     **train_kwargs):
    """Train a :class:`superpos_lib.sae.SparseAutoencoder` on ``data``, or load it if this exact run
    is in the cache.

    Calls ``SparseAutoencoder(d_in, d_sae, activation=activation, k=k, seed=seed, **sae_kwargs)`` and
    ``train_sae(sae, data, seed=seed, progress=progress, **train_kwargs)`` (on ``data``'s device).
    The cache key hashes the bytes of ``data``, the SAE's settings and ``train_kwargs``, so any change
    retrains. Training is deterministic, so a cached run equals a fresh one.

    Args:
        data: ``(n_samples, d_in)`` activations.
        d_sae, activation, k, seed: as for ``SparseAutoencoder``; ``sae_kwargs``: its other arguments.
        cache: read/write ``cache_dir()/sae_<activation>_<d_sae>_<key>.pt``.
        train_kwargs: passed to ``train_sae`` (``steps`` is required there).

    Returns:
        ``(sae, history)`` as returned by ``train_sae``.
    """
    from ..sae import SparseAutoencoder, train_sae

    data = v.non_empty("data", v.tensor("data", data, ndim=2), what="sample and dimension")
    v.positive_int("d_sae", d_sae)
    sae_kwargs = dict(sae_kwargs or {})
    sae = SparseAutoencoder(data.shape[1], d_sae, activation=activation, k=k, seed=seed, device=data.device,
                            **sae_kwargs)
    settings = {"d_sae": d_sae, "activation": activation, "k": k, "seed": seed, "sae": sae_kwargs,
                "shape": list(data.shape), "train": {key: repr(val) for key, val in sorted(train_kwargs.items())}}
    path = cache_dir() / f"sae_{activation}_{d_sae}_{_key(settings, data)}.pt"
    if cache and path.is_file():
        stored = torch.load(path, map_location=data.device, weights_only=True)
        sae.load_state_dict(stored["state"])
        return sae, stored["history"]
    history = train_sae(sae, data, seed=seed, progress=progress, **train_kwargs)
    if cache:
        _save({"state": sae.state_dict(), "history": history}, path)
    return sae, history

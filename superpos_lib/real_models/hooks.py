"""Forward hooks: read what a module outputs, stop a forward pass early, find a site in a model."""

from __future__ import annotations

from typing import Any

import torch

from .. import _validate as v
from ._checks import blocks, check_layer, family

__all__ = ["SITES", "record_output", "site_module"]

SITES = ("resid", "mlp")


def record_output(model: torch.nn.Module, module: torch.nn.Module, inputs: dict[str, Any]) -> torch.Tensor:
    """Run ``model(**inputs)`` and return what ``module`` output during that forward pass.

    A forward hook on ``module`` saves its output (the first element when the module returns a
    tuple, as some transformer layers do); the hook is removed afterwards, even on error. Runs under
    ``torch.no_grad()``. Returns the module's output tensor, e.g. ``(batch, seq, d)``.
    """
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(module, torch.nn.Module):
        raise ValueError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(inputs, dict):
        raise ValueError(f"inputs must be a dict of keyword arguments for model, got {type(inputs).__name__}")
    saved: list[torch.Tensor] = []

    def hook(_module, _args, output):
        saved.append(output[0] if isinstance(output, (tuple, list)) else output)

    handle = module.register_forward_hook(hook)
    try:
        with torch.no_grad():
            model(**inputs)
    finally:
        handle.remove()
    if not saved:
        raise ValueError("module was not called during model's forward pass: is it a submodule of model?")
    return saved[-1]


def site_module(model, layer: int, site: str) -> tuple[torch.nn.Module, str]:
    """The module whose forward hook sees ``site`` of block ``layer``, and whether the site is that
    module's ``"output"`` or its ``"input"``.

    * MiniLM: ``"resid"`` is the output of ``encoder.layer[layer]``, ``"mlp"`` the output of
      ``encoder.layer[layer].intermediate`` (after the GELU).
    * SmolLM2: ``"resid"`` is the output of ``model.layers[layer]``, ``"mlp"`` the input of
      ``model.layers[layer].mlp.down_proj`` (``silu(gate) * up``, the SwiGLU neurons).
    """
    check_layer(model, layer)
    v.one_of("site", site, SITES)
    block = blocks(model)[layer]
    if site == "resid":
        return block, "output"
    if family(model) == "bert":
        return block.intermediate, "output"
    return block.mlp.down_proj, "input"


class StopForward(Exception):
    """Raised by a hook to skip the blocks after the one we read (they cannot change it)."""


def _first(x):
    return x[0] if isinstance(x, (tuple, list)) else x


def run_until(model: torch.nn.Module, reads: list[tuple[torch.nn.Module, str]], stop: torch.nn.Module,
              inputs: dict[str, Any]) -> list[torch.Tensor]:
    """Run ``model(**inputs)`` under ``no_grad``, saving for each ``(module, "input"|"output")`` in
    ``reads`` what that module saw, and stop the pass right after ``stop`` has run."""
    saved: dict[int, torch.Tensor] = {}
    handles = []
    for i, (module, where) in enumerate(reads):
        def hook(_m, args, output, i=i, where=where):
            saved[i] = _first(args) if where == "input" else _first(output)
        handles.append(module.register_forward_hook(hook))

    def stopper(_m, _a, _o):
        raise StopForward

    handles.append(stop.register_forward_hook(stopper))
    try:
        with torch.no_grad():
            model(**inputs)
    except StopForward:
        pass
    finally:
        for h in handles:
            h.remove()
    if len(saved) != len(reads):
        raise ValueError("a site was not reached during model's forward pass")
    return [saved[i] for i in range(len(reads))]

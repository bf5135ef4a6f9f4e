"""Figures for the Polysemanticity chapter: what each neuron reads, and how polysemantic it is."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import torch

from .. import _validate as v

__all__ = ["plot_neuron_weights", "plot_weight_heatmap", "plot_against_probability"]


def _matrix(name, W) -> torch.Tensor:
    W = v.non_empty(name, v.tensor(name, W, ndim=2))
    return W.detach().cpu().float()


def plot_neuron_weights(W: torch.Tensor, *, ax: plt.Axes | None = None, title: str | None = None,
                        cmap: str = "viridis") -> plt.Axes:
    """Stacked bars, one per neuron: the weight ``W_ij`` each neuron ``i`` gives each feature ``j``.

    ``W``: ``(d_hidden, n_features)`` (row ``i`` = neuron ``i``). Positive weights stack upwards,
    negative ones downwards; colours go from the first (most important) feature to the last. A
    monosemantic neuron is a single coloured block; a polysemantic one stacks several.
    """
    W = _matrix("W", W)
    d, n = W.shape
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 + 0.45 * d, 2.6))
    colors = plt.get_cmap(cmap)(torch.linspace(0, 0.95, n).tolist())
    up = torch.zeros(d)
    down = torch.zeros(d)
    x = torch.arange(d).tolist()
    for j in range(n):
        w = W[:, j]
        pos, neg = w.clamp(min=0), w.clamp(max=0)
        ax.bar(x, pos.tolist(), bottom=up.tolist(), color=colors[j], width=0.75, edgecolor="white", linewidth=0.3,
               label=f"feature {j}")
        ax.bar(x, neg.tolist(), bottom=down.tolist(), color=colors[j], width=0.75, edgecolor="white", linewidth=0.3)
        up += pos
        down += neg
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(x)
    ax.set_xlabel("neuron i")
    ax.set_ylabel("weight W_ij (stacked over features j)")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_weight_heatmap(W: torch.Tensor, *, ax: plt.Axes | None = None, title: str | None = None,
                        xlabel: str = "feature j", ylabel: str = "neuron i") -> plt.Axes:
    """``W``: ``(rows, columns)`` as a red (negative) / blue (positive) image with a symmetric colour scale."""
    W = _matrix("W", W)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 2.5))
    scale = max(W.abs().max().item(), 1e-12)
    image = ax.imshow(W.numpy(), cmap="RdBu", vmin=-scale, vmax=scale, aspect="auto", interpolation="nearest")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    ax.figure.colorbar(image, ax=ax, fraction=0.05, pad=0.02)
    return ax


def plot_against_probability(feature_probability: Sequence[float] | torch.Tensor,
                             curves: Mapping[str, Sequence[float] | torch.Tensor], *, ylabel: str,
                             ax: plt.Axes | None = None, title: str | None = None, logx: bool = True) -> plt.Axes:
    """One line per entry of ``curves`` (label -> values, one per feature probability), with the
    x axis labelled "feature probability p = 1 - S" (log scale by default)."""
    p = v.real_values("feature_probability", feature_probability).flatten()
    if p.numel() == 0 or (p <= 0).any() or (p > 1).any():
        raise ValueError("feature_probability must hold values in (0, 1]")
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must be a mapping with at least one curve (label -> values)")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3))
    for label, values in curves.items():
        y = v.real_values(f"curves[{label!r}]", values, finite=False).flatten()
        if y.shape != p.shape:
            raise ValueError(f"curves[{label!r}] must have one value per feature probability ({p.numel()}), got {y.numel()}")
        ax.plot(p.tolist(), y.tolist(), marker="o", markersize=3, label=label)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel("feature probability p = 1 - S")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    if len(curves) > 1:
        ax.legend(fontsize=8, frameon=False)
    return ax

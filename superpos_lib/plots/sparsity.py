"""Figures for the Sparsity chapter: dimensions per feature, and feature directions in 2-D."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import torch

from .. import _validate as v
from ._style import sparsity_axis

__all__ = ["plot_dimensions_per_feature", "plot_feature_directions"]


def plot_dimensions_per_feature(feature_probability: Sequence[float] | torch.Tensor,
                                dimensions_per_feature: Sequence[float] | torch.Tensor, *,
                                ax: plt.Axes | None = None, title: str | None = None,
                                plateaus: Sequence[float] = (1.0, 0.5)) -> plt.Axes:
    """``d / ||W||_F^2`` against ``1 / p`` (log scale), with dashed lines at the ``plateaus``.

    ``feature_probability``, ``dimensions_per_feature``: one value per trained instance.
    """
    p = v.real_values("feature_probability", feature_probability).flatten()
    y = v.real_values("dimensions_per_feature", dimensions_per_feature).flatten()
    if p.numel() == 0 or (p <= 0).any() or (p > 1).any():
        raise ValueError("feature_probability must hold values in (0, 1]")
    if y.shape != p.shape:
        raise ValueError(f"dimensions_per_feature must have one value per feature probability ({p.numel()}), got {y.numel()}")
    plateaus = v.real_values("plateaus", plateaus, ndim=1).tolist()
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3))
    for level in plateaus:
        ax.axhline(level, color="grey", linestyle="--", linewidth=0.8)
        ax.text(1.0, level, f" {level:g}", va="bottom", ha="left", fontsize=8, color="grey")
    ax.plot((1 / p).tolist(), y.tolist(), marker="o", markersize=3, color="C0")
    sparsity_axis(ax)
    ax.set_ylabel("dimensions per feature  d / ||W||_F^2")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_feature_directions(W: torch.Tensor, *, groups: Sequence[int] | None = None, ax: plt.Axes | None = None,
                            title: str | None = None, lim: float | None = None) -> plt.Axes:
    """Arrows for the columns of a ``(2, n_features)`` weight matrix (feature ``j``'s direction).

    ``groups``: one integer per feature (e.g. the pair it belongs to); features of a group share a
    colour. Arrows are labelled with the feature index. ``lim``: half-width of both axes (default
    1.2 times the longest arrow); pass the same value to panels that should be compared.
    """
    W = v.tensor("W", W, ndim=2).detach().cpu().float()
    if W.shape[0] != 2:
        raise ValueError(f"W must have shape (2, n_features) to be drawn in the plane, got {tuple(W.shape)}")
    n = W.shape[1]
    if groups is None:
        groups = list(range(n))
    groups = v.real_values("groups", groups, ndim=1, integer=True).long().tolist()
    if len(groups) != n:
        raise ValueError(f"groups must have one entry per feature ({n}), got {len(groups)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(2.8, 2.8))
    lim = v.positive_float("lim", lim) if lim is not None else max(1.2 * W.norm(dim=0).max().item(), 0.1)
    for j in range(n):
        x, y = W[:, j].tolist()
        color = f"C{int(groups[j]) % 10}"
        ax.annotate("", xy=(x, y), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color=color, linewidth=1.5))
        ax.text(1.08 * x, 1.08 * y, str(j), color=color, fontsize=8, ha="center", va="center")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.axhline(0, color="lightgrey", linewidth=0.5)
    ax.axvline(0, color="lightgrey", linewidth=0.5)
    ax.set_xlabel("hidden dimension 1")
    ax.set_ylabel("hidden dimension 2")
    if title:
        ax.set_title(title, fontsize=9)
    return ax

"""Figures for the Polysemanticity chapter: what each neuron reads, and how polysemantic it is."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .. import _validate as v
from ._style import IMPORTANCE_CMAP, sparsity_axis

__all__ = ["plot_neuron_weights", "plot_weight_heatmap", "plot_against_probability", "importance_colorbar"]


def _matrix(name, W) -> torch.Tensor:
    W = v.non_empty(name, v.tensor(name, W, ndim=2))
    return W.detach().cpu().float()


def _importance_colors(importance, n):
    from matplotlib.colors import Normalize

    if importance is None:
        importance = torch.linspace(1.0, 0.0, n) if n > 1 else torch.ones(1)
    importance = torch.as_tensor(importance, dtype=torch.float64).flatten()
    if importance.numel() != n or not torch.isfinite(importance).all():
        raise ValueError(f"importance must hold one finite value per feature ({n}), got {importance.numel()}")
    low, high = importance.min().item(), importance.max().item()
    norm = Normalize(low, high if high > low else low + 1.0)
    return plt.get_cmap(IMPORTANCE_CMAP)(norm(importance.numpy())), norm


def importance_colorbar(fig: plt.Figure, axes, importance, *, label: str = "importance $I_j$"):
    """One labelled colourbar (``IMPORTANCE_CMAP``, bright yellow = most important) for the
    ``axes`` (one Axes or a list) of ``fig``; ``importance``: one value per feature."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    from matplotlib.axes import Axes

    v.instance("fig", fig, Figure, "matplotlib Figure")
    if not (isinstance(axes, Axes) or (isinstance(axes, (list, tuple, np.ndarray)) and len(axes)
                                       and all(isinstance(a, Axes) for a in np.ravel(np.asarray(axes, dtype=object))))):
        raise ValueError(f"axes must be a matplotlib Axes or a list of them, got {type(axes).__name__}")
    importance = v.real_values("importance", importance).flatten()
    if importance.numel() == 0:
        raise ValueError("importance must hold one value per feature, got none")
    _, norm = _importance_colors(importance, importance.numel())
    mappable = mpl.cm.ScalarMappable(norm=norm, cmap=IMPORTANCE_CMAP)
    return fig.colorbar(mappable, ax=axes, fraction=0.04, pad=0.02, label=label)


def plot_neuron_weights(W: torch.Tensor, *, importance=None, ax: plt.Axes | None = None, title: str | None = None,
                        colorbar: bool = False) -> plt.Axes:
    """Stacked bars, one per neuron: the weight ``W_ij`` each neuron ``i`` gives each feature ``j``.

    ``W``: ``(d_hidden, n_features)`` (row ``i`` = neuron ``i``). Positive weights stack upwards,
    negative ones downwards. Each feature is coloured by its ``importance`` (one value per feature;
    default: feature 0 most important, decreasing) with the course's ``IMPORTANCE_CMAP``, bright
    yellow = most important; ``colorbar=True`` adds a labelled colourbar (or call
    :func:`importance_colorbar` once for several panels). A monosemantic neuron is a single block.
    """
    W = _matrix("W", W)
    d, n = W.shape
    colors, _ = _importance_colors(importance, n)
    if ax is None:
        _, ax = plt.subplots(figsize=(1.0 + 0.45 * d, 2.6))
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
    if colorbar:
        importance_colorbar(ax.figure, ax, importance if importance is not None else _default_importance(n))
    return ax


def _default_importance(n):
    return torch.linspace(1.0, 0.0, n) if n > 1 else torch.ones(1)


def plot_weight_heatmap(W: torch.Tensor, *, ax: plt.Axes | None = None, title: str | None = None,
                        xlabel: str = "feature j", ylabel: str = "neuron i", vmax: float | None = None,
                        colorbar: bool = True, colorbar_label: str = "weight") -> plt.Axes:
    """``W``: ``(rows, columns)`` as a red (negative) / blue (positive) image with a symmetric colour
    scale ``[-vmax, vmax]`` (default: the largest ``|W|``; pass one ``vmax`` to compare panels).
    Returns the Axes; its image is ``ax.images[0]`` (for a shared colourbar, pass ``colorbar=False``)."""
    W = _matrix("W", W)
    if vmax is not None:
        vmax = v.positive_float("vmax", vmax)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 2.5))
    scale = vmax if vmax is not None else max(W.abs().max().item(), 1e-12)
    image = ax.imshow(W.numpy(), cmap="RdBu", vmin=-scale, vmax=scale, aspect="auto", interpolation="nearest")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.05, pad=0.02, label=colorbar_label)
    return ax


def plot_against_probability(feature_probability: Sequence[float] | torch.Tensor,
                             curves: Mapping[str, Sequence[float] | torch.Tensor], *, ylabel: str,
                             ax: plt.Axes | None = None, title: str | None = None) -> plt.Axes:
    """One line per entry of ``curves`` (label -> values, one per feature probability), against
    sparsity the book's way: ``1/p = 1/(1 - S)`` on a log axis, sparser to the right
    (:func:`superpos_lib.plots.sparsity_axis`)."""
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
        ax.plot((1 / p).tolist(), y.tolist(), marker="o", markersize=3, label=label)
    sparsity_axis(ax)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    if len(curves) > 1:
        ax.legend(fontsize=8, frameon=False)
    return ax

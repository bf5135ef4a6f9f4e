"""Figures for the toy models of superposition (chapter 1).

Every function takes tensors (any device), returns the matplotlib ``Figure`` and labels its axes with
the course's convention, *feature probability* ``p = 1 - S``.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap

from .. import _validate
from ..metrics.geometry import dimensions_per_feature, feature_dimensionality, feature_interference, feature_norms

__all__ = ["plot_features_2d", "plot_superposition_bars", "plot_dimensionality", "plot_phase_diagram",
           "plot_represented_counts", "DIMENSIONALITY_FRACTIONS"]

# Feature dimensionalities TMS found features cluster at, and the geometry each one is: k features
# spread evenly (a tight frame) over m dimensions each get D = m / k.
DIMENSIONALITY_FRACTIONS = {
    1.0: "dedicated dimension",
    3 / 4: "tetrahedron (4 in 3 dims)",
    2 / 3: "triangle (3 in 2 dims)",
    1 / 2: "digon (2 in 1 dim)",
    2 / 5: "pentagon (5 in 2 dims)",
    3 / 8: "square antiprism (8 in 3 dims)",
}


def _np(x) -> np.ndarray:
    return x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=float)


def _check_instances(W, name="W", d=None) -> torch.Tensor:
    _validate.tensor(name, W, ndim=3)
    _validate.non_empty(name, W)
    if d is not None and W.shape[1] != d:
        raise ValueError(f"{name} must have shape (n_instances, {d}, n_features), got {tuple(W.shape)}")
    return W.detach().cpu()


def _probabilities(feature_probability, n_instances) -> np.ndarray | None:
    if feature_probability is None:
        return None
    p = _validate.real_values("feature_probability", feature_probability).cpu()
    if p.ndim == 2:
        p = p[:, 0]
    if p.shape != (n_instances,):
        raise ValueError(f"feature_probability must have one value per instance ({n_instances}) or shape "
                         f"(n_instances, n_features), got shape {tuple(p.shape)}")
    if (p <= 0).any() or (p > 1).any():
        raise ValueError("feature_probability must lie in (0, 1]")
    return p.numpy()


def _grid(n_panels, ncols, panel_size=2.2):
    ncols = min(ncols or n_panels, n_panels)
    nrows = math.ceil(n_panels / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols, panel_size * nrows + 0.3), squeeze=False)
    for ax in axes.flat[n_panels:]:
        ax.set_visible(False)
    return fig, axes.flat


def plot_features_2d(W: torch.Tensor, feature_probability=None, importance=None, *, titles: Sequence[str] | None = None,
                     ncols: int | None = None, panel_size: float = 2.2) -> plt.Figure:
    """Each feature's direction ``W_i`` as an arrow in the 2-d hidden space, one panel per instance.

    ``W``: ``(n_instances, 2, n_features)``. ``feature_probability``: ``(n_instances,)`` or
    ``(n_instances, n_features)`` (first column used), shown in each panel's title.
    ``importance``: ``(n_features,)`` or ``(n_instances, n_features)``; colours the arrows (yellow = most
    important, purple = least, as in TMS). ``titles`` overrides the titles.
    """
    W = _check_instances(W, d=2)
    I, _, n = W.shape
    p = _probabilities(feature_probability, I)
    if titles is not None and len(titles) != I:
        raise ValueError(f"titles must have one entry per instance ({I}), got {len(titles)}")
    if importance is None:
        colours = plt.cm.viridis(np.linspace(1, 0, n))[None].repeat(I, 0)
    else:
        imp = _validate.real_values("importance", importance).cpu()
        try:
            imp = torch.broadcast_to(imp, (I, n)).numpy()
        except RuntimeError:
            raise ValueError(f"importance must broadcast to (n_instances, n_features) = {(I, n)}, "
                             f"got shape {tuple(imp.shape)}") from None
        span = np.ptp(imp, axis=1, keepdims=True)
        rel = np.where(span > 0, (imp - imp.min(1, keepdims=True)) / np.where(span > 0, span, 1), 1.0)
        colours = plt.cm.viridis(rel)
    fig, axes = _grid(I, ncols or min(I, 5), panel_size)
    lim = max(1.2, float(W.norm(dim=1).max()) * 1.1)
    for k, ax in zip(range(I), axes):
        for i in range(n):
            x, y = float(W[k, 0, i]), float(W[k, 1, i])
            ax.plot([0, x], [0, y], color=colours[k, i], lw=1.8)
            ax.scatter([x], [y], color=colours[k, i], s=18, zorder=3)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.axhline(0, color="0.85", lw=0.6, zorder=0)
        ax.axvline(0, color="0.85", lw=0.6, zorder=0)
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None:
            ax.set_title(titles[k], fontsize=9)
        elif p is not None:
            ax.set_title(f"p = {p[k]:.3g}", fontsize=9)
        if k % (ncols or min(I, 5)) == 0:
            ax.set_ylabel("hidden dim 2")
        ax.set_xlabel("hidden dim 1", fontsize=8)
    fig.suptitle("feature directions W_i (colour: importance, yellow = most important)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_superposition_bars(W: torch.Tensor, feature_probability=None, *, max_instances: int = 10) -> plt.Figure:
    """TMS-style summary of each instance: the ``W^T W`` heatmap (top) and a bar per feature (bottom)
    whose length is ``||W_i||`` and whose colour is its superposition
    ``sum_{j != i} (W_i_hat . W_j)^2`` (black: a dedicated direction; yellow: shares it).

    ``W``: ``(n_instances, d, n_features)``; at most ``max_instances`` columns are drawn.
    """
    W = _check_instances(W)
    _validate.positive_int("max_instances", max_instances)
    I = W.shape[0]
    if I > max_instances:
        raise ValueError(f"W has {I} instances; max_instances is {max_instances} (slice W first)")
    p = _probabilities(feature_probability, I)
    n = W.shape[2]
    WtW = (W.transpose(1, 2) @ W).numpy()
    norms, interf = feature_norms(W).numpy(), feature_interference(W).numpy()
    fig, axes = plt.subplots(2, I, figsize=(1.7 * I + 0.6, 4.6), squeeze=False,
                             gridspec_kw=dict(height_ratios=[1, 1.1]))
    cmap = plt.cm.plasma
    for k in range(I):
        top, bottom = axes[0, k], axes[1, k]
        im = top.imshow(WtW[k], cmap="RdBu", vmin=-1, vmax=1)
        top.set_xticks([])
        top.set_yticks([])
        top.set_title(f"p = {p[k]:.3g}" if p is not None else f"instance {k}", fontsize=9)
        bottom.barh(np.arange(n), norms[k], color=cmap(np.clip(interf[k], 0, 1)), height=0.8)
        bottom.set_ylim(n - 0.5, -0.5)
        bottom.set_xlim(0, max(1.1, norms.max() * 1.05))
        bottom.set_yticks([])
        bottom.set_xlabel("||W_i||", fontsize=8)
        if k == 0:
            top.set_ylabel("W^T W")
            bottom.set_ylabel("feature i (0 = most important)")
    fig.colorbar(im, ax=axes[0, :].tolist(), fraction=0.02, pad=0.01)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    fig.colorbar(sm, ax=axes[1, :].tolist(), fraction=0.02, pad=0.01, label="superposition of feature i")
    return fig


def plot_dimensionality(W: torch.Tensor, feature_probability, *, fractions: Mapping[float, str] | None = None,
                        seed: int = 0) -> plt.Figure:
    """Feature geometry across sparsity (TMS's "Feature dimensionality" figure).

    Top: dimensions per feature ``d / ||W||_F^2`` against ``1 / p`` (log axis). Bottom: every
    feature's dimensionality ``D_i`` (a point, jittered sideways, size ~ its norm; features with
    norm < 0.1 omitted), with the fractions where features cluster drawn as labelled reference lines.

    ``W``: ``(n_instances, d, n_features)``. ``feature_probability``: ``(n_instances,)`` or
    ``(n_instances, n_features)``.
    """
    W = _check_instances(W)
    p = _probabilities(feature_probability, W.shape[0])
    if p is None:
        raise ValueError("feature_probability must be given (one value per instance)")
    fractions = DIMENSIONALITY_FRACTIONS if fractions is None else fractions
    x = 1.0 / p
    dpf = dimensions_per_feature(W).numpy()
    D, norms = feature_dimensionality(W).numpy(), feature_norms(W).numpy()
    rng = np.random.default_rng(seed)
    fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(7, 6.2), sharex=True, gridspec_kw=dict(height_ratios=[1, 1.6]))
    ax0.plot(x, dpf, "o-", color="k", ms=4)
    for value in (1.0, 0.5, 0.4):
        ax0.axhline(value, color="0.8", lw=0.8, ls="--")
    ax0.set_ylabel("dimensions per feature\n d / ||W||_F^2")
    ax0.set_ylim(0, max(1.1, float(np.nanmax(dpf)) * 1.05))
    for k in range(len(x)):
        keep = norms[k] > 0.1
        jitter = np.exp(rng.uniform(-0.08, 0.08, keep.sum()))
        ax1.scatter(x[k] * jitter, D[k, keep], s=6 + 14 * np.clip(norms[k, keep], 0, 1), alpha=0.45, color="C0",
                    edgecolors="none")
    for value, label in fractions.items():
        ax1.axhline(value, color="C3", lw=0.7, alpha=0.6)
        close_below = any(0 < value - other < 0.04 for other in fractions)
        close_above = any(0 < other - value < 0.04 for other in fractions)
        va = "bottom" if close_below else "top" if close_above else "center"
        ax1.text(x.max() * 1.5, value, f"{_fraction_text(value)}  {label}", va=va, fontsize=8, color="C3")
    ax1.set_xscale("log")
    ax1.set_xlim(x.min() / 1.3, x.max() * 1.3)
    ax1.set_ylim(0, 1.1)
    ax1.set_ylabel("feature dimensionality D_i")
    ax1.set_xlabel("1 / feature probability = 1 / (1 - S)")
    fig.tight_layout()
    return fig




def _fraction_text(value: float) -> str:
    from fractions import Fraction

    return str(Fraction(value).limit_denominator(12))


def plot_phase_diagram(relative_importance, feature_probability, phase, *, analytic_phase=None,
                       boundary=True) -> plt.Figure:
    """Phase diagram for 2 features in 1 dimension (TMS's Figure "phase change").

    ``relative_importance``: ``(n_r,)`` importance of feature 2 relative to feature 1 (x axis, log).
    ``feature_probability``: ``(n_p,)`` (y axis, log, dense at the top). ``phase``: ``(n_p, n_r)``
    int, 0 = feature 2 not represented, 1 = dedicated dimension, 2 = superposition, -1 = other
    (see :func:`superpos_lib.toy_models.two_feature_phase`). ``analytic_phase``: optional second
    ``(n_p, n_r)`` map drawn beside it. ``boundary``: draw the closed-form phase boundaries
    (:func:`superpos_lib.toy_models.two_feature_phase_boundary`) on every panel.
    """
    from ..toy_models import PHASE_NAMES, two_feature_phase_boundary

    r = _validate.real_values("relative_importance", relative_importance, ndim=1).cpu().numpy()
    p = _validate.real_values("feature_probability", feature_probability, ndim=1).cpu().numpy()
    if r.size == 0 or (r <= 0).any():
        raise ValueError("relative_importance must hold at least one positive value (it is drawn on a log axis)")
    if p.size == 0 or (p <= 0).any() or (p > 1).any():
        raise ValueError("feature_probability must hold at least one value, each in (0, 1]")
    maps = [("trained models", _validate.real_values("phase", phase, integer=True).cpu().numpy())]
    if analytic_phase is not None:
        maps.append(("closed-form losses", _validate.real_values("analytic_phase", analytic_phase, integer=True).cpu().numpy()))
    for (title, m), name in zip(maps, ("phase", "analytic_phase")):
        if not np.isin(m, (-1, 0, 1, 2)).all():
            raise ValueError(f"{name} must hold phase codes -1, 0, 1 or 2 (see two_feature_phase)")
    for title, m in maps:
        if m.shape != (len(p), len(r)):
            raise ValueError(f"phase maps must have shape (len(feature_probability), len(relative_importance)) = "
                             f"{(len(p), len(r))}, got {m.shape}")
    colours = ["0.55", "#4C72B0", "#55A868", "#DD8452"]  # other, not represented, dedicated, superposition
    cmap = ListedColormap(colours)
    fig, axes = plt.subplots(1, len(maps), figsize=(4.3 * len(maps) + 1.2, 3.9), squeeze=False)
    r_edges, p_edges = _log_edges(r), _log_edges(p)
    r_fine = np.logspace(np.log10(r_edges[0]), np.log10(r_edges[-1]), 200)
    for ax, (title, m) in zip(axes[0], maps):
        ax.pcolormesh(r_edges, p_edges, m, cmap=cmap, vmin=-1.5, vmax=2.5)
        if boundary:
            ax.plot(r_fine, two_feature_phase_boundary(torch.as_tensor(r_fine)).numpy(), color="k", lw=1.4)
            ax.plot([1, 1], [4 / 7, p_edges.max()], color="k", lw=1.4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(p_edges.min(), p_edges.max())
        ax.set_xlabel("relative importance of feature 2")
        ax.set_ylabel("feature probability p = 1 - S")
        ax.set_title(title, fontsize=10)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours[1:]] + [plt.Line2D([], [], color="k")]
    labels = [f"feature 2 {PHASE_NAMES[0]}", f"feature 2 gets a {PHASE_NAMES[1]}",
              f"{PHASE_NAMES[2]} (antipodal)", "closed-form boundary"]
    if (maps[0][1] == -1).any():
        handles.append(plt.Rectangle((0, 0), 1, 1, color=colours[0]))
        labels.append("other")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    return fig


def _log_edges(values: np.ndarray) -> np.ndarray:
    v = np.log10(np.asarray(values, dtype=float))
    if v.size == 1:
        return 10 ** np.array([v[0] - 0.5, v[0] + 0.5])
    mids = (v[1:] + v[:-1]) / 2
    return 10 ** np.concatenate([[v[0] - (mids[0] - v[0])], mids, [v[-1] + (v[-1] - mids[-1])]])


def plot_represented_counts(feature_probability, counts: Mapping[str, torch.Tensor], *, d_hidden: int | None = None,
                            n_features: int | None = None) -> plt.Figure:
    """Number of represented features (norm > 0.5) against feature probability, one line per model.

    ``feature_probability``: ``(n_instances,)``; ``counts``: label -> ``(n_instances,)`` counts (e.g. from
    :func:`superpos_lib.metrics.represented_features`). ``d_hidden`` and ``n_features`` draw reference lines.
    """
    p = _validate.real_values("feature_probability", feature_probability, ndim=(1, 2)).cpu().numpy()
    if p.ndim == 2:
        p = p[:, 0]
    if p.size == 0 or (p <= 0).any() or (p > 1).any():
        raise ValueError("feature_probability must hold at least one value, each in (0, 1]")
    if not isinstance(counts, Mapping) or not counts:
        raise ValueError("counts must map at least one label to a tensor of counts")
    for name, value in (("d_hidden", d_hidden), ("n_features", n_features)):
        if value is not None:
            _validate.positive_int(name, value)
    fig, ax = plt.subplots(figsize=(5.5, 3.3))
    for (label, c), marker in zip(counts.items(), "os^dv"):
        c = _validate.real_values(f"counts[{label!r}]", c).cpu().numpy()
        if c.shape != p.shape:
            raise ValueError(f"counts[{label!r}] must have shape {p.shape}, got {c.shape}")
        ax.plot(p, c, marker=marker, label=label)
    if d_hidden is not None:
        ax.axhline(d_hidden, color="0.6", ls="--", lw=0.8)
        ax.text(p.max(), d_hidden, f" d = {d_hidden}", va="bottom", ha="right", fontsize=8, color="0.4")
    if n_features is not None:
        ax.axhline(n_features, color="0.6", ls=":", lw=0.8)
        ax.text(p.max(), n_features, f" n = {n_features}", va="bottom", ha="right", fontsize=8, color="0.4")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("feature probability p = 1 - S (sparser to the right)")
    ax.set_ylabel("features with ||W_i|| > 0.5")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig

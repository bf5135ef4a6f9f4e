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
from ._style import IMPORTANCE_CMAP, SPARSITY_LABEL, sparsity_axis
from ..metrics.geometry import dimensions_per_feature, feature_dimensionality, feature_interference, feature_norms

__all__ = ["plot_features_2d", "plot_superposition_bars", "plot_dimensionality", "plot_phase_diagram",
           "plot_represented_counts", "DIMENSIONALITY_FRACTIONS", "plot_phase_crossing", "plot_loss_terms",
           "plot_dimensionality_dynamics", "plot_vulnerability", "plot_nonuniform", "plot_cosine_spectra"]

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


def _values(name: str, x, **kwargs) -> np.ndarray:
    """A checked argument (number, sequence or tensor; finite) as a float64 array."""
    return _validate.real_values(name, x, **kwargs).cpu().numpy()


def _probability_values(feature_probability) -> np.ndarray:
    """``feature_probability`` as a non-empty 1-d array with every value in (0, 1]."""
    p = _values("feature_probability", feature_probability, ndim=1)
    if p.size == 0 or (p <= 0).any() or (p > 1).any():
        raise ValueError("feature_probability must hold at least one value, each in (0, 1]")
    return p


def _optional_curve(name: str, value, length: int) -> np.ndarray | None:
    """An optional ``(length,)`` curve drawn against the x values."""
    if value is None:
        return None
    y = _values(name, value, ndim=1)
    if y.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},), one value per x value, got {y.shape}")
    return y


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
    _validate.positive_float("panel_size", panel_size)
    if ncols is not None:
        _validate.positive_int("ncols", ncols)
    p = _probabilities(feature_probability, I)
    if titles is not None and len(titles) != I:
        raise ValueError(f"titles must have one entry per instance ({I}), got {len(titles)}")
    cmap = plt.get_cmap(IMPORTANCE_CMAP)
    if importance is None:
        colours = cmap(np.linspace(1, 0, n))[None].repeat(I, 0)
    else:
        imp = _validate.real_values("importance", importance).cpu()
        try:
            imp = torch.broadcast_to(imp, (I, n)).numpy()
        except RuntimeError:
            raise ValueError(f"importance must broadcast to (n_instances, n_features) = {(I, n)}, "
                             f"got shape {tuple(imp.shape)}") from None
        span = np.ptp(imp, axis=1, keepdims=True)
        rel = np.where(span > 0, (imp - imp.min(1, keepdims=True)) / np.where(span > 0, span, 1), 1.0)
        colours = cmap(rel)
    fig, axes = _grid(I, ncols or min(I, 5), panel_size)
    axes = list(axes)
    circle = np.linspace(0, 2 * np.pi, 200)
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
        ax.plot(np.cos(circle), np.sin(circle), color="0.7", lw=0.7, ls="--", zorder=0)  # unit norm
        ticks = [-1, 0, 1]
        ax.set_xticks(ticks)
        ax.set_yticks(ticks)
        ax.tick_params(labelsize=7)
        if titles is not None:
            ax.set_title(titles[k], fontsize=9)
        elif p is not None:
            ax.set_title(f"p = {p[k]:.3g}", fontsize=9)
        if k % (ncols or min(I, 5)) == 0:
            ax.set_ylabel("hidden dim 2")
        ax.set_xlabel("hidden dim 1", fontsize=8)
    fig.suptitle("feature directions W_i (dashed: unit circle)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.9, 1))
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    bar = fig.colorbar(sm, ax=axes[:I], fraction=0.03, pad=0.02, ticks=[0, 1])
    bar.ax.set_yticklabels(["least", "most"], fontsize=7)
    bar.set_label("feature importance", fontsize=8)
    return fig


def plot_superposition_bars(W: torch.Tensor, feature_probability=None, *, b: torch.Tensor | None = None,
                            max_instances: int = 10) -> plt.Figure:
    """TMS-style summary of each instance: the ``W^T W`` heatmap (top; one symmetric colour scale
    for all panels, set by the largest entry), a bar per feature (middle) whose length is
    ``||W_i||`` and whose colour is its superposition ``sum_{j != i} (W_i_hat . W_j)^2`` (black: a
    dedicated direction; yellow: shares it) and, if ``b`` ``(n_instances, n_features)`` is given,
    the bias of each feature (bottom).

    ``W``: ``(n_instances, d, n_features)``; at most ``max_instances`` columns are drawn.
    """
    W = _check_instances(W)
    _validate.positive_int("max_instances", max_instances)
    I = W.shape[0]
    if b is not None:
        _validate.tensor("b", b, ndim=2)
        if tuple(b.shape) != (I, W.shape[2]):
            raise ValueError(f"b must have shape {(I, W.shape[2])}, got {tuple(b.shape)}")
        b = b.detach().cpu().numpy()
    if I > max_instances:
        raise ValueError(f"W has {I} instances; max_instances is {max_instances} (slice W first)")
    p = _probabilities(feature_probability, I)
    n = W.shape[2]
    WtW = (W.transpose(1, 2) @ W).numpy()
    norms, interf = feature_norms(W).numpy(), feature_interference(W).numpy()
    rows = 3 if b is not None else 2
    fig, axes = plt.subplots(rows, I, figsize=(1.7 * I + 0.9, 2.5 * rows), squeeze=False,
                             gridspec_kw=dict(height_ratios=[1, 1.1, 1.1][:rows], hspace=0.45))
    cmap = plt.cm.plasma
    vmax = float(np.abs(WtW).max()) or 1.0
    ticks = sorted({0, n - 1, (n - 1) // 2})
    for k in range(I):
        top, bottom = axes[0, k], axes[1, k]
        im = top.imshow(WtW[k], cmap="RdBu", vmin=-vmax, vmax=vmax)
        top.set_xticks(ticks)
        top.set_yticks(ticks)
        top.tick_params(labelsize=7)
        top.set_title(f"p = {p[k]:.3g}" if p is not None else f"instance {k}", fontsize=9)
        bottom.barh(np.arange(n), norms[k], color=cmap(np.clip(interf[k], 0, 1)), height=0.8)
        bottom.set_ylim(n - 0.5, -0.5)
        bottom.set_xlim(0, max(1.1, norms.max() * 1.05))
        bottom.set_yticks(ticks)
        bottom.tick_params(labelsize=7)
        bottom.set_xlabel("norm ‖W_i‖", fontsize=8)
        if b is not None:
            ax = axes[2, k]
            ax.barh(np.arange(n), b[k], color=np.where(b[k] < 0, "C0", "C3"), height=0.8)
            ax.axvline(0, color="0.3", lw=0.6)
            ax.set_ylim(n - 0.5, -0.5)
            lim = max(0.1, float(np.abs(b).max()) * 1.1)
            ax.set_xlim(-lim, lim)
            ax.set_yticks(ticks)
            ax.tick_params(labelsize=7)
            ax.set_xlabel("bias b_i", fontsize=8)
        if k == 0:
            top.set_ylabel("WᵀW (feature j)")
            bottom.set_ylabel("feature i (0 = most important)")
            if b is not None:
                axes[2, 0].set_ylabel("feature i")
    fig.colorbar(im, ax=axes[0, :].tolist(), fraction=0.02, pad=0.01, label="W_i · W_j")
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    fig.colorbar(sm, ax=axes[1, :].tolist(), fraction=0.02, pad=0.01, label="superposition\nΣ_j≠i (Ŵ_i·W_j)²")
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
    _validate.non_negative_int("seed", seed)
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
    sparsity_axis(ax1)
    ax1.set_xlim(x.min() / 1.3, x.max() * 1.3)
    ax1.set_ylim(0, 1.1)
    ax1.set_ylabel("feature dimensionality D_i")
    fig.tight_layout()
    return fig




def _fraction_text(value: float) -> str:
    from fractions import Fraction

    return str(Fraction(value).limit_denominator(12))


def plot_phase_diagram(relative_importance, feature_probability, phase, *, analytic_phase=None,
                       boundary=True, optimised_boundary=None, phase_names: Sequence[str] | None = None,
                       analytic_title: str = "closed-form losses") -> plt.Figure:
    """Phase diagram of a small toy model (TMS's "phase change" figures).

    ``relative_importance``: ``(n_r,)`` importance of the last feature relative to the first (x axis,
    log). ``feature_probability``: ``(n_p,)``; the y axis shows sparsity ``1/p`` (log, sparser up).
    ``phase``: ``(n_p, n_r)`` int, the index of the phase in ``phase_names`` or -1 ("other").
    ``phase_names`` defaults to the 2-features-in-1-dimension phases of
    :func:`superpos_lib.toy_models.two_feature_phase` (not represented, dedicated, superposition).
    ``analytic_phase``: optional second ``(n_p, n_r)`` map drawn beside it. ``boundary``: draw the
    closed-form 2-in-1 boundaries (:func:`superpos_lib.toy_models.two_feature_phase_boundary`).
    ``optimised_boundary``: optional ``(r, p)`` pair of 1-d tensors, a second boundary (dashed),
    e.g. where the numerically optimised antipodal solution stops winning.
    """
    from ..toy_models import PHASE_NAMES, two_feature_phase_boundary

    r = _validate.real_values("relative_importance", relative_importance, ndim=1).cpu().numpy()
    p = _validate.real_values("feature_probability", feature_probability, ndim=1).cpu().numpy()
    if r.size == 0 or (r <= 0).any():
        raise ValueError("relative_importance must hold at least one positive value (it is drawn on a log axis)")
    if p.size == 0 or (p <= 0).any() or (p > 1).any():
        raise ValueError("feature_probability must hold at least one value, each in (0, 1]")
    default = phase_names is None
    names = list(PHASE_NAMES) if default else list(phase_names)
    maps = [("trained models", _validate.real_values("phase", phase, integer=True).cpu().numpy())]
    if analytic_phase is not None:
        maps.append((analytic_title, _validate.real_values("analytic_phase", analytic_phase, integer=True).cpu().numpy()))
    for (title, m), name in zip(maps, ("phase", "analytic_phase")):
        if not np.isin(m, np.arange(-1, len(names))).all():
            raise ValueError(f"{name} must hold phase codes -1 (other) to {len(names) - 1} (see two_feature_phase)")
    for title, m in maps:
        if m.shape != (len(p), len(r)):
            raise ValueError(f"phase maps must have shape (len(feature_probability), len(relative_importance)) = "
                             f"{(len(p), len(r))}, got {m.shape}")
    palette = ["#4C72B0", "#55A868", "#DD8452", "#C44E52", "#8172B2", "#937860"]
    colours = ["0.55"] + palette[:len(names)]
    cmap = ListedColormap(colours)
    fig, axes = plt.subplots(1, len(maps), figsize=(4.3 * len(maps) + 1.2, 4.1), squeeze=False)
    order = np.argsort(p)[::-1]  # dense first, so 1/p increases
    inv = 1 / p[order]
    r_edges, y_edges = _log_edges(r), _log_edges(inv)
    r_fine = np.logspace(np.log10(r_edges[0]), np.log10(r_edges[-1]), 200)
    for ax, (title, m) in zip(axes[0], maps):
        ax.pcolormesh(r_edges, y_edges, m[order], cmap=cmap, vmin=-1.5, vmax=len(names) - 0.5)
        if boundary:
            ax.plot(r_fine, 1 / two_feature_phase_boundary(torch.as_tensor(r_fine)).numpy(), color="k", lw=1.4)
            ax.plot([1, 1], [y_edges.min(), 7 / 4], color="k", lw=1.4)
        if optimised_boundary is not None:
            rb, pb = (_np(v) for v in optimised_boundary)
            ok = np.isfinite(pb)
            ax.plot(rb[ok], 1 / pb[ok], color="k", lw=1.4, ls="--")
        ax.set_xscale("log")
        sparsity_axis(ax, "y")
        ax.set_ylim(y_edges.min(), y_edges.max())
        ax.set_xlabel("relative importance of the last feature")
        ax.set_title(title, fontsize=10)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours[1:]]
    labels = ([f"feature 2 {names[0]}", f"feature 2 gets a {names[1]}", f"{names[2]} (antipodal)"] if default
              else names)
    if boundary:
        handles.append(plt.Line2D([], [], color="k"))
        labels.append("closed-form boundary")
    if optimised_boundary is not None:
        handles.append(plt.Line2D([], [], color="k", ls="--"))
        labels.append("boundary, optimised antipodal pair")
    if (maps[0][1] == -1).any():
        handles.append(plt.Rectangle((0, 0), 1, 1, color=colours[0]))
        labels.append("other")
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False)
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
        ax.plot(1 / p, c, marker=marker, label=label)
    x_text = (1 / p).max() * 1.05
    if d_hidden is not None:
        ax.axhline(d_hidden, color="0.6", ls="--", lw=0.8)
        ax.text(x_text, d_hidden, f"d = {d_hidden}", va="center", ha="left", fontsize=8, color="0.4")
    if n_features is not None:
        ax.axhline(n_features, color="0.6", ls=":", lw=0.8)
        ax.text(x_text, n_features, f"n = {n_features}", va="center", ha="left", fontsize=8, color="0.4")
    sparsity_axis(ax)
    ax.set_xlim((1 / p).min() / 1.1, (1 / p).max() * 1.1)
    ax.set_ylabel("features with ‖W_i‖ > 0.5")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def plot_phase_crossing(feature_probability, losses: Mapping[str, torch.Tensor], *, weight=None,
                        weight_label: str = "‖W_2‖", title: str | None = None) -> plt.Figure:
    """A first-order phase change at fixed relative importance: the loss of each candidate solution
    against sparsity (left; the optimal loss is their minimum, with a kink where two curves cross)
    and, if ``weight`` is given, a weight of the trained models (right), which jumps there.

    ``feature_probability``: ``(n_p,)``; ``losses``: label -> ``(n_p,)`` (a label starting with
    "trained" is drawn as points); ``weight``: ``(n_p,)``.
    """
    p = _probability_values(feature_probability)
    if p.ndim != 1 or not isinstance(losses, Mapping) or not losses:
        raise ValueError("feature_probability must be 1-d and losses must map labels to (n_p,) tensors")
    _optional_curve("weight", weight, len(p))
    x = 1 / p
    ncols = 2 if weight is not None else 1
    fig, axes = plt.subplots(1, ncols, figsize=(5.2 * ncols, 3.6), squeeze=False)
    ax = axes[0, 0]
    for k, (label, L) in enumerate(losses.items()):
        L = _values(f"losses[{label!r}]", L)
        if L.shape != p.shape:
            raise ValueError(f"losses[{label!r}] must have shape {p.shape}, got {L.shape}")
        if label.startswith("trained"):
            ax.plot(x, L, "o", color="k", ms=3.5, label=label, zorder=3)
        else:
            ax.plot(x, L, lw=1.6, label=label)
    sparsity_axis(ax)
    ax.set_yscale("log")
    ax.set_ylabel("expected loss (summed over features)")
    ax.legend(fontsize=7, frameon=False)
    if title:
        ax.set_title(title, fontsize=10)
    if weight is not None:
        w = _np(weight)
        if w.shape != p.shape:
            raise ValueError(f"weight must have shape {p.shape}, got {w.shape}")
        ax = axes[0, 1]
        ax.plot(x, w, "o-", color="C3", ms=3.5)
        sparsity_axis(ax)
        ax.set_ylabel(weight_label + " of the trained model")
        ax.set_ylim(-0.05, max(1.2, float(np.nanmax(w)) * 1.1))
    fig.tight_layout()
    return fig


def plot_loss_terms(feature_probability, terms: Mapping[str, torch.Tensor], *, total=None) -> plt.Figure:
    """The loss on one-feature inputs split into its terms (see
    :func:`superpos_lib.toy_models.one_sparse_loss_terms`), against sparsity. ``terms``: label ->
    ``(n_p,)``; ``total``: optional ``(n_p,)`` drawn as points (e.g. the measured loss)."""
    p = _probability_values(feature_probability)
    if not isinstance(terms, Mapping) or not terms:
        raise ValueError("terms must map at least one label to a tensor")
    _optional_curve("total", total, len(p))
    x = 1 / p
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for (label, v), ls in zip(terms.items(), ["-", "-", "--", ":", "-."]):
        v = _values(f"terms[{label!r}]", v)
        if v.shape != p.shape:
            raise ValueError(f"terms[{label!r}] must have shape {p.shape}, got {v.shape}")
        ax.plot(x, v, ls=ls, marker="o", ms=3, label=label)
    if total is not None:
        ax.plot(x, _np(total), "k*", ms=6, label="measured loss")
    sparsity_axis(ax)
    ax.set_yscale("symlog", linthresh=1e-4)  # a term can be slightly negative
    ax.set_ylabel("loss on inputs with one feature present\n(symmetric log scale)")
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def plot_dimensionality_dynamics(steps, D: torch.Tensor, loss=None, *, loss_steps=None) -> plt.Figure:
    """Learning dynamics: every feature's dimensionality ``D_i`` against training step (top), and the
    loss (bottom). ``steps``: ``(k,)``; ``D``: ``(k, n_features)``; ``loss``: ``(m,)`` at
    ``loss_steps`` ``(m,)``."""
    t, D = _values("steps", steps), _values("D", D)
    if D.ndim != 2 or D.shape[0] != t.shape[0]:
        raise ValueError(f"D must have shape (len(steps), n_features) = ({len(t)}, n), got {D.shape}")
    if loss is not None:
        loss_len = len(_values("loss", loss, ndim=1))
        if loss_len == 0:
            raise ValueError("loss must hold at least one value")
        if loss_steps is not None:
            _optional_curve("loss_steps", loss_steps, loss_len)
    elif loss_steps is not None:
        raise ValueError("loss_steps must be None when loss is None")
    rows = 2 if loss is not None else 1
    fig, axes = plt.subplots(rows, 1, figsize=(7, 2.6 * rows + 0.6), sharex=True, squeeze=False)
    ax = axes[0, 0]
    colours = plt.get_cmap("tab20")(np.linspace(0, 1, D.shape[1]))
    for i in range(D.shape[1]):
        ax.plot(t, D[:, i], lw=0.9, color=colours[i])
    for value in DIMENSIONALITY_FRACTIONS:
        ax.axhline(value, color="0.8", lw=0.6, ls="--", zorder=0)
    ax.set_ylabel("feature dimensionality D_i")
    ax.set_ylim(-0.02, 1.1)
    if loss is not None:
        ax2 = axes[1, 0]
        ax2.plot(_np(loss_steps) if loss_steps is not None else np.arange(len(_np(loss))), _np(loss), color="k", lw=0.8)
        ax2.set_yscale("log")
        ax2.set_ylabel("training loss")
    axes[-1, 0].set_xlabel("training step")
    fig.tight_layout()
    return fig


def plot_vulnerability(feature_probability, curves: Mapping[str, torch.Tensor], *, ylabel: str) -> plt.Figure:
    """One or more quantities against sparsity on one axis (e.g. adversarial vulnerability next to
    ``1 / D*``). ``curves``: label -> ``(n_p,)``."""
    p = _probability_values(feature_probability)
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must map at least one label to a tensor")
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for (label, v), m in zip(curves.items(), "os^dv"):
        v = _values(f"curves[{label!r}]", v)
        if v.shape != p.shape:
            raise ValueError(f"curves[{label!r}] must have shape {p.shape}, got {v.shape}")
        ax.plot(1 / p, v, marker=m, ms=3.5, label=label)
    sparsity_axis(ax)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_nonuniform(ratio, D: torch.Tensor, norms: torch.Tensor, *, xlabel: str, snap=None) -> plt.Figure:
    """Non-uniform superposition: as one feature's density (or importance) is scaled by ``ratio``,
    its dimensionality and norm and the other features' (left: ``D_i``, right: ``||W_i||``).
    ``ratio``: ``(k,)``; ``D``, ``norms``: ``(k, n_features)``, the varied feature first.
    ``snap``: optional ratio to mark with a vertical line."""
    x, D, N = _values("ratio", ratio), _values("D", D), _values("norms", norms)
    if D.shape != N.shape or D.ndim != 2 or D.shape[0] != x.shape[0]:
        raise ValueError(f"D and norms must have shape (len(ratio), n_features), got {D.shape} and {N.shape}")
    if snap is not None:
        _validate.finite_float("snap", snap)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, Y, lab in ((axes[0], D, "feature dimensionality D_i"), (axes[1], N, "norm ‖W_i‖")):
        ax.plot(x, Y[:, 1:], color="0.6", lw=1, marker=".", ms=3)
        ax.plot(x, Y[:, 0], color="C3", lw=2, marker="o", ms=3.5, label="the varied feature")
        ax.plot([], [], color="0.6", label="the other features")
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(lab)
        if snap is not None:
            ax.axvline(float(snap), color="k", ls=":", lw=1)
        ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_cosine_spectra(panels: Mapping[str, Mapping[str, torch.Tensor]]) -> plt.Figure:
    """Configurations compared by their angles: one panel per title, each curve a configuration's
    sorted pairwise cosines (:func:`superpos_lib.metrics.cosine_spectrum`), against the pair's rank.
    ``panels``: title -> {label -> ``(n_pairs,)``}; the curves of one panel need the same length
    (the same number of features)."""
    if not isinstance(panels, Mapping) or not panels:
        raise ValueError("panels must map at least one title to {label: sorted cosines}")
    checked = {}
    for title, curves in panels.items():
        if not isinstance(curves, Mapping) or not curves:
            raise ValueError(f"panels[{title!r}] must map at least one label to a tensor of sorted cosines")
        values = {label: _values(f"panels[{title!r}][{label!r}]", v) for label, v in curves.items()}
        lengths = {tuple(v.shape) for v in values.values()}
        if len(lengths) != 1 or len(next(iter(lengths))) != 1:
            raise ValueError(f"the curves of panels[{title!r}] must be 1-d and of one length, got shapes {sorted(lengths)}")
        if any(bool((abs(v) > 1 + 1e-6).any()) for v in values.values()):
            raise ValueError(f"panels[{title!r}]: cosines must lie in [-1, 1]")
        checked[title] = values
    fig, axes = plt.subplots(1, len(checked), figsize=(4.2 * len(checked), 3.3), squeeze=False)
    for ax, (title, curves) in zip(axes[0], checked.items()):
        for (label, v), marker in zip(curves.items(), "os^dv"):
            ax.plot(range(1, len(v) + 1), v, marker=marker, ms=4, lw=1, label=label)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("pair of features, sorted by cosine")
        ax.set_ylim(-1.08, 1.08)
        ax.axhline(0, color="0.8", lw=0.8, zorder=0)
        ax.legend(fontsize=7, frameon=False)
    axes[0, 0].set_ylabel("cosine between the two features")
    fig.tight_layout()
    return fig

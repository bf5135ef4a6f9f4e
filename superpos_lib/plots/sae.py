"""Figures for chapter 6 (sparse autoencoders)."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import torch

from .. import _validate
from ._style import sparsity_axis

__all__ = ["plot_frontier", "plot_dead_fraction", "plot_best_match"]


def _np(t):
    return torch.as_tensor(t).detach().cpu().float().numpy()


def _seeded(name: str, value):
    """``(n,)`` or ``(n, n_seeds)`` -> ``(n, n_seeds)`` numpy."""
    arr = _np(value)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] < 1:
        raise ValueError(f"{name} must have shape (n,) or (n, n_seeds)")
    return arr


def plot_frontier(curves: dict, *, ax=None):
    """Sparsity-fidelity frontier: L0 (x, log) against fraction of variance unexplained (y, log).

    ``curves`` maps a label to ``(l0, fvu, point_labels)`` with ``l0``, ``fvu`` of shape ``(n,)`` or
    ``(n, n_seeds)`` (one column per seed: every seed is drawn as a small point, the line joins the
    means) and ``point_labels`` ``n`` strings (drawn next to the mean). Returns the axes.
    """
    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be a non-empty dict label -> (l0, fvu, point_labels)")
    prepared = {}
    for label, value in curves.items():
        if not isinstance(value, (tuple, list)) or len(value) != 3:
            raise ValueError(f"curves[{label!r}] must be a tuple (l0, fvu, point_labels)")
        l0s, fvu = _seeded("l0", value[0]), _seeded("fvu", value[1])
        if l0s.shape != fvu.shape or len(value[2]) != len(l0s):
            raise ValueError(f"curves[{label!r}] must hold l0, fvu and names of the same length")
        if (l0s <= 0).any() or (fvu <= 0).any():
            raise ValueError(f"curves[{label!r}]: l0 and fvu must be positive (both axes are logarithmic)")
        prepared[label] = (l0s, fvu, list(value[2]))
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.2))
    for (label, (l0s, fvu, names)), marker in zip(prepared.items(), "os^Dv<>p"):
        ml, mf = l0s.mean(1), fvu.mean(1)
        order = ml.argsort()
        line, = ax.plot(ml[order], mf[order], marker=marker, label=label, ms=5)
        if l0s.shape[1] > 1:
            ax.scatter(l0s.ravel(), fvu.ravel(), s=8, color=line.get_color(), alpha=0.45, marker=marker, lw=0)
        for x, y, name in zip(ml, mf, names):
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=6.5, color=line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):     # labels at 1, 2, 5 x 10^n only: no colliding minor labels
        axis.set_major_locator(mticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(mticker.NullFormatter())
    ax.set_xlabel("L0: mean active latents per sample (log scale)")
    ax.set_ylabel("fraction of variance unexplained (log scale)")
    ax.set_title("Sparsity-fidelity frontier (lower left is better)")
    ax.legend(fontsize=8)
    return ax


def plot_dead_fraction(histories: dict, *, ax=None):
    """Fraction of dead latents over training, one line per run: the mean over the run's instances
    (seeds), with a band from the lowest to the highest instance.

    ``histories`` maps a label to a :func:`superpos_lib.sae.train_sae` history. The y axis ends a
    little above the largest value drawn.
    """
    if not isinstance(histories, dict) or not histories:
        raise ValueError("histories must be a non-empty dict label -> train_sae history")
    for label, h in histories.items():
        if not isinstance(h, Mapping) or "dead_fraction" not in h or "step" not in h:
            raise ValueError(f"histories[{label!r}] must be a train_sae history (with 'step' and 'dead_fraction')")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.8, 3.5))
    top = 0.0
    for (label, h), marker, ls in zip(histories.items(), "osD^v<>p", ["-", "--", "-.", ":"] * 2):
        steps, dead = _np(h["step"]), _np(h["dead_fraction"])
        every = max(1, len(steps) // 8)
        line, = ax.plot(steps, dead.mean(1), label=label, ls=ls, marker=marker, markevery=every, ms=4)
        if dead.shape[1] > 1:
            ax.fill_between(steps, dead.min(1), dead.max(1), color=line.get_color(), alpha=0.15, lw=0)
        top = max(top, float(dead.max()))
    ax.set_xlabel("training step")
    ax.set_ylabel("fraction of dead latents")
    ax.set_ylim(0, max(0.05, 1.15 * top))
    ax.legend(fontsize=8)
    return ax


def plot_best_match(best_cos: torch.Tensor, probabilities: torch.Tensor, *, threshold: float = 0.9,
                    title: str = "", ax=None):
    """For each true feature, the best cosine similarity with any learned direction, against how rare
    the feature is, ``1/p`` (the book's sparsity axis: log scale, sparser to the right).
    ``best_cos``, ``probabilities``: ``(n_true,)``."""
    best_cos = _validate.real_values("best_cos", best_cos, ndim=1).cpu().numpy()
    probabilities = _validate.real_values("probabilities", probabilities, ndim=1).cpu().numpy()
    if (best_cos < -1 - 1e-6).any() or (best_cos > 1 + 1e-6).any():
        raise ValueError("best_cos must hold cosine similarities, in [-1, 1]")
    if (probabilities <= 0).any() or (probabilities > 1).any():
        raise ValueError("probabilities must lie in (0, 1] (they are drawn on a log axis)")
    _validate.finite_float("threshold", threshold, low=-1, high=1)
    if best_cos.ndim != 1 or best_cos.shape != probabilities.shape:
        raise ValueError("best_cos and probabilities must both have shape (n_true,)")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.8, 3.2))
    ok = best_cos >= threshold
    inv = 1.0 / probabilities
    ax.scatter(inv[ok], best_cos[ok], s=10, color="tab:blue", label=f"recovered (cos >= {threshold})")
    ax.scatter(inv[~ok], best_cos[~ok], s=10, color="tab:red", label="missed")
    ax.axhline(threshold, color="gray", lw=0.8, ls="--")
    sparsity_axis(ax)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("best cosine with a latent")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return ax

"""Figures for chapter 6 (sparse autoencoders)."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import torch

from .. import _validate

__all__ = ["plot_frontier", "plot_dead_fraction", "plot_best_match"]


def _np(t):
    return torch.as_tensor(t).detach().cpu().float().numpy()


def plot_frontier(curves: dict, *, ax=None):
    """Sparsity-fidelity frontier: L0 (x) against fraction of variance unexplained (y, log scale).

    ``curves`` maps a label to ``(l0 (n,), fvu (n,), point_labels (n,) strings)``. Returns the axes.
    """
    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be a non-empty dict label -> (l0, fvu, point_labels)")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.8))
    for (label, (l0s, fvu, names)), marker in zip(curves.items(), "os^D"):
        l0s, fvu = _np(l0s), _np(fvu)
        if l0s.shape != fvu.shape or len(names) != len(l0s):
            raise ValueError(f"curves[{label!r}] must hold l0, fvu and names of the same length")
        order = l0s.argsort()
        ax.plot(l0s[order], fvu[order], marker=marker, label=label)
        for x, y, name in zip(l0s, fvu, names):
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_yscale("log")
    ax.set_xlabel("L0: mean active latents per sample")
    ax.set_ylabel("fraction of variance unexplained")
    ax.set_title("Sparsity-fidelity frontier (lower left is better)")
    ax.legend()
    return ax


def plot_dead_fraction(histories: dict, *, ax=None):
    """Fraction of dead latents over training, one line per run.

    ``histories`` maps a label to a :func:`superpos_lib.sae.train_sae` history (instance 0 is shown).
    """
    if not isinstance(histories, dict) or not histories:
        raise ValueError("histories must be a non-empty dict label -> train_sae history")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.5))
    for label, h in histories.items():
        if not isinstance(h, Mapping) or "dead_fraction" not in h or "step" not in h:
            raise ValueError(f"histories[{label!r}] must be a train_sae history (with 'step' and 'dead_fraction')")
        ax.plot(_np(h["step"]), _np(h["dead_fraction"])[:, 0], label=label)
    ax.set_xlabel("training step")
    ax.set_ylabel("fraction of dead latents")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    return ax


def plot_best_match(best_cos: torch.Tensor, probabilities: torch.Tensor, *, threshold: float = 0.9,
                    title: str = "", ax=None):
    """For each true feature, the best cosine similarity with any learned direction, against the
    feature's probability ``p`` (log x axis). ``best_cos``, ``probabilities``: ``(n_true,)``."""
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
    ax.scatter(probabilities[ok], best_cos[ok], s=10, color="tab:blue", label=f"recovered (cos >= {threshold})")
    ax.scatter(probabilities[~ok], best_cos[~ok], s=10, color="tab:red", label="missed")
    ax.axhline(threshold, color="gray", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("feature probability p = 1 - S")
    ax.set_ylabel("best cosine with a latent")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return ax

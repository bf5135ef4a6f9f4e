"""Figures for chapter 7 (a real transformer): embedding geometry and how mixed units are."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from .. import _validate as v

__all__ = ["plot_cosine_distributions", "plot_mixedness", "plot_activation_density"]


def _values(name: str, x) -> torch.Tensor:
    x = v.tensor(name, x, ndim=1, finite=False).detach().cpu().float()
    x = x[torch.isfinite(x)]
    if x.numel() == 0:
        raise ValueError(f"{name} must hold at least one finite value")
    return x


def plot_cosine_distributions(pairs_real: torch.Tensor, pairs_random: torch.Tensor, nearest_real: torch.Tensor,
                              nearest_random: torch.Tensor, welch: float | None = None,
                              *, label_real: str = "token embeddings",
                              label_random: str = "random Gaussian vectors") -> plt.Figure:
    """Two panels: the distribution of pairwise cosine similarities (left) and of each vector's
    largest ``|cos|`` with any other (right), real embeddings against random vectors of the same shape.

    All inputs are 1-D tensors of cosines (``(n_pairs,)`` and ``(n_queries,)``); ``welch`` draws the
    Welch bound as a vertical line on the right panel.
    """
    pairs_real, pairs_random = _values("pairs_real", pairs_real), _values("pairs_random", pairs_random)
    nearest_real, nearest_random = _values("nearest_real", nearest_real), _values("nearest_random", nearest_random)
    if welch is not None:
        welch = v.finite_float("welch", welch, low=0, high=1)  # a Welch bound is a |cosine|
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    bins = torch.linspace(-1, 1, 201).tolist()
    left.hist(pairs_random.numpy(), bins=bins, density=True, alpha=0.6, color="tab:gray", label=label_random)
    left.hist(pairs_real.numpy(), bins=bins, density=True, alpha=0.6, color="tab:blue", label=label_real)
    left.set_yscale("log")
    left.set_xlabel("cosine similarity of a pair")
    left.set_ylabel("density (log scale)")
    left.set_title("all pairs", fontsize=10)
    left.legend(fontsize=8, frameon=False)
    bins = torch.linspace(0, 1, 101).tolist()
    right.hist(nearest_random.numpy(), bins=bins, density=True, alpha=0.6, color="tab:gray", label=label_random)
    right.hist(nearest_real.numpy(), bins=bins, density=True, alpha=0.6, color="tab:blue", label=label_real)
    if welch is not None:
        right.axvline(welch, color="black", linestyle="--", linewidth=1, label=f"Welch bound {welch:.3f}")
    right.set_xlabel("largest |cos| with any other vector")
    right.set_ylabel("density")
    right.set_title("nearest neighbour of each vector", fontsize=10)
    right.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_mixedness(neurons: torch.Tensor, latents: torch.Tensor, k: int, *, ax: plt.Axes | None = None,
                   label_neurons: str = "MLP neurons", label_latents: str = "SAE latents") -> plt.Axes:
    """Histograms of the token-type entropy (bits) of each unit's top-``k`` activations
    (:func:`superpos_lib.real_models.token_mixedness`), neurons against SAE latents; NaNs are left out.

    ``neurons``: ``(n_neurons,)``; ``latents``: ``(n_latents,)``; ``k``: the number of top
    activations the entropies were computed from (the axis ends at ``log2 k``).
    """
    neurons, latents = _values("neurons", neurons), _values("latents", latents)
    k = v.positive_int("k", k)
    top_bits = float(torch.log2(torch.tensor(float(k))))
    for name, x in (("neurons", neurons), ("latents", latents)):
        if (x < -1e-9).any() or (x > top_bits + 1e-6).any():
            raise ValueError(f"{name} must hold entropies in bits, in [0, log2 k = {top_bits:.3g}]")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.2))
    top = torch.log2(torch.tensor(float(k))).item()
    bins = torch.linspace(0, max(top, 1e-6), 31).tolist()
    ax.hist(neurons.numpy(), bins=bins, density=True, alpha=0.6, color="tab:orange",
            label=f"{label_neurons} (n = {neurons.numel()})")
    ax.hist(latents.numpy(), bins=bins, density=True, alpha=0.6, color="tab:blue",
            label=f"{label_latents} (n = {latents.numel()})")
    ax.set_xlabel(f"entropy of token types in the top {k} activations (bits; 0 = one token, {top:.1f} = all different)")
    ax.set_ylabel("density")
    ax.legend(fontsize=8, frameon=False)
    return ax


def plot_activation_density(firing_fraction: torch.Tensor, *, ax: plt.Axes | None = None,
                            label: str = "SAE latents") -> plt.Axes:
    """Histogram of ``log10`` of how often each unit fires (fraction of tokens with activation > 0).

    ``firing_fraction``: ``(n_units,)`` in ``[0, 1]``; units that never fire are counted in the text
    of the legend, not drawn (their log is undefined).
    """
    firing_fraction = _values("firing_fraction", firing_fraction)
    if (firing_fraction < 0).any() or (firing_fraction > 1).any():
        raise ValueError("firing_fraction must lie in [0, 1]")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    alive = firing_fraction[firing_fraction > 0]
    dead = int((firing_fraction == 0).sum())
    if alive.numel():
        ax.hist(torch.log10(alive).numpy(), bins=40, color="tab:blue", alpha=0.8,
                label=f"{label} ({alive.numel()} alive, {dead} never fire)")
    ax.set_xlabel("log10 of the fraction of tokens on which the unit fires")
    ax.set_ylabel("number of units")
    ax.legend(fontsize=8, frameon=False)
    return ax

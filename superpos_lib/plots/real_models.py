"""Figures for chapters 7 and 8 (real transformers): embedding geometry, how mixed units are, ablation
controls, the L0 / loss-recovered frontier and latent dashboards."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from .. import _validate as v

__all__ = ["plot_cosine_distributions", "plot_mixedness", "plot_activation_density", "plot_mixedness_many",
           "plot_ablation_controls", "plot_loss_frontier", "plot_latent_histogram", "plot_norms_by_position"]


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


def plot_mixedness_many(entropies: dict, k: int, *, ax: plt.Axes | None = None) -> plt.Axes:
    """Step histograms of the token-type entropy (bits) of several sets of units, one line each.
    ``entropies``: label -> ``(n_units,)`` (NaNs, i.e. unscored units, are left out)."""
    if not isinstance(entropies, dict) or not entropies:
        raise ValueError("entropies must be a non-empty dict of label -> 1-D tensor")
    v.positive_int("k", k)
    top = float(torch.log2(torch.tensor(float(k))))
    for label, e in entropies.items():
        e = _values(f"entropies[{label!r}]", e)
        if (e < -1e-9).any() or (e > top + 1e-6).any():
            raise ValueError(f"entropies[{label!r}] must hold entropies in bits, in [0, log2 k = {top:.3g}]")
    ax = ax or plt.subplots(figsize=(8, 3.4))[1]
    bins = torch.linspace(0, top, 29).numpy()
    for label, e in entropies.items():
        e = _values(f"entropies[{label!r}]", e)
        ax.hist(e.numpy(), bins=bins, density=True, histtype="step", linewidth=1.6, label=f"{label} (n = {e.numel()})")
    ax.set_xlabel(f"entropy of token types in the top {k} activations (bits; 0 = one token, {top:.1f} = all different)")
    ax.set_ylabel("density")
    ax.legend(fontsize=7, frameon=False)
    return ax


def plot_ablation_controls(effects: dict) -> plt.Figure:
    """One panel per pair type: the similarity change caused by removing the latent (a red line)
    against the changes caused by controls of the same size (dots: random directions, other latents).
    ``effects``: label -> ``(latent_change, random_changes (n,), latent_control_changes (m,))``."""
    if not isinstance(effects, dict) or not effects:
        raise ValueError("effects must be a non-empty dict of label -> (change, random changes, latent changes)")
    for label, effect in effects.items():
        if not isinstance(effect, (tuple, list)) or len(effect) != 3:
            raise ValueError(f"effects[{label!r}] must be a triple (change, random changes, latent changes)")
        v.finite_float(f"effects[{label!r}] change", effect[0])
        _values(f"effects[{label!r}] random changes", effect[1])
        _values(f"effects[{label!r}] latent changes", effect[2])
    fig, axes = plt.subplots(1, len(effects), figsize=(3.3 * len(effects), 2.8), sharey=True, squeeze=False)
    for ax, (label, (own, rand, lat)) in zip(axes[0], effects.items()):
        rand, lat = _values("random changes", rand), _values("latent changes", lat)
        ax.scatter(torch.zeros_like(rand) + torch.linspace(-0.15, 0.15, len(rand)), rand, s=12, color="tab:gray",
                   label="random directions")
        ax.scatter(torch.ones_like(lat) + torch.linspace(-0.15, 0.15, len(lat)), lat, s=12, color="tab:blue",
                   label="other latents")
        ax.axhline(own, color="tab:red", linewidth=1.5, label="the latent")
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_xticks([0, 1], ["random\ndirections", "other\nlatents"])
        ax.set_xlim(-0.5, 1.5)
        ax.set_title(label, fontsize=9)
    axes[0, 0].set_ylabel("change in mean cosine\nbetween sentence embeddings")
    axes[0, -1].legend(fontsize=7, frameon=False, loc="best")
    fig.tight_layout()
    return fig


def plot_loss_frontier(points: dict, *, ax: plt.Axes | None = None, baseline: str = "mean ablation") -> plt.Axes:
    """CE loss recovered against L0, one line per architecture. ``points``: label -> list of
    ``(l0, recovered)`` pairs (held-out values)."""
    if not isinstance(points, dict) or not points:
        raise ValueError("points must be a non-empty dict of label -> list of (l0, recovered)")
    for label, pts in points.items():
        if isinstance(pts, str) or not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in pts):
            raise ValueError(f"points[{label!r}] must be a list of (l0, recovered) pairs")
        for a, b in pts:
            v.finite_float(f"points[{label!r}] l0", a, low=0, low_open=True)
            v.finite_float(f"points[{label!r}] recovered", b)
    ax = ax or plt.subplots(figsize=(6, 3.6))[1]
    for (label, pts), marker in zip(points.items(), "osD^v"):
        pts = sorted((float(a), float(b)) for a, b in pts)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("L0 (active latents per token, held out; log scale)")
    ax.set_ylabel(f"CE loss recovered\n(vs {baseline}, held out)")
    ax.axhline(1.0, color="black", linewidth=0.5)
    ax.legend(frameon=False, fontsize=8)
    return ax


def plot_latent_histogram(values: torch.Tensor, *, ax: plt.Axes | None = None, label: str = "") -> plt.Axes:
    """Histogram of one latent's non-zero activations (log count), as in feature dashboards."""
    values = _values("values", values)
    ax = ax or plt.subplots(figsize=(4, 2.6))[1]
    on = values[values > 0]
    if on.numel():
        ax.hist(on.numpy(), bins=30, color="tab:blue", alpha=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("activation when on")
    ax.set_ylabel("tokens (log scale)")
    ax.set_title(f"{label} fires on {on.numel() / values.numel():.2%} of tokens", fontsize=9)
    return ax


def plot_norms_by_position(norms: torch.Tensor, position: torch.Tensor, *, ax: plt.Axes | None = None,
                           max_position: int = 40) -> plt.Axes:
    """Median residual-stream norm at each position of a text (log scale): the first token stands out."""
    norms = v.non_empty("norms", v.tensor("norms", norms, ndim=1)).detach().cpu()
    position = v.tensor("position", position, ndim=1, floating=False)
    if position.is_floating_point() or position.shape != norms.shape or (position < 0).any():
        raise ValueError(f"position must be a non-negative integer tensor of shape {tuple(norms.shape)} (like norms)")
    v.positive_int("max_position", max_position)
    position = position.cpu()
    ax = ax or plt.subplots(figsize=(6, 3))[1]
    pos = torch.arange(min(max_position, int(position.max()) + 1))
    med = torch.stack([norms[position == p].median() for p in pos])
    ax.plot(pos.numpy(), med.numpy(), marker="o", markersize=3)
    ax.set_yscale("log")
    ax.set_xlabel("position in the text (0 = first token)")
    ax.set_ylabel("median residual norm (log scale)")
    return ax

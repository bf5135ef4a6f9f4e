"""Figures for chapters 4 (compressed sensing) and 5 (the restricted isometry property)."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .. import _validate

__all__ = ["plot_sensing_phase_diagram", "plot_phase_diagrams", "plot_l1_geometry", "plot_recovery"]


def _new_ax(ax, figsize):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    return ax.figure, ax


def plot_sensing_phase_diagram(rates: torch.Tensor, deltas: Sequence[float], rhos: Sequence[float], *, ax=None,
                       title: str = "", curve: bool = True, signal: str = "signed"):
    """Success rate over the ``(delta, rho)`` grid as a heat map, with the Donoho–Tanner curve.

    ``rates``: ``(len(rhos), len(deltas))`` from :func:`superpos_lib.sensing.phase_transition`.
    Returns the matplotlib ``Figure``.
    """
    from ..sensing import dt_curve

    rates = _validate.real_values("rates", rates)
    deltas = _validate.real_values("deltas", deltas, ndim=1).numpy()
    rhos = _validate.real_values("rhos", rhos, ndim=1).numpy()
    if ((rates < 0) | (rates > 1)).any():
        raise ValueError("rates must be success rates, in [0, 1]")
    _validate.one_of("signal", signal, ("signed", "nonnegative"))
    if rates.ndim != 2 or rates.shape != (len(rhos), len(deltas)):
        raise ValueError(f"rates must have shape (len(rhos), len(deltas)) = {(len(rhos), len(deltas))}, "
                         f"got {tuple(rates.shape)}")
    fig, ax = _new_ax(ax, (4.2, 3.4))

    def edges(v):
        mid = (v[1:] + v[:-1]) / 2 if len(v) > 1 else np.array([])
        first = v[0] - (mid[0] - v[0] if len(mid) else 0.05)
        last = v[-1] + (v[-1] - mid[-1] if len(mid) else 0.05)
        return np.concatenate([[first], mid, [last]])

    mesh = ax.pcolormesh(edges(deltas), edges(rhos), rates.numpy(), cmap="viridis", vmin=0, vmax=1)
    fig.colorbar(mesh, ax=ax, label="success rate")
    if curve:
        d = np.linspace(0.02, 1.0, 200)
        ax.plot(d, dt_curve(torch.from_numpy(d), signal).numpy(), color="white", lw=2,
                label="Donoho–Tanner curve")
        ax.legend(loc="upper left", fontsize=8, framealpha=0.6)
    ax.set_xlabel(r"undersampling $\delta = m / n$")
    ax.set_ylabel(r"sparsity $\rho = k / m$")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    if title:
        ax.set_title(title)
    return fig


def _column_edges(values: np.ndarray, width: float) -> np.ndarray:
    mid = (values[1:] + values[:-1]) / 2
    return np.concatenate([[values[0] - (mid[0] - values[0] if len(mid) else width)], mid,
                           [values[-1] + (values[-1] - mid[-1] if len(mid) else width)]])


def plot_phase_diagrams(panels: dict, deltas: Sequence[float], *, signal: str = "signed", reference: str = "l1",
                        l0_lines: bool = True, strong: bool = True, figsize=None):
    """Several phase diagrams side by side with one shared colourbar.

    ``panels``: ``{title: (rates, rho)}`` with ``rates`` and ``rho`` of shape ``(R, len(deltas))``:
    the success rates and the sparsity ratios ``k / m`` actually used in each cell (``info["rho"]``
    of :func:`superpos_lib.sensing.phase_transition`). Each column is drawn at its own ``k / m``
    values (repeated ``k`` drawn once). Every panel shows the l1 weak threshold ``rho_W`` as a
    reference (``signal`` picks the signed or non-negative curve), with ``l0_lines`` the l0 limits
    ``rho = 1`` (typical signals) and ``rho = 1/2`` (every signal), and with ``strong`` the small-delta
    asymptotic of the strong threshold ``rho_S ~ 1 / (2 e ln(1/delta))``. Returns the ``Figure``.
    """
    from ..sensing import dt_curve

    _validate.one_of("signal", signal, ("signed", "nonnegative"))
    _validate.one_of("reference", reference, ("l1",))
    if not isinstance(panels, dict) or not panels:
        raise ValueError("panels must be a non-empty dict {title: (rates, rho)}")
    deltas = _validate.real_values("deltas", deltas).numpy()
    if deltas.ndim != 1 or len(deltas) == 0:
        raise ValueError("deltas must be a non-empty sequence of numbers")
    for title, panel in panels.items():
        if not isinstance(panel, (tuple, list)) or len(panel) != 2:
            raise ValueError(f"panels[{title!r}] must be a pair (rates, rho)")
        rates = _validate.real_values(f"panels[{title!r}] rates", panel[0])
        rho = _validate.real_values(f"panels[{title!r}] rho", panel[1])
        if rates.shape != rho.shape or rates.ndim != 2 or rates.shape[1] != len(deltas):
            raise ValueError(f"panels[{title!r}]: rates and rho must both have shape (R, {len(deltas)}), "
                             f"got {tuple(rates.shape)} and {tuple(rho.shape)}")
        if ((rates < 0) | (rates > 1)).any():
            raise ValueError(f"panels[{title!r}]: rates must be success rates, in [0, 1]")
    cols = len(panels)
    fig, axes = plt.subplots(1, cols, figsize=figsize or (3.6 * cols + 1.0, 3.5), sharey=True, squeeze=False)
    axes = axes[0]
    d_edges = _column_edges(deltas, 0.05)
    mesh = None
    for ax, (title, (rates, rho)) in zip(axes, panels.items()):
        rates = np.asarray(torch.as_tensor(rates, dtype=torch.float64))
        rho = np.asarray(torch.as_tensor(rho, dtype=torch.float64))
        if rates.shape != rho.shape or rates.ndim != 2 or rates.shape[1] != len(deltas):
            raise ValueError(f"panel {title!r}: rates and rho must both have shape (R, {len(deltas)}), "
                             f"got {rates.shape} and {rho.shape}")
        for j in range(len(deltas)):
            r, first = np.unique(rho[:, j], return_index=True)
            vals = rates[first, j][:, None]
            mesh = ax.pcolormesh(d_edges[j:j + 2], _column_edges(r, 0.02), vals, cmap="viridis", vmin=0, vmax=1)
        d = np.concatenate([np.geomspace(1e-3, 0.02, 30), np.linspace(0.02, 1.0, 200)])
        rw = dt_curve(torch.from_numpy(d), signal).numpy()
        ax.plot(d, rw, color="black", lw=3.2, label=r"$\ell_1$ weak threshold $\rho_W$ (reference)")
        ax.plot(d, rw, color="white", lw=1.6)
        if strong:
            ds = np.linspace(0.002, 0.35, 100)
            ax.plot(ds, 1 / (2 * np.e * np.log(1 / ds)), color="tab:orange", lw=1.8, ls=":",
                    label=r"strong threshold $\rho_S$, small-$\delta$ asymptotic")
        if l0_lines:
            ax.axhline(1.0, color="tab:red", lw=1.5, ls="--", label=r"$\ell_0$, typical signals: $\rho = 1$")
            ax.axhline(0.5, color="tab:red", lw=1.2, ls="-.", label=r"$\ell_0$, every signal: $\rho = 1/2$")
        ax.set_xlabel(r"undersampling $\delta = m / n$")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_title(title, fontsize=9)
    axes[0].set_ylabel(r"sparsity $\rho = k / m$")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 0.92, 1))
    cax = fig.add_axes((0.935, 0.22, 0.012, 0.68), label="<colorbar>")
    fig.colorbar(mesh, cax=cax, label="success rate (fraction of trials)")
    return fig


def plot_l1_geometry(ax=None):
    """The classic picture: the line ``{x : a . x = y}`` in 2-d first touches the l1 ball at a
    vertex (a sparse point) and the l2 ball at a dense point. Returns the ``Figure``."""
    fig, ax = _new_ax(ax, (4.0, 4.0))
    a = np.array([1.0, 2.2])  # the measurement: a . x = y, with the sparse solution x = (0, 1)
    y = a @ np.array([0.0, 1.0])
    t = np.linspace(-1.6, 2.2, 2)
    ax.plot(t, (y - a[0] * t) / a[1], color="black", lw=1.5, label=r"solutions of $a \cdot x = y$")
    r1 = 1.0  # the smallest l1 ball touching the line: radius y / max|a_i| = 1
    ax.fill([r1, 0, -r1, 0], [0, r1, 0, -r1], facecolor="tab:blue", alpha=0.25, edgecolor="tab:blue", lw=1.5,
            label=r"smallest $\ell_1$ ball")
    r2 = y / np.linalg.norm(a)
    # the l2 ball as an outline only, so where the two balls overlap stays readable (no mixed fill colour)
    circle = plt.Circle((0, 0), r2, fill=False, edgecolor="tab:orange", lw=2, ls="--", label=r"smallest $\ell_2$ ball")
    ax.add_patch(circle)
    x2 = a * y / (a @ a)
    ax.plot([0], [1], "o", color="tab:blue", ms=7, label="l1 solution (sparse)")
    ax.plot([x2[0]], [x2[1]], "s", color="tab:orange", ms=6, label="l2 solution (dense)")
    ax.axhline(0, color="gray", lw=0.5)
    ax.axvline(0, color="gray", lw=0.5)
    ax.set_xlim(-1.6, 1.6)
    ax.set_ylim(-1.3, 1.6)
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title("Why $\\ell_1$ finds sparse solutions")
    return fig


def plot_recovery(x: torch.Tensor, x_hat: torch.Tensor, *, ax=None, title: str = ""):
    """Stem plot of a true signal ``x`` ``(n,)`` and its recovery ``x_hat`` ``(n,)``."""
    x = _validate.real_values("x", x, ndim=1).cpu()
    x_hat = _validate.real_values("x_hat", x_hat, ndim=1).cpu()
    if x.shape != x_hat.shape:
        raise ValueError(f"x_hat must have the shape of x {tuple(x.shape)}, got {tuple(x_hat.shape)}")
    fig, ax = _new_ax(ax, (6.0, 2.6))
    idx = np.arange(len(x))
    ax.vlines(idx, 0, x.numpy(), color="lightgray", lw=3, label="true signal $x$")
    ax.plot(idx, x_hat.numpy(), ".", color="tab:red", ms=4, label=r"recovered $\hat x$")
    ax.axhline(0, color="gray", lw=0.5)
    ax.set_xlabel("coordinate (feature index)")
    ax.set_ylabel("value")
    ax.legend(fontsize=7, loc="upper right")
    if title:
        ax.set_title(title, fontsize=9)
    return fig

"""Figures for chapters 4 (compressed sensing) and 5 (the restricted isometry property)."""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .. import _validate

__all__ = ["plot_sensing_phase_diagram", "plot_l1_geometry", "plot_recovery"]


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


def plot_l1_geometry(ax=None):
    """The classic picture: the line ``{x : a . x = y}`` in 2-d first touches the l1 ball at a
    vertex (a sparse point) and the l2 ball at a dense point. Returns the ``Figure``."""
    fig, ax = _new_ax(ax, (4.0, 4.0))
    a = np.array([1.0, 2.2])  # the measurement: a . x = y, with the sparse solution x = (0, 1)
    y = a @ np.array([0.0, 1.0])
    t = np.linspace(-1.6, 2.2, 2)
    ax.plot(t, (y - a[0] * t) / a[1], color="black", lw=1.5, label=r"solutions of $a \cdot x = y$")
    r1 = 1.0  # the smallest l1 ball touching the line: radius y / max|a_i| = 1
    ax.fill([r1, 0, -r1, 0], [0, r1, 0, -r1], color="tab:blue", alpha=0.3, label=r"smallest $\ell_1$ ball")
    r2 = y / np.linalg.norm(a)
    circle = plt.Circle((0, 0), r2, color="tab:orange", alpha=0.3, label=r"smallest $\ell_2$ ball")
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

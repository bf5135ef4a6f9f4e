"""The labels that the interpret exercises are graded against, computed from a chapter's results.

A student names a regime from a figure ("which overlap sign did training keep small?"); the chapter
passes the student's answer and one of these labels to ``check_answer``. Each function turns the
measured numbers into the label by a stated rule, so the rule is documented and tested once instead
of being written inline in a notebook.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from .. import _validate as V

__all__ = ["ablation_effect_label", "amortisation_gap_label", "frontier_gap_label", "least_absorption_label",
           "overlap_sign_label"]


def _values(name: str, value, ndim: int | None = None) -> torch.Tensor:
    """Numbers as float64: a floating tensor, or a number or a sequence of numbers."""
    if isinstance(value, torch.Tensor):
        V.tensor(name, value, ndim=ndim)
    return V.real_values(name, value, ndim=ndim)


def overlap_sign_label(mu_plus, mu_minus) -> str:
    """Which sign of overlap a set of geometries keeps small (chapter 5).

    ``mu_plus``, ``mu_minus``: the largest positive and the largest negative overlap (as magnitudes) of
    each geometry, sequences or 1-d tensors of the same length. Returns ``"positive"`` when every geometry
    has ``mu_plus < mu_minus``, ``"negative"`` when every one has ``mu_minus < mu_plus``, else ``"mixed"``.
    """
    plus = _values("mu_plus", mu_plus, ndim=1)
    minus = _values("mu_minus", mu_minus, ndim=1)
    V.non_empty("mu_plus", plus)
    if plus.shape != minus.shape:
        raise ValueError(f"mu_minus must have the shape of mu_plus {tuple(plus.shape)}, got {tuple(minus.shape)}")
    if bool((plus < minus).all()):
        return "positive"
    if bool((minus < plus).all()):
        return "negative"
    return "mixed"


def least_absorption_label(absorption_rates: Mapping) -> str:
    """The setting with the lowest mean absorption rate (chapter 6b), as a string.

    ``absorption_rates``: setting (e.g. the dictionary size) -> its absorption rates over seeds (a number,
    a sequence or a tensor). Returns ``str(setting)`` of the smallest mean; ties go to the first.
    """
    if not isinstance(absorption_rates, Mapping) or not absorption_rates:
        raise ValueError(f"absorption_rates must be a non-empty mapping setting -> rates, got {absorption_rates!r}")
    means = {}
    for key, rates in absorption_rates.items():
        values = _values(f"absorption_rates[{key!r}]", rates).reshape(-1)
        V.non_empty(f"absorption_rates[{key!r}]", values)
        means[key] = values.mean().item()
    return str(min(means, key=means.get))


def amortisation_gap_label(fvu_encoder: float, fvu_solver: float, tolerance: float = 0.1) -> str:
    """Whether a per-sample solver reconstructs with the encoder's dictionary better than the encoder does
    (chapter 6b), at the same number of active latents.

    ``fvu_encoder``, ``fvu_solver``: fractions of variance unexplained (``>= 0``, the encoder's ``> 0``).
    Returns ``"more"`` (a real amortisation gap: the solver's FVU is below ``1 - tolerance`` times the
    encoder's), ``"less"`` (above ``1 + tolerance`` times), or ``"about the same"``.
    """
    enc = V.finite_float("fvu_encoder", fvu_encoder, low=0.0)
    sol = V.finite_float("fvu_solver", fvu_solver, low=0.0)
    tol = V.finite_float("tolerance", tolerance, low=0.0, high=1.0)
    if enc <= 0:
        raise ValueError(f"fvu_encoder must be positive (the ratio is taken against it), got {fvu_encoder!r}")
    ratio = sol / enc
    if ratio < 1 - tol:
        return "more"
    if ratio > 1 + tol:
        return "less"
    return "about the same"


def ablation_effect_label(effects, controls, z: float = 2.0) -> str:
    """Whether ablating a unit moves an output beyond what control ablations of the same size do (chapter 7).

    ``effects``: the unit's own effect on each of several outputs, ``(n,)``; ``controls``: the control
    ablations' effects on the same outputs, ``(n, n_controls)`` with ``n_controls >= 2``, or a list of
    such tensors, one per kind of control (e.g. random directions, other latents). Returns
    ``"beyond the controls"`` when, for some output and some kind of control, the own effect lies more
    than ``z`` standard deviations of the controls (sample standard deviation) from their mean, else
    ``"within the controls"``.
    """
    own = _values("effects", effects, ndim=1)
    V.non_empty("effects", own)
    sets = list(controls) if isinstance(controls, (list, tuple)) else [controls]
    if not sets:
        raise ValueError("controls must hold at least one set of control effects, shape (n, n_controls)")
    V.positive_float("z", z)
    beyond = False
    for c in sets:
        ctrl = _values("controls", c, ndim=2)
        if ctrl.shape[0] != own.shape[0] or ctrl.shape[1] < 2:
            raise ValueError(f"controls must have shape ({own.shape[0]}, n_controls >= 2) for {own.shape[0]} "
                             f"effects, got {tuple(ctrl.shape)}")
        scores = (own - ctrl.mean(1)) / ctrl.std(1).clamp_min(torch.finfo(torch.float64).tiny)
        beyond |= bool((scores.abs() > z).any())
    return "beyond the controls" if beyond else "within the controls"


def _frontier_at(name: str, points, l0: float) -> float:
    """A frontier's value at ``l0``, linear in log L0 between its two nearest points."""
    pts = _values(name, points, ndim=2)
    if pts.shape[0] < 2 or pts.shape[1] != 2:
        raise ValueError(f"{name} must hold at least two (L0, value) pairs, shape (n >= 2, 2), got {tuple(pts.shape)}")
    if bool((pts[:, 0] <= 0).any()):
        raise ValueError(f"{name}: every L0 must be positive, got {pts[:, 0].tolist()}")
    xs, ys = pts[pts[:, 0].argsort()].T.tolist()
    if not xs[0] <= l0 <= xs[-1]:
        raise ValueError(f"l0 = {l0} is outside {name}'s measured range [{xs[0]:g}, {xs[-1]:g}]: a frontier is not "
                         "extrapolated")
    j = max(1, next(i for i, x in enumerate(xs) if x >= l0))  # the first point at or beyond l0
    (x0, y0), (x1, y1) = (xs[j - 1], ys[j - 1]), (xs[j], ys[j])
    if x1 == x0:
        return (y0 + y1) / 2
    return y0 + (math.log(l0) - math.log(x0)) / (math.log(x1) - math.log(x0)) * (y1 - y0)


def frontier_gap_label(reference, other, l0: float, tolerance: float = 0.02) -> str:
    """How one architecture's sparsity-fidelity frontier compares with another's at a given L0 (chapter 8).

    ``reference``, ``other``: the measured ``(L0, value)`` points of each frontier (e.g. CE loss recovered),
    shape ``(n, 2)`` with ``n >= 2``; ``l0`` must lie within both curves' L0 ranges. Each curve is
    interpolated linearly in log L0. Returns ``"more"`` when ``other``'s value exceeds ``reference``'s by
    more than ``tolerance``, ``"less"`` when it falls short by more, else ``"about the same"``.
    """
    at = V.finite_float("l0", l0, low=0.0)
    tol = V.finite_float("tolerance", tolerance, low=0.0)
    gap = _frontier_at("other", other, at) - _frontier_at("reference", reference, at)
    if gap > tol:
        return "more"
    if gap < -tol:
        return "less"
    return "about the same"

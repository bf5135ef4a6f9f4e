"""Every exercise checker against the typical mistakes of shared/reviews/exercises.md (the message a
student sees), correct variants (float64, NumPy, other valid formulas) that must pass, and two
properties of every diagnosis: it is reachable (a mistake below triggers it) and, on the checker's
inputs, it differs from the right answer (so the wrong formula cannot pass by accident)."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from superpos_lib.checks import check, check_or_reference, reference_implementation, registered_exercises
from superpos_lib.checks import _core

from .exercise_cases_ch0_3 import MISTAKES as CH0_3_MISTAKES
from .exercise_cases_ch0_3 import VARIANTS as CH0_3_VARIANTS
from .exercise_cases_ch5_7 import MISTAKES as CH5_7_MISTAKES
from .exercise_cases_ch5_7 import VARIANTS as CH5_7_VARIANTS

# ------------------------------------------------------------------------------------------------
# chapter 0-1
# ------------------------------------------------------------------------------------------------


def _features(b, i, n, p, g, mask=lambda r, p: r < p, mags=None):
    shape = (b, i, n)
    m = torch.rand(shape, generator=g)
    return (m if mags is None else mags(m)) * mask(torch.rand(shape, generator=g), p)


def _mask_per_sample(b, i, n, p, g):
    m = torch.rand(b, i, n, generator=g)
    return m * (torch.rand(b, i, 1, generator=g) < p)  # one uniform draw per sample, compared with every p_j


def _mask_shared_over_batch(b, i, n, p, g):
    return torch.rand(b, i, n, generator=g) * (torch.rand(1, i, n, generator=g) < p)


def _dim(W, *, no_square=False, abs_overlap=False, exclude_self=False, numerator_sqrt=False, rows=False):
    if rows:
        W = W.transpose(1, 2)
    norms = W.norm(dim=1)
    unit = W / norms.clamp_min(1e-12).unsqueeze(1)
    overlaps = unit.transpose(1, 2) @ W
    if abs_overlap:
        denominator = overlaps.abs().sum(-1)
    elif no_square:
        denominator = overlaps.sum(-1)
    else:
        denominator = overlaps.pow(2).sum(-1)
    if exclude_self:
        denominator = denominator - norms**2
    numerator = norms if numerator_sqrt else norms**2
    return torch.where(norms > 0, numerator / denominator, torch.zeros_like(norms))


def _forward(W, b, f, hidden=lambda h: h, out=torch.relu):
    h = hidden(torch.einsum("idn,bin->bid", W, f))
    return out(torch.einsum("idn,bid->bin", W, h) + b)


def _forward_instance0(W, b, f):
    h = torch.einsum("dn,bin->bid", W[0], f)
    return torch.relu(torch.einsum("dn,bid->bin", W[0], h) + b)


MISTAKES = [
    # 0.1 feature norms
    ("feature_norms", lambda W: (W**2).sum(1), "squared norms"),
    ("feature_norms", lambda W: W.norm(dim=-1), "each feature is a column of W"),
    ("feature_norms", lambda W: W.norm(dim=1, keepdim=True), "extra axes of length 1"),
    ("feature_norms", lambda W: W.abs().sum(1), "L1 norm"),
    ("feature_norms", lambda W: W.pow(2).mean(1).sqrt(), "RMS"),
    ("feature_norms", lambda W: W[0].norm(dim=0).expand(W.shape[0], -1), "instance 0's W"),
    ("feature_norms", lambda W: W.sum(1), "summed the entries"),
    # 1.1 sparse features
    ("sparse_features", lambda b, i, n, p, g: _features(b, i, n, p, g, mask=lambda r, p: r < 1 - p),
     "you used the sparsity S = 1 - p"),
    ("sparse_features", lambda b, i, n, p, g: _features(b, i, n, p, g, mask=lambda r, p: r > p), "1 - p instead of p"),
    ("sparse_features", _mask_per_sample, "each feature must be drawn independently"),
    ("sparse_features", _mask_shared_over_batch, "Is the probability broadcast"),
    ("sparse_features", lambda b, i, n, p, g: _features(b, i, n, p, g, mags=lambda m: torch.ones_like(m)),
     "you returned the mask only"),
    ("sparse_features", lambda b, i, n, p, g: torch.rand(b, i, n, generator=g), "not masked"),
    ("sparse_features", lambda b, i, n, p, g: _features(b, i, n, p, None), "pass `generator=generator`"),
    ("sparse_features", lambda b, i, n, p, g: _features(b, i, n, p, g, mags=lambda m: m * 3), "must lie in [0, 1]"),
    ("sparse_features", lambda b, i, n, p, g: (torch.rand(b, i, n, generator=g) < p).long(), "float dtype"),
    ("sparse_features", lambda b, i, n, p, g: _features(b, i, n, p, g).transpose(0, 1), "(batch_size, n_instances"),
    ("sparse_features", lambda b, i, n, p, g: (lambda r: r * (r < p))(torch.rand(b, i, n, generator=g)),
     "reuse the mask's random numbers"),
    # 1.2 toy forward
    ("toy_forward", lambda W, b, f: _forward(W, b, f, out=lambda x: x), "you forgot the ReLU"),
    ("toy_forward", lambda W, b, f: _forward(W, 0 * b, f), "the bias is unused"),
    ("toy_forward", lambda W, b, f: _forward(W, 0 * b, f) + b, "added after the ReLU"),
    ("toy_forward", lambda W, b, f: _forward(W, b, f, hidden=torch.relu), "ReLU to the hidden layer"),
    ("toy_forward", lambda W, b, f: torch.einsum("idn,bin->bid", W, f), "hidden activations"),
    ("toy_forward", _forward_instance0, "instance 0's W for every instance"),
    ("toy_forward", lambda W, b, f: _forward_instance0(W, b[0], f), "instance 0's W and b"),
    ("toy_forward", lambda W, b, f: _forward(W, b, f, out=torch.sigmoid), "sigmoid"),
    # 1.3 toy loss
    ("toy_loss", lambda f, r, I: ((f - r) ** 2).mean((0, 2)), "importance is missing"),
    ("toy_loss", lambda f, r, I: (I * (f - r) ** 2).sum((0, 2)), "you summed over batch and features"),
    ("toy_loss", lambda f, r, I: (I * (f - r) ** 2).mean(), "one loss per instance"),
    ("toy_loss", lambda f, r, I: (I * (f - r) ** 2).mean((0, 1)), "the wrong axes"),
    ("toy_loss", lambda f, r, I: (I * (f - r) ** 2).mean(2), "kept the batch axis"),
    ("toy_loss", lambda f, r, I: (I * (f - r) ** 2).mean(0), "kept the feature axis"),
    ("toy_loss", lambda f, r, I: (I * (f - r).abs()).mean((0, 2)), "not squared"),
    ("toy_loss", lambda f, r, I: ((I * (f - r)) ** 2).mean((0, 2)), "multiplies the error before squaring"),
    ("toy_loss", lambda f, r, I: (I * (f - r) ** 2).sum(2).mean(0), "you summed over the features"),
    ("toy_loss", lambda f, r, I: (I * (f - r) ** 2).mean(2).sum(0), "summed over the batch"),
    ("toy_loss", lambda f, r, I: (I * (f - r) ** 2).mean((0, 2)).sqrt(), "square root"),
    ("toy_loss", lambda f, r, I: (I * (f - r) ** 2).mean(0).sum(-1) / I.sum(-1), "total importance"),
    ("toy_loss", lambda f, r, I: (I * (f - r) ** 2).mean((0, 2), keepdim=True), "extra axes of length 1"),
    # 1.4 feature dimensionality
    ("feature_dimensionality", lambda W: _dim(W, exclude_self=True), "left out the i = j term"),
    ("feature_dimensionality", lambda W: W.pow(2).sum(1) / (W.transpose(1, 2) @ W).pow(2).sum(-1), "NaN"),
    ("feature_dimensionality",
     lambda W: torch.nan_to_num(W.pow(2).sum(1) / (W.transpose(1, 2) @ W).pow(2).sum(-1)), "forgot to normalise"),
    ("feature_dimensionality", lambda W: _dim(W, rows=True), "rows of W as features"),
    ("feature_dimensionality", lambda W: _dim(W, no_square=True), "overlaps are not squared"),
    ("feature_dimensionality", lambda W: _dim(W, abs_overlap=True), "square the overlaps"),
    ("feature_dimensionality", lambda W: _dim(W, numerator_sqrt=True), "numerator is the squared norm"),
]


# ------------------------------------------------------------------------------------------------
# chapters 2-3
# ------------------------------------------------------------------------------------------------


def _relu_hidden(W, b, x, hidden=torch.relu, out=torch.relu, bias_on_input=False):
    h = hidden(torch.einsum("kdn,bkn->bkd", W, x + b if bias_on_input else x))
    return out(torch.einsum("kdn,bkd->bkn", W, h) + (0 if bias_on_input else b))


def _contrib(W, f):
    return W.unsqueeze(0) * f.unsqueeze(1)


def _gini(a, *, descending=False, use_abs=True, sort=True, divide_d=True, k0=False, d_minus_1=False, axis=-1):
    c = a.abs() if use_abs else a
    if sort:
        c = c.sort(dim=axis, descending=descending).values
    d = a.shape[-1]
    k = torch.arange(1, d + 1, dtype=a.dtype) - (1 if k0 else 0)
    num = ((2 * k - d - 1) * c).sum(-1)
    den = c.sum(-1) * ((d - 1) if d_minus_1 else d if divide_d else 1)
    return num / den


def _gini_axis1(a):
    c = a.abs().sort(dim=1).values
    d = a.shape[1]
    k = torch.arange(1, d + 1, dtype=a.dtype)
    return ((2 * k - d - 1) * c).sum(1) / (d * c.sum(1))


def _effdim(a, *, use_abs=True, guard=True, exp=torch.exp, log=torch.log, entropy_only=False, axis=-1):
    c = a.abs() if use_abs else a
    q = c / c.sum(axis, keepdim=True)
    plogp = torch.where(q > 0, q * log(q), torch.zeros_like(q)) if guard else q * log(q)
    H = -plogp.sum(axis)
    return H if entropy_only else exp(H)


def _pairs(b, n, p, g, *, shared_draw=False, independent=False, same_mags=False, repeat=False):
    if shared_draw:
        on = (torch.rand(b, 1, 1, generator=g) < p).expand(b, n, 1)
    elif independent:
        on = torch.rand(b, n, 2, generator=g) < p
    else:
        on = torch.rand(b, n, 1, generator=g) < p
    values = torch.rand(b, n, 1 if same_mags else 2, generator=g).expand(b, n, 2)
    if repeat:
        mask = on[..., 0].repeat(1, 2)
        return torch.rand(b, 2 * n, generator=g) * mask
    return (values * on).reshape(b, 2 * n)


MISTAKES += [
    # 2.1 ReLU-hidden forward
    ("relu_hidden_forward", lambda W, b, x: _relu_hidden(W, b, x, hidden=lambda h: h), "left out the hidden ReLU"),
    ("relu_hidden_forward", lambda W, b, x: _relu_hidden(W, b, x, out=lambda h: h), "left out the output ReLU"),
    ("relu_hidden_forward", lambda W, b, x: _relu_hidden(W, 0 * b, x), "left out the bias"),
    ("relu_hidden_forward", lambda W, b, x: torch.relu(torch.einsum("kdn,bkn->bkd", W, x)), "hidden activations h"),
    ("relu_hidden_forward", lambda W, b, x: _relu_hidden(W, b, x, hidden=lambda h: h, out=lambda h: h), "both ReLUs"),
    ("relu_hidden_forward", lambda W, b, x: _relu_hidden(W, b, x, bias_on_input=True), "added the bias b to the input"),
    # 2.2 neuron polysemanticity
    ("neuron_polysemanticity", lambda W, f, t: (_contrib(W, f) >= t).float().sum(-1).mean(0), "not >="),
    ("neuron_polysemanticity", lambda W, f, t: (_contrib(W, f) > t).float().sum((0, 2)), "summed over the batch"),
    ("neuron_polysemanticity", lambda W, f, t: (_contrib(W, f).abs() > t).float().sum(-1).mean(0), "|W_ij f_j|"),
    ("neuron_polysemanticity", lambda W, f, t: (W > t).float().sum(-1), "without multiplying"),
    ("neuron_polysemanticity", lambda W, f, t: (_contrib(W, f) > t).float().sum(1).mean(0), "instead of features"),
    ("neuron_polysemanticity", lambda W, f, t: (_contrib(W, f) > t).float().mean(-1).mean(0), "averaged over the features"),
    ("neuron_polysemanticity", lambda W, f, t: (_contrib(W, f) > t).sum((0, 2)) // f.shape[0], "floating-point numbers"),
    # 3.1 Gini
    ("gini", lambda a: _gini(a, descending=True), "sorted descending"),
    ("gini", lambda a: _gini(a, use_abs=False), "instead of |a|"),
    ("gini", lambda a: _gini(a, sort=False), "forgot to sort"),
    ("gini", lambda a: _gini(a, divide_d=False), "forgot to divide by d"),
    ("gini", lambda a: _gini(a, k0=True), "ranks start at 0"),
    ("gini", lambda a: _gini(a, d_minus_1=True), "divided by d - 1"),
    ("gini", lambda a: _gini(a, axis=0), "sorted along the wrong axis"),
    ("gini", _gini_axis1, "works on a 2-d input only"),
    ("gini", lambda a: _gini(a).reshape(-1), "keep the leading axes"),
    ("gini", lambda a: _gini(a.reshape(-1, a.shape[-1])).reshape(a.shape[:-1]) if a.ndim > 1 else _gini(a[None]),
     "Return a single number"),
    # 3.2 effective dimension
    ("effective_dimension", lambda a: _effdim(a, use_abs=False, guard=False), "you forgot the absolute value"),
    ("effective_dimension", lambda a: _effdim(a, use_abs=False), "you forgot the absolute value"),
    ("effective_dimension", lambda a: _effdim(a, guard=False), "0 * log 0 counts as 0"),
    ("effective_dimension", lambda a: _effdim(a, entropy_only=True), "returned the entropy H"),
    ("effective_dimension", lambda a: _effdim(a, log=torch.log2), "exp goes with the natural log"),
    ("effective_dimension", lambda a: _effdim(a, exp=lambda H: 2**H), "2**H goes with log2"),
    ("effective_dimension", lambda a: _effdim(a, axis=1), "works on a 2-d input only"),
    # 3.3 correlated pairs
    ("correlated_features", lambda b, n, p, g: _pairs(b, n, p, g, shared_draw=True), "different pairs must be independent"),
    ("correlated_features", lambda b, n, p, g: _pairs(b, n, p, g, independent=True), "one feature of a pair is on"),
    ("correlated_features", lambda b, n, p, g: _pairs(b, n, p, g, repeat=True), "one feature of a pair is on"),
    ("correlated_features", lambda b, n, p, g: _pairs(b, n, p, g, same_mags=True), "always have the same value"),
    ("correlated_features", lambda b, n, p, g: _pairs(b, n, math.sqrt(p), g), "present with probability 0.2"),
    ("correlated_features", lambda b, n, p, g: _pairs(b, n, p, None), "pass generator="),
    ("correlated_features", lambda b, n, p, g: _pairs(b, n, p, g).reshape(b, n, 2), "(batch_size, 2 * n_pairs)"),
    ("correlated_features", lambda b, n, p, g: 2 * _pairs(b, n, p, g), "floats in [0, 1]"),
    ("correlated_features", lambda b, n, p, g: (lambda x: x * (0.5 + 0.5 * (x > 0)) ** 0.1)(_pairs(b, n, p, g)) ** 3,
     "uniform on [0, 1)"),
]


# ------------------------------------------------------------------------------------------------
# chapters 4-5
# ------------------------------------------------------------------------------------------------


def _soft(v, t):
    return torch.sign(v) * (v.abs() - t).clamp_min(0)


def _grad(A, y, x):
    return (x @ A.T - y) @ A


def _rip(A, S, *, normalise=True, gram="inner", which="both", reduce="max", singular=False):
    An = A / A.norm(dim=0, keepdim=True) if normalise else A
    cols = An.T[S]
    if singular:
        values = torch.linalg.svdvals(cols).flip(-1)
    else:
        M = cols @ cols.transpose(1, 2) if gram == "inner" else cols.transpose(1, 2) @ cols
        values = torch.linalg.eigvalsh(M)
    low, high = 1 - values[:, 0], values[:, -1] - 1
    per = {"both": torch.maximum(low, high), "upper": high, "lower": low}[which]
    return per.max() if reduce == "max" else per.mean() if reduce == "mean" else per


def _coh(A, *, normalise=True, use_abs=True, diag=False, rows=False):
    if rows:
        A = A.T
    An = A / A.norm(dim=0, keepdim=True) if normalise else A
    G = An.T @ An
    G = G.abs() if use_abs else G
    if not diag:
        G = G - torch.diag(torch.diagonal(G)) + torch.diag(torch.full((G.shape[0],), -2.0 if not use_abs else 0.0,
                                                                     dtype=G.dtype))
    return G.max()


def _lp_rows(A, y, *, c=1.0, split=False, ub=False, bounds=(0, None), first=False, result=False):
    """Non-negative basis pursuit by linprog, with one of the typical slips switched on."""
    from scipy.optimize import linprog

    A, rows = np.asarray(A), []
    for y_i in np.asarray(y):
        n = A.shape[1]
        if split:  # x = u - v: signed basis pursuit
            r = linprog(np.ones(2 * n), A_eq=np.hstack([A, -A]), b_eq=y_i, bounds=(0, None))
            rows.append(r.x[:n] - r.x[n:])
            continue
        kw = dict(A_ub=A, b_ub=y_i) if ub else dict(A_eq=A, b_eq=y_i)
        r = linprog(c * np.ones(n), bounds=bounds, **kw)
        if result:
            return r
        rows.append(r.x if r.x is not None else np.full(n, np.nan))
        if first:
            return torch.tensor(rows[0])
    return torch.tensor(np.stack(rows))


MISTAKES += [
    # 4.x non-negative basis pursuit
    ("nonneg_basis_pursuit", lambda A, y: _lp_rows(A, y, split=True), "that is signed basis pursuit"),
    ("nonneg_basis_pursuit", lambda A, y: _lp_rows(A, y, ub=True), "does not satisfy A x = y"),
    ("nonneg_basis_pursuit", lambda A, y: torch.zeros(y.shape[0], A.shape[1]), "you returned x = 0"),
    ("nonneg_basis_pursuit", lambda A, y: _lp_rows(A, y, c=-1.0), "not the smallest possible"),
    ("nonneg_basis_pursuit", lambda A, y: _lp_rows(A, y, bounds=(None, None)), "NaN or infinite"),
    ("nonneg_basis_pursuit", lambda A, y: np.stack([_lp_rows(A, y[i:i + 1], result=True, bounds=(None, None)).x
                                                    for i in range(len(y))]), "no solution for some row"),
    ("nonneg_basis_pursuit", lambda A, y: _lp_rows(A, y, first=True), "You solved only one problem"),
    ("nonneg_basis_pursuit", lambda A, y: _lp_rows(A, y).T, "looks transposed"),
    ("nonneg_basis_pursuit", lambda A, y: _lp_rows(A, y, result=True), "result object"),
    ("nonneg_basis_pursuit", lambda A, y: y @ torch.linalg.pinv(A).T, "least-squares"),
    ("nonneg_basis_pursuit", lambda A, y: _lp_rows(A, y, bounds=(0, 1)), "NaN or infinite"),
    ("nonneg_basis_pursuit", lambda A, y: [_lp_rows(A, y[i:i + 1], result=True) for i in range(len(y))], "result object"),
]


MISTAKES += [
    # 8.3 CE loss recovered
    ("ce_loss_recovered", lambda c, s, a: (s - c) / (a - c), "fraction of the loss lost"),
    ("ce_loss_recovered", lambda c, s, a: (a - s) / a, "not ablated alone"),
    ("ce_loss_recovered", lambda c, s, a: (a - c) / (a - s), "inverted the ratio"),
    ("ce_loss_recovered", lambda c, s, a: c / s, "ratio of losses"),
    ("ce_loss_recovered", lambda c, s, a: s / c, "ratio of losses"),
    ("ce_loss_recovered", lambda c, s, a: 100 * (a - s) / (a - c), "not a percentage"),
    ("ce_loss_recovered", lambda c, s, a: min(max((a - s) / (a - c), 0.0), 1.0), "clipped"),
    ("ce_loss_recovered", lambda c, s, a: abs((a - s) / (a - c)), "absolute value"),
    ("ce_loss_recovered", lambda c, s, a: (a - s, a - c), "return one number"),
    ("ce_loss_recovered", lambda c, s, a: str((a - s) / (a - c)), "not a str"),
    ("ce_loss_recovered", lambda c, s, a: (s - a) / (a - c), "sign is flipped"),
    ("ce_loss_recovered", lambda c, s, a: (a - s) / (a - c + 1), "expected"),
]


MISTAKES += [
    # 4.4 soft threshold
    ("soft_threshold", lambda v, t: v * (v.abs() > t), "hard thresholding"),
    ("soft_threshold", lambda v, t: (v.abs() - t).clamp_min(0), "you forgot the sign"),
    ("soft_threshold", lambda v, t: (v - t).clamp_min(0), "zeroes every negative entry"),
    ("soft_threshold", lambda v, t: v.clamp(-t, t), "you clipped v"),
    ("soft_threshold", lambda v, t: v - t * torch.sign(v), "small ones too"),
    # 4.5 ISTA step
    ("ista_step", lambda A, y, x, lam, step: _soft(x - step * _grad(A, y, x), lam), "instead of step * lam"),
    ("ista_step", lambda A, y, x, lam, step: _soft(x + step * _grad(A, y, x), step * lam), "+gradient"),
    ("ista_step", lambda A, y, x, lam, step: x - step * _grad(A, y, x), "forgot the soft threshold"),
    ("ista_step", lambda A, y, x, lam, step: _soft(x - _grad(A, y, x), step * lam), "forgot the step size"),
    ("ista_step", lambda A, y, x, lam, step: _soft(x, step * lam) - step * _grad(A, y, x), "before the gradient"),
    ("ista_step", lambda A, y, x, lam, step: (lambda u: u - step * _grad(A, y, u))(_soft(x, step * lam)),
     "before the gradient"),
    ("ista_step", lambda A, y, x, lam, step: _soft(x - step * _grad(A, y, x) / A.shape[0], step * lam), "divided the gradient by m"),
    ("ista_step", lambda A, y, x, lam, step: x - step * (_grad(A, y, x) + lam * torch.sign(x)), "subgradient"),
    # 4.2 OMP selection
    ("omp_select", lambda A, r, t: (r @ A).masked_fill(t, -1e9).argmax(1), "signed correlations"),
    ("omp_select", lambda A, r, t: (r @ A).abs().argmax(1), "already taken"),
    ("omp_select", lambda A, r, t: (r @ A).abs().masked_fill(~t, -1).argmax(1), "already taken"),
    ("omp_select", lambda A, r, t: (r @ A).abs().masked_fill(t, -1).argmax(1).float(), "integer indices"),
    ("omp_select", lambda A, r, t: (r @ A).abs().masked_fill(t, -1).argmax(0), "one index per problem"),
    ("omp_select", lambda A, r, t: (r @ A).abs().masked_fill(t, 1e9).argmin(1), "differ from the expected"),
    # 4.1 recovery success
    ("recovery_success", lambda xh, x, tol: (xh - x).norm(dim=1) < tol, "absolute error"),
    ("recovery_success", lambda xh, x, tol: (xh - x).norm(dim=1) / x.norm(dim=1) < 1e-4, "ignores tol"),
    ("recovery_success", lambda xh, x, tol: (xh - x).norm(dim=1) / xh.norm(dim=1) < tol, "not by ||x_hat||"),
    ("recovery_success", lambda xh, x, tol: (xh - x).abs().sum(1) / x.abs().sum(1) < tol, "not the L1 norm"),
    ("recovery_success", lambda xh, x, tol: (xh - x).abs().amax(1) / x.abs().amax(1) < tol, "max norm"),
    ("recovery_success", lambda xh, x, tol: ((xh - x).norm(dim=1) / x.norm(dim=1)) ** 2 < tol, "squared relative"),
    ("recovery_success", lambda xh, x, tol: torch.isclose(xh, x, rtol=tol, atol=0).all(1), "entry by entry"),
    ("recovery_success", lambda xh, x, tol: (xh - x).norm(dim=1) / x.norm(dim=1) > tol, "True for failures"),
    ("recovery_success", lambda xh, x, tol: ((xh - x).norm(dim=1) / x.norm(dim=1) < tol).float(), "bool tensor"),
    ("recovery_success", lambda xh, x, tol: (xh - x).norm(dim=0) / x.norm(dim=0) < tol, "has shape"),
    ("recovery_success", lambda xh, x, tol: (xh - x).norm(dim=1) / x.norm() < tol, "with tol = "),
    # 5.1 coherence
    ("coherence", lambda A: _coh(A, use_abs=False), "forgot the absolute value"),
    ("coherence", lambda A: _coh(A, normalise=False), "forgot to normalise the columns"),
    ("coherence", lambda A: _coh(A, diag=True), "included the diagonal"),
    ("coherence", lambda A: _coh(A, rows=True), "you compared rows"),
    ("coherence", lambda A: _coh(A).reshape(1), "Return a single number"),
    # 5.2 Welch bound
    ("welch_bound", lambda m, n: (n - m) / (m * (n - 1)), "square root"),
    ("welch_bound", lambda m, n: math.sqrt((n - m) / (n * (m - 1))) if m > 1 else 0.0, "swapped m and n"),
    ("welch_bound", lambda m, n: math.sqrt((n - m) / (m * (n + 1))), "expected 0.5"),
    ("welch_bound", lambda m, n: str(math.sqrt((n - m) / (m * (n - 1)))), "not a string"),
    ("welch_bound", lambda m, n: [1, 2], "return a number"),
    # 5.3 sampled RIP
    ("sampled_rip", lambda A, S: _rip(A, S, normalise=False), "normalise the columns"),
    ("sampled_rip", lambda A, S: _rip(A, S, gram="outer"), "not the m x m matrix"),
    ("sampled_rip", lambda A, S: _rip(A, S, which="upper"), "only used the largest eigenvalue"),
    ("sampled_rip", lambda A, S: _rip(A, S, which="lower"), "only used the smallest eigenvalue"),
    ("sampled_rip", lambda A, S: _rip(A, S, singular=True), "singular values"),
    ("sampled_rip", lambda A, S: _rip(A, S, reduce="mean"), "averaged over the supports"),
    ("sampled_rip", lambda A, S: _rip(A, S, reduce="none"), "has shape (40,)"),
]


# ------------------------------------------------------------------------------------------------
# chapters 6-7
# ------------------------------------------------------------------------------------------------


def _sae(x, We, be, Wd, bd, *, sub=True, relu=True, benc=True, bdec=True, out_relu=False, order="xz",
         benc_after=False, add_bdec=False, tied=False):
    pre = ((x - bd) if sub else (x + bd) if add_bdec else x) @ We + (be if benc and not benc_after else 0)
    z = torch.relu(pre) if relu else pre
    if benc_after:
        z = z + be
    x_hat = z @ (We.T if tied else Wd) + (bd if bdec else 0)
    if out_relu:
        x_hat = torch.relu(x_hat)
    return (x_hat, z) if order == "xz" else (z, x_hat) if order == "zx" else x_hat


def _mse(x, xh):
    return (x - xh).pow(2).sum(-1).mean()


def _mmcs(learned, true, *, use_abs=False, axis=1, norm="both", reduce="mean", all_mean=False):
    a = true / true.norm(dim=1, keepdim=True) if norm in ("both", "true") else true
    b = learned / learned.norm(dim=1, keepdim=True) if norm in ("both", "learned") else learned
    if norm == "columns":
        a, b = true / true.norm(dim=0), learned / learned.norm(dim=0)
    cos = a @ b.T
    cos = cos.abs() if use_abs else cos
    if all_mean:
        return cos.mean()
    best = cos.amax(axis)
    return best.mean() if reduce == "mean" else best.median()


def _resample(W, dead, xc, bd, *, sub=True, normalise=True, all_rows=False, sign=1, axis=1, invert=False,
              add=False):
    new = sign * ((xc + bd) if add else (xc - bd) if sub else xc)
    if normalise:
        new = new / new.norm(dim=axis, keepdim=True)
    if all_rows:
        return new
    return torch.where((~dead if invert else dead)[:, None], new, W)


def _hook(model, module, inputs, *, on=None, remove=True, finally_=True, first=True, no_grad=True, swallow=False,
          pre=False, keep_list=False):
    saved = []
    target = on(model) if on else module

    def hook(m, args, output=None):
        value = args[0] if pre else output
        saved.append((value[0] if isinstance(value, tuple) else value) if first else value)

    handle = target.register_forward_pre_hook(hook) if pre else target.register_forward_hook(hook)
    ctx = torch.no_grad() if no_grad else torch.enable_grad()
    if finally_:
        try:
            with ctx:
                model(**inputs)
        except Exception:
            if not swallow:
                raise
        finally:
            if remove:
                handle.remove()
    else:
        with ctx:
            model(**inputs)
        if remove:
            handle.remove()
    return saved if keep_list else saved[0] if saved else None


def _top(acts, k, *, dim=0, largest=True, transpose=True, key=None, order="vi", sorted_=True, skip=0):
    source = acts if key is None else key(acts)
    values, indices = source.topk(k + skip, dim=dim, largest=largest, sorted=sorted_)
    values, indices = values[skip:] if dim == 0 else values, indices[skip:] if dim == 0 else indices
    if key is not None:
        values = acts.gather(dim, indices)
    if transpose:
        values, indices = values.T, indices.T
    return (values, indices) if order == "vi" else (indices, values) if order == "iv" else values


MISTAKES += [
    # 6.1 SAE forward
    ("sae_forward", lambda *p: _sae(*p, order="zx"), "order (x_hat, z)"),
    ("sae_forward", lambda *p: _sae(*p, sub=False), "subtract b_dec from x before encoding"),
    ("sae_forward", lambda *p: _sae(*p, relu=False), "forget the ReLU on the latents"),
    ("sae_forward", lambda *p: _sae(*p, benc=False), "b_enc is missing"),
    ("sae_forward", lambda *p: _sae(*p, benc_after=True), "before the ReLU, not after"),
    ("sae_forward", lambda *p: _sae(*p, sub=False, add_bdec=True), "added b_dec to x"),
    ("sae_forward", lambda *p: _sae(*p, bdec=False), "add the decoder bias"),
    ("sae_forward", lambda *p: _sae(*p, out_relu=True), "not on the reconstruction"),
    ("sae_forward", lambda *p: _sae(*p, tied=True), "tied weights"),
    ("sae_forward", lambda *p: _sae(*p, order="x"), "return a pair"),
    # 6.2 SAE loss
    ("sae_loss", lambda x, xh, z, Wd, l1: _mse(x, xh) + l1 * x.abs().sum(-1).mean(), "not on the input x"),
    ("sae_loss", lambda x, xh, z, Wd, l1: _mse(x, xh) + l1 * z.sum(-1).mean(), "norm of its decoder row"),
    ("sae_loss", lambda x, xh, z, Wd, l1: F.mse_loss(xh, x) + l1 * (z * Wd.norm(dim=1)).sum(-1).mean(), "not a plain mean"),
    ("sae_loss", lambda x, xh, z, Wd, l1: _mse(x, xh) + l1 * (z * Wd.norm(dim=1) ** 2).sum(-1).mean(), "not by its square"),
    ("sae_loss", lambda x, xh, z, Wd, l1: (x - xh).pow(2).sum() + l1 * (z * Wd.norm(dim=1)).sum(), "summed over the batch"),
    ("sae_loss", lambda x, xh, z, Wd, l1: _mse(x, xh) + l1 * (z * Wd.norm(dim=1)).mean(), "averaged the penalty"),
    ("sae_loss", lambda x, xh, z, Wd, l1: (x - xh).norm(dim=-1).mean() + l1 * (z * Wd.norm(dim=1)).sum(-1).mean(),
     "not the norm"),
    ("sae_loss", lambda x, xh, z, Wd, l1: l1 * _mse(x, xh) + (z * Wd.norm(dim=1)).sum(-1).mean(), "penalty only"),
    ("sae_loss", lambda x, xh, z, Wd, l1: _mse(x, xh) + l1 * (z**2 * Wd.norm(dim=1)).sum(-1).mean(), "squared L2"),
    ("sae_loss", lambda x, xh, z, Wd, l1: (x - xh).pow(2).sum(-1) + l1 * (z * Wd.norm(dim=1)).sum(-1), "has shape (7,)"),
    # 6.5 MMCS
    ("mmcs", lambda L, T: _mmcs(L, T, use_abs=True), "the sign matters"),
    ("mmcs", lambda L, T: _mmcs(L, T, axis=0), "TRUE feature"),
    ("mmcs", lambda L, T: _mmcs(L, T, norm="none"), "normalise the rows"),
    ("mmcs", lambda L, T: _mmcs(L, T, all_mean=True), "mean of all cosines"),
    ("mmcs", lambda L, T: _mmcs(L, T, norm="true"), "normalise both sets"),
    ("mmcs", lambda L, T: _mmcs(L, T, norm="learned"), "normalise both sets"),
    ("mmcs", lambda L, T: _mmcs(L, T, norm="columns"), "not the columns"),
    ("mmcs", lambda L, T: _mmcs(L, T, reduce="median"), "median"),
    # 6b.1 resampling
    ("resample_decoder_rows", lambda *p: _resample(*p, sub=False), "subtract b_dec from the chosen inputs"),
    ("resample_decoder_rows", lambda *p: _resample(*p, normalise=False), "unit length"),
    ("resample_decoder_rows", lambda *p: _resample(*p, all_rows=True), "keep the live ones"),
    ("resample_decoder_rows", lambda *p: _resample(*p, add=True), "you added b_dec"),
    ("resample_decoder_rows", lambda *p: _resample(*p, sign=-1), "point the wrong way"),
    ("resample_decoder_rows", lambda *p: _resample(*p, axis=0), "(dim=1), not over the latents"),
    ("resample_decoder_rows", lambda *p: _resample(*p, invert=True), "mask is inverted"),
    # 7.1 record_output
    ("record_output", lambda m, mod, i: _hook(m, mod, i, on=lambda model: model), "register the hook on `module`"),
    ("record_output", lambda m, mod, i: i["input_ids"], "the model's input"),
    ("record_output", lambda m, mod, i: _hook(m, mod, i, remove=False), "handle.remove()"),
    ("record_output", lambda m, mod, i: _hook(m, mod, i, finally_=False), "try: ... finally"),
    ("record_output", lambda m, mod, i: _hook(m, mod, i, first=False), "keep its first element"),
    ("record_output", lambda m, mod, i: _hook(m, mod, i, no_grad=False), "torch.no_grad()"),
    ("record_output", lambda m, mod, i: _hook(m, mod, i, swallow=True), "let it through"),
    ("record_output", lambda m, mod, i: _hook(m, mod, i, pre=True), "recorded the module's input"),
    ("record_output", lambda m, mod, i: _hook(m, mod, i, keep_list=True), "tuple or list"),
    ("record_output", lambda m, mod, i: None, "returned None"),
    ("record_output", lambda m, mod, i: _hook(m, mod, i, first=False)[1] if isinstance(
        _hook(m, mod, i, first=False), tuple) else _hook(m, mod, i), "second element"),
    ("record_output", lambda m, mod, i: m(i), "line"),  # model(inputs): the student's own line is shown
    # 7.2 top_activating
    ("top_activating", lambda a, k: _top(a, k, dim=1, transpose=False), "over units for each token"),
    ("top_activating", lambda a, k: _top(a, k, transpose=False), "It looks transposed"),
    ("top_activating", lambda a, k: _top(a, k, largest=False), "k smallest"),
    ("top_activating", lambda a, k: tuple(t.flip(-1) for t in _top(a, k)), "wrong order"),
    ("top_activating", lambda a, k: _top(a, k, sorted_=False), "wrong order"),
    ("top_activating", lambda a, k: _top(a, k, key=torch.abs), "|activation|"),
    ("top_activating", lambda a, k: _top(a, k, order="iv"), "order (values, indices)"),
    ("top_activating", lambda a, k: _top(a, k, order="v"), "return a pair"),
    ("top_activating", lambda a, k: _top(a, k, skip=1), "skipped the largest"),
    ("top_activating", lambda a, k: (_top(a, k)[0], torch.arange(k).expand(a.shape[1], k)), "sorted copy"),
    ("top_activating", lambda a, k: (_top(a, k)[0], _top(a, k)[1].double()), "integer tensor"),
]


# ------------------------------------------------------------------------------------------------
# chapter 8 (a causal language model)
# ------------------------------------------------------------------------------------------------


def _ce(logits, ids, mask, *, shift=True, use_mask=True, per_text=False, sign=1, pad_ok=False):
    lg, t = (logits[:, :-1], ids[:, 1:]) if shift else (logits, ids)
    if shift:
        ok = mask[:, 1:].bool() if pad_ok else (mask[:, 1:] * mask[:, :-1]).bool()
    else:
        ok = mask.bool()
    losses = F.cross_entropy(lg.reshape(-1, lg.shape[-1]), t.reshape(-1), reduction="none").reshape(t.shape)
    if not use_mask:
        return sign * losses.mean()
    if per_text:
        return sign * torch.stack([losses[i][ok[i]].mean() for i in range(len(losses))]).mean()
    return sign * (losses * ok).sum() / ok.sum()


def _splice(replace, keep_first=True, *, returns=True, keep_always=False, keep_never=False, bare=False):
    def hook(module, args, output):
        h = output[0] if isinstance(output, tuple) else output
        new = replace(h)
        if (keep_first or keep_always) and not keep_never:
            new = torch.cat([h[:, :1], new[:, 1:]], dim=1)
        if not returns:
            return None
        return (new, *output[1:]) if isinstance(output, tuple) and not bare else new
    return hook


def _effects(direction, W_U, gain, k, *, use_gain=True, values=False, by_abs=False, flip_bottom=False,
             bottom_abs=False):
    effects = W_U @ (direction * gain if use_gain else direction)
    top = effects.abs().topk(k) if by_abs else effects.topk(k)
    bottom = (-effects.abs()).topk(k) if bottom_abs else (-effects).topk(k)
    top_ids = top.values if values else top.indices
    bottom_ids = bottom.indices.flip(0) if flip_bottom else bottom.indices
    return top_ids, bottom_ids


MISTAKES += [
    ("next_token_loss", lambda lg, ids, m: _ce(lg, ids, m, shift=False), "the token at the same position"),
    ("next_token_loss", lambda lg, ids, m: _ce(lg, ids, m, shift=False, use_mask=False), "forgot the shift and the mask"),
    ("next_token_loss", lambda lg, ids, m: _ce(lg, ids, m, use_mask=False), "predictions of padding tokens"),
    ("next_token_loss", lambda lg, ids, m: _ce(lg, ids, m, per_text=True), "averaged each text's loss"),
    ("next_token_loss", lambda lg, ids, m: _ce(lg, ids, m, sign=-1), "your loss is negative"),
    ("splice_hook", lambda replace, keep_first=True: _splice(replace, keep_first, returns=False), "did not change"),
    ("splice_hook", lambda replace, keep_first=True: _splice(replace, keep_first, keep_never=True), "first token too"),
    ("splice_hook", lambda replace, keep_first=True: _splice(replace, keep_first, keep_always=True), "even with keep_first=False"),
    ("splice_hook", lambda replace, keep_first=True: _splice(replace, keep_first, bare=True), "returned a bare tensor"),
    ("splice_hook", lambda replace, keep_first=True: None, "return the hook function itself"),
    ("logit_effects", lambda d, W, g, k: _effects(d, W, g, k, use_gain=False), "left out the final norm's gain"),
    ("logit_effects", lambda d, W, g, k: _effects(d, W, g, k, values=True), "return the token ids"),
    ("logit_effects", lambda d, W, g, k: _effects(d, W, g, k, by_abs=True), "ranked by |effect|"),
    ("logit_effects", lambda d, W, g, k: _effects(d, W, g, k, flip_bottom=True), "the most negative effect first"),
    ("logit_effects", lambda d, W, g, k: (_effects(d, W, g, k)[0], _effects(d, W, g, k, use_gain=False)[1]),
     "left out the final norm's gain."),
    ("logit_effects", lambda d, W, g, k: _effects(d, W, g, k, bottom_abs=True), "smallest |effect|"),
    ("logit_effects", lambda d, W, g, k: _effects(d, W, g, k)[0], "return a pair (top, bottom)"),
    ("random_control", lambda d, g: torch.randn(d.shape, generator=g) / torch.randn(d.shape, generator=g).norm()
     * 0 + (lambda r: r / r.norm())(torch.randn(d.shape, generator=g)), "has norm 1"),
    ("random_control", lambda d, g: torch.randn(d.shape, generator=g), "normalise the random vector"),
    ("random_control", lambda d, g: d + 0.01 * torch.randn(d.shape, generator=g) * 0, "points (almost) along"),
    ("random_control", lambda d, g: (lambda r: r / r.norm() * d.norm())(torch.randn(d.shape)), "seeded the same way"),
    ("random_control", lambda d, g: (lambda r: r / r.norm() * d.norm())(torch.rand(d.shape, generator=g)),
     "share a common part"),
    ("random_control", lambda d, g: d.flip(0) * torch.ones(()), "different seeds gave the same direction"),
    ("random_control", lambda d, g: torch.full(d.shape, float("nan")), "NaN or infinite"),
    ("random_control", lambda d, g: torch.randn(3, generator=g), "same shape as direction"),
]
MISTAKES += CH0_3_MISTAKES  # chapters 0, 1b, 2, 3: tests/exercise_cases_ch0_3.py
MISTAKES += CH5_7_MISTAKES  # chapters 5, 6, 6b, 7: tests/exercise_cases_ch5_7.py


@pytest.mark.parametrize("exercise, answer, message", MISTAKES,
                         ids=[f"{e}-{i}" for i, (e, _, _) in enumerate(MISTAKES)])
def test_typical_mistake_gets_its_message(exercise, answer, message):
    result = check(exercise, answer)
    assert not result.passed, f"a wrong {exercise} passed"
    assert message in result.message, result.message
    assert "Traceback" not in result.message


def test_model_called_wrongly_shows_the_students_line():
    result = check("record_output", lambda model, module, inputs: model(inputs))
    assert "`return model(inputs)`" in result.message or "model(inputs)" in result.message, result.message
    assert "F.linear" not in result.message


# ------------------------------------------------------------------------------------------------
# correct variants pass
# ------------------------------------------------------------------------------------------------


def _np(fn):
    """The same function computed in NumPy float64 (inputs converted, a NumPy array returned)."""
    return lambda *args: fn(*[(a.numpy().astype(np.float64) if a.is_floating_point() else a.numpy())
                              if isinstance(a, torch.Tensor) else a for a in args])


def _f64(fn):
    return lambda *args: fn(*[a.double() if isinstance(a, torch.Tensor) and a.is_floating_point() else a
                              for a in args])


VARIANTS = [
    ("feature_norms", lambda W: W.norm(dim=-2).double()),
    ("feature_norms", lambda W: torch.linalg.vector_norm(W, dim=1, dtype=torch.float64)),
    ("feature_norms", _np(lambda W: np.sqrt((W**2).sum(1)))),
    ("feature_norms", lambda W: W.norm(dim=1).tolist()),
    ("feature_norms", lambda W: torch.einsum("idn,idn->in", W, W).sqrt()),
    ("sparse_features", lambda b, i, n, p, g: torch.where(torch.rand(b, i, n, generator=g) <= p,
                                                          torch.rand(b, i, n, generator=g), 0.0)),
    ("sparse_features", lambda b, i, n, p, g: torch.bernoulli(p.expand(b, i, n), generator=g)
     * torch.rand(b, i, n, generator=g, dtype=torch.float64).float()),
    ("toy_forward", _f64(lambda W, b, f: torch.relu(torch.einsum("inm,bim->bin", W.transpose(1, 2) @ W, f) + b))),
    ("toy_forward", _np(lambda W, b, f: np.maximum(np.einsum("idn,bid->bin", W, np.einsum("idn,bin->bid", W, f)) + b, 0))),
    ("toy_loss", lambda f, r, I: (I * F.mse_loss(r, f, reduction="none")).mean((0, 2))),
    ("toy_loss", _np(lambda f, r, I: (I * (r - f) ** 2).mean(axis=(0, 2)))),
    ("feature_dimensionality", _f64(lambda W: _dim(W))),
    ("feature_dimensionality", _np(lambda W: np.nan_to_num(
        (np.linalg.norm(W, axis=1) ** 2)
        / (np.einsum("idn,idm->inm", W / np.maximum(np.linalg.norm(W, axis=1, keepdims=True), 1e-30), W) ** 2).sum(-1)))),
    ("relu_hidden_forward", _np(lambda W, b, x: np.maximum(np.einsum("kdn,bkd->bkn", W, np.maximum(
        np.einsum("kdn,bkn->bkd", W, x), 0)) + b, 0))),
    ("neuron_polysemanticity", lambda W, f, t: (_contrib(W, f) > t).sum(-1).double().mean(0)),
    ("neuron_polysemanticity", _np(lambda W, f, t: (W[None] * f[:, None, :] > t).sum(-1).mean(0))),
    ("gini", lambda a: (a[..., :, None].abs() - a[..., None, :].abs()).abs().sum((-1, -2))
     / (2 * a.shape[-1] * a.abs().sum(-1))),
    ("gini", _np(lambda a: (lambda c, d: ((2 * np.arange(1, d + 1) - d - 1) * c).sum(-1) / (d * c.sum(-1)))(
        np.sort(np.abs(a), axis=-1), a.shape[-1]))),
    ("effective_dimension", lambda a: 2 ** _effdim(a, log=torch.log2, entropy_only=True)),
    ("effective_dimension", lambda a: torch.special.entr(a.abs() / a.abs().sum(-1, keepdim=True)).sum(-1).exp()),
    ("effective_dimension", lambda a: _effdim(a, guard=False, log=lambda q: torch.log(q + 1e-30))),
    ("effective_dimension", _np(lambda a: np.exp(-np.nansum(
        (lambda q: q * np.log(np.where(q > 0, q, 1)))(np.abs(a) / np.abs(a).sum(-1, keepdims=True)), -1)))),
    ("correlated_features", lambda b, n, p, g: (lambda on, v: torch.stack([v[..., 0] * on, v[..., 1] * on], -1)
                                                .reshape(b, 2 * n))((torch.rand(b, n, generator=g) < p).float(),
                                                                    torch.rand(b, n, 2, generator=g))),
    ("soft_threshold", lambda v, t: F.softshrink(v, t)),
    ("soft_threshold", lambda v, t: torch.copysign((v.abs() - t).clamp_min(0), v)),
    ("soft_threshold", _np(lambda v, t: np.sign(v) * np.maximum(np.abs(v) - t, 0))),
    ("ista_step", _f64(lambda A, y, x, lam, step: _soft(x - step * _grad(A, y, x), step * lam))),
    ("ista_step", lambda A, y, x, lam, step: (lambda xg: _soft(
        x - step * torch.autograd.grad(0.5 * ((xg @ A.T - y) ** 2).sum(), xg)[0], step * lam))(x.clone().requires_grad_())),
    ("omp_select", lambda A, r, t: ((r @ A) ** 2).masked_fill(t, -1).argmax(1)),
    ("omp_select", _np(lambda A, r, t: np.argmax(np.where(t, -np.inf, np.abs(r @ A)), axis=1))),
    ("omp_select", lambda A, r, t: (r @ A).abs().masked_fill(t, -1).argmax(1).int()),
    ("ce_loss_recovered", lambda c, s, a: (s - a) / (c - a)),
    ("ce_loss_recovered", lambda c, s, a: torch.tensor((a - s) / (a - c), dtype=torch.float64)),
    ("ce_loss_recovered", lambda c, s, a: np.float32((a - s) / (a - c))),
    ("ce_loss_recovered", lambda c, s, a: 1 - (s - c) / (a - c)),
    ("nonneg_basis_pursuit", lambda A, y: _lp_rows(A, y)),
    ("nonneg_basis_pursuit", lambda A, y: _lp_rows(A, y).numpy()),
    ("nonneg_basis_pursuit", lambda A, y: _lp_rows(A, y.tolist())),
    ("recovery_success", lambda xh, x, tol: (xh - x).norm(dim=1) < tol * x.norm(dim=1)),
    ("recovery_success", lambda xh, x, tol: (xh - x).norm(dim=1) / (x.norm(dim=1) + 1e-12) <= tol),
    ("recovery_success", _np(lambda xh, x, tol: np.linalg.norm(xh - x, axis=1) / np.linalg.norm(x, axis=1) < tol)),
    ("coherence", lambda A: (lambda U: (U.T @ U).abs().triu(1).max())(A / A.norm(dim=0))),
    ("coherence", lambda A: F.cosine_similarity(A.T[:, None], A.T[None], dim=-1).abs().fill_diagonal_(0).max()),
    ("coherence", _np(lambda A: (lambda G: (np.abs(G) - np.eye(len(G)) * np.abs(G)).max())(
        (A / np.linalg.norm(A, axis=0)).T @ (A / np.linalg.norm(A, axis=0))))),
    ("welch_bound", lambda m, n: torch.tensor((n - m) / (m * (n - 1))).sqrt()),
    ("welch_bound", lambda m, n: np.sqrt((n - m) / (m * n - m))),
    ("sampled_rip", lambda A, S: (lambda e: (e - 1).abs().amax(-1).max())(
        torch.linalg.eigvalsh((lambda c: c @ c.transpose(1, 2))((A / A.norm(dim=0)).T[S])))),
    ("sampled_rip", lambda A, S: _rip(A.float(), S)),
    ("sampled_rip", _np(lambda A, S: max(max(1 - e[0], e[-1] - 1) for e in (
        np.linalg.eigvalsh((A / np.linalg.norm(A, axis=0))[:, s].T @ (A / np.linalg.norm(A, axis=0))[:, s]) for s in S)))),
    ("sae_forward", _f64(lambda *p: _sae(*p))),
    ("sae_forward", lambda *p: list(_sae(*p))),
    ("sae_forward", _np(lambda x, We, be, Wd, bd: (lambda z: (z @ Wd + bd, z))(np.maximum((x - bd) @ We + be, 0)))),
    ("sae_loss", lambda x, xh, z, Wd, l1: F.mse_loss(xh, x) * x.shape[1] + l1 * (z.abs() * Wd.norm(dim=1)).sum(-1).mean()),
    ("sae_loss", _f64(lambda x, xh, z, Wd, l1: float(_mse(x, xh) + l1 * (z * Wd.norm(dim=1)).sum(-1).mean()))),
    ("mmcs", lambda L, T: F.cosine_similarity(T[:, None], L[None], dim=-1).amax(1).mean()),
    ("mmcs", _np(lambda L, T: ((T / np.linalg.norm(T, axis=1, keepdims=True))
                               @ (L / np.linalg.norm(L, axis=1, keepdims=True)).T).max(1).mean())),
    ("resample_decoder_rows", _f64(lambda *p: _resample(*p))),
    ("resample_decoder_rows", _np(lambda W, d, xc, bd: np.where(d[:, None], (xc - bd) / np.linalg.norm(
        xc - bd, axis=1, keepdims=True), W))),
    ("record_output", lambda m, mod, i: _hook(m, mod, i)),
    ("top_activating", lambda a, k: (lambda s: (s.values[:, :k], s.indices[:, :k]))(a.T.sort(-1, descending=True))),
    ("top_activating", _np(lambda a, k: (lambda idx: (np.take_along_axis(a, idx, 0).T, idx.T))(
        np.argsort(-a, axis=0, kind="stable")[:k]))),
]


VARIANTS += [
    ("next_token_loss", lambda lg, ids, m: float(_ce(lg.double(), ids, m))),
    ("next_token_loss", lambda lg, ids, m: (lambda ok: -(lg[:, :-1].log_softmax(-1).gather(-1, ids[:, 1:, None])[..., 0]
                                                          * ok).sum() / ok.sum())((m[:, 1:] * m[:, :-1]).float())),
    ("splice_hook", lambda replace, keep_first=True: _splice(replace, keep_first)),
    ("logit_effects", lambda d, W, g, k: (lambda e: (e.argsort(descending=True)[:k], e.argsort()[:k]))(W @ (d * g))),
    ("random_control", lambda d, g: (lambda r: r * (d.norm() / r.norm()))(torch.randn(d.shape, generator=g,
                                                                                      dtype=torch.float64))),
]
VARIANTS += CH0_3_VARIANTS
VARIANTS += CH5_7_VARIANTS


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("exercise, answer", VARIANTS, ids=[f"{e}-{i}" for i, (e, _) in enumerate(VARIANTS)])
def test_correct_variant_passes(exercise, answer):
    result = check(exercise, answer)
    assert result.passed, result.message


def test_a_function_that_modifies_its_input_passes_with_a_note():
    def in_place(W):
        W.pow_(2)
        return W.sum(1).sqrt()

    result = check("feature_norms", in_place)
    assert result.passed and "changed its input argument 1 in place" in result.message


# ------------------------------------------------------------------------------------------------
# every diagnosis is reachable and differs from the right answer
# ------------------------------------------------------------------------------------------------

CHECKER_MODULES = ["basics", "toy_models", "polysemanticity", "sparsity", "sensing", "rip", "sae", "real_models", "transformer", "sae_practice",
                   "geometry"]


def _recorded_diagnoses(monkeypatch):
    """Run every reference through its checker, recording each ``compare`` call's diagnoses."""
    seen = []
    original = _core.compare

    def recording(got, expected, *, diagnoses=(), **kwargs):
        items = list(diagnoses.items() if isinstance(diagnoses, dict) else diagnoses)
        seen.append((recording.exercise, expected, items, kwargs))
        return original(got, expected, diagnoses=diagnoses, **kwargs)

    for name in CHECKER_MODULES:
        monkeypatch.setattr(importlib.import_module(f"superpos_lib.checks.{name}"), "compare", recording)
    for exercise in registered_exercises():
        recording.exercise = exercise
        reference = reference_implementation(exercise)
        assert check(exercise, lambda *a, **k: reference(*a, **k)).passed, exercise
    return seen


REVIEWED = {e for e, _, _ in MISTAKES}


def _only_reviewed(exercise):
    if exercise not in REVIEWED:
        pytest.xfail(f"{exercise}: its checker has no typical mistakes listed in tests/test_checks_mistakes.py yet "
                     "(added after the exercise review); add them to MISTAKES and VARIANTS")


@pytest.fixture(scope="module")
def recorded():
    monkeypatch = pytest.MonkeyPatch()
    try:
        seen = list(_recorded_diagnoses(monkeypatch))
    finally:
        monkeypatch.undo()  # later checks must not be recorded
    return seen


@pytest.mark.parametrize("exercise", registered_exercises())
def test_no_diagnosis_equals_the_right_answer(recorded, exercise):
    problems = []
    for name, expected, items, kwargs in recorded:
        for message, wrong in items:
            if name == exercise and _core._close(torch.as_tensor(wrong), expected, kwargs.get("rtol", 1e-4),
                                                 kwargs.get("atol", 1e-5)):
                problems.append(f"{message!r} is the expected value on the checker's inputs")
    if problems:
        _only_reviewed(exercise)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("exercise", registered_exercises())
def test_every_diagnosis_is_reachable(recorded, exercise):
    _only_reviewed(exercise)
    messages = {message for name, _, items, _ in recorded if name == exercise for message, _ in items}
    hit = {check(e, answer).message for e, answer, _ in MISTAKES if e == exercise}
    unreachable = sorted(messages - hit)
    assert not unreachable, "no mistake in MISTAKES triggers:\n" + "\n".join(unreachable)


@pytest.mark.parametrize("exercise", registered_exercises())
def test_every_exercise_has_mistakes_and_variants(exercise):
    _only_reviewed(exercise)
    assert exercise in {e for e, _ in VARIANTS}


def test_fallback_reference_is_not_accepted_as_the_students(capsys):
    use = check_or_reference("welch_bound", lambda m, n: 0.0)
    assert "the cells below use the course's reference" in capsys.readouterr().out
    again = check("welch_bound", use)
    assert not again.passed and "re-run the cell with your function" in again.message

"""Checkers for the Sparsity chapter: Gini coefficient, effective dimension and a generator of
correlated feature pairs."""

import torch

from ..metrics.sparsity import effective_dimension, gini
from ._core import Mismatch, call_student, compare, register


def _test_vectors():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(6, 8, generator=g) * (torch.rand(6, 8, generator=g) < 0.5)
    a[0] = 0.0
    a[0, 3] = -2.0  # one-hot with a negative entry
    a[1] = 0.5  # uniform
    return a


@register("gini")
def check_gini(fn):
    """``fn(a)`` returns the Gini coefficient of ``|a|`` over the last axis, shape ``a.shape[:-1]``."""
    a = _test_vectors()
    expected = gini(a)
    c = a.abs().sort(-1).values
    d = a.shape[-1]
    k = torch.arange(1, d + 1, dtype=a.dtype)
    signed = a.sort(-1).values
    got = call_student(fn, a.clone())
    compare(
        got,
        expected,
        what="your Gini",
        diagnoses={
            "you sorted descending; Gini sorts |a| ascending (the largest entry gets the largest weight 2k - d - 1).":
                -expected,
            "you used a instead of |a|: Gini is defined for non-negative numbers, so take absolute values first.":
                ((2 * k - d - 1) * signed).sum(-1) / (d * signed.sum(-1)),
            "you forgot to sort: Gini weights the entries by their rank.":
                ((2 * k - d - 1) * a.abs()).sum(-1) / (d * a.abs().sum(-1)),
            "you forgot to divide by d.": ((2 * k - d - 1) * c).sum(-1) / c.sum(-1),
        },
    )
    one_hot = torch.zeros(10)
    one_hot[4] = 1.0
    compare(call_student(fn, one_hot), torch.tensor(0.9), what="your Gini of a one-hot vector of length 10")


@register("effective_dimension")
def check_effective_dimension(fn):
    """``fn(a)`` returns ``exp(H)`` with ``H`` the entropy of ``|a| / sum |a|`` over the last axis."""
    a = _test_vectors()
    expected = effective_dimension(a)
    q = a.abs() / a.abs().sum(-1, keepdim=True)
    plogp = torch.where(q > 0, q * torch.log(q.clamp(min=1e-30)), torch.zeros_like(q))
    entropy = -plogp.sum(-1)
    got = call_student(fn, a.clone())
    if isinstance(got, torch.Tensor) and torch.isnan(got).any():
        raise Mismatch("your output contains NaN for vectors with zeros: 0 * log 0 counts as 0 "
                       "(e.g. use torch.where(q > 0, q * q.log(), 0)).")
    compare(
        got,
        expected,
        what="your effective dimension",
        diagnoses={
            "you returned the entropy H; the effective dimension is exp(H).": entropy,
            "you mixed bases: exp goes with the natural log, 2**H with log2.": torch.exp(entropy / torch.log(torch.tensor(2.0))),
            "you mixed bases: 2**H goes with log2, exp with the natural log.": torch.pow(2.0, entropy),
        },
    )


@register("correlated_features")
def check_correlated_features(fn):
    """``fn(batch_size, n_pairs, feature_probability, generator)`` returns ``(batch_size, 2 * n_pairs)``
    features in pairs ``(0, 1), (2, 3), ...`` that are both present or both absent (each pair present
    with probability ``feature_probability``), with independent magnitudes uniform on [0, 1)."""
    batch, pairs, p = 20000, 3, 0.2
    got = call_student(fn, batch, pairs, p, torch.Generator().manual_seed(0))
    if not isinstance(got, torch.Tensor):
        raise Mismatch(f"return a tensor, got a {type(got).__name__}.")
    if got.shape != (batch, 2 * pairs):
        raise Mismatch(f"your output has shape {tuple(got.shape)}, expected (batch_size, 2 * n_pairs) = {(batch, 2 * pairs)}.")
    if not torch.is_floating_point(got) or got.min() < 0 or got.max() > 1:
        raise Mismatch("feature values must be floats in [0, 1].")
    on = got != 0
    if not torch.equal(on[:, 0::2], on[:, 1::2]):
        raise Mismatch("in some rows one feature of a pair is on and the other off: draw one on/off mask per pair "
                       "and use it for both features (columns 2k and 2k + 1).")
    density = on.float().mean(0)
    if (density - p).abs().max() > 0.02:
        raise Mismatch(f"each feature should be present with probability {p}; yours are present with "
                       f"probabilities {[round(x, 3) for x in density.tolist()]}.")
    both = got[on[:, 0], :2]
    if torch.equal(both[:, 0], both[:, 1]):
        raise Mismatch("the two features of a pair always have the same value: share the on/off mask, "
                       "but draw the magnitudes independently.")
    if (both.mean(0) - 0.5).abs().max() > 0.03:
        raise Mismatch("present features should be uniform on [0, 1) (mean 0.5); yours have means "
                       f"{[round(x, 3) for x in both.mean(0).tolist()]}.")
    again = call_student(fn, batch, pairs, p, torch.Generator().manual_seed(0))
    if not torch.equal(got, again):
        raise Mismatch("two calls with generators seeded alike gave different samples: pass generator= to every "
                       "random call (torch.rand(..., generator=generator)).")

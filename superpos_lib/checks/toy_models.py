"""Checkers for the exercises of chapter 1 (toy models of superposition).

Exercises and the function each one expects:

- ``"sparse_features"``: ``fn(batch_size, n_instances, n_features, feature_probability, generator)``
  -> ``(batch_size, n_instances, n_features)``; random, so it is checked by its statistics.
- ``"toy_forward"``: ``fn(W, b, features)`` -> ``ReLU(W^T W f + b)``, ``(batch, n_instances, n_features)``.
- ``"toy_loss"``: ``fn(features, reconstruction, importance)`` -> loss per instance ``(n_instances,)``.
- ``"feature_dimensionality"``: ``fn(W)`` with ``W: (n_instances, d, n)`` -> ``(n_instances, n)``.
"""

from __future__ import annotations

import torch

from ..metrics.geometry import feature_dimensionality
from ._answers import register_answer
from ._core import Mismatch, _as_tensor, call_student, compare, register

__all__: list[str] = []  # checkers register themselves; references are reached via reference_implementation()


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def sparse_features_reference(batch_size, n_instances, n_features, feature_probability, generator):
    """Sparse features ``(batch_size, n_instances, n_features)``: non-zero with probability
    ``feature_probability`` (broadcast to ``(n_instances, n_features)``), magnitudes uniform on [0, 1]."""
    shape = (batch_size, n_instances, n_features)
    magnitude = torch.rand(shape, generator=generator)
    present = torch.rand(shape, generator=generator) < torch.as_tensor(feature_probability)
    return magnitude * present


def toy_forward_reference(W, b, features):
    """``ReLU(W^T W f + b)``: ``W (n_instances, d, n)``, ``b (n_instances, n)``, ``features (batch, n_instances, n)``."""
    h = torch.einsum("idn,bin->bid", W, features)
    return torch.relu(torch.einsum("idn,bid->bin", W, h) + b)


def toy_loss_reference(features, reconstruction, importance):
    """Mean over batch and features of ``importance * (features - reconstruction)^2``: ``(n_instances,)``."""
    return (importance * (features - reconstruction) ** 2).mean(dim=(0, 2))


def feature_dimensionality_reference(W):
    """``D_i = ||W_i||^2 / sum_j (W_i_hat . W_j)^2``: ``(n_instances, d, n)`` -> ``(n_instances, n)``; 0 for zero columns."""
    return feature_dimensionality(W)


@register("sparse_features", reference=sparse_features_reference)
def check_sparse_features(fn):
    """Statistics of ``fn(batch_size, n_instances, n_features, feature_probability, generator)``."""
    batch, I, n = 4000, 2, 4
    p = torch.tensor([[1.0, 0.5, 0.2, 0.05], [0.3, 0.3, 0.3, 0.3]])
    x = _as_tensor(call_student(fn, batch, I, n, p.clone(), _gen(0)), "your output")
    if x.shape != (batch, I, n):
        raise Mismatch(f"your output has shape {tuple(x.shape)}, expected (batch_size, n_instances, n_features) "
                       f"= {(batch, I, n)}.")
    if not torch.is_floating_point(x):
        raise Mismatch(f"your output has dtype {x.dtype}; features are real numbers (use a float dtype).")
    if torch.isnan(x).any():
        raise Mismatch("your output contains NaN.")
    if (x < 0).any() or (x > 1).any():
        raise Mismatch(f"features must lie in [0, 1]; yours range from {x.min().item():.3g} to {x.max().item():.3g}.")
    on = (x > 0).float()
    frac = on.mean(0)
    if (frac > 0.99).all():
        raise Mismatch("no feature is ever zero: the features are not masked. Each feature should be non-zero "
                       "only with its feature probability (e.g. multiply by `torch.rand(...) < p`).")
    if torch.allclose(frac, 1 - p, atol=0.04) and not torch.allclose(frac, p, atol=0.04):
        raise Mismatch("features are non-zero with probability 1 - p instead of p: you used the sparsity "
                       "S = 1 - p (or inverted the mask). feature_probability is p, the chance that a feature "
                       "is present: keep an entry when `rand < p`.")
    if not torch.allclose(frac, p, atol=0.04):
        worst = (frac - p).abs().argmax()
        i, j = divmod(int(worst), n)
        raise Mismatch(f"feature {j} of instance {i} is non-zero in {frac[i, j].item():.1%} of the samples, "
                       f"expected its feature probability {p[i, j].item():.0%}. Is the probability broadcast "
                       "per instance and feature (shape (n_instances, n_features))?")
    nz = x[x > 0]
    if (nz == 1).float().mean() > 0.5:
        raise Mismatch("every present feature has magnitude 1: you returned the mask only. Multiply it by "
                       "magnitudes drawn uniformly from [0, 1].")
    if abs(nz.mean().item() - 0.5) > 0.03 or abs(nz.var().item() - 1 / 12) > 0.02:
        raise Mismatch(f"present features should have magnitudes uniform on [0, 1] (mean 0.5); yours have mean "
                       f"{nz.mean().item():.3f}. Did you reuse the mask's random numbers as magnitudes?")
    both = on[:, 1, 0] * on[:, 1, 1]
    if abs(both.mean().item() - 0.09) > 0.03:
        raise Mismatch(f"features 0 and 1 of instance 1 are both on in {both.mean().item():.1%} of the samples, "
                       "expected 9% (0.3 x 0.3): each feature must be drawn independently, not one mask per sample.")
    again = _as_tensor(call_student(fn, batch, I, n, p.clone(), _gen(0)), "your output")
    if not torch.equal(again, x):
        raise Mismatch("two calls with generators seeded alike gave different features: pass `generator=generator` "
                       "to every random call so results are reproducible.")


def _forward_inputs():
    g = _gen(1)
    W = torch.randn(3, 2, 5, generator=g)
    b = torch.randn(3, 5, generator=g) * 0.5
    f = torch.rand(7, 3, 5, generator=g) * (torch.rand(7, 3, 5, generator=g) < 0.5)
    return W, b, f


@register("toy_forward", reference=toy_forward_reference)
def check_toy_forward(fn):
    """``fn(W, b, features)``: ``ReLU(W^T W f + b)`` for every instance and sample."""
    W, b, f = _forward_inputs()
    h = torch.einsum("idn,bin->bid", W, f)
    pre = torch.einsum("idn,bid->bin", W, h)
    expected = torch.relu(pre + b)
    got = call_student(fn, W.clone(), b.clone(), f.clone())
    compare(got, expected, what="your reconstruction", diagnoses=[
        ("you forgot the ReLU: the output must be ReLU(W^T W f + b), never negative.", pre + b),
        ("the bias is unused: add b before the ReLU.", torch.relu(pre)),
        ("the bias is added after the ReLU; add it before: ReLU(W^T W f + b).", torch.relu(pre) + b),
        ("you applied a ReLU to the hidden layer too; this model's hidden layer is linear (h = W f).",
         torch.relu(torch.einsum("idn,bid->bin", W, torch.relu(h)) + b)),
        ("you returned the hidden activations h = W f; map them back with W^T.", h),
        ("you used instance 0's W and b for every instance: each instance has its own W[i] and b[i].",
         torch.relu(torch.einsum("dn,bid->bin", W[0], torch.einsum("dn,bin->bid", W[0], f)) + b[0])),
        ("you used instance 0's W for every instance: each instance has its own W[i].",
         torch.relu(torch.einsum("dn,bid->bin", W[0], torch.einsum("dn,bin->bid", W[0], f)) + b)),
        ("you used a sigmoid; the toy model's output nonlinearity is a ReLU.", torch.sigmoid(pre + b)),
    ])


def _loss_inputs():
    g = _gen(2)
    f = torch.rand(16, 3, 5, generator=g)
    rec = torch.rand(16, 3, 5, generator=g)
    imp = torch.rand(3, 5, generator=g) + 0.1
    return f, rec, imp


@register("toy_loss", reference=toy_loss_reference)
def check_toy_loss(fn):
    """``fn(features, reconstruction, importance)``: mean over batch and features of
    ``importance * (features - reconstruction)^2``, one value per instance."""
    f, rec, imp = _loss_inputs()
    sq = (f - rec) ** 2
    expected = (imp * sq).mean(dim=(0, 2))
    got = call_student(fn, f.clone(), rec.clone(), imp.clone())
    compare(got, expected, what="your loss", diagnoses=[
        ("the importance is missing: weight each feature's squared error by its importance.", sq.mean(dim=(0, 2))),
        ("you summed over batch and features; take the mean (TMS averages them).", (imp * sq).sum(dim=(0, 2))),
        ("you averaged over all instances into one number; keep one loss per instance (mean over axes 0 and 2).",
         (imp * sq).mean()),
        ("you averaged over the wrong axes: the batch is axis 0 and features axis 2; instances (axis 1) stay.",
         (imp * sq).mean(dim=(0, 1))),
        ("you kept the batch axis: average over it too.", (imp * sq).mean(dim=2)),
        ("you kept the feature axis: average over it too.", (imp * sq).mean(dim=0)),
        ("the error is not squared.", (imp * (f - rec).abs()).mean(dim=(0, 2))),
        ("the importance multiplies the error before squaring; it weights the squared error.",
         ((imp * (f - rec)) ** 2).mean(dim=(0, 2))),
        ("you summed over the features (and averaged over the batch); average over both: the loss is a "
         "mean over axes 0 and 2.", (imp * sq).sum(dim=2).mean(dim=0)),
        ("you averaged over the features but summed over the batch; average over both (axes 0 and 2).",
         (imp * sq).mean(dim=2).sum(dim=0)),
        ("you took a square root (an RMS error); the loss is the mean squared error itself.",
         (imp * sq).mean(dim=(0, 2)).sqrt()),
        ("you divided by the total importance; the loss is a plain mean over batch and features.",
         (imp * sq).mean(dim=0).sum(-1) / imp.sum(-1)),
    ])


@register("feature_dimensionality", reference=feature_dimensionality_reference)
def check_feature_dimensionality(fn):
    """``fn(W)``: ``D_i = ||W_i||^2 / sum_j (W_i_hat . W_j)^2`` per instance; 0 for zero-norm features."""
    g = _gen(3)
    W = torch.randn(3, 2, 6, generator=g)
    W[1, :, 4] = 0.0  # a feature that is not represented
    expected = feature_dimensionality(W)
    got = call_student(fn, W.clone())
    norms2 = W.pow(2).sum(1)
    dots2 = (W.transpose(1, 2) @ W).pow(2)
    unnormalised = torch.nan_to_num(norms2 / dots2.sum(-1), nan=0.0)
    Wr = W.transpose(1, 2)  # rows taken as features: wrong axis
    wrong_axis = feature_dimensionality(Wr)
    got_t = _as_tensor(got, "your output")
    if got_t.shape == expected.shape and torch.isnan(got_t).any():
        raise Mismatch("your output has NaN for a feature whose W_i is zero (0 / 0): return 0 for such features, "
                       "e.g. with torch.where(norm > 0, ..., 0).")
    compare(got_t, expected, what="your dimensionality", diagnoses=[
        ("you forgot to normalise: the denominator uses the unit vector W_i_hat = W_i / ||W_i||, "
         "not W_i itself.", unnormalised),
        ("you used the rows of W as features; feature i is column i (W[:, :, i]).", wrong_axis),
        ("the overlaps are not squared: the denominator is sum_j (W_i_hat . W_j)^2.",
         torch.nan_to_num(norms2 / ((W / W.norm(dim=1, keepdim=True)).transpose(1, 2) @ W).sum(-1), nan=0.0)),
        ("you summed |W_i_hat . W_j| in the denominator; square the overlaps instead: sum_j (W_i_hat . W_j)^2.",
         torch.nan_to_num(norms2 / ((W / W.norm(dim=1, keepdim=True)).transpose(1, 2) @ W).abs().sum(-1), nan=0.0)),
        ("the numerator is the squared norm ||W_i||^2, not ||W_i||.",
         torch.nan_to_num(norms2.sqrt() / (dots2.sum(-1) / norms2), nan=0.0)),
        ("you left out the i = j term from the denominator; the sum runs over all j, i included.",
         torch.nan_to_num(norms2 / (dots2.sum(-1) / norms2 - norms2), nan=0.0, posinf=0.0)),
    ])


# ---------------------------------------------------------------- predict

register_answer(
    "antipodal_count", tolerance=1.5,
    explanation="In the intermediate regime the 5-in-2 model stored 4 features in 2 dimensions as two antipodal "
                "pairs: each pair shares one line, and a pair interferes only when both of its features fire. "
                "With d = 5 there are 5 lines to share, so 2 x 5 = 10 features, each with dimensionality 1/2.")

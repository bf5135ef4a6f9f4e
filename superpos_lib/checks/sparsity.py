"""Checkers for the Sparsity chapter: Gini coefficient, effective dimension, a generator of
correlated feature pairs, the training loop of the correlated-features experiments, and two
predictions of a pair's geometry."""

import math

import torch

from ..metrics.geometry import PAIR_GEOMETRIES
from ..metrics.sparsity import effective_dimension, gini
from ._answers import register_answer
from ._core import Mismatch, _as_tensor, call_student, compare, register

__all__: list[str] = []  # checkers register themselves; references are reached via reference_implementation()


def gini_reference(a):
    """Gini coefficient of ``|a|`` over the last axis: ``a (..., d)`` -> ``(...)``."""
    return gini(a)


def effective_dimension_reference(a):
    """``exp(H)`` of ``|a| / sum |a|`` over the last axis: ``a (..., d)`` -> ``(...)``."""
    return effective_dimension(a)


def correlated_features_reference(batch_size, n_pairs, feature_probability, generator):
    """``(batch_size, 2 * n_pairs)`` features; pairs ``(2k, 2k + 1)`` share one on/off draw,
    independent between pairs, with independent magnitudes uniform on [0, 1)."""
    on = torch.rand(batch_size, n_pairs, 1, generator=generator) < feature_probability
    values = torch.rand(batch_size, n_pairs, 2, generator=generator)
    return (values * on).reshape(batch_size, 2 * n_pairs)


def _test_vectors():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(6, 8, generator=g) * (torch.rand(6, 8, generator=g) < 0.5)
    a[0] = 0.0
    a[0, 3] = -2.0  # one-hot with a negative entry
    a[1] = 0.5  # uniform
    a[2] = torch.randn(8, generator=g)  # dense, mixed signs, no zeros
    return a


def _three_d():
    """A (2, 3, 8) batch (no zero rows), to catch code that hard-codes the axis."""
    g = torch.Generator().manual_seed(7)
    return torch.randn(2, 3, 8, generator=g) * (torch.rand(2, 3, 8, generator=g) < 0.7) + 0.01


def _any_shape(fn, reference, what):
    """Fail code that works on 2-d input only (an axis hard-coded as 1 instead of -1)."""
    hint = (" Yours works on a 2-d input only: work along the last axis (dim=-1, a.shape[-1]) so that any "
            "input of shape (..., d) works.")
    b = _three_d()
    try:
        got = _as_tensor(call_student(fn, b.clone()), f"your {what}")
    except Mismatch as problem:
        raise Mismatch(f"{problem}{hint}") from None
    if got.shape != (2, 3) and got.numel() == 6:
        raise Mismatch(f"your {what} of a (2, 3, 8) batch of vectors has shape {tuple(got.shape)}, expected (2, 3): "
                       "keep the leading axes (the result has shape a.shape[:-1]).")
    try:
        compare(got, reference(b), what=f"your {what} of a (2, 3, 8) batch of vectors")
        compare(call_student(fn, b[0, 0].clone()), reference(b[0, 0]), what=f"your {what} of a single vector (8,)")
    except Mismatch as problem:
        raise Mismatch(f"{problem}{hint}") from None


def _gini_formula(c, d, k):
    return ((2 * k - d - 1) * c).sum(-1) / (d * c.sum(-1))


@register("gini", reference=gini_reference)
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
            "your ranks start at 0; in the formula k runs from 1 to d (torch.arange(1, d + 1)).":
                _gini_formula(c, d, k - 1),
            "you divided by d - 1; the formula divides by d (so a one-hot vector gives 1 - 1/d).":
                ((2 * k - d - 1) * c).sum(-1) / ((d - 1) * c.sum(-1)),
            "you sorted along the wrong axis (axis 0, across vectors); sort each vector's entries, along the last axis.":
                _gini_formula(a.abs().sort(0).values, d, k),
        },
    )
    _any_shape(fn, gini, "Gini")
    one_hot = torch.zeros(10)
    one_hot[4] = 1.0
    compare(call_student(fn, one_hot), torch.tensor(0.9), what="your Gini of a one-hot vector of length 10")


def _entropy(q):
    plogp = torch.where(q > 0, q * torch.log(q.abs().clamp(min=1e-30)), torch.zeros_like(q))
    return -plogp.sum(-1)


@register("effective_dimension", reference=effective_dimension_reference)
def check_effective_dimension(fn):
    """``fn(a)`` returns ``exp(H)`` with ``H`` the entropy of ``|a| / sum |a|`` over the last axis."""
    a = _test_vectors()
    expected = effective_dimension(a)
    q = a.abs() / a.abs().sum(-1, keepdim=True)
    entropy = _entropy(q)
    signed_q = a / a.sum(-1, keepdim=True)  # the same without abs: some q are negative
    got = _as_tensor(call_student(fn, a.clone()), "your effective dimension")
    no_abs = ("you forgot the absolute value: the distribution is q = |a| / sum |a| (with negative entries "
              "some q are negative, and their log is NaN).")
    if got.shape == expected.shape and (torch.isnan(got) & ~torch.isnan(expected)).any():
        bad = torch.isnan(got) & ~torch.isnan(expected)
        if (bad & ~(a == 0).any(-1)).any():  # NaN in a row without zeros: a log of a negative q
            raise Mismatch(no_abs)
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
            no_abs: torch.exp(_entropy(signed_q)),
        },
    )
    _any_shape(fn, effective_dimension, "effective dimension")
    compare(call_student(fn, torch.tensor([1.0, 1.0, 0.0, 2.0])), torch.tensor(2.0 ** 1.5),
            what="your effective dimension of the vector [1, 1, 0, 2]", rtol=1e-4)


@register("correlated_features", reference=correlated_features_reference)
def check_correlated_features(fn):
    """``fn(batch_size, n_pairs, feature_probability, generator)`` returns ``(batch_size, 2 * n_pairs)``
    features in pairs ``(0, 1), (2, 3), ...`` that are both present or both absent (each pair present
    with probability ``feature_probability``, independently of the other pairs), with independent
    magnitudes uniform on [0, 1)."""
    batch, pairs, p = 20000, 3, 0.2
    got = _as_tensor(call_student(fn, batch, pairs, p, torch.Generator().manual_seed(0)), "your output")
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
    both_pairs = (on[:, 0] & on[:, 2]).float().mean().item()
    if abs(both_pairs - p * p) > 0.02:
        raise Mismatch(f"pairs 0 and 1 are both on in {both_pairs:.1%} of the rows, expected {p * p:.0%} "
                       f"({p} x {p}): different pairs must be independent, so draw one on/off value per pair "
                       "(shape (batch_size, n_pairs)), not one per row.")
    both = got[on[:, 0], :2]
    if torch.equal(both[:, 0], both[:, 1]):
        raise Mismatch("the two features of a pair always have the same value: share the on/off mask, "
                       "but draw the magnitudes independently.")
    if (both.mean(0) - 0.5).abs().max() > 0.03:
        raise Mismatch("present features should be uniform on [0, 1) (mean 0.5); yours have means "
                       f"{[round(x, 3) for x in both.mean(0).tolist()]}.")
    again = _as_tensor(call_student(fn, batch, pairs, p, torch.Generator().manual_seed(0)), "your output")
    if not torch.equal(got, again):
        raise Mismatch("two calls with generators seeded alike gave different samples: pass generator= to every "
                       "random call (torch.rand(..., generator=generator)).")


# --- the training loop of the correlated-features experiments ----------------------------------------------


def train_on_sampler_reference(model, sample, steps=2000, lr=1e-2, progress=True):
    """Adam (learning rate decaying to 0 on a cosine) on ``model.loss(sample()).sum()``, one fresh batch per
    step; ``sample()`` returns ``(batch, n_instances, n_features)``. Returns ``model``."""
    from tqdm.auto import tqdm

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: 0.5 * (1 + math.cos(math.pi * t / steps)))
    for _ in tqdm(range(steps), disable=not progress, desc="training"):
        loss = model.loss(sample()).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model


_TRAIN_STEPS, _TRAIN_LR = 40, 5e-3


def _training_setup():
    """A fresh small toy model and a seeded sampler that counts its calls."""
    from ..data import sparse_features
    from ..toy_models import ToyModel

    model = ToyModel(5, 2, 3, feature_probability=torch.tensor([[0.1], [0.3], [1.0]]), seed=0)
    generator = torch.Generator().manual_seed(0)
    calls = [0]

    def sample():
        calls[0] += 1
        return sparse_features(64, 3, 5, model.feature_probability, generator=generator)

    return model, sample, calls


def _mistaken_run(*, adam=True, zero_grad=True, schedule="cosine", fresh_batches=True, optimizer_once=True,
                  schedule_first=False, lr=_TRAIN_LR):
    """The reference loop with one typical mistake, on the checker's inputs: the final ``W``."""
    model, sample, _ = _training_setup()
    steps = _TRAIN_STEPS
    factor = {"cosine": lambda t: 0.5 * (1 + math.cos(math.pi * t / steps)), "constant": lambda t: 1.0,
              "linear": lambda t: 1 - t / steps}[schedule]
    make = (lambda: torch.optim.Adam(model.parameters(), lr=lr)) if adam else \
        (lambda: torch.optim.SGD(model.parameters(), lr=lr))
    optimizer = make()
    fixed = None if fresh_batches else sample()
    for t in range(steps):
        if not optimizer_once:
            optimizer = make()
        for group in optimizer.param_groups:
            group["lr"] = lr * factor(t + 1 if schedule_first else t)
        loss = model.loss(sample() if fresh_batches else fixed).sum()
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.W.detach().clone()


@register("train_on_sampler", reference=train_on_sampler_reference)
def check_train_on_sampler(fn):
    """``fn(model, sample, steps, lr, progress)`` trains ``model`` with Adam, the learning rate decaying from
    ``lr`` to 0 on a cosine, on ``model.loss(sample()).sum()`` with one fresh batch per step, and returns the
    model."""
    model, sample, calls = _training_setup()
    W0 = model.W.detach().clone()
    got = call_student(fn, model, sample, steps=_TRAIN_STEPS, lr=_TRAIN_LR, progress=False)
    if got is not model:
        raise Mismatch("return the model you trained (return model), so that a cell can write "
                       "model = train_on_sampler(ToyModel(...), sample).")
    if calls[0] == 0:
        raise Mismatch("your loop never called sample(): draw a fresh batch with sample() at every step.")
    if calls[0] == 1:
        raise Mismatch(f"you called sample() once for {_TRAIN_STEPS} steps: the model then fits one fixed batch. "
                       "Draw a fresh batch with sample() inside the loop, at every step.")
    if calls[0] != _TRAIN_STEPS:
        per = f" ({calls[0] / _TRAIN_STEPS:g} per step)" if calls[0] % _TRAIN_STEPS == 0 else ""
        raise Mismatch(f"with steps={_TRAIN_STEPS} your loop called sample() {calls[0]} times{per}; take exactly one "
                       "batch per step, and use the steps argument rather than a fixed number.")
    W = model.W.detach()
    if torch.equal(W, W0):
        raise Mismatch("your loop did not change the model's weights: call loss.backward() and then "
                       "optimizer.step() at every step.")
    compare(
        W,
        _mistaken_run(),
        what="the W your loop trained",
        rtol=1e-3,
        atol=1e-4,
        diagnoses={
            "your gradients add up over the steps: call optimizer.zero_grad() before loss.backward() at every step.":
                _mistaken_run(zero_grad=False),
            "your learning rate stays at lr; it should decay to 0 on a cosine, lr * 0.5 * (1 + cos(pi * t / steps)) "
            "at step t (e.g. torch.optim.lr_scheduler.LambdaLR, stepped once per step).":
                _mistaken_run(schedule="constant"),
            "your learning rate decays linearly; use the cosine lr * 0.5 * (1 + cos(pi * t / steps)).":
                _mistaken_run(schedule="linear"),
            "you used plain gradient descent (SGD); the loop uses Adam, torch.optim.Adam(model.parameters(), lr=lr).":
                _mistaken_run(adam=False),
            "you create the optimizer inside the loop, which resets Adam's running averages at every step: "
            "create it once, before the loop.": _mistaken_run(optimizer_once=False, schedule="constant"),
            f"your loop ignores the lr argument (the checker passes lr={_TRAIN_LR}): give it to the optimizer, "
            "torch.optim.Adam(model.parameters(), lr=lr).": _mistaken_run(lr=1e-2),
            "your schedule is one step ahead: step the optimizer first, then the schedule (optimizer.step(), "
            "then schedule.step()).": _mistaken_run(schedule_first=True),
        },
    )


register_answer("anticorrelated_geometry", choices=PAIR_GEOMETRIES,
                explanation="The two features of an anticorrelated pair are never present together, so putting them "
                            "on opposite directions (antipodal) costs nothing: the ReLU removes the negative "
                            "read-out of the absent feature.")
register_answer("correlated_dense_geometry", choices=PAIR_GEOMETRIES,
                explanation="Correlated features are present together, exactly when sharing a direction hurts; with "
                            "little room and dense pairs the model gives up telling them apart and stores 'the pair is "
                            "on' along one shared direction (collapsed, norms near 1/sqrt(2)).")

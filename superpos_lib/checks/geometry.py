"""Checkers for the Geometry of superposition chapter (1b): the closed-form losses of the 3-in-2
phase diagram, dimensions per feature, naming a trained 3-in-2 solution, and a prediction of a
pentagon's vulnerability to aimed perturbations."""

import torch

from ..toy_models import three_feature_phase, three_feature_phase_losses
from ._answers import register_answer
from ._core import Mismatch, _as_tensor, call_student, compare, register

__all__ = ["THREE_FEATURE_PHASE_CHOICES", "three_feature_phase_label"]

# the names a student answers with, in the order of toy_models.THREE_FEATURE_PHASE_NAMES, then "other"
THREE_FEATURE_PHASE_CHOICES = ("3 dropped", "1 dropped", "3 in an antipodal pair", "1 and 2 antipodal", "other")


def three_feature_phase_label(W: torch.Tensor) -> str:
    """The name (one of :data:`THREE_FEATURE_PHASE_CHOICES`) of one trained 3-feature, 2-dimension
    model ``W (2, 3)``, from :func:`superpos_lib.toy_models.three_feature_phase`."""
    if not isinstance(W, torch.Tensor) or W.shape != (2, 3):
        raise ValueError(f"W must be one model's (2, 3) weight matrix, got {getattr(W, 'shape', type(W).__name__)}")
    return THREE_FEATURE_PHASE_CHOICES[int(three_feature_phase(W))]  # -1 (anything else) is the last name


def phase_losses_reference(r, p):
    """Expected losses of the four candidate solutions for 3 features in 2 dimensions: ``r``, ``p`` of one
    shape ``(...)`` -> ``(..., 4)``, in the order of the chapter's table."""
    return three_feature_phase_losses(r, p)


def _phase_inputs():
    r = torch.tensor([[0.3, 0.7, 1.5], [2.0, 5.0, 0.2]])
    p = torch.tensor([[0.9, 0.2, 0.05], [0.6, 0.3, 0.5]])
    return r, p


@register("phase_losses", reference=phase_losses_reference)
def check_phase_losses(fn):
    """``fn(r, p)`` with tensors ``r`` (relative importance of feature 3) and ``p`` (feature probability) of
    one shape returns the losses of the four candidates, shape ``r.shape + (4,)``, in the table's order."""
    r, p = _phase_inputs()
    expected = three_feature_phase_losses(r, p)
    V = p / 3 - p ** 2 / 4
    pair_r, pair_1 = (1 + r) * p ** 2 / 6, 2 * p ** 2 / 6
    got = _as_tensor(call_student(fn, r.clone(), p.clone()), "your losses")
    if got.shape == (4, *r.shape):
        raise Mismatch("your losses have shape (4, ...): stack the four candidates along the last axis "
                       "(torch.stack([...], dim=-1)), so that losses[..., k] is candidate k.")
    if got.shape == r.shape and not torch.is_floating_point(got):
        raise Mismatch("you returned the index of the best candidate; return the four losses themselves "
                       "(the chapter takes the argmin over the last axis).")
    compare(
        got,
        expected,
        what="your losses",
        diagnoses={
            "the variance of a dropped feature is V = p/3 - p^2/4 (E[x^2] - E[x]^2 for x present with "
            "probability p, uniform on [0, 1]); you used p/3, which is E[x^2] alone.":
                torch.stack([r * p / 3, p / 3, pair_r, pair_1], -1),
            "dropping feature 3 costs its importance times its variance, r V; you left out the r.":
                torch.stack([V, V, pair_r, pair_1], -1),
            "in the pair of features 2 and 3 each feature's interference is weighted by its own importance: "
            "(1 + r) p^2 / 6, not 2 p^2 / 6.": torch.stack([r * V, V, pair_1, pair_1], -1),
            "the pair of features 1 and 2 has importances 1 and 1: 2 p^2 / 6; the (1 + r) goes with the pair "
            "that contains feature 3.": torch.stack([r * V, V, pair_r, pair_r], -1),
            "your losses are in another order: the columns follow the table, W ⊥ [0,0,1], [1,0,0], [0,1,1], "
            "[1,1,0].": torch.stack([r * V, V, pair_1, pair_r], -1),
            "an antipodal pair costs p^2 / 6 per unit of importance (the chapter's table); you used p^2 / 3.":
                torch.stack([r * V, V, 2 * pair_r, 2 * pair_1], -1),
        },
    )
    one = call_student(fn, torch.tensor(0.5), torch.tensor(0.1))
    compare(one, three_feature_phase_losses(torch.tensor(0.5), torch.tensor(0.1)),
            what="your losses for a single r = 0.5, p = 0.1 (0-d tensors)")


def dims_per_feature_reference(W):
    """Dimensions per feature ``d / ||W||_F^2``: ``W (..., d, n)`` -> ``(...)``."""
    return W.shape[-2] / W.pow(2).sum(dim=(-2, -1))


@register("dims_per_feature", reference=dims_per_feature_reference)
def check_dims_per_feature(fn):
    """``fn(W)`` with ``W (..., d, n)`` returns ``d / ||W||_F^2`` for every model, shape ``W.shape[:-2]``."""
    g = torch.Generator().manual_seed(3)
    W = torch.randn(4, 3, 7, generator=g)  # d = 3 hidden dimensions, n = 7 features, 4 instances
    expected = dims_per_feature_reference(W)
    squared = W.pow(2).sum(dim=(-2, -1))
    got = call_student(fn, W.clone())
    compare(
        got,
        expected,
        what="your dimensions per feature",
        diagnoses={
            "you divided n (the number of features) by ||W||_F^2; it is d, the number of hidden dimensions "
            "(W.shape[-2]).": W.shape[-1] / squared,
            "you divided by ||W||_F; use its square, the sum of all squared entries.": W.shape[-2] / squared.sqrt(),
            "you returned ||W||_F^2 / d, the inverse: dimensions per feature is d / ||W||_F^2.": squared / W.shape[-2],
            "you summed over all instances into one number: keep one value per model (sum over the last two "
            "axes only).": torch.full((4,), W.shape[-2] * 4 / squared.sum()),
            "you divided d by the sum of the feature norms ||W_i||; use their squares, ||W||_F^2 = sum_i "
            "||W_i||^2.": W.shape[-2] / W.norm(dim=-2).sum(-1),
            "you counted d from the wrong axis: W has shape (..., d, n), so d = W.shape[-2].":
                W.shape[0] / squared,
        },
    )
    single = torch.randn(2, 5, generator=g)
    hint = (" Your function should work on a single (d, n) matrix too: sum over the last two axes "
            "(dim=(-2, -1)) and take d = W.shape[-2].")
    try:
        compare(call_student(fn, single.clone()), dims_per_feature_reference(single),
                what="your dimensions per feature of a single (2, 5) matrix")
    except Mismatch as problem:
        raise Mismatch(f"{problem}{hint}") from None


register_answer("three_feature_phase", choices=THREE_FEATURE_PHASE_CHOICES,
                explanation="Read the arrows: a feature with an arrow of its own, orthogonal to the others, is "
                            "dedicated; two arrows pointing in opposite directions are an antipodal pair; a feature "
                            "with (almost) no arrow is dropped.")
register_answer("pentagon_vulnerability", tolerance=0.1,
                explanation="Each feature of a unit-norm pentagon has ||W_j|| = 1 and D_j = 2/5, so "
                            "||(W^T W)_j||^2 = ||W_j||^4 / D_j = 1 / 0.4 = 2.5: an aimed perturbation moves its "
                            "read-out 2.5 times as much (squared) as without superposition.")

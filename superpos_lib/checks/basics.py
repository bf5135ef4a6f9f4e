"""Checkers for the exercises on the "Getting started" page: feature norms, evenly spread directions,
and two predictions about overlaps."""

import math

import torch

from ._answers import register_answer
from ._core import _close, call_student, compare, register

__all__: list[str] = []  # checkers register themselves; references are reached via reference_implementation()


def feature_norms_reference(W: torch.Tensor) -> torch.Tensor:
    """Length of each feature's direction: ``W (n_instances, d, n)`` -> ``(n_instances, n)``."""
    return W.norm(dim=-2)


@register("feature_norms", reference=feature_norms_reference)
def check_feature_norms(fn):
    """``fn(W)`` with ``W`` of shape ``(n_instances, d, n)`` returns the length of each
    feature's direction (each column of ``W``), shape ``(n_instances, n)``."""
    W = torch.randn(3, 2, 5, generator=torch.Generator().manual_seed(0))
    expected = W.norm(dim=-2)
    got = call_student(fn, W.clone())
    compare(
        got,
        expected,
        diagnoses={
            "you returned squared norms: take the square root.": W.pow(2).sum(-2),
            "you summed the entries instead of their squares.": W.sum(-2),
            "you took norms over the last axis (rows); each feature is a column of W.": W.norm(dim=-1),
            "you summed absolute values (the L1 norm); the length is the Euclidean norm sqrt(sum of squares).":
                W.abs().sum(-2),
            "you took the root of the mean of squares (RMS); the length is the root of their sum.":
                W.pow(2).mean(-2).sqrt(),
            "you used instance 0's W for every instance: keep the instance axis (axis 0).":
                W[0].norm(dim=0).expand(3, 5),
        },
    )


def spread_directions_reference(n: int) -> torch.Tensor:
    """``n`` unit vectors in 2-d at angles ``k pi / n`` (k = 0, ..., n - 1): shape ``(2, n)``, one per column."""
    angles = torch.arange(n, dtype=torch.float64) * math.pi / n
    return torch.stack([angles.cos(), angles.sin()])


def _directions(angles: torch.Tensor) -> torch.Tensor:
    return torch.stack([angles.cos(), angles.sin()])


@register("spread_directions", reference=spread_directions_reference)
def check_spread_directions(fn):
    """``fn(n)`` returns ``n`` unit vectors in 2-d at angles ``k pi / n``, ``k = 0, ..., n - 1``, one per
    column: shape ``(2, n)``."""
    for n in (5, 6, 2):
        k = torch.arange(n, dtype=torch.float64)
        expected = _directions(k * math.pi / n)
        diagnoses = {
            "you spread the directions over the whole circle (angles 2 pi k / n); spread them over the "
            "half-circle, angles pi k / n: u and -u are the same line, so the other half adds nothing new.":
                _directions(2 * k * math.pi / n),
            "your first and last directions are opposite (angles 0 and pi): that is the same line twice. "
            "Divide the half-circle into n equal steps, angles pi k / n for k = 0, ..., n - 1.":
                _directions(k * math.pi / (n - 1)),
            "your angles start at pi / n; they start at 0 (k = 0, ..., n - 1).": _directions((k + 1) * math.pi / n),
            "you used the angles as degrees; torch.cos and torch.sin take radians (pi k / n).":
                _directions(k * 180.0 / n),
            "you swapped the coordinates: the direction at angle t is (cos t, sin t), cos first.":
                _directions(k * math.pi / n).flip(0),
            "you returned one direction per row, shape (n, 2); the course puts one direction per column, "
            "shape (2, n).": _directions(k * math.pi / n).T,
        }
        got = call_student(fn, n)
        compare(got, expected, what=f"your result for n = {n}",  # (for n = 2 the transpose is the answer itself)
                diagnoses={m: w for m, w in diagnoses.items() if not _close(w, expected, 1e-4, 1e-5)})


register_answer("worst_overlap_six", tolerance=0.02,
                explanation="Six lines spread evenly over the half-circle are pi/6 = 30 degrees apart; the closest "
                            "pairs are neighbours, so the worst overlap is cos 30 degrees = 0.866.")
register_answer("mean_overlap_d400", tolerance=0.01,
                explanation="The typical overlap of random directions shrinks like 1/sqrt(d): four times as many "
                            "dimensions halve it, from 0.080 at d = 100 to sqrt(2 / (pi * 400)) = 0.040. "
                            "The number of directions (n) hardly matters for the mean.")

"""Checkers for the warm-up exercise on the "Getting started" page."""

import torch

from ._core import call_student, compare, register

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

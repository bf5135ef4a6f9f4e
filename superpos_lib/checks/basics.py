"""Checkers for the warm-up exercise on the "Getting started" page."""

import torch

from ._core import Mismatch, call_student, compare, register


@register("feature_norms")
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
        },
    )
    if isinstance(got, torch.Tensor) and got.dtype != W.dtype:
        raise Mismatch(f"your output has dtype {got.dtype}, expected {W.dtype} (same as W).")

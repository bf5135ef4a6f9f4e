"""Checkers for the exercises added to chapter 7 (superposition in a real transformer): the entropy of a
unit's top token types, and two answer exercises (the RMS cosine of random vectors; reading the ablation
against its controls). The hook and top-k checkers are in ``real_models.py``."""

import math

import torch

from ._answers import register_answer
from ._core import Mismatch, _as_tensor, call_student, compare, register

__all__: list[str] = []  # checkers register themselves; references are reached via reference_implementation()


def type_entropy_reference(types):
    """Entropy in bits of the token types in each row of ``types (n_units, k)`` (integer token ids):
    ``H = -sum_t q_t log2 q_t`` with ``q_t`` the fraction of the row's ``k`` entries equal to ``t``. ``(n_units,)``."""
    k = types.shape[1]
    ids = types.sort(dim=1).values
    new = torch.ones_like(ids, dtype=torch.bool)
    new[:, 1:] = ids[:, 1:] != ids[:, :-1]
    run = new.long().cumsum(dim=1) - 1
    counts = torch.zeros(ids.shape, dtype=torch.float64).scatter_add_(1, run, torch.ones(ids.shape, dtype=torch.float64))
    q = counts / k
    return -(torch.where(q > 0, q * torch.log2(q.clamp_min(1e-300)), 0.0)).sum(dim=1) + 0.0


def _types():
    """Rows: one token 8 times; 8 different tokens; 4 + 2 + 1 + 1; 5 + 3; two rows sharing token ids."""
    return torch.tensor([[7, 7, 7, 7, 7, 7, 7, 7],
                         [1, 2, 3, 4, 5, 6, 9, 12],
                         [3, 3, 9, 3, 9, 3, 40, 41],
                         [5, 5, 5, 2, 2, 5, 2, 5],
                         [7, 3, 7, 3, 7, 3, 7, 1000]])


def _per_row(types, fn):
    return torch.tensor([fn([int(t) for t in row]) for row in types], dtype=torch.float64)


def _entropy_of(counts, k, log=math.log2):
    return -sum(c / k * log(c / k) for c in counts)


@register("type_entropy", reference=type_entropy_reference)
def check_type_entropy(fn):
    """``fn(types)`` with ``types (n_units, k)`` integer token ids returns each row's entropy in bits, ``(n_units,)``."""
    types = _types()
    k = types.shape[1]
    expected = type_entropy_reference(types)
    counts = lambda row: [row.count(t) for t in sorted(set(row))]
    got = call_student(fn, types.clone())
    if isinstance(got, (tuple, list)) and len(got) == 2 and all(hasattr(g, "shape") for g in got):
        raise Mismatch("return the entropies alone, one number per unit (shape (n_units,)).")
    values = _as_tensor(got, "your entropy per unit")
    if values.is_floating_point() and torch.isnan(values).any():
        raise Mismatch("your entropy is NaN for some units: a token type that does not occur has q = 0, and "
                       "0 log 0 counts as 0 (only sum over the types that occur, or use torch.where(q > 0, ...)).")
    pooled = torch.bincount(types.flatten()).double()
    pooled = pooled[pooled > 0] / types.numel()
    compare(got, expected, what="your entropy per unit", diagnoses={
        "you used the natural log: the entropy here is in bits, so use log2 (or divide by log 2).":
            _per_row(types, lambda r: _entropy_of(counts(r), k, math.log)),
        "you returned the number of distinct token types; the exercise asks for the entropy of their "
        "distribution, -sum_t q_t log2 q_t.": _per_row(types, lambda r: float(len(set(r)))),
        "you returned 2**H (the effective number of types); return the entropy H itself, in bits.":
            2 ** expected,
        "your entropies are negative: H = -sum_t q_t log2 q_t has a minus sign (log2 q_t <= 0).": -expected,
        "you used the counts instead of the fractions: q_t is the count of token t divided by k.":
            _per_row(types, lambda r: -sum(c * math.log2(c) for c in counts(r))),
        "every row gives log2 k: you counted positions, not token types. Group equal token ids first and "
        "count how often each occurs.": torch.full((types.shape[0],), math.log2(k), dtype=torch.float64),
        "you pooled all units together: compute one distribution of token types per row (unit).":
            torch.full((types.shape[0],), float(-(pooled * pooled.log2()).sum()), dtype=torch.float64),
    })


register_answer(
    "random_rms_cosine", tolerance=0.01,
    explanation="For independent random directions u, v in d dimensions, E[cos^2(u, v)] = 1/d (each of the d "
                "coordinates of one unit vector, seen from the other, carries 1/d of its squared length on "
                "average), so the RMS cosine is 1/sqrt(d) = 1/sqrt(384) = 0.051.")

register_answer(
    "ablation_effect", choices=["beyond the controls", "within the controls"],
    explanation="Read the z columns: each is the latent's change of similarity minus the controls' mean, in units "
                "of the controls' standard deviation. An effect counts as beyond the controls only where |z| > 2.")

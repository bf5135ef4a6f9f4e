"""Typical mistakes and correct variants for the exercises added to chapters 0, 1b, 2 and 3 (function
exercises); tests/test_checks_mistakes.py runs them with every other checker's cases, including the
tests that every diagnosis is reachable and differs from the right answer."""

from __future__ import annotations

import math

import numpy as np
import torch


def _dirs(angles):
    return torch.stack([angles.cos(), angles.sin()])


def _spread(n):
    return _dirs(torch.arange(n) * math.pi / n)


MISTAKES = [
    # 0.2 evenly spread directions
    ("spread_directions", lambda n: _dirs(torch.arange(n) * 2 * math.pi / n), "over the whole circle"),
    ("spread_directions", lambda n: _dirs(torch.linspace(0, math.pi, n)), "first and last directions are opposite"),
    ("spread_directions", lambda n: _dirs(torch.arange(1, n + 1) * math.pi / n), "start at 0"),
    ("spread_directions", lambda n: _dirs(torch.arange(n) * 180.0 / n), "as degrees"),
    ("spread_directions", lambda n: _spread(n).flip(0), "swapped the coordinates"),
    ("spread_directions", lambda n: _spread(n).T, "one direction per row"),
    ("spread_directions", lambda n: 2 * _spread(n), "differs from the reference"),
]

VARIANTS = [
    ("spread_directions", lambda n: _dirs(torch.arange(n, dtype=torch.float64) * math.pi / n)),
    ("spread_directions", lambda n: _dirs(torch.linspace(0, math.pi, n + 1)[:-1])),
    ("spread_directions", lambda n: np.stack([np.cos(np.arange(n) * np.pi / n), np.sin(np.arange(n) * np.pi / n)])),
    ("spread_directions", lambda n: [[math.cos(k * math.pi / n) for k in range(n)],
                                     [math.sin(k * math.pi / n) for k in range(n)]]),
]

"""The numbers the Getting-started chapter's prose relies on."""

import math

import torch


def spread(n):
    angles = torch.arange(n, dtype=torch.float64) * math.pi / n
    return torch.stack([angles.cos(), angles.sin()])


def worst_and_mean_overlap(W):
    unit = W / W.norm(dim=0, keepdim=True)
    gram = (unit.T @ unit).abs()
    off = gram[~torch.eye(W.shape[1], dtype=torch.bool)]
    return off.max().item(), off.mean().item()


def test_evenly_spread_lines_overlap_cos_pi_over_n():
    for n in range(2, 9):
        worst = worst_and_mean_overlap(spread(n))[0]
        assert abs(worst - math.cos(math.pi / n)) < 1e-9 or (n == 2 and worst < 1e-9)


def test_random_directions_almost_orthogonal_in_high_dimension():
    W2 = torch.randn(2, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    W100 = torch.randn(100, 1000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    worst2, _ = worst_and_mean_overlap(W2)
    worst100, mean100 = worst_and_mean_overlap(W100)
    assert worst2 > 0.99  # ten random lines in the plane: an almost parallel pair
    assert worst100 < math.cos(math.pi / 5)  # 1000 in d = 100: better than five evenly spread lines in d = 2
    assert abs(mean100 - math.sqrt(2 / (math.pi * 100))) < 0.005  # E|cos| ~ sqrt(2 / (pi d))


def test_four_times_the_dimensions_halve_the_mean_overlap():
    W100 = torch.randn(100, 1000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    W400 = torch.randn(400, 1000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    (worst100, mean100), (worst400, mean400) = worst_and_mean_overlap(W100), worst_and_mean_overlap(W400)
    assert abs(mean400 - math.sqrt(2 / (math.pi * 400))) < 0.003
    assert 0.45 < mean400 / mean100 < 0.55
    assert worst400 < worst100

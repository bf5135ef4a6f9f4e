"""Every number chapter 5 states in its prose, recomputed on the same setup."""

import math

import pytest
import torch

from superpos_lib.rip import (coherence_guarantee, extreme_singular_values, mutual_coherence, rip_lower_bound,
                              welch_bound)
from superpos_lib.sensing import dt_curve, gaussian_matrix
from superpos_lib.toy_models import ToyModel, train


def seeded(seed):
    return torch.Generator().manual_seed(seed)


def test_greedy_search_finds_larger_constants_than_random_sampling():
    A = gaussian_matrix(40, 120, generator=seeded(0), dtype=torch.float64)
    for s in (2, 4, 8, 12):
        rnd = rip_lower_bound(A, s, n_supports=2000, method="random", generator=seeded(1)).delta.item()
        gre = rip_lower_bound(A, s, n_supports=2000, method="greedy", generator=seeded(1)).delta.item()
        assert gre > rnd + 0.1


def test_coherence_numbers():
    angles = torch.tensor([90.0, 210.0, 330.0], dtype=torch.float64) * math.pi / 180
    mercedes = torch.stack([angles.cos(), angles.sin()])
    assert mutual_coherence(mercedes).item() == pytest.approx(welch_bound(2, 3)) == pytest.approx(0.5)
    for m, n, k_dt in ((20, 200, 3.8), (100, 200, 38.6)):
        G = gaussian_matrix(m, n, generator=seeded(2), dtype=torch.float64)
        mu = mutual_coherence(G).item()
        assert 3.5 < mu / welch_bound(m, n) < 5.5  # "about 4 to 5 times the Welch bound"
        assert 1 < coherence_guarantee(mu) <= 2  # guarantees k = 1 only
        assert dt_curve(m / n) * m == pytest.approx(k_dt, abs=0.05)


def test_singular_values_inside_gordon_bounds():
    m = 200
    A = gaussian_matrix(m, 1000, generator=seeded(3), dtype=torch.float64)
    for s in (5, 10, 20, 40, 80, 120, 160):
        lo, hi = extreme_singular_values(A, s, 200, generator=seeded(4))
        assert 1 - math.sqrt(s / m) < lo.mean().item() < 1 - math.sqrt(s / m) + 0.05
        assert 1 + math.sqrt(s / m) - 0.05 < hi.mean().item() < 1 + math.sqrt(s / m)


def test_rip_guarantee_reaches_at_most_s_equal_1():
    G = gaussian_matrix(100, 200, generator=seeded(5), dtype=torch.float64)
    d2 = rip_lower_bound(G, 2, n_supports=1000, method="greedy", generator=seeded(6)).delta.item()
    d4 = rip_lower_bound(G, 4, n_supports=1000, method="greedy", generator=seeded(6)).delta.item()
    assert d2 < 1 / math.sqrt(2) < d4
    assert round(dt_curve(0.5) * 100) == 39


def test_trained_geometry():
    W = {}
    for name, (n, d, p, steps, lr) in {"pentagon": (5, 2, 0.05, 5000, 1e-2),
                                       "antipodal": (4, 2, 0.15, 5000, 1e-2),
                                       "big": (200, 20, 0.02, 3000, 1e-3)}.items():
        model = ToyModel(n, d, feature_probability=p, seed=0)
        train(model, steps=steps, batch_size=1024, lr=lr, seed=0, progress=False)
        W[name] = model.W.detach()[0].double()
    mu_pent = mutual_coherence(W["pentagon"]).item()
    assert 0.78 < mu_pent < 0.85 and mu_pent > welch_bound(2, 5)  # |cos 144 deg| = 0.81 > sqrt(3/8)
    angles = torch.atan2(W["pentagon"][1], W["pentagon"][0]).sort().values
    gaps = torch.diff(torch.cat([angles, angles[:1] + 2 * math.pi])) * 180 / math.pi
    assert (gaps - 72).abs().max() < 5  # five directions 72 degrees apart
    assert mutual_coherence(W["antipodal"]).item() > 0.99
    gauss = gaussian_matrix(20, 200, generator=seeded(7), dtype=torch.float64)
    mu_big, mu_gauss = mutual_coherence(W["big"]).item(), mutual_coherence(gauss).item()
    assert welch_bound(20, 200) * 2 < mu_big < mu_gauss - 0.1
    d4 = rip_lower_bound(W["big"], 4, n_supports=1000, method="greedy", generator=seeded(8)).delta.item()
    d4_g = rip_lower_bound(gauss, 4, n_supports=1000, method="greedy", generator=seeded(8)).delta.item()
    assert d4 < d4_g

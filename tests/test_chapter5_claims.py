"""Every number chapter 5 states in its prose, recomputed on the same setup. The assertions are what theory
guarantees (exact constants, orderings, bounds), not today's digits."""

import math

import pytest
import torch

from superpos_lib.rip import (coherence_guarantee, etf_possible, extreme_singular_values, frame_potential_ratio,
                              gershgorin_upper_bound, mutual_coherence, rip_exhaustive, rip_lower_bound, rms_coherence,
                              scale_optimal_delta, signed_coherence, welch_bound)
from superpos_lib.sensing import dt_curve, gaussian_matrix
from superpos_lib.toy_models import ToyModel, train


def seeded(seed):
    return torch.Generator().manual_seed(seed)


def test_greedy_search_beats_random_sampling_and_is_exact_for_small_s():
    A = gaussian_matrix(40, 120, generator=seeded(0), dtype=torch.float64)
    mu = mutual_coherence(A).item()
    for s in (2, 3, 4, 8, 12):
        rnd = rip_lower_bound(A, s, n_supports=2000, method="random", generator=seeded(1))
        gre = rip_lower_bound(A, s, n_supports=2000, method="greedy", generator=seeded(1))
        assert gre.delta.item() > rnd.delta.item() + 0.1
        if s <= 3:
            exact = rip_exhaustive(A, s)
            assert gre.L.item() == pytest.approx(exact.L.item(), abs=1e-9)
            assert gre.U.item() == pytest.approx(exact.U.item(), abs=1e-9)
        if s >= 4:
            assert gershgorin_upper_bound(mu, s) > 1  # useless above 1


def test_coherence_numbers():
    angles = torch.tensor([90.0, 210.0, 330.0], dtype=torch.float64) * math.pi / 180
    mercedes = torch.stack([angles.cos(), angles.sin()])
    assert mutual_coherence(mercedes).item() == pytest.approx(welch_bound(2, 3)) == pytest.approx(0.5)
    assert not etf_possible(2, 5)[0] and not etf_possible(20, 200)[0] and not etf_possible(100, 200)[0]
    for m, n, k_dt in ((20, 200, 3.8), (100, 200, 38.6)):
        G = gaussian_matrix(m, n, generator=seeded(2), dtype=torch.float64)
        mu = mutual_coherence(G).item()
        assert 3.5 < mu / welch_bound(m, n) < 5.5  # "about 4 to 5 times the Welch value"
        assert 1 < coherence_guarantee(mu) <= 2  # guarantees k = 1 only
        assert dt_curve(m / n) * m == pytest.approx(k_dt, abs=0.05)


def test_singular_values_inside_gordon_bounds():
    m = 200
    A = gaussian_matrix(m, 1000, generator=seeded(3), dtype=torch.float64)
    for s in (5, 10, 20, 40, 80, 120, 160):
        lo, hi = extreme_singular_values(A, s, 200, generator=seeded(4))
        assert 1 - math.sqrt(s / m) < lo.mean().item() < 1 - math.sqrt(s / m) + 0.05
        assert 1 + math.sqrt(s / m) - 0.05 < hi.mean().item() < 1 + math.sqrt(s / m)


def test_rip_guarantee_at_the_best_scaling():
    """The sampled delta_4 exceeds 1/sqrt 2, but the scale-optimal one does not: s = 2 is not ruled out;
    from s = 3 the scale-optimal lower bound exceeds 1/sqrt 2."""
    G = gaussian_matrix(100, 200, generator=seeded(5), dtype=torch.float64)
    rows = {}
    for s in (1, 2, 3, 4, 6, 8):
        b = rip_lower_bound(G, 2 * s, n_supports=1000, method="greedy", generator=seeded(6))
        rows[s] = (b.L.item(), b.U.item(), b.delta.item(), scale_optimal_delta(b.L.item(), b.U.item()))
        assert rows[s][1] >= rows[s][0] - 1e-12  # U >= L in every row (equal at 2s = 2, where both are mu)
        assert rows[s][3] <= rows[s][2] + 1e-6  # rescaling never hurts
    assert rows[2][2] > 1 / math.sqrt(2) > rows[2][3]
    assert all(rows[s][3] > 1 / math.sqrt(2) for s in (3, 4, 6, 8))
    assert round(dt_curve(0.5) * 100) == 39


def test_scale_optimal_delta_is_the_minimum_over_scalings():
    L, U = 0.608, 0.722
    cs = torch.linspace(0.5, 1.5, 20001, dtype=torch.float64)
    deltas = torch.maximum(1 - cs ** 2 * (1 - L), cs ** 2 * (1 + U) - 1)  # constants of c A
    assert deltas.min().item() == pytest.approx(scale_optimal_delta(L, U), abs=1e-4)
    assert deltas.min().item() >= scale_optimal_delta(L, U) - 1e-12


@pytest.fixture(scope="module")
def models():
    out = {}
    for name, (n, d, p, steps, lr) in {"pentagon": (5, 2, 0.05, 5000, 1e-2),
                                       "antipodal": (4, 2, 0.15, 5000, 1e-2),
                                       "big": (200, 20, 0.02, 3000, 1e-3)}.items():
        model = ToyModel(n, d, feature_probability=p, seed=0)
        train(model, steps=steps, batch_size=1024, lr=lr, seed=0, progress=False)
        out[name] = model.W.detach()[0].double()
    return out


def test_pentagon_is_the_optimal_packing_of_five_lines(models):
    mu = mutual_coherence(models["pentagon"]).item()
    assert mu > welch_bound(2, 5)  # Welch cannot be met (Gerzon)
    assert mu == pytest.approx(math.cos(math.pi / 5), abs=0.02)  # cos 36 deg, the optimum for 5 lines
    angles = torch.atan2(models["pentagon"][1], models["pentagon"][0]).sort().values
    gaps = torch.diff(torch.cat([angles, angles[:1] + 2 * math.pi])) * 180 / math.pi
    assert (gaps - 72).abs().max() < 5


def test_antipodal_pairs_have_only_negative_overlap(models):
    mu_p, mu_m = signed_coherence(models["antipodal"])
    assert mu_m > 0.99 and mu_p < 0.05


def test_learned_big_model_is_a_tight_frame_with_small_positive_coherence(models):
    W = models["big"]
    gauss = gaussian_matrix(20, 200, generator=seeded(7), dtype=torch.float64)
    assert frame_potential_ratio(W) == pytest.approx(1.0, abs=0.005)
    assert rms_coherence(W) == pytest.approx(welch_bound(20, 200), abs=0.005)
    assert frame_potential_ratio(gauss) > 1.05
    Wn, Gn = W / W.norm(dim=0), gauss / gauss.norm(dim=0)
    sv, sv_g = torch.linalg.svdvals(Wn), torch.linalg.svdvals(Gn)
    assert (sv.max() / sv.min()).item() < 1.1 < 1.5 < (sv_g.max() / sv_g.min()).item()
    mu, mu_g = mutual_coherence(W).item(), mutual_coherence(gauss).item()
    assert welch_bound(20, 200) * 2 < mu < mu_g - 0.1
    assert signed_coherence(W)[0] < mu - 0.1  # positive overlaps much smaller than |cos|
    for name, M in {"pentagon": models["pentagon"], "big": W}.items():
        assert signed_coherence(M)[0] < mutual_coherence(M).item()
    assert rip_exhaustive(W, 3).delta.item() < rip_exhaustive(gauss, 3).delta.item()


def test_exercise_greedy_swap_finds_the_exact_U3_with_a_tenth_of_the_random_budget():
    """Exercises 5.1 and 5.2 as the chapter runs them: the reference functions reproduce the random column and
    the greedy search (8 starts x 25 steps) reaches the exact U_3, above 2000 random supports."""
    from superpos_lib.checks import reference_implementation

    swap, sampled = reference_implementation("greedy_swap"), reference_implementation("sampled_rip")
    A = gaussian_matrix(40, 120, generator=seeded(0), dtype=torch.float64)
    supports = torch.rand(1, 2000, 120, generator=seeded(1)).argsort(dim=-1)[0, :, :4]
    random4 = rip_lower_bound(A, 4, n_supports=2000, method="random", generator=seeded(1))
    assert float(sampled(A, supports)) == pytest.approx(float(random4.delta), abs=1e-12)
    An, gen, best = A / A.norm(dim=0), seeded(5), 0.0
    for _ in range(8):
        S = torch.randperm(120, generator=gen)[:3]
        for _ in range(25):
            best = max(best, torch.linalg.eigvalsh(An[:, S].T @ An[:, S])[-1].item() - 1)
            S = swap(An, S)
    exact = rip_exhaustive(A, 3)
    random3 = rip_lower_bound(A, 3, n_supports=2000, method="random", generator=seeded(1))
    assert best == pytest.approx(float(exact.U), abs=1e-9) and best > float(random3.U) + 0.1

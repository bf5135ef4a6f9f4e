import itertools
import math

import pytest
import torch

from superpos_lib import rip as R
from superpos_lib.sensing import gaussian_matrix


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def mercedes():
    angles = torch.tensor([0.0, 2 * math.pi / 3, 4 * math.pi / 3], dtype=torch.float64)
    return torch.stack([angles.cos(), angles.sin()])  # (2, 3)


def exact_rip(A, s):
    """Brute force over all supports (small n only)."""
    An = R.normalize_columns(A).double()
    lo, hi = math.inf, -math.inf
    for S in itertools.combinations(range(A.shape[1]), s):
        eig = torch.linalg.eigvalsh(An[:, list(S)].T @ An[:, list(S)])
        lo, hi = min(lo, eig[0].item()), max(hi, eig[-1].item())
    return max(0.0, 1 - lo), max(0.0, hi - 1)


def test_normalize_columns_and_coherence():
    A = torch.tensor([[3.0, 0.0, 1.0], [4.0, 2.0, 1.0]])
    An = R.normalize_columns(A)
    assert torch.allclose(An.norm(dim=0), torch.ones(3))
    cos = (An.T @ An).abs().fill_diagonal_(0).max()
    assert R.mutual_coherence(A).item() == pytest.approx(cos.item())
    assert R.mutual_coherence(torch.eye(4)).item() == 0
    batch = torch.stack([A, A * 2])
    assert R.mutual_coherence(batch).shape == (2,)


def test_mercedes_frame_meets_the_welch_bound():
    assert R.mutual_coherence(mercedes()).item() == pytest.approx(0.5)
    assert R.welch_bound(2, 3) == pytest.approx(0.5)
    # the simplex frame: n = m + 1 vectors, coherence 1/m = Welch bound
    m = 5
    E = torch.eye(m + 1, dtype=torch.float64) - 1 / (m + 1)
    simplex = torch.linalg.svd(E).U[:, :m].T @ E  # coordinates in the m-dim subspace, (m, m+1)
    assert R.mutual_coherence(simplex).item() == pytest.approx(1 / m)
    assert R.welch_bound(m, m + 1) == pytest.approx(1 / m)


def test_gaussian_coherence_far_above_welch():
    A = gaussian_matrix(20, 200, generator=gen(0))
    assert R.mutual_coherence(A).item() > 3 * R.welch_bound(20, 200)
    assert R.welch_bound(10, 5) == 0.0


def test_coherence_guarantee():
    assert R.coherence_guarantee(0.5) == pytest.approx(1.5)
    assert R.coherence_guarantee(0.0) == math.inf
    assert torch.allclose(R.coherence_guarantee(torch.tensor([0.5, 0.25])), torch.tensor([1.5, 2.5]))
    for bad in (-0.1, 1.5, float("nan"), "x"):
        with pytest.raises(ValueError, match="mu"):
            R.coherence_guarantee(bad)


@pytest.mark.parametrize("call,word", [
    (lambda: R.welch_bound(0, 3), "m"), (lambda: R.welch_bound(2, 1), "n"),
    (lambda: R.mutual_coherence(torch.ones(3, 1)), "A"), (lambda: R.mutual_coherence(torch.zeros(2, 2)), "A"),
    (lambda: R.mutual_coherence(torch.ones(3)), "A"),
    (lambda: R.mutual_coherence(torch.tensor([[1.0, float("nan")], [0.0, 1.0]])), "A"),
    (lambda: R.rip_lower_bound(torch.randn(4, 6), 7), "s"), (lambda: R.rip_lower_bound(torch.randn(4, 6), 0), "s"),
    (lambda: R.rip_lower_bound(torch.randn(4, 6), 2, method="exact"), "method"),
    (lambda: R.rip_lower_bound(torch.randn(4, 6), 2, n_supports=0), "n_supports"),
    (lambda: R.extreme_singular_values(torch.randn(4, 6), 5, 10), "s"),
    (lambda: R.extreme_singular_values(torch.randn(2, 4, 6), 2, 10), "A"),
])
def test_bad_inputs(call, word):
    with pytest.raises(ValueError, match=word):
        call()


@pytest.mark.parametrize("method", ["random", "greedy"])
def test_rip_lower_bounds_are_lower_bounds(method):
    A = gaussian_matrix(6, 12, generator=gen(1), dtype=torch.float64)
    for s in (2, 3):
        L, U = exact_rip(A, s)
        bound = R.rip_lower_bound(A, s, n_supports=200, method=method, generator=gen(2))
        assert bound.L.item() <= L + 1e-9 and bound.U.item() <= U + 1e-9
        assert bound.delta.item() == pytest.approx(max(bound.L.item(), bound.U.item()))
    # s = 2: the constants are the coherence (eigenvalues 1 +- |cos|); greedy starts from that pair
    mu = R.mutual_coherence(A).item()
    if method == "greedy":
        b2 = R.rip_lower_bound(A, 2, n_supports=200, method="greedy", generator=gen(3))
        assert b2.U.item() == pytest.approx(mu) and b2.L.item() == pytest.approx(mu)
        assert R.rip_lower_bound(A, 4, n_supports=200, method="greedy", generator=gen(3)).delta.item() >= mu


def test_greedy_beats_random_for_the_same_budget():
    A = gaussian_matrix(30, 120, batch=3, generator=gen(4), dtype=torch.float64)
    for s in (5, 10):
        rnd = R.rip_lower_bound(A, s, n_supports=300, method="random", generator=gen(5))
        gre = R.rip_lower_bound(A, s, n_supports=300, method="greedy", generator=gen(5))
        assert rnd.delta.shape == (3,)
        assert (gre.U > rnd.U).all() and (gre.delta > rnd.delta).all()


def test_extreme_singular_values_follow_bai_yin():
    m, s = 200, 20
    A = gaussian_matrix(m, 400, generator=gen(6), dtype=torch.float64)
    smin, smax = R.extreme_singular_values(A, s, 200, generator=gen(7))
    assert smin.shape == smax.shape == (200,)
    assert (smin <= smax).all()
    assert smin.mean().item() == pytest.approx(1 - math.sqrt(s / m), abs=0.06)
    assert smax.mean().item() == pytest.approx(1 + math.sqrt(s / m), abs=0.06)


# ------------------------------------------------------------------ exact constants, scaling, frames
def test_rip_exhaustive_matches_brute_force_eigenvalues():
    import itertools

    from superpos_lib.rip import normalize_columns, rip_exhaustive

    A = gaussian_matrix(6, 11, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    An = normalize_columns(A)
    for s in (1, 2, 3, 4):
        eig = torch.stack([torch.linalg.eigvalsh(An[:, list(S)].T @ An[:, list(S)])[[0, -1]]
                           for S in itertools.combinations(range(11), s)])
        r = rip_exhaustive(A, s, chunk=17)
        assert r.L.item() == pytest.approx(max(0.0, 1 - eig[:, 0].min().item()), abs=1e-10)
        assert r.U.item() == pytest.approx(max(0.0, eig[:, 1].max().item() - 1), abs=1e-10)
    with pytest.raises(ValueError, match="max_supports"):
        rip_exhaustive(gaussian_matrix(20, 200, generator=torch.Generator().manual_seed(0)), 5)
    with pytest.raises(ValueError, match="s must"):
        rip_exhaustive(A, 7)


def test_scale_optimal_delta_and_gershgorin():
    from superpos_lib.rip import gershgorin_upper_bound, scale_optimal_delta

    assert scale_optimal_delta(0.0, 0.0) == 0.0
    assert scale_optimal_delta(0.608, 0.722) == pytest.approx(1.330 / 2.114, abs=1e-4)
    t = scale_optimal_delta(torch.tensor([0.1, 0.5]), torch.tensor([0.3, 0.5]))
    assert isinstance(t, torch.Tensor) and t.shape == (2,)
    with pytest.raises(ValueError, match="L"):
        scale_optimal_delta(1.5, 0.2)
    with pytest.raises(ValueError, match="U"):
        scale_optimal_delta(0.5, -0.2)
    assert gershgorin_upper_bound(0.3, 3) == pytest.approx(0.6)
    with pytest.raises(ValueError):
        gershgorin_upper_bound(1.3, 3)


def test_frames_and_signed_coherence():
    import math

    from superpos_lib.rip import etf_possible, frame_potential_ratio, rms_coherence, signed_coherence, welch_bound

    angles = torch.tensor([90.0, 210.0, 330.0], dtype=torch.float64) * math.pi / 180
    mercedes = torch.stack([angles.cos(), angles.sin()])
    assert frame_potential_ratio(mercedes) == pytest.approx(1.0)
    assert rms_coherence(mercedes) == pytest.approx(welch_bound(2, 3))
    assert signed_coherence(mercedes) == pytest.approx((0.0, 0.5))
    pairs = torch.tensor([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0]], dtype=torch.float64)
    assert signed_coherence(pairs) == pytest.approx((0.0, 1.0))
    assert etf_possible(2, 3)[0] and not etf_possible(2, 4)[0] and etf_possible(3, 6)[0]
    assert etf_possible(7, 28)[0] and not etf_possible(20, 200)[0] and not etf_possible(100, 200)[0]
    G = gaussian_matrix(10, 40, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert frame_potential_ratio(G) > 1 and rms_coherence(G) > welch_bound(10, 40)

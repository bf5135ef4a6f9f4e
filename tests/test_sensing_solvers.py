"""Non-negative basis pursuit, the optimality report of recover, the per-problem stopping rules, the
normalised OMP selection, exact-K hard thresholding and the integer-k phase-transition grid."""

import numpy as np
import pytest
import torch

from superpos_lib import sensing as S
from superpos_lib.sensing.iht import _hard_threshold


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("shared", [True, False])
def test_nonnegative_basis_pursuit_matches_linprog(shared):
    from scipy.optimize import linprog

    m, n, batch = 20, 60, 12
    g = gen(3)
    A = S.gaussian_matrix(m, n, batch=None if shared else batch, generator=g, dtype=torch.float64)
    x = S.sparse_signals(batch, n, torch.arange(batch) % 10 + 1, signed=False, generator=g, dtype=torch.float64)
    y = x @ A.T if shared else (A @ x.unsqueeze(-1))[..., 0]
    xh, info = S.recover(A, y, method="l1", nonnegative=True, return_info=True)
    assert info["certified"].dtype == torch.bool and info["certified"].shape == (batch,)
    assert (xh >= 0).all()
    for i in range(batch):
        a = (A if shared else A[i]).numpy()
        ref = linprog(np.ones(n), A_eq=a, b_eq=y[i].numpy(), bounds=(0, None), method="highs").x
        assert abs(xh[i].sum().item() - ref.sum()) < 1e-6 * max(1, ref.sum())
        assert info["certified"][i]


def test_nonnegative_bp_recovers_beyond_signed_bp():
    # at delta = 0.5, rho = 0.5 the signed transition (0.386) is passed, the non-negative one (0.558) is not
    m, n, k, batch = 60, 120, 28, 40
    g = gen(4)
    A = S.gaussian_matrix(m, n, batch=batch, generator=g, dtype=torch.float64)
    x = S.sparse_signals(batch, n, k, signed=False, generator=g, dtype=torch.float64)
    y = (A @ x.unsqueeze(-1))[..., 0]
    nn = S.recovery_success(S.recover(A, y, method="l1", nonnegative=True), x).double().mean()
    sg = S.recovery_success(S.recover(A, y, method="l1"), x).double().mean()
    assert nn > sg + 0.3


def test_uncertified_problems_are_reported():
    m, n, batch = 30, 100, 6
    g = gen(5)
    A = S.gaussian_matrix(m, n, batch=batch, generator=g, dtype=torch.float64)
    x = S.sparse_signals(batch, n, 25, generator=g, dtype=torch.float64)  # far above the transition
    y = (A @ x.unsqueeze(-1))[..., 0]
    _, info = S.recover(A, y, method="l1", max_iter=20, return_info=True)
    assert not info["certified"].any()  # 20 iterations certify nothing here
    assert (info["hit_max_iter"] | info["stalled"]).all()
    _, info = S.recover(A[:, :, :], (A @ S.sparse_signals(batch, n, 2, generator=g, dtype=torch.float64).unsqueeze(-1))[..., 0],
                        method="l1", return_info=True)
    assert info["certified"].all() and (info["iterations"] < 1500).all()


def test_lasso_stops_each_problem_on_its_own_change():
    # one problem with a tiny signal next to a large one: the old rule (largest change vs largest norm) stopped early
    from sklearn.linear_model import Lasso

    m, n = 30, 60
    g = gen(6)
    A = S.gaussian_matrix(m, n, generator=g, dtype=torch.float64)
    x = S.sparse_signals(2, n, 4, generator=g, dtype=torch.float64, amplitudes="gaussian")
    x[0] *= 1e-3
    y = x @ A.T
    lam = 1e-5
    xh, info = S.recover(A, y, method="lasso", lam=lam, tol=1e-10, max_iter=50000, return_info=True)
    assert info["converged"].all()
    ref = Lasso(alpha=lam / m, fit_intercept=False, tol=1e-14, max_iter=200000).fit(A.numpy(), y[0].numpy()).coef_
    assert np.abs(xh[0].numpy() - ref).max() < 1e-3 * np.abs(ref).max()


def test_nonnegative_lasso_is_nonnegative():
    A = S.gaussian_matrix(20, 40, generator=gen(7), dtype=torch.float64)
    y = torch.randn(5, 20, generator=gen(8), dtype=torch.float64)
    xh = S.recover(A, y, method="lasso", lam=0.01, nonnegative=True)
    assert (xh >= 0).all()


def test_omp_selects_by_normalised_correlation():
    # column 0 is parallel to y but short; column 1 is long and less aligned: raw |a^T y| would pick 1
    A = torch.tensor([[0.1, 3.0, 0.0], [0.0, 3.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    for A_in, yy in ((A, y), (A.unsqueeze(0), y)):
        xh, info = S.recover(A_in, yy, method="omp", k=1, return_info=True)
        assert xh[0, 0] != 0 and xh[0, 1] == 0 and info["steps"][0] == 1


def test_hard_threshold_keeps_exactly_k_with_ties():
    v = torch.tensor([1.0, -1.0, 1.0, 0.5]).view(1, 4, 1)
    out = _hard_threshold(v, torch.tensor([[2]]))
    assert (out != 0).sum() == 2


def test_iht_reports_convergence():
    A = S.gaussian_matrix(60, 120, batch=4, generator=gen(9), dtype=torch.float64)
    x = S.sparse_signals(4, 120, 5, generator=gen(10), dtype=torch.float64)
    y = (A @ x.unsqueeze(-1))[..., 0]
    xh, info = S.recover(A, y, method="iht", k=5, return_info=True)
    assert info["converged"].all() and S.recovery_success(xh, x).all()


def test_phase_transition_integer_grid_without_k0_and_standard_errors():
    rates, info = S.phase_transition(50, [0.1, 0.5], [0.02, 0.3, 0.9], trials=4, method="l1", return_info=True,
                                     generator=gen(11), progress=False)
    assert (info["k"] >= 1).all()
    assert info["k"][0, 0] == 1 and info["k"][:, 1].tolist() == [1, 8, 23]
    assert torch.allclose(info["rho"], info["k"].double() / torch.tensor([5.0, 25.0]))
    assert torch.allclose(info["se"], (rates * (1 - rates) / 4).sqrt())


def test_transition_point_standard_error_shrinks_with_trials():
    rhos = torch.linspace(0.2, 0.6, 9, dtype=torch.float64)
    rates = torch.sigmoid(-(rhos - 0.4) * 30).view(-1, 1)
    r50, se, width = S.transition_point(rhos, rates, trials=20, return_se=True)
    r50b, se_b, _ = S.transition_point(rhos, rates, trials=2000, return_se=True)
    assert abs(width.item() - 1 / 30) < 1e-6
    assert abs(r50.item() - 0.4) < 1e-6 and abs(r50b.item() - 0.4) < 1e-6
    assert 0 < se_b.item() < se.item() / 5
    r50c = S.transition_point(rhos.view(-1, 1), rates, trials=20)  # rhos given per cell
    assert abs(r50c.item() - 0.4) < 1e-6

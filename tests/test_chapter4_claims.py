"""Every number chapter 4 states in its prose, recomputed on the same or a smaller setup."""

import pytest
import torch

from superpos_lib.data import sparse_features
from superpos_lib.sensing import (capacity_asymptotic, dt_curve, gaussian_matrix, phase_transition, recover,
                                  relative_error, sparse_signals, transition_point)
from superpos_lib.toy_models import ToyModel, train


def test_l1_exact_where_least_squares_is_dense():
    g = torch.Generator().manual_seed(0)
    A = gaussian_matrix(40, 100, generator=g, dtype=torch.float64)
    x = sparse_signals(1, 100, 8, generator=g, dtype=torch.float64)
    y = x @ A.T
    assert relative_error(recover(A, y, method="l1"), x).item() < 1e-10
    x_l2 = y @ torch.linalg.pinv(A).T
    assert relative_error(x_l2, x).item() > 0.5 and (x_l2.abs() > 1e-8).sum() == 100


def test_fifty_percent_points_near_dt_curve_small_version():
    """Chapter: n = 200, 40 trials; here n = 100, 30 trials, same grid around the curve."""
    offsets = (-0.1, -0.075, -0.05, -0.025, 0, 0.025, 0.05, 0.075, 0.1)
    for delta in (0.2, 0.5, 0.7):
        theory = dt_curve(delta)
        grid = [round(theory + o, 4) for o in offsets]
        rates = phase_transition(100, [delta], grid, trials=30, method="l1", group_size=10,
                                 generator=torch.Generator().manual_seed(2), progress=False)
        assert abs(transition_point(grid, rates, trials=30).item() - theory) < 0.04


def test_omp_fails_well_below_the_l1_curve_with_equal_amplitudes():
    kwargs = dict(trials=20, group_size=10, progress=False)
    l1 = phase_transition(100, [0.5], [0.25], method="l1", generator=torch.Generator().manual_seed(1), **kwargs)
    omp = phase_transition(100, [0.5], [0.25], method="omp", generator=torch.Generator().manual_seed(1), **kwargs)
    iht = phase_transition(100, [0.5], [0.25], method="iht", generator=torch.Generator().manual_seed(1), **kwargs)
    assert 0.25 < dt_curve(0.5) - 0.1
    assert l1.item() >= 0.9 and omp.item() <= 0.3
    assert omp.item() <= iht.item() <= l1.item()


def test_capacity_formula_numbers():
    for delta in (1e-4, 0.01):
        assert abs(capacity_asymptotic(delta) / dt_curve(delta) - 1) < 0.03
    assert capacity_asymptotic(0.1) / dt_curve(0.1) == pytest.approx(1.146, abs=0.001)
    assert capacity_asymptotic(0.5) / dt_curve(0.5) == pytest.approx(1.87, abs=0.005)  # "overshoots by about 87%"
    assert round(capacity_asymptotic(0.5, n=1000)) == 361 and round(dt_curve(0.5) * 500) == 193


def test_toy_model_read_out():
    model = ToyModel(100, 20, feature_probability=0.03, seed=0)
    train(model, steps=3000, batch_size=1024, lr=1e-3, seed=0, progress=False)
    W = model.W.detach()[0].double()
    b = model.b.detach()[0].double()
    assert b.median().item() == pytest.approx(-0.4, abs=0.05)
    f = sparse_features(4000, 1, 100, 0.03, generator=torch.Generator().manual_seed(3))[:, 0].double()
    f = f[(f != 0).any(dim=1)]
    h = f @ W.T
    err_relu = relative_error(torch.relu(h @ W + b), f)
    err_l1 = relative_error(recover(W, h, method="l1"), f)
    W_gauss = gaussian_matrix(20, 100, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    err_gauss = relative_error(recover(W_gauss, f @ W_gauss.T, method="l1"), f)
    k = (f != 0).sum(dim=1)
    exact = {kk: (err_l1[k == kk] < 1e-4).double().mean().item() for kk in range(1, 8)}
    exact_gauss = {kk: (err_gauss[k == kk] < 1e-4).double().mean().item() for kk in range(1, 8)}
    assert min(exact[1], exact[2], exact[3]) >= 0.95  # exact when few features are present
    assert max(exact[6], exact[7]) <= 0.35  # fails beyond a handful
    assert all(exact[kk] >= exact_gauss[kk] - 0.05 for kk in range(1, 8))  # at least as good as Gaussian
    medians = [err_relu[k == kk].median().item() for kk in range(1, 8)]
    assert min(medians) > 0.25 and max(medians) < 0.7  # "between about 0.3 and 0.65 at every k"

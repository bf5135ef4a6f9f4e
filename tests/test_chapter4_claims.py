"""Every number chapter 4 states in its prose, recomputed on the same or a smaller setup. The assertions
are what theory guarantees (orderings, ranges around the Donoho-Tanner curve), not today's digits."""

import itertools
import math

import pytest
import torch

from superpos_lib.data import sparse_features
from superpos_lib.sensing import (capacity_asymptotic, dt_curve, gaussian_matrix, phase_transition, recover,
                                  relative_error, sparse_signals, strong_threshold_asymptotic, transition_point)
from superpos_lib.toy_models import ToyModel, train


def seeded(seed):
    return torch.Generator().manual_seed(seed)


def test_l1_exact_and_certified_where_least_squares_is_dense():
    g = seeded(0)
    A = gaussian_matrix(40, 100, generator=g, dtype=torch.float64)
    x = sparse_signals(1, 100, 8, generator=g, dtype=torch.float64)
    y = x @ A.T
    x_l1, info = recover(A, y, method="l1", return_info=True)
    assert relative_error(x_l1, x).item() < 1e-10 and bool(info["certified"][0])
    x_l2 = y @ torch.linalg.pinv(A).T
    assert relative_error(x_l2, x).item() > 0.5 and (x_l2.abs() > 1e-8).sum() == 100


def test_exhaustive_l0_beats_l1_on_a_tiny_problem():
    """Typical k-sparse signals are the unique sparsest solution for k < m: l0 recovers them all."""
    g = seeded(10)
    A = gaussian_matrix(8, 14, generator=g, dtype=torch.float64)
    ks = torch.arange(1, 7).repeat_interleave(6)
    x = sparse_signals(len(ks), 14, ks, generator=g, dtype=torch.float64)
    y = x @ A.T
    found = torch.zeros(len(ks), dtype=torch.bool)
    for kk in range(1, 7):  # smallest exact support, brute force
        for S in itertools.combinations(range(14), kk):
            cols = A[:, list(S)]
            coef = torch.linalg.lstsq(cols, y.T).solution.T
            ok = ((coef @ cols.T - y).norm(dim=1) < 1e-9) & ~found
            xh = torch.zeros_like(x)
            xh[:, list(S)] = coef
            found |= ok & (relative_error(xh, x) < 1e-6)
    assert found.all()  # l0 recovers every signal up to k = 6 < m = 8
    l1 = relative_error(recover(A, y, method="l1"), x) < 1e-4
    assert l1[ks == 6].double().mean() < 1.0  # l1 does not, beyond its threshold 0.386 m = 3.1


def test_basis_pursuit_depends_on_support_and_signs_only_omp_on_amplitudes():
    g = seeded(12)
    A = gaussian_matrix(50, 100, batch=150, generator=g, dtype=torch.float64)
    x_pm = sparse_signals(150, 100, 17, generator=g, dtype=torch.float64)
    x_gauss = x_pm * torch.randn(150, 100, generator=g, dtype=torch.float64).abs()
    res = {}
    for method in ("l1", "omp"):
        res[method] = [relative_error(recover(A, (A @ xx.unsqueeze(-1))[..., 0], method=method, k=17), xx) < 1e-4
                       for xx in (x_pm, x_gauss)]
    assert torch.equal(res["l1"][0], res["l1"][1])  # same verdict on every problem
    assert res["omp"][1].double().mean() > res["omp"][0].double().mean() + 0.3  # unequal amplitudes help OMP


def test_fifty_percent_points_near_dt_curve_small_version():
    """Chapter: n = 200, 40 trials; here n = 100, 30 trials, integer k around the curve, fresh matrices."""
    for delta in (0.2, 0.5, 0.7):
        m = round(delta * 100)
        theory = dt_curve(delta)
        grid = [kk / m for kk in range(round((theory - 0.1) * m), round((theory + 0.1) * m) + 1)]
        rates, info = phase_transition(100, [delta], grid, trials=30, method="l1", return_info=True,
                                       generator=seeded(2), progress=False)
        assert (info["k"] >= 1).all()
        r50, se, width = transition_point(info["rho"], rates, trials=30, return_se=True)
        assert abs(r50.item() - theory) < max(0.04, 3 * se.item())
        assert 0 < se.item() < 0.05 and 0 < width.item() < 0.1
        # uncertified solutions are rare, and a counted success is real (checked against x)
        assert info["uncertified"].sum() <= 0.1 * info["trials"].sum()
        assert (info["uncertified_successes"] <= info["uncertified"]).all()


def test_omp_fails_well_below_the_l1_curve_with_equal_amplitudes():
    kwargs = dict(trials=20, progress=False)
    l1 = phase_transition(100, [0.5], [0.25], method="l1", generator=seeded(1), **kwargs)
    omp = phase_transition(100, [0.5], [0.25], method="omp", generator=seeded(1), **kwargs)
    omp_g = phase_transition(100, [0.5], [0.25], method="omp", amplitudes="gaussian", generator=seeded(1), **kwargs)
    iht = phase_transition(100, [0.5], [0.25], method="iht", generator=seeded(1), **kwargs)
    assert 0.25 < dt_curve(0.5) - 0.1
    assert l1.item() >= 0.9 and omp.item() <= 0.3
    assert omp_g.item() > omp.item() + 0.3
    assert omp.item() <= iht.item() <= l1.item()


def test_capacity_formula_numbers():
    assert abs(capacity_asymptotic(0.01) / dt_curve(0.01) - 1) < 0.03
    # the leading term crosses the curve near delta = 5e-3 and approaches it from below
    assert capacity_asymptotic(1e-3) < dt_curve(1e-3) and capacity_asymptotic(0.01) > dt_curve(0.01)
    for delta in (1e-4, 1e-6, 1e-12):
        assert 0.95 < capacity_asymptotic(delta) / dt_curve(delta) < 1
    assert capacity_asymptotic(0.5) / dt_curve(0.5) == pytest.approx(1.87, abs=0.005)  # "overshoots by about 87%"
    assert round(capacity_asymptotic(0.5, n=1000)) == 361 and round(dt_curve(0.5) * 500) == 193
    # the strong threshold's leading term is a factor e below the weak one's
    assert strong_threshold_asymptotic(0.01) == pytest.approx(capacity_asymptotic(0.01) / math.e)
    assert dt_curve(0.2, "nonnegative") * 20 == pytest.approx(6.5, abs=0.05)
    assert dt_curve(0.2) * 20 == pytest.approx(4.9, abs=0.05)


@pytest.fixture(scope="module")
def toy():
    model = ToyModel(100, 20, feature_probability=0.03, seed=0)
    train(model, steps=3000, batch_size=1024, lr=1e-3, seed=0, progress=False)
    W = model.W.detach()[0].double()
    b = model.b.detach()[0].double()
    f = sparse_features(4000, 1, 100, 0.03, generator=seeded(3))[:, 0].double()
    f = f[(f != 0).any(dim=1)]
    return W, b, f, f @ W.T


def test_toy_model_read_out(toy):
    W, b, f, h = toy
    assert -0.5 < b.max().item() < -0.3 and -0.5 < b.min().item()  # biases about -0.4
    k = (f != 0).sum(dim=1)
    relu = torch.relu(h @ W + b)
    bp = relative_error(recover(W, h, method="l1"), f) < 1e-4
    nn = relative_error(recover(W, h, method="l1", nonnegative=True), f) < 1e-4
    exact = {kk: bp[k == kk].double().mean().item() for kk in range(1, 8)}
    exact_nn = {kk: nn[k == kk].double().mean().item() for kk in range(1, 8)}
    assert min(exact[1], exact[2], exact[3]) >= 0.95  # exact when few features are present
    assert max(exact[6], exact[7]) <= 0.35  # fails beyond a handful
    assert all(exact_nn[kk] >= exact[kk] - 0.02 for kk in range(1, 8))  # non-negativity never hurts
    assert exact_nn[5] > exact[5] + 0.1 and exact_nn[6] > exact[6] + 0.15
    assert exact_nn[6] >= 0.5 > exact_nn[7] - 0.1  # 50% point near 6.5 = rho_W^+ d
    for seed in range(4, 9):  # at least as good as each of 5 Gaussian matrices
        Wg = gaussian_matrix(20, 100, generator=seeded(seed), dtype=torch.float64)
        ok = relative_error(recover(Wg, f @ Wg.T, method="l1"), f) < 1e-4
        assert all(exact[kk] >= ok[k == kk].double().mean().item() - 0.05 for kk in range(1, 8))
    one = k == 1
    assert ((relu[one] > 1e-3) & (f[one] == 0)).sum() == 0  # no false positives with one feature
    assert ((relu[one] <= 1e-3) & (f[one] != 0)).sum(1).double().mean() > 0.1  # misses: shrinkage
    assert (relative_error(relu, f) >= 1e-4).all()  # never exact (the success criterion)


def test_read_out_is_one_nonnegative_ista_step_and_iterating_helps(toy):
    W, b, f, h = toy
    relu = torch.relu(h @ W + b)
    zero = torch.zeros_like(f)
    assert torch.allclose(torch.relu(zero - (zero @ W.T - h) @ W + b), relu, atol=1e-12)
    L = torch.linalg.matrix_norm(W, ord=2).item() ** 2
    assert L > 5  # the model's step 1 is several times ISTA's limit 1 / L
    x, z, t = relu[:500].clone(), relu[:500].clone(), 1.0
    errs = {0: relative_error(x, f[:500]).median().item()}
    for it in range(1, 501):
        x_new = torch.relu(z - ((z @ W.T - h[:500]) @ W + 1e-4) / L)
        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
        z = x_new + (t - 1) / t_new * (x_new - x)
        x, t = x_new, t_new
        if it in (10, 500):
            errs[it] = relative_error(x, f[:500]).median().item()
    assert errs[500] < errs[10] < errs[0] and errs[500] < errs[0] / 2


def test_noise_ordering(toy):
    W, b, f, h = toy
    k = (f != 0).sum(dim=1)
    sel = ((k >= 2) & (k <= 4)).nonzero()[:200, 0]
    f_n, h_c = f[sel], h[sel]
    g = seeded(13)
    for level in (0.03, 0.1):
        sigma = level * h_c.norm(dim=1).mean().item() / math.sqrt(20)
        hn = h_c + sigma * torch.randn(h_c.shape, generator=g, dtype=torch.float64)
        bp = relative_error(recover(W, hn, method="l1"), f_n).median()
        nn = relative_error(recover(W, hn, method="l1", nonnegative=True), f_n).median()
        lasso = relative_error(recover(W, hn, method="lasso", nonnegative=True, lam=sigma * math.sqrt(2 * math.log(100)),
                                       max_iter=3000, tol=1e-6), f_n).median()
        relu = relative_error(torch.relu(hn @ W + b), f_n).median()
        assert nn <= bp and lasso < relu and nn < relu


def test_omp_built_from_the_exercise_selection_rule_is_the_librarys_omp():
    """Exercise 4.2's loop (the reference omp_select, least squares on the chosen columns) on the chapter's
    setup: the same supports as recover(method="omp") and the same success rate."""
    from superpos_lib.checks import reference_implementation

    select = reference_implementation("omp_select")
    g = seeded(14)
    A = gaussian_matrix(50, 100, generator=g, dtype=torch.float64)
    A = A / A.norm(dim=0, keepdim=True)
    x = sparse_signals(300, 100, 10, generator=g, amplitudes="gaussian", dtype=torch.float64)
    y = x @ A.T
    taken = torch.zeros(300, 100, dtype=torch.bool)
    residual, chosen = y.clone(), []
    for _ in range(10):
        j = select(A, residual, taken)
        taken[torch.arange(300), j] = True
        chosen.append(j)
        A_S = A.T[torch.stack(chosen, 1)].transpose(1, 2)
        coef = torch.linalg.lstsq(A_S, y.unsqueeze(-1)).solution
        residual = y - (A_S @ coef)[..., 0]
    mine = torch.zeros_like(x).scatter(1, torch.stack(chosen, 1), coef[..., 0])
    lib = recover(A, y, method="omp", k=10)
    assert ((mine != 0) == (lib.abs() > 1e-12)).all(dim=1).double().mean() >= 0.99
    ok_mine, ok_lib = relative_error(mine, x) < 1e-4, relative_error(lib, x) < 1e-4
    assert abs(ok_mine.double().mean() - ok_lib.double().mean()) <= 0.01 and ok_lib.double().mean() > 0.8


def test_plain_ista_from_the_read_out_is_far_slower_than_nonnegative_fista(toy):
    """Exercise 4.6's run: 2000 signed ISTA steps (the reference step) from the read-out stay far from the
    solution that non-negative FISTA reaches with the same step."""
    from superpos_lib.checks import reference_implementation

    ista_step = reference_implementation("ista_step")
    W, b, f, h = toy
    sub = torch.arange(500)
    L = torch.linalg.matrix_norm(W, ord=2).item() ** 2
    start = torch.relu(h[sub] @ W + b)
    x_ista = start.clone()
    x, z, t = start.clone(), start.clone(), 1.0
    for _ in range(2000):
        x_ista = ista_step(W, h[sub], x_ista, 1e-4, 1 / L)
        x_new = torch.relu(z - ((z @ W.T - h[sub]) @ W + 1e-4) / L)
        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
        z = x_new + (t - 1) / t_new * (x_new - x)
        x, t = x_new, t_new
    one = (f[sub] != 0).sum(1) == 1
    err_ista, err_fista = relative_error(x_ista, f[sub]), relative_error(x, f[sub])
    assert err_fista[one].median() < 1e-3 < 0.1 < err_ista[one].median() < relative_error(start, f[sub])[one].median()


def test_nonnegative_basis_pursuit_by_linear_programs_agrees_with_the_library(toy):
    """Exercise 4.4's run: one linear program per input (the reference) on the first 300 inputs gives the
    same verdict as the library's batched non-negative basis pursuit, and the same solution where exact."""
    from superpos_lib.checks import reference_implementation

    nonneg_basis_pursuit = reference_implementation("nonneg_basis_pursuit")
    W, b, f, h = toy
    first = torch.arange(300)
    mine = nonneg_basis_pursuit(W, h[first])
    lib = recover(W, h[first], method="l1", nonnegative=True)
    ok_mine, ok_lib = relative_error(mine, f[first]) < 1e-4, relative_error(lib, f[first]) < 1e-4
    assert (ok_mine == ok_lib).double().mean() >= 0.99
    assert (mine - lib)[ok_mine & ok_lib].abs().max() < 1e-6
    assert ok_lib.double().mean() > 0.8

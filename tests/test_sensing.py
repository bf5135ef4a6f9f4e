import math
import warnings

import numpy as np
import pytest
import torch

from superpos_lib import sensing as S


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def problems(m, n, k, batch, seed=0, shared=False, dtype=torch.float64, amplitudes="rademacher"):
    g = gen(seed)
    A = S.gaussian_matrix(m, n, batch=None if shared else batch, generator=g, dtype=dtype)
    x = S.sparse_signals(batch, n, k, generator=g, dtype=dtype, amplitudes=amplitudes)
    y = x @ A.T if shared else (A @ x.unsqueeze(-1))[..., 0]
    return A, x, y


# ------------------------------------------------------------------ generators
def test_gaussian_matrix_shape_scale_and_determinism():
    A = S.gaussian_matrix(50, 400, generator=gen(1))
    assert A.shape == (50, 400) and A.dtype == torch.float32
    assert abs(A.pow(2).sum(0).mean().item() - 1) < 0.05  # columns of expected unit norm
    B = S.gaussian_matrix(50, 400, generator=gen(1))
    assert torch.equal(A, B)
    assert S.gaussian_matrix(3, 4, batch=5, generator=gen(0)).shape == (5, 3, 4)


@pytest.mark.parametrize("kwargs", [dict(m=0, n=3), dict(m=2, n=-1), dict(m=2, n=3, batch=0), dict(m=2.5, n=3)])
def test_gaussian_matrix_bad_inputs(kwargs):
    with pytest.raises(ValueError):
        S.gaussian_matrix(**kwargs)


def test_sparse_signals_exact_sparsity_and_amplitudes():
    x = S.sparse_signals(300, 30, 7, generator=gen(0))
    assert x.shape == (300, 30)
    assert ((x != 0).sum(1) == 7).all()
    assert set(x[x != 0].unique().tolist()) == {-1.0, 1.0}
    # the support is uniform: every coordinate is used about 300 * 7 / 30 = 70 times
    counts = (x != 0).sum(0).float()
    assert counts.min() > 40 and counts.max() < 100
    xg = S.sparse_signals(50, 30, 5, amplitudes="gaussian", signed=False, generator=gen(0))
    assert (xg >= 0).all() and ((xg != 0).sum(1) == 5).all()
    xu = S.sparse_signals(200, 30, 5, amplitudes="uniform", generator=gen(0))
    assert xu.abs().max() <= 1 and (xu < 0).any()
    ks = torch.tensor([0, 3, 30])
    xk = S.sparse_signals(3, 30, ks, generator=gen(0))
    assert ((xk != 0).sum(1) == ks).all()


@pytest.mark.parametrize("kwargs,word", [
    (dict(batch=2, n=5, k=6), "k"), (dict(batch=2, n=5, k=-1), "k"), (dict(batch=2, n=5, k=2.0), "k"),
    (dict(batch=2, n=5, k=2, amplitudes="cauchy"), "amplitudes"), (dict(batch=0, n=5, k=1), "batch"),
    (dict(batch=2, n=5, k=torch.tensor([1, 2, 3])), "k"), (dict(batch=2, n=5, k=1, signed=1), "signed"),
])
def test_sparse_signals_bad_inputs(kwargs, word):
    with pytest.raises(ValueError, match=word):
        S.sparse_signals(**kwargs)


def test_soft_threshold():
    v = torch.tensor([-3.0, -0.5, 0.0, 0.2, 2.0])
    assert torch.allclose(S.soft_threshold(v, 1.0), torch.tensor([-2.0, 0.0, 0.0, 0.0, 1.0]))
    assert torch.allclose(S.soft_threshold(v, torch.tensor(0.0)), v)
    with pytest.raises(ValueError, match="t"):
        S.soft_threshold(v, -1.0)
    with pytest.raises(ValueError, match="v"):
        S.soft_threshold([1.0], 1.0)


def test_relative_error_and_success():
    x = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    xh = torch.tensor([[1.0, 1e-6], [0.5, 0.0]])
    err = S.relative_error(xh, x)
    assert err[0].item() == pytest.approx(1e-6, rel=1e-3) and err[1].item() == pytest.approx(0.5)
    assert S.recovery_success(xh, x).tolist() == [True, False]
    assert not S.recovery_success(torch.full((1, 2), float("nan")), x[:1]).item()
    with pytest.raises(ValueError, match="x_hat"):
        S.relative_error(xh[:1], x)
    with pytest.raises(ValueError, match="tol"):
        S.recovery_success(xh, x, tol=0)


# ------------------------------------------------------------------ recover: l1 vs an LP solver
def _linprog(A, y):
    from scipy.optimize import linprog

    n = A.shape[1]
    res = linprog(np.ones(2 * n), A_eq=np.hstack([A, -A]), b_eq=y, bounds=(0, None), method="highs")
    return res.x[:n] - res.x[n:]


@pytest.mark.parametrize("shared", [False, True])
def test_l1_matches_linprog(shared):
    m, n = 20, 50
    ks = torch.tensor([2, 5, 8, 10, 12, 14] * 4)  # from easy to well past the transition
    g = gen(3)
    A = S.gaussian_matrix(m, n, batch=None if shared else len(ks), generator=g, dtype=torch.float64)
    x = S.sparse_signals(len(ks), n, ks, generator=g, dtype=torch.float64)
    y = x @ A.T if shared else (A @ x.unsqueeze(-1))[..., 0]
    xh = S.recover(A, y, method="l1")
    lp_found_sparse = 0
    lp_failed = 0
    for i in range(len(ks)):
        Ai = (A if shared else A[i]).numpy()
        x_lp = _linprog(Ai, y[i].numpy())
        if np.linalg.norm(x_lp - x[i].numpy()) < 1e-6 * np.linalg.norm(x[i].numpy()):
            lp_found_sparse += 1
            assert S.relative_error(xh[i:i + 1], x[i:i + 1]).item() < 1e-4
        else:  # ours must be an (approximate) minimiser too: feasible, same l1 norm
            lp_failed += 1
            assert np.linalg.norm(Ai @ xh[i].numpy() - y[i].numpy()) < 1e-6 * np.linalg.norm(y[i].numpy())
            assert abs(xh[i].abs().sum().item() / np.abs(x_lp).sum() - 1) < 1e-3
    assert lp_found_sparse >= 8 and lp_failed >= 4  # both regimes were exercised


def test_l1_float32_and_zero_measurements():
    A, x, y = problems(30, 60, 4, 6, dtype=torch.float32)
    x[0] = 0
    y[0] = 0
    xh = S.recover(A, y, method="l1")
    assert xh.dtype == torch.float32
    assert S.recovery_success(xh[1:], x[1:]).all()
    assert (xh[0] == 0).all()


# ------------------------------------------------------------------ lasso, omp, iht
def test_lasso_matches_sklearn():
    from sklearn.linear_model import Lasso

    A, x, y = problems(30, 60, 5, 4, shared=True)
    y = y + 0.01 * torch.randn(y.shape, generator=gen(9), dtype=y.dtype)
    lam = 0.05
    xh = S.recover(A, y, method="lasso", lam=lam, tol=1e-12, max_iter=20000)
    for i in range(4):
        ref = Lasso(alpha=lam / 30, fit_intercept=False, tol=1e-12, max_iter=100000).fit(A.numpy(), y[i].numpy()).coef_
        assert np.abs(xh[i].numpy() - ref).max() < 1e-4


@pytest.mark.parametrize("shared", [False, True])
def test_omp_matches_sklearn(shared):
    from sklearn.linear_model import OrthogonalMatchingPursuit

    m, n = 25, 60
    ks = torch.tensor([1, 3, 5, 8, 10, 12, 0, 6, 9, 2])
    g = gen(5)
    A = S.gaussian_matrix(m, n, batch=None if shared else len(ks), generator=g, dtype=torch.float64)
    A = A / A.norm(dim=-2, keepdim=True)  # sklearn's OMP selects by raw correlation: unit columns make the rules agree
    x = S.sparse_signals(len(ks), n, ks, generator=g, dtype=torch.float64, amplitudes="gaussian")
    y = x @ A.T if shared else (A @ x.unsqueeze(-1))[..., 0]
    xh = S.recover(A, y, method="omp", k=ks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(len(ks)):
            if ks[i] == 0:
                assert (xh[i] == 0).all()
                continue
            Ai = (A if shared else A[i]).numpy()
            ref = OrthogonalMatchingPursuit(n_nonzero_coefs=int(ks[i]), fit_intercept=False).fit(Ai, y[i].numpy()).coef_
            assert np.abs(xh[i].numpy() - ref).max() < 1e-6 * max(1.0, np.abs(ref).max())


def _omp_reference(A, y, k):
    """Plain OMP, one problem at a time in float64: normalised selection, least squares from scratch."""
    norms = np.linalg.norm(A, axis=0)
    r, S_, coef = y.copy(), [], np.zeros(0)
    for _ in range(k):
        c = np.abs(A.T @ r) / norms
        c[S_] = -1
        S_.append(int(np.argmax(c)))
        coef = np.linalg.lstsq(A[:, S_], y, rcond=None)[0]
        r = y - A[:, S_] @ coef
    x = np.zeros(A.shape[1])
    x[S_] = coef
    return x


@pytest.mark.parametrize("shared", [False, True])
def test_omp_batched_matches_a_per_problem_reference(shared):
    # k up to 0.8 m, so that float32 Gram-Schmidt needs its second pass on the later steps; decaying
    # amplitudes keep every greedy choice clear of ties, so float32 must choose as float64 does
    m, n, batch = 30, 60, 12
    ks = torch.tensor([1, 4, 8, 12, 16, 20, 24, 24, 3, 10, 18, 22])
    g = gen(21)
    A = S.gaussian_matrix(m, n, batch=None if shared else batch, generator=g, dtype=torch.float64)
    x = torch.zeros(batch, n, dtype=torch.float64)
    for i, k in enumerate(ks.tolist()):
        support = torch.randperm(n, generator=g)[:k]
        signs = torch.randint(0, 2, (k,), generator=g).double() * 2 - 1
        x[i, support] = signs * 0.8 ** torch.arange(k, dtype=torch.float64)
    y = x @ A.T if shared else (A @ x.unsqueeze(-1))[..., 0]
    ref = np.stack([_omp_reference((A if shared else A[i]).numpy(), y[i].numpy(), int(ks[i])) for i in range(batch)])
    for dtype, tol in ((torch.float64, 1e-9), (torch.float32, 2e-4)):
        xh, info = S.recover(A.to(dtype), y.to(dtype), method="omp", k=ks, return_info=True)
        assert torch.equal(xh != 0, torch.from_numpy(ref != 0)), dtype  # the same columns chosen
        assert np.abs(xh.double().numpy() - ref).max() < tol, dtype
        assert torch.equal(info["steps"], ks)


def test_omp_shared_and_per_problem_paths_agree_in_float32():
    A, x, y = problems(40, 80, 6, 16, shared=True, dtype=torch.float32)
    a = S.recover(A, y, method="omp", k=6)  # Gram / Cholesky path
    b = S.recover(A.expand(16, 40, 80).contiguous(), y, method="omp", k=6)  # QR path
    assert torch.allclose(a, b, atol=1e-4)
    assert S.recovery_success(a, x).float().mean() > 0.7


def test_iht_recovers_easy_problems_and_fails_hard_ones():
    A, x, y = problems(60, 120, 4, 20, shared=True)
    assert S.recovery_success(S.recover(A, y, method="iht", k=4), x).all()
    A, x, y = problems(40, 120, 30, 20, shared=True)
    assert not S.recovery_success(S.recover(A, y, method="iht", k=30), x).any()


# ------------------------------------------------------------------ recover: bad inputs
@pytest.mark.parametrize("case,word", [
    ("shape", "y"), ("batch", "y"), ("k_big", "k"), ("k_neg", "k"), ("nan_A", "A"), ("inf_y", "y"),
    ("method", "method"), ("no_k", "k"), ("no_lam", "lam"), ("neg_lam", "lam"), ("A_1d", "A"), ("dtype", "y"),
])
def test_recover_bad_inputs(case, word):
    A, x, y = problems(10, 20, 2, 3)
    kwargs = dict(method="omp", k=2)
    if case == "shape":
        y = y[:, :9]
    elif case == "batch":
        y = y[:2]
    elif case == "k_big":
        kwargs["k"] = 11
    elif case == "k_neg":
        kwargs["k"] = -1
    elif case == "nan_A":
        A = A.clone()
        A[0, 0, 0] = float("nan")
    elif case == "inf_y":
        y = y.clone()
        y[0, 0] = float("inf")
    elif case == "method":
        kwargs["method"] = "l0"
    elif case == "no_k":
        kwargs = dict(method="iht")
    elif case == "no_lam":
        kwargs = dict(method="lasso")
    elif case == "neg_lam":
        kwargs = dict(method="lasso", lam=-1.0)
    elif case == "A_1d":
        A = A[0, 0]
    elif case == "dtype":
        y = y.float()
    with pytest.raises(ValueError, match=word):
        S.recover(A, y, **kwargs)


# ------------------------------------------------------------------ phase transition
def test_phase_transition_shape_and_extremes():
    rates = S.phase_transition(60, [0.3, 0.6], [0.05, 0.95], trials=10, method="l1", generator=gen(0),
                               progress=False)
    assert rates.shape == (2, 2)
    assert (rates[0] == 1).all()  # very sparse: always recovered
    assert (rates[1] == 0).all()  # k close to m: never
    omp = S.phase_transition(60, [0.5], [0.1, 0.9], trials=8, method="omp", group_size=4, generator=gen(0),
                             progress=False)
    assert omp[0, 0] == 1 and omp[1, 0] == 0


@pytest.mark.parametrize("kwargs,word", [
    (dict(deltas=[0.0], rhos=[0.5]), "deltas"), (dict(deltas=[0.5], rhos=[1.2]), "rhos"),
    (dict(deltas=[0.5], rhos=[float("nan")]), "rhos"), (dict(deltas=[], rhos=[0.5]), "deltas"),
    (dict(deltas=[0.5], rhos=[0.5], method="lasso"), "method"), (dict(deltas=[0.5], rhos=[0.5], trials=0), "trials"),
    (dict(deltas=[0.5], rhos=[0.5], group_size=3), "group_size"),
])
def test_phase_transition_bad_inputs(kwargs, word):
    args = dict(n=20, trials=4, method="l1", progress=False)
    args.update(kwargs)
    n = args.pop("n")
    with pytest.raises(ValueError, match=word):
        S.phase_transition(n, **args)


def test_dt_curve_matches_independent_optimisation():
    from scipy.optimize import minimize_scalar
    from scipy.stats import norm

    def objective(z, delta, kappa):
        G = (1 + z * z) * norm.cdf(-z) - z * norm.pdf(z)
        return -(1 - (kappa / delta) * G) / (1 + z * z - kappa * G)

    deltas = [0.05, 0.2, 0.5, 0.7, 0.95]
    for signal, kappa in (("signed", 2), ("nonnegative", 1)):
        ours = S.dt_curve(deltas, signal)
        for d, r in zip(deltas, ours.tolist()):
            ref = -minimize_scalar(objective, bounds=(1e-3, 10), args=(d, kappa), method="bounded",
                                   options={"xatol": 1e-12}).fun
            assert r == pytest.approx(ref, abs=1e-8)
    assert S.dt_curve(0.5) == pytest.approx(0.3857, abs=1e-3)  # Donoho–Tanner's weak threshold at delta = 1/2
    assert isinstance(S.dt_curve(0.5), float)
    curve = S.dt_curve(torch.linspace(0.05, 1, 20))
    assert (curve.diff() > 0).all() and curve[-1] == pytest.approx(1.0, abs=1e-6)
    assert (S.dt_curve(deltas, "nonnegative") > S.dt_curve(deltas)).all()


def test_capacity_asymptotic_is_the_small_delta_limit():
    d = torch.tensor([1e-4, 1e-3, 1e-2, 0.5])
    ratio = S.capacity_asymptotic(d) / S.dt_curve(d)
    assert (ratio[:3] - 1).abs().max() < 0.03  # the leading term: within 3% for delta <= 0.01
    assert ratio[3] > 1.8  # overshoots by more than 80% at delta = 1/2
    assert S.capacity_asymptotic(0.5, n=400) == pytest.approx(200 / (2 * math.log(2)))
    with pytest.raises(ValueError, match="delta"):
        S.capacity_asymptotic(1.0)
    with pytest.raises(ValueError, match="signal"):
        S.dt_curve(0.5, "complex")
    with pytest.raises(ValueError, match="delta"):
        S.dt_curve([0.5, 1.5])


def test_phase_transition_pools_the_trials_of_rhos_that_give_the_same_k():
    """At m = 10 the nominal rhos 0.30 and 0.34 both mean k = 3: one cell, with both rows' trials pooled."""
    import torch

    from superpos_lib.sensing import phase_transition

    rates, info = phase_transition(50, [0.2], [0.30, 0.34, 0.5], trials=8, method="omp",
                                   generator=torch.Generator().manual_seed(0), progress=False, return_info=True)
    assert info["k"][:, 0].tolist() == [3, 3, 5]
    assert info["trials"][:, 0].tolist() == [16, 16, 8]
    assert rates[0, 0] == rates[1, 0]
    r = rates[0, 0]
    assert torch.isclose(info["se"][0, 0], (r * (1 - r) / 16).sqrt())


def test_phase_transition_counts_uncertified_basis_pursuit_solutions(monkeypatch):
    """info["uncertified"] counts the trials without an optimality certificate, and
    info["uncertified_successes"] those of them that still recovered x; none at the default iteration
    limit on easy problems, many when the solver is cut short. OMP has no such count."""
    import torch

    from superpos_lib.sensing import experiments, phase_transition

    kwargs = dict(trials=10, method="l1", progress=False, return_info=True)
    rates, info = phase_transition(60, [0.5], [0.1, 0.5], generator=torch.Generator().manual_seed(0), **kwargs)
    assert info["uncertified"].dtype == torch.int64 and info["uncertified"][0, 0] == 0  # k = 3 of m = 30: easy
    assert (info["uncertified_successes"] <= info["uncertified"]).all()
    real = experiments._l1_admm
    monkeypatch.setattr(experiments, "_l1_admm", lambda A, Y, max_iter, stats: real(A, Y, max_iter=10, stats=stats))
    cut, cut_info = phase_transition(60, [0.5], [0.1, 0.5], generator=torch.Generator().manual_seed(0), **kwargs)
    assert cut_info["uncertified"].sum() > 0
    assert (cut_info["uncertified_successes"] <= cut_info["uncertified"]).all()
    # the uncertified successes are among the successes
    assert ((cut * 10).round().long() >= cut_info["uncertified_successes"]).all()
    _, omp_info = phase_transition(60, [0.5], [0.1], trials=4, method="omp", progress=False, return_info=True,
                                   generator=torch.Generator().manual_seed(0))
    assert "uncertified" not in omp_info

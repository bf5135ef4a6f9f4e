"""Every claim the prose of chapters/01b_geometry_of_superposition.ipynb makes, checked on the chapter's
setup (identical where the claim is about that run) or on theory. Where a value comes from training,
the test asserts what theory or a baseline guarantees, not the chapter's digits."""

import math

import pytest
import torch

from superpos_lib.metrics import (cosine_spectrum, dimensions_per_feature, feature_dimensionality, feature_groups,
                                  feature_norms, polytope_name, represented_features, thomson_points)
from superpos_lib.toy_models import (ToyModel, best_of_repeats, evaluate, readout_flip_radius, three_feature_phase,
                                     three_feature_phase_losses, train, train_with_snapshots,
                                     two_feature_phase_boundary)


def test_three_feature_closed_form_boundaries():
    """The argmin of the four candidates switches where the text says: 4r/(2 + 5r) for r < 1, 4/7 for r > 1."""
    for r in (0.3, 0.6):
        pc = two_feature_phase_boundary(torch.tensor(r)).item()
        below, above = three_feature_phase_losses(r, pc - 0.01).argmin().item(), three_feature_phase_losses(r, pc + 0.01).argmin().item()
        assert (below, above) == (2, 0)
    for r in (1.5, 4.0):
        below, above = three_feature_phase_losses(r, 4 / 7 - 0.01).argmin().item(), three_feature_phase_losses(r, 4 / 7 + 0.01).argmin().item()
        assert (below, above) == (3, 1)


def test_three_feature_phase_diagram_agrees_with_training():
    """The chapter's grid, identical: 10 x 10, four restarts."""
    R3, P3 = torch.logspace(-1, 1, 10), torch.logspace(0, -1.5, 10)
    RR, PP = torch.meshgrid(R3, P3, indexing="xy")
    imp = torch.stack([torch.ones(RR.numel()), torch.ones(RR.numel()), RR.reshape(-1)], -1)
    m = ToyModel(3, 2, RR.numel() * 4, importance=imp.repeat(4, 1), feature_probability=PP.reshape(-1, 1).repeat(4, 1))
    train(m, steps=2_000, batch_size=256, lr=1e-2, lr_schedule="cosine", progress=False)
    W, _, _ = best_of_repeats(m, 4)
    trained = three_feature_phase(W).reshape(RR.shape)
    closed = three_feature_phase_losses(RR, PP).argmin(-1)
    optimised = three_feature_phase_losses(RR, PP, optimise_antipodal=True).argmin(-1)
    # the optimised pairs can only lower the antipodal candidates' losses, so they fit training at least as well
    assert (trained == optimised).float().mean() >= (trained == closed).float().mean() >= 0.85
    assert (trained == optimised).float().mean() >= 0.9


@pytest.fixture(scope="module")
def geometry():
    """The chapter's uniform-superposition run, identical: n = 40, d = 8, 24 probabilities, best of 3."""
    P = torch.logspace(0, -2.3, 24)
    m = ToyModel(40, 8, 72, feature_probability=P.repeat(3)[:, None])
    train(m, steps=2_500, batch_size=256, lr=1e-2, lr_schedule="cosine", progress=False)
    W, b, _ = best_of_repeats(m, 3)
    return P, W, b


def test_dimensions_per_feature_sticky_at_one_half_and_sum_of_dimensionalities(geometry):
    P, W, _ = geometry
    dpf = dimensions_per_feature(W)
    assert abs(dpf[0].item() - 1) < 0.03  # dense: ||W||_F^2 = d
    half = ((dpf - 0.5).abs() < 0.05).nonzero().flatten()
    assert len(half) >= 3 and (half[1:] - half[:-1] == 1).all()  # a plateau over consecutive grid points
    a, z = half[0].item(), half[-1].item()
    per_step = (dpf[a] - dpf[z]) / (z - a)
    assert dpf[a - 1] - dpf[a] > 2 * per_step and dpf[z] - dpf[z + 1] > 2 * per_step  # flatter than either side
    assert (dpf[:-1] >= dpf[1:] - 0.02).all()  # falls with sparsity
    D = feature_dimensionality(W)
    assert (D.sum(-1) <= 8 + 1e-4).all()  # sum_i D_i never exceeds d
    norms = feature_norms(W[-1])
    assert (norms > 0.5).all() and norms.mean() > 1 and dpf[-1] < 0.2
    assert abs(feature_dimensionality(W[-1]).mean().item() - 0.2) < 0.01  # D_i = d/n at the sparsest


def test_groups_are_named_by_angles_and_tile_the_space(geometry):
    P, W, _ = geometry
    for k in range(len(P)):
        groups = feature_groups(W[k], overlap=0.1)
        for idx, r in groups:
            name = polytope_name(W[k][:, idx])
            if len(idx) >= 2:
                spec = cosine_spectrum(W[k][:, idx])
                if name == "cube":
                    assert spec.min() < -0.9
                if name == "square antiprism":
                    assert spec.min() > -0.95
        names = [polytope_name(W[k][:, idx]) for idx, _ in groups]
        if len(groups) > 1 and not any(n.endswith("(unnamed)") for n in names):
            # a tegum product of polytopes: orthogonal spans that add up to at most d
            assert sum(r for _, r in groups) <= 8


def test_thomson_solutions_are_the_named_polytopes():
    assert polytope_name(thomson_points(5, 2)) == "pentagon"
    assert polytope_name(thomson_points(4, 3)) == "tetrahedron"
    X = thomson_points(8, 3)
    assert polytope_name(X) == "square antiprism" and cosine_spectrum(X).min() > -0.95
    assert torch.allclose(feature_dimensionality(X), torch.full((8,), 3 / 8, dtype=torch.float64), atol=1e-3)


def test_trained_three_dimensional_polytopes_against_thomson():
    """Section 1b.3, trained in 3 dims at p = 0.1 (best of 8, scored on 2**20 samples): 6 features build the
    octahedron and 8 the square antiprism (the Thomson solutions, not the cube); 4 features end, in most
    restarts, as an antipodal pair and two dedicated features, and a copy started at the tetrahedron stays
    a tetrahedron with a loss 1.05 to 1.3 times the best restart's (theory: 1.11 to leading order in p)."""
    schedule = dict(steps=6000, batch_size=1024, lr=3e-3, lr_schedule="cosine", progress=False)
    best, models = {}, {}
    for k in (4, 6, 8):
        model = ToyModel(k, 3, 8, feature_probability=0.1, seed=k)
        train(model, **schedule)
        W, _, loss = best_of_repeats(model, 8, n_samples=2**20)
        best[k], models[k] = (W[0], loss[0].item()), model
    assert polytope_name(best[6][0]) == "octahedron"
    W8 = best[8][0]
    assert polytope_name(W8) == "square antiprism"
    assert (cosine_spectrum(W8) - cosine_spectrum(thomson_points(8, 3))).abs().max() < 0.12
    assert cosine_spectrum(W8).min() > -0.95  # no antipodal pair: not the cube
    pair_and_two = [(2, 1), (1, 1), (1, 1)]
    shapes = [sorted(((len(i), r) for i, r in feature_groups(models[4].W.detach()[j], overlap=0.1)), reverse=True)
              for j in range(8)]
    assert shapes.count(pair_and_two) >= 6
    D = feature_dimensionality(best[4][0]).sort().values
    assert torch.allclose(D, torch.tensor([0.5, 0.5, 1.0, 1.0]), atol=0.05)
    start = ToyModel(4, 3, 1, feature_probability=0.1, seed=0)
    with torch.no_grad():
        start.W.copy_(thomson_points(4, 3).float()[None])
        start.b.zero_()
    train(start, **schedule)
    assert polytope_name(start.W.detach()[0]) == "tetrahedron"  # a local minimum
    assert 1.05 < evaluate(start, 2**20)[0].item() / best[4][1] < 1.3


def test_pair_errors_antipodal_against_tetrahedron():
    """Two features at once, magnitudes uniform on [0, 1], bias 0: an antipodal pair's squared error is
    2 E[min(f1, f2)^2] = 1/3, a tetrahedron pair's (cos -1/3) 5/81, and six of those, 30/81, more than 1/3."""
    f = torch.rand(1_000_000, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    digon = (f - torch.relu(f - f.flip(1))).pow(2).sum(1).mean().item()
    tet = (f - torch.relu(f - f.flip(1) / 3)).pow(2).sum(1).mean().item()
    assert digon == pytest.approx(1 / 3, abs=0.002)
    assert tet == pytest.approx(5 / 81, abs=0.0005)
    assert 30 / 81 > 1 / 3


def test_vulnerability_tracks_superposition_and_the_attack_beats_random(geometry):
    P, W, b = geometry
    on = feature_norms(W) > 0.5
    gain2 = (W.transpose(1, 2) @ W).pow(2).sum(-1)
    vulnerability = (gain2 * on).sum(-1) / on.sum(-1)
    dpf = dimensions_per_feature(W)
    assert torch.corrcoef(torch.stack([vulnerability, 1 / dpf]))[0, 1] > 0.9
    assert vulnerability[-1] > 4 * vulnerability[0]
    radius = readout_flip_radius(W, b)
    mean_radius = torch.nanmean(radius, dim=-1)
    assert (mean_radius[1:] < 0.5).all()  # below the no-superposition radius once features share directions
    # random perturbations of the same size rarely change the read-out
    gen = torch.Generator().manual_seed(0)
    k = 12
    G = (W[k].T @ W[k]).double()
    flips = []
    for i in (~torch.isnan(radius[k])).nonzero().flatten().tolist():
        u = torch.randn(64, 40, generator=gen, dtype=torch.float64)
        delta = u / u.norm(dim=1, keepdim=True) * radius[k, i] * 0.999
        x = torch.zeros(40, dtype=torch.float64)
        x[i] = 1
        changed = (torch.relu((x + delta) @ G + b[k]) > 0.5) != (torch.relu(x @ G + b[k]) > 0.5)
        flips.append(changed.any(-1).double().mean())
    assert torch.stack(flips).mean() < 0.05


def test_nonuniform_pentagon_snaps_to_two_digons():
    ratio = torch.logspace(0, -1.5, 12)
    P = torch.full((12, 5), 0.05)
    P[:, 0] = 0.05 * ratio
    m = ToyModel(5, 2, 96, feature_probability=P.repeat(8, 1))
    train(m, steps=3_000, batch_size=512, lr=1e-2, lr_schedule="cosine", progress=False)
    W, _, _ = best_of_repeats(m, 8)
    norms, D = feature_norms(W), feature_dimensionality(W)
    assert torch.allclose(D[0], torch.full((5,), 0.4), atol=0.03)  # ratio 1: a pentagon
    assert norms[-1, 0] < 0.1  # sparse enough: feature 0 dropped
    assert torch.allclose(D[-1, 1:], torch.full((4,), 0.5), atol=0.03)  # the others: two antipodal pairs
    snapped = (norms[:, 0] < 0.5).int()
    assert ((snapped[1:] - snapped[:-1]) >= 0).all() and snapped.sum() >= 3  # one snap, then it stays dropped
    k = snapped.nonzero()[0].item()
    assert norms[k - 1, 0] > 0.9  # just before the snap feature 0 is still fully represented: a jump


def test_learning_dynamics_plateaus():
    m = ToyModel(40, 8, 1, feature_probability=0.25, seed=1)
    history, steps, snaps = train_with_snapshots(m, 50, steps=6_000, batch_size=256, lr=1e-3, log_every=50, progress=False)
    D = feature_dimensionality(snaps[:, 0])
    change = (D[1:] - D[:-1]).abs()
    assert (change < 0.01).float().mean() > 0.6  # most intervals are quiet
    assert history[-10:, 0].mean() < 0.8 * history[:3, 0].mean()
    # the motion is front-loaded: most of it in the first third of training, and some features move by
    # more than 0.1 within 500 steps (a transition), though not within one 50-step interval
    early = change[: int((steps[1:] <= 2000).sum())].sum() / change.sum()
    assert early > 0.5
    assert ((D[10:] - D[:-10]).abs() > 0.1).any()


def test_unequal_importance_deforms_then_snaps():
    ratio = torch.logspace(0, -1.5, 12)
    imp = torch.ones(12, 5)
    imp[:, 0] = ratio
    m = ToyModel(5, 2, 96, importance=imp.repeat(8, 1), feature_probability=0.05)
    train(m, steps=3_000, batch_size=512, lr=1e-2, lr_schedule="cosine", progress=False)
    W, _, _ = best_of_repeats(m, 8)
    norms, D = feature_norms(W), feature_dimensionality(W)
    k = (norms[:, 0] < 0.5).nonzero()[0].item()
    assert k >= 2 and (norms[k:, 0] < 0.1).all()
    assert norms[k - 1, 0] < norms[0, 0] and D[k - 1, 0] < D[0, 0]  # shrinks before it snaps
    assert torch.allclose(D[-1, 1:], torch.full((4,), 0.5), atol=0.03)


def test_exercise_cell_and_pentagon_vulnerability():
    # Exercise 1b.2's cell (r = 0.1, p = 0.032): the closed form puts feature 3 in an antipodal pair
    assert three_feature_phase_losses(torch.tensor(0.1), torch.tensor(10 ** -1.5)).argmin().item() == 2
    # Exercise 1b.4: a unit pentagon's mean ||(W^T W)_j||^2 is ||W_j||^4 / D_j = 2.5
    X = thomson_points(5, 2)
    assert abs((X.T @ X).pow(2).sum(-1).mean().item() - 2.5) < 1e-3
    assert abs(feature_dimensionality(X).mean().item() - 0.4) < 1e-3

"""Every claim the prose of chapters/01_superposition.ipynb makes, checked on the chapter's setup or a
smaller one with the same hyperparameters (fewer instances: only the feature probabilities the prose
talks about)."""

import math

import pytest
import torch

from superpos_lib.metrics import (dimensions_per_feature, feature_angles, feature_dimensionality, feature_groups,
                                  feature_norms, represented_features)
from superpos_lib.toy_models import (ToyModel, best_of_repeats, train, two_feature_phase, two_feature_phase_boundary,
                                     two_feature_phase_losses)

SCHEDULE = dict(steps=5_000, batch_size=1024, lr=3e-3, lr_schedule="cosine", progress=False)
IMPORTANCE = 0.9 ** torch.arange(5.0)
PROBS = 20.0 ** -torch.linspace(0, 1, 10)
DENSE, PAIRS, SPARSE = 0, 4, 9  # indices into PROBS: p = 1, 0.26, 0.05 (the instances the chapter prints)


@pytest.fixture(scope="module")
def five_in_two():
    p = PROBS[[DENSE, PAIRS, SPARSE]]
    relu = ToyModel(5, 2, 9, importance=IMPORTANCE, feature_probability=p.repeat(3)[:, None])
    train(relu, **SCHEDULE)
    W, b, _ = best_of_repeats(relu, 3)
    linear = ToyModel(5, 2, 3, importance=IMPORTANCE, feature_probability=p[:, None], linear=True)
    train(linear, **SCHEDULE)
    return W, b, linear.W.detach()


def test_linear_model_never_exceeds_d_features(five_in_two):
    W, _, W_linear = five_in_two
    assert represented_features(W_linear).tolist() == [2, 2, 2]
    assert torch.allclose(W_linear.pow(2).sum(dim=(1, 2)), torch.full((3,), 2.0), atol=0.03)  # ||W||_F^2 = d
    WtW = W_linear.transpose(1, 2) @ W_linear
    assert torch.allclose(WtW @ WtW, WtW, atol=0.03)  # a projection
    assert W[2].pow(2).sum() > 6  # the ReLU model's climbs past 6


def test_relu_model_represents_more_features_when_sparse(five_in_two):
    W, _, _ = five_in_two
    assert represented_features(W).tolist() == [2, 4, 5]


def test_dense_regime_two_most_important_orthogonal_unit_features(five_in_two):
    W = five_in_two[0][0]
    norms = feature_norms(W)
    assert torch.allclose(norms[:2], torch.ones(2), atol=0.03)
    assert (norms[2:] < 0.15).all()
    assert abs(feature_angles(W)[0, 1].item() - 90) < 2
    b = five_in_two[1][0]
    assert torch.allclose(b[2:], torch.full((3,), 0.5), atol=0.08)  # dropped features: the bias outputs their mean


def test_intermediate_regime_two_antipodal_pairs(five_in_two):
    W = five_in_two[0][1]
    norms = feature_norms(W)
    on = (norms > 0.5).nonzero().flatten()
    assert len(on) == 4
    assert torch.allclose(feature_dimensionality(W)[on], torch.full((4,), 0.5), atol=0.03)
    A = feature_angles(W)
    for i in on.tolist():
        assert max(A[i, j].item() for j in on.tolist()) > 178  # each has a partner pointing the other way


def test_sparse_regime_pentagon(five_in_two):
    W, b, _ = five_in_two
    W, b = W[2], b[2]
    norms = feature_norms(W)
    assert ((norms > 1.05) & (norms < 1.2)).all()  # "a little longer than 1 (about 1.1)"
    order = torch.atan2(W[1], W[0]).argsort()
    A = feature_angles(W)
    neighbours = torch.tensor([A[order[k], order[(k + 1) % 5]].item() for k in range(5)])
    assert ((neighbours - 72).abs() < 4).all()
    assert torch.allclose(feature_dimensionality(W), torch.full((5,), 0.4), atol=0.02)
    assert (b < 0).all()  # negative biases


def test_twenty_features_in_five_dimensions():
    p = torch.tensor([1.0, 0.01])
    m = ToyModel(20, 5, 2, importance=0.9 ** torch.arange(20.0), feature_probability=p[:, None])
    train(m, **SCHEDULE)
    W = m.W.detach()
    counts = represented_features(W).tolist()
    assert counts[0] == 5 and counts[1] >= 15  # dense: d features; sparsest: nearly all twenty
    top = W[0][:, :5]
    assert torch.allclose(top.T @ top, torch.eye(5), atol=0.06)  # the 5 most important, orthogonal
    on = feature_norms(W[1]) > 0.5
    G = W[1][:, on].T @ W[1][:, on]
    off = G[~torch.eye(len(G), dtype=torch.bool)]
    assert off.mean() < 0  # interference is mostly negative


@pytest.fixture(scope="module")
def geometry():
    """The chapter's feature-geometry setup, identical: n=40, d=8, 12 probabilities."""
    P = torch.logspace(0, -2.3, 12)
    m = ToyModel(40, 8, 12, feature_probability=P[:, None])
    train(m, steps=3_000, batch_size=512, lr=1e-2, lr_schedule="cosine", progress=False)
    return P, m.W.detach()


def test_dimensions_per_feature_curve(geometry):
    P, W = geometry
    dpf = dimensions_per_feature(W)
    assert abs(dpf[0].item() - 1) < 0.02  # dense: ||W||_F^2 = d
    assert abs(dpf[2].item() - 0.5) < 0.02  # the antipodal plateau
    assert (dpf[:-1] >= dpf[1:] - 0.01).all()  # falls with sparsity
    norms, D = feature_norms(W[-1]), feature_dimensionality(W[-1])
    assert (norms > 0.5).all()  # all 40 used
    assert 1.1 < norms.mean().item() < 1.3 and dpf[-1].item() < 0.2  # levels off below d/n because norms > 1
    assert abs(D.mean().item() - 0.2) < 0.01


def test_dimensionality_fractions_and_groups(geometry):
    P, W = geometry
    D, norms = feature_dimensionality(W), feature_norms(W)

    def near(k, value):
        return int((((D[k] - value).abs() < 0.01) & (norms[k] > 0.5)).sum())

    assert near(2, 1 / 2) == 16
    assert near(3, 3 / 8) >= 14 and near(3, 2 / 5) >= 4
    assert near(4, 2 / 7) >= 24
    assert sorted((len(i), r) for i, r in feature_groups(W[2], overlap=0.1)) == [(2, 1)] * 8
    assert sorted((len(i), r) for i, r in feature_groups(W[3], overlap=0.1)) == [(5, 2), (8, 3), (8, 3)]
    assert [(len(i), r) for i, r in feature_groups(W[4], overlap=0.1)] == [(28, 8)]


def test_phase_diagram_matches_closed_form():
    """The chapter's 10 x 10 grid, three copies each (identical setup)."""
    R, Pg = torch.logspace(-1, 1, 10), torch.logspace(0, -2, 10)
    RR, PP = torch.meshgrid(R, Pg, indexing="xy")
    imp = torch.stack([torch.ones(RR.numel()), RR.reshape(-1)], dim=-1).repeat(3, 1)
    m = ToyModel(2, 1, RR.numel() * 3, importance=imp, feature_probability=PP.reshape(-1, 1).repeat(3, 1))
    train(m, steps=3_000, batch_size=512, lr=1e-2, lr_schedule="cosine", progress=False)
    W, _, _ = best_of_repeats(m, 3)
    trained = two_feature_phase(W).reshape(RR.shape)
    closed = two_feature_phase_losses(RR, PP).argmin(-1)
    assert (trained == closed).float().mean() >= 0.9
    # the cells that disagree are next to a closed-form boundary or in the sparsest rows (p < 0.03)
    for i, j in (trained != closed).nonzero().tolist():
        nbrs = closed[max(i - 1, 0):i + 2, max(j - 1, 0):j + 2]
        assert (nbrs != closed[i, j]).any() or PP[i, j] < 0.03, (i, j)
    assert two_feature_phase_boundary(torch.tensor(1.0)).item() == pytest.approx(4 / 7)
    # dense rows: the more important feature owns the dimension, the switch at r = 1
    assert (closed[0] == torch.where(R < 1, 0, 1)).all()
    assert math.isclose(two_feature_phase_boundary(torch.tensor(0.5)).item(), 2 / 4.5)

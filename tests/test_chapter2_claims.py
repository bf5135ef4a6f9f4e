"""The numbers the Polysemanticity chapter's prose relies on, recomputed on the chapter's own setups.

Where a number comes from training, the tests check what theory or a baseline guarantees: the best
of several restarts is never worse than the simplest solution without superposition (within the
evaluation noise), and beats it where the text says so; orderings and bounds rather than digits."""

import pytest
import torch

from superpos_lib.computation import (AbsValueModel, asymmetric_superposition, best_instances,
                                     constant_output_loss, evaluate_abs_model, loss_reduction,
                                     no_superposition_loss, train_abs_model)
from superpos_lib.data import sparse_features
from superpos_lib.metrics import (neuron_feature_groups, neuron_polysemanticity,
                                  neuron_polysemanticity_from_weights)
from superpos_lib.toy_models import ToyModel, best_of_repeats, evaluate, train

N, D, THETA = 10, 5, 0.3
IMPORTANCE = 0.75 ** torch.arange(N, dtype=torch.float32)  # TMS's privileged-basis settings


def random_rotation(d, seed):
    q, r = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed)))
    return q * torch.sign(torch.diagonal(r))


def rotation_losses(activation):
    model = ToyModel(N, D, importance=IMPORTANCE, feature_probability=0.1, hidden_activation=activation, seed=0)
    train(model, steps=2000, lr=1e-2, seed=0, progress=False)
    batch = model.generate_batch(20_000, generator=torch.Generator().manual_seed(1))
    R = random_rotation(D, 2)
    assert torch.allclose(R @ R.T, torch.eye(D), atol=1e-5)
    with torch.no_grad():
        before = model.loss(batch).item()
        model.W.copy_(R @ model.W)
        after = model.loss(batch).item()
    return before, after


def test_rotation_changes_loss_only_with_hidden_relu():
    linear_before, linear_after = rotation_losses(None)
    relu_before, relu_after = rotation_losses("relu")
    assert linear_after == pytest.approx(linear_before, rel=1e-4)  # "(1.00x)": the same model
    assert relu_after / relu_before > 3  # "several times over"
    assert relu_before > linear_before  # "the ReLU-hidden model has the higher loss"


def monosemantic_loss(p):
    return IMPORTANCE[D:].sum().item() * (p / 3 - p * p / 4) / N


@pytest.fixture(scope="module")
def sweep():
    ps, repeats = torch.logspace(0, -2, 8), 16
    model = ToyModel(N, D, repeats * len(ps), importance=IMPORTANCE, feature_probability=ps.repeat(repeats)[:, None],
                     hidden_activation="relu", seed=0)
    train(model, steps=2500, batch_size=512, lr=1e-2, seed=0, lr_schedule="cosine", progress=False)
    W, b, loss = best_of_repeats(model, repeats)
    return ps, W, loss


def test_sweep_against_the_monosemantic_baseline(sweep):
    ps, W, loss = sweep
    ratio = torch.tensor([loss[k].item() / monosemantic_loss(p) for k, p in enumerate(ps.tolist())])
    assert (ratio < 1.02).all()  # the best of 16 is never worse than 5 monosemantic neurons
    assert ratio[0] > 0.98  # p = 1: it matches that baseline
    assert (ratio[ps < 0.05] < 0.8).all()  # sparse: superposition beats it clearly
    assert (ratio[1:] <= ratio[:-1] + 0.02).all()  # and more so the sparser the features


def test_dense_monosemantic_sparse_polysemantic_and_groups(sweep):
    ps, W, _ = sweep
    dense = neuron_polysemanticity_from_weights(W[0], 0.5)
    assert (dense == 1).all()  # p = 1, theta = 0.5: five monosemantic neurons ...
    assert set((W[0] > 0.5).nonzero()[:, 1].tolist()) == {0, 1, 2, 3, 4}  # ... on the five most important features
    counts = neuron_polysemanticity_from_weights(W, THETA)
    assert (counts[ps < 0.1] >= 2).all()  # every neuron polysemantic once p < 0.1
    assert (counts > 0).all()  # no dead neurons
    groups = [neuron_feature_groups(W[k], THETA) for k in range(len(ps))]
    represented = [sum(len(f) for f, _ in g) for g in groups]
    assert represented[0] == 5 and represented[-1] > D  # more features than neurons when sparse
    assert represented[-1] >= represented[0]
    # somewhere a group stores more features than it has neurons (superposition in a privileged basis)
    assert any(len(f) > len(n) for g in groups for f, n in g)
    assert all(len(f) == len(n) == 1 for f, n in neuron_feature_groups(W[1], THETA))  # p = 0.52: all 1 in 1


def test_raw_and_conditional_scores_move_in_opposite_directions(sweep):
    ps, W, _ = sweep
    samples = sparse_features(20_000, len(ps), N, ps[:, None], generator=torch.Generator().manual_seed(1))
    raw = neuron_polysemanticity(W, samples, THETA).mean(-1)
    given = neuron_polysemanticity(W, samples, THETA, given_active=True).mean(-1)
    weights = neuron_polysemanticity_from_weights(W, THETA).mean(-1)
    assert given[1].item() == pytest.approx(0.7, abs=0.03)  # one weight ~1 per neuron: P(f > 0.3) = 0.7
    assert given[0] >= 0.68
    assert (given[ps < 0.1] > 1.5).all()  # neurons respond to more features when sparse
    assert raw[-1] < 0.05 and (raw[1:] < raw[:-1]).all()  # falls towards 0
    assert (given <= weights + 1e-6).all()  # the weights-only count is an upper bound


ABS_N, ABS_M = 20, 8
ABS_P = torch.tensor([1.0, 0.3, 0.1, 0.03])
ABS_RESTARTS = torch.tensor([4, 4, 8, 8])
ABS_IMPORTANCE = 0.7 ** torch.arange(ABS_N, dtype=torch.float32)


@pytest.fixture(scope="module")
def abs_models():
    config = torch.arange(len(ABS_P)).repeat_interleave(ABS_RESTARTS)
    p = ABS_P[config][:, None]
    generator = torch.Generator().manual_seed(0)
    model = AbsValueModel(ABS_N, ABS_M, len(config), generator=generator)
    train_abs_model(model, p, ABS_IMPORTANCE, steps=3000, batch_size=1024, lr=1e-2, generator=generator,
                    progress=False)
    best, loss = best_instances(model, evaluate_abs_model(model, p, ABS_IMPORTANCE), config)
    return best, loss


def test_abs_model_against_the_no_superposition_baseline(abs_models):
    best, loss = abs_models
    p = ABS_P[:, None]
    baseline = no_superposition_loss(p, ABS_IMPORTANCE, ABS_M).float()
    assert (constant_output_loss(p, ABS_IMPORTANCE) > baseline).all()
    ratio = loss / baseline
    assert (ratio[:2] < 1.01).all()  # p = 1 and 0.3: it matches the baseline (no better monosemantic solution)
    assert (ratio[2:] < 0.8).all()  # p = 0.1 and 0.03: computing in superposition beats it
    reduction = loss_reduction(evaluate_abs_model(best, p, ABS_IMPORTANCE, per_feature=True), p)
    computed = (reduction > 0.5).sum(-1)
    assert (reduction[0, :4] > 0.97).all() and computed[0] == ABS_M // 2  # dense: the 4 most important, exactly
    assert (computed[2:] > ABS_M // 2).all()  # sparse: more than m/2 features computed


def test_abs_model_neurons_and_asymmetric_superposition(abs_models):
    best, _ = abs_models
    W1 = best.W1.detach()
    counts = neuron_polysemanticity_from_weights(W1.abs(), THETA)
    mono = counts == 1
    plus = ((W1 > THETA) & mono[..., None]).any(-2)
    minus = ((W1 < -THETA) & mono[..., None]).any(-2)
    assert mono[0].all() and (plus & minus)[0].sum() == ABS_M // 2  # dense: 4 +/- pairs of monosemantic neurons
    assert counts[-1].mean() > 2  # sparse: neurons read several features
    assert asymmetric_superposition(best, 0) == []  # dense pairs are symmetric
    found = asymmetric_superposition(best, len(ABS_P) - 1)
    assert found  # the motif exists in the sparsest model
    motif = found[0]
    i, a, b = motif["neuron"], motif["strong"], motif["weak"]
    assert abs(W1[-1, i, a]) >= 2 * abs(W1[-1, i, b]) and W1[-1, i, a] * W1[-1, i, b] < 0

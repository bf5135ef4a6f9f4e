"""The numbers the Polysemanticity chapter's prose relies on, recomputed on the chapter's own setups."""

import pytest
import torch

from superpos_lib.computation import AbsValueModel, signed_sparse_features, train_abs_model
from superpos_lib.data import sparse_features
from superpos_lib.metrics import neuron_polysemanticity, neuron_polysemanticity_from_weights
from superpos_lib.toy_models import ToyModel, train

N, D, THETA = 10, 5, 0.3
IMPORTANCE = 0.7 ** torch.arange(N, dtype=torch.float32)


def random_rotation(d, seed):
    q, r = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed)))
    return q * torch.sign(torch.diagonal(r))


@pytest.mark.parametrize("activation", [None, "relu"])
def test_rotation_changes_loss_only_with_hidden_relu(activation):
    model = ToyModel(N, D, importance=IMPORTANCE, feature_probability=0.1, hidden_activation=activation, seed=0)
    train(model, steps=2000, lr=1e-2, seed=0, progress=False)
    batch = model.generate_batch(20_000, generator=torch.Generator().manual_seed(1))
    R = random_rotation(D, 2)
    assert torch.allclose(R @ R.T, torch.eye(D), atol=1e-5)
    with torch.no_grad():
        before = model.loss(batch).item()
        model.W.copy_(R @ model.W)
        after = model.loss(batch).item()
    if activation is None:
        assert after == pytest.approx(before, rel=1e-4)  # "(1.00x)"
    else:
        assert after / before > 3  # "several times over"


@pytest.fixture(scope="module")
def sweep():
    ps = torch.logspace(0, -2, 8)
    model = ToyModel(N, D, len(ps), importance=IMPORTANCE, feature_probability=ps[:, None],
                     hidden_activation="relu", seed=0)
    train(model, steps=4000, lr=1e-2, seed=0, progress=False)
    return ps, model.W.detach()


def test_dense_monosemantic_sparse_polysemantic(sweep):
    ps, W = sweep
    counts = neuron_polysemanticity_from_weights(W, THETA)
    assert (counts[0] == 1).all()  # p = 1: five monosemantic neurons
    assert (counts[-2:] >= 2).all()  # the two sparsest settings: all polysemantic
    assert (counts > 0).all()  # no dead neurons
    # p = 1: the neurons hold the five most important features, the other five are dropped
    assert set((W[0] > THETA).nonzero()[:, 1].tolist()) == {0, 1, 2, 3, 4}
    # "the two ends do not depend on the threshold"
    for theta in (0.2, 0.5):
        other = neuron_polysemanticity_from_weights(W, theta)
        assert (other[0] == 1).all() and (other[-2:] >= 2).all()


def test_raw_and_conditional_scores_move_in_opposite_directions(sweep):
    ps, W = sweep
    samples = sparse_features(20_000, len(ps), N, ps[:, None], generator=torch.Generator().manual_seed(1))
    raw = neuron_polysemanticity(W, samples, THETA).mean(-1)
    given = neuron_polysemanticity(W, samples, THETA, given_active=True).mean(-1)
    weights = neuron_polysemanticity_from_weights(W, THETA).mean(-1)
    assert given[0].item() == pytest.approx(0.7, abs=0.02)
    assert given[-2:].min() > 1.5 and given[-2:].max() < 2.5  # "about 2"
    assert raw[-1] < 0.05 and (raw[1:] < raw[:-1]).all()  # falls towards 0
    assert (given <= weights + 1e-6).all()  # the weights-only count is an upper bound


def test_abs_model_dense_pairs_sparse_polysemantic():
    ps = torch.tensor([1.0, 0.3, 0.1, 0.03])
    generator = torch.Generator().manual_seed(0)
    model = AbsValueModel(20, 8, len(ps), generator=generator)
    history = train_abs_model(model, ps[:, None], 0.8 ** torch.arange(20.0), steps=3000, batch_size=512, lr=3e-3,
                              generator=generator, progress=False)
    assert (history[-200:].mean(0) < history[:50].mean(0)).all()
    W1 = model.W1.detach()
    counts = neuron_polysemanticity_from_weights(W1.abs(), THETA)
    mono = counts == 1
    assert mono[0].all() and not mono[-1].any()
    assert counts[-1].mean() > 3
    plus = ((W1 > THETA) & mono[..., None]).any(-2)
    minus = ((W1 < -THETA) & mono[..., None]).any(-2)
    assert (plus & minus)[0].sum() >= 2  # at p = 1 some features get a +x / -x neuron pair
    samples = signed_sparse_features(100, len(ps), 20, ps[:, None], generator=torch.Generator().manual_seed(1))
    assert model(samples).shape == samples.shape

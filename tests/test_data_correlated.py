"""sparse_features' correlated and anticorrelated pairs (superpos_lib.data)."""

import pytest
import torch

from superpos_lib.data import sparse_features


def sample(p, c, a, n=6, batch=40000, seed=0):
    return sparse_features(batch, 2, n, p, correlated_pairs=c, anticorrelated_pairs=a,
                           generator=torch.Generator().manual_seed(seed))


def test_default_behaviour_unchanged():
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(sparse_features(50, 2, 5, 0.3, generator=g1),
                       sparse_features(50, 2, 5, 0.3, generator=g2, correlated_pairs=0, anticorrelated_pairs=0))


def test_correlated_pairs_are_both_on_or_both_off():
    x = sample(0.2, 2, 0)
    on = x != 0
    assert torch.equal(on[..., 0], on[..., 1]) and torch.equal(on[..., 2], on[..., 3])
    assert torch.allclose(on.float().mean((0, 1)), torch.full((6,), 0.2), atol=0.01)
    both = x[on[..., 0]][:, :2]
    assert not torch.equal(both[:, 0], both[:, 1])  # magnitudes drawn independently
    assert abs(torch.corrcoef(both.T)[0, 1].item()) < 0.03
    assert both.min() > 0 and both.max() <= 1 and abs(both.mean().item() - 0.5) < 0.02
    # the independent features 4, 5 co-occur at the product rate
    assert (on[..., 4] & on[..., 5]).float().mean().item() == pytest.approx(0.04, abs=0.005)


def test_anticorrelated_pairs_are_never_both_on():
    x = sample(0.3, 1, 2)
    on = x != 0
    assert not (on[..., 2] & on[..., 3]).any() and not (on[..., 4] & on[..., 5]).any()
    assert torch.allclose(on.float().mean((0, 1)), torch.full((6,), 0.3), atol=0.01)
    values = x[..., 2][on[..., 2]]
    assert values.min() > 0 and values.max() <= 1 and abs(values.mean().item() - 0.5) < 0.02
    assert torch.equal(on[..., 0], on[..., 1])


def test_per_feature_probabilities():
    p = torch.tensor([0.1, 0.4, 0.2, 0.5])
    x = sparse_features(40000, 1, 4, p, correlated_pairs=1, anticorrelated_pairs=1,
                        generator=torch.Generator().manual_seed(1))
    on = x[:, 0] != 0
    assert torch.allclose(on.float().mean(0), p, atol=0.01)
    assert (on[:, 1] | ~on[:, 0]).all()  # the rarer feature of a correlated pair only appears with the other
    assert not (on[:, 2] & on[:, 3]).any()


def test_seeded():
    assert torch.equal(sample(0.3, 1, 1, batch=20, seed=5), sample(0.3, 1, 1, batch=20, seed=5))


def test_bad_inputs():
    with pytest.raises(ValueError, match="correlated_pairs"):
        sparse_features(4, 1, 4, 0.5, correlated_pairs=-1)
    with pytest.raises(ValueError, match="anticorrelated_pairs"):
        sparse_features(4, 1, 4, 0.5, anticorrelated_pairs=1.5)
    with pytest.raises(ValueError, match="at most n_features"):
        sparse_features(4, 1, 5, 0.5, correlated_pairs=2, anticorrelated_pairs=1)
    with pytest.raises(ValueError, match="feature_probability"):
        sparse_features(4, 1, 4, 0.6, anticorrelated_pairs=1)
    with pytest.raises(ValueError, match="feature_probability"):
        sparse_features(4, 1, 4, 1.2, correlated_pairs=1)

import pytest
import torch

from superpos_lib.data import sparse_features


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_shape_dtype_and_range():
    x = sparse_features(64, 3, 7, 0.5, generator=gen())
    assert x.shape == (64, 3, 7)
    assert x.dtype == torch.float32
    assert (x >= 0).all() and (x <= 1).all()


def test_scalar_probability_gives_that_fraction_of_nonzeros_and_uniform_magnitudes():
    x = sparse_features(20_000, 2, 10, 0.1, generator=gen())
    frac = (x > 0).float().mean().item()
    assert abs(frac - 0.1) < 0.005
    nz = x[x > 0]
    assert abs(nz.mean().item() - 0.5) < 0.01  # uniform on (0, 1]
    assert abs(nz.var().item() - 1 / 12) < 0.005


def test_dense_features_are_all_present():
    x = sparse_features(1000, 1, 4, 1.0, generator=gen())
    assert (x > 0).float().mean().item() > 0.999


def test_per_feature_and_per_instance_probabilities():
    p = torch.tensor([1.0, 0.5, 0.05])
    x = sparse_features(20_000, 2, 3, p, generator=gen())
    frac = (x > 0).float().mean(0)  # (2, 3)
    assert torch.allclose(frac, p.expand(2, 3), atol=0.01)
    p2 = torch.tensor([[0.9], [0.2]])
    x2 = sparse_features(20_000, 2, 3, p2, generator=gen())
    assert torch.allclose((x2 > 0).float().mean(0), p2.expand(2, 3), atol=0.01)


def test_generator_makes_draws_repeatable():
    a = sparse_features(8, 2, 3, 0.3, generator=gen(5))
    b = sparse_features(8, 2, 3, 0.3, generator=gen(5))
    c = sparse_features(8, 2, 3, 0.3, generator=gen(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_float64():
    assert sparse_features(4, 1, 2, generator=gen(), dtype=torch.float64).dtype == torch.float64


@pytest.mark.parametrize("kwargs, name", [
    (dict(batch_size=0, n_instances=1, n_features=2), "batch_size"),
    (dict(batch_size=2, n_instances=0, n_features=2), "n_instances"),
    (dict(batch_size=2, n_instances=1, n_features=0), "n_features"),
    (dict(batch_size=2, n_instances=1, n_features=2, feature_probability=0.0), "feature_probability"),
    (dict(batch_size=2, n_instances=1, n_features=2, feature_probability=1.5), "feature_probability"),
    (dict(batch_size=2, n_instances=1, n_features=2, feature_probability=-0.1), "feature_probability"),
    (dict(batch_size=2, n_instances=2, n_features=3, feature_probability=torch.full((3, 2), 0.5)), "feature_probability"),
])
def test_bad_inputs_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        sparse_features(**kwargs)

import pytest
import torch

from superpos_lib.metrics import cosine_matrix, dead_fraction, explained_variance, feature_recovery, l0, mmcs


def _rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_mmcs_is_one_for_a_permuted_rescaled_superset():
    true = _rand(10, 6)
    learned = torch.cat([true[torch.randperm(10, generator=torch.Generator().manual_seed(1))] * 3.0, _rand(5, 6, seed=2)])
    assert mmcs(learned, true).item() == pytest.approx(1.0, abs=1e-6)
    assert feature_recovery(learned, true).item() == 1.0


def test_mmcs_counts_sign_and_missing_features():
    true = torch.eye(4)
    learned = torch.stack([torch.tensor([1.0, 0, 0, 0]), torch.tensor([0, -1.0, 0, 0])])
    # best cosines: 1, then 0 (the flipped copy has -1, the other row 0), 0, 0
    assert mmcs(learned, true).item() == pytest.approx(0.25)
    assert feature_recovery(learned, true, threshold=0.9).item() == pytest.approx(0.25)


def test_feature_recovery_threshold_and_batched_shapes():
    true = _rand(3, 8, 5)
    noise = _rand(3, 8, 5, seed=3)
    learned = true + 0.3 * noise
    cos = torch.nn.functional.cosine_similarity(learned, true, dim=-1)  # matched pairs
    rec = feature_recovery(learned, true, threshold=0.0)
    assert rec.shape == (3,) and mmcs(learned, true).shape == (3,)
    assert torch.all(rec == 1.0)
    best = cosine_matrix(learned, true).amax(-1)
    assert torch.all(best >= cos - 1e-6)
    t = float(best.median())
    assert torch.allclose(feature_recovery(learned, true, threshold=t), (best >= t).float().mean(-1))


def test_dictionary_bad_inputs():
    with pytest.raises(ValueError, match="true"):
        mmcs(torch.zeros(3, 4), torch.zeros(3, 5))
    with pytest.raises(ValueError, match="learned"):
        mmcs(torch.zeros(4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="threshold"):
        feature_recovery(torch.ones(2, 2), torch.ones(2, 2), threshold=1.5)
    with pytest.raises(ValueError, match="true"):
        mmcs(torch.ones(2, 2), torch.tensor([[float("nan"), 1.0]]))


def test_explained_variance():
    x = _rand(50, 4)
    assert explained_variance(x, x).item() == pytest.approx(1.0)
    assert explained_variance(x, x.mean(0).expand(50, 4)).item() == pytest.approx(0.0, abs=1e-6)
    stacked = torch.stack([x, 0.5 * x + 0.5 * x.mean(0)])
    ev = explained_variance(x, stacked)
    assert ev.shape == (2,) and ev[1].item() == pytest.approx(0.75, abs=1e-5)
    with pytest.raises(ValueError, match="x_hat"):
        explained_variance(x, x[:10])
    with pytest.raises(ValueError, match="x must vary"):
        explained_variance(torch.ones(5, 2), torch.ones(5, 2))


def test_l0_and_dead_fraction():
    z = torch.tensor([[0.0, 1.0, 0.0, 2.0], [0.0, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 3.0]])
    assert l0(z).item() == pytest.approx(4 / 3)
    assert dead_fraction(z).item() == pytest.approx(0.5)
    zz = torch.stack([z, torch.zeros_like(z)])
    assert torch.allclose(l0(zz), torch.tensor([4 / 3, 0.0]))
    assert torch.allclose(dead_fraction(zz), torch.tensor([0.5, 1.0]))
    with pytest.raises(ValueError, match="latents"):
        l0(torch.zeros(3))
    with pytest.raises(ValueError, match="latents"):
        dead_fraction(torch.zeros(0, 3))


def test_reconstruction_scale():
    from superpos_lib.metrics import reconstruction_scale

    x = _rand(30, 4)
    assert reconstruction_scale(x, x).item() == pytest.approx(1.0)
    assert torch.allclose(reconstruction_scale(x, torch.stack([0.7 * x, x])), torch.tensor([0.7, 1.0]))
    with pytest.raises(ValueError, match="x_hat"):
        reconstruction_scale(x, x[:, :3])
    with pytest.raises(ValueError, match="all zeros"):
        reconstruction_scale(torch.zeros(3, 2), torch.zeros(3, 2))

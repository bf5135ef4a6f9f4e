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


# ---------------------------------------------------------------- shrinkage and ground-truth precision

from superpos_lib.metrics import (  # noqa: E402
    activation_slope,
    firing_f1,
    latent_precision,
    matched_latents,
    mean_max_correlation,
    relative_reconstruction_bias,
)


def test_relative_reconstruction_bias_separates_shrinkage_from_dropped_variance():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 6, generator=g)
    assert relative_reconstruction_bias(x, x).item() == pytest.approx(1.0)
    # an orthogonal projection drops variance but does not shrink: gamma = 1, while the old scale < 1
    proj = x.clone()
    proj[:, 3:] = 0
    assert relative_reconstruction_bias(x, proj).item() == pytest.approx(1.0, abs=1e-6)
    from superpos_lib.metrics import reconstruction_scale
    assert reconstruction_scale(x, proj).item() < 0.7
    # shrinking by a factor s gives gamma = s; batched over instances
    gam = relative_reconstruction_bias(x, torch.stack([0.5 * proj, 2.0 * x]))
    assert torch.allclose(gam, torch.tensor([0.5, 2.0]), atol=1e-6)
    # measured from an offset (the Gated-SAE paper's form)
    b = torch.full((6,), 3.0)
    assert relative_reconstruction_bias(x + b, 0.5 * x + b, offset=b).item() == pytest.approx(0.5, abs=1e-6)
    with pytest.raises(ValueError, match="E <x, x_hat> > 0"):
        relative_reconstruction_bias(x, -x)
    with pytest.raises(ValueError, match="offset"):
        relative_reconstruction_bias(x, x, offset=torch.zeros(5))


def _planted():
    """4 true features in 4 dims (the basis); latents: 0, 1 copy features 0, 1; 2 is a 0.5-shrunk copy
    of feature 2; 3 is junk (a mixture) that fires; 4 never fires; feature 3 has no latent."""
    g = torch.Generator().manual_seed(1)
    true = torch.eye(4)
    coef = torch.where(torch.rand(400, 4, generator=g) < 0.3, torch.rand(400, 4, generator=g) + 0.01, torch.zeros(()))
    learned = torch.zeros(5, 4)
    learned[0, 0] = learned[1, 1] = learned[2, 2] = 1.0
    learned[3] = torch.tensor([0.0, 0.0, 0.6, 0.8])
    learned[4, 3] = -1.0
    z = torch.zeros(400, 5)
    z[:, 0], z[:, 1], z[:, 2] = coef[:, 0], coef[:, 1], 0.5 * coef[:, 2]
    z[:, 3] = (coef[:, 0] > 0).float()           # fires with feature 0, points elsewhere
    return true, coef, learned, z


def test_precision_counts_live_latents_that_match_nothing():
    true, coef, learned, z = _planted()
    assert matched_latents(learned, true)[:3].tolist() == [0, 1, 2]
    # live latents: 0, 1, 2, 3; of those 0, 1, 2 match a feature at cos >= 0.9
    assert latent_precision(learned, true, z).item() == pytest.approx(0.75)
    fires = (z != 0).sum(0).float()
    assert latent_precision(learned, true, z, weighted=True).item() == pytest.approx((fires[:3].sum() / fires[:4].sum()).item())
    # batched
    assert latent_precision(learned.expand(2, -1, -1), true, z.expand(2, -1, -1)).shape == (2,)
    with pytest.raises(ValueError, match="threshold"):
        latent_precision(learned, true, z, threshold=2)


def test_mean_max_correlation_and_firing_f1_on_planted_latents():
    true, coef, learned, z = _planted()
    # features 0, 1, 2 have a latent equal to (a multiple of) their coefficient: correlation 1; feature 3 has none
    mmc = mean_max_correlation(z, coef).item()
    corr3 = max(torch.corrcoef(torch.stack([coef[:, 3], z[:, j]]))[0, 1].item() for j in range(4))
    assert mmc == pytest.approx((3 + corr3) / 4, abs=1e-5)
    f1 = firing_f1(z, coef, learned, true, per_feature=True)
    assert f1[:3].tolist() == [1.0, 1.0, 1.0]
    # feature 3's best-cosine latent is the junk latent 3 (cos 0.8), which fires with feature 0 instead
    assert matched_latents(learned, true)[3].item() == 3
    fired, present = z[:, 3] > 0, coef[:, 3] > 0
    tp, fp, fn = (fired & present).sum(), (fired & ~present).sum(), (~fired & present).sum()
    assert f1[3].item() == pytest.approx((2 * tp / (2 * tp + fp + fn)).item())
    assert firing_f1(z, coef, learned, true).item() == pytest.approx((3 + f1[3].item()) / 4)
    with pytest.raises(ValueError, match="coefficients"):
        mean_max_correlation(z, coef[:10])


def test_activation_slope_reads_shrinkage_from_the_ground_truth():
    true, coef, learned, z = _planted()
    s = activation_slope(z, coef, learned, true)
    assert torch.allclose(s[:3], torch.tensor([1.0, 1.0, 0.5]), atol=1e-6)
    present = coef[:, 3] > 0
    expected = 0.8 * (z[present, 3] * coef[present, 3]).sum() / coef[present, 3].pow(2).sum()
    assert s[3].item() == pytest.approx(expected.item(), rel=1e-5)
    # only where the latent fires: a latent at full size that fires half the time has slope 1, not 1/2
    half = z.clone()
    half[::2, 0] = 0.0
    assert activation_slope(half, coef, learned, true)[0].item() < 0.8
    assert activation_slope(half, coef, learned, true, condition="fired")[0].item() == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="condition"):
        activation_slope(z, coef, learned, true, condition="all")

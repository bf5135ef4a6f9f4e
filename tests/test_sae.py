import math

import pytest
import torch

from superpos_lib.metrics import feature_recovery, mmcs
from superpos_lib.sae import (
    SparseAutoencoder,
    _autograd_loss,
    _project_decoder_grad,
    _relu_grads,
    _topk_grads,
    _Workspace,
    resample_dead_latents,
    sae_loss,
    synthetic_features,
    train_sae,
)


def _perturbed(act, k=None, n_instances=3, d=16, m=64, seed=1):
    sae = SparseAutoencoder(d, m, activation=act, k=k, n_instances=n_instances, seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        sae.b_enc.copy_(0.1 * torch.randn(sae.b_enc.shape, generator=g))
        sae.b_dec.copy_(0.1 * torch.randn(sae.b_dec.shape, generator=g))
        sae.W_enc.add_(0.1 * torch.randn(sae.W_enc.shape, generator=g))
    return sae


# ---------------------------------------------------------------- synthetic features

def test_synthetic_features_shapes_probabilities_and_determinism():
    f = synthetic_features(40, 12, mean_active=3.0, decay=0.5, seed=2)
    assert f.directions.shape == (40, 12)
    assert torch.allclose(f.directions.norm(dim=1), torch.ones(40))
    assert f.probabilities.sum().item() == pytest.approx(3.0, rel=1e-5)
    assert torch.all(f.probabilities[1:] <= f.probabilities[:-1])  # decaying
    assert f.probabilities[0] / f.probabilities[-1] == pytest.approx(40 ** 0.5, rel=1e-4)
    c = f.sample_coefficients(20000)
    assert c.shape == (20000, 40) and c.min() >= 0 and c.max() <= 1
    assert (c > 0).float().sum(1).mean().item() == pytest.approx(3.0, rel=0.05)
    assert torch.allclose((c > 0).float().mean(0), f.probabilities, atol=0.02)
    x = synthetic_features(40, 12, mean_active=3.0, seed=2)(5)
    assert torch.equal(x, synthetic_features(40, 12, mean_active=3.0, seed=2)(5)) and x.shape == (5, 12)


def test_synthetic_features_bad_inputs():
    with pytest.raises(ValueError, match="n_features"):
        synthetic_features(0, 4)
    with pytest.raises(ValueError, match="mean_active"):
        synthetic_features(4, 4, mean_active=5.0)
    with pytest.raises(ValueError, match="decay"):
        synthetic_features(100, 4, mean_active=50.0, decay=2.0)
    with pytest.raises(ValueError, match="batch_size"):
        synthetic_features(4, 4, mean_active=1.0)(0)


# ---------------------------------------------------------------- model

def test_model_shapes_and_unit_decoder_rows():
    sae = SparseAutoencoder(8, 20, n_instances=2, seed=0)
    assert sae.W_enc.shape == (2, 8, 20) and sae.b_enc.shape == (2, 20)
    assert sae.W_dec.shape == (2, 20, 8) and sae.b_dec.shape == (2, 8)
    assert torch.allclose(sae.W_dec.norm(dim=-1), torch.ones(2, 20))
    x = torch.randn(5, 8)
    x_hat, z = sae(x)
    assert x_hat.shape == (2, 5, 8) and z.shape == (2, 5, 20) and (z >= 0).all()
    assert torch.allclose(sae.decode(z), x_hat)
    x3 = torch.randn(2, 5, 8)
    assert sae.encode(x3).shape == (2, 5, 20)
    # the forward pass is the formula of the docstring
    z_ref = torch.relu((x - sae.b_dec[1]) @ sae.W_enc[1] + sae.b_enc[1])
    assert torch.allclose(z[1], z_ref, atol=1e-6)
    assert torch.allclose(x_hat[1], z_ref @ sae.W_dec[1] + sae.b_dec[1], atol=1e-6)
    assert torch.equal(SparseAutoencoder(8, 20, seed=3).W_dec, SparseAutoencoder(8, 20, seed=3).W_dec)


def test_topk_keeps_k_per_instance():
    sae = _perturbed("topk", k=[1, 4, 7], d=6, m=30)
    z = sae.encode(torch.randn(50, 6, generator=torch.Generator().manual_seed(0)))
    counts = (z > 0).sum(-1)
    assert torch.all(counts <= torch.tensor([1, 4, 7]).view(3, 1))
    pre = sae.pre_activations(torch.randn(50, 6, generator=torch.Generator().manual_seed(0)))
    # each kept latent is among the k largest pre-activations, and kept with its value
    kth = pre.topk(4, dim=-1).values[1, :, -1:]
    assert torch.all((z[1] == 0) | (pre[1] >= kth))
    assert torch.allclose(z[1][z[1] > 0], pre[1][z[1] > 0])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(d_in=4, d_sae=0), "d_sae"),
        (dict(d_in=0, d_sae=4), "d_in"),
        (dict(d_in=4, d_sae=8, activation="topk"), "k must be given"),
        (dict(d_in=4, d_sae=8, activation="topk", k=9), "k must be at most d_sae"),
        (dict(d_in=4, d_sae=8, activation="topk", k=0), "k must be a positive"),
        (dict(d_in=4, d_sae=8, activation="topk", k=[2, 3]), "one per instance"),
        (dict(d_in=4, d_sae=8, activation="relu", k=2), "k must be None"),
        (dict(d_in=4, d_sae=8, activation="gelu"), "activation"),
        (dict(d_in=4, d_sae=8, n_instances=0), "n_instances"),
    ],
)
def test_model_bad_inputs(kwargs, match):
    d_in, d_sae = kwargs.pop("d_in"), kwargs.pop("d_sae")
    with pytest.raises(ValueError, match=match):
        SparseAutoencoder(d_in, d_sae, **kwargs)


def test_encode_decode_bad_inputs():
    sae = SparseAutoencoder(4, 8, n_instances=2)
    with pytest.raises(ValueError, match="d_in=4"):
        sae.encode(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="n_instances=2"):
        sae.encode(torch.zeros(3, 3, 4))
    with pytest.raises(ValueError, match="finite"):
        sae.encode(torch.tensor([[0.0, 1.0, float("nan"), 0.0]]))
    with pytest.raises(ValueError, match="z must have shape"):
        sae.decode(torch.zeros(2, 3, 7))


# ---------------------------------------------------------------- loss and gradients

def test_sae_loss_weights_the_latents_by_decoder_norms():
    g = torch.Generator().manual_seed(0)
    x, x_hat = torch.randn(6, 3, generator=g), torch.randn(2, 6, 3, generator=g)
    z = torch.rand(2, 6, 5, generator=g)
    W = torch.randn(2, 5, 3, generator=g)
    lam = torch.tensor([0.0, 0.3])
    expected = torch.stack([
        ((x - x_hat[i]) ** 2).sum(1).mean() + lam[i] * (z[i] @ W[i].norm(dim=1)).mean() for i in range(2)
    ])
    assert torch.allclose(sae_loss(x, x_hat, z, W, lam), expected, atol=1e-6)
    # doubling the decoder norms doubles the penalty: the input x is never penalised
    diff = sae_loss(x, x_hat, z, 2 * W, lam) - sae_loss(x, x_hat, z, W, lam)
    assert torch.allclose(diff, lam * (z * W.norm(dim=-1).unsqueeze(1)).sum(-1).mean(-1), atol=1e-5)
    with pytest.raises(ValueError, match="l1_coeff"):
        sae_loss(x, x_hat, z, W, -1.0)
    with pytest.raises(ValueError, match="W_dec"):
        sae_loss(x, x_hat, z, W[:, :4], 0.1)


@pytest.mark.parametrize("act, k", [("relu", None), ("topk", [4, 8, 3])])
def test_hand_derived_gradients_match_autograd(act, k):
    sae = _perturbed(act, k=k)
    x = torch.randn(32, 16, generator=torch.Generator().manual_seed(5))
    lam = torch.tensor([0.0, 0.1, 0.5])
    dead = torch.rand(3, 64, generator=torch.Generator().manual_seed(6)) < 0.5
    ws = _Workspace(sae, 32)
    if act == "relu":
        grads, fired, stats = _relu_grads(sae, x, lam, ws, True)
    else:
        grads, fired, stats = _topk_grads(sae, x, dead, 1 / 32, 8, ws, True)
        assert stats["aux"].min() > 0  # the AuxK term was active in this comparison
    grads[2] = _project_decoder_grad(sae.W_dec.detach(), grads[2])
    loss, fired_ref, stats_ref = _autograd_loss(sae, x, lam, dead if act == "topk" else None, 1 / 32, 8, True)
    loss.sum().backward()
    ref = [sae.W_enc.grad, sae.b_enc.grad, _project_decoder_grad(sae.W_dec.detach(), sae.W_dec.grad), sae.b_dec.grad]
    for name, a, b in zip(["W_enc", "b_enc", "W_dec", "b_dec"], grads, ref):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4), name
    assert torch.equal(fired, fired_ref)
    for key in ("mse", "l0"):
        assert torch.allclose(stats[key], stats_ref[key], atol=1e-5)


# ---------------------------------------------------------------- training

@pytest.mark.parametrize("act, k, extra", [
    ("relu", None, dict(l1_coeff=[0.05, 0.2], l1_warmup_steps=5, resample_dead_every=10)),
    ("topk", [2, 5], dict(dead_window=3)),
])
def test_fast_training_matches_autograd_training(act, k, extra):
    feats = synthetic_features(24, 8, mean_active=2.0, seed=0)
    data = feats(512)
    runs = []
    for method in ("fast", "autograd"):
        sae = SparseAutoencoder(8, 48, activation=act, k=k, n_instances=2, seed=0)
        h = train_sae(sae, data, steps=25, batch_size=64, lr=3e-3, log_every=5, method=method, progress=False, **extra)
        runs.append((sae, h))
    (a, ha), (b, hb) = runs
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.allclose(p, q, atol=2e-4, rtol=1e-3)
    assert torch.allclose(ha["loss"], hb["loss"], rtol=1e-3, atol=1e-5)
    assert torch.equal(ha["resampled"], hb["resampled"])
    assert torch.allclose(a.W_dec.norm(dim=-1), torch.ones(2, 48), atol=1e-5)
    assert set(ha) == {"step", "loss", "mse", "l0", "fve", "dead_fraction", "aux", "resampled", "revived"}
    assert ha["step"].tolist() == [0, 5, 10, 15, 20, 24] and ha["mse"].shape == (6, 2)


def test_train_recovers_small_ground_truth():
    feats = synthetic_features(32, 16, mean_active=2.0, seed=0)
    relu = SparseAutoencoder(16, 64, n_instances=1, seed=0)
    h = train_sae(relu, feats, steps=600, batch_size=256, lr=1e-2, l1_coeff=0.3, progress=False)
    topk = SparseAutoencoder(16, 64, activation="topk", k=2, seed=0)
    train_sae(topk, feats, steps=600, batch_size=256, lr=3e-3, progress=False)
    for sae in (relu, topk):
        assert mmcs(sae.W_dec[0].detach(), feats.directions) > 0.95
        assert feature_recovery(sae.W_dec[0].detach(), feats.directions) >= 0.9
    assert h["fve"][-1, 0] > 0.8 and h["mse"][-1, 0] < h["mse"][0, 0]


def test_b_dec_starts_at_the_data_mean_and_tensor_data_is_seeded():
    data = torch.randn(300, 5, generator=torch.Generator().manual_seed(0)) + 3.0
    a = SparseAutoencoder(5, 10, seed=0)
    train_sae(a, data, steps=1, batch_size=16, lr=1e-9, progress=False)
    assert torch.allclose(a.b_dec[0], data.mean(0), atol=1e-5)
    b = SparseAutoencoder(5, 10, seed=0)
    c = SparseAutoencoder(5, 10, seed=0)
    train_sae(b, data, steps=5, batch_size=16, progress=False, seed=3)
    train_sae(c, data, steps=5, batch_size=16, progress=False, seed=3)
    assert torch.equal(b.W_enc, c.W_enc)


def test_topk_auxk_revives_dead_latents():
    # latents 30..39 get a large bias, so latents 0..29 never make the top 2: AuxK must move them
    feats = synthetic_features(16, 8, mean_active=2.0, seed=0)
    sae = SparseAutoencoder(8, 40, activation="topk", k=2, seed=0)
    with torch.no_grad():
        sae.b_enc[0, 30:] = 10.0
    before = sae.W_dec[0, :30].clone()
    h = train_sae(sae, feats, steps=30, batch_size=128, dead_window=5, aux_coeff=1 / 32, progress=False)
    assert h["aux"][-1, 0] > 0 and h["dead_fraction"][-1, 0] > 0
    assert not torch.allclose(sae.W_dec[0, :30], before)
    none = SparseAutoencoder(8, 40, activation="topk", k=2, seed=0)
    with torch.no_grad():
        none.b_enc[0, 30:] = 10.0
    train_sae(none, feats, steps=30, batch_size=128, dead_window=5, aux_coeff=0.0, progress=False)
    assert torch.allclose(none.W_dec[0, :30], before, atol=1e-6)


def test_resample_dead_latents():
    sae = SparseAutoencoder(6, 12, n_instances=2, seed=0)
    x = torch.randn(40, 6, generator=torch.Generator().manual_seed(1))
    dead = torch.zeros(2, 12, dtype=torch.bool)
    dead[0, :3] = True
    dead[1, 5] = True
    W_dec0, W_enc0 = sae.W_dec.detach().clone(), sae.W_enc.detach().clone()
    n = resample_dead_latents(sae, x, dead, generator=torch.Generator().manual_seed(0))
    assert n.tolist() == [3, 1]
    assert torch.equal(sae.W_dec[~dead], W_dec0[~dead])
    assert not torch.allclose(sae.W_dec[dead], W_dec0[dead])
    assert torch.allclose(sae.W_dec.norm(dim=-1), torch.ones(2, 12), atol=1e-6)
    # new decoder rows are (normalised) inputs minus b_dec; encoder columns point the same way
    cos = torch.nn.functional.normalize(sae.W_dec[0, :3], dim=-1) @ torch.nn.functional.normalize(x, dim=-1).T
    assert torch.allclose(cos.amax(-1), torch.ones(3), atol=1e-5)
    enc = sae.W_enc[0, :, :3].T
    assert torch.allclose(torch.nn.functional.normalize(enc, dim=-1), sae.W_dec[0, :3], atol=1e-5)
    assert torch.allclose(enc.norm(dim=-1), 0.2 * W_enc0[0, :, 3:].norm(dim=0).mean().expand(3), atol=1e-5)
    with pytest.raises(ValueError, match="dead"):
        resample_dead_latents(sae, x, dead[:1])
    with pytest.raises(ValueError, match="x must have"):
        resample_dead_latents(sae, x[:, :5], dead)


def test_resample_with_decoder_rows_function():
    """A decoder-row rule passed in (chapter 6b's exercise) gives the library's own resampling when it
    is the reference, and its rows (for dead latents only) when it is another rule."""
    from superpos_lib.checks.sae import resample_decoder_rows_reference

    x = torch.randn(40, 6, generator=torch.Generator().manual_seed(1))
    dead = torch.zeros(2, 12, dtype=torch.bool)
    dead[0, :3] = True
    dead[1, 5] = True
    plain, hooked = SparseAutoencoder(6, 12, n_instances=2, seed=0), SparseAutoencoder(6, 12, n_instances=2, seed=0)
    resample_dead_latents(plain, x, dead, generator=torch.Generator().manual_seed(0))
    resample_dead_latents(hooked, x, dead, generator=torch.Generator().manual_seed(0),
                          decoder_rows=resample_decoder_rows_reference)
    for a, b in zip(plain.parameters(), hooked.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    other = SparseAutoencoder(6, 12, n_instances=2, seed=0)
    W_dec0 = other.W_dec.detach().clone()
    fixed = torch.nn.functional.normalize(torch.ones(6), dim=0)
    resample_dead_latents(other, x, dead, generator=torch.Generator().manual_seed(0),
                          decoder_rows=lambda W, d, xc, b: torch.where(d[:, None], fixed, -W))
    assert torch.allclose(other.W_dec[dead], fixed.expand(4, 6))
    assert torch.equal(other.W_dec[~dead], W_dec0[~dead])  # live rows are never changed
    with pytest.raises(ValueError, match="decoder_rows must be a function"):
        resample_dead_latents(other, x, dead, decoder_rows="reference")
    with pytest.raises(ValueError, match="returned shape"):
        resample_dead_latents(other, x, dead, decoder_rows=lambda W, d, xc, b: W[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        resample_dead_latents(other, x, dead, decoder_rows=lambda W, d, xc, b: W * float("nan"))
    with pytest.raises(ValueError, match="got a tuple"):
        resample_dead_latents(other, x, dead, decoder_rows=lambda W, d, xc, b: (W, d))
    with pytest.raises(ValueError, match="got a NoneType"):
        resample_dead_latents(other, x, dead, decoder_rows=lambda W, d, xc, b: None)
    with pytest.raises(ValueError, match="unit-length"):
        resample_dead_latents(other, x, dead, decoder_rows=lambda W, d, xc, b: torch.where(d[:, None], 5 * fixed, W))
    # NumPy rules work: the rule gets CPU copies
    import numpy as np
    resample_dead_latents(other, x, dead, decoder_rows=lambda W, d, xc, b: np.where(
        d.numpy()[:, None], np.broadcast_to(fixed.numpy(), W.shape), W.numpy()))
    assert torch.allclose(other.W_dec[dead], fixed.expand(4, 6))


def test_train_sae_resample_decoder_equals_builtin():
    from superpos_lib.checks.sae import resample_decoder_rows_reference

    runs = []
    for rule in (None, resample_decoder_rows_reference):
        feats = synthetic_features(40, 8, mean_active=2.0, seed=0)  # the sampler's generator advances: one each
        sae = SparseAutoencoder(8, 32, n_instances=2, seed=0)
        with torch.no_grad():
            sae.b_enc[:, 20:] = -10.0  # dead from the start, so resampling happens
        h = train_sae(sae, feats, steps=60, batch_size=64, lr=1e-2, resample_dead_every=20, resample_decoder=rule,
                      progress=False)
        runs.append((sae, h))
    assert runs[0][1]["resampled"].min() > 0
    assert torch.equal(runs[0][1]["resampled"], runs[1][1]["resampled"])
    for a, b in zip(runs[0][0].parameters(), runs[1][0].parameters()):
        assert torch.allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError, match="resample_decoder"):
        train_sae(runs[0][0], feats, steps=2, batch_size=8, resample_decoder=3, progress=False)
    with pytest.warns(UserWarning, match="ignored"):
        train_sae(runs[0][0], feats, steps=2, batch_size=8, resample_decoder=resample_decoder_rows_reference,
                  progress=False)  # no resample_dead_every
    topk = SparseAutoencoder(8, 32, activation="topk", k=2, seed=0)
    with pytest.warns(UserWarning, match="ignored"):
        train_sae(topk, feats, steps=2, batch_size=8, resample_dead_every=1, resample_decoder=resample_decoder_rows_reference,
                  progress=False)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(l1_coeff=-0.1), "l1_coeff"),
        (dict(l1_coeff=[0.1, 0.2, 0.3]), "l1_coeff"),
        (dict(steps=0), "steps"),
        (dict(batch_size=0), "batch_size"),
        (dict(lr=0.0), "lr"),
        (dict(method="adam"), "method"),
        (dict(resample_dead_every=0), "resample_dead_every"),
    ],
)
def test_train_bad_arguments(kwargs, match):
    sae = SparseAutoencoder(4, 8, n_instances=2)
    args = dict(steps=2, batch_size=8, progress=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        train_sae(sae, torch.randn(20, 4), **args)


def test_train_bad_data_is_rejected_before_training():
    sae = SparseAutoencoder(4, 8)
    W0 = sae.W_enc.detach().clone()
    with pytest.raises(ValueError, match="d_in=4"):
        train_sae(sae, torch.randn(20, 5), steps=2, progress=False)
    bad = torch.randn(20, 4)
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="data must contain only finite"):
        train_sae(sae, bad, steps=2, progress=False)
    with pytest.raises(ValueError, match=r"data\(batch_size\)"):
        train_sae(sae, lambda n: torch.randn(n, 3), steps=2, batch_size=8, progress=False)
    with pytest.raises(ValueError, match="finite"):
        train_sae(sae, lambda n: torch.full((n, 4), float("nan")), steps=2, batch_size=8, progress=False)
    with pytest.raises(ValueError, match="sae"):
        train_sae("sae", bad, steps=2, progress=False)
    assert torch.equal(sae.W_enc, W0)


def test_sae_init_does_not_start_at_the_synthetic_features():
    # same seed for both: the two random streams must differ (the SAE would start at the answer)
    feats = synthetic_features(32, 16, mean_active=2.0, seed=0)
    sae = SparseAutoencoder(16, 32, seed=0)
    assert mmcs(sae.W_dec[0].detach(), feats.directions) < 0.8

"""JumpReLU, Gated and BatchTopK SAEs, the straight-through estimators and the AuxK loss."""

import pytest
import torch

from superpos_lib import sae as S
from superpos_lib.metrics import mmcs
from superpos_lib.sae import (
    SparseAutoencoder,
    _project_decoder_grad,
    _Workspace,
    auxk_loss,
    heaviside_step,
    jumprelu,
    synthetic_features,
    train_sae,
)
from superpos_lib.sae._context import StepContext
from superpos_lib.sae.batchtopk import batch_activate, batch_threshold
from superpos_lib.sae.train import ARCHITECTURES


# ---------------------------------------------------------------- straight-through estimators

def test_heaviside_step_values_and_pseudo_derivatives_by_hand():
    # z = [1.0, 1.4, 1.6, 2.0], theta = 1.5, eps = 0.5: (z - theta) / eps = [-1, -0.2, 0.2, 1],
    # so the rectangle kernel K(u) = 1[|u| < 1/2] is [0, 1, 1, 0]
    z = torch.tensor([[1.0, 1.4, 1.6, 2.0]], requires_grad=True)
    theta = torch.full((4,), 1.5, requires_grad=True)
    out = heaviside_step(z, theta, 0.5)
    assert out.tolist() == [[0.0, 0.0, 1.0, 1.0]]
    out.sum().backward()
    assert theta.grad.tolist() == [0.0, -2.0, -2.0, 0.0]      # -(1/eps) K
    assert z.grad.tolist() == [[0.0, 0.0, 0.0, 0.0]]          # no gradient to the input
    # a stacked batch doubles the threshold's gradient (summed over the broadcast dimension)
    theta.grad = None
    heaviside_step(torch.cat([z, z]).detach(), theta, 0.5).sum().backward()
    assert theta.grad.tolist() == [0.0, -4.0, -4.0, 0.0]


def test_jumprelu_values_and_pseudo_derivatives_by_hand():
    z = torch.tensor([[1.0, 1.4, 1.6, 2.0]], requires_grad=True)
    theta = torch.full((4,), 1.5, requires_grad=True)
    out = jumprelu(z, theta, 0.5)
    assert torch.allclose(out, torch.tensor([[0.0, 0.0, 1.6, 2.0]]))
    out.sum().backward()
    assert theta.grad.tolist() == [0.0, -3.0, -3.0, 0.0]      # -(theta/eps) K
    assert z.grad.tolist() == [[0.0, 0.0, 1.0, 1.0]]          # H(z - theta)
    # scalar threshold: gradients summed over every entry
    th = torch.tensor(1.5, requires_grad=True)
    jumprelu(z.detach(), th, 0.5).sum().backward()
    assert th.grad.item() == pytest.approx(-6.0)


def test_ste_bad_inputs():
    z = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="bandwidth"):
        jumprelu(z, torch.zeros(3), 0.0)
    with pytest.raises(ValueError, match="threshold"):
        heaviside_step(z, torch.zeros(4), 0.1)
    with pytest.raises(ValueError, match="pre"):
        jumprelu([1.0], torch.zeros(1), 0.1)


# ---------------------------------------------------------------- AuxK

def test_auxk_loss_is_gao_et_al_normalised_mse_on_a_hand_case():
    # residuals e = [[1, 0], [3, 0]]: mean [2, 0], mean_b ||e - mean||^2 = (1 + 1) / 2 = 1
    # e_hat = [[0, 0], [3, 1]]: mean_b ||e_hat - e||^2 = (1 + 1) / 2 = 1  ->  1 / 1 = 1
    e = torch.tensor([[1.0, 0.0], [3.0, 0.0]])
    e_hat = torch.tensor([[0.0, 0.0], [3.0, 1.0]])
    assert auxk_loss(e_hat, e).item() == pytest.approx(1.0)
    # halving the error quarters the loss; scaling both by 2 leaves it unchanged (it is normalised)
    assert auxk_loss(e + 0.5 * (e_hat - e), e).item() == pytest.approx(0.25)
    assert auxk_loss(2 * e_hat, 2 * e).item() == pytest.approx(1.0)
    assert auxk_loss(e, e).item() == 0.0
    # batched over instances
    assert auxk_loss(torch.stack([e_hat, e]), torch.stack([e, e])).tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="e must have the shape"):
        auxk_loss(e_hat, e[:1])
    with pytest.raises(ValueError, match="at least 2 samples"):
        auxk_loss(e_hat[:1], e[:1])


def test_training_adds_auxk_with_the_data_variance_as_weight():
    # the step's total = mse + aux_coeff * Var(x) * auxk_loss: check it on the autograd path
    feats = synthetic_features(16, 8, mean_active=2.0, seed=0)
    x = feats(64)
    sae = SparseAutoencoder(8, 40, activation="topk", k=2, seed=0)
    dead = torch.zeros(1, 40, dtype=torch.bool)
    dead[0, :20] = True
    ctx = StepContext(lam=torch.zeros(1), dead=dead, aux_coeff=0.5, k_aux=4, aux_scale=3.0)
    loss, _, stats = ARCHITECTURES["topk"].autograd_loss(sae, x, ctx, True)
    assert loss.item() == pytest.approx((stats["mse"] + 0.5 * 3.0 * stats["aux"]).item(), rel=1e-5)
    assert 0 < stats["aux"].item()


# ---------------------------------------------------------------- hand-derived steps against autograd

def _perturbed(act, k=None, n_instances=3, d=16, m=64, seed=1):
    sae = SparseAutoencoder(d, m, activation=act, k=k, n_instances=n_instances, seed=seed, threshold=0.2)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        sae.b_enc.copy_(0.1 * torch.randn(sae.b_enc.shape, generator=g))
        sae.b_dec.copy_(0.1 * torch.randn(sae.b_dec.shape, generator=g))
        sae.W_enc.add_(0.1 * torch.randn(sae.W_enc.shape, generator=g))
        if act == "jumprelu":
            sae.log_threshold.add_(0.5 * torch.randn(sae.log_threshold.shape, generator=g))
        if act == "gated":
            sae.r_mag.copy_(0.3 * torch.randn(sae.r_mag.shape, generator=g))
            sae.b_mag.copy_(0.1 * torch.randn(sae.b_mag.shape, generator=g))
    return sae


@pytest.mark.parametrize("act, k", [("jumprelu", None), ("batchtopk", [4, 8, 3]), ("topk", [4, 8, 3]), ("relu", None),
                                    ("gated", None)])
def test_hand_derived_steps_match_autograd(act, k):
    sae = _perturbed(act, k)
    x = torch.randn(32, 16, generator=torch.Generator().manual_seed(5))
    dead = torch.rand(3, 64, generator=torch.Generator().manual_seed(6)) < 0.5
    uses_aux = act in ("topk", "batchtopk")
    ctx = StepContext(lam=torch.tensor([0.0, 0.1, 0.5]), dead=dead if uses_aux else None, aux_coeff=1 / 32, k_aux=8,
                      aux_scale=2.0, bandwidth=0.3)
    grads, fired, stats = ARCHITECTURES[act].fast_grads(sae, x, ctx, _Workspace(sae, 32), True)
    grads[2] = _project_decoder_grad(sae.W_dec.detach(), grads[2])
    loss, fired_ref, stats_ref = ARCHITECTURES[act].autograd_loss(sae, x, ctx, True)
    loss.sum().backward()
    ref = [p.grad for p in sae.parameters()]
    ref[2] = _project_decoder_grad(sae.W_dec.detach(), ref[2])
    assert len(grads) == len(ref)
    for a, b in zip(grads, ref):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-4)
    assert torch.equal(fired, fired_ref)
    for key in ("mse", "l0") + (("penalty", "aux") if act == "gated" else ()):
        assert torch.allclose(stats[key], stats_ref[key], atol=1e-5)
    if uses_aux:
        assert stats["aux"].min() > 0 and torch.allclose(stats["aux"], stats_ref["aux"], atol=1e-5)
    if act == "jumprelu":
        assert ref[4].abs().sum() > 0  # the threshold's pseudo-gradient was exercised
    if act == "gated":
        assert ref[4].abs().sum() > 0 and ref[5].abs().sum() > 0  # the magnitude path was exercised


@pytest.mark.parametrize("act, k, extra", [
    ("jumprelu", None, dict(l0_coeff=[0.01, 0.1], l1_warmup_steps=5, bandwidth=0.1)),
    ("batchtopk", [2, 5], dict(dead_window=3)),
    ("gated", None, dict(l1_coeff=[0.05, 0.5], l1_warmup_steps=5)),
])
def test_fast_training_matches_autograd_training_new_architectures(act, k, extra):
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
    if act == "batchtopk":
        assert torch.allclose(a.threshold, b.threshold, rtol=1e-3) and torch.isfinite(a.threshold).all()


# ---------------------------------------------------------------- the architectures' rules

def test_batchtopk_keeps_k_times_batch_and_uses_a_threshold_at_inference():
    g = torch.Generator().manual_seed(0)
    pre = torch.randn(2, 50, 30, generator=g)
    k = torch.tensor([3, 7])
    t = batch_threshold(pre, k)
    for i in range(2):
        assert t[i] == pre[i].flatten().sort(descending=True).values[k[i] * 50 - 1]
    z = batch_activate(pre, k)
    assert (z > 0).reshape(2, -1).sum(-1).tolist() == [150, 350]  # all of them positive here
    per_sample = (z[1] > 0).sum(-1)
    assert per_sample.float().mean() == 7 and per_sample.min() < per_sample.max()  # L0 varies by sample
    sae = SparseAutoencoder(8, 30, activation="batchtopk", k=3, seed=0)
    assert torch.isnan(sae.threshold).all()
    feats = synthetic_features(16, 8, mean_active=2.0, seed=0)
    train_sae(sae, feats, steps=200, batch_size=128, lr=3e-3, progress=False)
    assert torch.isfinite(sae.threshold).all() and sae.threshold.item() > 0
    x = feats(1000)
    z = sae.encode(x)
    pre = sae.pre_activations(x)
    assert torch.equal(z > 0, pre > sae.threshold.view(1, 1, 1))  # a fixed rule: sample by sample
    assert abs((z > 0).sum(-1).float().mean().item() - 3) < 0.5  # the threshold gives L0 close to k


def test_gated_forward_is_gate_times_magnitude():
    sae = _perturbed("gated")
    with torch.no_grad():
        sae.r_mag.normal_(0, 0.3, generator=torch.Generator().manual_seed(0))
        sae.b_mag.normal_(0, 0.1, generator=torch.Generator().manual_seed(1))
    x = torch.randn(20, 16, generator=torch.Generator().manual_seed(2))
    z = sae.encode(x)
    i = 1
    xc = x - sae.b_dec[i]
    gate = (xc @ sae.W_enc[i] + sae.b_enc[i]) > 0
    mag = torch.relu(xc @ (sae.W_enc[i] * sae.r_mag[i].exp()) + sae.b_mag[i])
    assert torch.allclose(z[i], gate * mag, atol=1e-6)
    with pytest.raises(ValueError, match="gated"):
        SparseAutoencoder(4, 8).magnitude_pre_activations(torch.zeros(2, 4))


def test_gated_loss_has_the_auxiliary_term_with_a_frozen_decoder():
    sae = _perturbed("gated", n_instances=1)
    x = torch.randn(20, 16, generator=torch.Generator().manual_seed(2))
    ctx = StepContext(lam=torch.tensor([0.2]))
    loss, _, stats = ARCHITECTURES["gated"].autograd_loss(sae, x, ctx, True)
    pre = sae.pre_activations(x)[0]
    relu_gate = torch.relu(pre)
    aux = ((relu_gate @ sae.W_dec[0] + sae.b_dec[0] - x) ** 2).sum(-1).mean()
    l1 = 0.2 * relu_gate.sum(-1).mean()
    assert stats["aux"].item() == pytest.approx(aux.item(), rel=1e-5)
    assert loss.item() == pytest.approx((stats["mse"] + l1 + aux).item(), rel=1e-5)
    # the auxiliary term sends no gradient into the decoder
    sae.zero_grad()
    ARCHITECTURES["gated"].autograd_loss(sae, x, StepContext(lam=torch.tensor([0.0])), False)[0].sum().backward()
    g_total = sae.W_dec.grad.clone()
    sae.zero_grad()
    z = sae.encode(x)
    ((sae.decode(z) - x) ** 2).sum(-1).mean().backward()
    assert torch.allclose(g_total, sae.W_dec.grad, atol=1e-5)


@pytest.mark.parametrize("act, kwargs", [
    ("jumprelu", dict(l0_coeff=0.05, bandwidth=0.05)),
    ("gated", dict(l1_coeff=1.0)),
    ("batchtopk", dict()),
])
def test_new_architectures_recover_small_ground_truth(act, kwargs):
    feats = synthetic_features(32, 16, mean_active=2.0, seed=0)
    sae = SparseAutoencoder(16, 64, activation=act, k=2 if act == "batchtopk" else None, seed=0)
    h = train_sae(sae, feats, steps=600, batch_size=256, lr=1e-2, l1_warmup_steps=50, progress=False, **kwargs)
    assert mmcs(sae.W_dec[0].detach(), feats.directions) > 0.9
    assert h["mse"][-1, 0] < h["mse"][0, 0]
    assert torch.allclose(sae.W_dec.norm(dim=-1), torch.ones(1, 64), atol=1e-5)


def test_new_architectures_bad_inputs():
    with pytest.raises(ValueError, match="k must be given"):
        SparseAutoencoder(4, 8, activation="batchtopk")
    with pytest.raises(ValueError, match="k must be None"):
        SparseAutoencoder(4, 8, activation="jumprelu", k=2)
    with pytest.raises(ValueError, match="threshold"):
        SparseAutoencoder(4, 8, activation="jumprelu", threshold=0.0)
    sae = SparseAutoencoder(4, 8, activation="jumprelu")
    with pytest.raises(ValueError, match="l0_coeff"):
        train_sae(sae, torch.randn(20, 4), steps=2, l0_coeff=-1.0, progress=False)
    with pytest.raises(ValueError, match="bandwidth"):
        train_sae(sae, torch.randn(20, 4), steps=2, bandwidth=0.0, progress=False)
    with pytest.warns(UserWarning, match="l1_coeff is ignored"):
        train_sae(sae, torch.randn(20, 4), steps=1, batch_size=4, l1_coeff=0.3, progress=False)
    assert set(S.ACTIVATIONS) == {"relu", "topk", "jumprelu", "gated", "batchtopk"}


@pytest.mark.parametrize("act, method", [("relu", "fast"), ("topk", "fast"), ("gated", "fast"), ("jumprelu", "autograd")])
def test_one_learning_rate_per_instance_is_separate_runs_in_one(act, method):
    """train_sae(lr=[a, b]) trains instance i exactly as a run of that instance alone at lr[i]."""
    data = synthetic_features(24, 8, mean_active=2.0, seed=0)(512)
    k = [3, 3] if act == "topk" else None
    both = SparseAutoencoder(8, 32, activation=act, k=k, n_instances=2, seed=3)
    start = [p.detach().clone() for p in both.parameters()]
    kw = dict(steps=20, batch_size=64, log_every=5, method=method, progress=False)
    h = train_sae(both, data, lr=[1e-3, 3e-2], **kw)
    for i, lr in enumerate((1e-3, 3e-2)):
        alone = SparseAutoencoder(8, 32, activation=act, k=None if k is None else [3], n_instances=1, seed=3)
        with torch.no_grad():
            for p, q in zip(alone.parameters(), start):
                p.copy_(q[i:i + 1])
        h_alone = train_sae(alone, data, lr=lr, **kw)
        for p, q in zip(alone.parameters(), both.parameters()):
            assert torch.allclose(p[0], q[i], atol=1e-5, rtol=1e-4)
        assert torch.allclose(h_alone["loss"][:, 0], h["loss"][:, i], rtol=1e-4, atol=1e-6)


def test_batch_threshold_with_a_guess_is_exact():
    from superpos_lib.sae.batchtopk import batch_threshold

    g = torch.Generator().manual_seed(11)
    pre = torch.randn(6, 64, 40, generator=g)
    k = torch.tensor([1, 3, 3, 5, 8, 2])
    exact = batch_threshold(pre, k)
    flat = pre.reshape(6, -1)
    assert torch.equal(exact, flat.sort(dim=1, descending=True).values.gather(1, (k * 64 - 1).view(-1, 1)).view(-1))
    guesses = [0.9 * exact, exact, torch.full((6,), float("nan")),           # good, tight, none
               torch.where(torch.arange(6) % 2 == 0, 0.5 * exact, 1.5 * exact),  # half of them above the threshold
               torch.tensor([float("nan"), -10.0, 0.0, 1e9, 0.7, 0.1]) * exact.abs()]
    for guess in guesses:
        assert torch.equal(batch_threshold(pre, k, guess=guess), exact)

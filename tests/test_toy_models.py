import math

import pytest
import torch

from superpos_lib.data import sparse_features
from superpos_lib.toy_models import ToyModel, manual_gradients, train

IMP5 = 0.9 ** torch.arange(5.0)
PROB10 = (20.0 ** -torch.linspace(0, 1, 10))[:, None]


def features(model, batch=64, seed=1):
    return model.generate_batch(batch, torch.Generator().manual_seed(seed))


def test_shapes_buffers_and_init():
    m = ToyModel(5, 2, 10, importance=IMP5, feature_probability=PROB10)
    assert m.W.shape == (10, 2, 5) and m.b.shape == (10, 5)
    assert m.importance.shape == (10, 5) and torch.allclose(m.importance[3], IMP5)
    assert m.feature_probability.shape == (10, 5) and torch.allclose(m.feature_probability[:, 0], PROB10[:, 0])
    assert (m.b == 0).all()
    big = ToyModel(300, 100, 4)
    assert abs(big.W.std().item() - math.sqrt(2 / 400)) < 0.003  # xavier normal
    assert torch.equal(ToyModel(5, 2, 3, seed=1).W, ToyModel(5, 2, 3, seed=1).W)
    assert not torch.equal(ToyModel(5, 2, 3, seed=1).W, ToyModel(5, 2, 3, seed=2).W)


def test_forward_matches_the_formula_for_every_variant():
    torch.manual_seed(0)
    for kwargs in (dict(), dict(hidden_activation="relu"), dict(linear=True), dict(linear=True, bias=False),
                   dict(bias=False)):
        m = ToyModel(6, 3, 4, **kwargs)
        with torch.no_grad():
            m.b.copy_(torch.randn(4, 6) * 0.3 * m.bias)
        f = features(m)
        out, hid = m(f), m.hidden(f)
        assert out.shape == f.shape and hid.shape == (64, 4, 3)
        for k in range(4):
            h = f[:, k] @ m.W[k].T  # (batch, d)
            if m.hidden_activation == "relu":
                h = torch.relu(h)
            assert torch.allclose(hid[:, k], h, atol=1e-6)
            pre = h @ m.W[k]
            pre = pre + m.b[k]  # zero without bias
            expected = pre if m.linear else torch.relu(pre)
            assert torch.allclose(out[:, k], expected, atol=1e-6)
        expected_loss = (m.importance * (out - f) ** 2).mean(dim=(0, 2))
        assert torch.allclose(m.loss(f), expected_loss)


VARIANTS = [dict(), dict(hidden_activation="relu"), dict(linear=True), dict(linear=True, bias=False), dict(bias=False)]


@pytest.mark.parametrize("kwargs", VARIANTS)
def test_hand_derived_gradients_equal_autograd(kwargs):
    m = ToyModel(7, 3, 5, importance=torch.rand(5, 7, generator=torch.Generator().manual_seed(3)),
                 feature_probability=0.4, dtype=torch.float64, **kwargs)
    if m.bias:
        with torch.no_grad():
            m.b.copy_(torch.randn(5, 7, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * 0.2)
    f = features(m, batch=128)
    loss, dW, db = manual_gradients(m, f)
    auto = m.loss(f)
    auto.sum().backward()
    assert m.W.grad.abs().max() > 1e-4  # a real gradient, not zeros on both sides
    assert torch.allclose(loss, auto.detach(), rtol=1e-10)
    assert torch.allclose(dW, m.W.grad, rtol=1e-5, atol=1e-12)
    if not m.bias:
        assert (db == 0).all()
    else:
        assert m.b.grad.abs().max() > 1e-4
        assert torch.allclose(db, m.b.grad, rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("kwargs", VARIANTS)
def test_fused_and_autograd_training_agree(kwargs):
    runs = {}
    for kernel in ("fused", "autograd"):
        m = ToyModel(5, 2, 4, importance=IMP5, feature_probability=PROB10[::3], dtype=torch.float64, **kwargs)
        hist = train(m, steps=60, batch_size=64, lr=1e-2, progress=False, kernel=kernel, log_every=7)
        runs[kernel] = (hist, m.W.detach().clone(), m.b.detach().clone())
    (h1, W1, b1), (h2, W2, b2) = runs["fused"], runs["autograd"]
    assert h1.shape == (10, 4)  # steps 0, 7, ..., 56 and the last step 59
    assert torch.allclose(h1, h2, rtol=1e-9)
    assert torch.allclose(W1, W2, rtol=1e-8, atol=1e-12)
    assert torch.allclose(b1, b2, rtol=1e-8, atol=1e-12)


def test_float32_final_losses_agree_across_kernels():
    finals = []
    for kernel in ("fused", "autograd"):
        m = ToyModel(5, 2, 10, importance=IMP5, feature_probability=PROB10)
        finals.append(train(m, steps=300, progress=False, kernel=kernel)[-1])
    assert torch.allclose(finals[0], finals[1], rtol=1e-3)


def test_training_lowers_the_loss_and_updates_parameters_in_place():
    m = ToyModel(5, 2, 3, importance=IMP5, feature_probability=0.1)
    W0 = m.W.detach().clone()
    hist = train(m, steps=400, batch_size=256, lr=1e-2, progress=False, log_every=400)
    assert hist.shape == (2, 3)
    assert (hist[-1] < 0.7 * hist[0]).all()
    assert not torch.equal(W0, m.W.detach())
    assert (m.b != 0).any()


def test_models_without_bias_keep_zero_bias_and_linear_model_learns_one():
    for kwargs in (dict(linear=True, bias=False), dict(bias=False)):
        m = ToyModel(5, 2, 2, feature_probability=0.1, **kwargs)
        train(m, steps=50, progress=False)
        assert (m.b == 0).all() and not m.b.requires_grad
    m = ToyModel(5, 2, 1, linear=True, importance=IMP5, feature_probability=0.5)
    train(m, steps=2_000, lr=1e-2, lr_schedule="cosine", progress=False)
    # TMS's linear model with bias: the 2 most important features, the others replaced by their mean p/2
    assert torch.allclose(m.W.detach().norm(dim=1)[0], torch.tensor([1.0, 1.0, 0, 0, 0]), atol=0.1)
    assert torch.allclose(m.b.detach()[0, 2:], torch.full((3,), 0.25), atol=0.03)


def test_training_is_deterministic():
    Ws = []
    for _ in range(2):
        m = ToyModel(5, 2, 2, feature_probability=0.3, seed=4)
        train(m, steps=30, progress=False, seed=9)
        Ws.append(m.W.detach().clone())
    assert torch.equal(*Ws)


@pytest.mark.parametrize("kwargs, name", [
    (dict(n_features=0, d_hidden=2), "n_features"),
    (dict(n_features=5, d_hidden=0), "d_hidden"),
    (dict(n_features=5, d_hidden=2, n_instances=0), "n_instances"),
    (dict(n_features=5, d_hidden=2, feature_probability=0.0), "feature_probability"),
    (dict(n_features=5, d_hidden=2, feature_probability=1.01), "feature_probability"),
    (dict(n_features=5, d_hidden=2, importance=-1.0), "importance"),
    (dict(n_features=5, d_hidden=2, importance=torch.ones(4)), "importance"),
    (dict(n_features=5, d_hidden=2, n_instances=3, feature_probability=torch.full((2, 5), 0.5)), "feature_probability"),
    (dict(n_features=5, d_hidden=2, hidden_activation="tanh"), "hidden_activation"),
    (dict(n_features=5, d_hidden=2, linear=True, hidden_activation="relu"), "hidden_activation"),
    (dict(n_features=5, d_hidden=2, dtype=torch.float16), "dtype"),
    (dict(n_features=5, d_hidden=2, bias=1), "bias"),
])
def test_model_bad_inputs(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ToyModel(**kwargs)


@pytest.mark.parametrize("kwargs, name", [
    (dict(steps=0), "steps"), (dict(batch_size=0), "batch_size"), (dict(lr=0.0), "lr"),
    (dict(log_every=0), "log_every"), (dict(kernel="jit"), "kernel"), (dict(seed=-1), "seed"),
])
def test_train_bad_inputs(kwargs, name):
    m = ToyModel(5, 2)
    W0 = m.W.detach().clone()
    with pytest.raises(ValueError, match=name):
        train(m, progress=False, **kwargs)
    assert torch.equal(m.W, W0)
    with pytest.raises(ValueError, match="model"):
        train("not a model", progress=False)


def test_forward_bad_features():
    m = ToyModel(5, 2, 3)
    with pytest.raises(ValueError, match="features"):
        m(torch.zeros(4, 2, 5))
    with pytest.raises(ValueError, match="features"):
        m.hidden(torch.zeros(4, 15))
    with pytest.raises(ValueError, match="model"):
        manual_gradients(None, torch.zeros(4, 3, 5))


# --- evaluation and the 2-features-in-1-dimension phase helpers ----------------------------------------------

from superpos_lib.toy_models import (evaluate, two_feature_phase, two_feature_phase_boundary,  # noqa: E402
                                     two_feature_phase_losses)


def test_evaluate_matches_the_loss_on_a_large_batch_and_is_deterministic():
    m = ToyModel(5, 2, 3, feature_probability=0.3)
    a, b = evaluate(m, 4096, chunk_size=1000), evaluate(m, 4096, chunk_size=4096)
    assert a.shape == (3,) and torch.allclose(a, b)
    direct = m.loss(m.generate_batch(4096, torch.Generator().manual_seed(12345))).detach()
    assert torch.allclose(a, direct, rtol=1e-5)
    with pytest.raises(ValueError, match="n_samples"):
        evaluate(m, 0)
    with pytest.raises(ValueError, match="model"):
        evaluate("m")


def test_closed_form_losses_match_monte_carlo_of_each_configuration():
    # Build the three idealised solutions as models and compare their loss with the formulas.
    r, p = 0.6, 0.3
    W = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]], [[1.0, -1.0]]])
    b = torch.tensor([[0.0, p / 2], [p / 2, 0.0], [0.0, 0.0]])
    m = ToyModel(2, 1, 3, importance=torch.tensor([1.0, r]), feature_probability=p, dtype=torch.float64)
    with torch.no_grad():
        m.W.copy_(W)
        m.b.copy_(b)
    mc = 2 * evaluate(m, 400_000, chunk_size=100_000)  # TMS's loss averages the 2 features; formulas sum them
    closed = two_feature_phase_losses(r, p)
    assert torch.allclose(mc, closed, rtol=0.02)


def test_phase_boundary_is_where_losses_cross():
    r = torch.tensor([0.2, 0.5, 1.0, 2.0, 5.0])
    pb = two_feature_phase_boundary(r)
    assert pb[2].item() == pytest.approx(4 / 7)
    L_below = two_feature_phase_losses(r, pb * 0.98).argmin(-1)
    L_above = two_feature_phase_losses(r, (pb * 1.02).clamp(max=1)).argmin(-1)
    assert (L_below == 2).all()
    assert (L_above != 2).all()
    with pytest.raises(ValueError, match="relative_importance"):
        two_feature_phase_boundary(torch.tensor([0.0]))
    with pytest.raises(ValueError, match="feature_probability"):
        two_feature_phase_losses(1.0, 1.5)


def test_two_feature_phase_classification():
    W = torch.tensor([[[1.0, 0.1]], [[0.0, -0.9]], [[0.8, -0.9]], [[0.8, 0.9]], [[0.1, 0.1]]])
    assert two_feature_phase(W).tolist() == [0, 1, 2, -1, -1]
    with pytest.raises(ValueError, match="W"):
        two_feature_phase(torch.ones(3, 2, 2))


def test_best_of_repeats_picks_the_lowest_loss_copy():
    from superpos_lib.toy_models import best_of_repeats

    m = ToyModel(2, 1, 4, importance=torch.tensor([1.0, 0.5]), feature_probability=0.3)
    with torch.no_grad():  # configs 0 and 1, copies 0 and 1; copy 1 of config 0 and copy 0 of config 1 are good
        m.W.copy_(torch.tensor([[[0.0, 0.0]], [[0.0, 0.0]], [[1.0, 0.0]], [[0.0, 0.0]]]))
        m.W[1] = torch.tensor([[1.0, -1.0]])
    W, b, loss = best_of_repeats(m, 2, n_samples=8192)
    assert W.shape == (2, 1, 2) and b.shape == (2, 2) and loss.shape == (2,)
    assert torch.equal(W[0], torch.tensor([[1.0, 0.0]])) and torch.equal(W[1], torch.tensor([[1.0, -1.0]]))
    with pytest.raises(ValueError, match="repeats"):
        best_of_repeats(m, 3)


def test_cosine_schedule_same_in_both_kernels_and_differs_from_constant():
    out = {}
    for kernel in ("fused", "autograd"):
        for schedule in ("constant", "cosine"):
            m = ToyModel(5, 2, 2, feature_probability=0.2, dtype=torch.float64)
            train(m, steps=40, batch_size=32, lr=1e-2, progress=False, kernel=kernel, lr_schedule=schedule)
            out[kernel, schedule] = m.W.detach().clone()
    assert torch.allclose(out["fused", "cosine"], out["autograd", "cosine"], rtol=1e-8, atol=1e-12)
    assert not torch.allclose(out["fused", "cosine"], out["fused", "constant"])
    with pytest.raises(ValueError, match="lr_schedule"):
        train(ToyModel(5, 2), lr_schedule="step", progress=False)


def test_optimised_antipodal_pair_beats_the_idealised_one_with_a_positive_bias():
    from superpos_lib.toy_models import two_feature_antipodal_optimum, two_feature_phase_losses

    r = torch.tensor([1.0, 0.5, 1.0])
    p = torch.tensor([4 / 7, 0.3, 0.05])
    loss, params = two_feature_antipodal_optimum(r, p)
    ideal = (1 + r) * p ** 2 / 6
    assert (loss <= ideal + 1e-4).all()
    assert loss[0] == pytest.approx(0.0934, abs=0.002)  # verify_antipodal.py: w = 0.91, b = +0.17
    assert params[0, 2] > 0.1 and params[0, 3] > 0.1 and params[0, 0] < 0.95
    assert (params[:, 2:] > -1e-3).all()  # the best antipodal bias is never negative
    L = two_feature_phase_losses(r, p, optimise_antipodal=True)
    assert torch.allclose(L[:, 2], loss)


def test_optimised_boundary_reads_the_crossing_off_a_grid():
    from superpos_lib.toy_models import optimised_phase_boundary, two_feature_phase_boundary, two_feature_phase_losses

    r = torch.tensor([0.5, 2.0])
    p = torch.linspace(0.1, 0.9, 81)
    L = two_feature_phase_losses(r[:, None], p[None, :])
    assert torch.allclose(optimised_phase_boundary(r, p, L), two_feature_phase_boundary(r), atol=1e-3)
    with pytest.raises(ValueError, match="losses"):
        optimised_phase_boundary(r, p, L[:, :5])


def test_three_feature_phase_losses_and_classifier():
    from superpos_lib.toy_models import three_feature_phase, three_feature_phase_losses

    L = three_feature_phase_losses(torch.tensor([0.5, 2.0, 0.5, 2.0]), torch.tensor([0.9, 0.9, 0.1, 0.1]))
    assert L.argmin(-1).tolist() == [0, 1, 2, 3]
    V = 0.9 / 3 - 0.81 / 4
    assert L[0, 0].item() == pytest.approx(0.5 * V) and L[2, 2].item() == pytest.approx(1.5 * 0.01 / 6)
    s = 2 ** -0.5
    W = torch.tensor([
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],   # 1, 2 dedicated, 3 dropped
        [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],   # 1 dropped
        [[1.0, 0.0, 0.0], [0.0, 1.0, -1.0]],  # 1 dedicated, 2 and 3 antipodal
        [[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]],  # 1 and 2 antipodal, 3 dedicated
        [[1.0, -0.5, -0.5], [0.0, 0.87, -0.87]],  # a triangle: none of them
        [[s, s, 0.0], [s, -s, 0.0]],          # 1, 2 orthogonal (rotated): still phase 0
    ])
    assert three_feature_phase(W).tolist() == [0, 1, 2, 3, -1, 0]
    with pytest.raises(ValueError, match="W"):
        three_feature_phase(torch.zeros(2, 1, 3))


def test_train_with_snapshots_is_the_same_run():
    from superpos_lib.toy_models import train_with_snapshots

    a = ToyModel(5, 2, 2, feature_probability=0.3, seed=4)
    b = ToyModel(5, 2, 2, feature_probability=0.3, seed=4)
    train(a, steps=25, progress=False, seed=9)
    hist, steps, snaps = train_with_snapshots(b, 10, steps=25, progress=False, seed=9)
    assert steps.tolist() == [0, 10, 20, 25] and snaps.shape == (4, 2, 2, 5)
    assert torch.equal(snaps[-1], a.W.detach()) and torch.equal(b.W.detach(), a.W.detach())
    with pytest.raises(ValueError, match="snapshot_every"):
        train_with_snapshots(b, 0, steps=5)


def test_one_sparse_loss_terms():
    from superpos_lib.toy_models import one_sparse_loss_terms

    # two orthogonal unit features and one dropped with bias 0: benefit is exactly I/3 for the dropped one
    W = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    t = one_sparse_loss_terms(W, torch.zeros(1, 3), 1.0)
    assert t["benefit"].item() == pytest.approx((1 / 3) / 9, rel=1e-4)
    assert t["interference"].item() == 0 and t["linear_interference"].item() == 0
    # an antipodal pair: negative interference is free with the ReLU, not without it
    W = torch.tensor([[[1.0, -1.0]]])
    t = one_sparse_loss_terms(W, torch.zeros(1, 2), 1.0)
    assert t["interference"].item() == 0
    assert t["linear_interference"].item() == pytest.approx(1 / 3 / 2, rel=1e-6)
    with pytest.raises(ValueError, match="b must"):
        one_sparse_loss_terms(W, torch.zeros(1, 3), 1.0)


def test_readout_flip_radius():
    from superpos_lib.toy_models import readout_flip_radius

    eye = torch.eye(3)[None]
    r = readout_flip_radius(eye, torch.zeros(1, 3))
    assert torch.allclose(r, torch.full((1, 3), 0.5, dtype=torch.float64))  # no superposition: 0.5
    # a pentagon with its negative bias: a smaller perturbation suffices
    a = 2 * math.pi * torch.arange(5) / 5
    W = 1.1 * torch.stack([a.cos(), a.sin()])[None]
    rp = readout_flip_radius(W, torch.full((1, 5), -0.2))
    assert (rp < 0.5).all()
    # brute force: the predicted perturbation flips the read-out, a slightly smaller one along it does not
    G = (W[0].T @ W[0]).double()
    j = 1
    delta = (0.5 - (G[j, 0] - 0.2)) / G[j].norm() * G[j] / G[j].norm()
    assert rp[0, 0] <= delta.norm() + 1e-9
    out = torch.relu(G @ (torch.eye(5, dtype=torch.float64)[0] + delta * 1.001) - 0.2)
    assert (out > 0.5).sum() >= 2 or out[0] <= 0.5
    assert torch.isnan(readout_flip_radius(torch.zeros(1, 2, 3), torch.zeros(1, 3))).all()
    with pytest.raises(ValueError, match="b must"):
        readout_flip_radius(eye, torch.zeros(1, 2))


def test_two_feature_expected_loss_matches_the_closed_forms():
    from superpos_lib.toy_models import two_feature_expected_loss

    p = torch.tensor([0.1, 0.5, 1.0], dtype=torch.float64)
    ideal = two_feature_expected_loss(torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64), 1.0, p, grid=200)
    assert torch.allclose(ideal, 2 * p ** 2 / 6, rtol=2e-3)  # (1 + r) p^2 / 6
    with pytest.raises(ValueError, match="params"):
        two_feature_expected_loss(torch.zeros(3), 1.0, 0.5)

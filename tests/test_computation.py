import pytest
import torch

from superpos_lib.computation import (AbsValueModel, _manual_gradients, abs_loss, asymmetric_superposition,
                                     best_instances, constant_output_loss, evaluate_abs_model, loss_reduction,
                                     no_superposition_loss, signed_sparse_features, train_abs_model)


def test_signed_sparse_features_distribution():
    g = torch.Generator().manual_seed(0)
    x = signed_sparse_features(20000, 2, 3, torch.tensor([[0.1], [0.6]]), generator=g)
    assert x.shape == (20000, 2, 3)
    assert x.min() >= -1 and x.max() < 1
    density = (x != 0).float().mean(dim=(0, 2))
    assert torch.allclose(density, torch.tensor([0.1, 0.6]), atol=0.01)
    active = x[:, 1][x[:, 1] != 0]
    assert active.mean().abs() < 0.02 and (active.abs().mean() - 0.5).abs() < 0.01  # uniform on [-1, 1]


def test_signed_sparse_features_seeded_and_bad_inputs():
    a = signed_sparse_features(5, 1, 4, 0.5, generator=torch.Generator().manual_seed(3))
    b = signed_sparse_features(5, 1, 4, 0.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="feature_probability"):
        signed_sparse_features(5, 1, 4, 1.5)
    with pytest.raises(ValueError, match="feature_probability"):
        signed_sparse_features(5, 1, 4, -0.1)
    with pytest.raises(ValueError, match="batch_size"):
        signed_sparse_features(0, 1, 4, 0.5)


def test_no_hidden_bias_by_default():
    model = AbsValueModel(5, 3, n_instances=2)
    assert "b1" not in dict(model.named_parameters())  # TMS: h = ReLU(W1 x)
    assert model.b1.abs().sum() == 0
    assert "b1" in dict(AbsValueModel(5, 3, hidden_bias=True).named_parameters())


def test_forward_matches_formula():
    g = torch.Generator().manual_seed(0)
    model = AbsValueModel(5, 3, n_instances=2, hidden_bias=True, generator=g)
    with torch.no_grad():
        model.b1.normal_(generator=g)
        model.b2.normal_(generator=g)
    x = torch.randn(4, 2, 5, generator=g)
    y = model(x)
    for k in range(2):
        h = torch.relu(x[:, k] @ model.W1[k].T + model.b1[k])
        assert torch.allclose(model.hidden(x)[:, k], h, atol=1e-6)
        assert torch.allclose(y[:, k], torch.relu(h @ model.W2[k].T + model.b2[k]), atol=1e-6)


def test_exact_solution_has_zero_loss():
    # |x| = ReLU(x) + ReLU(-x): two neurons per feature solve the task exactly
    model = AbsValueModel(2, 4)
    with torch.no_grad():
        model.W1.copy_(torch.tensor([[[1.0, 0], [-1, 0], [0, 1], [0, -1]]]))
        model.W2.copy_(torch.tensor([[[1.0, 1, 0, 0], [0, 0, 1, 1]]]))
    x = signed_sparse_features(100, 1, 2, 0.5, generator=torch.Generator().manual_seed(0))
    assert abs_loss(model(x), x).item() < 1e-10


def test_abs_loss_importance():
    x = torch.tensor([[[-1.0, 2.0]]])
    y = torch.zeros(1, 1, 2)
    assert abs_loss(y, x).item() == pytest.approx(5.0)
    assert abs_loss(y, x, torch.tensor([1.0, 0.5])).item() == pytest.approx(3.0)
    with pytest.raises(ValueError, match="importance"):
        abs_loss(y, x, torch.tensor([1.0, -0.5]))
    with pytest.raises(ValueError, match="y must"):
        abs_loss(torch.zeros(1, 1, 3), x)


def test_training_lowers_loss_and_is_batched():
    g = torch.Generator().manual_seed(0)
    model = AbsValueModel(4, 4, n_instances=2, generator=g)
    history = train_abs_model(model, torch.tensor([[1.0], [0.2]]), 0.9 ** torch.arange(4.0), steps=300,
                              batch_size=256, lr=1e-2, start_steps=0, generator=g, progress=False)
    assert history.shape == (31, 2)  # logged every 10 steps and at the last one
    assert (history[-2:].mean(0) < 0.5 * history[:2].mean(0)).all()


def test_training_is_deterministic():
    out = []
    for _ in range(2):
        g = torch.Generator().manual_seed(1)
        model = AbsValueModel(3, 2, generator=g)
        train_abs_model(model, 0.5, steps=20, batch_size=16, generator=g, progress=False)
        out.append(model.W1.detach().clone())
    assert torch.equal(out[0], out[1])


def test_model_bad_inputs():
    with pytest.raises(ValueError, match="d_hidden"):
        AbsValueModel(3, 0)
    model = AbsValueModel(3, 2, n_instances=2)
    with pytest.raises(ValueError, match="x must"):
        model(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="x must"):
        model(torch.zeros(4, 1, 3))
    with pytest.raises(ValueError, match="feature_probability"):
        train_abs_model(model, 1.2, steps=1, progress=False)
    with pytest.raises(ValueError, match="steps"):
        train_abs_model(model, 0.5, steps=0, progress=False)
    with pytest.raises(ValueError, match="model"):
        train_abs_model(torch.nn.Linear(2, 2), 0.5, steps=1, progress=False)
    with pytest.raises(ValueError, match="importance"):
        train_abs_model(model, 0.5, torch.ones(5), steps=1, progress=False)
    with pytest.raises(ValueError, match="generator"):
        train_abs_model(model, 0.5, steps=1, generator=0, progress=False)
    with pytest.raises(ValueError, match="hidden_bias"):
        AbsValueModel(3, 2, hidden_bias=1)


@pytest.mark.parametrize("hidden_bias", [False, True])
def test_kernel_gradients_match_autograd(hidden_bias):
    g = torch.Generator().manual_seed(0)
    model = AbsValueModel(5, 3, 2, hidden_bias=hidden_bias, generator=g, dtype=torch.float64)
    with torch.no_grad():
        model.b2.normal_(generator=g)
        if hidden_bias:
            model.b1.normal_(generator=g)
    x = signed_sparse_features(64, 2, 5, 0.5, generator=g, dtype=torch.float64)
    importance = torch.rand(5, generator=g, dtype=torch.float64)
    loss, dW1, dW2, db2, db1 = _manual_gradients(model, x, importance)
    reference = abs_loss(model(x), x, importance)
    reference.sum().backward()
    assert torch.allclose(loss, reference)
    assert torch.allclose(dW1, model.W1.grad) and torch.allclose(dW2, model.W2.grad)
    assert torch.allclose(db2, model.b2.grad)
    if hidden_bias:
        assert torch.allclose(db1, model.b1.grad)
    else:
        assert db1.abs().max() == 0


def test_baselines_closed_form():
    importance = 0.8 ** torch.arange(20.0)
    for p in (1.0, 0.3, 0.1, 0.03):
        var = p / 3 - p * p / 4
        assert no_superposition_loss(p, importance, 8).item() == pytest.approx(importance[4:].sum().item() * var)
        assert constant_output_loss(p, importance).item() == pytest.approx(importance.sum().item() * var)
    # the review's numbers: 0.166 / 0.154 / 0.061 / 0.0195
    values = no_superposition_loss(torch.tensor([[1.0], [0.3], [0.1], [0.03]]), importance, 8)
    assert values.numpy().round(4).tolist() == pytest.approx([0.1659, 0.1543, 0.0614, 0.0195], abs=2e-4)
    # the most important features get the pairs, whatever their order
    shuffled = importance[torch.randperm(20, generator=torch.Generator().manual_seed(0))]
    assert no_superposition_loss(0.5, shuffled, 8).item() == pytest.approx(no_superposition_loss(0.5, importance, 8).item())
    with pytest.raises(ValueError, match="feature_probability"):
        no_superposition_loss(0.0, importance, 8)
    with pytest.raises(ValueError, match="d_hidden"):
        no_superposition_loss(0.5, importance, 0)
    with pytest.raises(ValueError, match="importance"):
        constant_output_loss(0.5, -importance)


def _exact_model(n_features, pairs, p=1.0):
    """Features 0..pairs-1 computed exactly by +/- neuron pairs, the others by the constant p/2."""
    model = AbsValueModel(n_features, 2 * pairs)
    with torch.no_grad():
        model.W1.zero_()
        model.W2.zero_()
        for j in range(pairs):
            model.W1[0, 2 * j, j], model.W1[0, 2 * j + 1, j] = 1.0, -1.0
            model.W2[0, j, 2 * j] = model.W2[0, j, 2 * j + 1] = 1.0
        model.b2[0, pairs:] = p / 2
    return model


@pytest.mark.parametrize("p", [1.0, 0.1])
def test_evaluate_matches_no_superposition_baseline(p):
    importance = 0.8 ** torch.arange(6.0)
    model = _exact_model(6, 2, p)
    loss = evaluate_abs_model(model, p, importance, n_samples=200_000)
    assert loss.item() == pytest.approx(no_superposition_loss(p, importance, 4).item(), rel=0.02)
    per = evaluate_abs_model(model, p, importance, n_samples=200_000, per_feature=True)
    assert per.shape == (1, 6)
    reduction = loss_reduction(per, p)
    assert torch.allclose(reduction[0, :2], torch.ones(2), atol=1e-6)  # computed exactly
    assert reduction[0, 2:].abs().max() < 0.03  # constant output: no reduction


def test_best_instances_and_motif():
    model = AbsValueModel(3, 2, n_instances=4)
    loss = torch.tensor([3.0, 1.0, 2.0, 4.0])  # 2 restarts of 2 configurations
    with torch.no_grad():
        model.W1.copy_(torch.arange(4.0).view(4, 1, 1).expand(4, 2, 3))
    best, best_loss = best_instances(model, loss, 2)
    assert best.n_instances == 2 and best_loss.tolist() == [2.0, 1.0]
    assert best.W1[:, 0, 0].tolist() == [2.0, 1.0]
    with pytest.raises(ValueError, match="configs"):
        best_instances(model, loss, 3)
    labelled, labelled_loss = best_instances(model, loss, torch.tensor([0, 0, 0, 1]))  # 3 restarts, then 1
    assert labelled_loss.tolist() == [1.0, 4.0] and labelled.W1[:, 0, 0].tolist() == [1.0, 3.0]
    with pytest.raises(ValueError, match="configs"):
        best_instances(model, loss, torch.tensor([0, 0, 2, 2]))
    # TMS's asymmetric superposition: W1 = (2, -1/2), W2 = (1/2, 2), and a neuron inhibiting b
    motif = AbsValueModel(2, 2)
    with torch.no_grad():
        motif.W1.copy_(torch.tensor([[[2.0, -0.5], [1.0, 0.0]]]))
        motif.W2.copy_(torch.tensor([[[0.5, 0.0], [2.0, -4.0]]]))
    found = asymmetric_superposition(motif)
    assert len(found) == 1
    assert found[0]["neuron"] == 0 and (found[0]["strong"], found[0]["weak"]) == (0, 1)
    assert found[0]["W1"] == (2.0, -0.5) and found[0]["W2"] == (0.5, 2.0)
    assert [i for i, _, _ in found[0]["inhibitors"]] == [1]
    assert asymmetric_superposition(_exact_model(3, 1)) == []  # pairs are not asymmetric
    with pytest.raises(ValueError, match="instance"):
        asymmetric_superposition(motif, instance=1)


def test_start_phase_is_denser_and_optional():
    model = AbsValueModel(3, 2)
    assert train_abs_model(model, 0.5, steps=20, batch_size=8, start_steps=7, progress=False).shape == (3, 1)
    with pytest.raises(ValueError, match="start_factor"):
        train_abs_model(model, 0.5, steps=1, start_factor=0.5, progress=False)
    with pytest.raises(ValueError, match="start_steps"):
        train_abs_model(model, 0.5, steps=1, start_steps=-1, progress=False)


def test_defaults_reach_the_converged_regime():
    """The documented claim: with the defaults, the best of 4 restarts matches the no-superposition
    optimum at p = 1 and beats it at p = 0.1 (n = 20, m = 8, I = 0.7^j)."""
    n, m, restarts = 20, 8, 4
    importance = 0.7 ** torch.arange(float(n))
    ps = torch.tensor([1.0, 0.1])
    p = ps.repeat(restarts)[:, None]
    g = torch.Generator().manual_seed(0)
    model = AbsValueModel(n, m, len(p), generator=g)
    train_abs_model(model, p, importance, generator=g, progress=False)
    best, loss = best_instances(model, evaluate_abs_model(model, p, importance), restarts)
    baseline = no_superposition_loss(ps[:, None], importance, m)
    assert loss[0] <= 1.01 * baseline[0]  # p = 1: no better solution exists among monosemantic ones
    assert loss[1] < 0.95 * baseline[1]  # p = 0.1: computing in superposition beats it
    reduction = loss_reduction(evaluate_abs_model(best, ps[:, None], importance, per_feature=True), ps[:, None])
    assert (reduction[0, :4] > 0.97).all()  # p = 1: the four most important features get exact pairs
    assert (reduction[1] > 0.5).sum() > m // 2  # p = 0.1: more than m/2 features computed


@pytest.mark.parametrize("p", [1.0, 0.3, 0.1, 0.03])
def test_one_neuron_removes_at_most_half_of_a_features_loss(p):
    """Why the baseline uses pairs: the best y = a ReLU(x) + c removes at most half of Var|x|."""
    x = signed_sparse_features(400_000, 1, 1, p, generator=torch.Generator().manual_seed(0), dtype=torch.float64).flatten()
    design = torch.stack([torch.relu(x), torch.ones_like(x)], dim=1)
    coef = torch.linalg.lstsq(design, x.abs().unsqueeze(1)).solution
    residual = (design @ coef).squeeze(1) - x.abs()
    removed = 1 - residual.pow(2).mean() / x.abs().var(unbiased=False)
    assert 0 < removed <= 0.5 + 0.01

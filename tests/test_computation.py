import pytest
import torch

from superpos_lib.computation import AbsValueModel, abs_loss, signed_sparse_features, train_abs_model


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


def test_forward_matches_formula():
    g = torch.Generator().manual_seed(0)
    model = AbsValueModel(5, 3, n_instances=2, generator=g)
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
                              batch_size=256, lr=1e-2, generator=g, progress=False)
    assert history.shape == (300, 2)
    assert (history[-20:].mean(0) < 0.5 * history[:20].mean(0)).all()


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

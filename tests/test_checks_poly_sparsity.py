import torch

from superpos_lib.checks import check, registered_exercises
from superpos_lib.metrics import effective_dimension, gini, neuron_polysemanticity
from tests.conftest import as_student


def test_registered():
    for name in ("relu_hidden_forward", "neuron_polysemanticity", "gini", "effective_dimension", "correlated_features"):
        assert name in registered_exercises()


def relu_forward(W, b, x):
    h = torch.relu(torch.einsum("kdn,bkn->bkd", W, x))
    return torch.relu(torch.einsum("kdn,bkd->bkn", W, h) + b)


def test_relu_hidden_forward():
    assert check("relu_hidden_forward", relu_forward)
    no_hidden_relu = lambda W, b, x: torch.relu(torch.einsum("kdn,bkd->bkn", W, torch.einsum("kdn,bkn->bkd", W, x)) + b)
    result = check("relu_hidden_forward", no_hidden_relu)
    assert not result and "hidden ReLU" in result.message
    no_bias = lambda W, b, x: relu_forward(W, torch.zeros_like(b), x)
    assert "bias" in check("relu_hidden_forward", no_bias).message
    def stub(W, b, x):
        raise NotImplementedError
    assert "not implemented" in check("relu_hidden_forward", stub).message


def test_neuron_polysemanticity_checker():
    assert check("neuron_polysemanticity", lambda W, f, t: neuron_polysemanticity(W, f, t))
    summed = lambda W, f, t: (W.unsqueeze(0) * f.unsqueeze(1) > t).float().sum(dim=(0, 2))
    assert "mean over the batch" in check("neuron_polysemanticity", summed).message
    absolute = lambda W, f, t: ((W.unsqueeze(0) * f.unsqueeze(1)).abs() > t).float().sum(-1).mean(0)
    assert "|W_ij f_j|" in check("neuron_polysemanticity", absolute).message


def test_gini_checker():
    assert check("gini", as_student(gini))
    def no_abs(a):
        c = a.sort(-1).values
        d = a.shape[-1]
        k = torch.arange(1, d + 1, dtype=a.dtype)
        return ((2 * k - d - 1) * c).sum(-1) / (d * c.sum(-1))
    assert "|a|" in check("gini", no_abs).message
    assert "descending" in check("gini", lambda a: -gini(a)).message


def test_effective_dimension_checker():
    assert check("effective_dimension", as_student(effective_dimension))
    def entropy(a):
        q = a.abs() / a.abs().sum(-1, keepdim=True)
        return -torch.where(q > 0, q * torch.log(q.clamp(min=1e-30)), torch.zeros_like(q)).sum(-1)
    assert "exp(H)" in check("effective_dimension", entropy).message
    assert "bases" in check("effective_dimension", lambda a: 2 ** entropy(a)).message
    def naive(a):
        q = a.abs() / a.abs().sum(-1, keepdim=True)
        return torch.exp(-(q * q.log()).sum(-1))
    assert "0 * log 0" in check("effective_dimension", naive).message


def correlated(batch_size, n_pairs, feature_probability, generator):
    on = torch.rand(batch_size, n_pairs, 1, generator=generator) < feature_probability
    values = torch.rand(batch_size, n_pairs, 2, generator=generator)
    return (values * on).reshape(batch_size, 2 * n_pairs)


def test_correlated_features_checker():
    assert check("correlated_features", correlated)
    def independent(batch_size, n_pairs, p, generator):
        return torch.rand(batch_size, 2 * n_pairs, generator=generator) * (
            torch.rand(batch_size, 2 * n_pairs, generator=generator) < p)
    assert "one on/off mask per pair" in check("correlated_features", independent).message
    def same_values(batch_size, n_pairs, p, generator):
        on = torch.rand(batch_size, n_pairs, 1, generator=generator) < p
        return (torch.rand(batch_size, n_pairs, 1, generator=generator) * on).expand(-1, -1, 2).reshape(batch_size, -1)
    assert "independently" in check("correlated_features", same_values).message
    def unseeded(batch_size, n_pairs, p, generator):
        return correlated(batch_size, n_pairs, p, None)
    assert "generator" in check("correlated_features", unseeded).message
    wrong_p = lambda b, n, p, g: correlated(b, n, p / 2, g)
    assert "probability" in check("correlated_features", wrong_p).message

"""The numbers the Sparsity chapter's prose relies on, recomputed on the chapter's own setups.

Trained values are checked against what theory guarantees (a ReLU neuron is zero when its input is,
a rotation leaves a linear hidden layer's model unchanged, a collapsed pair's norms) and against
orderings, not against today's digits."""

import math

import pytest
import torch

from superpos_lib.data import sparse_features
from superpos_lib.metrics import effective_dimension, gini, l0_sparsity
from superpos_lib.toy_models import ToyModel, train


def test_hand_made_vectors():
    one_big = torch.tensor([1.0, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01])
    assert l0_sparsity(one_big).item() == 0.0
    assert round(gini(one_big).item(), 3) == 0.810  # prose: "Gini (0.81 ...)"
    assert round(effective_dimension(one_big).item(), 1) == 1.4
    one_hot = torch.tensor([0, 0, 0, 5.0, 0, 0, 0, 0])
    assert gini(one_hot).item() == pytest.approx(0.875)


def test_fraction_present_matches_p():
    for p in [1.0, 0.1, 0.01]:
        f = sparse_features(100_000, 1, 20, p, generator=torch.Generator().manual_seed(0))
        assert (f != 0).float().mean().item() == pytest.approx(p, rel=0.02)


N, D = 20, 4
PROBABILITIES = torch.logspace(0, -1.3, 10)


def measure(a):
    a = a.transpose(0, 1)
    return (l0_sparsity(a, eps=1e-6).mean(-1), torch.nanmean(gini(a), dim=-1),
            torch.nanmean(effective_dimension(a), dim=-1))


def random_rotation(d, seed):
    q, r = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed)))
    return q * torch.sign(torch.diagonal(r))


@pytest.fixture(scope="module")
def hidden_models():
    models = {}
    for activation in (None, "relu"):
        models[activation] = ToyModel(N, D, len(PROBABILITIES), feature_probability=PROBABILITIES[:, None],
                                      hidden_activation=activation, seed=0)
        train(models[activation], steps=3000, lr=1e-2, seed=0, lr_schedule="cosine", progress=False)
    return models


def test_linear_hidden_layer_sparsity_depends_on_the_basis(hidden_models):
    model = hidden_models[None]
    f = model.generate_batch(5000, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        h = model.hidden(f)
        loss = model.loss(f)
    empty = (1 - PROBABILITIES) ** N
    zeros, g, _ = measure(h)
    assert torch.allclose(zeros, empty, atol=0.02)  # h = Wf is zero (almost surely) only for empty inputs
    ginis = torch.stack([measure(h @ random_rotation(D, s).T)[1] for s in range(20)])
    assert (ginis.max(0).values - ginis.min(0).values)[0] > 0.1  # p = 1: the basis changes Gini a lot
    with torch.no_grad():  # ... while the rotated model is the same model
        R = random_rotation(D, 0)
        rotated = ToyModel(N, D, len(PROBABILITIES), feature_probability=PROBABILITIES[:, None], seed=0)
        rotated.W.copy_(R @ model.W)
        rotated.b.copy_(model.b)
        assert torch.allclose(rotated.loss(f), loss, rtol=1e-4, atol=1e-7)


def test_relu_neurons_get_sparser_but_stay_denser_than_features(hidden_models):
    model = hidden_models["relu"]
    f = model.generate_batch(5000, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        h, out = model.hidden(f), model(f)
    empty = (1 - PROBABILITIES) ** N
    zeros_f, gini_f, eff_f = measure(f)
    zeros_h, gini_h, eff_h = measure(h)
    zeros_out = measure(out)[0]
    assert torch.allclose(zeros_f, 1 - PROBABILITIES, atol=0.01)
    assert (gini_f[1:] > gini_f[:-1]).all() and (eff_f[1:] < eff_f[:-1]).all()
    assert (zeros_h >= empty - 0.02).all()  # a ReLU neuron is 0 whenever its input is
    assert zeros_h[-1] > empty[-1] + 0.1  # ... and silent on many non-empty inputs when sparse
    assert zeros_h[-1] > zeros_h[0] + 0.3  # neurons get sparser with the features
    assert (zeros_h < zeros_f)[PROBABILITIES < 1].all()  # but stay denser than the features
    assert gini_h[-1] > gini_h[0] + 0.1 and eff_h[-1] < eff_h[0] - 0.5
    assert zeros_out[-1] < zeros_f[-1]  # some interference passes the output ReLU


KINDS = ("correlated", "anticorrelated")
PAIR_P = torch.logspace(0, -1.7, 7)
RESTARTS, BATCH = 6, 512


def train_on_sampler(model, sample, steps=2000, lr=1e-2):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: 0.5 * (1 + math.cos(math.pi * t / steps)))
    for _ in range(steps):
        loss = model.loss(sample()).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model


def cosine(W, a, b):
    return (W[:, a] @ W[:, b] / (W[:, a].norm() * W[:, b].norm()).clamp(min=1e-9)).item()


@pytest.fixture(scope="module")
def pair_models():
    block_p = PAIR_P.repeat(RESTARTS)
    generator = torch.Generator().manual_seed(0)

    def sample(batch_size, gen, n=4):
        return torch.cat([sparse_features(batch_size, len(block_p), n,
                                          (block_p if kind == "correlated" else block_p / 2)[:, None],
                                          generator=gen, **{f"{kind}_pairs": n // 2}) for kind in KINDS], dim=1)

    plane = train_on_sampler(ToyModel(4, 2, 2 * len(block_p), seed=0), lambda: sample(BATCH, generator))
    with torch.no_grad():
        loss = plane.loss(sample(65_536, torch.Generator().manual_seed(1)))
    best = torch.stack([loss[b * len(block_p):(b + 1) * len(block_p)].view(RESTARTS, len(PAIR_P)).argmin(0)
                        * len(PAIR_P) + torch.arange(len(PAIR_P)) + b * len(block_p) for b in range(2)])
    W_pairs = plane.W.detach()[best]

    line_settings = [("correlated", 0.25), ("anticorrelated", 0.25)]

    def sample_line(batch_size, gen):
        return torch.cat([sparse_features(batch_size, 3, 2, p if kind == "correlated" else p / 2, generator=gen,
                                          **{f"{kind}_pairs": 1}) for kind, p in line_settings], dim=1)

    line = train_on_sampler(ToyModel(2, 1, 6, seed=1), lambda: sample_line(BATCH, generator))
    return W_pairs, line.W.detach()


def test_anticorrelated_antipodal_correlated_orthogonal_or_collapsed(pair_models):
    W_pairs, _ = pair_models
    for c in range(len(PAIR_P)):  # anticorrelated: antipodal pairs at every p
        W = W_pairs[1, c]
        assert cosine(W, 0, 1) < -0.99 and cosine(W, 2, 3) < -0.99
    sparse = [c for c, p in enumerate(PAIR_P.tolist()) if p < 0.15]
    for c in sparse:  # correlated and sparse: orthogonal within pairs, antipodal across pairs
        W = W_pairs[0, c]
        assert abs(cosine(W, 0, 1)) < 0.1 and abs(cosine(W, 2, 3)) < 0.1
        assert min(cosine(W, a, b) for a in (0, 1) for b in (2, 3)) < -0.95
        assert (W.norm(dim=0) > 0.9).all()
    collapsed = [c for c in range(len(PAIR_P))
                 if cosine(W_pairs[0, c], 0, 1) > 0.99 and cosine(W_pairs[0, c], 2, 3) > 0.99]
    assert collapsed and all(0.2 < PAIR_P[c] < 0.6 for c in collapsed)  # denser: both pairs collapse
    for c in collapsed:  # onto the pair's mean: norms 1/sqrt(2)
        assert torch.allclose(W_pairs[0, c].norm(dim=0), torch.full((4,), 2 ** -0.5), atol=0.03)


def test_one_dimension(pair_models):
    _, W_line = pair_models
    correlated, anticorrelated = W_line[:3, 0], W_line[3:, 0]
    assert torch.allclose(correlated.abs(), torch.full((3, 2), 2 ** -0.5), atol=0.03)
    assert (correlated[:, 0] * correlated[:, 1] > 0).all()  # same direction
    assert torch.allclose(anticorrelated.abs(), torch.ones(3, 2), atol=0.03)
    assert (anticorrelated[:, 0] * anticorrelated[:, 1] < 0).all()  # opposite directions


def _correlated_sets(batch_size, n_instances, p, generator):
    on = torch.rand(batch_size, n_instances, 2, 1, generator=generator) < p[:, None, None]
    return (torch.rand(batch_size, n_instances, 2, 3, generator=generator) * on).reshape(batch_size, n_instances, 6)


def test_sparse_correlated_sets_form_local_bases_superposed_antipodally():
    """The local-bases section: two sets of three correlated features in 3 dims, best of 6 restarts. At
    p = 0.1 and 0.05 each set is an orthogonal basis (|cos| < 0.1 within a set) and every feature of one set
    shares a line (cos < -0.9) with a feature of the other; at p = 0.2 the sets are not antipodal."""
    P, R = torch.tensor([0.2, 0.1, 0.05]), 6
    p = P.repeat(R)
    g = torch.Generator().manual_seed(3)
    model = ToyModel(6, 3, len(p), seed=2)
    train_on_sampler(model, lambda: _correlated_sets(512, len(p), p, g), steps=3000)
    score = torch.Generator().manual_seed(4)
    with torch.no_grad():
        loss = torch.stack([model.loss(_correlated_sets(65_536, len(p), p, score)) for _ in range(16)]).mean(0)
    best = loss.view(R, len(P)).argmin(0) * len(P) + torch.arange(len(P))
    W_all = model.W.detach()

    def shape(W):
        U = W / W.norm(dim=0)
        C = U.T @ U
        within = torch.stack([C[a, b] for s in (0, 3) for a in range(s, s + 3) for b in range(a + 1, s + 3)])
        return within.abs().max().item(), int((C[:3, 3:] < -0.9).sum())

    for c in range(len(P)):
        restarts = [shape(W_all[r * len(P) + c]) for r in range(R)]
        if P[c] <= 0.1:  # the best restart, and most of the others, are antipodal local bases
            within, partners = shape(W_all[best[c]])
            assert within < 0.1 and partners == 3
            assert sum(w < 0.1 and n == 3 for w, n in restarts) >= R // 2
        else:
            assert shape(W_all[best[c]])[1] < 3

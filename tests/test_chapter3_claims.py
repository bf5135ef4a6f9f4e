"""The numbers the Sparsity chapter's prose relies on, recomputed on the chapter's own setups."""

import pytest
import torch

from superpos_lib.data import sparse_features
from superpos_lib.metrics import dimensions_per_feature, effective_dimension, gini, l0_sparsity
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


@pytest.fixture(scope="module")
def sweep():
    ps = torch.logspace(0, -1.3, 14)
    model = ToyModel(20, 4, len(ps), feature_probability=ps[:, None], seed=0)
    train(model, steps=2000, lr=3e-3, seed=0, progress=False)
    return ps, model


def test_sparse_features_dense_hidden_layer(sweep):
    ps, model = sweep
    f = model.generate_batch(5000, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        h, out = model.hidden(f), model(f)
    zeros = {name: l0_sparsity(a.transpose(0, 1), eps=1e-6).mean(-1) for name, a in
             [("f", f), ("h", h), ("out", out)]}
    assert torch.allclose(zeros["f"], 1 - ps, atol=0.01)
    # hidden zeros only for empty inputs: (1 - p)^n
    assert torch.allclose(zeros["h"], (1 - ps) ** 20, atol=0.02)
    assert round(zeros["h"][-1].item(), 2) == 0.36
    eff_h = torch.nanmean(effective_dimension(h.transpose(0, 1)), dim=-1)
    assert (eff_h > 3).all()  # "stays above 3 of d = 4"
    # outputs in between at the sparsest setting: 78% zeros against 95%
    assert zeros["h"][-1] < zeros["out"][-1] < zeros["f"][-1]
    assert round(zeros["out"][-1].item(), 2) == 0.78
    eff_out = torch.nanmean(effective_dimension(out.transpose(0, 1)), dim=-1)
    assert eff_out[0] > 19  # p = 1: the unstored features output a constant ReLU(b_i)
    gini_f = torch.nanmean(gini(f.transpose(0, 1)), dim=-1)
    assert (gini_f[1:] > gini_f[:-1]).all()


def test_staircase_plateaus(sweep):
    ps, model = sweep
    dpf = dimensions_per_feature(model.W.detach())
    assert dpf[0].item() == pytest.approx(1.0, abs=0.01)
    inv = 1 / ps
    plateau = dpf[(inv > 2.4) & (inv < 3.3)]
    assert plateau.numel() == 2 and torch.allclose(plateau, torch.full_like(plateau, 0.5), atol=0.015)
    assert (dpf[1:] <= dpf[:-1] + 1e-3).all() and dpf[-1] < 0.25


def train_on_sampler(model, sample, steps=1500, lr=1e-2):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = model.loss(sample()).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def cosines(W):
    unit = W / W.norm(dim=-2, keepdim=True).clamp(min=1e-9)
    return unit.transpose(-1, -2) @ unit


@pytest.fixture(scope="module")
def pair_models():
    seeds, batch = 3, 512
    generator = torch.Generator().manual_seed(0)

    def sample(n, kinds):
        return torch.cat([sparse_features(batch, seeds, n, p, generator=generator, **{f"{kind}_pairs": n // 2})
                          for kind, p in kinds], dim=1)

    settings = [("correlated", 0.05), ("correlated", 0.25), ("anticorrelated", 0.25)]
    plane = train_on_sampler(ToyModel(4, 2, 3 * seeds, seed=0), lambda: sample(4, settings))
    line_settings = [("correlated", 0.25), ("anticorrelated", 0.25)]
    line = train_on_sampler(ToyModel(2, 1, 2 * seeds, seed=1), lambda: sample(2, line_settings))
    return plane.W.detach(), line.W.detach()


def test_correlated_orthogonal_anticorrelated_antipodal(pair_models):
    W, W_line = pair_models
    C, norms = cosines(W), W.norm(dim=-2)
    kept = norms > 0.5
    for k in range(3):  # correlated, p = 0.05: represented pairs orthogonal, pairs share lines
        for a in (0, 2):
            if kept[k, a] and kept[k, a + 1]:
                assert abs(C[k, a, a + 1]) < 0.1
        assert min(C[k, a, b] for a in (0, 1) for b in (2, 3) if kept[k, a] and kept[k, b]) < -0.95
    assert kept[:3].sum() >= 11  # at most one dropped feature
    for k in range(6, 9):  # anticorrelated, p = 0.25: antipodal pairs in every seed
        assert C[k, 0, 1] < -0.99 and C[k, 2, 3] < -0.99
    collapsed = [k for k in range(3, 6) if C[k, 0, 1] > 0.99 and C[k, 2, 3] > 0.99]
    assert len(collapsed) >= 1  # correlated, p = 0.25: at least one seed collapses its pairs
    assert torch.allclose(norms[collapsed[0]], torch.full((4,), 0.7), atol=0.05)
    assert any(abs(C[k, 0, 1]) < 0.1 and abs(C[k, 2, 3]) < 0.1 for k in range(3, 6))  # another stays orthogonal
    C1 = cosines(W_line)[:, 0, 1]
    assert (C1[:3] > 0.99).all() and (C1[3:] < -0.99).all()
